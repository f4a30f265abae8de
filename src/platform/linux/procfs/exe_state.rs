//! Whether a process's executable path can be trusted. `/proc/PID/exe` is resolved in the owner's mount
//! namespace, so a user with `unshare -Urm` can make any path appear there (a tmpfs mounted over `/usr/sbin`, a
//! copy of python named sshd). The path is trusted only when the file at that path, seen from our mount namespace,
//! is the very file the process runs (same device and inode).

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use rustc_hash::FxHashMap;

use super::syscalls::read_link_at;
use crate::model::ExeState;

/// Our own mount namespace link (`mnt:[INODE]`), read once.
fn our_mount_ns() -> Option<&'static [u8]> {
    static OURS: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    OURS.get_or_init(|| std::fs::read_link("/proc/self/ns/mnt").ok().map(|p| p.into_os_string().into_encoded_bytes()))
        .as_deref()
}

/// What `stat(path)` said of each executable path, in this listing: many owners run one binary (every python
/// holder, every nginx worker), and a path's lookup costs more than the process's own checks. Entries of an
/// earlier listing (`watch` lists again and again; a binary may be replaced meanwhile) are never used.
static PATHS: Mutex<(u64, Option<PathCache>)> = Mutex::new((0, None));

/// A path's device and inode (`None`: nothing there), by path.
type PathCache = FxHashMap<Vec<u8>, Option<(u64, u64)>>;
static LISTING: AtomicU64 = AtomicU64::new(0);

/// Starts a new listing: paths are looked up afresh.
pub fn new_listing() {
    LISTING.fetch_add(1, Ordering::Relaxed);
}

/// `stat(path)`'s device and inode, once per path and listing.
fn stat_path(path: &[u8]) -> Option<(u64, u64)> {
    let listing = LISTING.load(Ordering::Relaxed);
    {
        let cache = PATHS.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.0 == listing {
            if let Some(found) = cache.1.as_ref().and_then(|m| m.get(path)) {
                return *found;
            }
        }
    }
    let found = CString::new(path).ok().and_then(|p| {
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: `p` is NUL-terminated; `st` is read only on success.
        let rc = unsafe { libc::stat(p.as_ptr(), st.as_mut_ptr()) };
        // SAFETY: rc == 0 means the kernel filled `st`.
        (rc == 0).then(|| unsafe { st.assume_init() }).map(|st| (st.st_dev, st.st_ino))
    });
    let mut cache = PATHS.lock().unwrap_or_else(PoisonError::into_inner);
    if cache.0 != listing {
        *cache = (listing, Some(FxHashMap::default()));
    }
    cache.1.get_or_insert_with(FxHashMap::default).insert(path.to_vec(), found);
    found
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
    // The running file itself (the link is followed even when the file was deleted), against the file at its path
    // as we see it: the same file (device and inode) is verified wherever the owner's mount namespace is, since
    // what runs is what lies at that path here. Only on a mismatch does the namespace say why.
    let running = stat_at(fd_dir, c"../exe")?;
    let path = exe.strip_suffix(b" (deleted)").unwrap_or(exe);
    let at_path = stat_path(path);
    if at_path == Some((running.st_dev, running.st_ino)) {
        return Some(ExeState::Verified);
    }
    let mut link = [0u8; 64];
    let same_namespace =
        read_link_at(fd_dir, c"../ns/mnt", &mut link).is_ok_and(|n| our_mount_ns() == Some(&link[..n]));
    Some(match at_path {
        _ if !same_namespace && running.st_nlink != 0 => ExeState::OtherMountNamespace,
        Some(_) if running.st_nlink == 0 => ExeState::Replaced,
        None if running.st_nlink == 0 => ExeState::Deleted,
        _ => ExeState::Unverified,
    })
}
