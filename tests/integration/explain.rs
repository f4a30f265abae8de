//! `portwarden explain`: the stories of the five hand-written port pages and friends, text and JSON.

use crate::util::*;
use serde_json::Value;

fn story(port: &str) -> Vec<Value> {
    json(&["explain", port, "--format", "json"]).as_array().expect("array").clone()
}

fn text(args: &[&str]) -> String {
    let out = run(portwarden().arg("explain").args(args));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn explain_987_system_unassigned() {
    let s = story("987");
    assert_eq!(s.len(), 2, "tcp and udp");
    for st in &s {
        assert_eq!(st["range"], "system");
        assert_eq!(st["iana"]["status"], "unassigned");
        assert_eq!(flag_kinds(st), ["unassigned"]);
    }
    let t = text(&["987/tcp"]);
    assert!(t.contains("system ports (0-1023") && t.contains("unassigned"), "{t}");
    // Historic use is told beside the IANA status, without changing it, with the system it was on and a source.
    assert!(t.contains("Apple NetInfo") && t.contains("[macos]") && t.contains("source: http"), "{t}");
    assert!(s[0]["normally"][0]["what"].as_str().unwrap().contains("NetInfo"), "{:#}", s[0]);
}

#[test]
fn explain_1647_rsap_obscure() {
    let s = story("1647/tcp");
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["iana"]["services"], serde_json::json!(["rsap"]));
    assert!(s[0]["iana"]["entries"][0]["assignee"].as_str().unwrap().contains("Holger_Reif"));
    assert_eq!(flag_kinds(&s[0]), ["obscure"]);
    let t = text(&["1647/tcp"]);
    assert!(t.contains("Holger_Reif") && t.contains("obscure") && t.contains("no reference"), "{t}");
}

#[test]
fn explain_1683_and_2867() {
    let s = story("1683/tcp");
    assert_eq!(s[0]["iana"]["services"], serde_json::json!(["ncpm-hip"]));
    let s = story("2867/udp");
    assert_eq!(s[0]["iana"]["services"], serde_json::json!(["esps-portal"]));
    assert!(s[0]["iana"]["entries"][0]["assignee"].as_str().unwrap().contains("Nicholas_Stowfis"));
}

#[test]
fn explain_1687_related_and_obscure() {
    let s = story("1687/tcp");
    assert_eq!(s[0]["range"], "user");
    assert_eq!(s[0]["iana"]["services"], serde_json::json!(["nsjtp-ctrl"]));
    assert_eq!(flag_kinds(&s[0]), ["obscure"]);
    let related: Vec<(String, String)> = s[0]["related"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["port"].as_str().unwrap().to_string(), r["service"].as_str().unwrap().to_string()))
        .collect();
    assert!(related.contains(&("1688".to_string(), "nsjtp-data".to_string())), "{related:?}");
    let t = text(&["1687"]);
    assert!(t.contains("1688") && t.contains("nsjtp-data") && t.contains("user ports"), "{t}");
}

#[test]
fn explain_tells_what_normally_listens_there() {
    for (port, software, status) in [("5173/tcp", "Vite", "unassigned"), ("9200/tcp", "Elasticsearch", "assigned")] {
        let s = story(port);
        let whats: Vec<&str> =
            s[0]["normally"].as_array().unwrap().iter().map(|u| u["what"].as_str().unwrap()).collect();
        assert!(whats.iter().any(|w| w.contains(software)), "{port}: {whats:?}");
        assert!(s[0]["normally"].as_array().unwrap().iter().all(|u| u["source"].as_str().unwrap().starts_with("http")));
        assert_eq!(s[0]["iana"]["status"], status, "{port}: the IANA status is unchanged");
    }
    assert_eq!(story("5173/udp")[0]["normally"], serde_json::json!([]));
    // What a holder would have to be, and what reachability would mean, in words.
    let t = text(&["6379/tcp"]);
    assert!(t.contains("expected when held by redis-server") && t.contains("dangerous"), "{t}");
    let t = text(&["11434/tcp"]);
    assert!(
        t.contains("Ollama") && t.contains("IANA flags: none"),
        "a port software is known to use is not obscure: {t}"
    );
}

#[test]
fn explain_22_ssh_rfc() {
    let s = story("22/tcp");
    assert_eq!(s[0]["iana"]["services"], serde_json::json!(["ssh"]));
    assert!(s[0]["iana"]["entries"][0]["reference"].as_str().unwrap().contains("RFC4251"));
    assert_eq!(flag_kinds(&s[0]), Vec::<String>::new());
}

#[test]
fn explain_49999_dynamic() {
    for st in story("49999") {
        assert_eq!(st["range"], "dynamic");
        assert_eq!(flag_kinds(&st), ["dynamic-range"]);
    }
    let t = text(&["49999/udp"]);
    assert!(t.contains("dynamic ports (49152-65535") && t.contains("never assigns"), "{t}");
}

#[test]
fn explain_names_who_listens_now() {
    let h = Holder::start("pw-explain", &[tcp4("127.0.0.1", 0)]);
    let port = h.ports[0].to_string();
    let s = story(&format!("{port}/tcp"));
    // Another test's socket may have the same number on another address: ours is the one on 127.0.0.1.
    assert_eq!(pids(one_at(&s[0], "tcp", "127.0.0.1", h.ports[0])), vec![u64::from(h.pid())]);
    let t = text(&[&format!("{port}/tcp")]);
    assert!(t.contains(&format!("{}/pw-explain", h.pid())), "{t}");
    // The holder has no UDP socket; another test's may share the number, so look for ours only.
    let s = story(&format!("{port}/udp"));
    assert!(s[0]["listeners"].as_array().unwrap().iter().all(|l| !pids(l).contains(&u64::from(h.pid()))));
    // Port 1 needs root to bind and no test binds it.
    let t = text(&["1/udp"]);
    assert!(t.contains("nothing on this machine"), "{t}");
}

#[test]
fn explain_refuses_bad_ports_with_exit_2() {
    for bad in ["70000", "22/sctp", "ssh", "-5", "22/"] {
        let out = run(portwarden().args(["explain", bad]));
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("portwarden: error:") || err.contains("error:"), "{bad}: {err}");
        assert!(out.stdout.is_empty(), "{bad}");
    }
}
