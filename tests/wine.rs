//! Windows, run for real: the Windows build of portwarden (cross-built for x86_64-pc-windows-gnu with Debian's
//! mingw-w64) run under Wine against sockets that a Windows program (`tests/wine/holder.c`, built here) opened.
//!
//! What Wine can show: the Windows code path end to end (netstat2's `GetExtendedTcpTable`/`GetExtendedUdpTable`,
//! the registry, the verdict, every output format, exit codes). What it cannot: owners. Under Wine the socket
//! tables are the host's (Wine asks the Linux kernel) and every socket a Windows program opens is held by
//! `wineserver`, so no owner PID is known; these tests check that such sockets are listed as "owner unknown", never
//! dropped or given a wrong owner, and the Linux build names `wineserver` for the same port. Owners, elevation and
//! the Windows services' ports are left to the Windows job of the GitHub workflow.
//!
//! Needs wine, x86_64-w64-mingw32-gcc and the rustup target x86_64-pc-windows-gnu (`.ci/run` installs them);
//! skipped with a reason when they are missing, a failure under CI=true.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

const TARGET: &str = "x86_64-pc-windows-gnu";
const GCC: &str = "x86_64-w64-mingw32-gcc";

struct Wine {
    /// The Wine loader (`wine`, or `wine64` where only that is installed).
    loader: PathBuf,
    /// A process holding the private network namespace the Windows programs run in (as root), or none.
    netns: Option<u32>,
    /// The directory holding portwarden.exe, the bcryptprimitives.dll shim and holder.exe.
    dir: PathBuf,
    prefix: PathBuf,
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

fn find(tool: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths).map(|d| d.join(tool)).find(|p| p.is_file())
}

fn skip(test: &str, why: &str) -> Option<&'static Wine> {
    assert!(!in_ci(), "{test}: {why}, and under CI=true a missing tool is a failure");
    eprintln!("SKIP {test}: {why}");
    None
}

fn checked(what: &str, out: std::io::Result<Output>) -> Output {
    let out = out.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(out.status.success(), "{what} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// Builds everything once: portwarden.exe (the `ship` profile, which `cargo xtask dist` builds too, so CI builds it
/// once), the shim DLL and the holder, and a Wine prefix under target/.
fn wine(test: &str) -> Option<&'static Wine> {
    static SETUP: OnceLock<Option<Wine>> = OnceLock::new();
    let ready = SETUP.get_or_init(|| {
        let loader = find("wine").or_else(|| find("wine64"))?;
        find(GCC)?;
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let target_dir = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or(root.join("target"));
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        // The outer `cargo test` holds the lock of its own profile directory only; this build uses another.
        let built = Command::new(cargo)
            .args(["build", "--locked", "--quiet", "--profile", "ship", "--bin", "portwarden", "--target", TARGET])
            .current_dir(&root)
            .output();
        let built = built.ok()?;
        if !built.status.success() {
            eprintln!("cross-build failed: {}", String::from_utf8_lossy(&built.stderr));
            return None;
        }
        let dir = target_dir.join("wine");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(target_dir.join(TARGET).join("ship/portwarden.exe"), dir.join("portwarden.exe")).unwrap();
        let src = root.join("tests/wine");
        // Rust's std imports ProcessPrng from bcryptprimitives.dll, which Wine 8 does not have; this shim (not
        // shipped) provides it beside the exe, where Windows' loader looks first.
        checked(
            "building the bcryptprimitives shim",
            Command::new(GCC)
                .args(["-shared", "-O2", "-o"])
                .arg(dir.join("bcryptprimitives.dll"))
                .arg(src.join("bcryptprimitives.c"))
                .arg(src.join("bcryptprimitives.def"))
                .arg("-lbcrypt")
                .output(),
        );
        checked(
            "building holder.exe",
            Command::new(GCC)
                .args(["-O2", "-o"])
                .arg(dir.join("holder.exe"))
                .arg(src.join("holder.c"))
                .arg("-lws2_32")
                .output(),
        );
        let prefix = dir.join("prefix");
        let w = Wine { loader, dir, prefix, netns: private_netns() };
        if !w.prefix.join("system.reg").exists() {
            checked("wineboot", w.command("wineboot").arg("--init").output());
        }
        Some(w)
    });
    match ready {
        Some(w) => Some(w),
        None if find("wine").or_else(|| find("wine64")).is_none() => skip(test, "wine is not installed"),
        None if find(GCC).is_none() => skip(test, "x86_64-w64-mingw32-gcc (mingw-w64) is not installed"),
        None => skip(test, "portwarden did not cross-build for x86_64-pc-windows-gnu (rustup target add it)"),
    }
}

/// A network namespace of the tests' own, with loopback up, held by a child process that dies with this process.
///
/// Wine builds its socket table by looking for each socket's owner among every process's descriptors, so a listing
/// under Wine takes time in proportion to the sockets on the machine (measured here: 0.08 s with a handful, 8.3 s
/// with 5,000 listeners open; minutes while a scale test holds 50,000). In a namespace of its own the suite sees only
/// its sockets: quick whatever else runs. Needs root (unshare, nsenter); without it the suite runs here, slower.
fn private_netns() -> Option<u32> {
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if !root || find("unshare").is_none() || find("nsenter").is_none() || find_tool("ip").is_none() {
        eprintln!("note: not root (or no unshare/nsenter/ip): Wine runs in this network namespace, slower");
        return None;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    // The parent-death signal fires when the thread that spawned the child ends: this thread never does.
    std::thread::spawn(move || {
        let child = Command::new("setpriv")
            .args(["--pdeathsig", "KILL", "unshare", "--net", "sh", "-c"])
            .arg("ip link set lo up && echo up && exec sleep 86400")
            .stdout(Stdio::piped())
            .spawn();
        let Ok(mut child) = child else {
            let _ = tx.send(None);
            return;
        };
        let mut line = String::new();
        let up = child.stdout.take().map(|o| BufReader::new(o).read_line(&mut line));
        let _ = tx.send(up.is_some_and(|r| r.is_ok()).then_some(child.id()).filter(|_| line.trim() == "up"));
        loop {
            std::thread::park();
        }
    });
    rx.recv().ok().flatten()
}

impl Wine {
    /// `wine PROGRAM` with a private prefix, no debug chatter and colour off, in the suite's network namespace.
    fn command(&self, program: &str) -> Command {
        let mut c = self.in_netns(&self.loader);
        c.arg(program)
            .env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            .env("NO_COLOR", "1")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY");
        c
    }

    /// A command that runs in the suite's network namespace (or here, without one).
    fn in_netns(&self, program: &Path) -> Command {
        match self.netns {
            Some(pid) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/proc/{pid}/ns/net")).arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    /// portwarden.exe with these arguments, run in `cwd` (so relative paths name files there).
    fn portwarden(&self, cwd: &Path, args: &[&str]) -> Output {
        self.command(self.dir.join("portwarden.exe").to_str().unwrap())
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// holder.exe holding these sockets until dropped; returns it with the ports it bound.
    fn hold(&self, specs: &[&str]) -> Holder {
        let mut child = self
            .command(self.dir.join("holder.exe").to_str().unwrap())
            .args(specs)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let ports: Vec<u16> = line.split_whitespace().map(|p| p.parse().unwrap()).collect();
        assert_eq!(ports.len(), specs.len(), "holder.exe said {line:?}");
        Holder { child, ports }
    }
}

struct Holder {
    child: Child,
    ports: Vec<u16>,
}

impl Drop for Holder {
    fn drop(&mut self) {
        // Closing its standard input ends it.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "{}", text(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(out)))
}

#[test]
fn lists_the_sockets_a_windows_program_opened() {
    let Some(w) = wine("lists_the_sockets_a_windows_program_opened") else { return };
    let h = w.hold(&["tcp,127.0.0.1,0", "udp,127.0.0.1,0", "tcp,::1,0"]);
    let (tcp, udp, tcp6) = (h.ports[0], h.ports[1], h.ports[2]);
    let dir = tempfile::tempdir().unwrap();

    let report = json(&w.portwarden(dir.path(), &["list", "--format", "json"]));
    assert_eq!(report["summary"]["os"], "windows");
    let listeners = report["listeners"].as_array().unwrap();
    let find = |proto: &str, addr: &str, port: u16| {
        listeners
            .iter()
            .find(|l| l["protocol"] == proto && l["address"] == addr && l["port"] == port)
            .unwrap_or_else(|| panic!("{proto} {addr}:{port} not listed"))
    };
    for (proto, addr, port, family) in
        [("tcp", "127.0.0.1", tcp, "ipv4"), ("udp", "127.0.0.1", udp, "ipv4"), ("tcp", "::1", tcp6, "ipv6")]
    {
        let l = find(proto, addr, port);
        assert_eq!(l["family"], family);
        assert_eq!(l["exposure"], "loopback");
        // Wine cannot say who holds it (wineserver does): listed, with no owner rather than a wrong one.
        assert_eq!(l["processes"], serde_json::json!([]), "{l}");
        assert!(l["verdict"].is_string() && l["reason"].is_string());
    }
    assert!(report["summary"]["owner_unknown"].as_u64().unwrap() >= 3);

    // The table and its filters.
    let out = w.portwarden(dir.path(), &["list", "--tcp", "--port", &tcp.to_string()]);
    assert!(out.status.success(), "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    let row = table.lines().find(|l| l.contains(&format!(" {tcp} "))).unwrap_or_else(|| panic!("{table}"));
    assert!(row.starts_with("tcp") && row.contains("127.0.0.1") && row.contains("owner unknown"), "{row}");
    assert!(table.contains("1 listener (1 tcp, 0 udp)"), "{table}");
    // The advice fits Windows.
    assert!(text(&out).contains("Administrator"), "{}", text(&out));

    // The Linux build, in the same namespace, sees who really holds it: wineserver.
    let linux = w
        .in_netns(Path::new(env!("CARGO_BIN_EXE_portwarden")))
        .args(["list", "--format", "json", "--tcp", "--port", &tcp.to_string()])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let linux = json(&linux);
    let owners: Vec<&str> = linux["listeners"][0]["processes"]
        .as_array()
        .map(|ps| ps.iter().filter_map(|p| p["name"].as_str()).collect())
        .unwrap_or_default();
    // Root sees the owner; others may not (wineserver is then theirs, though: it runs as this user).
    assert!(owners.iter().all(|n| n.starts_with("wineserver")), "{linux}");
    assert!(!owners.is_empty() || linux["summary"]["owner_unknown"] == 1, "{linux}");

    // Other formats run on the Windows build too.
    for format in ["ndjson", "csv", "prometheus"] {
        let out = w.portwarden(dir.path(), &["list", "--port", &udp.to_string(), "--format", format]);
        assert!(out.status.success(), "{format}: {}", text(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains(&udp.to_string()), "{format}: {}", text(&out));
    }
}

fn find_tool(tool: &str) -> Option<PathBuf> {
    find(tool).or_else(|| Some(PathBuf::from("/usr/sbin").join(tool)).filter(|p| p.is_file()))
}

#[test]
fn explains_a_port_and_who_listens_now() {
    let Some(w) = wine("explains_a_port_and_who_listens_now") else { return };
    let h = w.hold(&["tcp,127.0.0.1,0"]);
    let port = h.ports[0];
    let dir = tempfile::tempdir().unwrap();
    let out = w.portwarden(dir.path(), &["explain", "22/tcp", &format!("{port}/tcp")]);
    assert!(out.status.success(), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("22/tcp ssh"), "{said}");
    assert!(said.contains("tcp 127.0.0.1 (loopback)"), "the holder's socket listens now: {said}");

    let stories = json(&w.portwarden(dir.path(), &["explain", &format!("{port}/tcp"), "--format", "json"]));
    let story = &stories[0];
    assert_eq!(story["port"], port);
    let now = story["listeners"].as_array().unwrap();
    assert!(now.iter().any(|l| l["address"] == "127.0.0.1" && l["processes"] == serde_json::json!([])), "{story}");
}

fn policy(dir: &Path, name: &str, text: &str) -> String {
    std::fs::write(dir.join(name), text).unwrap();
    name.to_string()
}

#[test]
fn check_exit_codes_with_a_policy() {
    let Some(w) = wine("check_exit_codes_with_a_policy") else { return };
    let h = w.hold(&["tcp,127.0.0.1,0", "udp,127.0.0.1,0"]);
    let (tcp, udp) = (h.ports[0], h.ports[1]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let code = |out: &Output| out.status.code().unwrap_or(-1);

    // 0: a policy allowing every port, the live machine (the host's sockets, as Wine shows them).
    let all = policy(d, "all.toml", "[settings]\nfail_on = []\n\n[[allow]]\nport = \"0-65535\"\n");
    let out = w.portwarden(d, &["check", "--policy", &all]);
    assert_eq!(code(&out), 0, "{}", text(&out));

    // The holder's two sockets as a snapshot, so the next checks do not depend on the host's other sockets.
    let tcp_port = tcp.to_string();
    let udp_port = udp.to_string();
    let snap = w.portwarden(d, &["list", "--format", "json", "--port", &tcp_port]);
    let mut both = json(&snap);
    let udp_snap = json(&w.portwarden(d, &["list", "--format", "json", "--udp", "--port", &udp_port]));
    both["listeners"].as_array_mut().unwrap().extend(udp_snap["listeners"].as_array().unwrap().iter().cloned());
    std::fs::write(d.join("snap.json"), serde_json::to_vec(&both).unwrap()).unwrap();

    // 0: each allowed by port.
    let ports = policy(
        d,
        "ports.toml",
        &format!("[[allow]]\nprotocol = \"tcp\"\nport = {tcp}\n\n[[allow]]\nprotocol = \"udp\"\nport = {udp}\n"),
    );
    let out = w.portwarden(d, &["check", "--policy", &ports, "--from", "snap.json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));

    // 1: the udp socket is allowed by nothing; annotations and JUnit name it.
    let tcp_only = policy(d, "tcp-only.toml", &format!("[[allow]]\nprotocol = \"tcp\"\nport = {tcp}\n"));
    let out = w.portwarden(d, &["check", "--policy", &tcp_only, "--from", "snap.json", "--format", "github"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.lines().any(|l| l.starts_with("::error") && l.contains(&udp_port)), "{said}");
    let out = w.portwarden(d, &["check", "--policy", &tcp_only, "--from", "snap.json", "--format", "junit"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let xml = String::from_utf8_lossy(&out.stdout);
    assert!(xml.contains("<failure") && xml.contains(&udp_port), "{xml}");

    // 2: a rule that needs the owner, which Wine cannot show: undecidable.
    let by_name = policy(d, "by-name.toml", &format!("[[allow]]\nport = [{tcp}, {udp}]\nprocess = \"holder.exe\"\n"));
    let out = w.portwarden(d, &["check", "--policy", &by_name, "--from", "snap.json"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("2 undecidable"), "{}", text(&out));

    // 2: a bad policy, named with its line.
    let bad = policy(d, "bad.toml", "[[allow]]\nport = 70000\n");
    let out = w.portwarden(d, &["check", "--policy", &bad, "--from", "snap.json"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("bad.toml:2"), "{}", text(&out));
}

#[test]
fn registry_info_and_bad_input() {
    let Some(w) = wine("registry_info_and_bad_input") else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = w.portwarden(d, &["registry", "info"]);
    assert!(out.status.success(), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("built-in") && said.contains("14273"), "{said}");

    let code = |args: &[&str]| {
        let out = w.portwarden(d, args);
        (out.status.code().unwrap_or(-1), text(&out))
    };
    let (c, said) = code(&["explain", "70000"]);
    assert_eq!(c, 2, "{said}");
    let (c, said) = code(&["list", "--bogus"]);
    assert_eq!(c, 2, "{said}");
    let (c, said) = code(&["list", "--from", "missing.json"]);
    assert_eq!(c, 2, "{said}");
    assert!(said.contains("missing.json"), "{said}");
    std::fs::write(d.join("garbage.json"), b"{\"schema_version\": 1, \"listeners\": [{\"port\": 99999}]}").unwrap();
    let (c, said) = code(&["list", "--from", "garbage.json"]);
    assert_eq!(c, 2, "{said}");
    assert!(said.contains("garbage.json"), "{said}");
    // A registry CSV that fails validation changes nothing.
    let mut csv = std::fs::File::create(d.join("bad.csv")).unwrap();
    let header = "Service Name,Port Number,Transport Protocol,Description,Assignee,Contact,Registration Date,\
                  Modification Date,Reference,Service Code,Unauthorized Use Reported,Assignment Notes";
    writeln!(csv, "{header}\nhttp,80,tcp,,,,,,,,,\nbad name!,81,tcp,,,,,,,,,").unwrap();
    let (c, said) = code(&["registry", "import", "bad.csv"]);
    assert_eq!(c, 2, "{said}");
    assert!(said.contains("bad.csv: line 3: service name"), "{said}");
    let out = w.portwarden(d, &["registry", "info"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("built-in"), "{}", text(&out));
}
