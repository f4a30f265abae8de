//! Files portwarden writes as root into directories other users can write: links, FIFOs and other users' files
//! are refused (exit 2, naming the file), never followed, blocked on or written to.

use crate::util::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `cmd` for at most 20 s (a `watch` that was not refused runs until killed) and returns its output.
fn run_bounded(cmd: &mut Command) -> Output {
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A directory anyone may write (as a shared one is), with a file only root should change.
fn shared_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "# root's file\n").unwrap();
    (dir, victim)
}

fn assert_refused(out: &Output, file: &Path, what: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "refused with exit 2: {err}");
    assert!(err.contains(&file.display().to_string()), "the error names {}: {err}", file.display());
    assert!(err.contains(what), "the error says {what:?}: {err}");
}

#[test]
fn watch_record_refuses_links_fifos_and_other_users_files() {
    if skip_unless_root("watch_record_refuses_links_fifos_and_other_users_files") {
        return;
    }
    let (dir, victim) = shared_dir();
    let record = |path: &Path| run_bounded(portwarden().args(["watch", "--interval", "100ms", "--record"]).arg(path));

    let link = dir.path().join("listeners.ndjson");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let out = record(&link);
    assert_refused(&out, &link, "symbolic link");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "# root's file\n", "nothing appended through the link");

    let fifo = dir.path().join("fifo.ndjson");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let out = record(&fifo);
    assert_refused(&out, &fifo, "not a regular file");

    let theirs = dir.path().join("theirs.ndjson");
    std::fs::write(&theirs, "").unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    let out = record(&theirs);
    assert_refused(&out, &theirs, "owned by uid 65534");
    assert_eq!(std::fs::read(&theirs).unwrap(), b"", "nothing written to another user's file");

    // A hard link to root's file is refused too (where the kernel allows making one).
    let hard = dir.path().join("hard.ndjson");
    std::fs::hard_link(&victim, &hard).unwrap();
    let out = record(&hard);
    assert_refused(&out, &hard, "hard link");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "# root's file\n");

    // A new recording is created private to its owner.
    let new = dir.path().join("new.ndjson");
    let mut child = portwarden()
        .args(["watch", "--interval", "100ms", "--format", "ndjson", "--record"])
        .arg(&new)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::metadata(&new).map_or(0, |m| m.len()) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(std::fs::metadata(&new).unwrap().mode() & 0o777, 0o600);
}

#[test]
fn baseline_force_refuses_to_replace_links_and_files_others_can_write() {
    let (dir, victim) = shared_dir();
    let baseline = |path: &Path, force: bool| {
        let mut c = portwarden();
        c.args(["baseline", "--output"]).arg(path);
        if force {
            c.arg("--force");
        }
        run(&mut c)
    };

    let link = dir.path().join("portwarden.toml");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    for force in [false, true] {
        let out = baseline(&link, force);
        assert_refused(&out, &link, "symbolic link");
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link is left alone");
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "# root's file\n");

    let open = dir.path().join("open.toml");
    std::fs::write(&open, "# policy\n").unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = baseline(&open, true);
    assert_refused(&out, &open, "writable by others");
    assert_eq!(std::fs::read_to_string(&open).unwrap(), "# policy\n");

    // What is written is private to its owner, and --force still replaces our own file.
    let mine = dir.path().join("mine.toml");
    let out = baseline(&mine, false);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::metadata(&mine).unwrap().mode() & 0o777, 0o600);
    let out = baseline(&mine, true);
    assert!(out.status.success(), "{}", stderr(&out));
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(!names.iter().any(|n| n.starts_with(".portwarden")), "no temporary file left: {names:?}");
}

#[test]
fn registry_import_refuses_a_link_in_the_data_dir() {
    let (dir, victim) = shared_dir();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        "Service Name,Port Number,Transport Protocol,Description,Assignee,Contact,Registration Date,\
         Modification Date,Reference,Service Code,Unauthorized Use Reported,Assignment Notes\n\
         ssh,22,tcp,Secure Shell,,,,,,,,\n",
    )
    .unwrap();
    let target = data.join("service-names-port-numbers.csv");
    std::os::unix::fs::symlink(&victim, &target).unwrap();
    let out = run(Command::new(bin()).env("PORTWARDEN_DATA_DIR", &data).args(["registry", "import"]).arg(&good));
    assert_refused(&out, &target, "symbolic link");
    assert!(std::fs::symlink_metadata(&target).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "# root's file\n");
}
