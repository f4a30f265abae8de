//! Text rendering of `explain`: a port's range, IANA records, flags, related registrations and current listeners.

use super::table::{address_cell, owners_cell};
use super::Painter;
use crate::registry::Record;
use crate::text::{escape, truncate};
use crate::verdict::Story;

/// Characters of a command line shown before it is cut short.
const MAX_CMDLINE: usize = 300;
use std::io::{self, Write};

fn field(out: &mut dyn Write, p: Painter, label: &str, value: &str) -> io::Result<()> {
    let shown = if value.trim().is_empty() { p.dim("(none)") } else { escape(value.trim()).replace('\n', " ") };
    writeln!(out, "      {label:<13} {shown}")
}

fn record(out: &mut dyn Write, p: Painter, r: &Record<'_>) -> io::Result<()> {
    let name = if r.service.is_empty() { "(no service name)" } else { r.service };
    let proto = if r.protocol.is_empty() { "all protocols" } else { r.protocol };
    writeln!(out, "    - {} {}/{} [{}]", p.bold(&escape(name)), escape(r.port), proto, r.status().as_str())?;
    field(out, p, "description", r.description)?;
    field(out, p, "assignee", r.assignee)?;
    field(out, p, "contact", r.contact)?;
    field(out, p, "reference", r.reference)?;
    field(out, p, "registered", r.registration_date)?;
    field(out, p, "modified", r.modification_date)?;
    for (label, value) in
        [("service code", r.service_code), ("unauthorized", r.unauthorized_use_reported), ("notes", r.assignment_notes)]
    {
        if !value.trim().is_empty() {
            field(out, p, label, value)?;
        }
    }
    Ok(())
}

/// Writes one story per port/protocol, separated by blank lines.
pub fn write(out: &mut dyn Write, stories: &[Story<'_>], p: Painter) -> io::Result<()> {
    for (i, s) in stories.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        let title = if s.iana.services.is_empty() {
            s.iana.status.as_str().to_string()
        } else {
            escape(&s.iana.services.join(", ")).into_owned()
        };
        writeln!(out, "{} {}", p.bold(&format!("{}/{}", s.port, s.protocol)), title)?;
        writeln!(out, "  range:  {}", s.range_meaning)?;
        writeln!(out, "  IANA:   {}", s.iana.status.as_str())?;
        if s.iana.entries.is_empty() {
            writeln!(out, "    {}", p.dim("no registry record covers this port"))?;
        }
        for r in &s.iana.entries {
            record(out, p, r)?;
        }
        if s.normally.is_empty() {
            writeln!(out, "  normally here: {}", p.dim("nothing portwarden knows of"))?;
        } else {
            writeln!(out, "  normally here:")?;
            for u in &s.normally {
                let who = if u.programs.is_empty() { "any program".to_string() } else { u.programs.join(", ") };
                let at = if u.exe.is_empty() { String::new() } else { format!(" at {}", u.exe.join(" or ")) };
                let systems = if u.os.len() == 3 { String::new() } else { format!(" [{}]", u.os.join(", ")) };
                let (who, at) = (escape(&who), escape(&at));
                writeln!(out, "    - {} ({who}{at}){systems}", p.bold(&escape(&u.what)))?;
                let reach = match u.exposed {
                    "normal" => "normal".to_string(),
                    level => format!("{level}: {}", escape(&u.risk)),
                };
                writeln!(out, "      beyond loopback: {reach}")?;
                writeln!(out, "      source: {}", escape(&u.source))?;
            }
        }
        writeln!(out, "  verdict: {}", escape(&s.expectation))?;
        if s.flags.is_empty() {
            writeln!(out, "  IANA flags: {}", p.good("none"))?;
        } else {
            writeln!(out, "  IANA flags (weak: they count only when nothing above explains a listener):")?;
            for f in &s.flags {
                writeln!(out, "    - {}: {}", p.warn(f.kind.as_str()), escape(&f.reason))?;
            }
        }
        if !s.related.is_empty() {
            writeln!(out, "  related registrations:")?;
            for r in &s.related {
                let proto = if r.protocol.is_empty() { "any" } else { r.protocol };
                let by = if r.assignee.is_empty() { String::new() } else { format!(" ({})", escape(r.assignee)) };
                writeln!(
                    out,
                    "    - {}/{} {}{by}: {}",
                    escape(r.port),
                    proto,
                    escape(r.service),
                    escape(r.description)
                )?;
            }
        }
        if s.listeners.is_empty() {
            writeln!(out, "  listening now: {}", p.dim("nothing on this machine"))?;
        } else {
            writeln!(out, "  listening now:")?;
            for l in &s.listeners {
                writeln!(
                    out,
                    "    - {} {} ({}): {}",
                    l.protocol,
                    address_cell(l),
                    l.exposure.as_str(),
                    owners_cell(l)
                )?;
                let word = match l.verdict {
                    crate::verdict::Verdict::Expected => p.good("expected"),
                    crate::verdict::Verdict::Review => p.warn("review"),
                    crate::verdict::Verdict::Dangerous => p.bad("dangerous"),
                };
                writeln!(out, "        {word}: {}", escape(&l.reason))?;
                for proc_ in &l.processes {
                    let mut exe = proc_.exe.as_deref().map(escape).unwrap_or_else(|| "(exe unreadable)".into());
                    if let Some(state) = proc_.exe_state.filter(|s| !s.trusted()) {
                        exe = format!("{exe} (path not verified: {})", state.as_str()).into();
                    }
                    let cmdline = escape(&proc_.cmdline);
                    writeln!(out, "        {} {} {}", proc_.pid, exe, p.dim(&truncate(&cmdline, MAX_CMDLINE)))?;
                }
            }
        }
    }
    Ok(())
}
