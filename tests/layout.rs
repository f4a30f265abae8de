//! The layout promise: data flows one way (platform -> registry -> verdict -> policy -> history -> render), the
//! library never reaches into the binary side (cli, commands), and no file is too long to read in one sitting.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// Library stages in flow order; a stage may use the foundation and any stage before it, never one after it.
const STAGES: [&str; 6] = ["platform", "registry", "verdict", "policy", "history", "render"];
/// Shared by every stage; they use nothing but each other.
const FOUNDATION: [&str; 4] = ["error", "fsutil", "model", "text"];
const BINARY: [&str; 3] = ["main", "cli", "commands"];
const MAX_LINES: usize = 600;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`src/verdict/story.rs` -> `verdict`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next().unwrap().as_os_str().to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// Top-level modules named as `crate::NAME` in the code before its tests.
fn uses(code: &str) -> Vec<String> {
    code.match_indices("crate::")
        .filter(|(i, _)| !code[..*i].ends_with("portwarden::") && !code[..*i].ends_with('$'))
        .map(|(i, m)| code[i + m.len()..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect())
        .collect()
}

#[test]
fn stages_import_only_what_comes_before_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let rank = |m: &str| STAGES.iter().position(|s| *s == m);
    let mut wrong = Vec::new();
    for file in &files {
        let module = module_of(&src, file);
        if BINARY.contains(&module.as_str()) || module == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for used in uses(code) {
            let ok = if BINARY.contains(&used.as_str()) {
                false
            } else if FOUNDATION.contains(&module.as_str()) {
                FOUNDATION.contains(&used.as_str())
            } else {
                FOUNDATION.contains(&used.as_str()) || rank(&used).is_some_and(|u| u <= rank(&module).unwrap())
            };
            if !ok {
                wrong.push(format!("{} uses crate::{used}", file.display()));
            }
        }
        assert!(
            FOUNDATION.contains(&module.as_str()) || rank(&module).is_some(),
            "{}: a new top-level module: place it in STAGES or FOUNDATION",
            file.display()
        );
    }
    wrong.sort();
    wrong.dedup();
    assert!(wrong.is_empty(), "imports against the flow:\n{}", wrong.join("\n"));
}

#[test]
fn files_fit_in_one_sitting() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            let lines = text.split("#[cfg(test)]").next().unwrap().lines().count();
            (lines > MAX_LINES).then(|| format!("{}: {lines} lines before its tests", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "files longer than {MAX_LINES} lines:\n{}", long.join("\n"));
}

#[test]
fn the_checker_sees_a_backward_import() {
    assert_eq!(uses("use crate::render::Painter;\nlet x = crate::verdict::listener(a);"), ["render", "verdict"]);
    assert!(uses("macro: $crate::x").is_empty());
}
