//! `list --format csv`: one row per listener with flat columns and a header, for spreadsheets and scripts.
//!
//! Written with the `csv` crate, so fields with commas, quotes or line breaks are quoted as RFC 4180 says. Text is
//! kept as read (like JSON); lists inside a field are joined with `;`. `netns` (name or inode) and `containers`
//! (`runtime:id` per owner) are empty without `--all-netns`.

use crate::verdict::Report;
use std::io::{self, Write};

/// The header row.
pub const HEADER: [&str; 21] = [
    "protocol",
    "family",
    "address",
    "port",
    "dual_stack",
    "exposure",
    "pids",
    "processes",
    "exes",
    "users",
    "uid",
    "user",
    "range",
    "iana_status",
    "services",
    "verdict",
    "reason",
    "flags",
    "severity",
    "netns",
    "containers",
];

/// Writes the header and one row per listener.
pub fn write(out: &mut dyn Write, report: &Report<'_>) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(HEADER)?;
    for l in &report.listeners {
        let join = |f: &dyn Fn(&crate::model::Process) -> String| -> String {
            l.processes.iter().map(|p| f(p)).collect::<Vec<_>>().join(";")
        };
        let flags: Vec<&str> = l.flags.iter().map(|f| f.kind.as_str()).collect();
        w.write_record([
            l.protocol.as_str().to_string(),
            format!("{:?}", l.family).to_ascii_lowercase(),
            l.address.clone(),
            l.port.to_string(),
            l.dual_stack.to_string(),
            l.exposure.as_str().to_string(),
            join(&|p| p.pid.to_string()),
            join(&|p| p.name.clone()),
            join(&|p| p.exe.clone().unwrap_or_default()),
            join(&|p| p.user.clone().unwrap_or_default()),
            l.uid.map(|u| u.to_string()).unwrap_or_default(),
            l.user.clone().unwrap_or_default(),
            l.range.as_str().to_string(),
            l.iana.status.as_str().to_string(),
            l.iana.services.join(";"),
            l.verdict.as_str().to_string(),
            l.reason.clone(),
            flags.join(";"),
            l.severity.map(|s| s.as_str().to_string()).unwrap_or_default(),
            l.netns.as_ref().map(|n| n.label()).unwrap_or_default(),
            join(&|p| p.container.as_ref().map(|c| c.full()).unwrap_or_default()),
        ])?;
    }
    w.flush()
}
