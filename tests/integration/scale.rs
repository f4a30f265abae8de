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

/// Runs `portwarden list --format json` with stdout to a file, and returns the report, its stderr and the peak
/// resident set size in KiB (from wait4's rusage of that one child).
// The child is reaped by wait4 below, which std's Child does not know about.
#[allow(clippy::zombie_processes)]
fn listing_with_peak_rss(dir: &std::path::Path) -> (Value, String, i64) {
    let path = dir.join("listing.json");
    let err = dir.join("listing.err");
    let child = portwarden()
        .args(["list", "--format", "json"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&path).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pointers are valid for the call; the child is ours and not yet reaped (std's Child never waits
    // unless asked).
    let waited = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(waited, child.id() as libc::pid_t, "wait4: {}", std::io::Error::last_os_error());
    let stderr = std::fs::read_to_string(&err).unwrap();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "portwarden list: wait status {status}: {}",
        &stderr[..stderr.len().min(2000)]
    );
    let report = serde_json::from_slice(&std::fs::read(&path).unwrap()).expect("a valid JSON report");
    (report, stderr, usage.ru_maxrss)
}

#[test]
fn fifty_thousand_sockets_in_two_thousand_processes() {
    let _machine = machine_exclusive();
    let dir = tempfile::tempdir().unwrap();
    let (before, _, _) = listing_with_peak_rss(dir.path());
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
