//! Hidden owners: another PID namespace and `/proc` mounted with `hidepid=invisible`. Every socket is still listed,
//! with owner unknown and the kernel's uid, counted, with a hint; `list` exits 0 and `check` refuses to pass.

use crate::util::*;
use serde_json::Value;
use std::process::{Command, Output};

fn parse(out: &Output) -> Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("invalid JSON ({e}); stderr: {stderr}"))
}

#[test]
fn another_pid_namespace_sees_sockets_without_owners() {
    if skip_unless_root("another_pid_namespace_sees_sockets_without_owners") {
        return;
    }
    let h = Holder::start("pw-pidns", &[tcp4("127.0.0.1", 0)]);
    let out = run(Command::new("unshare")
        .args(["--fork", "--pid", "--mount-proc", bin(), "list", "--format", "json"])
        .env("NO_COLOR", "1")
        .env("PORTWARDEN_DATA_DIR", std::env::temp_dir()));
    let report = parse(&out);
    let l = one_at(&report, "tcp", "127.0.0.1", h.ports[0]);
    assert_eq!(l["processes"], serde_json::json!([]), "{l:#}");
    assert_eq!((l["uid"].as_u64(), l["user"].as_str()), (Some(0), Some("root")));
    assert!(report["summary"]["owner_unknown"].as_u64().unwrap() >= 1);
    let hint = report["summary"]["hint"].as_str().unwrap_or("");
    assert!(hint.contains("PID namespace"), "{hint}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("owner unknown"));
}

#[test]
fn hidepid_invisible_hides_other_users_owners_but_not_sockets() {
    if skip_unless_root("hidepid_invisible_hides_other_users_owners_but_not_sockets") {
        return;
    }
    let root_owned = Holder::start("pw-hp-root", &[tcp4("127.0.0.1", 0)]);
    let own = Holder::start_as_nobody("pw-hp-nobody", &[tcp4("127.0.0.1", 0)]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let policy = dir.path().join("p.toml");
    let body = format!(
        "[[allow]]\nport = {}\nprocess = \"pw-hp-root\"\n\n[[allow]]\nuser = \"nobody\"\n",
        root_owned.ports[0]
    );
    std::fs::write(&policy, body).unwrap();
    // A private mount namespace with a fresh proc instance mounted hidepid=invisible, then drop to nobody.
    let script = format!(
        "mount -t proc -o hidepid=invisible proc /proc && grep -q hidepid=invisible /proc/mounts && \
         setpriv --reuid=65534 --regid=65534 --clear-groups {bin} list --format json > {dir}/list.json; echo $? > {dir}/list.rc; \
         setpriv --reuid=65534 --regid=65534 --clear-groups {bin} check --format json --policy {policy} > {dir}/check.json; echo $? > {dir}/check.rc",
        bin = bin(),
        dir = dir.path().display(),
        policy = policy.display()
    );
    let out = run(Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .env("NO_COLOR", "1"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rc = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap().trim().to_string();
    assert_eq!(rc("list.rc"), "0", "list must exit 0 with hidden owners");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("list.json")).unwrap()).unwrap();

    let hidden = one_at(&report, "tcp", "127.0.0.1", root_owned.ports[0]);
    assert_eq!(hidden["processes"], serde_json::json!([]), "root's process is invisible under hidepid: {hidden:#}");
    assert_eq!(hidden["uid"], 0);
    let visible = one_at(&report, "tcp", "127.0.0.1", own.ports[0]);
    assert_eq!(pids(visible), vec![u64::from(own.pid())], "our own user's process stays visible");
    assert!(report["summary"]["owner_unknown"].as_u64().unwrap() >= 1);
    assert!(report["summary"]["hint"].as_str().unwrap().contains("root"), "{:#}", report["summary"]);

    // The rule for the root-owned listener names a process it cannot see: the check cannot pass.
    assert_eq!(rc("check.rc"), "2");
    let check: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("check.json")).unwrap()).unwrap();
    let l = one_at(&check, "tcp", "127.0.0.1", root_owned.ports[0]);
    assert_eq!(l["check"]["verdict"], "undecidable");
}
