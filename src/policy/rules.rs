//! The policy file (TOML): which listeners are expected, which flags fail a check anyway, and the pure evaluation
//! of a listener against it.
//!
//! ```toml
//! [settings]
//! fail_on = ["dangerous", "unassigned"]  # verdicts (review, dangerous) or flags that fail even an allowed listener
//! allow_unknown_owners = false           # may a listener whose owner cannot be seen pass a rule naming a process?
//!
//! [[allow]]
//! protocol = "tcp"          # tcp | udp
//! port = 22                 # or "8000-8100", or a list: [80, 443, "8000-8100"]
//! process = "sshd"          # name glob, or a list of globs: every owner must match one
//! exe = "/usr/sbin/*"       # executable path glob(s)
//! user = "root"             # user name glob(s) of the owners (or of the socket, when the owners are unknown)
//! address = "127.0.0.1"     # local address glob(s)
//! exposure = "loopback"     # loopback | namespace | address | all-interfaces
//! netns = "pw-*"            # network namespace name or inode glob(s) (listings made with --all-netns)
//! container = "docker:*"    # "runtime:id" glob(s): every owner must run in a matching container
//! reason = "OpenSSH"
//! ```

use crate::model::Protocol;
use crate::text::line_col;
use crate::verdict::Listener;
use crate::verdict::{Exposure, FlagKind, Verdict};
use anyhow::Context;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Settings of a policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Verdicts and flags that fail the check even when a rule allows the listener.
    #[serde(default)]
    pub fail_on: Vec<FailOn>,
    /// Whether a listener whose owning process cannot be seen may pass a rule that names a process or executable.
    /// When false (the default) such a check cannot be trusted and ends with exit 2.
    #[serde(default)]
    pub allow_unknown_owners: bool,
}

/// One entry of `fail_on`: a verdict level (that verdict or a worse one fails) or a flag kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    Verdict(Verdict),
    Flag(FlagKind),
}

impl<'de> Deserialize<'de> for FailOn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match (Verdict::parse(&s), FlagKind::parse(&s)) {
            (Some(Verdict::Expected), _) => Err(de::Error::custom(
                "\"expected\" would fail every listener; fail_on takes \"review\" or \"dangerous\", or a flag kind",
            )),
            (Some(v), _) => Ok(FailOn::Verdict(v)),
            (None, Some(k)) => Ok(FailOn::Flag(k)),
            (None, None) => {
                let kinds: Vec<&str> = FlagKind::ALL.iter().map(|k| k.as_str()).collect();
                Err(de::Error::custom(format!(
                    "unknown fail_on entry {s:?}: expected a verdict (review, dangerous) or a flag kind ({})",
                    kinds.join(", ")
                )))
            }
        }
    }
}

/// A glob pattern with the text it was written as.
#[derive(Debug, Clone)]
pub struct Glob {
    pub text: String,
    pattern: glob::Pattern,
}

impl Glob {
    pub fn new(text: &str) -> Result<Glob, String> {
        let pattern = glob::Pattern::new(text).map_err(|e| format!("bad pattern {text:?}: {}", e.msg))?;
        Ok(Glob { text: text.to_string(), pattern })
    }

    pub fn matches(&self, s: &str) -> bool {
        self.pattern.matches(s)
    }
}

impl PartialEq for Glob {
    fn eq(&self, other: &Glob) -> bool {
        self.text == other.text
    }
}

/// A port or an inclusive range of ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub start: u16,
    pub end: u16,
}

impl PortRange {
    pub fn contains(&self, port: u16) -> bool {
        self.start <= port && port <= self.end
    }
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<PortRange, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = PortRange;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a port number 0-65535 or a range \"N-M\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PortRange, E> {
                let p = u16::try_from(v)
                    .map_err(|_| E::custom(format!("port {v} is out of range (expected a port number 0-65535)")))?;
                Ok(PortRange { start: p, end: p })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PortRange, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PortRange, E> {
                match crate::registry::format::parse_port_field(v) {
                    Ok(Some((start, end))) => Ok(PortRange { start, end }),
                    Ok(None) => Err(E::custom("empty port (expected a port number 0-65535 or a range \"N-M\")")),
                    Err(m) => Err(E::custom(m)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// One port or range, or a list of them.
fn ports<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PortRange>, D::Error> {
    struct V;
    impl<'de> de::Visitor<'de> for V {
        type Value = Vec<PortRange>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a port number 0-65535, a range \"N-M\", or a list of them")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            PortRange::deserialize(de::value::I64Deserializer::new(v)).map(|r| vec![r])
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            PortRange::deserialize(de::value::U64Deserializer::new(v)).map(|r| vec![r])
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            PortRange::deserialize(de::value::StrDeserializer::new(v)).map(|r| vec![r])
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(r) = seq.next_element::<PortRange>()? {
                out.push(r);
            }
            if out.is_empty() {
                return Err(de::Error::custom("expected at least one port"));
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

/// One pattern or a list of patterns.
fn globs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Glob>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let texts =
        match OneOrMany::deserialize(d).map_err(|_| de::Error::custom("expected a string or a list of strings"))? {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) if v.is_empty() => return Err(de::Error::custom("expected at least one pattern")),
            OneOrMany::Many(v) => v,
        };
    texts.iter().map(|t| Glob::new(t).map_err(de::Error::custom)).collect()
}

/// One `[[allow]]` rule: every condition it gives must hold.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(skip)]
    pub line: usize,
    pub protocol: Option<Protocol>,
    /// Ports or ranges, any of which may match; empty means any port.
    #[serde(default, deserialize_with = "ports")]
    pub port: Vec<PortRange>,
    #[serde(default, deserialize_with = "globs")]
    pub process: Vec<Glob>,
    #[serde(default, deserialize_with = "globs")]
    pub exe: Vec<Glob>,
    #[serde(default, deserialize_with = "globs")]
    pub user: Vec<Glob>,
    #[serde(default, deserialize_with = "globs")]
    pub address: Vec<Glob>,
    pub exposure: Option<Exposure>,
    /// Network namespace: a glob on its name, or on its inode written as a number.
    #[serde(default, deserialize_with = "globs")]
    pub netns: Vec<Glob>,
    /// Container of every owner, as "runtime:id" (`docker:0123...`, `systemd-nspawn:web`).
    #[serde(default, deserialize_with = "globs")]
    pub container: Vec<Glob>,
    pub reason: Option<String>,
}

impl Rule {
    /// "rule 2 (line 14, \"web server\")".
    pub fn label(&self, index: usize) -> String {
        match &self.reason {
            Some(r) => format!("rule {} (line {}, {:?})", index + 1, self.line, r),
            None => format!("rule {} (line {})", index + 1, self.line),
        }
    }
}

/// A parsed policy.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub path: PathBuf,
    pub settings: Settings,
    pub rules: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    settings: Settings,
    #[serde(default)]
    allow: Vec<toml::Spanned<Rule>>,
}

impl Policy {
    /// Reads a policy file. Errors name the file, line and column and say what was expected.
    pub fn load(path: &Path) -> crate::error::Result<Policy> {
        Policy::load_inner(path).map_err(|e| crate::error::Error::bad_input(path, &e))
    }

    fn load_inner(path: &Path) -> anyhow::Result<Policy> {
        let bytes = std::fs::read(path).with_context(|| {
            format!("{}: cannot read the policy (create one with `portwarden baseline --output FILE`)", path.display())
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let (line, col) = line_col(e.as_bytes(), e.utf8_error().valid_up_to());
            anyhow::anyhow!("{}:{line}:{col}: the policy is not UTF-8 text (expected a TOML file)", path.display())
        })?;
        Policy::parse_inner(&text, path)
    }

    /// Parses policy text; `path` is used in messages.
    pub fn parse(text: &str, path: &Path) -> crate::error::Result<Policy> {
        Policy::parse_inner(text, path).map_err(|e| crate::error::Error::bad_input(path, &e))
    }

    fn parse_inner(text: &str, path: &Path) -> anyhow::Result<Policy> {
        let file: File = toml::from_str(text).map_err(|e| {
            let (line, col) = e.span().map_or((1, 1), |s| line_col(text.as_bytes(), s.start));
            let msg = e.message().trim().replace('\n', " ");
            anyhow::anyhow!("{}:{line}:{col}: {msg}", path.display())
        })?;
        // Line of each rule from one index of line starts (a policy may hold thousands of rules).
        let line_starts: Vec<usize> = std::iter::once(0)
            .chain(text.bytes().enumerate().filter(|&(_, b)| b == b'\n').map(|(i, _)| i + 1))
            .collect();
        let rules = file
            .allow
            .into_iter()
            .map(|spanned| {
                let line = line_starts.partition_point(|&start| start <= spanned.span().start);
                let mut rule = spanned.into_inner();
                rule.line = line;
                rule
            })
            .collect();
        Ok(Policy { path: path.to_path_buf(), settings: file.settings, rules })
    }
}

/// Outcome of one condition of a rule for one listener.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cond {
    Holds,
    /// Does not hold; the text says why ("port 8080 is not 80").
    Fails(String),
    /// Cannot be decided: the owning processes are not visible.
    NeedsOwner(&'static str),
}

/// Every value must match one of the patterns; a missing value (owner not visible) cannot be decided.
fn all_match(values: &[Option<&str>], pats: &[Glob], what: &'static str, describe: bool) -> Cond {
    if values.is_empty() || values.iter().any(Option::is_none) {
        return Cond::NeedsOwner(what);
    }
    let wanted = || pats.iter().map(|p| p.text.as_str()).collect::<Vec<_>>().join(" or ");
    for v in values.iter().flatten() {
        if !pats.iter().any(|p| p.matches(v)) {
            return fail(describe, || format!("{what} {:?} does not match {}", crate::text::escape(v), wanted()));
        }
    }
    Cond::Holds
}

/// A failed condition, with its message only when `describe` (messages cost allocations; only the closest rule's
/// are shown).
fn fail(describe: bool, message: impl FnOnce() -> String) -> Cond {
    Cond::Fails(if describe { message() } else { String::new() })
}

fn conditions(rule: &Rule, l: &Listener<'_>, describe: bool) -> Vec<Cond> {
    let mut out = Vec::new();
    if let Some(p) = rule.protocol {
        out.push(if p == l.protocol {
            Cond::Holds
        } else {
            fail(describe, || format!("protocol {} is not {p}", l.protocol))
        });
    }
    if !rule.port.is_empty() {
        out.push(if rule.port.iter().any(|r| r.contains(l.port)) {
            Cond::Holds
        } else {
            fail(describe, || {
                let wanted: Vec<String> = rule.port.iter().map(ToString::to_string).collect();
                format!("port {} is not {}", l.port, wanted.join(" or "))
            })
        });
    }
    if !rule.process.is_empty() {
        let names: Vec<Option<&str>> = l.processes.iter().map(|p| Some(p.name.as_str())).collect();
        out.push(all_match(&names, &rule.process, "process", describe));
    }
    if !rule.exe.is_empty() {
        // A path seen through another mount namespace, or one that names another file than the one running, is
        // whatever its owner made it: it never satisfies an exe rule.
        let unverified = l.processes.iter().find(|p| p.exe.is_some() && p.exe_state.is_some_and(|s| !s.trusted()));
        match unverified {
            Some(p) => out.push(fail(describe, || {
                format!(
                    "exe {:?} of PID {} could not be verified ({}), so no exe rule can match it",
                    crate::text::escape(p.exe.as_deref().unwrap_or("")),
                    p.pid,
                    p.exe_state.map_or("", |s| s.as_str())
                )
            })),
            None => {
                let exes: Vec<Option<&str>> = l.processes.iter().map(|p| p.exe.as_deref()).collect();
                out.push(all_match(&exes, &rule.exe, "exe", describe));
            }
        }
    }
    if !rule.user.is_empty() {
        // The owners' users when they are visible, else the socket's owner as the kernel reports it.
        let users: Vec<Option<&str>> = if l.processes.is_empty() {
            vec![l.user.as_deref()]
        } else {
            l.processes.iter().map(|p| p.user.as_deref()).collect()
        };
        out.push(all_match(&users, &rule.user, "user", describe));
    }
    if !rule.address.is_empty() {
        out.push(all_match(&[Some(l.address.as_str())], &rule.address, "address", describe));
    }
    if let Some(e) = rule.exposure {
        out.push(if e == l.exposure {
            Cond::Holds
        } else {
            fail(describe, || format!("exposure {} is not {}", l.exposure.as_str(), e.as_str()))
        });
    }
    if !rule.netns.is_empty() {
        out.push(netns_matches(l, &rule.netns));
    }
    if !rule.container.is_empty() {
        out.push(containers_match(l, &rule.container));
    }
    out
}

fn patterns(pats: &[Glob]) -> String {
    pats.iter().map(|p| p.text.as_str()).collect::<Vec<_>>().join(" or ")
}

/// The listener's network namespace matches by name (when it has one) or by inode.
fn netns_matches(l: &Listener<'_>, pats: &[Glob]) -> Cond {
    let Some(netns) = &l.netns else {
        return Cond::Fails(format!(
            "netns is not known (the listing was made without --all-netns), so it does not match {}",
            patterns(pats)
        ));
    };
    let inode = netns.inode.to_string();
    let candidates = netns.name.iter().map(String::as_str).chain([inode.as_str()]);
    if candidates.clone().any(|c| pats.iter().any(|p| p.matches(c))) {
        Cond::Holds
    } else {
        Cond::Fails(format!("netns {} does not match {}", crate::text::escape(&netns.label()), patterns(pats)))
    }
}

/// Every owner runs in a container whose "runtime:id" matches one of the patterns.
fn containers_match(l: &Listener<'_>, pats: &[Glob]) -> Cond {
    if l.processes.is_empty() {
        return Cond::NeedsOwner("container");
    }
    for p in &l.processes {
        let Some(c) = &p.container else {
            let why = if l.netns.is_none() { " (containers are only looked up with --all-netns)" } else { "" };
            return Cond::Fails(format!("owner {}/{} runs in no container{why}", p.pid, crate::text::escape(&p.name)));
        };
        let full = c.full();
        if !pats.iter().any(|pat| pat.matches(&full)) {
            return Cond::Fails(format!(
                "container {:?} does not match {}",
                crate::text::escape(&full),
                patterns(pats)
            ));
        }
    }
    Cond::Holds
}

/// The verdict on one listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Decision {
    /// A rule allows it and no flag in `fail_on` is raised.
    Allowed { rule: usize, line: usize },
    /// A rule allows it but it carries flags listed in `fail_on`.
    FlagFailed { rule: usize, line: usize, flags: Vec<FlagKind> },
    /// No rule allows it. `closest` is the rule that came nearest, with the conditions that did not hold.
    Unexpected { closest: Option<Closest> },
    /// A rule would allow it only if its owner, which cannot be seen, matched: the check cannot decide.
    Undecidable { rule: usize, line: usize, needs: Vec<&'static str> },
}

/// The rule that came closest to allowing a listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Closest {
    pub rule: usize,
    pub line: usize,
    pub reason: Option<String>,
    pub mismatches: Vec<String>,
}

impl Decision {
    /// The listener fails the check (exit 1).
    pub fn is_failure(&self) -> bool {
        matches!(self, Decision::FlagFailed { .. } | Decision::Unexpected { .. })
    }
}

impl Policy {
    /// Judges one listener: the first rule whose every condition holds allows it.
    pub fn check(&self, l: &Listener<'_>) -> Decision {
        let mut undecidable: Option<Decision> = None;
        // The closest failing rule is remembered by index and count; its mismatch messages are written once, at
        // the end (a baseline can hold thousands of rules, checked against thousands of listeners).
        let mut closest: Option<(usize, usize)> = None;
        for (i, rule) in self.rules.iter().enumerate() {
            let conds = conditions(rule, l, false);
            let failed = conds.iter().any(|c| matches!(c, Cond::Fails(_)));
            let needs: Vec<&'static str> =
                conds.iter().filter_map(|c| if let Cond::NeedsOwner(w) = c { Some(*w) } else { None }).collect();
            if !failed && (needs.is_empty() || self.settings.allow_unknown_owners) {
                let by_verdict =
                    self.settings.fail_on.iter().any(|f| matches!(f, FailOn::Verdict(v) if l.verdict >= *v));
                let flags: Vec<FlagKind> = l
                    .flags
                    .iter()
                    .map(|f| f.kind)
                    .filter(|k| by_verdict || self.settings.fail_on.contains(&FailOn::Flag(*k)))
                    .collect();
                return if flags.is_empty() {
                    Decision::Allowed { rule: i, line: rule.line }
                } else {
                    Decision::FlagFailed { rule: i, line: rule.line, flags }
                };
            }
            if !failed {
                undecidable.get_or_insert(Decision::Undecidable { rule: i, line: rule.line, needs });
                continue;
            }
            let holds = conds.iter().filter(|c| **c == Cond::Holds).count();
            if closest.is_none_or(|(_, best)| holds > best) {
                closest = Some((i, holds));
            }
        }
        undecidable.unwrap_or_else(|| Decision::Unexpected {
            closest: closest.map(|(i, _)| {
                let rule = &self.rules[i];
                let mismatches = conditions(rule, l, true)
                    .into_iter()
                    .filter_map(|c| if let Cond::Fails(m) = c { Some(m) } else { None })
                    .collect();
                Closest { rule: i, line: rule.line, reason: rule.reason.clone(), mismatches }
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{OwnedSocket, Process, Socket};
    use crate::registry::Registry;

    fn listener<'r>(reg: &'r Registry, port: u16, addr: &str, owners: &[(&str, &str)]) -> Listener<'r> {
        let socket = Socket {
            protocol: Protocol::Tcp,
            address: addr.parse().unwrap(),
            port,
            uid: Some(0),
            inode: 1,
            v6only: None,
            interface: None,
            netns: None,
        };
        let processes = owners
            .iter()
            .enumerate()
            .map(|(i, (name, user))| {
                std::sync::Arc::new(Process {
                    pid: 100 + i as u32,
                    name: name.to_string(),
                    exe: Some(format!("/usr/sbin/{name}")),
                    exe_state: None,
                    cmdline: name.to_string(),
                    user: Some(user.to_string()),
                    uid: Some(0),
                    start_time: None,
                    container: None,
                })
            })
            .collect();
        crate::verdict::listener(OwnedSocket { socket, processes }, reg, &mut |_| Some("root".to_string()))
    }

    fn policy(text: &str) -> Policy {
        Policy::parse(text, Path::new("p.toml")).unwrap()
    }

    fn error(text: &str) -> String {
        Policy::parse(text, Path::new("p.toml")).unwrap_err().to_string()
    }

    #[test]
    fn rule_lines_are_right_in_a_big_policy() {
        let text: String = (0..5000).map(|i| format!("[[allow]]\nport = {i}\n\n")).collect();
        let start = std::time::Instant::now();
        let p = policy(&text);
        assert_eq!(p.rules.len(), 5000);
        assert!(p.rules.iter().enumerate().all(|(i, r)| r.line == 3 * i + 1));
        assert!(start.elapsed() < std::time::Duration::from_secs(20), "parsing is not quadratic");
    }

    #[test]
    fn empty_policy_allows_nothing() {
        let reg = Registry::builtin();
        let p = policy("");
        assert_eq!(
            p.check(&listener(&reg, 22, "0.0.0.0", &[("sshd", "root")])),
            Decision::Unexpected { closest: None }
        );
    }

    #[test]
    fn first_matching_rule_allows() {
        let reg = Registry::builtin();
        let p = policy(
            "[[allow]]\nport = 80\nprocess = \"nginx\"\n\n[[allow]]\nprotocol = \"tcp\"\nport = \"20-25\"\nprocess = [\"sshd\", \"dropbear\"]\nexposure = \"all-interfaces\"\nreason = \"ssh\"\n",
        );
        assert_eq!(p.rules[1].line, 5, "the line of the rule's [[allow]] header");
        let l = listener(&reg, 22, "0.0.0.0", &[("sshd", "root")]);
        assert_eq!(p.check(&l), Decision::Allowed { rule: 1, line: 5 });
        // Every owner must match: an extra process on the socket is not allowed.
        let l = listener(&reg, 22, "0.0.0.0", &[("sshd", "root"), ("evil", "root")]);
        assert!(p.check(&l).is_failure());
    }

    #[test]
    fn closest_rule_says_what_did_not_match() {
        let reg = Registry::builtin();
        let p =
            policy("[[allow]]\nport = 443\n\n[[allow]]\nport = \"8000-8079\"\nprocess = \"nginx\"\nreason = \"web\"\n");
        let l = listener(&reg, 8080, "127.0.0.1", &[("nginx", "www-data")]);
        let Decision::Unexpected { closest: Some(c) } = p.check(&l) else { panic!("expected unexpected") };
        assert_eq!((c.rule, c.line, c.reason.as_deref()), (1, 4, Some("web")));
        assert_eq!(c.mismatches, vec!["port 8080 is not 8000-8079".to_string()]);
    }

    #[test]
    fn unknown_owners_are_undecidable_unless_allowed() {
        let reg = Registry::builtin();
        let l = listener(&reg, 22, "0.0.0.0", &[]);
        let p = policy("[[allow]]\nport = 22\nprocess = \"sshd\"\n");
        assert_eq!(p.check(&l), Decision::Undecidable { rule: 0, line: 1, needs: vec!["process"] });
        let p = policy("[settings]\nallow_unknown_owners = true\n[[allow]]\nport = 22\nprocess = \"sshd\"\n");
        assert!(matches!(p.check(&l), Decision::Allowed { .. }));
        // A rule that needs no owner decides on its own; the user falls back to the socket's uid.
        let p = policy("[[allow]]\nport = 22\nuser = \"root\"\n");
        assert!(matches!(p.check(&l), Decision::Allowed { .. }));
        // A rule that fails on a known field is no reason to give up: the listener is unexpected.
        let p = policy("[[allow]]\nport = 23\nprocess = \"sshd\"\n");
        assert!(matches!(p.check(&l), Decision::Unexpected { .. }));
    }

    #[test]
    fn fail_on_flags_fail_allowed_listeners() {
        let reg = Registry::builtin();
        let p = policy("[settings]\nfail_on = [\"unassigned\"]\n[[allow]]\nexposure = \"all-interfaces\"\n");
        // A program portwarden does not know, on all interfaces: its verdict rests on the port's IANA story.
        let l = listener(&reg, 987, "0.0.0.0", &[("xyzd", "root")]);
        assert_eq!(p.check(&l), Decision::FlagFailed { rule: 0, line: 3, flags: vec![FlagKind::Unassigned] });
        let l = listener(&reg, 22, "0.0.0.0", &[("sshd", "root")]);
        assert!(matches!(p.check(&l), Decision::Allowed { .. }));
    }

    #[test]
    fn fail_on_a_verdict_fails_that_verdict_and_worse() {
        let reg = Registry::builtin();
        let p = policy("[settings]\nfail_on = [\"dangerous\"]\n[[allow]]\nport = 22\n");
        // The test owners run from /usr/sbin/NAME: sshd there is OpenSSH; python3 there holds OpenSSH's port.
        let sshd = listener(&reg, 22, "0.0.0.0", &[("sshd", "root")]);
        assert_eq!(sshd.verdict, Verdict::Expected, "{}", sshd.reason);
        assert!(matches!(p.check(&sshd), Decision::Allowed { .. }));
        let python = listener(&reg, 22, "0.0.0.0", &[("python3", "root")]);
        assert_eq!(python.verdict, Verdict::Dangerous, "{}", python.reason);
        let Decision::FlagFailed { flags, .. } = p.check(&python) else { panic!("{:?}", p.check(&python)) };
        assert!(flags.contains(&FlagKind::UnexpectedHolder), "{flags:?}");
        let review = policy("[settings]\nfail_on = [\"review\"]\n[[allow]]\nport = 22\n");
        assert!(matches!(review.check(&python), Decision::FlagFailed { .. }), "review or worse");
    }

    #[test]
    fn globs_and_addresses() {
        let reg = Registry::builtin();
        let p = policy(
            "[[allow]]\nport = [5000, \"6000-6010\"]\nexe = \"/usr/sbin/*\"\naddress = [\"127.0.0.*\", \"::1\"]\n",
        );
        assert!(matches!(p.check(&listener(&reg, 6005, "::1", &[("a", "root")])), Decision::Allowed { .. }));
        let Decision::Unexpected { closest: Some(c) } = p.check(&listener(&reg, 7000, "::1", &[("a", "root")])) else {
            panic!("7000 is not allowed")
        };
        assert_eq!(c.mismatches, ["port 7000 is not 5000 or 6000-6010"]);
        assert!(matches!(p.check(&listener(&reg, 5000, "127.0.0.1", &[("a", "root")])), Decision::Allowed { .. }));
        assert!(p.check(&listener(&reg, 5000, "10.0.0.1", &[("a", "root")])).is_failure());
    }

    /// A listener in namespace `netns` (None: listed without --all-netns) whose one owner runs in `container`.
    fn in_netns<'r>(
        reg: &'r Registry,
        netns: Option<(u64, Option<&str>, bool)>,
        container: Option<(&str, &str)>,
    ) -> Listener<'r> {
        let mut l = listener(reg, 8080, "0.0.0.0", &[("app", "root")]);
        let socket = Socket {
            protocol: Protocol::Tcp,
            address: "0.0.0.0".parse().unwrap(),
            port: 8080,
            uid: Some(0),
            inode: 1,
            v6only: None,
            interface: None,
            netns: netns.map(|(inode, name, current)| crate::model::Netns {
                inode,
                name: name.map(str::to_string),
                current,
            }),
        };
        let mut processes = l.processes.clone();
        std::sync::Arc::make_mut(&mut processes[0]).container =
            container.map(|(runtime, id)| crate::model::Container { runtime: runtime.into(), id: id.into() });
        l = crate::verdict::listener(OwnedSocket { socket, processes }, reg, &mut |_| None);
        l
    }

    #[test]
    fn netns_and_container_rules() {
        let reg = Registry::builtin();
        let named = in_netns(&reg, Some((4026532201, Some("pw-test-1"), false)), None);
        let unnamed = in_netns(&reg, Some((4026532305, None, false)), Some(("docker", &"ab".repeat(32))));
        let current = in_netns(&reg, Some((4026531833, None, true)), None);
        let plain = in_netns(&reg, None, None);
        assert_eq!(named.exposure, Exposure::Namespace);
        assert_eq!(current.exposure, Exposure::AllInterfaces);

        let p = policy("[[allow]]\nnetns = \"pw-test-*\"\nexposure = \"namespace\"\n");
        assert!(matches!(p.check(&named), Decision::Allowed { .. }));
        let Decision::Unexpected { closest: Some(c) } = p.check(&unnamed) else { panic!("unnamed is not pw-test-*") };
        assert_eq!(c.mismatches, ["netns 4026532305 does not match pw-test-*"]);
        let Decision::Unexpected { closest: Some(c) } = p.check(&plain) else { panic!("no netns known") };
        assert!(c.mismatches[1].contains("without --all-netns"), "{:?}", c.mismatches);
        // By inode, as a number written as a string.
        let p = policy("[[allow]]\nnetns = \"4026532305\"\n");
        assert!(matches!(p.check(&unnamed), Decision::Allowed { .. }));
        assert!(p.check(&named).is_failure());

        let p = policy("[[allow]]\ncontainer = \"docker:*\"\n");
        assert!(matches!(p.check(&unnamed), Decision::Allowed { .. }));
        let Decision::Unexpected { closest: Some(c) } = p.check(&named) else { panic!("not in a container") };
        assert_eq!(c.mismatches, ["owner 100/app runs in no container"]);
        let Decision::Unexpected { closest: Some(c) } = p.check(&plain) else { panic!("not looked up") };
        assert!(c.mismatches[0].ends_with("(containers are only looked up with --all-netns)"), "{:?}", c.mismatches);
        let p = policy("[[allow]]\ncontainer = [\"podman:*\", \"lxc:web\"]\n");
        let Decision::Unexpected { closest: Some(c) } = p.check(&unnamed) else { panic!("docker is not podman") };
        assert!(c.mismatches[0].starts_with("container \"docker:abab"), "{:?}", c.mismatches);
        // Owners that cannot be seen leave a container rule undecided, like a process rule.
        let mut hidden = unnamed.clone();
        hidden.processes.clear();
        let p = policy("[[allow]]\ncontainer = \"docker:*\"\n");
        assert_eq!(p.check(&hidden), Decision::Undecidable { rule: 0, line: 1, needs: vec!["container"] });
    }

    #[test]
    fn malformed_policies_name_line_and_column() {
        let cases = [
            ("[[allow]]\nport = 70000\n", "p.toml:2:8", "out of range"),
            ("[[allow]]\nport = \"9-3\"\n", "p.toml:2:8", "reversed"),
            ("[[allow]]\nprotocol = \"sctp\"\n", "p.toml:2:12", "tcp"),
            ("[[allow]]\nprot = \"tcp\"\n", "p.toml:2:1", "prot"),
            ("[[allow]]\nport = true\n", "p.toml:2:8", "port number"),
            ("[[allow]]\nport = [22, 70000]\n", "p.toml:2:13", "out of range"),
            ("[[allow]]\nport = []\n", "p.toml:2:8", "at least one"),
            ("[[allow]]\nexposure = \"public\"\n", "p.toml:2:12", "namespace"),
            ("[[allow]]\nnetns = 4026532201\n", "p.toml:2:9", "string"),
            ("[[allow]]\ncontainer = \"[\"\n", "p.toml:2:13", "pattern"),
            ("[settings]\nfail_on = [\"weird\"]\n", "p.toml:2:11", "obscure"),
            ("[settings]\nfail_on = [\"expected\"]\n", "p.toml:2:11", "every listener"),
            ("[settings]\nallow_unknown_owners = \"yes\"\n", "p.toml:2:24", "bool"),
            ("[[allow]]\nport = 1\nport = 2\n", "p.toml:3:1", "duplicate"),
            ("[[allow]\n", "p.toml:1:", ""),
            ("[[allow]]\nprocess = \"[\"\n", "p.toml:2:11", "pattern"),
            ("[[allow]]\nprocess = []\n", "p.toml:2:11", "at least one"),
            ("colour = 1\n", "p.toml:1:1", "colour"),
        ];
        for (text, at, needle) in cases {
            let e = error(text);
            assert!(e.starts_with(at), "{text:?}: {e}");
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn port_ranges_parse_exactly_when_valid(a in 0u32..70000, b in 0u32..70000) {
                let text = format!("[[allow]]\nport = \"{a}-{b}\"\n");
                let parsed = Policy::parse(&text, Path::new("p.toml"));
                if a <= 65535 && b <= 65535 && a <= b {
                    let p = parsed.unwrap();
                    prop_assert_eq!(p.rules[0].port.clone(), vec![PortRange { start: a as u16, end: b as u16 }]);
                } else {
                    let e = parsed.unwrap_err().to_string();
                    prop_assert!(e.starts_with("p.toml:2:8:"), "{}", e);
                }
            }

            #[test]
            fn single_ports_parse_exactly_when_valid(a in -5i64..70000) {
                let parsed = Policy::parse(&format!("[[allow]]\nport = {a}\n"), Path::new("p.toml"));
                prop_assert_eq!(parsed.is_ok(), (0..=65535).contains(&a));
            }

            #[test]
            fn any_text_gives_a_policy_or_a_located_error(text in "\\PC{0,200}") {
                match Policy::parse(&text, Path::new("p.toml")) {
                    Ok(_) => {}
                    Err(e) => prop_assert!(e.to_string().starts_with("p.toml:"), "{}", e),
                }
            }

            #[test]
            fn port_rule_matches_exactly_the_ports_in_its_range(a in 0u16..=65535, b in 0u16..=65535, port in 0u16..=65535) {
                let (lo, hi) = (a.min(b), a.max(b));
                let reg = Registry::builtin();
                let p = policy(&format!("[[allow]]\nport = \"{lo}-{hi}\"\n"));
                let l = listener(&reg, port, "127.0.0.1", &[("x", "root")]);
                let allowed = matches!(p.check(&l), Decision::Allowed { .. });
                prop_assert_eq!(allowed, lo <= port && port <= hi);
            }

            #[test]
            fn process_globs_match_like_the_name(name in "[a-z.-]{1,15}") {
                let reg = Registry::builtin();
                let escaped = glob::Pattern::escape(&name);
                let p = policy(&format!("[[allow]]\nprocess = {}\n", toml::Value::String(escaped)));
                let allowed = matches!(p.check(&listener(&reg, 1, "::1", &[(&name, "root")])), Decision::Allowed { .. });
                prop_assert!(allowed);
                let other = format!("{name}x");
                prop_assert!(p.check(&listener(&reg, 1, "::1", &[(&other, "root")])).is_failure());
            }
        }
    }
}
