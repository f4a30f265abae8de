//! Churn: processes that open listeners and exit within milliseconds while portwarden scans. Every run exits 0 with
//! valid output, long-lived listeners are never lost, and no socket is attributed to a process that did not hold it.

use crate::util::*;
use serde_json::Value;
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};

/// Forks children for `seconds`; each names itself pwc-N, binds a TCP listener (some also a UDP socket), logs
/// "PORT NAME" to the log, lives a few milliseconds and exits.
const CHURN: &str = r#"
import os, random, socket, sys, time
log, seconds, tag = sys.argv[1], float(sys.argv[2]), sys.argv[3]
end = time.time() + seconds
n = 0
while time.time() < end:
    n += 1
    pid = os.fork()
    if pid == 0:
        name = "pwc-%s%d" % (tag, n)
        with open("/proc/self/comm", "w") as f:
            f.write(name)
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        fd = os.open(log, os.O_WRONLY | os.O_APPEND)
        os.write(fd, ("%d %s\n" % (s.getsockname()[1], name)).encode())
        if n % 3 == 0:
            u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            u.bind(("::1", 0))
        time.sleep(random.random() * 0.005)
        os._exit(0)
    os.waitpid(pid, 0)
"#;

struct Churn(Child);

impl Drop for Churn {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn churn(log: &std::path::Path, seconds: f64, tag: &str) -> Churn {
    let child = Command::new("python3")
        .args(["-c", CHURN, log.to_str().unwrap(), &seconds.to_string(), tag])
        .stdin(Stdio::null())
        .spawn()
        .expect("start churn generator");
    Churn(child)
}

#[test]
fn scans_during_churn_stay_valid_and_attribute_correctly() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("ports.log");
    std::fs::write(&log, "").unwrap();
    let stable = Holder::start("pw-stable", &[tcp4("127.0.0.1", 0), udp6("::1", 0, true)]);
    let _machine = machine_shared();
    let churners = [churn(&log, 4.0, "a"), churn(&log, 4.0, "b")];
    let mut reports = Vec::new();
    let start = std::time::Instant::now();
    // Scan for three seconds (at least 25 times) while the children come and go.
    for round in 0.. {
        if round >= 25 && start.elapsed() > std::time::Duration::from_secs(3) {
            break;
        }
        let out = run(portwarden().args(["list", "--format", "json"]));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "round {round}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let report: Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("round {round}: invalid JSON ({e})"));
        for (proto, port) in [("tcp", stable.ports[0]), ("udp", stable.ports[1])] {
            let found = on_port(&report, proto, port);
            assert!(
                found.iter().any(|l| pids(l) == vec![u64::from(stable.pid())]),
                "round {round}: the long-lived {proto} listener on {port} was lost or misattributed: {found:#?}"
            );
        }
        reports.push(report);
    }
    drop(churners);
    // Which churn child held which port, as the children logged it.
    let held: HashMap<u64, Vec<String>> =
        std::fs::read_to_string(&log).unwrap().lines().fold(HashMap::new(), |mut m, line| {
            if let Some((port, name)) = line.split_once(' ') {
                m.entry(port.parse().unwrap()).or_default().push(name.to_string());
            }
            m
        });
    assert!(held.len() > 50, "the churn generator opened only {} listeners", held.len());
    let mut churn_seen = 0;
    for report in &reports {
        for l in report["listeners"].as_array().unwrap() {
            if l["protocol"] != "tcp" {
                continue;
            }
            for p in l["processes"].as_array().unwrap() {
                let name = p["name"].as_str().unwrap();
                if !name.starts_with("pwc-") {
                    continue;
                }
                churn_seen += 1;
                let port = l["port"].as_u64().unwrap();
                let holders = held.get(&port).cloned().unwrap_or_default();
                assert!(
                    holders.iter().any(|h| h == name),
                    "tcp port {port} attributed to {name} (pid {}), but it was held by {holders:?}",
                    p["pid"]
                );
            }
        }
    }
    eprintln!("churn: {} short-lived listeners, {churn_seen} attributions checked", held.len());
}

/// Recycles UDP sockets as fast as it can for `seconds`: holds 50 bound to ports of its own range (`base .. base +
/// 500`), and over and over closes the oldest and binds a new one, which takes the slot just freed (and often
/// another process's freed `struct file`). Prints how many sockets it made.
const RECYCLE: &str = r#"
import collections, os, socket, sys, time
name, base, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
with open("/proc/self/comm", "w") as f:
    f.write(name)
held, n, port = collections.deque(), 0, base
end = time.time() + seconds
while time.time() < end:
    for _ in range(100):
        if len(held) >= 50:
            held.popleft().close()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind(("127.0.0.1", port))
            held.append(s)
            n += 1
        except OSError:
            s.close()
        port = base + (port - base + 1) % 500
print(n, flush=True)
"#;

/// Processes recycling descriptors as fast as they can, each binding only ports of its own range, while listings
/// run with owners from the kernel's file tables (the BPF walk, whose slot reads are not locked): no port may ever
/// be listed with a process whose range it is not in. Without root the `/proc` scan answers; the test runs all the
/// same.
#[test]
fn recycled_descriptors_are_never_credited_to_another_process() {
    let _machine = machine_shared();
    let base = 47_000u16;
    let recyclers: Vec<Churn> = (0..3u16)
        .map(|k| {
            let child = Command::new("python3")
                .args(["-c", RECYCLE, &format!("pwr-{k}"), &(base + k * 500).to_string(), "4"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .expect("start recycler");
            Churn(child)
        })
        .collect();
    let source = if is_root() { "bpf" } else { "auto" };
    let start = std::time::Instant::now();
    let mut checked = 0;
    for round in 0.. {
        if round >= 15 && start.elapsed() > std::time::Duration::from_secs(3) {
            break;
        }
        let out = run(portwarden().args(["list", "--format", "json"]).env("PORTWARDEN_OWNERS", source));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "round {round}: {stderr}");
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        for l in report["listeners"].as_array().unwrap() {
            let port = l["port"].as_u64().unwrap();
            if l["protocol"] != "udp" || !(u64::from(base)..u64::from(base) + 1500).contains(&port) {
                continue;
            }
            for p in l["processes"].as_array().unwrap() {
                let name = p["name"].as_str().unwrap();
                if let Some(k) = name.strip_prefix("pwr-") {
                    checked += 1;
                    let range = u64::from(base) + 500 * k.parse::<u64>().unwrap();
                    assert!(
                        (range..range + 500).contains(&port),
                        "round {round}: udp/{port} listed with {name} (pid {}), which binds only {range}..{}",
                        p["pid"],
                        range + 500
                    );
                }
            }
        }
    }
    drop(recyclers);
    eprintln!("recycling: {checked} attributions checked ({source})");
}
