//! `portwarden list`: real sockets, v4 and v6, TCP and UDP, their owners, classification and escaping.

use crate::util::*;
use serde_json::Value;
use std::process::Command;

#[test]
fn lists_v4_and_v6_tcp_and_udp_with_owner_and_exposure() {
    let h = Holder::start(
        "pw-inventory",
        &[
            tcp4("0.0.0.0", 0),
            tcp4("127.0.0.1", 0),
            tcp6("::", 0, false),
            tcp6("::1", 0, true),
            udp4("0.0.0.0", 0),
            udp4("127.0.0.1", 0),
            udp6("::", 0, true),
            udp6("::1", 0, true),
        ],
    );
    let report = json(&["list", "--format", "json"]);
    assert_eq!(report["schema_version"], 1);
    let expect = [
        ("tcp", "ipv4", "0.0.0.0", "all-interfaces", false),
        ("tcp", "ipv4", "127.0.0.1", "loopback", false),
        ("tcp", "ipv6", "::", "all-interfaces", true),
        ("tcp", "ipv6", "::1", "loopback", false),
        ("udp", "ipv4", "0.0.0.0", "all-interfaces", false),
        ("udp", "ipv4", "127.0.0.1", "loopback", false),
        ("udp", "ipv6", "::", "all-interfaces", false),
        ("udp", "ipv6", "::1", "loopback", false),
    ];
    for ((proto, family, addr, exposure, dual), port) in expect.iter().zip(&h.ports) {
        let l = one_at(&report, proto, addr, *port);
        assert_eq!(l["family"], *family, "{l:#}");
        assert_eq!(l["address"], *addr, "{l:#}");
        assert_eq!(l["exposure"], *exposure, "{l:#}");
        assert_eq!(l["dual_stack"], *dual, "{l:#}");
        assert_eq!(pids(l), vec![u64::from(h.pid())], "{l:#}");
        let p = &l["processes"][0];
        assert_eq!(p["name"], "pw-inventory");
        assert!(p["exe"].as_str().unwrap_or("").contains("python"), "{p:#}");
        assert!(p["cmdline"].as_str().unwrap().contains("pw-inventory"), "{p:#}");
        assert!(p["user"].is_string(), "{p:#}");
        assert!(l["uid"].is_u64());
        let range = if *port >= 49152 { "dynamic" } else { "user" };
        assert_eq!(l["range"], range, "{l:#}");
        assert!(["assigned", "reserved", "unassigned"].contains(&l["iana"]["status"].as_str().unwrap()));
    }
}

#[test]
fn known_ports_get_their_registry_story() {
    // 64999: the dynamic range, above Linux's ephemeral ports (32768-60999), so no other test's socket is given it.
    let h = Holder::start("pw-known", &[tcp4("127.0.0.1", 1687), udp4("0.0.0.0", 2867), tcp6("::1", 64999, true)]);
    let report = json(&["list", "--format", "json"]);
    let l = one_at(&report, "tcp", "127.0.0.1", h.ports[0]);
    assert_eq!(l["iana"]["status"], "assigned");
    assert_eq!(l["iana"]["services"], serde_json::json!(["nsjtp-ctrl"]));
    assert_eq!(l["iana"]["entries"][0]["service"], "nsjtp-ctrl");
    // A script on loopback: only this machine reaches it; the IANA story stays in `iana`, with no flags.
    assert_eq!((l["verdict"].as_str(), l["severity"].as_str()), (Some("expected"), None), "{l:#}");
    assert!(flag_kinds(l).is_empty());

    let l = one_at(&report, "udp", "0.0.0.0", 2867);
    assert_eq!(l["iana"]["services"], serde_json::json!(["esps-portal"]));
    // A script serving all interfaces: worth a look, said in one line.
    assert_eq!((l["verdict"].as_str(), l["severity"].as_str()), (Some("review"), Some("medium")), "{l:#}");
    assert_eq!(flag_kinds(l), ["generic-holder"]);
    assert!(l["reason"].as_str().unwrap().contains("all interfaces"), "{l:#}");

    let l = one_at(&report, "tcp", "::1", 64999);
    assert_eq!((l["range"].as_str(), l["iana"]["status"].as_str()), (Some("dynamic"), Some("unassigned")));
    assert_eq!(l["verdict"], "expected");
    assert_eq!(pids(l), vec![u64::from(h.pid())]);
}

#[test]
fn privileged_unassigned_port() {
    if skip_unless_root("privileged_unassigned_port") {
        return;
    }
    let _h = Holder::start("pw-987", &[tcp4("0.0.0.0", 987), udp6("::", 987, true)]);
    let report = json(&["list", "--format", "json", "--port", "987"]);
    for (proto, addr) in [("tcp", "0.0.0.0"), ("udp", "::")] {
        let l = one_at(&report, proto, addr, 987);
        assert_eq!((l["range"].as_str(), l["iana"]["status"].as_str()), (Some("system"), Some("unassigned")));
        // A script holding a privileged port on all interfaces: worth a look, not more (nothing is known there).
        assert_eq!(flag_kinds(l), ["generic-holder"], "{l:#}");
        assert_eq!((l["verdict"].as_str(), l["severity"].as_str()), (Some("review"), Some("medium")));
    }
}

#[test]
fn shared_socket_lists_every_owner() {
    let h = Holder::start_with("pw-shared", &[tcp4("127.0.0.1", 0)], 2);
    let report = json(&["list", "--format", "json", "--port", &h.ports[0].to_string()]);
    let l = one_at(&report, "tcp", "127.0.0.1", h.ports[0]);
    let mut want: Vec<u64> = std::iter::once(h.pid()).chain(h.children.iter().copied()).map(u64::from).collect();
    want.sort_unstable();
    assert_eq!(pids(l), want, "master and both forked workers own the socket");
}

#[test]
fn filters_select_rows() {
    let h = Holder::start("pw-filter", &[tcp4("127.0.0.1", 0), udp4("127.0.0.1", 0)]);
    let (t, u) = (h.ports[0], h.ports[1]);
    let pid = h.pid().to_string();
    let by_pid = json(&["list", "--format", "json", "--pid", &pid]);
    assert_eq!(by_pid["listeners"].as_array().unwrap().len(), 2);
    assert_eq!(by_pid["summary"]["listeners"], 2);
    let tcp_only = json(&["list", "--format", "json", "--pid", &pid, "--tcp"]);
    assert_eq!(on_port(&tcp_only, "tcp", t).len(), 1);
    assert!(on_port(&tcp_only, "udp", u).is_empty());
    let udp_only = json(&["list", "--format", "json", "--process", "pw-filter", "--udp"]);
    assert_eq!(udp_only["listeners"].as_array().unwrap().len(), 1);
    let by_port = json(&["list", "--format", "json", "--port", &u.to_string()]);
    assert!(by_port["listeners"].as_array().unwrap().iter().all(|l| l["port"] == u));
    let flagged = json(&["--format", "json", "--flagged"]);
    assert!(flagged["listeners"].as_array().unwrap().iter().all(|l| !l["flags"].as_array().unwrap().is_empty()));
}

#[test]
fn hostile_process_name_is_escaped_in_the_table_and_valid_in_json() {
    // ESC ] 0 ; (set window title), BEL, ESC [ 31 m (red), CR: 9 bytes, within comm's 15.
    let h = Holder::start("\x1b]0;x\x07\x1b[31m\r", &[tcp4("127.0.0.1", 0)]);
    let port = h.ports[0].to_string();
    let out = run(portwarden().args(["list", "--port", &port, "--color", "always"]));
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("\\e]0;x\\x07\\e[31m\\r"), "escaped name missing:\n{table}");
    // The only ESC bytes allowed are our own colour sequences (ESC [ ... m), never the process's OSC or CR/BEL.
    assert!(!table.contains('\x07') && !table.contains('\r') && !table.contains("\x1b]"), "{table:?}");
    let plain = run(portwarden().args(["list", "--port", &port]));
    let plain = String::from_utf8(plain.stdout).unwrap();
    assert!(!plain.chars().any(|c| c.is_control() && c != '\n'), "raw control characters: {plain:?}");

    let report = json(&["list", "--format", "json", "--port", &port]);
    let l = one_at(&report, "tcp", "127.0.0.1", h.ports[0]);
    assert_eq!(l["processes"][0]["name"], "\x1b]0;x\x07\x1b[31m\r");
    assert!(l["processes"][0]["cmdline"].as_str().unwrap().contains("\x1b]0;x\x07"));
}

#[test]
fn invalid_utf8_bidi_and_huge_command_lines_stay_safe() {
    // comm keeps 15 bytes: "bad\xff\xfe" + U+202E (3 bytes) + "exe.txt"; the command line keeps all 100 kB.
    let mut name = b"bad\xff\xfe\xe2\x80\xaeexe.txt".to_vec();
    name.extend(std::iter::repeat_n(b'A', 100_000));
    let h = Holder::start_raw(&name, &[tcp4("127.0.0.1", 0)]);
    let port = h.ports[0].to_string();
    let report = json(&["list", "--format", "json", "--port", &port]);
    let l = one_at(&report, "tcp", "127.0.0.1", h.ports[0]);
    let p = &l["processes"][0];
    assert_eq!(p["name"], "bad\\xff\\xfe\u{202e}exe.txt", "invalid bytes shown as \\xNN, the rest kept");
    assert!(p["cmdline"].as_str().unwrap().len() > 100_000, "the whole command line is kept in JSON");

    // Only the holder's row (another test's socket may have the same port number on another address).
    let out = run(portwarden().args(["list", "--port", &port, "--pid", &h.pid().to_string()]));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("bad\\xff\\xfe\\u{202e}exe.txt"), "{}", &table[..table.len().min(2000)]);
    assert!(!table.contains('\u{202e}'), "no raw bidi override in the table");
    let widths: Vec<usize> =
        table.lines().take(2).map(|l| l.find("EXPOSURE").or_else(|| l.find("loopback")).unwrap()).collect();
    assert_eq!(widths[0], widths[1], "columns stay aligned");
    assert!(table.len() < 10_000, "the table does not carry the 100 kB command line");

    let out = run(portwarden().args(["explain", &format!("{port}/tcp")]));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("more bytes)") && text.len() < 10_000, "explain cuts the command line short");
}

#[test]
fn a_script_on_a_dev_port_on_loopback_is_quiet() {
    let h = Holder::start("pw-vite", &[tcp4("127.0.0.1", 5173)]);
    let out = run(portwarden().args(["list", "--port", "5173", "--pid", &h.pid().to_string()]));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("(unassigned)"), "the IANA status is shown: {table}");
    assert!(table.contains("0 flagged") && !table.contains("Why flagged"), "{table}");
}

#[test]
fn table_lists_owner_service_and_reasons() {
    let h = Holder::start("pw-table", &[tcp4("0.0.0.0", 1687)]);
    let out = run(portwarden().args(["list", "--port", "1687"]));
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    let header = table.lines().next().unwrap();
    for col in ["PROTO", "ADDRESS", "PORT", "EXPOSURE", "OWNERS", "SERVICE", "VERDICT"] {
        assert!(header.contains(col), "{header}");
    }
    let row = table.lines().nth(1).unwrap();
    assert!(row.contains(&format!("{}/pw-table", h.pid())), "{row}");
    assert!(row.contains("nsjtp-ctrl") && row.contains("review (generic-holder)"), "{row}");
    assert!(table.contains("Why flagged"), "{table}");
    assert!(table.contains("1 listener (1 tcp, 0 udp), 1 flagged"), "{table}");
}

#[test]
fn unprivileged_run_lists_every_socket_with_unknown_owners() {
    if skip_unless_root("unprivileged_run_lists_every_socket_with_unknown_owners") {
        return;
    }
    let h = Holder::start("pw-rootowned", &[tcp4("127.0.0.1", 0)]);
    let out = run(portwarden_as_nobody().args(["list", "--format", "json"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "unprivileged list failed: {stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let l = one_at(&report, "tcp", "127.0.0.1", h.ports[0]);
    assert_eq!(l["processes"], serde_json::json!([]), "{l:#}");
    assert_eq!(l["uid"], 0);
    assert_eq!(l["user"], "root");
    assert!(report["summary"]["owner_unknown"].as_u64().unwrap() >= 1);
    assert!(report["summary"]["hint"].as_str().unwrap().contains("root"), "{:#}", report["summary"]);
    assert!(stderr.contains("owner unknown") && stderr.contains("root"), "{stderr}");
    // The table says so too.
    let out = run(portwarden_as_nobody().args(["list", "--port", &h.ports[0].to_string()]));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("owner unknown (user root)"), "{table}");
}

#[test]
fn closed_stdout_pipe_is_not_an_error() {
    // 800 stories are far more than the pipe and our buffer hold, so writes fail with EPIPE once head exits.
    let out = run(Command::new("bash")
        .arg("-c")
        .arg(format!("NO_COLOR=1 {} explain $(seq 1 400) | head -c 1 >/dev/null; exit ${{PIPESTATUS[0]}}", bin())));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(!stderr.contains("error") && !stderr.contains("panicked"), "{stderr}");
}

#[test]
fn agrees_with_ss_socket_by_socket() {
    if skip_unless_root("agrees_with_ss_socket_by_socket") {
        return;
    }
    // Other tests open and close listeners all the time: compare while the machine stands still.
    let _machine = machine_exclusive();
    let _h = Holder::start_exclusive("pw-ss", &[tcp4("127.0.0.1", 0), udp6("::", 0, false), tcp6("::1", 0, true)]);
    // Several sockets can share protocol, address and port (SO_REUSEPORT): each key maps to the sorted list of
    // their owner sets.
    type Sockets = std::collections::BTreeMap<(String, String, u16), Vec<Vec<u64>>>;
    let ss = || -> Sockets {
        let out = run(Command::new("ss").args(["-tulpnH"]));
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut map = Sockets::new();
        for line in text.lines() {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (proto, local) = (cols[0].to_string(), cols[4]);
            let (addr, port) = local.rsplit_once(':').unwrap();
            let addr = addr.trim_start_matches('[').trim_end_matches(']');
            let addr = addr.split('%').next().unwrap();
            let addr = if addr == "*" { "::".to_string() } else { addr.to_string() };
            let mut pids: Vec<u64> = line
                .split("pid=")
                .skip(1)
                .map(|s| s.split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap())
                .collect();
            pids.sort_unstable();
            pids.dedup();
            map.entry((proto, addr, port.parse().unwrap())).or_default().push(pids);
        }
        map.values_mut().for_each(|v| v.sort());
        map
    };
    let before = ss();
    let report = json(&["list", "--format", "json"]);
    let after = ss();
    let mut ours = Sockets::new();
    for l in report["listeners"].as_array().unwrap() {
        let key = (
            l["protocol"].as_str().unwrap().to_string(),
            l["address"].as_str().unwrap().to_string(),
            l["port"].as_u64().unwrap() as u16,
        );
        ours.entry(key).or_default().push(pids(l));
    }
    ours.values_mut().for_each(|v| v.sort());
    let mut compared = 0;
    for (key, pids) in &before {
        if after.get(key) != Some(pids) {
            continue; // changed while we looked (other tests run in parallel)
        }
        compared += 1;
        assert_eq!(ours.get(key), Some(pids), "ss lists {key:?} with pids {pids:?}; portwarden: {:?}", ours.get(key));
    }
    for key in ours.keys() {
        if before.contains_key(key) == after.contains_key(key) {
            assert!(before.contains_key(key), "portwarden lists {key:?}, ss does not");
        }
    }
    assert!(compared >= 3, "compared only {compared} sockets");
}
