//! The `list` table: one row per listener, aligned columns, escaped text, then the reasons for each flag and a
//! summary line.

use super::Painter;
use crate::classify::Severity;
use crate::registry::Status;
use crate::report::{Listener, Report};
use crate::text::escape;
use std::io::{self, Write};
use unicode_width::UnicodeWidthStr;

/// Owners shown per row before "+N more".
const MAX_OWNERS: usize = 3;

/// Flagged listeners whose reasons are spelt out under the table; the rest are counted.
const MAX_REASONS: usize = 20;

/// "pid/name (user)" for each owner, escaped; "owner unknown (uid N user)" when none could be seen.
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
            format!("{}/{}{user}", p.pid, escape(&p.name))
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

/// The IANA service names, or the status when nothing is assigned.
pub fn service_cell(l: &Listener<'_>) -> String {
    if l.iana.services.is_empty() {
        match l.iana.status {
            Status::Reserved => "(reserved)".to_string(),
            _ => "(unassigned)".to_string(),
        }
    } else {
        l.iana.services.join(", ")
    }
}

fn flags_cell(l: &Listener<'_>) -> String {
    let kinds: Vec<&str> = l.flags.iter().map(|f| f.kind.as_str()).collect();
    match l.severity {
        Some(sev) => format!("{} [{}]", kinds.join(","), sev.as_str()),
        None => String::new(),
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
    const HEADERS: [&str; 7] = ["PROTO", "ADDRESS", "PORT", "EXPOSURE", "OWNERS", "SERVICE", "FLAGS"];
    let rows: Vec<[String; 7]> = report
        .listeners
        .iter()
        .map(|l| {
            [
                l.protocol.to_string(),
                address_cell(l),
                l.port.to_string(),
                l.exposure.as_str().to_string(),
                owners_cell(l),
                service_cell(l),
                flags_cell(l),
            ]
        })
        .collect();
    let mut widths = HEADERS.map(UnicodeWidthStr::width);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.width());
        }
    }
    let last = HEADERS.len() - 1;
    let mut line = String::new();
    for (i, h) in HEADERS.iter().enumerate() {
        pad(&mut line, &p.bold(h), h.width(), if i == last { 0 } else { widths[i] + 2 });
    }
    writeln!(out, "{}", line.trim_end())?;
    for (row, l) in rows.iter().zip(&report.listeners) {
        line.clear();
        for (i, cell) in row.iter().enumerate() {
            let painted = match i {
                4 if !l.owner_known() => p.warn(cell),
                5 if l.iana.status != Status::Assigned => p.dim(cell),
                6 => match l.severity {
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

    let mut flagged: Vec<&Listener<'_>> = report.listeners.iter().filter(|l| !l.flags.is_empty()).collect();
    if !flagged.is_empty() {
        flagged.sort_by(|a, b| crate::report::by_severity(a, b));
        writeln!(out)?;
        writeln!(out, "{}", p.bold("Why flagged (most severe first):"))?;
        let more = flagged.len().saturating_sub(MAX_REASONS);
        for l in flagged.into_iter().take(MAX_REASONS) {
            for f in &l.flags {
                let sev = l.severity.map(|s| s.as_str()).unwrap_or("");
                writeln!(
                    out,
                    "  {}/{} {} {}: {} [{}]: {}",
                    l.port,
                    l.protocol,
                    address_cell(l),
                    owners_cell(l),
                    p.warn(f.kind.as_str()),
                    sev,
                    f.reason
                )?;
            }
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
    if s.owner_unknown > 0 {
        let hint = s.hint.as_deref().unwrap_or("");
        writeln!(out, "{}", p.warn(&format!("{} with owner unknown: {hint}", plural(s.owner_unknown, "listener"))))?;
    }
    for w in &s.warnings {
        writeln!(out, "{}", p.warn(&format!("warning: {}", escape(w))))?;
    }
    Ok(())
}
