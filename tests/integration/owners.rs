//! Where owners come from: the kernel's file tables (a BPF iterator, as root) and the `/proc` scan must give the
//! same owners; `PORTWARDEN_OWNERS` picks one, and asking for one that cannot work here is a clear error.

use crate::util::*;
use serde_json::Value;

fn listing(source: &str) -> Value {
    let out = run(portwarden().args(["list", "--format", "json"]).env("PORTWARDEN_OWNERS", source));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "PORTWARDEN_OWNERS={source}: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn file_tables_and_proc_scan_give_the_same_owners() {
    if skip_unless_walkable("file_tables_and_proc_scan_give_the_same_owners") {
        return;
    }
    let specs = [tcp4("127.0.0.1", 0), tcp6("::1", 0, true), udp4("127.0.0.1", 0), udp6("::", 0, false)];
    let single = Holder::start("pw-src-one", &specs);
    // A master and two forked children holding the same sockets: every holder must be found by both.
    let shared = Holder::start_with("pw-src-shared", &[tcp4("127.0.0.1", 0), udp6("::1", 0, true)], 2);
    let bpf = listing("bpf");
    let procfs = listing("procfs");
    let auto = listing("auto");
    let sockets = |h: &Holder| -> Vec<(&str, &str)> {
        if h.ports.len() == 4 {
            vec![("tcp", "127.0.0.1"), ("tcp", "::1"), ("udp", "127.0.0.1"), ("udp", "::")]
        } else {
            vec![("tcp", "127.0.0.1"), ("udp", "::1")]
        }
    };
    for h in [&single, &shared] {
        for (&port, (proto, address)) in h.ports.iter().zip(sockets(h)) {
            let from_bpf = at(&bpf, proto, address, port);
            assert_eq!(from_bpf, at(&procfs, proto, address, port), "{proto}/{port}: file tables vs /proc");
            assert_eq!(from_bpf, at(&auto, proto, address, port), "{proto}/{port}: auto");
            let mut want: Vec<u64> =
                std::iter::once(h.pid()).chain(h.children.iter().copied()).map(u64::from).collect();
            want.sort_unstable();
            assert!(!from_bpf.is_empty(), "{proto}/{port} not listed");
            for l in from_bpf {
                assert_eq!(pids(l), want, "{proto}/{port}: {l:#}");
                assert!(l["processes"][0]["name"].as_str().unwrap().starts_with("pw-src-"), "{l:#}");
                assert!(l["processes"][0]["cmdline"].as_str().unwrap().contains("pw-src-"), "{l:#}");
            }
        }
    }
    // The summaries agree too (what could not be seen is named the same way).
    assert_eq!(bpf["summary"]["warnings"], procfs["summary"]["warnings"]);
}

/// The uid of an owner is its real uid (the first of `/proc/PID/status`'s `Uid:` line), whichever source found it:
/// the walk of the file tables reads it from the kernel, the `/proc` scan from `status`.
#[test]
fn both_sources_give_the_real_uid() {
    if skip_unless_walkable("both_sources_give_the_real_uid") {
        return;
    }
    let nobody = Holder::start_as_nobody("pw-uid-nobody", &[tcp4("127.0.0.1", 0)]);
    // Real uid 1000, effective uid root (a set-user-ID program's state): the real one counts.
    let mixed = Holder::start_as(&["--ruid=1000", "--euid=0"], "pw-uid-mixed", &[udp4("127.0.0.1", 0)]);
    let (bpf, procfs) = (listing("bpf"), listing("procfs"));
    for (h, proto, uid) in [(&nobody, "tcp", 65534), (&mixed, "udp", 1000)] {
        let status = std::fs::read_to_string(format!("/proc/{}/status", h.pid())).unwrap();
        let real = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().next());
        assert_eq!(real, Some(uid.to_string().as_str()), "{status}");
        let port = h.ports[0];
        let from_bpf = at(&bpf, proto, "127.0.0.1", port);
        assert_eq!(from_bpf, at(&procfs, proto, "127.0.0.1", port), "{proto}/{port}: file tables vs /proc");
        assert_eq!(from_bpf.len(), 1, "{proto}/{port}");
        assert_eq!(from_bpf[0]["processes"][0]["uid"], uid, "{:#}", from_bpf[0]);
        assert_eq!(from_bpf[0]["processes"][0]["pid"], h.pid(), "{:#}", from_bpf[0]);
    }
}

#[test]
fn owner_source_must_be_known() {
    let out = run(portwarden().args(["list"]).env("PORTWARDEN_OWNERS", "magic"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("PORTWARDEN_OWNERS") && stderr.contains("expected auto, bpf or procfs"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn without_root_the_file_tables_are_refused_and_auto_uses_proc() {
    if skip_unless_root("without_root_the_file_tables_are_refused_and_auto_uses_proc") {
        return;
    }
    let h = Holder::start_as_nobody("pw-src-nobody", &[tcp4("127.0.0.1", 0)]);
    let as_nobody =
        |source: &str| run(portwarden_as_nobody().args(["list", "--format", "json"]).env("PORTWARDEN_OWNERS", source));
    let out = as_nobody("bpf");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("only as root"), "{stderr}");
    let out = as_nobody("auto");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ours = at(&report, "tcp", "127.0.0.1", h.ports[0]);
    assert_eq!(ours.len(), 1);
    assert_eq!(pids(ours[0]), [u64::from(h.pid())], "nobody sees its own process through /proc");
}

/// A process holding more unconnected sockets (1,500) than the BPF task walker can write for one process at a time:
/// its read fails (E2BIG) and the file-by-file program walks again. Every socket must still be listed once, with
/// that one process as its only owner, as the `/proc` scan says.
#[test]
fn a_process_with_thousands_of_sockets_has_each_listed_once() {
    if skip_unless_walkable("a_process_with_thousands_of_sockets_has_each_listed_once") {
        return;
    }
    let specs: Vec<Spec> = (0..1500).map(|_| udp4("127.0.0.1", 0)).collect();
    // prlimit raises the descriptor limit, then executes the holder in its own place (same PID).
    let many = Holder::start_via(&["prlimit", "--nofile=4096:4096"], "pw-many-socks", &specs);
    let bpf = listing("bpf");
    let procfs = listing("procfs");
    // Each socket has a port of its own (the holder sets SO_REUSEADDR only on TCP sockets).
    let held: std::collections::BTreeSet<u16> = many.ports.iter().copied().collect();
    assert_eq!(held.len(), many.ports.len(), "two UDP sockets were given one port");
    for &port in &held {
        let listed = at(&bpf, "udp", "127.0.0.1", port);
        assert_eq!(listed.len(), 1, "udp/{port}: one socket, listed {} times", listed.len());
        for l in &listed {
            assert_eq!(pids(l), [u64::from(many.pid())], "udp/{port}: {l:#}");
        }
        assert_eq!(listed, at(&procfs, "udp", "127.0.0.1", port), "udp/{port}: file tables vs /proc");
    }
}

/// A process whose first thread has exited while another lives on keeps its descriptors, but `/proc/PID/fd` is then
/// empty: the `/proc` scan must find them through the living thread, as the BPF walk does.
#[test]
fn both_sources_see_a_process_whose_first_thread_has_exited() {
    let test = "both_sources_see_a_process_whose_first_thread_has_exited";
    if skip_unless_root(test) || missing_tool(test, "cc") {
        return;
    }
    let _machine = machine_shared();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("leader_exits.c");
    std::fs::write(
        &src,
        r#"#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
static void *wait_forever(void *arg) { (void)arg; for (;;) pause(); return NULL; }
int main(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 1)) return 1;
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    printf("%d\n", ntohs(a.sin_port));
    fflush(stdout);
    pthread_t t;
    pthread_create(&t, NULL, wait_forever, NULL);
    pthread_exit(NULL);
}
"#,
    )
    .unwrap();
    let bin = dir.path().join("leader-exits");
    let out = std::process::Command::new("cc").args(["-O2", "-pthread", "-o"]).arg(&bin).arg(&src).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut child = std::process::Command::new(&bin).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.as_mut().unwrap()), &mut line).unwrap();
    let port = line.trim().to_string();
    let pid = u64::from(child.id());
    // The leader is a zombie now, its fd directory empty.
    for _ in 0..100 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let owners = |source: &str| -> Vec<u64> {
        let out =
            run(portwarden().env("PORTWARDEN_OWNERS", source).args(["list", "--format", "json", "--port", &port]));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        // Other tests' sockets may have the same port number (UDP, another address): only ours counts.
        at(&report, "tcp", "127.0.0.1", port.parse().unwrap()).into_iter().flat_map(pids).collect()
    };
    let (walk, scan) = (owners("bpf"), owners("procfs"));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(walk, vec![pid], "the BPF walk sees the owner");
    assert_eq!(scan, walk, "the /proc scan sees the same owner");
}

/// A thread that called `unshare(CLONE_FILES)` has a descriptor table of its own, which `/proc/PID/fd` (the leader's)
/// does not list: the socket it opens there must still be credited to its process, by both sources, without a
/// port filter (the whole-machine scan) and with one.
#[test]
fn both_sources_see_a_socket_in_a_thread_with_its_own_table() {
    let test = "both_sources_see_a_socket_in_a_thread_with_its_own_table";
    if skip_unless_root(test) {
        return;
    }
    let _machine = machine_shared();
    let script = r#"
import ctypes, socket, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
def own_table():
    if libc.unshare(0x400) != 0:  # CLONE_FILES
        print("ERROR", ctypes.get_errno(), flush=True)
        return
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(4)
    print(s.getsockname()[1], flush=True)
    sys.stdin.read()
t = threading.Thread(target=own_table)
t.start()
t.join()
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.as_mut().unwrap()), &mut line).unwrap();
    assert!(!line.starts_with("ERROR"), "unshare(CLONE_FILES) failed: {line}");
    let port: u16 = line.trim().parse().unwrap();
    let pid = u64::from(child.id());
    let owners = |source: &str, filter: bool| -> Vec<u64> {
        let mut cmd = portwarden();
        cmd.env("PORTWARDEN_OWNERS", source).args(["list", "--format", "json", "--tcp"]);
        if filter {
            cmd.args(["--port", &port.to_string()]);
        }
        let report: Value = serde_json::from_slice(&run(&mut cmd).stdout).unwrap();
        at(&report, "tcp", "127.0.0.1", port).into_iter().flat_map(pids).collect()
    };
    let found = [("bpf", false), ("bpf", true), ("procfs", false), ("procfs", true)].map(|(s, f)| owners(s, f));
    let _ = child.kill();
    let _ = child.wait();
    for (i, (source, filter)) in [("bpf", false), ("bpf", true), ("procfs", false), ("procfs", true)].iter().enumerate()
    {
        assert_eq!(found[i], vec![pid], "{source} (port filter: {filter}) should name the thread's process");
    }
}

/// A process whose listener sits at the highest descriptor its limit allows (1,048,575 where the limit can be
/// raised that far, else the hard limit's last; its table then has up to a million slots and two descriptors) is
/// listed with its owner by both sources, the same way.
#[test]
fn a_listener_at_the_highest_descriptor_is_listed_with_its_owner() {
    let test = "a_listener_at_the_highest_descriptor_is_listed_with_its_owner";
    if skip_unless_walkable(test) {
        return;
    }
    const HIGH: &str = r#"
import os, resource, socket, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
try:
    resource.setrlimit(resource.RLIMIT_NOFILE, (1 << 20, 1 << 20))
except (ValueError, OSError):
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
nr_open = int(open("/proc/sys/fs/nr_open").read())
top = min(resource.getrlimit(resource.RLIMIT_NOFILE)[0], nr_open, 1 << 20) - 1
with open("/proc/self/comm", "w") as f:
    f.write("pw-high-fd")
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
os.dup2(s.fileno(), top)
port = s.getsockname()[1]
s.close()
print(port, top, flush=True)
sys.stdin.read()
"#;
    let _machine = machine_shared();
    let mut child = std::process::Command::new("python3")
        .args(["-c", HIGH])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 (needed by the tests)");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let mut words = line.split_whitespace();
    let port: u16 = words.next().unwrap().parse().unwrap();
    let top: u64 = words.next().unwrap().parse().unwrap();
    let link = std::fs::read_link(format!("/proc/{}/fd/{top}", child.id())).unwrap();
    assert!(link.to_string_lossy().starts_with("socket:["), "descriptor {top}: {link:?}");
    let (bpf, procfs) = (listing("bpf"), listing("procfs"));
    drop(child.stdin.take());
    let _ = child.wait();
    let from_bpf = at(&bpf, "tcp", "127.0.0.1", port);
    assert_eq!(from_bpf.len(), 1, "tcp/{port} (descriptor {top})");
    assert_eq!(pids(from_bpf[0]), [u64::from(child.id())], "descriptor {top}: {:#}", from_bpf[0]);
    assert_eq!(from_bpf, at(&procfs, "tcp", "127.0.0.1", port), "file tables vs /proc");
}
