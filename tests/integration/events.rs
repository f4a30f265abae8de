//! `watch` from kernel events: as root, every short-lived listener is recorded with the process that opened it, in
//! this network namespace and, with `--all-netns`, in another; as `nobody` it polls and says so.

use crate::netns::NamedNs;
use crate::util::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How many short-lived listeners, how far apart and how long each lives (the figures).
const COUNT: usize = 300;
const GAP_MS: &str = "5";
const LIFE_MS: &str = "1";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/short_lived.py")
}

/// Runs `watch ARGS --record` (default settings otherwise) while `short_lived.py` opens its listeners, run through
/// `wrapper` (e.g. `ip netns exec NAME`); returns the listeners opened ("PROTOCOL ADDRESS PORT PID") and the
/// recording's events, or None (after saying why) when kernel events cannot run here outside CI.
fn record_short_lived(test: &str, args: &[&str], wrapper: &[&str]) -> Option<(Vec<Vec<String>>, Vec<Value>)> {
    let _machine = machine_shared();
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec.ndjson");
    let args = [args, &["--record", rec.to_str().unwrap()]].concat();
    let (mut watch, _, err) = start_watch(portwarden(), dir.path(), &args);
    let started = events(&rec).remove(0);
    if started["mode"] != "events" {
        let why = started["mode_reason"].as_str().unwrap_or("").to_string();
        let _ = watch.kill();
        let _ = watch.wait();
        cannot_run(test, &format!("kernel events unavailable here: {why}"));
        return None;
    }
    let out = dir.path().join("opened.txt");
    let (program, rest) = wrapper.split_first().map_or(("python3", &[][..]), |(p, r)| (*p, r));
    let mut opener = Command::new(program);
    if !wrapper.is_empty() {
        opener.args(rest).arg("python3");
    }
    let status = opener
        .arg(script())
        .args(["--count", &COUNT.to_string(), "--gap-ms", GAP_MS, "--life-ms", LIFE_MS, "--fork", "--out"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "short_lived.py failed");
    stop_watch(&mut watch, &err);
    let opened: Vec<Vec<String>> =
        std::fs::read_to_string(&out).unwrap().lines().map(|l| l.split(' ').map(str::to_string).collect()).collect();
    assert_eq!(opened.len(), COUNT);
    Some((opened, events(&rec)))
}

/// The listeners of `opened` that the recording shows appearing with the PID that opened them (and, when given,
/// in the namespace named `netns`), and those it does not.
fn missing(opened: &[Vec<String>], recorded: &[Value], netns: Option<&str>) -> Vec<String> {
    opened
        .iter()
        .filter(|o| {
            let (protocol, address, port, pid) =
                (&o[0], &o[1], o[2].parse::<u64>().unwrap(), o[3].parse::<u64>().unwrap());
            !recorded.iter().any(|e| {
                let l = &e["listener"];
                e["event"] == "appeared"
                    && l["protocol"] == protocol.as_str()
                    && l["address"] == address.as_str()
                    && l["port"] == port
                    && pids(l) == [pid]
                    && netns.is_none_or(|name| l["netns"]["name"] == name)
            })
        })
        .map(|o| o.join(" "))
        .collect()
}

#[test]
fn watch_records_every_short_lived_listener_with_its_pid() {
    let test = "watch_records_every_short_lived_listener_with_its_pid";
    if skip_unless_root(test) || missing_tool(test, "python3") {
        return;
    }
    let Some((opened, recorded)) = record_short_lived(test, &[], &[]) else { return };
    let kinds: std::collections::BTreeSet<(&str, &str)> =
        opened.iter().map(|o| (o[0].as_str(), o[1].as_str())).collect();
    assert_eq!(kinds.len(), 4, "TCP and UDP, IPv4 and IPv6: {kinds:?}");
    let missed = missing(&opened, &recorded, None);
    assert!(missed.is_empty(), "{} of {COUNT} listeners not recorded with their PID: {missed:#?}", missed.len());
    // Each also recorded as gone, and none of them twice.
    for o in &opened {
        let port = o[2].parse::<u64>().unwrap();
        let pid = o[3].parse::<u64>().unwrap();
        let of: Vec<&str> = recorded
            .iter()
            .filter(|e| {
                e["listener"]["port"] == port
                    && e["listener"]["protocol"] == o[0].as_str()
                    && pids(&e["listener"]) == [pid]
            })
            .map(|e| e["event"].as_str().unwrap())
            .collect();
        assert_eq!(of, ["appeared", "disappeared"], "{}", o.join(" "));
    }
}

#[test]
fn watch_all_netns_records_every_short_lived_listener_in_another_namespace() {
    let test = "watch_all_netns_records_every_short_lived_listener_in_another_namespace";
    if skip_unless_root(test) || missing_tool(test, "python3") || missing_tool(test, "ip") {
        return;
    }
    let ns = NamedNs::create("events");
    let Some((opened, recorded)) = record_short_lived(test, &["--all-netns"], &["ip", "netns", "exec", &ns.name])
    else {
        return;
    };
    let missed = missing(&opened, &recorded, Some(&ns.name));
    assert!(missed.is_empty(), "{} of {COUNT} listeners not recorded in {}: {missed:#?}", missed.len(), ns.name);
}

#[test]
fn watch_without_all_netns_keeps_to_its_own_namespace() {
    let test = "watch_without_all_netns_keeps_to_its_own_namespace";
    if skip_unless_root(test) || missing_tool(test, "python3") || missing_tool(test, "ip") {
        return;
    }
    let ns = NamedNs::create("own");
    let Some((opened, recorded)) = record_short_lived(test, &[], &["ip", "netns", "exec", &ns.name]) else { return };
    let pids_opened: Vec<u64> = opened.iter().map(|o| o[3].parse().unwrap()).collect();
    let leaked: Vec<&Value> = recorded
        .iter()
        .filter(|e| e["listener"].is_object() && pids(&e["listener"]).iter().any(|p| pids_opened.contains(p)))
        .collect();
    assert!(leaked.is_empty(), "listeners of another namespace recorded without --all-netns: {leaked:#?}");
}

#[test]
fn watch_as_nobody_polls_and_says_so() {
    let test = "watch_as_nobody_polls_and_says_so";
    if skip_unless_root(test) || missing_tool(test, "setpriv") {
        return;
    }
    let _machine = machine_shared();
    let (_dir, rec, err, mut watch) = watch_as_nobody("200ms");
    let h = Holder::start_as_nobody("pw-events-nobody", &[tcp4("127.0.0.1", 0)]);
    let port = h.ports[0];
    wait_for(&rec, &format!("\"port\":{port}"));
    drop(h);
    stop_watch(&mut watch, &err);
    let stderr = std::fs::read_to_string(&err).unwrap();
    assert!(stderr.contains("polling every 200ms (kernel events unavailable: not running as root"), "{stderr}");
    let all = events(&rec);
    assert_eq!(all[0]["mode"], "polling");
    assert!(all[0]["mode_reason"].as_str().unwrap().starts_with("not running as root"), "{:#}", all[0]);
    assert!(all.iter().any(|e| e["event"] == "appeared" && e["listener"]["port"] == port), "still records by polling");
}
