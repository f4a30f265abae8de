//! `list --format prometheus`: the node_exporter textfile-collector format (Prometheus text exposition 0.0.4), so
//! a fleet's listeners reach the monitoring it already runs.
//!
//! `portwarden_listener` is a gauge per distinct label set (protocol, address, port, exposure, process, status,
//! verdict, flags; with `--all-netns` also netns and container) whose value is the number of such sockets (usually 1;
//! SO_REUSEPORT twins share a series). Counts per status and flag, and of unknown owners, follow.

use crate::registry::Status;
use crate::text::escape;
use crate::verdict::FlagKind;
use crate::verdict::{Listener, Sink, Summary};
use std::collections::BTreeMap;
use std::io::{self, Write};

/// Appends `name="value"` (after a comma unless first), the value as the exposition format wants it: control
/// characters made visible, then `\` and `"` escaped.
fn push_label(labels: &mut String, name: &str, value: &str) {
    if !labels.is_empty() {
        labels.push(',');
    }
    labels.push_str(name);
    labels.push_str("=\"");
    let shown = escape(value);
    if shown.bytes().any(|b| b == b'\\' || b == b'"') {
        for c in shown.chars() {
            match c {
                '\\' => labels.push_str("\\\\"),
                '"' => labels.push_str("\\\""),
                c => labels.push(c),
            }
        }
    } else {
        labels.push_str(&shown);
    }
    labels.push('"');
}

/// `--format prometheus`: series gathered as the pipeline hands listeners over, written with the counts at the end
/// (a metric's samples must follow its `# TYPE` line together).
pub struct Prometheus<'a> {
    out: &'a mut dyn Write,
    series: BTreeMap<String, usize>,
}

impl<'a> Prometheus<'a> {
    pub fn new(out: &'a mut dyn Write) -> Self {
        Prometheus { out, series: BTreeMap::new() }
    }

    fn add(&mut self, l: &Listener<'_>) {
        let mut names: Vec<&str> = l.processes.iter().map(|p| p.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let flags: Vec<&str> = l.flags.iter().map(|f| f.kind.as_str()).collect();
        let mut labels = String::with_capacity(192);
        push_label(&mut labels, "protocol", l.protocol.as_str());
        push_label(&mut labels, "address", &l.address);
        push_label(&mut labels, "port", &l.port.to_string());
        push_label(&mut labels, "exposure", l.exposure.as_str());
        push_label(&mut labels, "process", &names.join(","));
        push_label(&mut labels, "status", l.iana.status.as_str());
        push_label(&mut labels, "service", &l.iana.services.join(","));
        push_label(&mut labels, "verdict", l.verdict.as_str());
        push_label(&mut labels, "flags", &flags.join(","));
        if l.netns.is_some() {
            let mut containers: Vec<String> =
                l.processes.iter().filter_map(|p| p.container.as_ref()).map(|c| c.short()).collect();
            containers.sort_unstable();
            containers.dedup();
            push_label(&mut labels, "netns", &crate::render::table::netns_cell(l));
            push_label(&mut labels, "container", &containers.join(","));
        }
        *self.series.entry(labels).or_default() += 1;
    }
}

impl<'r> Sink<'r> for Prometheus<'_> {
    fn listener(&mut self, l: Listener<'r>) -> io::Result<()> {
        self.add(&l);
        Ok(())
    }

    fn end(&mut self, s: &Summary) -> io::Result<()> {
        let out = &mut *self.out;
        writeln!(out, "# HELP portwarden_listener Listening TCP or bound UDP sockets with these labels (usually 1).")?;
        writeln!(out, "# TYPE portwarden_listener gauge")?;
        for (labels, n) in &self.series {
            writeln!(out, "portwarden_listener{{{labels}}} {n}")?;
        }
        writeln!(out, "# HELP portwarden_listeners Listeners by IANA status of their port.")?;
        writeln!(out, "# TYPE portwarden_listeners gauge")?;
        for status in [Status::Assigned, Status::Reserved, Status::Unassigned] {
            let n = s.by_status.get(status.as_str()).copied().unwrap_or(0);
            writeln!(out, "portwarden_listeners{{status=\"{}\"}} {n}", status.as_str())?;
        }
        writeln!(out, "# HELP portwarden_verdict_listeners Listeners by verdict: expected, review, dangerous.")?;
        writeln!(out, "# TYPE portwarden_verdict_listeners gauge")?;
        for v in crate::verdict::Verdict::ALL {
            let n = s.by_verdict.get(v.as_str()).copied().unwrap_or(0);
            writeln!(out, "portwarden_verdict_listeners{{verdict=\"{}\"}} {n}", v.as_str())?;
        }
        writeln!(out, "# HELP portwarden_flagged_listeners Listeners carrying each kind of flag.")?;
        writeln!(out, "# TYPE portwarden_flagged_listeners gauge")?;
        for kind in FlagKind::ALL {
            let n = s.by_flag.get(kind.as_str()).copied().unwrap_or(0);
            writeln!(out, "portwarden_flagged_listeners{{flag=\"{}\"}} {n}", kind.as_str())?;
        }
        writeln!(out, "# HELP portwarden_owner_unknown_listeners Listeners whose owning process could not be seen.")?;
        writeln!(out, "# TYPE portwarden_owner_unknown_listeners gauge")?;
        writeln!(out, "portwarden_owner_unknown_listeners {}", s.owner_unknown)?;
        Ok(())
    }
}
