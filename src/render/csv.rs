//! `list --format csv`: one row per listener with flat columns and a header, for spreadsheets and scripts.
//!
//! Written with the `csv` crate, so fields with commas, quotes or line breaks are quoted as RFC 4180 says. Lists
//! inside a field are joined with `;`. `netns` (name or inode) and `containers` (`runtime:id` per owner) are empty
//! without `--all-netns`.
//!
//! A CSV file is opened in spreadsheets and printed on terminals, so text that others chose (process names, command
//! paths, user names, reasons quoting them) is made safe for both: control and format characters are shown escaped
//! ([`crate::text::escape`]), and a cell that starts with `=`, `+`, `-`, `@`, a tab or a CR, which a spreadsheet
//! would read as a formula, gets a leading `'` (OWASP's advice on CSV injection). Numbers portwarden writes itself
//! (ports, pids, uids) are left as they are.

use crate::text::escape;
use crate::verdict::{Listener, Sink, Summary};
use std::io::{self, Write};

/// A text cell, safe for a terminal and a spreadsheet: escaped, and prefixed with `'` when it would start a formula.
pub fn cell(s: &str) -> String {
    let shown = escape(s);
    let formula = |c: char| matches!(c, '=' | '+' | '-' | '@' | '\t' | '\r');
    if s.starts_with(formula) || shown.starts_with(formula) {
        format!("'{shown}")
    } else {
        shown.into_owned()
    }
}

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

/// `--format csv`: the header, then one row per listener as the pipeline hands them over.
pub struct Csv<'a> {
    w: csv::Writer<&'a mut dyn Write>,
}

impl<'a> Csv<'a> {
    /// Writes the header.
    pub fn begin(out: &'a mut dyn Write) -> io::Result<Self> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(HEADER)?;
        Ok(Csv { w })
    }

    fn row(&mut self, l: &Listener<'_>) -> io::Result<()> {
        let join = |f: &dyn Fn(&crate::model::Process) -> String| -> String {
            l.processes.iter().map(|p| f(p)).collect::<Vec<_>>().join(";")
        };
        let flags: Vec<&str> = l.flags.iter().map(|f| f.kind.as_str()).collect();
        self.w.write_record([
            l.protocol.as_str().to_string(),
            format!("{:?}", l.family).to_ascii_lowercase(),
            l.address.clone(),
            l.port.to_string(),
            l.dual_stack.to_string(),
            l.exposure.as_str().to_string(),
            join(&|p| p.pid.to_string()),
            cell(&join(&|p| p.name.clone())),
            cell(&join(&|p| p.exe.clone().unwrap_or_default())),
            cell(&join(&|p| p.user.clone().unwrap_or_default())),
            l.uid.map(|u| u.to_string()).unwrap_or_default(),
            cell(l.user.as_deref().unwrap_or_default()),
            l.range.as_str().to_string(),
            l.iana.status.as_str().to_string(),
            cell(&l.iana.services.join(";")),
            l.verdict.as_str().to_string(),
            cell(&l.reason),
            flags.join(";"),
            l.severity.map(|s| s.as_str().to_string()).unwrap_or_default(),
            cell(&l.netns.as_ref().map(|n| n.label()).unwrap_or_default()),
            cell(&join(&|p| p.container.as_ref().map(|c| c.full()).unwrap_or_default())),
        ])?;
        Ok(())
    }
}

impl<'r> Sink<'r> for Csv<'_> {
    fn listener(&mut self, l: Listener<'r>) -> io::Result<()> {
        self.row(&l)
    }

    fn end(&mut self, _: &Summary) -> io::Result<()> {
        self.w.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn cells_cannot_start_formulas_or_carry_control_characters() {
        assert_eq!(cell("nginx"), "nginx");
        assert_eq!(cell("=HYPERLINK(\"http://x\",\"y\")"), "'=HYPERLINK(\"http://x\",\"y\")");
        for (raw, shown) in
            [("+1", "'+1"), ("-x", "'-x"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\\tx"), ("\rx", "'\\rx")]
        {
            assert_eq!(cell(raw), shown);
        }
        assert_eq!(cell("a\x1b]0;t\x07b\n"), "a\\e]0;t\\x07b\\n");
        assert_eq!(cell(""), "");
    }
}
