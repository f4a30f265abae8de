//! Descriptor tables of threads that do not share their process's. A thread created without `CLONE_FILES`, or one
//! that called `unshare(CLONE_FILES)`, has a table of its own: `/proc/PID/fd` (the leader's) does not list what it
//! opens, `/proc/PID/task/TID/fd` does. The kernel's file-table walk sees such tables (it visits every task whose
//! table differs from its leader's); the `/proc` scan looks here, for the sockets its first pass left without owner,
//! so both sources name the same owners.
//!
//! Which threads have a table of their own is asked of `kcmp(KCMP_FILES)`: one call per thread, no directory read
//! for the (usual) threads that share. Where `kcmp` is missing (a kernel without `CONFIG_KCMP`), every thread's
//! table is read.

use std::io;
use std::os::fd::AsFd;

use super::details::read_details;
use super::scan::{list_pids, parse_socket_link};
use super::syscalls::{dirent_names, getdents, nul_terminated, open_at, read_link_at, DirentBuf, DIRENT_BUF_LEN};
use super::{InodeSet, OwnerScan};
use crate::platform::linux::sys::is_permission_error;

/// `KCMP_FILES` (linux/kcmp.h): whether two tasks share one file table.
const KCMP_FILES: libc::c_int = 2;

/// The threads of process `pid` but its first (whose table `/proc/PID/fd` shows); none when it is gone.
pub(super) fn other_threads(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| t.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|&tid| tid != pid)
        .collect()
}

/// Whether thread `tid` of `pid` has a descriptor table of its own. `None`: cannot tell (no `kcmp`, or refused).
fn own_table(pid: u32, tid: u32) -> Option<bool> {
    // SAFETY: kcmp only compares kernel objects of the two tasks; no memory is passed.
    let r = unsafe { libc::syscall(libc::SYS_kcmp, pid as libc::pid_t, tid as libc::pid_t, KCMP_FILES, 0, 0) };
    match r {
        0 => Some(false),
        1..=3 => Some(true),
        _ => None,
    }
}

/// `scan` completed with the owners of the `wanted` sockets it left without owner, found in the tables of threads
/// that do not share their process's; threads whose table could not be read join its unreadable processes.
pub fn with_thread_tables(scan: io::Result<OwnerScan>, wanted: &InodeSet) -> io::Result<OwnerScan> {
    let mut scan = scan?;
    let owned: InodeSet = scan.holdings.iter().map(|&(inode, _)| inode).collect();
    let unowned: InodeSet = wanted.iter().copied().filter(|i| !owned.contains(i)).collect();
    let Ok(more) = owners_in_thread_tables(&unowned) else { return Ok(scan) };
    scan.holdings.extend(more.holdings);
    scan.holdings.sort_unstable();
    scan.holdings.dedup();
    for process in more.processes {
        if let Err(at) = scan.processes.binary_search_by_key(&process.pid, |p| p.pid) {
            scan.processes.insert(at, process);
        }
    }
    scan.unreadable.extend(more.unreadable);
    scan.unreadable.sort_by_key(|(pid, _)| *pid);
    scan.unreadable.dedup_by_key(|(pid, _)| *pid);
    Ok(scan)
}

/// Owners of the `unowned` sockets found in the tables of threads that do not share their process's: the holdings
/// `(inode, PID)` with the details of those processes, and the threads whose table could not be read.
fn owners_in_thread_tables(unowned: &InodeSet) -> io::Result<OwnerScan> {
    let mut scan = OwnerScan::default();
    if unowned.is_empty() {
        return Ok(scan);
    }
    let mut dirents = Box::new(DirentBuf([0; DIRENT_BUF_LEN]));
    let mut link = [0u8; 64];
    let mut name = [0u8; 32];
    let mut buf = Vec::new();
    for pid in list_pids()? {
        let mut found = false;
        for tid in other_threads(pid) {
            if own_table(pid, tid) == Some(false) {
                continue;
            }
            let Ok(path) = std::ffi::CString::new(format!("/proc/{pid}/task/{tid}/fd")) else { continue };
            let dir = match open_at(None, &path, libc::O_DIRECTORY) {
                Ok(dir) => dir,
                Err(e) if is_permission_error(&e) => {
                    scan.unreadable.push((pid, e));
                    continue;
                }
                Err(_) => continue, // the thread ended
            };
            loop {
                let n = match getdents(dir.as_fd(), &mut dirents.0) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                for fd in dirent_names(&dirents.0[..n]) {
                    let Some(fd) = nul_terminated(fd, &mut name) else { continue };
                    let Ok(len) = read_link_at(dir.as_fd(), fd, &mut link) else { continue };
                    if let Some(inode) = parse_socket_link(&link[..len]).filter(|i| unowned.contains(i)) {
                        scan.holdings.push((inode, pid));
                        found = true;
                    }
                }
            }
        }
        if found {
            // The process's details, through its own directory (the leader's `fd` need not be readable for that).
            let Ok(path) = std::ffi::CString::new(format!("/proc/{pid}/fd")) else { continue };
            if let Ok(fd_dir) = open_at(None, &path, libc::O_DIRECTORY | libc::O_PATH) {
                if let Some(process) = read_details(fd_dir.as_fd(), pid, None, &mut buf) {
                    scan.processes.push(process);
                }
            }
        }
    }
    scan.processes.sort_unstable_by_key(|p| p.pid);
    scan.holdings.retain(|&(_, pid)| scan.processes.binary_search_by_key(&pid, |p| p.pid).is_ok());
    scan.holdings.sort_unstable();
    scan.holdings.dedup();
    Ok(scan)
}
