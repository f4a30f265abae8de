//! The GitHub Action's scripts (`action/*.sh`, run by `action.yml`) outside GitHub: the runner's variables point
//! into a temporary directory. Install from release files (served as file:// URLs), the fallback to `cargo install`,
//! recording while a listener comes and goes, and the check's annotations, JUnit report, outputs and exit codes.

use crate::util::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("action").join(name)
}

/// A runner's environment in `dir`: RUNNER_TEMP, GITHUB_OUTPUT, GITHUB_PATH, and PATH with `bin_dir` first.
fn runner(dir: &Path, bin_dir: &Path, name: &str) -> Command {
    let mut c = Command::new("bash");
    c.arg(script(name));
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![bin_dir.to_path_buf()];
    paths.extend(std::env::split_paths(&path));
    c.env("PATH", std::env::join_paths(paths).unwrap())
        .env("RUNNER_TEMP", dir.join("temp"))
        .env("RUNNER_OS", "Linux")
        .env("RUNNER_ARCH", "X64")
        .env("GITHUB_OUTPUT", dir.join("output"))
        .env("GITHUB_PATH", dir.join("path"))
        .env("NO_COLOR", "1")
        .current_dir(dir);
    std::fs::create_dir_all(dir.join("temp")).unwrap();
    c
}

fn said(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A release directory as `cargo xtask dist` lays it out, with this build's binary in the tarball.
fn fake_release(dir: &Path, version: &str) -> PathBuf {
    let release = dir.join("releases/download").join(format!("v{version}"));
    let name = format!("portwarden-{version}-x86_64-unknown-linux-musl");
    let stage = dir.join("stage").join(&name);
    std::fs::create_dir_all(&stage).unwrap();
    std::fs::create_dir_all(&release).unwrap();
    std::fs::copy(bin(), stage.join("portwarden")).unwrap();
    let tarball = format!("{name}.tar.gz");
    let out =
        run(Command::new("tar").arg("-czf").arg(release.join(&tarball)).arg("-C").arg(dir.join("stage")).arg(&name));
    assert!(out.status.success(), "{}", said(&out));
    std::fs::write(release.join("other.zip"), b"not this one").unwrap();
    let out = run(Command::new("sha256sum").args([tarball.as_str(), "other.zip"]).current_dir(&release));
    std::fs::write(release.join("SHA256SUMS"), &out.stdout).unwrap();
    release
}

#[test]
fn action_installs_from_release_files_and_falls_back_to_cargo() {
    if missing_tool("action_installs_from_release_files_and_falls_back_to_cargo", "curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let release = fake_release(d, "9.8.7");
    let releases = format!("file://{}", d.join("releases").display());
    // A `cargo` that records how it was called, standing in for the fallback's real build.
    let fake = d.join("fakebin");
    std::fs::create_dir_all(&fake).unwrap();
    std::fs::write(fake.join("cargo"), format!("#!/bin/sh\necho \"$@\" > {}/cargo-args\nexit 3\n", d.display()))
        .unwrap();
    run(Command::new("chmod").arg("+x").arg(fake.join("cargo")));

    let install = |version: &str| {
        run(runner(d, &fake, "install.sh")
            .env("PW_VERSION", version)
            .env("PW_REPOSITORY", "someone/portwarden")
            .env("PW_RELEASES", &releases))
    };
    let out = install("9.8.7");
    assert!(out.status.success(), "{}", said(&out));
    let installed = d.join("temp/portwarden/bin/portwarden");
    assert!(said(&out).contains("installed portwarden-9.8.7-x86_64-unknown-linux-musl.tar.gz"), "{}", said(&out));
    assert!(said(&out).contains("portwarden 0."), "the installed binary runs: {}", said(&out));
    let path = std::fs::read_to_string(d.join("path")).unwrap();
    assert_eq!(path.trim(), d.join("temp/portwarden/bin").display().to_string());
    assert!(installed.is_file());
    assert!(!d.join("cargo-args").exists(), "no fallback when the release file is good");

    // A tarball that does not match SHA256SUMS is refused, and the fallback builds the same version from source.
    let tarball = release.join("portwarden-9.8.7-x86_64-unknown-linux-musl.tar.gz");
    let mut bytes = std::fs::read(&tarball).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&tarball, bytes).unwrap();
    let out = install("v9.8.7");
    assert!(!out.status.success(), "the fake cargo fails, so must the install: {}", said(&out));
    assert!(
        said(&out).contains(
            "::error title=portwarden::portwarden-9.8.7-x86_64-unknown-linux-musl.tar.gz does not match SHA256SUMS"
        ),
        "{}",
        said(&out)
    );
    assert!(said(&out).contains("::warning title=portwarden::no usable release file"), "{}", said(&out));
    let args = std::fs::read_to_string(d.join("cargo-args")).unwrap();
    assert!(
        args.contains("install --locked") && args.contains("--git https://github.com/someone/portwarden"),
        "{args}"
    );
    assert!(args.contains("--tag v9.8.7") && args.trim_end().ends_with("portwarden"), "{args}");

    // No release file for this runner: straight to the fallback, `latest` without a tag.
    std::fs::remove_file(d.join("cargo-args")).unwrap();
    let out = run(runner(d, &fake, "install.sh")
        .env("RUNNER_OS", "Windows")
        .env("PW_VERSION", "latest")
        .env("PW_REPOSITORY", "someone/portwarden")
        .env("PW_RELEASES", &releases));
    assert!(!out.status.success());
    assert!(said(&out).contains("no release file for Windows/X64"), "{}", said(&out));
    let args = std::fs::read_to_string(d.join("cargo-args")).unwrap();
    assert!(!args.contains("--tag"), "{args}");
}

/// Runs start.sh, holds a listener for a moment, then check.sh with `policy`.
fn record_and_check(d: &Path, policy: &str) -> (Output, u16) {
    let bin_dir = d.join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let link = bin_dir.join("portwarden");
    if !link.exists() {
        std::os::unix::fs::symlink(bin(), &link).unwrap();
    }
    let _ = std::fs::remove_file(d.join("output"));
    let out = run(runner(d, &bin_dir, "start.sh").env("PW_INTERVAL", "100ms"));
    assert!(out.status.success(), "start.sh: {}", said(&out));
    assert!(said(&out).contains("portwarden: watching"), "{}", said(&out));
    let h = Holder::start("pw-action", &[tcp4("127.0.0.1", 0)]);
    let port = h.ports[0];
    std::thread::sleep(std::time::Duration::from_millis(400));
    let policy = policy.replace("PORT_BELOW", &(port - 1).to_string()).replace("PORT_ABOVE", &(port + 1).to_string());
    std::fs::write(d.join("policy.toml"), policy).unwrap();
    let out = run(runner(d, &bin_dir, "check.sh")
        .env("PW_POLICY", "policy.toml")
        .env("PW_JUNIT", "junit.xml")
        .env("PW_FAIL", "true"));
    drop(h);
    (out, port)
}

#[test]
fn action_records_while_steps_run_and_checks_the_recording() {
    let _hold = machine_shared();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Every port but the listener's: it alone is unexpected (the machine's other listeners, including other tests',
    // are allowed whatever they are).
    let (out, port) =
        record_and_check(d, "[settings]\nfail_on = []\n\n[[allow]]\nport = [\"0-PORT_BELOW\", \"PORT_ABOVE-65535\"]\n");
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    let text = said(&out);
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("::error")).collect();
    assert_eq!(errors.len(), 1, "one annotation, for the listener: {text}");
    assert!(errors[0].contains(&port.to_string()) && errors[0].contains("pw-action"), "{}", errors[0]);
    let junit = std::fs::read_to_string(d.join("junit.xml")).unwrap();
    assert!(junit.contains("<failure") && junit.contains(&port.to_string()), "{junit}");
    let outputs = std::fs::read_to_string(d.join("output")).unwrap();
    assert!(outputs.contains("exit-code=1\n") && outputs.contains("junit=junit.xml\n"), "{outputs}");
    let recording = d.join("temp/portwarden/listeners.ndjson");
    let events = std::fs::read_to_string(&recording).unwrap();
    assert!(events.lines().last().unwrap().contains("\"event\":\"stopped\""), "the recorder was stopped cleanly");
    assert!(events.contains(&format!("\"port\":{port}")), "the listener is in the recording");

    // The same with every port allowed: exit 0, no annotation.
    let (out, _) = record_and_check(d, "[settings]\nfail_on = []\n\n[[allow]]\nport = \"0-65535\"\n");
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(!said(&out).contains("::error"), "{}", said(&out));
    // check.sh without a recorder: exit 2, said as an annotation.
    let out =
        run(runner(d, d, "check.sh").env("PW_POLICY", "policy.toml").env("PW_JUNIT", "j.xml").env("PW_FAIL", "true"));
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(said(&out).contains("::error title=portwarden::no recorder was started"), "{}", said(&out));
}
