//! `baseline` and `check`: a baseline passes, a new listener fails in every format, malformed policies are refused
//! with file and line, a baseline never clobbers, unknown owners make a check undecidable.

use crate::util::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn check(policy: &Path, format: &str) -> Output {
    run(portwarden().args(["check", "--policy", policy.to_str().unwrap(), "--format", format]))
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The policy's verdict on the listener on `port` held by `pid`.
fn verdict(report: &Value, port: u16, pid: u32) -> String {
    let l = report["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["port"] == port && pids(l).contains(&u64::from(pid)))
        .unwrap_or_else(|| panic!("no listener on {port} held by {pid}"));
    l["check"]["verdict"].as_str().unwrap().to_string()
}

#[test]
fn baseline_then_check_passes_and_a_new_listener_fails_in_every_format() {
    let _machine = machine_exclusive();
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("portwarden.toml");
    let old = Holder::start_exclusive("pw-expected", &[tcp4("127.0.0.1", 0), udp6("::", 0, false)]);

    let out = run(portwarden().args(["baseline", "--output", policy.to_str().unwrap()]));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&policy).unwrap();
    // An ephemeral port is written as the dynamic range (it changes when the program restarts), with the port of
    // now in a comment; the rule keys on the program instead.
    assert!(
        text.contains("port = \"32768-65535\"")
            && text.contains(&format!("port {} is in the dynamic range", old.ports[0])),
        "{text}"
    );
    // The holder runs as the user running the tests.
    let me = String::from_utf8(run(Command::new("id").arg("-un")).stdout).unwrap();
    let user = format!("user = \"{}\"", me.trim());
    assert!(text.contains("process = \"pw-expected\"") && text.contains(&user), "{text}");
    assert!(!text.contains(&format!("{}", old.pid())), "a baseline must not name PIDs:\n{text}");

    let out = check(&policy, "text");
    assert_eq!(out.status.code(), Some(0), "baseline then check must pass:\n{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("PASS"), "{}", stdout(&out));

    let new = Holder::start_exclusive("pw-intruder", &[tcp4("0.0.0.0", 0)]);
    let port = new.ports[0];

    let out = check(&policy, "text");
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let t = stdout(&out);
    assert!(t.contains("UNEXPECTED") && t.contains(&format!("0.0.0.0:{port}")) && t.contains("pw-intruder"), "{t}");
    assert!(t.contains("closest is rule"), "the closest rule is named: {t}");
    assert!(t.contains("FAIL"), "{t}");

    let out = check(&policy, "json");
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["result"], "fail");
    assert_eq!(verdict(&v, port, new.pid()), "unexpected");
    assert_eq!(verdict(&v, old.ports[0], old.pid()), "allowed");
    assert_eq!(v["tally"]["unexpected"], 1, "{:#}", v["tally"]);

    let out = check(&policy, "junit");
    assert_eq!(out.status.code(), Some(1));
    let xml = stdout(&out);
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("JUnit is not well-formed XML ({e}):\n{xml}"));
    let suites = doc.root_element();
    assert_eq!(suites.tag_name().name(), "testsuites");
    assert_eq!(suites.attribute("failures"), Some("1"));
    let cases: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("testcase")).collect();
    assert_eq!(cases.len().to_string(), suites.attribute("tests").unwrap());
    let failed: Vec<_> = cases.iter().filter(|c| c.children().any(|n| n.has_tag_name("failure"))).collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].attribute("name").unwrap().contains(&format!(":{port}")), "{xml}");

    let out = check(&policy, "github");
    assert_eq!(out.status.code(), Some(1));
    let gh = stdout(&out);
    let errors: Vec<&str> = gh.lines().filter(|l| l.starts_with("::error ")).collect();
    assert_eq!(errors.len(), 1, "{gh}");
    assert!(errors[0].contains(&format!(":{port}")) && errors[0].contains("pw-intruder"), "{gh}");
}

#[test]
fn fail_on_fails_an_allowed_listener() {
    let dir = tempfile::tempdir().unwrap();
    let h = Holder::start("pw-failon", &[tcp4("127.0.0.1", 0)]);
    let port = h.ports[0];
    let policy = dir.path().join("p.toml");
    let status = if port >= 49152 { "dynamic-range" } else { "unassigned" };
    let body = format!(
        "[settings]\nfail_on = [\"{status}\", \"obscure\"]\n\n[[allow]]\nport = {port}\nprocess = \"pw-failon\"\n"
    );
    std::fs::write(&policy, body).unwrap();
    let out = check(&policy, "json");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let verdict = verdict(&v, port, h.pid());
    let flags = one_at(&v, "tcp", "127.0.0.1", port)["flags"].clone();
    if flags.as_array().unwrap().is_empty() {
        assert_eq!(verdict, "allowed"); // an assigned, well-documented port: nothing to fail on
    } else {
        assert_eq!(verdict, "flag-failed", "{flags}");
        assert_eq!(out.status.code(), Some(1));
    }
}

#[test]
fn malformed_policies_exit_2_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &[u8], &str)] = &[
        ("port-range.toml", b"[[allow]]\nport = 70000\n", ":2:"),
        ("reversed.toml", b"[[allow]]\nport = \"9-3\"\n", ":2:"),
        ("protocol.toml", b"\n[[allow]]\nprotocol = \"sctp\"\n", ":3:"),
        ("unknown-key.toml", b"[[allow]]\nport = 22\nproces = \"sshd\"\n", ":3:"),
        ("wrong-type.toml", b"[settings]\nallow_unknown_owners = 1\n", ":2:"),
        ("duplicate.toml", b"[[allow]]\nport = 22\nport = 23\n", ":3:"),
        ("truncated.toml", b"[[allow]]\nport = \"22", ":2:"),
        ("binary.toml", b"\x00\x9f\x92\x96\xff\xfe", ":1:"),
        ("flag.toml", b"[settings]\nfail_on = [\"scary\"]\n", ":2:"),
    ];
    for (name, body, line) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        let out = check(&p, "text");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(&format!("{name}{line}")), "{name}: expected file and line {line} in: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(out.stdout.is_empty(), "{name}");
    }
    let missing = check(&dir.path().join("absent.toml"), "text");
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("absent.toml") && stderr(&missing).contains("baseline"), "{}", stderr(&missing));
}

#[test]
fn empty_policy_allows_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("empty.toml");
    std::fs::write(&policy, "").unwrap();
    let h = Holder::start("pw-empty", &[tcp4("127.0.0.1", 0)]);
    let out = check(&policy, "json");
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdict(&v, h.ports[0], h.pid()), "unexpected");
}

#[test]
fn baseline_never_clobbers() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("portwarden.toml");
    std::fs::write(&target, "# hand-edited policy\n").unwrap();
    let out = run(portwarden().args(["baseline", "--output", target.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "# hand-edited policy\n");

    let out = run(portwarden().args(["baseline", "--output", target.to_str().unwrap(), "--force"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read_to_string(&target).unwrap().contains("[settings]"));

    // A directory that does not exist: exit 2 and nothing written anywhere.
    let nowhere = dir.path().join("missing-dir").join("p.toml");
    let out = run(portwarden().args(["baseline", "--output", nowhere.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(2));
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("portwarden.toml")], "no stray temporary files");

    // Without --output the policy goes to stdout and parses back.
    let out = run(portwarden().arg("baseline"));
    assert!(out.status.success());
    let p = dir.path().join("stdout.toml");
    std::fs::write(&p, &out.stdout).unwrap();
    let reread = check(&p, "json");
    assert_ne!(reread.status.code(), Some(2), "the printed baseline must be a valid policy: {}", stderr(&reread));
}

#[test]
fn unknown_owners_make_the_check_undecidable_unless_allowed() {
    if skip_unless_root("unknown_owners_make_the_check_undecidable_unless_allowed") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let h = Holder::start("pw-hidden", &[tcp4("127.0.0.1", 0)]);
    let port = h.ports[0];
    let strict = dir.path().join("strict.toml");
    std::fs::write(&strict, format!("[[allow]]\nport = {port}\nprocess = \"pw-hidden\"\n")).unwrap();
    let lenient = dir.path().join("lenient.toml");
    std::fs::write(
        &lenient,
        format!("[settings]\nallow_unknown_owners = true\n[[allow]]\nport = {port}\nprocess = \"pw-hidden\"\n"),
    )
    .unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let as_nobody =
        |policy: &Path| run(portwarden_as_nobody().args(["check", "--format", "json", "--policy"]).arg(policy));
    let out = as_nobody(&strict);
    assert_eq!(out.status.code(), Some(2), "a check that cannot see owners must not pass: {}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let l = one_at(&v, "tcp", "127.0.0.1", port);
    assert_eq!(l["check"]["verdict"], "undecidable");
    assert_eq!(v["result"], "undecidable");
    let out = as_nobody(&lenient);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let l = one_at(&v, "tcp", "127.0.0.1", port);
    assert_eq!(l["check"]["verdict"], "allowed", "{l:#}");
}

#[test]
fn hostile_names_stay_escaped_in_every_check_format() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.toml");
    std::fs::write(&policy, "[[allow]]\nport = 1\n").unwrap();
    let h = Holder::start("<x>\x1b]0;&\"\n", &[tcp4("127.0.0.1", 0)]);
    for format in ["text", "github", "junit"] {
        let out = check(&policy, format);
        let t = stdout(&out);
        assert!(!t.contains('\x1b') && !t.contains('\x07'), "{format}: raw control characters in {t:?}");
        assert!(t.contains(&format!("{}/", h.pid())), "{format}");
    }
    let xml = stdout(&check(&policy, "junit"));
    roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("hostile name broke the XML ({e}):\n{xml}"));
    let gh = stdout(&check(&policy, "github"));
    assert!(gh.lines().all(|l| l.starts_with("::error ") || l.starts_with("::notice ")), "a name started a line: {gh}");
}

#[test]
fn example_policies_are_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/policies");
    let mut n = 0;
    // Against an empty listing: whether the policy reads must not depend on what this machine runs now.
    let empty = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(empty.path(), r#"{"schema_version": 1, "listeners": []}"#).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let out = run(portwarden()
            .args(["check", "--format", "json", "--from"])
            .arg(empty.path())
            .arg("--policy")
            .arg(&path));
        assert_ne!(out.status.code(), Some(2), "{} is not a valid policy: {}", path.display(), stderr(&out));
        n += 1;
    }
    assert!(n >= 2, "expected the sample policies in {}", dir.display());
}
