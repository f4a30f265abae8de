//! What a local user controls must not steer a root run: names, paths seen through a mount namespace of their own.

use crate::util::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// As `nobody`, in a user and mount namespace of its own, a tmpfs over /usr/sbin with the stand-in copied to
/// /usr/sbin/sshd: `/proc/PID/exe` then says /usr/sbin/sshd, which is not the file that runs.
#[test]
fn a_path_seen_through_another_mount_namespace_satisfies_no_exe_rule() {
    let _machine = machine_shared();
    let test = "a_path_seen_through_another_mount_namespace_satisfies_no_exe_rule";
    if skip_unless_root(test) || ["unshare", "setpriv", "cc"].iter().any(|t| missing_tool(test, t)) {
        return;
    }
    let bin = stand_in_binary();
    let script = format!("mount -t tmpfs none /usr/sbin && cp {} /usr/sbin/sshd && exec /usr/sbin/sshd", bin.display());
    let child = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "unshare", "-Urm", "sh", "-c", &script])
        .env("PW_COMM", "sshd")
        .env("PW_PROTO", "tcp")
        .env("PW_ADDR", "127.0.0.1")
        .env("PW_PORT", "0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Killed(child);
    let child = &mut child.0;
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ok", "the stand-in did not start (unprivileged user namespaces off?)");
    let pid = child.id().to_string();
    let report = json(&["list", "--format", "json", "--pid", &pid]);
    let l = &report["listeners"][0];
    let p = &l["processes"][0];
    assert_eq!(
        (p["exe"].as_str(), p["exe_state"].as_str()),
        (Some("/usr/sbin/sshd"), Some("other-mount-namespace")),
        "{l:#}"
    );
    let port = u16::try_from(l["port"].as_u64().unwrap()).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.toml");
    std::fs::write(&policy, format!("[[allow]]\nport = {port}\nexe = \"/usr/sbin/*\"\n")).unwrap();
    let out = run(portwarden().args(["check", "--format", "json", "--policy"]).arg(&policy));
    let checked: Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = one_at(&checked, "tcp", "127.0.0.1", port);
    assert_eq!(c["check"]["verdict"], "unexpected", "{c:#}");
    let why = c["check"]["closest"]["mismatches"][0].as_str().unwrap();
    assert!(why.contains("could not be verified"), "{why}");
    assert_eq!(out.status.code(), Some(1));
    // explain says the path is not verified.
    let text = run(portwarden().args(["explain", &format!("{port}/tcp")]));
    assert!(String::from_utf8_lossy(&text.stdout).contains("path not verified: other-mount-namespace"));
}

/// Kills and reaps the child when the test ends, passed or not (its stdout pipe must not outlive the test).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
