//! Fail closed: when the kernel's socket list cannot be read, `list` says so and exits 2, and `check` never passes.
//! The failure is real: an LD_PRELOAD shim makes `socket(AF_NETLINK, ...)` fail with EACCES, as a seccomp filter or
//! a locked-down container would.

use crate::util::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const SHIM: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/socket.h>
int socket(int domain, int type, int protocol) {
    if (domain == AF_NETLINK) { errno = EACCES; return -1; }
    int (*real)(int, int, int) = (int (*)(int, int, int))dlsym(RTLD_NEXT, "socket");
    return real(domain, type, protocol);
}
"#;

/// Builds the shim with the system C compiler (the one Rust links with); None when there is none.
fn shim(dir: &Path) -> Option<PathBuf> {
    let src = dir.join("no_netlink.c");
    let lib = dir.join("no_netlink.so");
    std::fs::write(&src, SHIM).unwrap();
    let status = Command::new("cc").args(["-shared", "-fPIC", "-o"]).arg(&lib).arg(&src).arg("-ldl").status().ok()?;
    status.success().then_some(lib)
}

#[test]
fn netlink_refused_means_exit_2_never_an_empty_machine() {
    let dir = tempfile::tempdir().unwrap();
    let Some(lib) = shim(dir.path()) else {
        cannot_run("netlink_refused_means_exit_2_never_an_empty_machine", "no C compiler (cc) to build the shim");
        return;
    };
    let policy = dir.path().join("allow-all.toml");
    std::fs::write(&policy, "[[allow]]\n").unwrap();
    let cases: [&[&str]; 5] = [
        &["list"],
        &["list", "--format", "json"],
        &["explain", "22"],
        &["check", "--policy", policy.to_str().unwrap()],
        &["baseline"],
    ];
    for args in cases {
        let out = run(portwarden().args(args).env("LD_PRELOAD", &lib));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} must fail closed; stderr: {stderr}");
        assert!(stderr.contains("cannot list the sockets"), "{args:?}: {stderr}");
        assert!(stderr.contains("Permission denied"), "{args:?}: the cause is named: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed a partial result: {}", String::from_utf8_lossy(&out.stdout));
    }
}

#[test]
fn proc_unreadable_means_exit_2() {
    if skip_unless_root("proc_unreadable_means_exit_2") {
        return;
    }
    // A private mount namespace where /proc is an empty tmpfs: no process, hence no owner, can be seen.
    let script = format!("mount -t tmpfs none /proc && exec {} list --format json", bin());
    let out = run(Command::new("unshare").args(["--mount", "--propagation", "private", "sh", "-c", &script]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("/proc"), "{stderr}");
    assert!(out.stdout.is_empty());
}
