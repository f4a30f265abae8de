//! `baseline`: write a commented policy that allows exactly what listens now, one rule per listener (protocol, port,
//! process, exposure; never PIDs, which change every boot), so the first check passes and the file is then edited
//! by hand.

use crate::app::{self, Output, Status};
use crate::classify::Range;
use crate::cli::BaselineArgs;
use crate::model::Query;
use crate::render::table::plural;
use crate::report::Listener;
use crate::text::escape;
use anyhow::bail;
use std::fmt::Write as _;

/// A TOML string literal (quoted and escaped by the toml crate).
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The process names of a listener's owners, sorted and deduplicated, as glob patterns matching them exactly.
fn process_patterns(l: &Listener<'_>) -> Vec<String> {
    let mut names: Vec<String> = l.processes.iter().map(|p| glob::Pattern::escape(&p.name)).collect();
    names.sort();
    names.dedup();
    names
}

/// "nginx (root), nginx (www-data)": who holds the socket, without PIDs (they change on every start).
fn owners(l: &Listener<'_>) -> String {
    if l.processes.is_empty() {
        return format!("unknown (socket owned by {})", l.user.as_deref().map(escape).unwrap_or_else(|| "?".into()));
    }
    let mut seen: Vec<String> = Vec::new();
    for p in &l.processes {
        let who = format!("{} ({})", escape(&p.name), p.user.as_deref().map(escape).unwrap_or_else(|| "?".into()));
        if !seen.contains(&who) {
            seen.push(who);
        }
    }
    seen.join(", ")
}

/// Renders the baseline policy for these listeners, and says how many rules it holds.
pub fn render(listeners: &[Listener<'_>], command: &str) -> (String, usize) {
    let mut out = String::new();
    let _ = writeln!(out, "# portwarden policy: the listeners this machine is expected to have.");
    let _ = writeln!(out, "# Written by `{command}` from {} listeners; edit it by hand.", listeners.len());
    let _ = writeln!(out, "#");
    let _ = writeln!(out, "# Each [[allow]] rule allows the listeners that match every key it gives:");
    let _ = writeln!(out, "#   protocol = \"tcp\" | \"udp\"   port = 22 | \"8000-8100\" | [80, 443]");
    let _ = writeln!(out, "#   process = \"nginx\" | [\"a\", \"b*\"] (every owner must match one; globs)");
    let _ = writeln!(out, "#   exe = \"/usr/sbin/*\"   user = \"www-data\"   address = \"127.0.0.1\"");
    let _ =
        writeln!(out, "#   exposure = \"loopback\" | \"address\" | \"all-interfaces\"   reason = \"why it is here\"");
    let _ = writeln!(out, "# `portwarden check` exits 1 when a listener matches no rule.");
    let _ = writeln!(out);
    let _ = writeln!(out, "[settings]");
    let _ = writeln!(out, "# Flags that fail the check even for an allowed listener:");
    let _ = writeln!(out, "# \"unassigned\", \"reserved\", \"obscure\", \"dynamic-range\".");
    let _ = writeln!(out, "fail_on = []");
    let _ =
        writeln!(out, "# May a listener whose owning process cannot be seen pass a rule that names a process or exe?");
    let _ = writeln!(out, "# When false, such a check ends with exit 2 (it cannot be trusted).");
    let _ = writeln!(out, "allow_unknown_owners = false");

    // One rule per (protocol, port, processes, exposure): v4 and v6 twins, and master and workers, share one.
    let mut seen: std::collections::HashSet<(String, u16, Vec<String>, &str)> = std::collections::HashSet::new();
    for l in listeners {
        let procs = process_patterns(l);
        if !seen.insert((l.protocol.to_string(), l.port, procs.clone(), l.exposure.as_str())) {
            continue;
        }
        let service = if l.iana.services.is_empty() {
            format!("({})", l.iana.status.as_str())
        } else {
            l.iana.services.join(", ")
        };
        let _ = writeln!(out);
        let _ = writeln!(out, "# {} {}:{} {service}; owners: {}", l.protocol, l.address, l.port, owners(l));
        for f in &l.flags {
            let _ = writeln!(out, "# flagged {}: see `portwarden explain {}/{}`", f.kind.as_str(), l.port, l.protocol);
        }
        if Range::of(l.port) == Range::Dynamic {
            let _ = writeln!(out, "# dynamic-range port: it may change on restart; consider port = \"49152-65535\"");
        }
        let _ = writeln!(out, "[[allow]]");
        let _ = writeln!(out, "protocol = {}", toml_str(l.protocol.as_str()));
        let _ = writeln!(out, "port = {}", l.port);
        match procs.as_slice() {
            [] => {
                let _ =
                    writeln!(out, "# owner unknown when this baseline was written; add `process = \"...\"` once known");
            }
            [one] => {
                let _ = writeln!(out, "process = {}", toml_str(one));
            }
            many => {
                let list: Vec<String> = many.iter().map(|p| toml_str(p)).collect();
                let _ = writeln!(out, "process = [{}]", list.join(", "));
            }
        }
        let _ = writeln!(out, "exposure = {}", toml_str(l.exposure.as_str()));
        let _ = writeln!(out, "reason = {}", toml_str(&format!("baseline: {service}")));
    }
    (out, seen.len())
}

/// Runs `baseline`.
pub fn run(args: &BaselineArgs, io: &mut Output<'_>) -> anyhow::Result<Status> {
    if let Some(path) = &args.output {
        if !args.force && path.exists() {
            bail!("{} exists; not overwriting it (use --force to replace it)", path.display());
        }
    }
    let registry = app::load_registry()?;
    let report = app::inventory_report(&Query::default(), &registry, &|_| true)?;
    let (text, rules) = render(&report.listeners, "portwarden baseline");
    // The policy we write must read back: a failure here is a bug, caught before anything is written.
    crate::policy::Policy::parse(&text, std::path::Path::new("<baseline>"))?;
    match &args.output {
        None => io.out.write_all(text.as_bytes())?,
        Some(path) if args.force => crate::fsutil::write_atomic(path, text.as_bytes())?,
        Some(path) => crate::fsutil::write_new_atomic(path, text.as_bytes())?,
    }
    if let Some(path) = &args.output {
        let (rules, listeners) = (plural(rules, "rule"), plural(report.listeners.len(), "listener"));
        writeln!(io.err, "portwarden: wrote {rules} for {listeners} to {}", path.display())?;
    }
    app::warn_unknown_owners(&report.summary, io.err)?;
    Ok(0)
}
