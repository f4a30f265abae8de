//! `--all-netns`: listeners in other network namespaces (one named with `ip netns add`, one unnamed from
//! `unshare -n`) are found with their owners and namespace labels, exposed only to their namespace; a plain `list`
//! does not see them; `check`, `baseline`, `diff` and `watch` take them in; without root the run says what it
//! could not see; a process in a cgroup named like docker's is attributed to that container.

use crate::util::*;
use serde_json::Value;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A named network namespace (`ip netns add`) with `lo` up, deleted when dropped.
pub(crate) struct NamedNs {
    pub(crate) name: String,
}

impl NamedNs {
    pub(crate) fn create(tag: &str) -> NamedNs {
        let name = format!("pw-test-{}-{tag}", std::process::id());
        let out = run(Command::new("ip").args(["netns", "add", &name]));
        assert!(out.status.success(), "ip netns add {name}: {}", String::from_utf8_lossy(&out.stderr));
        let ns = NamedNs { name };
        let out = run(Command::new("ip").args(["-n", &ns.name, "link", "set", "lo", "up"]));
        assert!(out.status.success(), "ip -n {} link set lo up: {}", ns.name, String::from_utf8_lossy(&out.stderr));
        ns
    }

    fn inode(&self) -> u64 {
        std::fs::metadata(format!("/run/netns/{}", self.name)).unwrap().ino()
    }

    /// A holder running inside this namespace.
    fn holder(&self, name: &str, specs: &[Spec]) -> Holder {
        Holder::start_via(&["ip", "netns", "exec", &self.name], name, specs)
    }
}

impl Drop for NamedNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).stderr(Stdio::null()).status();
    }
}

/// Inode of the network namespace of `pid`.
fn netns_of(pid: u32) -> u64 {
    std::fs::metadata(format!("/proc/{pid}/ns/net")).unwrap().ino()
}

fn listeners_of(report: &Value, pid: u32) -> Vec<&Value> {
    report["listeners"].as_array().unwrap().iter().filter(|l| pids(l).contains(&u64::from(pid))).collect()
}

fn one(report: &Value, pid: u32, port: u16) -> &Value {
    let found: Vec<&Value> = listeners_of(report, pid).into_iter().filter(|l| l["port"] == port).collect();
    assert_eq!(found.len(), 1, "one listener of {pid} on {port}: {found:#?}");
    found[0]
}

fn schema() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/list.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).expect("the schema itself is valid")
}

#[test]
fn all_netns_finds_listeners_in_other_namespaces_and_plain_list_does_not() {
    if skip_unless_root("all_netns_finds_listeners_in_other_namespaces_and_plain_list_does_not") {
        return;
    }
    let named = NamedNs::create("list");
    let a = named.holder("pw-ns-named", &[tcp4("0.0.0.0", 0), tcp4("127.0.0.1", 0), udp6("::", 0, false)]);
    let b = Holder::start_via(&["unshare", "-n"], "pw-ns-unnamed", &[tcp4("0.0.0.0", 0), udp4("0.0.0.0", 0)]);
    let own = netns_of(std::process::id());
    assert_eq!(netns_of(a.pid()), named.inode(), "the holder runs inside the named namespace");
    assert_ne!(netns_of(b.pid()), own, "unshare -n gave the holder a namespace of its own");

    let report = json(&["list", "--all-netns", "--format", "json"]);
    let errors: Vec<String> = schema().iter_errors(&report).map(|e| format!("{e} at {}", e.instance_path)).collect();
    assert!(errors.is_empty(), "schema violations: {errors:#?}");
    assert!(report["summary"]["namespaces"].as_u64().unwrap() >= 3, "{:#}", report["summary"]);

    // The named namespace: name and inode, owners as on the host, exposure only inside the namespace.
    let wildcard = one(&report, a.pid(), a.ports[0]);
    assert_eq!(wildcard["netns"]["name"], named.name.as_str(), "{wildcard:#}");
    assert_eq!(wildcard["netns"]["inode"], named.inode());
    assert_eq!(wildcard["netns"]["current"], false);
    assert_eq!(wildcard["exposure"], "namespace", "0.0.0.0 inside a namespace is not all-interfaces of the host");
    assert_eq!(wildcard["processes"][0]["name"], "pw-ns-named");
    assert_eq!(wildcard["processes"][0]["container"], Value::Null);
    assert_eq!(one(&report, a.pid(), a.ports[1])["exposure"], "loopback");
    let v6 = one(&report, a.pid(), a.ports[2]);
    assert_eq!((&v6["exposure"], &v6["dual_stack"]), (&Value::from("namespace"), &Value::from(true)));

    // The unnamed one: its inode only.
    for (i, protocol) in [(0, "tcp"), (1, "udp")] {
        let l = one(&report, b.pid(), b.ports[i]);
        assert_eq!(l["protocol"], protocol);
        assert_eq!(l["netns"]["inode"], netns_of(b.pid()), "{l:#}");
        assert_eq!(l["netns"]["name"], Value::Null);
        assert_eq!(l["exposure"], "namespace");
        assert_eq!(l["processes"][0]["name"], "pw-ns-unnamed");
    }

    // Listeners of the current namespace are labelled with it.
    let me = Holder::start("pw-ns-host", &[tcp4("0.0.0.0", 0)]);
    let report = json(&["list", "--all-netns", "--format", "json", "--pid", &me.pid().to_string()]);
    let host = one(&report, me.pid(), me.ports[0]);
    assert_eq!((host["netns"]["inode"].as_u64(), &host["netns"]["current"]), (Some(own), &Value::from(true)));
    assert_eq!(host["exposure"], "all-interfaces");

    // A plain list is the current namespace only, as before: none of them, and no netns labels.
    let plain = json(&["list", "--format", "json"]);
    assert!(listeners_of(&plain, a.pid()).is_empty() && listeners_of(&plain, b.pid()).is_empty());
    assert!(plain["listeners"].as_array().unwrap().iter().all(|l| l["netns"].is_null()));
    assert_eq!(plain["summary"]["namespaces"], Value::Null);

    // The table: a NETNS column only with --all-netns.
    let table = run(portwarden().args(["list", "--all-netns", "--pid", &a.pid().to_string()]));
    let text = String::from_utf8_lossy(&table.stdout);
    let header = text.lines().next().unwrap();
    assert!(header.contains(" NETNS "), "{text}");
    assert!(text.lines().any(|l| l.contains(&named.name) && l.contains(&format!("{}/pw-ns-named", a.pid()))), "{text}");
    assert!(text.contains("network namespaces listed"), "{text}");
    let table = run(portwarden().args(["list", "--pid", &me.pid().to_string()]));
    assert!(!String::from_utf8_lossy(&table.stdout).lines().next().unwrap().contains("NETNS"));
}

/// Creates a listening socket inside the namespace file `ns` (with ctypes `setns`), then returns to its own
/// namespace: the process lives in the current namespace, its socket in the other.
const VISITOR: &str = r#"
import ctypes, os, socket, sys
CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)
home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
there = os.open(sys.argv[1], os.O_RDONLY)
if libc.setns(there, CLONE_NEWNET) != 0:
    print("ERROR setns", ctypes.get_errno(), flush=True); sys.exit(1)
s = socket.socket()
s.bind(("0.0.0.0", 0))
s.listen()
if libc.setns(home, CLONE_NEWNET) != 0:
    print("ERROR setns back", ctypes.get_errno(), flush=True); sys.exit(1)
print("READY", s.getsockname()[1], flush=True)
sys.stdin.read()
"#;

#[test]
fn a_named_namespace_without_processes_is_listed_with_the_owner_outside() {
    if skip_unless_root("a_named_namespace_without_processes_is_listed_with_the_owner_outside") {
        return;
    }
    use std::io::BufRead;
    let _machine = machine_shared();
    let empty = NamedNs::create("empty");
    let mut child = Command::new("python3")
        .args(["-c", VISITOR, &format!("/run/netns/{}", empty.name)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port: u16 = line.strip_prefix("READY ").and_then(|p| p.trim().parse().ok()).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("the visitor could not open its socket: {line}")
    });
    let pid = child.id();
    assert_eq!(netns_of(pid), netns_of(std::process::id()), "the owner lives in the current namespace");

    let report = json(&["list", "--all-netns", "--format", "json", "--pid", &pid.to_string()]);
    let l = one(&report, pid, port);
    assert_eq!(l["netns"]["name"], empty.name.as_str(), "{l:#}");
    assert_eq!(l["netns"]["inode"], empty.inode());
    assert_eq!(l["exposure"], "namespace");
    let plain = json(&["list", "--format", "json", "--pid", &pid.to_string()]);
    assert!(listeners_of(&plain, pid).is_empty(), "the socket is not in the current namespace");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn check_baseline_and_diff_take_namespaces_in() {
    if skip_unless_root("check_baseline_and_diff_take_namespaces_in") {
        return;
    }
    let named = NamedNs::create("check");
    let a = named.holder("pw-ns-check", &[tcp4("0.0.0.0", 0)]);
    let b = Holder::start_via(&["unshare", "-n"], "pw-ns-check2", &[tcp4("0.0.0.0", 0)]);
    let dir = tempfile::tempdir().unwrap();

    // check: a rule on the namespace name allows the named one; the unnamed one is told why not.
    let policy = dir.path().join("p.toml");
    std::fs::write(
        &policy,
        "[[allow]]\nnetns = \"pw-test-*\"\nexposure = \"namespace\"\nreason = \"test namespaces\"\n",
    )
    .unwrap();
    let out = run(portwarden().args(["check", "--all-netns", "--format", "json", "--policy"]).arg(&policy));
    let checked: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Other listeners are not allowed: exit 1; unless some process's namespace could not even be read (a sandbox
    // that refuses root its PID 1, as on some CI machines): then the check cannot pass or fail, exit 2.
    let expected = if checked["gaps"].as_array().is_some_and(|g| !g.is_empty()) { 2 } else { 1 };
    assert_eq!(out.status.code(), Some(expected), "{}", String::from_utf8_lossy(&out.stderr));
    let verdict = |pid: u32, port: u16| one(&checked, pid, port)["check"].clone();
    assert_eq!(verdict(a.pid(), a.ports[0])["verdict"], "allowed", "{:#}", verdict(a.pid(), a.ports[0]));
    let v = verdict(b.pid(), b.ports[0]);
    assert_eq!(v["verdict"], "unexpected");
    let inode = netns_of(b.pid());
    assert_eq!(v["closest"]["mismatches"][0], format!("netns {inode} does not match pw-test-*"), "{v:#}");
    let text = run(portwarden().args(["check", "--all-netns", "--policy"]).arg(&policy));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(&format!(":{} netns {inode} (namespace) {}/pw-ns-check2", b.ports[0], b.pid())), "{text}");
    // Without --all-netns neither is seen, so neither is judged.
    let out = run(portwarden().args(["check", "--format", "json", "--policy"]).arg(&policy));
    let checked: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(listeners_of(&checked, a.pid()).is_empty());

    // baseline: the named namespace becomes a netns key, and the baseline allows both.
    let out = run(portwarden().args(["baseline", "--all-netns"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let baseline = String::from_utf8(out.stdout).unwrap();
    // The holder's ephemeral port is written as the dynamic range, its path and its user. `ip netns exec` gives it
    // a mount namespace of its own, but the file at its path, seen from here, is the one it runs: verified.
    let rule = format!(
        "port = \"32768-65535\"\nprocess = \"pw-ns-check\"\nexe = \"{}\"\nuser = \"root\"\nexposure = \"namespace\"\nnetns = \"{}\"\n",
        std::fs::read_link(format!("/proc/{}/exe", a.pid())).unwrap().display(),
        named.name
    );
    assert!(baseline.contains(&rule), "{baseline}");
    assert!(baseline.contains(&format!("# in unnamed network namespace {inode}")), "{baseline}");
    // Check with the baseline's rules for our two listeners only: the whole baseline against the whole machine is
    // rules x listeners, slow on a machine that holds thousands of listeners (a benchmark running beside).
    let ours: Vec<&str> = baseline
        .split("\n\n")
        .filter(|block| {
            [(a.ports[0], "pw-ns-check"), (b.ports[0], "pw-ns-check2")].iter().any(|(port, name)| {
                block.contains(&format!("# port {port} is in the dynamic range"))
                    && block.contains(&format!("\nprocess = \"{name}\"\n"))
            })
        })
        .collect();
    assert_eq!(ours.len(), 2, "{baseline}");
    let written = dir.path().join("baseline.toml");
    std::fs::write(&written, ours.join("\n\n")).unwrap();
    let out = run(portwarden().args(["check", "--all-netns", "--format", "json", "--policy"]).arg(&written));
    let checked: Value = serde_json::from_slice(&out.stdout).unwrap();
    for (pid, port) in [(a.pid(), a.ports[0]), (b.pid(), b.ports[0])] {
        assert_eq!(one(&checked, pid, port)["check"]["verdict"], "allowed");
    }

    // diff: a snapshot with namespaces against this machine with and without --all-netns.
    let out = run(portwarden().args(["list", "--all-netns", "--format", "json"]));
    let snapshot = dir.path().join("before.json");
    std::fs::write(&snapshot, &out.stdout).unwrap();
    let ours = |diff: &Value, side: &str| -> usize {
        diff[side].as_array().unwrap().iter().filter(|l| pids(l).contains(&u64::from(a.pid()))).count()
    };
    let out = run(portwarden().args(["diff", "--all-netns", "--format", "json"]).arg(&snapshot));
    let diff: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((ours(&diff, "added"), ours(&diff, "removed")), (0, 0), "{diff:#}");
    let out = run(portwarden().args(["diff", "--format", "json"]).arg(&snapshot));
    let diff: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ours(&diff, "removed"), 1, "without --all-netns the namespace's listener is gone");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("add --all-netns"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // And the snapshot reads back with its namespaces: checked from the file, the named one is allowed.
    let out =
        run(portwarden().args(["check", "--format", "json", "--from"]).arg(&snapshot).arg("--policy").arg(&policy));
    let checked: Value = serde_json::from_slice(&out.stdout).unwrap();
    let from_file = checked["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["port"] == a.ports[0] && l["netns"]["name"] == named.name.as_str())
        .unwrap_or_else(|| panic!("{checked:#}"));
    assert_eq!(from_file["exposure"], "namespace");
    assert_eq!(from_file["check"]["verdict"], "allowed");
}

#[test]
fn watch_all_netns_records_a_listener_appearing_in_a_namespace() {
    if skip_unless_root("watch_all_netns_records_a_listener_appearing_in_a_namespace") {
        return;
    }
    let named = NamedNs::create("watch");
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("rec.ndjson");
    let mut watch = portwarden()
        .args(["watch", "--all-netns", "--interval", "100ms", "--record"])
        .arg(&recording)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&recording, "\"event\":\"started\"");
    let h = named.holder("pw-ns-watch", &[tcp4("0.0.0.0", 0)]);
    let needle = format!("\"name\":\"{}\"", named.name);
    wait_for(&recording, &needle);
    // The record of the new listener names its owner, even when the socket was opened while a scan ran (the watch
    // lists the machine once more before it records a new socket as ownerless).
    wait_for(&recording, &format!("\"pid\":{}", h.pid()));
    // SAFETY: kill has no memory preconditions; the pid is our own child, not yet reaped.
    assert_eq!(unsafe { libc::kill(watch.id() as i32, libc::SIGTERM) }, 0);
    let status = watch.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let text = std::fs::read_to_string(&recording).unwrap();
    let appeared: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| {
            e["event"] == "appeared"
                && e["listener"]["port"] == h.ports[0]
                && e["listener"]["netns"]["name"] == named.name.as_str()
        })
        .collect();
    assert_eq!(appeared.len(), 1, "one record of the new listener, with its owner: {text}");
    let event = &appeared[0];
    assert_eq!(event["listener"]["netns"]["name"], named.name.as_str());
    assert_eq!(event["listener"]["exposure"], "namespace");
    assert_eq!(event["listener"]["processes"][0]["pid"], h.pid());
}

/// Waits (up to 20 s) until `path` contains `needle`.
fn wait_for(path: &Path, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::fs::read_to_string(path).is_ok_and(|t| t.contains(needle)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} never contained {needle}", path.display());
}

fn as_nobody(args: &[&str]) -> Output {
    run(portwarden_as_nobody().args(args))
}

#[test]
fn without_root_all_netns_says_what_it_could_not_see() {
    if skip_unless_root("without_root_all_netns_says_what_it_could_not_see") {
        return;
    }
    let named = NamedNs::create("nobody");
    let a = named.holder("pw-ns-nobody", &[tcp4("0.0.0.0", 0)]);
    let b = Holder::start_via(&["unshare", "-n"], "pw-ns-nobody2", &[tcp4("0.0.0.0", 0)]);
    let out = as_nobody(&["list", "--all-netns", "--format", "json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "the current namespace is still listed: {stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(listeners_of(&report, a.pid()).is_empty() && listeners_of(&report, b.pid()).is_empty());
    let warnings = report["summary"]["warnings"].as_array().unwrap();
    let said = |needle: &str| warnings.iter().any(|w| w.as_str().is_some_and(|w| w.contains(needle)));
    // The named namespace is found (its bind mount is readable) but cannot be entered...
    let entered = format!("{} ({})", named.inode(), named.name);
    assert!(
        warnings.iter().filter_map(Value::as_str).any(|w| w.starts_with("could not enter") && w.contains(&entered)),
        "{warnings:#?}"
    );
    // ...root's processes cannot even be asked which namespace they are in.
    assert!(said("could not read the network namespace of"), "{warnings:#?}");
    assert!(said("run as root to see every network namespace"), "{warnings:#?}");
    assert!(stderr.contains("run as root to see every network namespace"), "{stderr}");
    assert_eq!(report["summary"]["namespaces"], 1, "only the current namespace was listed");

    // The table says it too.
    let out = as_nobody(&["list", "--all-netns"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("1 network namespace listed"), "{text}");
    assert!(text.contains("warning: could not enter") && text.contains(&named.name), "{text}");

    // A check that could not see those namespaces cannot pass: exit 2, even with a policy that allows anything.
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.toml");
    std::fs::write(&policy, "[[allow]]\n").unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&policy, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let out = as_nobody(&["check", "--all-netns", "--format", "json", "--policy", policy.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "a coverage gap is undecidable: {stderr}");
    let checked: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(checked["result"], "undecidable", "{checked:#}");
    assert!(stderr.contains("could not be seen"), "{stderr}");
}

#[test]
fn inside_a_rootless_container_like_confinement_all_netns_says_what_it_cannot_know() {
    if skip_unless_root("inside_a_rootless_container_like_confinement_all_netns_says_what_it_cannot_know") {
        return;
    }
    let named = NamedNs::create("rootless");
    let a = named.holder("pw-ns-rootless", &[tcp4("0.0.0.0", 0)]);
    // What a rootless container gives: root of a user namespace of its own, a PID namespace and /proc of its own.
    let out = run(Command::new("unshare")
        .args(["--user", "--map-root-user", "--pid", "--fork", "--mount-proc", bin()])
        .args(["list", "--all-netns", "--format", "json"])
        .env("NO_COLOR", "1")
        .env("PORTWARDEN_DATA_DIR", std::env::temp_dir()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["port"] != a.ports[0] || l["netns"]["current"] == true));
    assert_eq!(report["summary"]["namespaces"], 1);
    let warnings: Vec<&str> =
        report["summary"]["warnings"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(warnings.iter().any(|w| w.contains("inside a user namespace (a rootless container?)")), "{warnings:#?}");
    assert!(warnings.iter().any(|w| w.contains("PID namespace of its own")), "{warnings:#?}");
    // The bind mount under /run/netns is still visible here (the mount namespace is a copy): found, not entered.
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("could not enter") && w.contains(&named.name) && w.contains("user namespace")),
        "{warnings:#?}"
    );
}

/// A cgroup for a test, named like a container runtime's, removed when dropped (its processes moved back first).
struct TestCgroup {
    root: PathBuf,
    leaf: PathBuf,
    top: PathBuf,
}

impl TestCgroup {
    /// A directory of our own under the first writable cgroup hierarchy, cgroup v2 (then `v2_rel` below it), else
    /// v1 `pids` (then `v1_rel`).
    fn create(v2_rel: &str, v1_rel: &str) -> Option<TestCgroup> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let mut mounts: Vec<(u8, PathBuf)> = mountinfo
            .lines()
            .filter_map(|line| {
                let (left, right) = line.split_once(" - ")?;
                let point = PathBuf::from(left.split(' ').nth(4)?);
                let mut fs = right.split(' ');
                match (fs.next()?, fs.nth(1)?) {
                    ("cgroup2", _) => Some((0, point)),
                    ("cgroup", opts) if opts.split(',').any(|o| o == "pids") => Some((1, point)),
                    _ => None,
                }
            })
            .collect();
        mounts.sort();
        for (v1, root) in mounts {
            let top = root.join(format!("pw-test-{}", std::process::id()));
            let leaf = top.join(if v1 == 1 { v1_rel } else { v2_rel });
            if std::fs::create_dir_all(&leaf).is_ok() {
                return Some(TestCgroup { root, leaf, top });
            }
        }
        None
    }

    fn enter(&self, pid: u32) -> std::io::Result<()> {
        std::fs::write(self.leaf.join("cgroup.procs"), pid.to_string())
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        if let Ok(procs) = std::fs::read_to_string(self.leaf.join("cgroup.procs")) {
            for pid in procs.lines() {
                let _ = std::fs::write(self.root.join("cgroup.procs"), pid);
            }
        }
        // Deepest first.
        let mut dir = self.leaf.clone();
        while dir.starts_with(&self.top) {
            let _ = std::fs::remove_dir(&dir);
            if !dir.pop() {
                break;
            }
        }
    }
}

#[test]
fn an_owner_in_a_docker_named_cgroup_is_attributed_to_that_container() {
    let test = "an_owner_in_a_docker_named_cgroup_is_attributed_to_that_container";
    if skip_unless_root(test) {
        return;
    }
    let id = "4b825dc642cb6eb9a060e54bf8d69288fbee4904".to_string() + "0123456789abcdef01234567";
    // The systemd driver's layout in cgroup v2, the cgroupfs driver's in v1.
    let Some(cgroup) = TestCgroup::create(&format!("docker-{id}.scope"), &format!("docker/{id}")) else {
        cannot_run(test, "no writable cgroup hierarchy");
        return;
    };
    let named = NamedNs::create("docker");
    let h = named.holder("pw-ns-docker", &[tcp4("0.0.0.0", 0)]);
    if let Err(e) = cgroup.enter(h.pid()) {
        cannot_run(test, &format!("cannot move a process into a cgroup: {e}"));
        return;
    }
    let lines = std::fs::read_to_string(format!("/proc/{}/cgroup", h.pid())).unwrap();
    assert!(lines.contains(&format!("docker-{id}.scope")) || lines.contains(&format!("/docker/{id}")), "{lines}");

    let report = json(&["list", "--all-netns", "--format", "json", "--pid", &h.pid().to_string()]);
    let l = one(&report, h.pid(), h.ports[0]);
    assert_eq!(l["processes"][0]["container"], serde_json::json!({"runtime": "docker", "id": id}), "{l:#}");
    let table = run(portwarden().args(["list", "--all-netns", "--pid", &h.pid().to_string()]));
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains(&format!("{}/pw-ns-docker (root) in docker:{}", h.pid(), &id[..12])), "{text}");
    // Containers are only looked up with --all-netns.
    let report = json(&["list", "--format", "json", "--pid", &h.pid().to_string()]);
    assert!(listeners_of(&report, h.pid()).is_empty(), "not in the current namespace");

    // A policy on the container.
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.toml");
    std::fs::write(&policy, format!("[[allow]]\nport = {}\ncontainer = \"docker:{}*\"\n", h.ports[0], &id[..12]))
        .unwrap();
    let out = run(portwarden().args(["check", "--all-netns", "--format", "json", "--policy"]).arg(&policy));
    let checked: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(one(&checked, h.pid(), h.ports[0])["check"]["verdict"], "allowed");
    drop(h);
}

#[test]
fn a_cgroup_a_user_could_name_is_no_container() {
    let test = "a_cgroup_a_user_could_name_is_no_container";
    if skip_unless_root(test) {
        return;
    }
    let id = "5c825dc642cb6eb9a060e54bf8d69288fbee4904".to_string() + "0123456789abcdef01234567";
    // A docker-named scope under a user's delegated subtree (what `systemd-run --user --scope` makes), and one
    // outside it whose directory the user owns: neither is attributed to docker, so `container = "docker:*"`
    // (which baseline writes) cannot be satisfied by a name the user chose.
    for (v2, v1, chown) in [
        (
            format!("user.slice/user@65534.service/docker-{id}.scope"),
            format!("user.slice/user@65534.service/docker/{id}"),
            false,
        ),
        (format!("docker-{id}.scope"), format!("docker/{id}"), true),
    ] {
        let Some(cgroup) = TestCgroup::create(&v2, &v1) else {
            cannot_run(test, "no writable cgroup hierarchy");
            return;
        };
        if chown {
            let status = std::process::Command::new("chown").arg("65534").arg(&cgroup.leaf).status().unwrap();
            assert!(status.success());
        }
        let named = NamedNs::create("usercg");
        let h = named.holder("pw-ns-usercg", &[tcp4("0.0.0.0", 0)]);
        cgroup.enter(h.pid()).unwrap();
        let report = json(&["list", "--all-netns", "--format", "json", "--pid", &h.pid().to_string()]);
        let l = one(&report, h.pid(), h.ports[0]);
        assert_eq!(l["processes"][0]["container"], Value::Null, "{v2} (chowned: {chown}): {l:#}");
        drop(h);
    }
}

/// portwarden in a network namespace of its own (not PID 1's) judges exposure for that namespace, and says so once;
/// in PID 1's namespace it says nothing. A private PID namespace gives a PID 1 whose namespace root can read.
#[test]
fn a_run_outside_pid_1s_network_namespace_says_exposure_is_judged_there() {
    if skip_unless_root("a_run_outside_pid_1s_network_namespace_says_exposure_is_judged_there")
        || missing_tool("a_run_outside_pid_1s_network_namespace_says_exposure_is_judged_there", "unshare")
    {
        return;
    }
    let in_pid_ns = |script: &str| {
        run(Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "sh", "-c", script, "sh", bin()])
            .env("NO_COLOR", "1")
            .env("PORTWARDEN_DATA_DIR", std::env::temp_dir()))
    };
    let needle = "exposure is judged for this network namespace";
    let out = in_pid_ns("unshare --net \"$1\" list --format json");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr.matches(needle).count(), 1, "warned once: {stderr}");
    // The table says it in its last lines, with the run's other warnings.
    let out = in_pid_ns("unshare --net \"$1\" list");
    assert_eq!(String::from_utf8_lossy(&out.stdout).matches(needle).count(), 1);
    let out = in_pid_ns("\"$1\" list --format json");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains(needle), "PID 1's own namespace: no warning: {stderr}");
}

/// A namespace bind mount listed in mountinfo whose path now leads elsewhere (a directory mounted over it, where a
/// FIFO or a symbolic link sits at that name) is not followed, and a FIFO does not block the run: `--all-netns`
/// finishes and says the namespace could not be opened.
#[test]
fn all_netns_neither_blocks_on_a_fifo_nor_follows_a_link_at_a_mountinfo_path() {
    let test = "all_netns_neither_blocks_on_a_fifo_nor_follows_a_link_at_a_mountinfo_path";
    if skip_unless_root(test) || missing_tool(test, "unshare") || missing_tool(test, "timeout") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for plant in ["mkfifo \"$D/x/ns\"", "mkfifo \"$D/fifo\" && ln -s \"$D/fifo\" \"$D/x/ns\""] {
        // In a private mount namespace: bind a new network namespace at D/x/ns, mount a tmpfs over D/x, and plant
        // the FIFO (or a link to one) at D/x/ns, where mountinfo still says the namespace is.
        let script = format!(
            "set -e; mkdir -p \"$D/x\"; touch \"$D/x/ns\"; unshare --net=\"$D/x/ns\" true; \
             mount -t tmpfs tmpfs \"$D/x\"; {plant}; exec timeout 20 \"$1\" list --all-netns --format json"
        );
        let out = run(Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script, "sh", bin()])
            .env("D", dir.path())
            .env("NO_COLOR", "1")
            .env("PORTWARDEN_DATA_DIR", std::env::temp_dir()));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{plant}: finished, not blocked (124 is timeout's): {stderr}");
        assert!(stderr.contains("vanished before it could be opened"), "{plant}: {stderr}");
        let _ = std::fs::remove_dir_all(dir.path().join("x"));
        let _ = std::fs::remove_file(dir.path().join("fifo"));
    }
}
