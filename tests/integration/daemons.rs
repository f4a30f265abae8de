//! Real daemons (nginx, redis, memcached, sshd, dnsmasq) on their standard ports, each started by the test on a
//! private configuration: their listeners must be owned by the right processes, named by the registry, and unflagged.

use crate::util::*;
use serde_json::Value;
use std::fs::File;
use std::net::{IpAddr, TcpListener, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long a daemon may take to show its sockets (and, for nginx, its workers).
const STARTUP: Duration = Duration::from_secs(10);
/// How often `portwarden list` is asked meanwhile.
const POLL: Duration = Duration::from_millis(50);
/// How long a daemon may take to shut down on SIGTERM, and its group to vanish after SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// One socket a daemon must listen on.
#[derive(Debug, Clone, Copy)]
struct Want {
    protocol: &'static str,
    address: &'static str,
}

fn tcp(address: &'static str) -> Want {
    Want { protocol: "tcp", address }
}

fn udp(address: &'static str) -> Want {
    Want { protocol: "udp", address }
}

impl Want {
    fn ip(&self) -> IpAddr {
        self.address.parse().expect("literal address")
    }
}

/// What every owner of a daemon's listeners must look like, and how the registry must name them.
struct Expect {
    /// Process name (`/proc/PID/comm`).
    name: &'static str,
    /// Executable (`/proc/PID/exe`, symlinks resolved).
    exe: PathBuf,
    /// Service name the registry must give the port.
    service: &'static str,
    /// Port range tier.
    range: &'static str,
}

impl Expect {
    fn new(name: &'static str, binary: &str, service: &'static str, range: &'static str) -> Expect {
        let exe = std::fs::canonicalize(binary).unwrap_or_else(|e| panic!("cannot resolve {binary}: {e}"));
        Expect { name, exe, service, range }
    }
}

/// True (after printing why) when the test cannot run here: not root, or one of `binaries` is not installed.
fn skip(test: &str, binaries: &[&str]) -> bool {
    if skip_unless_root(test) {
        return true;
    }
    binaries.iter().any(|b| missing_tool(test, b))
}

/// True (after printing why) when something on this machine already holds one of the daemon's sockets; under
/// `CI=true` a failure (no test of this suite holds these ports, and CI's machine must leave them free).
fn port_taken(test: &str, port: u16, wants: &[Want]) -> bool {
    for w in wants {
        let addr = (w.ip(), port);
        let bound =
            if w.protocol == "tcp" { TcpListener::bind(addr).map(drop) } else { UdpSocket::bind(addr).map(drop) };
        if let Err(e) = bound {
            let why = format!(
                "{port}/{} on {} is not free ({e}): something else on this machine uses it",
                w.protocol, w.address
            );
            return cannot_run(test, &why);
        }
    }
    false
}

/// True when this machine has IPv6 (a socket can bind `::1`).
fn have_ipv6() -> bool {
    TcpListener::bind("[::1]:0").is_ok()
}

/// The fields of `/proc/PID/stat` the tests need.
struct Stat {
    state: char,
    ppid: u32,
    pgrp: i32,
}

/// Reads `/proc/PID/stat`, counting fields from the last `)` (the command name may contain anything).
fn stat(pid: u32) -> Option<Stat> {
    let raw = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let close = raw.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&raw[close + 1..]).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some(Stat { state, ppid, pgrp })
}

/// PIDs of all processes, with their stat (processes that vanish while being read are left out).
fn processes() -> Vec<(u32, Stat)> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, stat(pid)?)))
        .collect()
}

/// Live (not zombie) children of `ppid`, sorted.
fn children_of(ppid: u32) -> Vec<u32> {
    let mut kids: Vec<u32> =
        processes().into_iter().filter(|(_, s)| s.ppid == ppid && s.state != 'Z').map(|(pid, _)| pid).collect();
    kids.sort_unstable();
    kids
}

/// Live (not zombie) members of process group `pgid`.
fn group_members(pgid: i32) -> Vec<u32> {
    processes().into_iter().filter(|(_, s)| s.pgrp == pgid && s.state != 'Z').map(|(pid, _)| pid).collect()
}

/// A daemon started by a test, in its own process group, with stdout and stderr in a log file in its private
/// directory. Dropping it stops the daemon (SIGTERM, then SIGKILL to the whole group, workers included) and
/// waits until none of it is left.
struct Daemon {
    name: &'static str,
    child: Child,
    log: PathBuf,
    /// The private directory (config, keys, PID files, log); removed after the daemon is dead.
    _dir: TempDir,
}

impl Daemon {
    fn start(name: &'static str, dir: TempDir, cmd: &mut Command) -> Daemon {
        let log = dir.path().join("daemon.log");
        let out = File::create(&log).unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let err = out.try_clone().expect("clone log handle");
        cmd.stdin(Stdio::null()).stdout(out).stderr(err).process_group(0);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Daemon { name, child, log, _dir: dir }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn pgid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("PID fits in pid_t")
    }

    /// What the daemon printed so far.
    fn output(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    /// Panics with the daemon's output when it has exited.
    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited early ({status}); its output:\n{}", self.name, self.output());
        }
    }

    /// Asks `portwarden list --port PORT` every [`POLL`] until `ready` accepts the report or [`STARTUP`] has
    /// passed, and returns the last report (the caller's assertions then say what is missing).
    fn wait_for(&mut self, port: u16, mut ready: impl FnMut(&Value) -> bool) -> Value {
        let deadline = Instant::now() + STARTUP;
        let port = port.to_string();
        loop {
            self.assert_running();
            let report = json(&["list", "--format", "json", "--port", &port]);
            if ready(&report) || Instant::now() >= deadline {
                return report;
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SIGTERM first, to the daemon alone: it shuts down its own workers and reaps them (killed outright, they
        // would be left as zombies of init, which in some containers never reaps them).
        if matches!(self.child.try_wait(), Ok(None)) {
            kill(self.pgid(), libc::SIGTERM);
        }
        let deadline = Instant::now() + GRACE;
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        // Then SIGKILL to the whole group, for anything left or a daemon that ignored SIGTERM. The group ID cannot
        // name anyone else while the child is unreaped or the group still has members.
        if matches!(self.child.try_wait(), Ok(None)) || !group_members(self.pgid()).is_empty() {
            kill(-self.pgid(), libc::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let deadline = Instant::now() + GRACE;
        while !group_members(self.pgid()).is_empty() && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
    }
}

/// Sends `signal` to `target` (a PID, or minus a process group ID), ignoring failure (it may be gone already).
fn kill(target: libc::pid_t, signal: libc::c_int) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe {
        libc::kill(target, signal);
    }
}

/// The one listener for `want` on `port`.
fn listener<'a>(report: &'a Value, port: u16, want: &Want, d: &Daemon) -> &'a Value {
    let found: Vec<&Value> =
        on_port(report, want.protocol, port).into_iter().filter(|l| l["address"] == want.address).collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {}/{} listener on {port} for {}, report:\n{report:#}\n{} output:\n{}",
        want.protocol,
        want.address,
        d.name,
        d.name,
        d.output()
    );
    found[0]
}

/// True when every wanted listener is in `report` and owned by (at least) all of `owners`.
fn all_owned(report: &Value, port: u16, wants: &[Want], owners: &[u32]) -> bool {
    wants.iter().all(|w| {
        on_port(report, w.protocol, port)
            .into_iter()
            .filter(|l| l["address"] == w.address)
            .any(|l| owners.iter().all(|o| pids(l).contains(&u64::from(*o))))
    })
}

/// Asserts a daemon's listener: address family and exposure, every one of `owners` among its processes, every
/// process named as the daemon, the registry's service, and no flags.
fn check(report: &Value, port: u16, want: &Want, owners: &[u32], expect: &Expect, d: &Daemon) {
    let l = listener(report, port, want, d);
    let family = if want.ip().is_ipv6() { "ipv6" } else { "ipv4" };
    let exposure = if want.ip().is_loopback() { "loopback" } else { "all-interfaces" };
    assert_eq!(l["family"], family, "{l:#}");
    assert_eq!(l["exposure"], exposure, "{l:#}");
    assert_eq!(l["range"], expect.range, "{l:#}");
    let found = pids(l);
    for owner in owners {
        assert!(
            found.contains(&u64::from(*owner)),
            "{} (PID {owner}) should own {port}/{} on {}, owners are {found:?}: {l:#}",
            d.name,
            want.protocol,
            want.address
        );
    }
    let exe = expect.exe.to_str().expect("UTF-8 path");
    for p in l["processes"].as_array().expect("processes array") {
        assert_eq!(p["name"], expect.name, "owner of {port}/{} is misnamed: {p:#}", want.protocol);
        assert_eq!(p["exe"], exe, "owner of {port}/{} has the wrong executable: {p:#}", want.protocol);
    }
    assert_eq!(l["iana"]["status"], "assigned", "{l:#}");
    let services = l["iana"]["services"].as_array().expect("services array");
    assert!(
        services.iter().any(|s| s == expect.service),
        "{port}/{} should be named {}, registry says {services:?}",
        want.protocol,
        expect.service
    );
    assert_eq!(
        flag_kinds(l),
        Vec::<String>::new(),
        "{} on {port}/{} must not be flagged: {l:#}",
        d.name,
        want.protocol
    );
    assert!(l["severity"].is_null(), "{l:#}");
    assert_eq!(l["verdict"], "expected", "{} on {port}/{}: {l:#}", d.name, want.protocol);
}

/// Starts a daemon on all interfaces and asserts that its listener on `port` is judged dangerous, with the
/// exposed-service finding and a reason that names the program.
fn exposed_is_dangerous(test: &str, port: u16, want: Want, program: &'static str, dir: TempDir, cmd: &mut Command) {
    let mut d = Daemon::start(program, dir, cmd);
    let pid = d.pid();
    let report = d.wait_for(port, |r| all_owned(r, port, std::slice::from_ref(&want), &[pid]));
    let l = listener(&report, port, &want, &d);
    assert_eq!(l["exposure"], "all-interfaces", "{l:#}");
    assert_eq!((l["verdict"].as_str(), l["severity"].as_str()), (Some("dangerous"), Some("high")), "{l:#}");
    assert!(flag_kinds(l).contains(&"exposed-service".to_string()), "{l:#}");
    assert!(l["reason"].as_str().unwrap().contains(program), "{l:#}");
    eprintln!("{test}: {program} (PID {pid}) on 0.0.0.0:{port}/{} judged dangerous", want.protocol);
}

/// Starts a single-process daemon, waits for its listeners and checks them.
fn single(test: &str, port: u16, wants: &[Want], expect: &Expect, name: &'static str, dir: TempDir, cmd: &mut Command) {
    let mut d = Daemon::start(name, dir, cmd);
    let pid = d.pid();
    let report = d.wait_for(port, |r| all_owned(r, port, wants, &[pid]));
    for w in wants {
        check(&report, port, w, &[pid], expect, &d);
    }
    eprintln!("{test}: {name} (PID {pid}) on {port} checked");
}

fn tempdir(name: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("portwarden-{name}-"))
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"))
}

fn write(dir: &TempDir, file: &str, contents: &str) -> PathBuf {
    let path = dir.path().join(file);
    std::fs::write(&path, contents).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path
}

const NGINX: &str = "/usr/sbin/nginx";
const NGINX_WORKERS: usize = 2;

#[test]
fn nginx_master_and_workers_own_http() {
    let _machine = machine_shared();
    let test = "nginx_master_and_workers_own_http";
    if skip(test, &[NGINX]) {
        return;
    }
    let mut wants = vec![tcp("0.0.0.0")];
    if have_ipv6() {
        wants.push(tcp("::"));
    }
    if port_taken(test, 80, &wants) {
        return;
    }
    let dir = tempdir("nginx");
    let p = dir.path().display().to_string();
    let v6 = if wants.len() > 1 { "listen [::]:80;" } else { "" };
    let conf = write(
        &dir,
        "nginx.conf",
        &format!(
            "worker_processes {NGINX_WORKERS};\n\
             pid {p}/nginx.pid;\n\
             error_log stderr notice;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n\
               access_log {p}/access.log;\n\
               client_body_temp_path {p}/body;\n\
               proxy_temp_path {p}/proxy;\n\
               fastcgi_temp_path {p}/fastcgi;\n\
               uwsgi_temp_path {p}/uwsgi;\n\
               scgi_temp_path {p}/scgi;\n\
               server {{ listen 80; {v6} root {p}; }}\n\
             }}\n"
        ),
    );
    let mut d = Daemon::start(
        "nginx",
        dir,
        Command::new(NGINX).arg("-p").arg(&p).arg("-e").arg("stderr").arg("-c").arg(&conf).args(["-g", "daemon off;"]),
    );
    let master = d.pid();
    let report = d.wait_for(80, |r| {
        let mut owners = children_of(master);
        owners.len() == NGINX_WORKERS && {
            owners.push(master);
            all_owned(r, 80, &wants, &owners)
        }
    });
    let workers = children_of(master);
    assert_eq!(
        workers.len(),
        NGINX_WORKERS,
        "nginx master {master} should have {NGINX_WORKERS} workers, has {workers:?}; output:\n{}",
        d.output()
    );
    let mut owners = workers.clone();
    owners.push(master);
    let expect = Expect::new("nginx", NGINX, "http", "system");
    for w in &wants {
        check(&report, 80, w, &owners, &expect, &d);
    }
    eprintln!("{test}: nginx master (PID {master}) and workers {workers:?} on 80 checked");
    let pgid = d.pgid();
    drop(d);
    let left = group_members(pgid);
    assert!(left.is_empty(), "nginx processes survived the kill: {left:?}");
    for w in workers {
        assert!(stat(w).is_none_or(|s| s.state == 'Z'), "nginx worker {w} survived its master");
    }
}

const REDIS: &str = "/usr/bin/redis-server";

#[test]
fn redis_owns_redis() {
    let _machine = machine_shared();
    let test = "redis_owns_redis";
    if skip(test, &[REDIS]) {
        return;
    }
    let wants = [tcp("127.0.0.1")];
    if port_taken(test, 6379, &wants) {
        return;
    }
    let dir = tempdir("redis");
    let mut cmd = Command::new(REDIS);
    cmd.args(["--port", "6379", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"])
        .arg("--dir")
        .arg(dir.path());
    single(test, 6379, &wants, &Expect::new("redis-server", REDIS, "redis", "user"), "redis-server", dir, &mut cmd);

    // The same daemon on all interfaces, without a password: dangerous.
    if port_taken(test, 6379, &[tcp("0.0.0.0")]) {
        return;
    }
    let dir = tempdir("redis-exposed");
    let mut cmd = Command::new(REDIS);
    cmd.args(["--port", "6379", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", "--appendonly", "no"])
        .args(["--daemonize", "no", "--dir"])
        .arg(dir.path());
    exposed_is_dangerous(test, 6379, tcp("0.0.0.0"), "redis-server", dir, &mut cmd);
}

const MEMCACHED: &str = "/usr/bin/memcached";

#[test]
fn memcached_owns_memcache_tcp_and_udp() {
    let _machine = machine_shared();
    let test = "memcached_owns_memcache_tcp_and_udp";
    if skip(test, &[MEMCACHED]) {
        return;
    }
    let wants = [tcp("127.0.0.1"), udp("127.0.0.1")];
    if port_taken(test, 11211, &wants) {
        return;
    }
    let dir = tempdir("memcached");
    // UDP is off by default since memcached 1.5.6; -U turns it on.
    let mut cmd = Command::new(MEMCACHED);
    cmd.args(["-p", "11211", "-U", "11211", "-l", "127.0.0.1", "-u", "nobody", "-m", "16"]);
    let expect = Expect::new("memcached", MEMCACHED, "memcache", "user");
    single(test, 11211, &wants, &expect, "memcached", dir, &mut cmd);

    // UDP on all interfaces: the amplification vector (US-CERT TA14-017A): dangerous.
    if port_taken(test, 11211, &[udp("0.0.0.0")]) {
        return;
    }
    let dir = tempdir("memcached-exposed");
    let mut cmd = Command::new(MEMCACHED);
    cmd.args(["-p", "0", "-U", "11211", "-l", "0.0.0.0", "-u", "nobody", "-m", "16"]);
    exposed_is_dangerous(test, 11211, udp("0.0.0.0"), "memcached", dir, &mut cmd);
}

const SSHD: &str = "/usr/sbin/sshd";
const SSH_KEYGEN: &str = "/usr/bin/ssh-keygen";

#[test]
fn sshd_owns_ssh() {
    let _machine = machine_shared();
    let test = "sshd_owns_ssh";
    if skip(test, &[SSHD, SSH_KEYGEN]) {
        return;
    }
    let wants = [tcp("127.0.0.1")];
    if port_taken(test, 22, &wants) {
        return;
    }
    let dir = tempdir("sshd");
    let key = dir.path().join("host_ed25519");
    let out = run(Command::new(SSH_KEYGEN).args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(&key));
    assert!(out.status.success(), "ssh-keygen failed: {}", String::from_utf8_lossy(&out.stderr));
    // sshd refuses to start without its privilege separation directory.
    std::fs::create_dir_all("/run/sshd").expect("create /run/sshd");
    let p = dir.path().display();
    let conf = write(
        &dir,
        "sshd_config",
        &format!(
            "Port 22\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {p}/sshd.pid\nUsePAM no\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin no\n",
            key.display()
        ),
    );
    let mut cmd = Command::new(SSHD);
    cmd.args(["-D", "-e", "-f"]).arg(&conf);
    single(test, 22, &wants, &Expect::new("sshd", SSHD, "ssh", "system"), "sshd", dir, &mut cmd);
}

const DNSMASQ: &str = "/usr/sbin/dnsmasq";

#[test]
fn dnsmasq_owns_domain_tcp_and_udp() {
    let _machine = machine_shared();
    let test = "dnsmasq_owns_domain_tcp_and_udp";
    if skip(test, &[DNSMASQ]) {
        return;
    }
    let wants = [tcp("127.0.0.1"), udp("127.0.0.1")];
    if port_taken(test, 53, &wants) {
        return;
    }
    let dir = tempdir("dnsmasq");
    let mut cmd = Command::new(DNSMASQ);
    cmd.args([
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--port=53",
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--no-resolv",
        "--no-hosts",
        "--log-facility=-",
    ])
    .arg(format!("--pid-file={}/dnsmasq.pid", dir.path().display()));
    single(test, 53, &wants, &Expect::new("dnsmasq", DNSMASQ, "domain", "system"), "dnsmasq", dir, &mut cmd);
}
