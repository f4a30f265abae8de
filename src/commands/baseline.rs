//! `baseline`: write the policy that allows exactly what listens now (see [`portwarden::policy::baseline`]).

use super::{warn_unknown_owners, Context, Outcome};
use crate::cli::BaselineArgs;
use anyhow::bail;
use portwarden::render::table::plural;
use portwarden::{fsutil, policy, Query};

/// Runs `baseline`.
pub fn run(args: &BaselineArgs, cx: &mut Context<'_>) -> anyhow::Result<Outcome> {
    if let Some(path) = &args.output {
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                bail!("{}: is a symbolic link; refusing to follow or replace it", path.display())
            }
            Ok(_) if !args.force => {
                bail!("{} exists; not overwriting it (use --force to replace it)", path.display())
            }
            _ => fsutil::check_replaceable(path)?,
        }
    }
    let query = Query { all_netns: args.all_netns, ..Query::default() };
    let report = cx.data.inventory_report(&query, &|_| true)?;
    let (text, rules) = policy::baseline_policy(&report.listeners, report.summary.os, "portwarden baseline");
    let io = &mut cx.io;
    // The policy we write must read back: a failure here is a bug, caught before anything is written.
    policy::Policy::parse(&text, std::path::Path::new("<baseline>"))?;
    match &args.output {
        None => io.out.write_all(text.as_bytes())?,
        Some(path) if args.force => fsutil::write_atomic(path, text.as_bytes())?,
        Some(path) => fsutil::write_new_atomic(path, text.as_bytes())?,
    }
    if let Some(path) = &args.output {
        let (rules, listeners) = (plural(rules, "rule"), plural(report.listeners.len(), "listener"));
        writeln!(io.err, "portwarden: wrote {rules} for {listeners} to {}", path.display())?;
    }
    warn_unknown_owners(&report.summary, io.err)?;
    Ok(Outcome::Clean)
}
