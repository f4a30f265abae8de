//! `check`: judge every listener against the policy and report in text, JSON, JUnit or GitHub annotations.
//!
//! Exit status: 0 when every listener is allowed and none fails `fail_on`; 1 when any is unexpected or fails
//! `fail_on`; 2 when the check cannot be trusted (owners unknown where rules need them) or the input is bad.

use crate::app::{self, Output, Status};
use crate::cli::{CheckArgs, CheckFormat};
use crate::model::Query;
use crate::policy::{Policy, Verdict};
use crate::render::table::{owners_cell, plural};
use crate::render::{self, Painter};
use crate::report::{self, Listener, Report};
use crate::text::escape;
use serde::Serialize;
use std::io::{self, Write};

/// One listener with the policy's verdict on it.
#[derive(Debug, Clone, Serialize)]
pub struct Checked<'r> {
    #[serde(flatten)]
    pub listener: Listener<'r>,
    pub check: Verdict,
}

/// Counts of a check.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    pub listeners: usize,
    pub allowed: usize,
    pub unexpected: usize,
    pub flag_failed: usize,
    pub undecidable: usize,
}

impl Tally {
    pub fn of(checked: &[Checked<'_>]) -> Tally {
        let mut t = Tally { listeners: checked.len(), ..Tally::default() };
        for c in checked {
            match c.check {
                Verdict::Allowed { .. } => t.allowed += 1,
                Verdict::Unexpected { .. } => t.unexpected += 1,
                Verdict::FlagFailed { .. } => t.flag_failed += 1,
                Verdict::Undecidable { .. } => t.undecidable += 1,
            }
        }
        t
    }

    /// 2 when undecidable, 1 when anything failed, else 0.
    pub fn status(&self) -> Status {
        if self.undecidable > 0 {
            2
        } else if self.unexpected + self.flag_failed > 0 {
            1
        } else {
            0
        }
    }

    fn result(&self) -> &'static str {
        match self.status() {
            0 => "pass",
            1 => "fail",
            _ => "undecidable",
        }
    }
}

/// The whole result, as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport<'r> {
    pub schema_version: u32,
    pub policy: String,
    pub result: &'static str,
    pub exit_code: Status,
    pub tally: Tally,
    pub listeners: Vec<Checked<'r>>,
    pub summary: report::Summary,
}

/// Judges every listener of a report.
pub fn judge<'r>(policy: &Policy, report: Report<'r>) -> CheckReport<'r> {
    let listeners: Vec<Checked<'r>> =
        report.listeners.into_iter().map(|l| Checked { check: policy.check(&l), listener: l }).collect();
    let tally = Tally::of(&listeners);
    CheckReport {
        schema_version: report::SCHEMA_VERSION,
        policy: policy.path.display().to_string(),
        result: tally.result(),
        exit_code: tally.status(),
        tally,
        listeners,
        summary: report.summary,
    }
}

/// Runs `check`.
pub fn run(args: &CheckArgs, painter: Painter, io: &mut Output<'_>) -> anyhow::Result<Status> {
    let policy = Policy::load(&args.policy)?;
    let registry = app::load_registry()?;
    let report = match &args.from {
        Some(file) => {
            let inventory = crate::snapshot::read(file)?;
            let hint = crate::platform::hidden_owner_hint();
            report::build(inventory, &registry, &mut app::user_names(), &|_| true, hint)
        }
        None => app::inventory_report(&Query { all_netns: args.all_netns, ..Query::default() }, &registry, &|_| true)?,
    };
    let checked = judge(&policy, report);
    match args.format {
        CheckFormat::Text => text(io.out, &checked, &policy, painter)?,
        CheckFormat::Json => render::json(io.out, &checked)?,
        CheckFormat::Junit => junit(io.out, &checked, &policy)?,
        CheckFormat::Github => github(io.out, &checked, &policy)?,
    }
    app::warn_unknown_owners(&checked.summary, io.err)?;
    Ok(checked.exit_code)
}

/// `tcp [::]:80 (all-interfaces)`: the socket as people write it, with ` netns NAME` when it is in another network
/// namespace than portwarden's.
pub fn socket_label(l: &Listener<'_>) -> String {
    let addr = if l.address.contains(':') { format!("[{}]", l.address) } else { l.address.clone() };
    let netns = crate::render::table::netns_suffix(l);
    format!("{} {addr}:{}{netns} ({})", l.protocol, l.port, l.exposure.as_str())
}

/// The IANA side in a few words: "http-alt (assigned)", "(unassigned)".
fn iana_label(l: &Listener<'_>) -> String {
    let flags: Vec<&str> = l.flags.iter().map(|f| f.kind.as_str()).collect();
    let services = if l.iana.services.is_empty() { String::new() } else { format!("{} ", l.iana.services.join(", ")) };
    let flags = if flags.is_empty() { "no flags".to_string() } else { format!("flags: {}", flags.join(", ")) };
    format!("{services}({}), {flags}", l.iana.status.as_str())
}

/// Why a listener failed, in one or more sentences; None when it passed.
fn why(c: &Checked<'_>, policy: &Policy) -> Option<String> {
    let rule = |i: usize| policy.rules.get(i).map_or_else(|| format!("rule {}", i + 1), |r| r.label(i));
    match &c.check {
        Verdict::Allowed { .. } => None,
        Verdict::Unexpected { closest: None } if policy.rules.is_empty() => {
            Some("no rule allows it: the policy has no [[allow]] rules".to_string())
        }
        Verdict::Unexpected { closest: None } => Some("no rule allows it".to_string()),
        Verdict::Unexpected { closest: Some(cl) } => {
            Some(format!("no rule allows it; closest is {}: {}", rule(cl.rule), cl.mismatches.join("; ")))
        }
        Verdict::FlagFailed { rule: i, flags, .. } => {
            let kinds: Vec<&str> = flags.iter().map(|k| k.as_str()).collect();
            let reasons: Vec<&str> =
                c.listener.flags.iter().filter(|f| flags.contains(&f.kind)).map(|f| f.reason.as_str()).collect();
            Some(format!(
                "allowed by {}, but flagged {} and the policy fails on it (fail_on): {}",
                rule(*i),
                kinds.join(", "),
                reasons.join(" ")
            ))
        }
        Verdict::Undecidable { rule: i, needs, .. } => Some(format!(
            "{} would allow it only if its {} matched, but its owning process cannot be seen ({}); or set \
             allow_unknown_owners = true in [settings]",
            rule(*i),
            needs.join(" and "),
            crate::platform::hidden_owner_hint()
        )),
    }
}

fn verdict_word(v: &Verdict) -> &'static str {
    match v {
        Verdict::Allowed { .. } => "ALLOWED",
        Verdict::Unexpected { .. } => "UNEXPECTED",
        Verdict::FlagFailed { .. } => "FLAGGED",
        Verdict::Undecidable { .. } => "UNDECIDABLE",
    }
}

fn text(out: &mut dyn Write, r: &CheckReport<'_>, policy: &Policy, p: Painter) -> io::Result<()> {
    for c in &r.listeners {
        let Some(reason) = why(c, policy) else { continue };
        let word = verdict_word(&c.check);
        let word = if c.check.is_failure() { p.bad(word) } else { p.warn(word) };
        writeln!(out, "{word} {} {}", socket_label(&c.listener), owners_cell(&c.listener))?;
        writeln!(out, "    IANA: {}", iana_label(&c.listener))?;
        writeln!(out, "    {reason}")?;
    }
    let t = &r.tally;
    let verdict = match t.status() {
        0 => p.good("PASS"),
        1 => p.bad("FAIL"),
        _ => p.bad("UNDECIDABLE"),
    };
    writeln!(
        out,
        "{verdict}: {} checked against {} ({}): {} allowed, {} unexpected, {} failing fail_on, {} undecidable",
        plural(t.listeners, "listener"),
        escape(&r.policy),
        plural(policy.rules.len(), "rule"),
        t.allowed,
        t.unexpected,
        t.flag_failed,
        t.undecidable
    )
}

/// Escapes text for XML 1.0 character data and attribute values: markup characters become entities, line feeds
/// and tabs character references, and every other control or format character (invalid in XML 1.0, or
/// attacker-controlled trickery) the visible escape of [`escape`].
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut buf = [0u8; 4];
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            '\u{FFFE}' | '\u{FFFF}' => out.push_str(&format!("\\u{{{:04x}}}", ch as u32)),
            c if crate::text::is_unsafe_char(c) => out.push_str(&escape(c.encode_utf8(&mut buf))),
            c => out.push(c),
        }
    }
    out
}

fn junit(out: &mut dyn Write, r: &CheckReport<'_>, policy: &Policy) -> io::Result<()> {
    let t = &r.tally;
    let failures = t.unexpected + t.flag_failed;
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="portwarden" tests="{}" failures="{failures}" errors="{}">"#,
        t.listeners, t.undecidable
    )?;
    writeln!(
        out,
        r#"  <testsuite name="portwarden check {}" tests="{}" failures="{failures}" errors="{}" skipped="0">"#,
        xml_escape(&r.policy),
        t.listeners,
        t.undecidable
    )?;
    for c in &r.listeners {
        let l = &c.listener;
        let name = format!("{} {}", socket_label(l), owners_cell(l));
        write!(
            out,
            r#"    <testcase classname="portwarden.{}.{}" name="{}" time="0">"#,
            l.protocol,
            l.port,
            xml_escape(&name)
        )?;
        match why(c, policy) {
            None => writeln!(out, "</testcase>")?,
            Some(reason) => {
                let tag = if c.check.is_failure() { "failure" } else { "error" };
                let kind = verdict_word(&c.check).to_ascii_lowercase();
                let message = format!("{} listener: {}", kind, name);
                let body = format!("{reason}\nIANA: {}", iana_label(l));
                writeln!(out)?;
                writeln!(
                    out,
                    r#"      <{tag} type="{kind}" message="{}">{}</{tag}>"#,
                    xml_escape(&message),
                    xml_escape(&body)
                )?;
                writeln!(out, "    </testcase>")?;
            }
        }
    }
    writeln!(out, "  </testsuite>")?;
    writeln!(out, "</testsuites>")
}

/// Escapes a GitHub workflow command's message (`%`, CR, LF) after making control characters visible.
pub fn github_data(s: &str) -> String {
    escape(s).replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a GitHub workflow command's property value (also `:` and `,`).
pub fn github_property(s: &str) -> String {
    github_data(s).replace(':', "%3A").replace(',', "%2C")
}

fn github(out: &mut dyn Write, r: &CheckReport<'_>, policy: &Policy) -> io::Result<()> {
    for c in &r.listeners {
        let Some(reason) = why(c, policy) else { continue };
        let l = &c.listener;
        let title = format!("portwarden: {} listener {}", verdict_word(&c.check).to_ascii_lowercase(), socket_label(l));
        let message = format!("{} {}: {} (IANA: {})", socket_label(l), owners_cell(l), reason, iana_label(l));
        writeln!(out, "::error title={}::{}", github_property(&title), github_data(&message))?;
    }
    let t = &r.tally;
    writeln!(
        out,
        "::notice title=portwarden::{}",
        github_data(&format!(
            "{}: {} allowed, {} unexpected, {} failing fail_on, {} undecidable (policy {})",
            plural(t.listeners, "listener"),
            t.allowed,
            t.unexpected,
            t.flag_failed,
            t.undecidable,
            r.policy
        ))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escaping_is_safe_for_hostile_text() {
        assert_eq!(xml_escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
        let hostile = xml_escape("\x1b]0;x\x07\x00\r\n");
        assert_eq!(hostile, "\\e]0;x\\x07\\x00\\r&#10;");
        assert!(!hostile.chars().any(|c| c.is_control()));
    }

    #[test]
    fn github_escaping() {
        // A raw line break would let a process name start a new workflow command: it is shown escaped.
        assert_eq!(github_data("50% done\n::error::x"), "50%25 done\\n::error::x");
        assert_eq!(github_property("a:b,c"), "a%3Ab%2Cc");
        assert_eq!(github_data("\x1b[31mred"), "\\e[31mred");
    }
}
