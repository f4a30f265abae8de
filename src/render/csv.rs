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

use crate::model::{Family, Process};
use crate::text::escape;
use crate::verdict::{Listener, Sink, Summary};
use std::borrow::Cow;
use std::io::{self, Write};

/// A text cell, safe for a terminal and a spreadsheet: escaped, and prefixed with `'` when it would start a formula.
pub fn cell(s: &str) -> Cow<'_, str> {
    let shown = escape(s);
    let formula = |c: char| matches!(c, '=' | '+' | '-' | '@' | '\t' | '\r');
    if s.starts_with(formula) || shown.starts_with(formula) {
        Cow::Owned(format!("'{shown}"))
    } else {
        shown
    }
}

/// [`cell`] of text that may be owned already (kept as it is when nothing changes).
fn safe(s: Cow<'_, str>) -> Cow<'_, str> {
    let changed = match cell(&s) {
        Cow::Owned(changed) => Some(changed),
        Cow::Borrowed(_) => None,
    };
    changed.map_or(s, Cow::Owned)
}

/// One value per owner, joined with `;` (borrowed when there is one owner).
fn per_owner<'a>(l: &'a Listener<'_>, f: impl Fn(&'a Process) -> Cow<'a, str>) -> Cow<'a, str> {
    match l.processes.as_slice() {
        [one] => f(one),
        many => Cow::Owned(many.iter().map(|p| f(p)).collect::<Vec<_>>().join(";")),
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
        let flags: Vec<&str> = l.flags.iter().map(|f| f.kind.as_str()).collect();
        let fields: [Cow<'_, str>; 21] = [
            l.protocol.as_str().into(),
            match l.family {
                Family::Ipv4 => "ipv4".into(),
                Family::Ipv6 => "ipv6".into(),
            },
            l.address.as_str().into(),
            l.port.to_string().into(),
            if l.dual_stack { "true" } else { "false" }.into(),
            l.exposure.as_str().into(),
            per_owner(l, |p| p.pid.to_string().into()),
            safe(per_owner(l, |p| p.name.as_str().into())),
            safe(per_owner(l, |p| p.exe.as_deref().unwrap_or_default().into())),
            safe(per_owner(l, |p| p.user.as_deref().unwrap_or_default().into())),
            l.uid.map(|u| u.to_string()).unwrap_or_default().into(),
            cell(l.user.as_deref().unwrap_or_default()),
            l.range.as_str().into(),
            l.iana.status.as_str().into(),
            safe(l.iana.services.join(";").into()),
            l.verdict.as_str().into(),
            cell(&l.reason),
            flags.join(";").into(),
            l.severity.map_or("", |s| s.as_str()).into(),
            safe(l.netns.as_ref().map(|n| n.label()).unwrap_or_default().into()),
            safe(per_owner(l, |p| p.container.as_ref().map(|c| c.full()).unwrap_or_default().into())),
        ];
        self.w.write_record(fields.iter().map(|f| f.as_bytes()))?;
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
