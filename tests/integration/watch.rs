//! `portwarden watch`, `diff` and `check --from`: a short-lived listener caught in a recording, snapshots compared,
//! and damaged snapshots and recordings refused with the file and line.

use crate::util::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A `watch` running as a child, its stdout and stderr going to files. It holds the machine shared while it runs, so
/// that a test needing the machine to itself (the 50,000-socket scale test) does not slow every scan down to seconds.
struct Watcher {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    _machine: SharedHold,
}

impl Watcher {
    fn start(dir: &Path, args: &[&str]) -> Watcher {
        Watcher::start_env(dir, args, &[])
    }

    /// [`Watcher::start`] with extra environment variables.
    fn start_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Watcher {
        let machine = machine_shared();
        let mut cmd = portwarden();
        cmd.envs(env.iter().copied());
        let (child, stdout, stderr) = start_watch(cmd, dir, args);
        Watcher { child, stdout, stderr, _machine: machine }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap()
    }

    /// Sends `signal` and waits (at most 20 s) for the watcher to exit.
    fn stop(&mut self, signal: i32) -> ExitStatus {
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: kill has no memory preconditions; pid is our own child, not yet reaped.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill failed");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("watch did not stop on signal {signal}; stderr: {}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The events about the tcp listener on 127.0.0.1 `port` held by `pid` or by no visible process (other tests'
/// listeners may have had the same port before or after).
fn about(events: &[Value], port: u16, pid: u32) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| {
            let l = &e["listener"];
            l["protocol"] == "tcp" && l["address"] == "127.0.0.1" && l["port"] == port && {
                let owners = pids(l);
                owners.is_empty() || owners.contains(&u64::from(pid))
            }
        })
        .collect()
}

/// Records a listener that lives for one second: returns the recording's directory and path, the holder's port and
/// pid, and the watcher's stdout.
fn record_short_lived(name: &str) -> (tempfile::TempDir, PathBuf, u16, u32, String) {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("listeners.ndjson");
    let mut w = Watcher::start(dir.path(), &["--record", rec.to_str().unwrap(), "--interval", "200ms"]);
    let (port, pid) = {
        let h = Holder::start(name, &[tcp4("127.0.0.1", 0)]);
        std::thread::sleep(Duration::from_secs(1));
        (h.ports[0], h.pid())
    };
    std::thread::sleep(Duration::from_millis(700));
    let status = w.stop(libc::SIGTERM);
    assert_eq!(status.code(), Some(0), "watch exits 0 on SIGTERM; stderr: {}", w.stderr());
    (dir, rec, port, pid, w.stdout())
}

#[test]
fn watch_records_a_listener_that_lived_one_second() {
    let (_dir, rec, port, pid, stdout) = record_short_lived("pw-blink");
    let all = events(&rec);
    assert_eq!(all[0]["event"], "started", "{:#}", all[0]);
    assert_eq!(all[0]["schema_version"], 1);
    let last = all.last().unwrap();
    assert_eq!((last["event"].as_str(), last["reason"].as_str()), (Some("stopped"), Some("signal")), "{last:#}");
    assert!(last.get("error").is_none(), "{last:#}");
    for e in &all {
        assert!(humantime::parse_rfc3339(e["time"].as_str().unwrap()).is_ok(), "time is RFC 3339: {e:#}");
    }

    let ours = about(&all, port, pid);
    let kinds: Vec<&str> = ours.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["appeared", "disappeared"], "{ours:#?}");
    for e in &ours {
        assert_eq!(e["initial"], false, "{e:#}");
        let l = &e["listener"];
        assert_eq!(pids(l), [u64::from(pid)], "{l:#}");
        assert_eq!(l["processes"][0]["name"], "pw-blink", "{l:#}");
        assert_eq!(l["exposure"], "loopback", "the full listener record: {l:#}");
        assert!(l["iana"]["status"].is_string(), "{l:#}");
    }
    let times: Vec<_> = ours.iter().map(|e| humantime::parse_rfc3339(e["time"].as_str().unwrap()).unwrap()).collect();
    assert!(times[1] > times[0], "{ours:#?}");

    // The text on stdout: one + and one - line for it, escaped, with the owner.
    let lines: Vec<&str> = stdout.lines().filter(|l| l.contains(&format!(" tcp 127.0.0.1:{port} "))).collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].contains(" + tcp 127.0.0.1:") && lines[0].contains(&format!("{pid}/pw-blink")), "{stdout}");
    assert!(lines[1].contains(" - tcp 127.0.0.1:"), "{stdout}");
    assert!(!stdout.contains("initial"), "initial listeners are only counted in text mode: {stdout}");
}

/// Opens a TCP listener on 127.0.0.1 every 2 ms (500 in all) and keeps them; prints PORT:INODE of each, then waits
/// for stdin to close.
const OPENER: &str = r#"
import os, socket, sys, time
socks = []
for _ in range(500):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    socks.append(s)
    time.sleep(0.002)
print(" ".join("%d:%d" % (s.getsockname()[1], os.fstat(s.fileno()).st_ino) for s in socks), flush=True)
sys.stdin.read()
"#;

#[test]
fn watch_records_sockets_opened_during_a_scan_with_their_owner() {
    // A socket opened while a scan runs can be listed before its owner's open files are read; the watch must not
    // record it as ownerless (that record would make `check --from` undecidable) but look again first.
    let _machine = machine_shared();
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("listeners.ndjson");
    // The /proc scan takes longest, so its window for the race is the widest (the BPF walk has one too).
    let mut w = Watcher::start_env(
        dir.path(),
        &["--record", rec.to_str().unwrap(), "--poll", "--interval", "1ms"],
        &[("PORTWARDEN_OWNERS", "procfs")],
    );
    let mut opener = std::process::Command::new("python3")
        .args(["-c", OPENER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(opener.stdout.take().unwrap()), &mut line).unwrap();
    // Sockets are told apart by inode: other tests' short-lived listeners (the churn test's) may have had the
    // same port numbers before or after, some of them without a visible owner (exiting as they were seen).
    let sockets: std::collections::HashMap<u64, u16> = line
        .split_whitespace()
        .map(|s| s.split_once(':').map(|(port, inode)| (inode.parse().unwrap(), port.parse().unwrap())).unwrap())
        .collect();
    assert_eq!(sockets.len(), 500);
    std::thread::sleep(Duration::from_millis(300));
    let status = w.stop(libc::SIGTERM);
    assert_eq!(status.code(), Some(0), "stderr: {}", w.stderr());
    drop(opener.stdin.take());
    let _ = opener.wait();

    let all = events(&rec);
    let opener_pid = u64::from(opener.id());
    let mut recorded = 0;
    for e in &all {
        let Some(&port) = e["inode"].as_u64().and_then(|inode| sockets.get(&inode)) else { continue };
        if e["event"] != "appeared" {
            continue;
        }
        assert_eq!(e["listener"]["port"], port, "{e}");
        assert_eq!(pids(&e["listener"]), [opener_pid], "a socket of the opener recorded without its owner: {e}");
        recorded += 1;
    }
    assert_eq!(recorded, sockets.len(), "each of the opener's listeners recorded once, with its owner");
}

#[test]
fn watch_ndjson_stops_cleanly_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let h = Holder::start("pw-steady", &[tcp4("127.0.0.1", 0)]);
    let mut w = Watcher::start(dir.path(), &["--format", "ndjson", "--interval", "100ms"]);
    std::thread::sleep(Duration::from_millis(300));
    let status = w.stop(libc::SIGINT);
    assert_eq!(status.code(), Some(0), "stderr: {}", w.stderr());
    let out = w.stdout();
    let all: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).expect("NDJSON line")).collect();
    assert_eq!(all[0]["event"], "started");
    assert_eq!(all.last().unwrap()["event"], "stopped");
    let ours = about(&all, h.ports[0], h.pid());
    assert_eq!(ours.len(), 1, "{ours:#?}");
    assert_eq!((ours[0]["event"].as_str(), ours[0]["initial"].as_bool()), (Some("appeared"), Some(true)));
    assert!(w.stderr().contains("stopped (signal)"), "{}", w.stderr());
}

#[test]
fn watch_refuses_to_append_to_a_half_written_recording() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("half.ndjson");
    std::fs::write(&rec, b"{\"event\":\"appeared\",\"time\":\"2026-").unwrap();
    let out = run(portwarden().args(["watch", "--record", rec.to_str().unwrap()]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("half.ndjson") && stderr.contains("does not end with a complete line"), "{stderr}");
    assert_eq!(std::fs::read(&rec).unwrap(), b"{\"event\":\"appeared\",\"time\":\"2026-", "left as it was");
}

/// The CI flow: `watch --record` during a "test run", then `check --from` the recording (check reads it through
/// `snapshot::read`): the listener that lived one second fails an empty policy and passes one that allows it.
#[test]
fn check_from_recording_catches_the_short_lived_listener() {
    let (dir, rec, port, pid, _) = record_short_lived("pw-blink-chk");
    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, "# nothing is allowed\n").unwrap();
    let out = run(portwarden()
        .args(["check", "--policy", empty.to_str().unwrap(), "--from", rec.to_str().unwrap()])
        .args(["--format", "json"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "an unexpected listener fails the check; stderr: {stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("check --format json prints JSON");
    let text = report.to_string();
    assert!(text.contains(&format!("\"port\":{port}")), "the short-lived listener is reported: {report:#}");
    assert!(text.contains(&format!("\"pid\":{pid}")), "{report:#}");
    assert!(text.contains("unexpected"), "{report:#}");

    // Allowing every port the recording holds (the machine's others included) makes it pass.
    let ports: std::collections::BTreeSet<u64> =
        events(&rec).iter().filter_map(|e| e["listener"]["port"].as_u64()).collect();
    let mut policy = String::from("[settings]\nallow_unknown_owners = true\n");
    for p in ports {
        policy.push_str(&format!("\n[[allow]]\nport = {p}\n"));
    }
    let allow = dir.path().join("allow.toml");
    std::fs::write(&allow, policy).unwrap();
    let out = run(portwarden().args(["check", "--policy", allow.to_str().unwrap(), "--from", rec.to_str().unwrap()]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn diff_names_the_listener_added_since_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("before.json");
    let out = run(portwarden().args(["list", "--format", "json"]));
    assert!(out.status.success());
    std::fs::write(&snap, &out.stdout).unwrap();
    let snap = snap.to_str().unwrap();

    let same = run(portwarden().args(["diff", snap, snap]));
    assert_eq!(same.status.code(), Some(0), "{}", String::from_utf8_lossy(&same.stderr));
    assert!(String::from_utf8_lossy(&same.stdout).contains("no change"));

    let h = Holder::start("pw-diff", &[tcp4("127.0.0.1", 0)]);
    let port = h.ports[0];
    let out = run(portwarden().args(["diff", snap]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.lines().any(|l| l.starts_with(&format!("+ tcp 127.0.0.1:{port} ")) && l.contains("pw-diff")),
        "{stdout}"
    );

    let out = run(portwarden().args(["diff", snap, "--format", "json"]));
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ours = |l: &&Value| l["protocol"] == "tcp" && l["address"] == "127.0.0.1" && l["port"] == port;
    let added: Vec<&Value> = v["added"].as_array().unwrap().iter().filter(ours).collect();
    assert_eq!(added.len(), 1, "{v:#}");
    assert_eq!(added[0]["processes"][0]["name"], "pw-diff");
    assert!(!v["removed"].as_array().unwrap().iter().any(|l| ours(&l)), "{v:#}");
    assert_eq!(v["new"], Value::Null, "NEW is this machine");

    // The other way round: the listener is removed.
    let now = dir.path().join("after.json");
    std::fs::write(&now, run(portwarden().args(["list", "--format", "json"])).stdout).unwrap();
    let out = run(portwarden().args(["diff", now.to_str().unwrap(), snap]));
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.lines().any(|l| l.starts_with(&format!("- tcp 127.0.0.1:{port} "))), "{stdout}");
}

/// Damaged files, each with the line its error must name.
fn corpus(dir: &Path) -> Vec<(PathBuf, usize)> {
    let good = serde_json::json!({"protocol": "tcp", "address": "127.0.0.1", "port": 8080, "processes": [
        {"pid": 7, "name": "srv", "exe": null, "cmdline": "srv", "user": "root", "uid": 0}]});
    let snapshot = |listener: &Value, version: u32| {
        serde_json::to_string_pretty(&serde_json::json!({"schema_version": version, "listeners": [listener]})).unwrap()
    };
    let event = |listener: &Value| {
        serde_json::json!({"event": "appeared", "time": "2026-01-02T10:00:00.000Z", "initial": true, "inode": 1,
                            "listener": listener})
        .to_string()
    };
    let started = r#"{"event":"started","time":"2026-01-02T10:00:00.000Z","schema_version":1,"interval_ms":500}"#;
    let with = |key: &str, v: Value| {
        let mut l = good.clone();
        l[key] = v;
        l
    };
    let pretty_good = snapshot(&good, 1);
    let line_of = |text: &str, needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;

    let mut files: Vec<(&str, Vec<u8>, usize)> = Vec::new();
    files.push(("garbage.json", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\xff\xfe".to_vec(), 1));
    let mut cut = pretty_good.clone();
    cut.truncate(pretty_good.find("\"port\"").unwrap() + 3);
    let cut_lines = cut.lines().count();
    files.push(("truncated.json", cut.into_bytes(), cut_lines));
    let t = snapshot(&with("port", Value::from("8080")), 1);
    files.push(("wrong-type.json", t.clone().into_bytes(), line_of(&t, "\"port\"")));
    let t = snapshot(&with("processes", Value::from("srv")), 1);
    files.push(("wrong-type-processes.json", t.clone().into_bytes(), line_of(&t, "\"processes\"")));
    let t = snapshot(&with("port", Value::from(70000)), 1);
    files.push(("port-70000.json", t.clone().into_bytes(), line_of(&t, "70000")));
    let t = snapshot(&with("protocol", Value::from("sctp")), 1);
    files.push(("sctp.json", t.clone().into_bytes(), line_of(&t, "sctp")));
    let t = snapshot(&good, 2);
    files.push(("schema-2.json", t.clone().into_bytes(), line_of(&t, "schema_version")));
    // Keys are written in order: the 5 MB string comes before the bad port.
    let mut huge = with("port", Value::from(70000));
    huge["cmdline_padding"] = Value::from("A".repeat(5 << 20));
    files.push(("huge-line.ndjson", format!("{started}\n{}\n", event(&huge)).into_bytes(), 2));
    let e = event(&good);
    files.push(("cut-recording.ndjson", format!("{started}\n{e}\n{}", &e[..e.len() / 2]).into_bytes(), 3));
    files.push((
        "sctp.ndjson",
        format!("{started}\n{}\n", event(&with("protocol", Value::from("sctp")))).into_bytes(),
        2,
    ));
    files.push(("empty.json", Vec::new(), 0));

    files
        .into_iter()
        .map(|(name, bytes, line)| {
            let p = dir.join(name);
            std::fs::write(&p, bytes).unwrap();
            (p, line)
        })
        .collect()
}

fn assert_refused(args: &[&str], path: &Path, line: usize) {
    let out = run(portwarden().args(args));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.len() < 2000, "a short message, not the file: {} bytes", stderr.len());
    let name = path.display().to_string();
    let want = if line == 0 { format!("{name}: ") } else { format!("{name}:{line}:") };
    assert!(stderr.contains(&want), "{args:?}: expected {want:?} in: {stderr}");
}

#[test]
fn diff_refuses_damaged_files_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    for (path, line) in corpus(dir.path()) {
        let p = path.to_str().unwrap();
        assert_refused(&["diff", p], &path, line);
        assert_refused(&["diff", p, p], &path, line);
    }
}

/// `check --from` refuses the same damaged files as `diff`, with the same file and line.
#[test]
fn check_from_refuses_damaged_files_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.toml");
    std::fs::write(&policy, "[[allow]]\nport = 8080\n").unwrap();
    for (path, line) in corpus(dir.path()) {
        assert_refused(&["check", "--policy", policy.to_str().unwrap(), "--from", path.to_str().unwrap()], &path, line);
    }
}

#[test]
fn watch_records_a_socket_without_visible_owner_once_after_a_second_look() {
    if skip_unless_root("watch_records_a_socket_without_visible_owner_once_after_a_second_look") {
        return;
    }
    // Run as nobody, root's listeners have no visible owner: held back one scan, then recorded once, ownerless,
    // with the time they were first seen; one gone before the second look is recorded as appeared and disappeared.
    let _machine = machine_shared();
    let (_dir, rec, err, mut watch) = watch_as_nobody("300ms");
    let stays = Holder::start("pw-hidden-stay", &[tcp4("127.0.0.1", 0)]);
    let brief = Holder::start("pw-hidden-brief", &[tcp4("127.0.0.1", 0)]);
    // Told apart by inode: other tests' listeners may take the same port numbers before or after.
    let (stays_inode, brief_inode) = (socket_inode(stays.pid()), socket_inode(brief.pid()));
    std::thread::sleep(Duration::from_millis(100));
    drop(brief);
    std::thread::sleep(Duration::from_millis(1200));
    stop_watch(&mut watch, &err);
    let all = events(&rec);
    let of = |inode: u64| -> Vec<&Value> { all.iter().filter(|e| e["inode"] == inode).collect() };
    let stayed = of(stays_inode);
    assert_eq!(stayed.len(), 1, "recorded once: {stayed:#?}");
    assert_eq!(stayed[0]["event"], "appeared");
    assert_eq!(stayed[0]["listener"]["processes"], serde_json::json!([]), "{:#}", stayed[0]);
    let brief_events: Vec<&str> = of(brief_inode).iter().map(|e| e["event"].as_str().unwrap()).collect();
    // Lived 100 ms under a 300 ms interval: seen by at most one scan, or none.
    assert!(brief_events.is_empty() || brief_events == ["appeared", "disappeared"], "{brief_events:?}");
}

/// The inode of the one socket `pid` holds (as root).
fn socket_inode(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .find_map(|link| link.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok())
        .expect("a socket")
}

/// A recorder killed midway (no `stopped`) and started again on the same file leaves a gap: `check --from` says
/// which line and exits 2 (undecidable) in every format, unless `--allow-gaps` accepts it.
#[test]
fn check_from_a_recording_with_a_gap_is_undecidable_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let listener = r#"{"protocol":"tcp","address":"127.0.0.1","port":8080,"processes":[{"pid":42,"name":"python3","exe":"/usr/bin/python3","cmdline":"python3 -m http.server","user":"root","uid":0}],"uid":0}"#;
    let started = |t: &str| {
        format!(r#"{{"event":"started","time":"2026-01-02T10:00:0{t}.000Z","schema_version":1,"interval_ms":500}}"#)
    };
    let appeared = format!(
        r#"{{"event":"appeared","time":"2026-01-02T10:00:00.100Z","initial":true,"inode":7,"listener":{listener}}}"#
    );
    let stopped = r#"{"event":"stopped","time":"2026-01-02T10:00:09.000Z","reason":"signal","scans":3}"#;
    let rec = dir.path().join("gap.ndjson");
    std::fs::write(
        &rec,
        [started("0"), appeared.clone(), started("5"), appeared, stopped.to_string()].join("\n") + "\n",
    )
    .unwrap();
    let policy = dir.path().join("allow.toml");
    std::fs::write(&policy, "[[allow]]\nport = 8080\n").unwrap();
    let check = |format: &str, extra: &[&str]| {
        run(portwarden()
            .args(["check", "--policy", policy.to_str().unwrap(), "--from", rec.to_str().unwrap(), "--format", format])
            .args(extra))
    };
    for format in ["text", "json", "junit", "github"] {
        let out = check(format, &[]);
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(2), "{format}: a gap makes the check undecidable: {stdout}\n{stderr}");
        assert!(stderr.contains("gap.ndjson:3") && stderr.contains("gap"), "{format}: {stderr}");
        assert!(stderr.contains("--allow-gaps"), "{format}: {stderr}");
        assert!(stdout.contains("gap.ndjson:3"), "{format}: the report names the gap: {stdout}");
        if format == "json" {
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v["result"], "undecidable", "{v:#}");
            assert_eq!(v["exit_code"], 2, "{v:#}");
            assert!(v["gaps"][0].as_str().unwrap().contains("gap.ndjson:3"), "{v:#}");
        }
    }
    let out = check("json", &["--allow-gaps"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("gap.ndjson:3"), "still warned about");
    // A file of whole runs, each ended by `stopped`, has no gap.
    std::fs::write(&rec, [started("0"), stopped.to_string(), started("5"), stopped.to_string()].join("\n") + "\n")
        .unwrap();
    assert_eq!(check("text", &[]).status.code(), Some(0));
}

/// Owners missing from a recording were hidden from the run that wrote it, maybe on another machine: `check --from`
/// says so, not this machine's "run as root" advice.
#[test]
fn check_from_says_the_writing_run_could_not_see_owners() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("elsewhere.ndjson");
    std::fs::write(
        &rec,
        [
            r#"{"event":"started","time":"2026-01-02T10:00:00.000Z","schema_version":1,"interval_ms":500}"#,
            r#"{"event":"appeared","time":"2026-01-02T10:00:00.100Z","initial":true,"inode":7,"listener":{"protocol":"tcp","address":"127.0.0.1","port":8080,"processes":[],"uid":1000}}"#,
            r#"{"event":"stopped","time":"2026-01-02T10:00:09.000Z","reason":"signal","scans":3}"#,
        ]
        .join("\n")
            + "\n",
    )
    .unwrap();
    let policy = dir.path().join("p.toml");
    std::fs::write(&policy, "[[allow]]\nport = 8080\nprocess = \"web\"\n").unwrap();
    for format in ["text", "json"] {
        let out = run(portwarden().args([
            "check",
            "--policy",
            policy.to_str().unwrap(),
            "--from",
            rec.to_str().unwrap(),
            "--format",
            format,
        ]));
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
        let neutral = format!("the run that wrote {} could not see these owners", rec.display());
        assert!(stderr.contains(&neutral), "{format}: {stderr}");
        assert!(stdout.contains(&neutral), "{format}: {stdout}");
        for text in [&stdout, &stderr] {
            assert!(!text.contains("run as root") && !text.contains("even root"), "{format}: {text}");
        }
    }
}
