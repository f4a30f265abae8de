//! Test helpers: the built binary, and child processes that hold real sockets for as long as a test needs them.

#![allow(dead_code)]

use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::io::{BufRead, BufReader, Write};
use std::marker::PhantomData;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Tests run as threads of one process. Those that open listeners hold this shared; the few that need the machine's
/// listener set to stay still (baseline then check on the live machine) hold it exclusively.
static MACHINE: RwLock<()> = RwLock::new(());

thread_local! {
    /// The read guard of this test thread and how many `SharedHold`s share it. std's RwLock makes new readers wait
    /// behind a waiting writer, so a thread that took the lock for reading twice (two holders) while an exclusive
    /// test queued in between would deadlock with it; nested holds therefore reuse the thread's one guard.
    static SHARED: RefCell<Option<RwLockReadGuard<'static, ()>>> = const { RefCell::new(None) };
    static SHARED_DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// A shared hold on the machine; the lock is released when the thread's last one is dropped.
pub struct SharedHold {
    /// Tied to the thread that took it.
    _not_send: PhantomData<*const ()>,
}

impl Drop for SharedHold {
    fn drop(&mut self) {
        let depth = SHARED_DEPTH.with(|d| {
            d.set(d.get().saturating_sub(1));
            d.get()
        });
        if depth == 0 {
            SHARED.with(|s| drop(s.borrow_mut().take()));
        }
    }
}

/// Shared hold on the machine: taken by every test that opens listeners (a `Holder` takes it itself). Nested holds
/// in one thread share one read lock.
pub fn machine_shared() -> SharedHold {
    if SHARED_DEPTH.with(|d| d.get()) == 0 {
        let guard = MACHINE.read().unwrap_or_else(|e| e.into_inner());
        SHARED.with(|s| *s.borrow_mut() = Some(guard));
    }
    SHARED_DEPTH.with(|d| d.set(d.get() + 1));
    SharedHold { _not_send: PhantomData }
}

/// Exclusive hold: no other test opens or closes listeners until it is dropped. Use `Holder::start_exclusive`
/// inside it.
pub fn machine_exclusive() -> RwLockWriteGuard<'static, ()> {
    MACHINE.write().unwrap_or_else(|e| e.into_inner())
}

/// Path of the portwarden binary cargo built for these tests.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_portwarden")
}

/// A `portwarden` command with colour off and a private, empty data directory (no imported registry).
pub fn portwarden() -> Command {
    let mut c = Command::new(bin());
    c.env("NO_COLOR", "1").env("PORTWARDEN_DATA_DIR", empty_data_dir());
    c
}

fn empty_data_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("portwarden-test-empty-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&d);
    d
}

/// A `portwarden` command run as user `nobody` through `setpriv` (the caller must be root), with colour off and the
/// temporary directory as data directory (no imported registry there).
pub fn portwarden_as_nobody() -> Command {
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups", bin()])
        .env("NO_COLOR", "1")
        .env("PORTWARDEN_DATA_DIR", std::env::temp_dir());
    c
}

/// Runs a command and returns its output, panicking with stderr if it could not start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs `portwarden ARGS --format json` style commands and parses stdout as JSON, asserting exit status 0.
pub fn json(args: &[&str]) -> Value {
    let out = run(portwarden().args(args));
    assert!(
        out.status.success(),
        "portwarden {args:?} failed: {:?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("portwarden {args:?} printed invalid JSON ({e}):\n{}", String::from_utf8_lossy(&out.stdout))
    })
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Prints why a test is skipped (visible with --nocapture and in CI logs) and returns true when not root.
pub fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!(
        "SKIP {test}: needs root (binds ports below 1024, changes users or starts daemons); run as root to test it"
    );
    true
}

/// Waits (at most 20 s, failing after) until the file at `path` contains `needle`: e.g. `watch`'s stderr its
/// "portwarden: watching" header.
pub fn wait_for(path: &std::path::Path, needle: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !std::fs::read_to_string(path).is_ok_and(|t| t.contains(needle)) {
        assert!(std::time::Instant::now() < deadline, "{} never contained {needle}", path.display());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Every line of a `watch --record` recording, parsed; panics naming the line that is not JSON. The recording is
/// written a whole line at a time, so it ends with a complete line even while `watch` runs.
pub fn events(path: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.ends_with('\n'), "the recording ends with a complete line");
    text.lines()
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).unwrap_or_else(|e| panic!("line {} is not JSON ({e}): {l}", i + 1)))
        .collect()
}

/// Runs `cmd` (a portwarden command) as `watch ARGS`, its stdout and stderr in `dir`'s `watch.out` and `watch.err`,
/// and returns it with those two paths once it is watching: its header comes after the first scan, and from then
/// on every change is seen.
pub fn start_watch(mut cmd: Command, dir: &std::path::Path, args: &[&str]) -> (Child, PathBuf, PathBuf) {
    let (out, err) = (dir.join("watch.out"), dir.join("watch.err"));
    let watch = cmd
        .arg("watch")
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("start portwarden watch");
    wait_for(&err, "portwarden: watching");
    (watch, out, err)
}

/// A `watch --interval INTERVAL --record` run as `nobody` (the caller must be root), once it is watching: its
/// directory (writable by anyone), the recording and its stderr.
pub fn watch_as_nobody(interval: &str) -> (tempfile::TempDir, PathBuf, PathBuf, Child) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let rec = dir.path().join("rec.ndjson");
    let args = ["--interval", interval, "--record", rec.to_str().unwrap()];
    let (watch, _, err) = start_watch(portwarden_as_nobody(), dir.path(), &args);
    (dir, rec, err, watch)
}

/// Stops `watch` with SIGTERM and checks that it exits 0 (its stderr, in `err`, shown if not).
pub fn stop_watch(watch: &mut Child, err: &std::path::Path) {
    // SAFETY: kill has no memory preconditions; the pid is our own child, not yet reaped.
    assert_eq!(unsafe { libc::kill(watch.id() as i32, libc::SIGTERM) }, 0);
    let status = watch.wait().unwrap();
    assert_eq!(status.code(), Some(0), "watch exits 0 on SIGTERM: {}", std::fs::read_to_string(err).unwrap());
}

/// Whether CI runs the tests (`CI=true`): there a missing tool is a failure, never a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// True (after printing why) when `tool` is not installed, so the test should skip; under `CI=true` it fails
/// instead: CI installs every tool the tests need, and a skip there would pass without testing.
pub fn missing_tool(test: &str, tool: &str) -> bool {
    let in_dir = |d: &std::path::Path| d.join(tool).is_file();
    let found = (tool.starts_with('/') && std::path::Path::new(tool).exists())
        || std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|d| in_dir(&d)))
        || ["/usr/sbin", "/sbin"].iter().any(|d| in_dir(std::path::Path::new(d)));
    !found && cannot_run(test, &format!("{tool} is not installed"))
}

/// True (after printing why) when the walk of the kernel's file tables cannot be tested here: without root (a
/// skip), or without kernel BTF (under `CI=true` a failure).
pub fn skip_unless_walkable(test: &str) -> bool {
    skip_unless_root(test)
        || (!std::path::Path::new("/sys/kernel/btf/vmlinux").exists()
            && cannot_run(test, "the kernel has no BTF (/sys/kernel/btf/vmlinux)"))
}

/// Returns true after printing why `test` cannot run here (the caller then returns). Under `CI=true` it fails
/// instead: CI runs as root with every tool installed, and a skip there would pass without testing (cargo test
/// does not even show the printed reason of a passing test).
pub fn cannot_run(test: &str, why: &str) -> bool {
    assert!(!in_ci(), "{test} cannot run: {why}; under CI=true that is a failure, never a skip");
    eprintln!("SKIP {test}: {why}");
    true
}

const HOLDER: &str = r#"
import os, socket, sys
name, specs = sys.argv[1], sys.argv[2:]
if name:
    with open("/proc/self/comm", "wb") as f:
        f.write(os.fsencode(name)[:15])
socks, ports = [], []
try:
    for spec in specs:
        proto, fam, addr, port, *opts = spec.split(",")
        family = socket.AF_INET6 if fam == "6" else socket.AF_INET
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        s = socket.socket(family, kind)
        # Only for TCP (a fixed port again soon after a test): on UDP, SO_REUSEADDR lets the kernel hand out an
        # ephemeral port another such socket holds, so two tests' holders could share one.
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if "v6only" in opts else 0)
        s.bind((addr, int(port)))
        if kind == socket.SOCK_STREAM:
            s.listen(16)
        socks.append(s)
        ports.append(str(s.getsockname()[1]))
except OSError as e:
    print("ERROR", spec, e, flush=True)
    sys.exit(1)
children = []
if os.environ.get("HOLDER_FORK"):
    for _ in range(int(os.environ["HOLDER_FORK"])):
        pid = os.fork()
        if pid == 0:
            sys.stdin.read()
            os._exit(0)
        children.append(pid)
print("READY", " ".join(ports), "CHILDREN", " ".join(map(str, children)), flush=True)
sys.stdin.read()
"#;

/// One socket for a holder to open: protocol, family, address, port (0 = ephemeral), options.
#[derive(Debug, Clone)]
pub struct Spec {
    pub tcp: bool,
    pub v6: bool,
    pub addr: &'static str,
    pub port: u16,
    pub v6only: bool,
}

pub fn tcp4(addr: &'static str, port: u16) -> Spec {
    Spec { tcp: true, v6: false, addr, port, v6only: false }
}
pub fn udp4(addr: &'static str, port: u16) -> Spec {
    Spec { tcp: false, v6: false, addr, port, v6only: false }
}
pub fn tcp6(addr: &'static str, port: u16, v6only: bool) -> Spec {
    Spec { tcp: true, v6: true, addr, port, v6only }
}
pub fn udp6(addr: &'static str, port: u16, v6only: bool) -> Spec {
    Spec { tcp: false, v6: true, addr, port, v6only }
}

/// Fixed port numbers held by a `Holder` of this test process. Tests run as threads, and several hold the same
/// registered port (1687 on 127.0.0.1 in one, on 0.0.0.0 in another): the second would fail to bind while the first
/// runs, so a holder waits until all of its fixed ports are free here, and takes them together.
static FIXED_PORTS: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
static FIXED_PORT_FREED: std::sync::Condvar = std::sync::Condvar::new();

/// A holder's claim on its fixed port numbers, given back when dropped (after the holder's process has gone).
struct PortClaim(Vec<u16>);

impl PortClaim {
    fn take(specs: &[Spec]) -> PortClaim {
        let mut wanted: Vec<u16> = specs.iter().map(|s| s.port).filter(|&p| p != 0).collect();
        wanted.sort_unstable();
        wanted.dedup();
        if !wanted.is_empty() {
            let mut held = FIXED_PORTS.lock().unwrap_or_else(|e| e.into_inner());
            while wanted.iter().any(|p| held.contains(p)) {
                held = FIXED_PORT_FREED.wait(held).unwrap_or_else(|e| e.into_inner());
            }
            held.extend(&wanted);
        }
        PortClaim(wanted)
    }
}

impl Drop for PortClaim {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            FIXED_PORTS.lock().unwrap_or_else(|e| e.into_inner()).retain(|p| !self.0.contains(p));
            FIXED_PORT_FREED.notify_all();
        }
    }
}

/// A child process (python3) holding real sockets until dropped.
pub struct Holder {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Actual ports, in the order of the specs.
    pub ports: Vec<u16>,
    /// PIDs of forked children that share the sockets (HOLDER_FORK).
    pub children: Vec<u32>,
    _machine: Option<SharedHold>,
    /// Dropped after `Drop::drop` has ended the process, so the ports are free when given back.
    _ports: PortClaim,
}

impl Holder {
    /// Starts a holder whose process name (comm) is `name` (at most 15 bytes are kept).
    pub fn start(name: &str, specs: &[Spec]) -> Holder {
        Holder::start_with(name, specs, 0)
    }

    /// Starts a holder while the caller holds `machine_exclusive()`.
    pub fn start_exclusive(name: &str, specs: &[Spec]) -> Holder {
        Holder::spawn(name, specs, 0, None)
    }

    /// Like `start`, with `forks` forked children sharing every socket. The name is also the first argument, so it
    /// is in the command line too.
    pub fn start_with(name: &str, specs: &[Spec], forks: usize) -> Holder {
        Holder::spawn(name, specs, forks, Some(machine_shared()))
    }

    /// Starts a holder running as user `nobody` (the caller must be root).
    pub fn start_as_nobody(name: &str, specs: &[Spec]) -> Holder {
        Holder::start_as(&["--reuid=65534", "--regid=65534", "--clear-groups"], name, specs)
    }

    /// Starts a holder with the user and group ids `setpriv` sets from `ids` (the caller must be root).
    pub fn start_as(ids: &[&str], name: &str, specs: &[Spec]) -> Holder {
        let mut cmd = Command::new("setpriv");
        // The system python: a python under root's home (pyenv) is not readable by other users.
        let python = if std::path::Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" };
        cmd.args(ids).arg(python);
        Holder::spawn_cmd(cmd, name.as_ref(), specs, 0, Some(machine_shared()))
    }

    /// Starts a holder through a wrapper that ends by executing `python3` with the holder's arguments in place of
    /// itself (so the holder's PID is the child's), e.g. `["ip", "netns", "exec", NAME]` or `["unshare", "-n"]`.
    pub fn start_via(wrapper: &[&str], name: &str, specs: &[Spec]) -> Holder {
        let mut cmd = Command::new(wrapper[0]);
        cmd.args(&wrapper[1..]).arg("python3");
        Holder::spawn_cmd(cmd, name.as_ref(), specs, 0, Some(machine_shared()))
    }

    /// Starts a holder whose name is raw bytes (not necessarily UTF-8).
    pub fn start_raw(name: &[u8], specs: &[Spec]) -> Holder {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(name);
        Holder::spawn_cmd(Command::new("python3"), name, specs, 0, Some(machine_shared()))
    }

    fn spawn(name: &str, specs: &[Spec], forks: usize, machine: Option<SharedHold>) -> Holder {
        Holder::spawn_cmd(Command::new("python3"), name.as_ref(), specs, forks, machine)
    }

    fn spawn_cmd(
        mut cmd: Command,
        name: &std::ffi::OsStr,
        specs: &[Spec],
        forks: usize,
        machine: Option<SharedHold>,
    ) -> Holder {
        let claim = PortClaim::take(specs);
        cmd.arg("-c").arg(HOLDER).arg(name);
        for s in specs {
            let mut spec =
                format!("{},{},{},{}", if s.tcp { "tcp" } else { "udp" }, if s.v6 { "6" } else { "4" }, s.addr, s.port);
            if s.v6only {
                spec.push_str(",v6only");
            }
            cmd.arg(spec);
        }
        if forks > 0 {
            cmd.env("HOLDER_FORK", forks.to_string());
        }
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start python3 (needed by the tests): {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read holder's first line");
        if !line.starts_with("READY") {
            let _ = child.kill();
            panic!("holder could not open its sockets: {line}");
        }
        let (ports, children) = line["READY".len()..].split_once("CHILDREN").expect("READY ... CHILDREN ...");
        let ports = ports.split_whitespace().map(|p| p.parse().expect("port")).collect();
        let children = children.split_whitespace().map(|p| p.parse().expect("pid")).collect();
        Holder { stdin: child.stdin.take(), child, ports, children, _machine: machine, _ports: claim }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        if let Some(mut s) = self.stdin.take() {
            let _ = s.write_all(b"");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The listeners of a `list --format json` report on `port` for `protocol`.
pub fn on_port<'a>(report: &'a Value, protocol: &str, port: u16) -> Vec<&'a Value> {
    report["listeners"]
        .as_array()
        .expect("listeners array")
        .iter()
        .filter(|l| l["protocol"] == protocol && l["port"] == port)
        .collect()
}

/// The listeners on `protocol` `address`:`port`. Ephemeral port numbers coincide across protocols and addresses
/// (another test's socket), so a test finds its own by all three.
pub fn at<'a>(report: &'a Value, protocol: &str, address: &str, port: u16) -> Vec<&'a Value> {
    on_port(report, protocol, port).into_iter().filter(|l| l["address"] == address).collect()
}

/// The one listener on `protocol` `address`:`port`.
pub fn one_at<'a>(report: &'a Value, protocol: &str, address: &str, port: u16) -> &'a Value {
    let found = at(report, protocol, address, port);
    assert_eq!(found.len(), 1, "expected one {protocol} listener on {address} {port}, got {found:#?}");
    found[0]
}

/// PIDs of a listener's processes.
pub fn pids(listener: &Value) -> Vec<u64> {
    listener["processes"].as_array().expect("processes array").iter().map(|p| p["pid"].as_u64().expect("pid")).collect()
}

/// Flag kinds of a listener or story.
pub fn flag_kinds(v: &Value) -> Vec<String> {
    v["flags"].as_array().expect("flags array").iter().map(|f| f["kind"].as_str().expect("kind").to_string()).collect()
}

/// The stand-in program of `tests/eval/holder.c`, compiled once per test run into a directory every user can read:
/// it names itself `PW_COMM`, binds `PW_PROTO` `PW_ADDR`:`PW_PORT`, prints "ok" and waits.
pub fn stand_in_binary() -> std::path::PathBuf {
    static BIN: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let dir = tempfile::Builder::new().prefix("pw-stand-in").tempdir().unwrap().keep();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let bin = dir.join("holder");
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/eval/holder.c");
        let out = Command::new("cc").args(["-O2", "-o"]).arg(&bin).arg(src).output().expect("cc");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        bin
    })
    .clone()
}
