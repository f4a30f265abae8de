//! Fitting the ecosystem: shell completions and the man page come from the same clap definition and are valid;
//! `--version` names the registry date; colour follows `--color`, NO_COLOR and CLICOLOR_FORCE.

use crate::util::*;
use std::io::Write;
use std::process::{Command, Stdio};

fn stdout_of(args: &[&str]) -> String {
    let out = run(portwarden().args(args));
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn completions_for_every_shell_name_the_subcommands() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = stdout_of(&["completions", shell]);
        for sub in ["list", "explain", "check", "baseline", "watch", "diff", "registry"] {
            assert!(script.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    // bash parses its script without error.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("portwarden.bash");
    std::fs::write(&f, stdout_of(&["completions", "bash"])).unwrap();
    let out = run(Command::new("bash").arg("-n").arg(&f));
    assert!(out.status.success(), "bash -n: {}", String::from_utf8_lossy(&out.stderr));
    let out = run(Command::new("bash").arg("-c").arg(format!("source {} && complete -p portwarden", f.display())));
    assert!(String::from_utf8_lossy(&out.stdout).contains("portwarden"), "completion not registered");
    let bad = run(portwarden().args(["completions", "tcsh"]));
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn man_page_is_valid_roff() {
    let page = stdout_of(&["man"]);
    assert!(page.contains(".TH portwarden 1"), "{page}");
    for sub in ["list", "explain", "check", "baseline", "watch", "diff", "completions"] {
        assert!(page.contains(sub), "man page lacks {sub}");
    }
    let Ok(mut groff) = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        cannot_run("man_page_is_valid_roff (rendering)", "groff is not installed");
        return;
    };
    groff.stdin.take().unwrap().write_all(page.as_bytes()).unwrap();
    let out = groff.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(out.stderr.is_empty(), "groff warnings: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn version_names_the_registry_date() {
    let v = stdout_of(&["--version"]);
    let info: serde_json::Value = serde_json::from_str(&stdout_of(&["registry", "info", "--format", "json"])).unwrap();
    let date = info["registry"]["date"].as_str().unwrap();
    assert!(v.starts_with("portwarden ") && v.contains(date), "{v}");
}

#[test]
fn colour_follows_flags_and_environment() {
    let has_ansi = |out: &std::process::Output| out.stdout.contains(&0x1b);
    let base = || {
        let mut c = Command::new(bin());
        c.args(["explain", "987/tcp"]).env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE");
        c.env("PORTWARDEN_DATA_DIR", std::env::temp_dir());
        c
    };
    assert!(!has_ansi(&run(&mut base())), "no colour into a pipe by default");
    assert!(has_ansi(&run(base().arg("--color=always"))));
    assert!(has_ansi(&run(base().env("CLICOLOR_FORCE", "1"))));
    assert!(
        !has_ansi(&run(base().env("CLICOLOR_FORCE", "1").env("NO_COLOR", "1"))),
        "NO_COLOR wins over CLICOLOR_FORCE"
    );
    assert!(!has_ansi(&run(base().arg("--color=never").env("CLICOLOR_FORCE", "1"))));
}
