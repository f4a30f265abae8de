//! Text that others choose, in every output: CI log commands in process names and command lines, CSV cells a
//! spreadsheet would run as formulas, and registry text from an imported file (and the file itself).

use crate::util::*;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

const HEADER: &str = "Service Name,Port Number,Transport Protocol,Description,Assignee,Contact,Registration Date,Modification Date,Reference,Service Code,Unauthorized Use Reported,Assignment Notes\n";

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn err(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// No line a GitHub runner would act on: `##[` anywhere in a line, or `::` at its start (after white space).
fn assert_no_ci_commands(what: &str, output: &str) {
    for line in output.lines() {
        assert!(!line.contains("##["), "{what}: a `##[` log command reached the output: {line:?}\n{output}");
        assert!(!line.trim_start().starts_with("::"), "{what}: a line starts a `::` workflow command: {line:?}");
    }
}

/// No raw control, bidi or zero-width character (line feeds end lines).
fn assert_no_hidden_characters(what: &str, output: &str) {
    let bad: Vec<char> = output.chars().filter(|&c| c != '\n' && portwarden::text::is_unsafe_char(c)).collect();
    assert!(bad.is_empty(), "{what}: raw characters {bad:?} in\n{output}");
}

#[test]
fn ci_log_commands_in_names_and_command_lines_are_broken_in_every_text_output() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("before.json");
    std::fs::write(&snapshot, run(portwarden().args(["list", "--format", "json"])).stdout).unwrap();
    let policy = dir.path().join("p.toml");
    std::fs::write(&policy, "[[allow]]\nport = 1\n").unwrap();

    // comm keeps "##[group]pw ##[" (15 bytes); the command line starts with a log command (argv[0], set by
    // bash's `exec -a`) and has the whole name further on.
    let h = Holder::start_via(
        &[
            "bash",
            "-c",
            "p=$(readlink -f /usr/bin/python3 || command -v python3); shift; exec -a \"$0\" \"$p\" \"$@\"",
            "##[set-output name=x]1",
        ],
        "##[group]pw ##[add-mask]y ::error::y",
        &[tcp4("0.0.0.0", 0)],
    );
    let colon = Holder::start("::error::pw", &[tcp4("127.0.0.1", 0)]);
    let (port, port2) = (h.ports[0].to_string(), colon.ports[0].to_string());

    let table = run(portwarden().args(["list"]));
    let table = text(&table);
    assert!(table.contains(&format!("{}/#\\#[group]pw #\\#[", h.pid())), "name missing from the table:\n{table}");
    assert!(table.contains("Why flagged"), "the 0.0.0.0 listener of an unknown program is flagged:\n{table}");
    assert_no_ci_commands("list", &table);

    for p in [&port, &port2] {
        let explain = text(&run(portwarden().args(["explain", p])));
        assert!(explain.contains("#\\#[set-output name=x]1 -c") || p == &port2, "command line missing:\n{explain}");
        assert_no_ci_commands("explain", &explain);
    }

    let check = run(portwarden().args(["check", "--policy", policy.to_str().unwrap()]));
    assert_eq!(check.status.code(), Some(1), "{}", err(&check));
    let check = text(&check);
    assert!(check.contains(&format!("{}/#\\#[group]", h.pid())), "{check}");
    assert_no_ci_commands("check", &check);
    // GitHub annotations stay annotations, and the name inside them is broken too.
    let gh = text(&run(portwarden().args(["check", "--policy", policy.to_str().unwrap(), "--format", "github"])));
    assert!(gh.lines().all(|l| l.starts_with("::error ") || l.starts_with("::notice ")), "{gh}");
    assert!(!gh.contains("##["), "{gh}");

    let diff = run(portwarden().args(["diff", snapshot.to_str().unwrap()]));
    let diff = text(&diff);
    assert!(diff.contains(&format!(":{port} ")), "{diff}");
    assert_no_ci_commands("diff", &diff);
    drop((h, colon));

    // watch: the listeners appear and disappear while it runs.
    let _machine = machine_shared();
    let (mut watch, out_path, err_path) = start_watch(portwarden(), dir.path(), &["--interval", "200ms"]);
    let port = {
        let h = Holder::start("##[group]pw ##[add-mask]x", &[tcp4("127.0.0.1", 0)]);
        let c = Holder::start("::error::pw", &[tcp4("127.0.0.1", 0)]);
        std::thread::sleep(Duration::from_secs(1));
        drop(c);
        h.ports[0]
    };
    std::thread::sleep(Duration::from_millis(700));
    stop_watch(&mut watch, &err_path);
    let watched = std::fs::read_to_string(&out_path).unwrap();
    assert!(watched.contains(&format!("127.0.0.1:{port} ")), "{watched}");
    assert_no_ci_commands("watch", &watched);
    assert_no_ci_commands("watch stderr", &std::fs::read_to_string(&err_path).unwrap());
}

#[test]
fn csv_cells_are_escaped_and_cannot_start_formulas() {
    let h = Holder::start("=1+1\x1b]0;x\x07", &[tcp4("0.0.0.0", 0)]);
    let port = h.ports[0];
    let out = run(portwarden().args(["list", "--format", "csv", "--port", &port.to_string()]));
    assert!(out.status.success(), "{}", err(&out));
    let csv_text = text(&out);
    assert!(!csv_text.chars().any(|c| c.is_control() && c != '\n'), "raw control characters: {csv_text:?}");
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    // Another test's socket may have the same port number (UDP, IPv6): the holder's row is the one with its PID.
    let row = rows
        .iter()
        .find(|r| r[col("port")] == port.to_string() && r[col("pids")] == h.pid().to_string())
        .expect("our row");
    assert_eq!(&row[col("processes")], "'=1+1\\e]0;x\\x07");
    assert_eq!(&row[col("pids")], h.pid().to_string(), "numbers are not prefixed");
    assert!(row[col("reason")].starts_with("'=1+1\\e]0;x"), "{}", &row[col("reason")]);
    for cell in row.iter() {
        assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "a formula cell: {cell:?}");
    }
}

fn with_data(data: &Path, args: &[&str]) -> Output {
    run(Command::new(bin()).env("NO_COLOR", "1").env("PORTWARDEN_DATA_DIR", data).args(args))
}

#[test]
fn registry_import_refuses_service_names_outside_the_iana_syntax() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for (name, row) in [
        ("bidi.csv", "ssh,22,tcp,,,,,,,,,\n\"pw\u{202e}evil\",4242,tcp,x,,,,,,,,\n"),
        ("newline.csv", "ssh,22,tcp,,,,,,,,,\n\"pw\nevil\",4242,tcp,x,,,,,,,,\n"),
        ("zero-width.csv", "ssh,22,tcp,,,,,,,,,\npw\u{200b}x,4242,tcp,x,,,,,,,,\n"),
        ("ci.csv", "ssh,22,tcp,,,,,,,,,\n##[group]x,4242,tcp,x,,,,,,,,\n"),
        ("long.csv", "ssh,22,tcp,,,,,,,,,\nabcdefghijklmnop,4242,tcp,x,,,,,,,,\n"),
        ("hyphens.csv", "ssh,22,tcp,,,,,,,,,\npw--x,4242,tcp,x,,,,,,,,\n"),
    ] {
        let file = dir.path().join(name);
        std::fs::write(&file, format!("{HEADER}{row}")).unwrap();
        let out = with_data(&data, &["registry", "import", file.to_str().unwrap()]);
        let e = err(&out);
        assert_eq!(out.status.code(), Some(2), "{name} was accepted: {e}");
        assert!(e.contains(name) && e.contains("line 3") && e.contains("RFC 6335"), "{name}: {e}");
        assert_no_hidden_characters(name, &e);
        assert!(!data.join("service-names-port-numbers.csv").exists(), "{name} was stored");
    }
    // IANA's historic names outside the syntax are still accepted.
    let file = dir.path().join("legacy.csv");
    std::fs::write(&file, format!("{HEADER}z39.50,210,tcp,ANSI Z39.50,,,,,,,,\nsql*net,66,tcp,Oracle,,,,,,,,\n"))
        .unwrap();
    let out = with_data(&data, &["registry", "import", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", err(&out));
}

#[test]
fn registry_text_is_escaped_in_every_text_output() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A fixed port below the ephemeral range: no knowledge row covers it, so its silent registration is obscure.
    let h = Holder::start("pw-regtext", &[tcp4("0.0.0.0", 27413)]);
    let port = h.ports[0];
    let hostile = "\"line one\n::error::x ##[group]y \u{202e}gnp.exe \u{200b}\"";
    let file = dir.path().join("reg.csv");
    std::fs::write(
        &file,
        format!(
            "{HEADER}pw-trust,{port},tcp,,{hostile},{hostile},,,,,,{hostile}\npw-trust,{port},udp,{hostile},,,,,,,,\n"
        ),
    )
    .unwrap();
    let out = with_data(&data, &["registry", "import", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", err(&out));
    let policy = dir.path().join("p.toml");
    // Allowed, but failing on its verdict: the check report shows its IANA registration.
    std::fs::write(&policy, format!("[settings]\nfail_on = [\"review\"]\n[[allow]]\nport = {port}\n")).unwrap();
    let p = port.to_string();
    for args in [
        vec!["list"],
        vec!["explain", p.as_str()],
        vec!["check", "--policy", policy.to_str().unwrap()],
        vec!["baseline"],
        vec!["registry", "info"],
    ] {
        let out = with_data(&data, &args);
        assert_ne!(out.status.code(), Some(2), "{args:?}: {}", err(&out));
        for (what, t) in [("stdout", text(&out)), ("stderr", err(&out))] {
            assert_no_ci_commands(&format!("{args:?} {what}"), &t);
            assert_no_hidden_characters(&format!("{args:?} {what}"), &t);
        }
    }
    let explain = text(&with_data(&data, &["explain", &p]));
    assert!(explain.contains("pw-trust") && explain.contains("#\\#[group]y \\u{202e}gnp.exe"), "{explain}");
    let check = with_data(&data, &["check", "--policy", policy.to_str().unwrap()]);
    assert!(text(&check).contains("FLAGGED") && text(&check).contains("IANA: pw-trust"), "{}", text(&check));
    // The registration's flag reason quotes the assignee: escaped like the rest.
    assert!(
        explain.contains("obscure: ") && explain.contains("registered by line one\\n::error::x #\\#[group]y"),
        "{explain}"
    );
}

#[test]
fn the_imported_registry_is_never_read_through_a_link_or_from_another_user() {
    if skip_unless_root("the_imported_registry_is_never_read_through_a_link_or_from_another_user") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "TOPSECRET-first-line\nsecond\n").unwrap();

    // A link in the data directory (PORTWARDEN_DATA_DIR chosen by a user under sudo) is not followed.
    let linked = dir.path().join("linked");
    std::fs::create_dir(&linked).unwrap();
    std::os::unix::fs::symlink(&secret, linked.join("service-names-port-numbers.csv")).unwrap();
    let out = with_data(&linked, &["list", "--port", "1"]);
    assert_eq!(out.status.code(), Some(2), "{}", err(&out));
    assert!(err(&out).contains("symbolic link") && !err(&out).contains("TOPSECRET"), "{}", err(&out));

    // Another user's file there is not read; one given to `registry import` is not quoted.
    let theirs = dir.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    let planted = theirs.join("service-names-port-numbers.csv");
    std::fs::copy(&secret, &planted).unwrap();
    std::os::unix::fs::chown(&planted, Some(65534), Some(65534)).unwrap();
    let out = with_data(&theirs, &["list", "--port", "1"]);
    assert_eq!(out.status.code(), Some(2), "{}", err(&out));
    assert!(err(&out).contains("uid 65534") && !err(&out).contains("TOPSECRET"), "{}", err(&out));

    let data = dir.path().join("data");
    let out = with_data(&data, &["registry", "import", planted.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", err(&out));
    assert!(err(&out).contains("line 1") && !err(&out).contains("TOPSECRET"), "{}", err(&out));
}
