//! Scale: 50,000 listening sockets held by 2,000 processes. The listing completes, attributes every socket to the
//! process that holds it, and its peak memory stays bounded (reported on stderr; far below the size of its output).

use crate::util::*;
use serde_json::Value;
use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PROCS: usize = 2_000;
const PER_PROC: usize = 25;
/// Peak resident memory allowed for one listing of 50,000 sockets (the JSON it writes is about 70 MB).
const MAX_RSS_KIB: i64 = 48 * 1024;

/// `benches/load.py` in its own process group; the whole group is stopped on drop.
struct Load {
    child: Child,
}

impl Load {
    fn start(dir: &std::path::Path) -> Load {
        let ready = dir.join("ready");
        let log = std::fs::File::create(dir.join("load.log")).unwrap();
        let child = Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/benches/load.py"))
            .args(["--procs", &PROCS.to_string(), "--listeners", &PER_PROC.to_string(), "--ready-file"])
            .arg(&ready)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start benches/load.py");
        let mut load = Load { child };
        let start = Instant::now();
        while !ready.exists() {
            if let Some(status) = load.child.try_wait().unwrap() {
                let log = std::fs::read_to_string(dir.join("load.log")).unwrap_or_default();
                panic!("load.py exited ({status}) before it was ready: {}", &log[..log.len().min(2000)]);
            }
            assert!(start.elapsed() < Duration::from_secs(180), "load.py not ready after 180 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        load
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        // load.py leads its own process group; SIGTERM to the group stops the children too.
        let pgid = self.child.id() as libc::pid_t;
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: as above.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// PIDs whose parent is `parent`, from /proc/*/stat.
fn children_of(parent: u32) -> HashSet<u64> {
    let mut out = HashSet::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u64>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // Fields after the name (which may hold spaces and parentheses): state, ppid, ...
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { continue };
        if rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok()) == Some(parent) {
            out.insert(pid);
        }
    }
    out
}

/// Runs COMMAND... with stdout and stderr to the files named first, waits for it and prints its wait status and
/// peak RSS (KiB). A small process of its own starts it: a child's `ru_maxrss` starts from the peak of the process
/// it was forked from, and the test process holds parsed reports far larger than a listing.
const MEASURE: &str = r#"
import os, sys
out, err, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
pid = os.fork()
if pid == 0:
    os.dup2(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 1)
    os.dup2(os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)
    os.execv(cmd[0], cmd)
_, status, usage = os.wait4(pid, 0)
print(status, usage.ru_maxrss)
"#;

/// Runs `portwarden list --format json` and returns the report, its stderr and its peak resident set size in KiB.
fn listing_with_peak_rss(dir: &std::path::Path) -> (Value, String, i64) {
    let path = dir.join("listing.json");
    let err = dir.join("listing.err");
    let out = run(Command::new("python3")
        .args(["-c", MEASURE])
        .arg(&path)
        .arg(&err)
        .args([bin(), "list", "--format", "json"])
        .envs(portwarden().get_envs().filter_map(|(k, v)| Some((k, v?))))
        .stdin(Stdio::null()));
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    let measured = String::from_utf8_lossy(&out.stdout);
    let (status, rss) = measured.trim().split_once(' ').unwrap_or_else(|| panic!("measuring failed: {measured:?}"));
    assert_eq!(status, "0", "portwarden list: wait status {status}: {}", &stderr[..stderr.len().min(2000)]);
    let report = serde_json::from_slice(&std::fs::read(&path).unwrap()).expect("a valid JSON report");
    (report, stderr, rss.parse().unwrap())
}

#[test]
fn fifty_thousand_sockets_in_two_thousand_processes() {
    let _machine = machine_exclusive();
    let dir = tempfile::tempdir().unwrap();
    let (before, _, rss_before) = listing_with_peak_rss(dir.path());
    eprintln!("scale: peak RSS of a listing before the load: {:.1} MiB", rss_before as f64 / 1024.0);
    let unknown_before = before["summary"]["owner_unknown"].as_u64().unwrap();

    let load = Load::start(dir.path());
    let children = children_of(load.pid());
    assert_eq!(children.len(), PROCS, "load.py children");
    let started = Instant::now();
    let (report, stderr, rss_kib) = listing_with_peak_rss(dir.path());
    let took = started.elapsed();
    eprintln!(
        "scale: {} sockets in {PROCS} processes: listed in {took:.2?} by the binary cargo built for the tests, \
         peak RSS {:.1} MiB",
        PROCS * PER_PROC,
        rss_kib as f64 / 1024.0
    );
    assert!(!stderr.contains("panicked"), "{}", &stderr[..stderr.len().min(2000)]);

    let listeners = report["listeners"].as_array().expect("listeners array");
    let mut held = 0;
    let mut per_child = std::collections::HashMap::<u64, usize>::new();
    for l in listeners {
        let owners = pids(l);
        let ours = owners.iter().filter(|p| children.contains(p)).count();
        if ours > 0 {
            // A load socket belongs to exactly the child that bound it.
            assert_eq!(owners.len(), 1, "a load socket with more than one owner: {owners:?}");
            held += 1;
            *per_child.entry(owners[0]).or_default() += 1;
        }
    }
    assert_eq!(held, PROCS * PER_PROC, "load sockets attributed to the load's children");
    assert!(per_child.values().all(|&n| n == PER_PROC), "every child owns exactly its {PER_PROC} sockets");
    assert_eq!(
        report["summary"]["owner_unknown"].as_u64().unwrap(),
        unknown_before,
        "no socket of the load left without an owner"
    );
    assert!(rss_kib < MAX_RSS_KIB, "peak RSS {rss_kib} KiB for 50,000 sockets, more than {MAX_RSS_KIB} KiB");
    drop(load);
}
