//! Whether a process's executable path can be trusted. `/proc/PID/exe` is resolved in the owner's mount
//! namespace, so a user with `unshare -Urm` can make any path appear there (a tmpfs mounted over `/usr/sbin`, a
//! copy of python named sshd). The path is trusted only when the owner shares our mount namespace and the file at
//! that path, seen by us, is the very file the process runs (same device and inode).

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::OnceLock;

use super::syscalls::read_link_at;
use crate::model::ExeState;

/// Our own mount namespace link (`mnt:[INODE]`), read once.
fn our_mount_ns() -> Option<&'static [u8]> {
    static OURS: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    OURS.get_or_init(|| std::fs::read_link("/proc/self/ns/mnt").ok().map(|p| p.into_os_string().into_encoded_bytes()))
        .as_deref()
}

fn stat_at(dir: BorrowedFd<'_>, name: &std::ffi::CStr) -> Option<libc::stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `name` is NUL-terminated, `st` is written by the kernel on success only and read only then.
    let rc = unsafe { libc::fstatat(dir.as_raw_fd(), name.as_ptr(), st.as_mut_ptr(), 0) };
    // SAFETY: rc == 0 means the kernel filled `st`.
    (rc == 0).then(|| unsafe { st.assume_init() })
}

/// The state of the executable of the process whose `/proc/PID/fd` is open as `fd_dir`; `exe` is the path read
/// from its `exe` link. `None` when the process's files cannot be read (it then has no exe to judge either).
pub(super) fn exe_state(fd_dir: BorrowedFd<'_>, exe: &[u8]) -> Option<ExeState> {
    let mut link = [0u8; 64];
    let theirs = match read_link_at(fd_dir, c"../ns/mnt", &mut link) {
        Ok(n) => &link[..n],
        Err(_) => return Some(ExeState::Unverified),
    };
    if our_mount_ns() != Some(theirs) {
        return Some(ExeState::OtherMountNamespace);
    }
    // The running file itself (the link is followed even when the file was deleted).
    let running = stat_at(fd_dir, c"../exe")?;
    let path = exe.strip_suffix(b" (deleted)").unwrap_or(exe);
    let at_path = CString::new(path).ok().and_then(|p| {
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: `p` is NUL-terminated; `st` is read only on success.
        let rc = unsafe { libc::stat(p.as_ptr(), st.as_mut_ptr()) };
        // SAFETY: rc == 0 means the kernel filled `st`.
        (rc == 0).then(|| unsafe { st.assume_init() })
    });
    Some(match at_path {
        Some(st) if st.st_dev == running.st_dev && st.st_ino == running.st_ino => ExeState::Verified,
        Some(_) if running.st_nlink == 0 => ExeState::Replaced,
        None if running.st_nlink == 0 => ExeState::Deleted,
        _ => ExeState::Unverified,
    })
}
