//! What `baseline` writes: a commented policy that allows exactly what listens now, one rule per listener (protocol, port,
//! process, exposure; never PIDs, which change every boot), so the first check passes and the file is then edited
//! by hand.
//!
//! With `--all-netns`, a listener in another network namespace than the current one also gets `netns = "NAME"` when
//! the namespace has a name (an unnamed one's inode changes when it is recreated, so it is only named in a comment),
//! and one whose owners all run in containers gets `container`: the exact `runtime:name` for runtimes that name
//! their containers (systemd-nspawn, machine, lxc), `runtime:*` for those whose ids change on every recreation
//! (docker, containerd, cri-o, podman, kubernetes), with the ids of now in a comment.

use crate::model::{Container, ExeState, Os};
use crate::text::escape;
use crate::verdict::knowledge::dynamic_start;
use crate::verdict::Listener;
use std::fmt::Write as _;

/// The owners' executable paths as exact patterns, when every owner's path is known and could be trusted (a path
/// seen through another mount namespace names whatever that namespace put there).
fn exe_patterns(l: &Listener<'_>) -> Vec<String> {
    let mut exes = Vec::new();
    for p in l.processes.iter() {
        match (&p.exe, p.exe_state) {
            (Some(exe), None) | (Some(exe), Some(ExeState::Verified | ExeState::Replaced)) => {
                exes.push(glob::Pattern::escape(exe.trim_end_matches(" (deleted)")))
            }
            _ => return Vec::new(),
        }
    }
    exes.sort();
    exes.dedup();
    exes
}

/// The owners' user names (sorted, without repeats); empty when any is unknown.
fn user_patterns(l: &Listener<'_>) -> Vec<String> {
    let users: Option<Vec<String>> = l.processes.iter().map(|p| p.user.as_deref().map(glob::Pattern::escape)).collect();
    let mut users = users.unwrap_or_default();
    users.sort();
    users.dedup();
    users
}

/// A TOML string literal (quoted and escaped by the toml crate).
/// A TOML basic string for `s`: the same value, written so that nothing in it can act on a terminal or a CI log
/// when the policy is printed: control and format characters and `#` (a `##[` starts a GitHub log command anywhere
/// in a line) as `\uXXXX` escapes, which TOML reads back as the characters themselves.
fn toml_str(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c == '#' || crate::text::is_unsafe_char(c)) && (c as u32) > 0xFFFF => {
                let _ = write!(out, "\\U{:08X}", c as u32);
            }
            c if c == '#' || crate::text::is_unsafe_char(c) => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The process names of a listener's owners, sorted and deduplicated, as glob patterns matching them exactly.
fn process_patterns(l: &Listener<'_>) -> Vec<String> {
    let mut names: Vec<String> = l.processes.iter().map(|p| glob::Pattern::escape(&p.name)).collect();
    names.sort();
    names.dedup();
    names
}

/// "nginx (root), nginx (www-data)": who holds the socket, without PIDs (they change on every start).
fn owners(l: &Listener<'_>) -> String {
    if l.processes.is_empty() {
        return format!("unknown (socket owned by {})", l.user.as_deref().map(escape).unwrap_or_else(|| "?".into()));
    }
    let mut seen: Vec<String> = Vec::new();
    for p in &l.processes {
        let who = format!("{} ({})", escape(&p.name), p.user.as_deref().map(escape).unwrap_or_else(|| "?".into()));
        if !seen.contains(&who) {
            seen.push(who);
        }
    }
    seen.join(", ")
}

/// The `netns` pattern for a listener in another, named network namespace.
fn netns_pattern(l: &Listener<'_>) -> Option<String> {
    l.netns.as_ref().filter(|n| !n.current).and_then(|n| n.name.as_deref()).map(glob::Pattern::escape)
}

/// The `container` patterns when every owner runs in a container (sorted, without repeats), else none.
fn container_patterns(l: &Listener<'_>) -> Vec<String> {
    let containers: Option<Vec<&Container>> = l.processes.iter().map(|p| p.container.as_ref()).collect();
    let Some(containers) = containers.filter(|c| !c.is_empty()) else { return Vec::new() };
    let mut patterns: Vec<String> = containers
        .iter()
        .map(|c| match c.runtime.as_str() {
            "systemd-nspawn" | "machine" | "lxc" => glob::Pattern::escape(&c.full()),
            runtime => format!("{}:*", glob::Pattern::escape(runtime)),
        })
        .collect();
    patterns.sort();
    patterns.dedup();
    patterns
}

/// `key = "one"` or `key = ["a", "b"]`.
fn toml_list(key: &str, values: &[String]) -> String {
    match values {
        [one] => format!("{key} = {}", toml_str(one)),
        many => format!("{key} = [{}]", many.iter().map(|v| toml_str(v)).collect::<Vec<_>>().join(", ")),
    }
}

/// Renders the baseline policy for these listeners, and says how many rules it holds.
pub fn baseline_policy(listeners: &[Listener<'_>], os: Os, command: &str) -> (String, usize) {
    let mut out = String::new();
    let _ = writeln!(out, "# portwarden policy: the listeners this machine is expected to have.");
    let _ = writeln!(out, "# Written by `{command}` from {} listeners; edit it by hand.", listeners.len());
    let _ = writeln!(out, "#");
    let _ = writeln!(out, "# Each [[allow]] rule allows the listeners that match every key it gives:");
    let _ = writeln!(out, "#   protocol = \"tcp\" | \"udp\"   port = 22 | \"8000-8100\" | [80, 443]");
    let _ = writeln!(out, "#   process = \"nginx\" | [\"a\", \"b*\"] (every owner must match one; globs)");
    let _ = writeln!(out, "#   exe = \"/usr/sbin/*\"   user = \"www-data\"   address = \"127.0.0.1\"");
    let _ = writeln!(
        out,
        "#   exposure = \"loopback\" | \"namespace\" | \"address\" | \"all-interfaces\"   reason = \"why it is here\""
    );
    let _ = writeln!(
        out,
        "#   netns = \"NAME\" | \"INODE\"   container = \"docker:*\" | \"lxc:web\" (every owner must match one)"
    );
    let _ = writeln!(out, "# `portwarden check` exits 1 when a listener matches no rule.");
    let _ = writeln!(out);
    let _ = writeln!(out, "[settings]");
    let _ = writeln!(
        out,
        "# What fails the check even for an allowed listener: a verdict (\"review\" or \"dangerous\": that"
    );
    let _ = writeln!(
        out,
        "# verdict or worse) or a flag kind (\"exposed-service\", \"wrong-path\", \"deleted-exe\", ...)."
    );
    let _ =
        writeln!(out, "# Empty, so that this first check passes; [\"dangerous\"] is the usual choice once reviewed.");
    let _ = writeln!(out, "fail_on = []");
    let _ =
        writeln!(out, "# May a listener whose owning process cannot be seen pass a rule that names a process or exe?");
    let _ = writeln!(out, "# When false, such a check ends with exit 2 (it cannot be trusted).");
    let _ = writeln!(out, "allow_unknown_owners = false");

    // One rule per (protocol, port, processes, executables, users, exposure, namespace, containers): v4 and v6
    // twins, and master and workers, share one. A port in the system's dynamic range is written as that range: the
    // program picks another one when it restarts.
    type Seen<'a> = (String, String, Vec<String>, Vec<String>, Vec<String>, &'a str, Option<String>, Vec<String>);
    let mut seen: std::collections::HashSet<Seen<'_>> = std::collections::HashSet::new();
    for l in listeners {
        let procs = process_patterns(l);
        let (exes, users) = (exe_patterns(l), user_patterns(l));
        let netns = netns_pattern(l);
        let containers = container_patterns(l);
        let dynamic_from = dynamic_start(os);
        let port = if l.port >= dynamic_from { format!("\"{dynamic_from}-65535\"") } else { l.port.to_string() };
        let key = (
            l.protocol.to_string(),
            port.clone(),
            procs.clone(),
            exes.clone(),
            users.clone(),
            l.exposure.as_str(),
            netns.clone(),
            containers.clone(),
        );
        if !seen.insert(key) {
            continue;
        }
        let service = if l.iana.services.is_empty() {
            format!("({})", l.iana.status.as_str())
        } else {
            escape(&l.iana.services.join(", ")).into_owned()
        };
        let _ = writeln!(out);
        let _ = writeln!(out, "# {} {}:{} {service}; owners: {}", l.protocol, l.address, l.port, owners(l));
        if let Some(n) = l.netns.as_ref().filter(|n| !n.current) {
            let named = match &n.name {
                Some(name) => format!("network namespace {} ({})", escape(name), n.inode),
                None => format!("unnamed network namespace {} (its inode changes when it is recreated)", n.inode),
            };
            let _ = writeln!(out, "# in {named}");
        }
        let mut ids: Vec<String> = l.processes.iter().filter_map(|p| p.container.as_ref()).map(|c| c.full()).collect();
        ids.sort();
        ids.dedup();
        if !ids.is_empty() {
            let _ = writeln!(out, "# container: {}", escape(&ids.join(", ")));
        }
        for f in &l.flags {
            let _ = writeln!(out, "# flagged {}: see `portwarden explain {}/{}`", f.kind.as_str(), l.port, l.protocol);
        }
        if l.port >= dynamic_from {
            let _ =
                writeln!(out, "# port {} is in the dynamic range: the program may get another one on restart", l.port);
        }
        let _ = writeln!(out, "[[allow]]");
        let _ = writeln!(out, "protocol = {}", toml_str(l.protocol.as_str()));
        let _ = writeln!(out, "port = {port}");
        if procs.is_empty() {
            let _ = writeln!(out, "# owner unknown when this baseline was written; add `process = \"...\"` once known");
        }
        for (key, values) in [("process", &procs), ("exe", &exes), ("user", &users)] {
            if !values.is_empty() {
                let _ = writeln!(out, "{}", toml_list(key, values));
            }
        }
        let _ = writeln!(out, "exposure = {}", toml_str(l.exposure.as_str()));
        if let Some(netns) = &netns {
            let _ = writeln!(out, "netns = {}", toml_str(netns));
        }
        if !containers.is_empty() {
            let _ = writeln!(out, "{}", toml_list("container", &containers));
        }
        let _ = writeln!(out, "reason = {}", toml_str(&format!("baseline: {service}")));
    }
    (out, seen.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Netns, OwnedSocket, Process, Protocol, Socket};
    use crate::policy::{Decision, Policy};
    use crate::registry::Registry;

    fn listener<'r>(
        reg: &'r Registry,
        port: u16,
        netns: Option<Netns>,
        containers: &[Option<(&str, &str)>],
    ) -> Listener<'r> {
        let socket = Socket {
            protocol: Protocol::Tcp,
            address: "0.0.0.0".parse().unwrap(),
            port,
            uid: Some(0),
            inode: u64::from(port),
            v6only: None,
            interface: None,
            netns,
        };
        let processes = containers
            .iter()
            .enumerate()
            .map(|(i, c)| Process {
                pid: 100 + i as u32,
                name: "app".to_string(),
                exe: None,
                exe_state: None,
                cmdline: String::new(),
                user: Some("root".to_string()),
                uid: Some(0),
                start_time: None,
                container: c.map(|(runtime, id)| Container { runtime: runtime.into(), id: id.into() }),
            })
            .map(std::sync::Arc::new)
            .collect();
        crate::verdict::listener(OwnedSocket { socket, processes }, reg, &mut |_| None)
    }

    fn ns(inode: u64, name: Option<&str>, current: bool) -> Option<Netns> {
        Some(Netns { inode, name: name.map(str::to_string), current })
    }

    #[test]
    fn namespaces_and_containers_are_written_and_read_back() {
        let reg = Registry::builtin();
        let docker = "0123456789abcdef".repeat(4);
        let listeners = [
            listener(&reg, 22, ns(4026531833, None, true), &[None]),
            listener(&reg, 8080, ns(4026532201, Some("pw-test"), false), &[None]),
            listener(&reg, 8081, ns(4026532305, None, false), &[Some(("docker", &docker))]),
            listener(&reg, 8082, ns(4026532400, None, false), &[Some(("lxc", "web*1")), Some(("lxc", "web*1"))]),
            listener(&reg, 8083, ns(4026532401, None, false), &[Some(("podman", &docker)), None]),
        ];
        let (text, rules) = baseline_policy(&listeners, Os::Linux, "portwarden baseline --all-netns");
        assert_eq!(rules, 5);
        assert!(text.contains("netns = \"pw-test\"\n"), "{text}");
        assert!(text.contains("container = \"docker:*\"\n"), "{text}");
        assert!(text.contains(&format!("# container: docker:{docker}\n")), "{text}");
        assert!(text.contains("container = \"lxc:web[*]1\"\n"), "{text}");
        assert!(text.contains("# in unnamed network namespace 4026532305"), "{text}");
        assert_eq!(text.matches("\nnetns = ").count(), 1, "only the named namespace is a key: {text}");
        assert_eq!(text.matches("\ncontainer = ").count(), 2, "not when an owner runs outside containers: {text}");
        let policy = Policy::parse(&text, std::path::Path::new("b.toml")).unwrap();
        for l in &listeners {
            assert!(matches!(policy.check(l), Decision::Allowed { .. }), "{}: {:?}", l.port, policy.check(l));
        }
        // The rule for the named namespace does not allow the same listener elsewhere.
        let moved = listener(&reg, 8080, ns(4026532999, Some("other"), false), &[None]);
        assert!(policy.check(&moved).is_failure());
    }

    #[test]
    fn names_that_would_act_on_a_log_are_written_escaped_and_read_back_exact() {
        for name in ["##[group]x", "a\u{202e}b\u{e0001}", "q\"uote\\back", "\u{1b}]0;x\u{7}"] {
            let text = format!("[[allow]]\nprocess = {}\n", toml_str(&glob::Pattern::escape(name)));
            let unsafe_char = text.chars().filter(|&c| c != '\n').any(crate::text::is_unsafe_char);
            assert!(!text.contains("##[") && !unsafe_char, "{text}");
            let p = Policy::parse(&text, std::path::Path::new("b.toml")).unwrap();
            assert!(p.rules[0].process[0].matches(name), "{name:?} from {text}");
        }
    }
}
