//! The `list` table: one row per listener, aligned columns, escaped text, then the reasons for each flag and a
//! summary line.

use super::Painter;
use crate::registry::Status;
use crate::text::escape;
use crate::verdict::{Listener, Report};
use crate::verdict::{Severity, Verdict};
use std::io::{self, Write};
use unicode_width::UnicodeWidthStr;

/// Owners shown per row before "+N more".
const MAX_OWNERS: usize = 3;

/// Flagged listeners whose reasons are spelt out under the table; the rest are counted.
const MAX_REASONS: usize = 20;

/// "pid/name (user)" for each owner, escaped, with " in docker:0123456789ab" when it runs in a container; "owner
/// unknown (uid N user)" when none could be seen.
pub fn owners_cell(l: &Listener<'_>) -> String {
    if l.processes.is_empty() {
        let who = match (&l.user, l.uid) {
            (Some(u), _) => format!(" (user {})", escape(u)),
            (None, Some(uid)) => format!(" (uid {uid})"),
            _ => String::new(),
        };
        return format!("owner unknown{who}");
    }
    let mut parts: Vec<String> = l
        .processes
        .iter()
        .take(MAX_OWNERS)
        .map(|p| {
            let user = p.user.as_deref().map(|u| format!(" ({})", escape(u))).unwrap_or_default();
            let container = p.container.as_ref().map(|c| format!(" in {}", escape(&c.short()))).unwrap_or_default();
            format!("{}/{}{user}{container}", p.pid, escape(&p.name))
        })
        .collect();
    if l.processes.len() > MAX_OWNERS {
        parts.push(format!("+{} more", l.processes.len() - MAX_OWNERS));
    }
    parts.join(", ")
}

/// The address, with "(dual-stack)" for an IPv6 wildcard that also takes IPv4, "(v4-mapped)" for `::ffff:a.b.c.d`
/// and "%iface" when bound to a device.
pub fn address_cell(l: &Listener<'_>) -> String {
    let mut s = l.address.clone();
    if let Some(dev) = &l.interface {
        s.push('%');
        s.push_str(&escape(dev));
    }
    if l.dual_stack {
        s.push_str(" (dual-stack)");
    } else if l.ipv4_mapped {
        s.push_str(" (v4-mapped)");
    }
    s
}

/// The network namespace column (`--all-netns`): its name or inode, "current" for the one portwarden runs in
/// (unless it has a name); empty when the listing has no namespaces.
pub fn netns_cell(l: &Listener<'_>) -> String {
    match &l.netns {
        None => String::new(),
        Some(n) if n.current && n.name.is_none() => "current".to_string(),
        Some(n) => escape(&n.label()).into_owned(),
    }
}

/// " netns pw-test" for a listener in another network namespace than portwarden's; empty otherwise.
pub fn netns_suffix(l: &Listener<'_>) -> String {
    match &l.netns {
        Some(n) if !n.current => format!(" netns {}", escape(&n.label())),
        _ => String::new(),
    }
}

/// The IANA service names (escaped: an imported registry is text from outside), or the status when nothing is
/// assigned.
pub fn service_cell(l: &Listener<'_>) -> String {
    let cell = if l.iana.services.is_empty() {
        match l.iana.status {
            Status::Reserved => "(reserved)".to_string(),
            _ => "(unassigned)".to_string(),
        }
    } else {
        escape(&l.iana.services.join(", ")).into_owned()
    };
    // Software known to use the port without (or against) an IANA assignment; the IANA status is unchanged.
    cell
}

/// The verdict, with the kind of its main finding: `dangerous (exposed-service)`; empty when expected.
pub fn verdict_cell(l: &Listener<'_>) -> String {
    match (l.verdict, l.flags.first()) {
        (Verdict::Expected, _) => String::new(),
        (v, Some(f)) => format!("{} ({})", v.as_str(), f.kind.as_str()),
        (v, None) => v.as_str().to_string(),
    }
}

fn pad(line: &mut String, painted: &str, plain_width: usize, width: usize) {
    line.push_str(painted);
    for _ in plain_width..width {
        line.push(' ');
    }
}

/// Writes the table, the flag reasons and the summary.
pub fn write(out: &mut dyn Write, report: &Report<'_>, p: Painter) -> io::Result<()> {
    // The NETNS column only when the listing spans namespaces (`--all-netns`), so the usual table is unchanged.
    let with_netns = report.listeners.iter().any(|l| l.netns.is_some());
    let mut headers = vec!["PROTO", "ADDRESS", "PORT", "EXPOSURE"];
    if with_netns {
        headers.push("NETNS");
    }
    headers.extend(["OWNERS", "SERVICE", "VERDICT"]);
    let (owners_col, service_col, flags_col) = (headers.len() - 3, headers.len() - 2, headers.len() - 1);
    let rows: Vec<Vec<String>> = report
        .listeners
        .iter()
        .map(|l| {
            let mut row = vec![l.protocol.to_string(), address_cell(l), l.port.to_string(), l.exposure.as_str().into()];
            if with_netns {
                row.push(netns_cell(l));
            }
            row.extend([owners_cell(l), service_cell(l), verdict_cell(l)]);
            row
        })
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.width()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.width());
        }
    }
    let last = headers.len() - 1;
    let mut line = String::new();
    for (i, h) in headers.iter().enumerate() {
        pad(&mut line, &p.bold(h), h.width(), if i == last { 0 } else { widths[i] + 2 });
    }
    writeln!(out, "{}", line.trim_end())?;
    for (row, l) in rows.iter().zip(&report.listeners) {
        line.clear();
        for (i, cell) in row.iter().enumerate() {
            let painted = match i {
                i if i == owners_col && !l.owner_known() => p.warn(cell),
                i if i == service_col && l.iana.status != Status::Assigned => p.dim(cell),
                i if i == flags_col => match l.severity {
                    Some(Severity::High) => p.bad(cell),
                    Some(_) => p.warn(cell),
                    None => cell.clone(),
                },
                _ => cell.clone(),
            };
            let width = if i == last { 0 } else { widths[i] + 2 };
            pad(&mut line, &painted, cell.width(), width);
        }
        writeln!(out, "{}", line.trim_end())?;
    }

    let mut flagged: Vec<&Listener<'_>> = report.listeners.iter().filter(|l| l.verdict != Verdict::Expected).collect();
    if !flagged.is_empty() {
        flagged.sort_by(|a, b| crate::verdict::by_severity(a, b));
        writeln!(out)?;
        writeln!(out, "{}", p.bold("Why flagged (most severe first):"))?;
        let more = flagged.len().saturating_sub(MAX_REASONS);
        for l in flagged.into_iter().take(MAX_REASONS) {
            let word =
                if l.verdict == Verdict::Dangerous { p.bad(l.verdict.as_str()) } else { p.warn(l.verdict.as_str()) };
            writeln!(
                out,
                "  {}/{} {}{}: {word}: {}",
                l.port,
                l.protocol,
                address_cell(l),
                netns_suffix(l),
                escape(&l.reason)
            )?;
        }
        if more > 0 {
            writeln!(out, "  ... and {more} more: see `portwarden explain PORT` or `--format json`")?;
        }
    }
    writeln!(out)?;
    write_summary(out, report, p)
}

/// "1 listener", "2 listeners".
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// One line of counts, and the hint about unknown owners when there are some.
pub fn write_summary(out: &mut dyn Write, report: &Report<'_>, p: Painter) -> io::Result<()> {
    let s = &report.summary;
    let flagged = if s.flagged > 0 { p.warn(&format!("{} flagged", s.flagged)) } else { p.good("0 flagged") };
    writeln!(
        out,
        "{} ({} tcp, {} udp), {flagged}; registry: {} ({}, {} rows)",
        plural(s.listeners, "listener"),
        s.tcp,
        s.udp,
        match &s.registry.origin {
            crate::registry::Origin::Builtin => "built-in",
            crate::registry::Origin::Imported { .. } => "imported",
        },
        s.registry.date,
        s.registry.rows
    )?;
    if let Some(n) = s.namespaces {
        let current = report.listeners.iter().find_map(|l| l.netns.as_ref().filter(|n| n.current));
        let current = current.map(|c| format!(" (current: {})", escape(&c.label()))).unwrap_or_default();
        writeln!(out, "{} listed{current}", plural(n, "network namespace"))?;
    }
    if s.owner_unknown > 0 {
        let hint = s.hint.as_deref().unwrap_or("");
        writeln!(out, "{}", p.warn(&format!("{} with owner unknown: {hint}", plural(s.owner_unknown, "listener"))))?;
    }
    for w in &s.warnings {
        writeln!(out, "{}", p.warn(&format!("warning: {}", escape(w))))?;
    }
    Ok(())
}
