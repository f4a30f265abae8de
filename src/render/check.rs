//! `check`'s reports: readable text, JUnit XML and GitHub workflow commands.

use super::table::{netns_suffix, owners_cell, plural};
use super::Painter;
use crate::policy::{CheckOutcome, CheckReport, Checked, Decision, Policy};
use crate::text::escape;
use crate::verdict::Listener;
use std::io::{self, Write};

/// `tcp [::]:80 (all-interfaces)`: the socket as people write it, with ` netns NAME` when it is in another network
/// namespace than portwarden's.
pub fn socket_label(l: &Listener<'_>) -> String {
    let addr = if l.address.contains(':') { format!("[{}]", l.address) } else { l.address.clone() };
    let netns = netns_suffix(l);
    format!("{} {addr}:{}{netns} ({})", l.protocol, l.port, l.exposure.as_str())
}

/// The IANA side in a few words: "http-alt (assigned)", "(unassigned)".
fn iana_label(l: &Listener<'_>) -> String {
    let flags: Vec<&str> = l.flags.iter().map(|f| f.kind.as_str()).collect();
    let services =
        if l.iana.services.is_empty() { String::new() } else { format!("{} ", escape(&l.iana.services.join(", "))) };
    let flags = if flags.is_empty() { "no flags".to_string() } else { format!("flags: {}", flags.join(", ")) };
    format!("{services}({}), {flags}", l.iana.status.as_str())
}

/// Why a listener failed, in one or more sentences; None when it passed.
fn why(c: &Checked<'_>, policy: &Policy, owner_hint: &str) -> Option<String> {
    let rule = |i: usize| policy.rules.get(i).map_or_else(|| format!("rule {}", i + 1), |r| r.label(i));
    match &c.check {
        Decision::Allowed { .. } => None,
        Decision::Unexpected { closest: None } if policy.rules.is_empty() => {
            Some("no rule allows it: the policy has no [[allow]] rules".to_string())
        }
        Decision::Unexpected { closest: None } => Some("no rule allows it".to_string()),
        Decision::Unexpected { closest: Some(cl) } => {
            Some(format!("no rule allows it; closest is {}: {}", rule(cl.rule), cl.mismatches.join("; ")))
        }
        Decision::FlagFailed { rule: i, flags, .. } => {
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
        Decision::Undecidable { rule: i, needs, .. } => Some(format!(
            "{} would allow it only if its {} matched, but its owning process cannot be seen ({}); or set \
             allow_unknown_owners = true in [settings]",
            rule(*i),
            needs.join(" and "),
            owner_hint
        )),
    }
}

fn decision_word(v: &Decision) -> &'static str {
    match v {
        Decision::Allowed { .. } => "ALLOWED",
        Decision::Unexpected { .. } => "UNEXPECTED",
        Decision::FlagFailed { .. } => "FLAGGED",
        Decision::Undecidable { .. } => "UNDECIDABLE",
    }
}

pub fn text(out: &mut dyn Write, r: &CheckReport<'_>, policy: &Policy, p: Painter) -> io::Result<()> {
    for c in &r.listeners {
        let Some(reason) = why(c, policy, &r.owner_hint) else { continue };
        let word = decision_word(&c.check);
        let word = if c.check.is_failure() { p.bad(word) } else { p.warn(word) };
        writeln!(out, "{word} {} {}", socket_label(&c.listener), owners_cell(&c.listener))?;
        writeln!(out, "    verdict: {}: {}", c.listener.verdict.as_str(), escape(&c.listener.reason))?;
        writeln!(out, "    IANA: {}", iana_label(&c.listener))?;
        writeln!(out, "    {}", escape(&reason))?;
    }
    for gap in &r.gaps {
        let word = if r.gaps_allowed { p.warn("GAP (allowed)") } else { p.bad("GAP") };
        writeln!(out, "{word} {}", escape(gap))?;
    }
    let t = &r.tally;
    let verdict = match r.outcome() {
        CheckOutcome::Pass => p.good("PASS"),
        CheckOutcome::Fail => p.bad("FAIL"),
        CheckOutcome::Undecidable => p.bad("UNDECIDABLE"),
    };
    writeln!(
        out,
        "{verdict}: {} checked against {} ({}): {} allowed, {} unexpected, {} failing fail_on, {} undecidable{}",
        plural(t.listeners, "listener"),
        escape(&r.policy),
        plural(policy.rules.len(), "rule"),
        t.allowed,
        t.unexpected,
        t.flag_failed,
        t.undecidable,
        match (r.gaps.len(), r.gaps_allowed) {
            (0, _) => String::new(),
            (n, false) => format!("; the recording has {}", plural(n, "gap")),
            (n, true) => format!("; the recording has {} (allowed)", plural(n, "gap")),
        }
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

pub fn junit(out: &mut dyn Write, r: &CheckReport<'_>, policy: &Policy) -> io::Result<()> {
    let t = &r.tally;
    let failures = t.unexpected + t.flag_failed;
    let errors = t.undecidable + if r.gaps_allowed { 0 } else { r.gaps.len() };
    let tests = t.listeners + r.gaps.len();
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(out, r#"<testsuites name="portwarden" tests="{tests}" failures="{failures}" errors="{errors}">"#)?;
    writeln!(
        out,
        r#"  <testsuite name="portwarden check {}" tests="{tests}" failures="{failures}" errors="{errors}" skipped="0">"#,
        xml_escape(&r.policy),
    )?;
    for gap in &r.gaps {
        write!(out, r#"    <testcase classname="portwarden.recording" name="{}" time="0">"#, xml_escape(gap))?;
        if r.gaps_allowed {
            writeln!(out, "</testcase>")?;
        } else {
            writeln!(out)?;
            writeln!(
                out,
                r#"      <error type="gap" message="{}">the recording does not show every listener; record again, or pass --allow-gaps</error>"#,
                xml_escape(gap)
            )?;
            writeln!(out, "    </testcase>")?;
        }
    }
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
        match why(c, policy, &r.owner_hint) {
            None => writeln!(out, "</testcase>")?,
            Some(reason) => {
                let tag = if c.check.is_failure() { "failure" } else { "error" };
                let kind = decision_word(&c.check).to_ascii_lowercase();
                let message = format!("{} listener: {}", kind, name);
                let body = format!("{reason}\nverdict: {}: {}\nIANA: {}", l.verdict.as_str(), l.reason, iana_label(l));
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

pub fn github(out: &mut dyn Write, r: &CheckReport<'_>, policy: &Policy) -> io::Result<()> {
    for c in &r.listeners {
        let Some(reason) = why(c, policy, &r.owner_hint) else { continue };
        let l = &c.listener;
        let title =
            format!("portwarden: {} listener {}", decision_word(&c.check).to_ascii_lowercase(), socket_label(l));
        let message = format!(
            "{} {}: {} (verdict: {}: {}; IANA: {})",
            socket_label(l),
            owners_cell(l),
            reason,
            l.verdict.as_str(),
            l.reason,
            iana_label(l)
        );
        writeln!(out, "::error title={}::{}", github_property(&title), github_data(&message))?;
    }
    for gap in &r.gaps {
        let level = if r.gaps_allowed { "warning" } else { "error" };
        writeln!(out, "::{level} title=portwarden%3A gap in the recording::{}", github_data(gap))?;
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
