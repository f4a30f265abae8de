//! The verdict against evaluation sets written apart from the knowledge tables (`tests/eval/`): realistic machine
//! profiles (desktop Linux, servers, developer machines, Kubernetes nodes, Windows, macOS) and known-bad listeners,
//! each row with the judgement a careful admin would give and a source.
//!
//! Offline, every row is judged through `list --from` (the only way for Windows and macOS rows). Live (root), every
//! Linux row runs as a real process: a stand-in binary (`tests/eval/holder.c`) placed at the row's executable path,
//! named as the row's process, with the row's command line, holding the row's socket, in a private mount and
//! network namespace so nothing on this machine is touched or in the way.
//!
//! A false alarm is an ordinary row (truth `expected`) judged `review` or `dangerous`; a miss is a row whose truth
//! is `review` or `dangerous` judged `expected`.

use crate::util::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The set the knowledge tables were checked against while they were built.
const TUNING: &str = "listeners.csv";
/// Sets written afterwards by people who saw neither the tables nor the tuning set.
const HOLDOUTS: [&str; 2] = ["holdout.csv", "holdout2.csv"];

#[derive(Debug, Clone)]
struct Row {
    line: usize,
    profile: String,
    os: String,
    proto: String,
    address: String,
    port: u16,
    process: String,
    exe: String,
    user: String,
    cmdline: String,
    expected: String,
}

impl Row {
    fn label(&self) -> String {
        format!(
            "line {} {} {} {}/{} {} {} ({})",
            self.line, self.profile, self.os, self.port, self.proto, self.address, self.process, self.exe
        )
    }
}

fn eval_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/eval")
}

fn rows(file: &str) -> Vec<Row> {
    let mut rdr = csv::Reader::from_path(eval_dir().join(file)).unwrap();
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.unwrap();
        let f = |i: usize| rec.get(i).unwrap().to_string();
        out.push(Row {
            line: rec.position().unwrap().line() as usize,
            profile: f(0),
            os: f(1),
            proto: f(2),
            address: f(3),
            port: f(4).parse().unwrap(),
            process: f(5),
            exe: f(6),
            user: f(7),
            cmdline: f(8),
            expected: f(9),
        });
        assert!(["expected", "review", "dangerous"].contains(&out.last().unwrap().expected.as_str()));
    }
    out
}

/// False alarms and misses of a set of verdicts (row index -> verdict).
struct Score {
    ordinary: usize,
    false_alarms: Vec<String>,
    flaggable: usize,
    misses: Vec<String>,
}

impl Score {
    fn of(rows: &[(usize, &Row)], verdicts: &HashMap<usize, (String, String)>) -> Score {
        let mut s = Score { ordinary: 0, false_alarms: Vec::new(), flaggable: 0, misses: Vec::new() };
        for (i, r) in rows {
            let (v, reason) = &verdicts[i];
            if r.expected == "expected" {
                s.ordinary += 1;
                if v != "expected" {
                    s.false_alarms.push(format!("{} -> {v}: {reason}", r.label()));
                }
            } else {
                s.flaggable += 1;
                if v == "expected" {
                    s.misses.push(format!("{} (truth {}) -> expected: {reason}", r.label(), r.expected));
                }
            }
        }
        s
    }

    fn false_alarm_rate(&self) -> f64 {
        100.0 * self.false_alarms.len() as f64 / self.ordinary.max(1) as f64
    }

    fn flagged_rate(&self) -> f64 {
        100.0 * (self.flaggable - self.misses.len()) as f64 / self.flaggable.max(1) as f64
    }

    fn report(&self, name: &str) -> String {
        format!(
            "{name}: false alarms {}/{} = {:.1}%, flagged {}/{} = {:.1}%\n  false alarms:\n    {}\n  misses:\n    {}",
            self.false_alarms.len(),
            self.ordinary,
            self.false_alarm_rate(),
            self.flaggable - self.misses.len(),
            self.flaggable,
            self.flagged_rate(),
            self.false_alarms.join("\n    "),
            self.misses.join("\n    ")
        )
    }
}

/// A listener record as `list --format json` writes it, enough for `--from`. The row index rides in `uid` (a
/// number the verdict does not read) so each result finds its row.
fn snapshot_listener(i: usize, r: &Row) -> Value {
    let processes = if r.process.is_empty() {
        json!([])
    } else {
        json!([{ "pid": 1000 + i, "name": r.process, "exe": (!r.exe.is_empty()).then_some(&r.exe),
                 "cmdline": r.cmdline, "user": r.user, "uid": null, "container": null }])
    };
    json!({ "protocol": r.proto, "address": r.address, "port": r.port, "uid": 1_000_000 + i, "processes": processes })
}

/// Judges every row through `list --from`, one snapshot per operating system.
fn judge_offline(rows: &[Row]) -> HashMap<usize, (String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let mut by_os: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        by_os.entry(&r.os).or_default().push(snapshot_listener(i, r));
    }
    let mut out = HashMap::new();
    for (os, listeners) in by_os {
        let file = dir.path().join(format!("{os}.json"));
        let snap = json!({ "schema_version": 1, "listeners": listeners, "summary": { "os": os, "warnings": [] } });
        std::fs::write(&file, serde_json::to_vec(&snap).unwrap()).unwrap();
        let report = json(&["list", "--from", file.to_str().unwrap(), "--format", "json"]);
        assert_eq!(report["summary"]["os"], os, "the snapshot's system is the one judged for");
        for l in report["listeners"].as_array().unwrap() {
            let i = (l["uid"].as_u64().unwrap() - 1_000_000) as usize;
            out.insert(i, (l["verdict"].as_str().unwrap().to_string(), l["reason"].as_str().unwrap().to_string()));
        }
    }
    assert_eq!(out.len(), rows.len(), "every row judged once");
    out
}

#[test]
fn evaluation_sets_offline() {
    let tuning = rows(TUNING);
    let all: Vec<(usize, &Row)> = tuning.iter().enumerate().collect();
    let score = Score::of(&all, &judge_offline(&tuning));
    println!("{}", score.report(TUNING));
    for os in ["linux", "windows", "macos"] {
        let some: Vec<(usize, &Row)> = all.iter().copied().filter(|(_, r)| r.os == os).collect();
        let s = Score::of(&some, &judge_offline(&tuning));
        println!("{TUNING} {os}: false alarms {:.1}%, flagged {:.1}%", s.false_alarm_rate(), s.flagged_rate());
    }
    assert!(tuning.len() >= 100 && score.flaggable >= 40, "a set large enough to mean something");
    assert!(score.false_alarm_rate() <= 3.0, "{}", score.report(TUNING));
    assert!(score.flagged_rate() >= 95.0, "{}", score.report(TUNING));

    // The held-out sets: reported, and the first held to the figures the README states (no worse).
    let set = rows(HOLDOUTS[0]);
    let all: Vec<(usize, &Row)> = set.iter().enumerate().collect();
    let score = Score::of(&all, &judge_offline(&set));
    println!("{}", score.report(HOLDOUTS[0]));
    assert!(score.false_alarm_rate() <= HOLDOUT_MAX_FALSE_ALARMS, "{}", score.report(HOLDOUTS[0]));
    assert!(score.flagged_rate() >= HOLDOUT_MIN_FLAGGED, "{}", score.report(HOLDOUTS[0]));
    if eval_dir().join(HOLDOUTS[1]).exists() {
        let set = rows(HOLDOUTS[1]);
        let all: Vec<(usize, &Row)> = set.iter().enumerate().collect();
        println!("{}", Score::of(&all, &judge_offline(&set)).report(HOLDOUTS[1]));
    }
}

/// The first held-out set's figures as the README states them.
const HOLDOUT_MAX_FALSE_ALARMS: f64 = 15.0;
const HOLDOUT_MIN_FLAGGED: f64 = 97.0;

// ---------------------------------------------------------------------------------------------------------------
// Live

/// A private mount and network namespace, kept alive by a sleeping process, with loopback up and an interface
/// carrying the rows' network addresses.
struct Sandbox {
    sleeper: Child,
    /// Bind mounts made inside it, undone at the end; files and directories created on the real file system.
    mounts: Vec<PathBuf>,
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
}

impl Sandbox {
    fn new(addresses: &BTreeSet<String>) -> Sandbox {
        let sleeper = Command::new("unshare")
            .args(["--mount", "--net", "--propagation", "private", "--", "sleep", "900"])
            .spawn()
            .expect("unshare");
        let ours = std::fs::read_link("/proc/self/ns/net").unwrap();
        let pid = sleeper.id();
        for _ in 0..500 {
            if std::fs::read_link(format!("/proc/{pid}/ns/net")).is_ok_and(|n| n != ours) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let sb = Sandbox { sleeper, mounts: Vec::new(), files: Vec::new(), dirs: Vec::new() };
        sb.run(&["ip", "link", "set", "lo", "up"]);
        // A veth pair with both ends inside (the kernel may have no dummy interfaces): pw0 carries the addresses.
        sb.run(&["ip", "link", "add", "pw0", "type", "veth", "peer", "name", "pw1"]);
        sb.run(&["ip", "link", "set", "pw1", "up"]);
        sb.run(&["ip", "link", "set", "pw0", "up"]);
        for a in addresses {
            if a.contains(':') {
                sb.run(&["ip", "-6", "addr", "add", &format!("{a}/128"), "dev", "pw0", "nodad"]);
            } else {
                sb.run(&["ip", "addr", "add", &format!("{a}/32"), "dev", "pw0"]);
            }
        }
        sb
    }

    fn enter(&self) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.args(["-t", &self.sleeper.id().to_string(), "-m", "-n", "--"]);
        cmd
    }

    fn run(&self, args: &[&str]) {
        let out = self.enter().args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Makes `path` the stand-in binary, inside the sandbox: a bind mount over an existing file, else a new file.
    fn place(&mut self, holder: &Path, path: &Path) {
        if path.exists() {
            if !self.mounts.iter().any(|m| m == path) {
                self.run(&["mount", "--bind", holder.to_str().unwrap(), path.to_str().unwrap()]);
                self.mounts.push(path.to_path_buf());
            }
            return;
        }
        let mut missing = Vec::new();
        let mut dir = path.parent();
        while let Some(d) = dir.filter(|d| !d.exists()) {
            missing.push(d.to_path_buf());
            dir = d.parent();
        }
        for d in missing.iter().rev() {
            std::fs::create_dir(d).unwrap();
            self.dirs.push(d.clone());
        }
        std::fs::copy(holder, path).unwrap();
        self.files.push(path.to_path_buf());
    }

    /// Undoes the bind mounts and removes what was created, newest first.
    fn clean(&mut self) {
        for m in std::mem::take(&mut self.mounts).into_iter().rev() {
            let _ = self.enter().args(["umount", m.to_str().unwrap()]).output();
        }
        for f in self.files.drain(..).rev() {
            let _ = std::fs::remove_file(f);
        }
        for d in self.dirs.drain(..).rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.clean();
        let _ = self.sleeper.kill();
        let _ = self.sleeper.wait();
    }
}

/// Rows run at once must not want the same port (a wildcard and a specific address of one port do not mix) nor,
/// for a deleted executable, share its path.
type Batch = (BTreeSet<(String, bool, u16)>, BTreeSet<String>, Vec<(usize, Row)>);

fn batches(rows: &[(usize, &Row)]) -> Vec<Vec<(usize, Row)>> {
    let mut out: Vec<Batch> = Vec::new();
    for (i, r) in rows {
        let key = (r.proto.clone(), r.address.contains(':'), r.port);
        let path = r.exe.trim_end_matches(" (deleted)").to_string();
        let deleted = r.exe.ends_with(" (deleted)");
        let fits = out.iter_mut().find(|(ports, paths, _)| {
            let taken = ports.contains(&key) || paths.contains(&format!("deleted:{path}"));
            !(taken || deleted && paths.contains(&path))
        });
        let batch = match fits {
            Some(b) => b,
            None => {
                out.push((BTreeSet::new(), BTreeSet::new(), Vec::new()));
                out.last_mut().unwrap()
            }
        };
        batch.0.insert(key);
        batch.1.insert(if deleted { format!("deleted:{path}") } else { path.clone() });
        batch.1.insert(path);
        batch.2.push((*i, (*r).clone()));
    }
    out.into_iter().map(|(_, _, b)| b).collect()
}

#[test]
fn linux_rows_judged_live() {
    // Its listeners live in a namespace of their own, but its helpers (ip, nsenter, mount) run beside other tests.
    let _machine = machine_shared();
    if skip_unless_root("linux_rows_judged_live") {
        return;
    }
    if ["cc", "unshare", "nsenter", "ip", "mount"].iter().any(|t| missing_tool("linux_rows_judged_live", t)) {
        return;
    }
    let tuning = rows(TUNING);
    let live: Vec<(usize, &Row)> = tuning
        .iter()
        .enumerate()
        .filter(|(_, r)| r.os == "linux" && !r.process.is_empty() && !r.exe.is_empty())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let holder = dir.path().join("holder");
    let cc = Command::new("cc").args(["-O2", "-o"]).arg(&holder).arg(eval_dir().join("holder.c")).output().unwrap();
    assert!(cc.status.success(), "{}", String::from_utf8_lossy(&cc.stderr));
    let addresses: BTreeSet<String> = live
        .iter()
        .map(|(_, r)| r.address.clone())
        .filter(|a| {
            let ip: std::net::IpAddr = a.parse().unwrap();
            !ip.is_loopback() && !ip.is_unspecified()
        })
        .collect();
    let mut sandbox = Sandbox::new(&addresses);
    let mut verdicts: HashMap<usize, (String, String)> = HashMap::new();
    let mut failures = Vec::new();
    for batch in batches(&live) {
        let mut running: Vec<(usize, Child)> = Vec::new();
        for (i, r) in &batch {
            let path = PathBuf::from(r.exe.trim_end_matches(" (deleted)"));
            sandbox.place(&holder, &path);
            let argv: Vec<&str> = match r.cmdline.split_whitespace().collect::<Vec<_>>() {
                v if v.is_empty() => vec![path.to_str().unwrap()],
                v => v,
            };
            let mut child = sandbox
                .enter()
                .arg(&holder)
                .args(&argv)
                .env("PW_EXEC", &path)
                .env("PW_COMM", &r.process)
                .env("PW_PROTO", &r.proto)
                .env("PW_ADDR", &r.address)
                .env("PW_PORT", r.port.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut line = String::new();
            BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
            if line.trim() != "ok" {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                failures.push(format!("{}: did not start: {}", r.label(), String::from_utf8_lossy(&out.stderr)));
                continue;
            }
            if r.exe.ends_with(" (deleted)") {
                std::fs::remove_file(&path).unwrap();
                sandbox.files.retain(|f| f != &path);
            }
            running.push((*i, child));
        }
        let out = sandbox.enter().args([bin(), "list", "--format", "json"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        for (i, child) in &running {
            let pid = u64::from(child.id());
            let found = report["listeners"].as_array().unwrap().iter().find(|l| pids(l).contains(&pid));
            match found {
                Some(l) => {
                    let v = (l["verdict"].as_str().unwrap().to_string(), l["reason"].as_str().unwrap().to_string());
                    verdicts.insert(*i, v);
                }
                None => failures.push(format!("{}: its listener was not listed", tuning[*i].label())),
            }
        }
        for (_, mut child) in running {
            let _ = child.kill();
            let _ = child.wait();
        }
        sandbox.clean();
    }
    assert!(failures.is_empty(), "rows that could not be run live:\n{}", failures.join("\n"));
    let score = Score::of(&live, &verdicts);
    println!("live ({} Linux rows): {}", live.len(), score.report(TUNING));
    assert!(live.len() >= 100, "most Linux rows run live");
    assert!(score.false_alarm_rate() <= 3.0, "{}", score.report(TUNING));
    assert!(score.flagged_rate() >= 95.0, "{}", score.report(TUNING));
}

#[test]
fn list_from_judges_a_saved_listing_and_refuses_a_malformed_one() {
    let dir = tempfile::tempdir().unwrap();
    // A Windows listing judged here: lsass on an RPC port of the dynamic range is expected there, python on 445 not.
    let snap = json!({ "schema_version": 1, "summary": { "os": "windows", "warnings": [] }, "listeners": [
        { "protocol": "tcp", "address": "0.0.0.0", "port": 49664, "processes": [{ "pid": 700, "name": "lsass.exe",
          "exe": "C:\\Windows\\System32\\lsass.exe", "cmdline": "C:\\Windows\\system32\\lsass.exe", "user": "SYSTEM" }] },
        { "protocol": "tcp", "address": "0.0.0.0", "port": 445, "processes": [{ "pid": 800, "name": "python.exe",
          "exe": "C:\\Users\\Public\\python.exe", "cmdline": "python.exe -m smb", "user": "bob" }] } ] });
    let file = dir.path().join("windows.json");
    std::fs::write(&file, serde_json::to_vec(&snap).unwrap()).unwrap();
    let report = json(&["list", "--from", file.to_str().unwrap(), "--format", "json"]);
    let verdicts: Vec<(u64, &str)> = report["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["port"].as_u64().unwrap(), l["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(verdicts, [(445, "dangerous"), (49664, "expected")], "{report:#}");
    assert_eq!(report["summary"]["os"], "windows");

    for (text, wanted) in [
        ("{\"schema_version\": 1, \"listeners\": [{\"protocol\": \"tcp\"}]}", "port"),
        ("{\"schema_version\": 1, \"listeners\": [{\"protocol\": \"sctp\", \"address\": \"::\", \"port\": 1, \"processes\": []}]}", "sctp"),
        ("not json", "expected"),
    ] {
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, text).unwrap();
        let out = run(portwarden().args(["list", "--from", bad.to_str().unwrap()]));
        assert_eq!(out.status.code(), Some(2), "{text}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("bad.json") && err.contains(wanted), "{text}: {err}");
    }
}
