//! Thin safe wrappers over the few system calls that read `/proc` (`openat`, `getdents64`, `readlinkat`, `read`),
//! and the buffers and paths they work with.

use std::ffi::CStr;
use std::io::{self, Read, Write as _};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// A directory entry's name with a terminating NUL, in `buf`; `None` if it does not fit.
pub(super) fn nul_terminated<'b>(entry: &[u8], buf: &'b mut [u8; 32]) -> Option<&'b CStr> {
    let slot = buf.get_mut(..=entry.len())?;
    slot[..entry.len()].copy_from_slice(entry);
    slot[entry.len()] = 0;
    CStr::from_bytes_until_nul(slot).ok()
}

/// Writes `/proc/PID/fd` and a terminating NUL into `buf`.
pub(super) fn proc_pid_fd_path(pid: u32, buf: &mut [u8; 32]) -> Option<&CStr> {
    let mut cursor = &mut buf[..];
    write!(cursor, "/proc/{pid}/fd\0").ok()?;
    CStr::from_bytes_until_nul(buf).ok()
}

/// Size of the largest `linux_dirent64` record: 19 header bytes, a 255-byte name and its NUL, rounded up to 8.
pub(super) const MAX_DIRENT_LEN: usize = 280;

/// Bytes of directory records read at once: about 1,300 fds (a record for fd 1234 takes 24 bytes).
pub(super) const DIRENT_BUF_LEN: usize = 32 * 1024;

/// An 8-byte aligned buffer for `getdents64`, whose records are 8-byte aligned.
#[repr(C, align(8))]
pub(super) struct DirentBuf(pub(super) [u8; DIRENT_BUF_LEN]);

/// Names in a buffer of `struct linux_dirent64` records (`u64 d_ino; i64 d_off; u16 d_reclen; u8 d_type;
/// char d_name[]`, NUL-terminated), as filled by `getdents64`.
pub(super) fn dirent_names(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    const NAME_OFFSET: usize = 19;
    let mut rest = buf;
    std::iter::from_fn(move || {
        let reclen = usize::from(u16::from_ne_bytes([*rest.get(16)?, *rest.get(17)?]));
        if reclen <= NAME_OFFSET || reclen > rest.len() {
            return None;
        }
        let (record, tail) = rest.split_at(reclen);
        rest = tail;
        let name = &record[NAME_OFFSET..];
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        Some(&name[..end])
    })
}

/// `openat(dir or AT_FDCWD, path, O_RDONLY | O_CLOEXEC | extra)`.
pub(super) fn open_at(dir: Option<BorrowedFd<'_>>, path: &CStr, extra_flags: libc::c_int) -> io::Result<OwnedFd> {
    let dirfd = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    loop {
        // SAFETY: `path` is NUL-terminated; `dirfd` is AT_FDCWD or a descriptor borrowed for this call.
        let fd = unsafe { libc::openat(dirfd, path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC | extra_flags) };
        if fd >= 0 {
            // SAFETY: `fd` was just returned by openat, is open, and nothing else owns it.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// One `getdents64` call: fills `buf` with directory records, returns the number of bytes used (0 at the end).
pub(super) fn getdents(dir: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `dir` is an open directory descriptor and `buf` is writable for `buf.len()` bytes.
    let n = unsafe { libc::syscall(libc::SYS_getdents64, dir.as_raw_fd(), buf.as_mut_ptr(), buf.len()) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// `readlinkat(dir, name)` into `buf`; returns the length (the target is cut at `buf.len()` bytes).
pub(super) fn read_link_at(dir: BorrowedFd<'_>, name: &CStr, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `name` is NUL-terminated, `dir` is open, and `buf` is writable for `buf.len()` bytes.
    let n = unsafe { libc::readlinkat(dir.as_raw_fd(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// Reads a file relative to `dir` into the start of `buf` and returns its length: the content is `&buf[..len]`.
/// `buf` is only ever grown (zero-filled), never cleared, so reading many small files costs no memset each. A read
/// shorter than the room offered ends it: procfs files are generated whole and handed out as far as the buffer
/// allows, so that saves the final zero-length read.
pub(super) fn read_at(dir: BorrowedFd<'_>, name: &CStr, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut file = std::fs::File::from(open_at(Some(dir), name, 0)?);
    if buf.len() < 4096 {
        buf.resize(4096, 0);
    }
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(len * 2, 0);
        }
        match file.read(&mut buf[len..]) {
            Ok(n) => {
                len += n;
                if n == 0 || len < buf.len() {
                    return Ok(len);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The target of a symbolic link relative to `dir`, into the start of `buf` (grown as needed, like [`read_at`]);
/// returns its length.
pub(super) fn read_link_vec(dir: BorrowedFd<'_>, name: &CStr, buf: &mut Vec<u8>) -> io::Result<usize> {
    if buf.len() < 4096 {
        buf.resize(4096, 0);
    }
    loop {
        let n = read_link_at(dir, name, buf)?;
        if n < buf.len() {
            return Ok(n);
        }
        // Possibly cut: try again with more room (link targets are at most a page, PATH_MAX).
        if buf.len() >= 64 * 1024 {
            return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
        }
        let len = buf.len();
        buf.resize(len * 2, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirent_records() {
        fn record(name: &[u8]) -> Vec<u8> {
            let reclen = (19 + name.len() + 1).div_ceil(8) * 8;
            let mut r = vec![0u8; reclen];
            r[16..18].copy_from_slice(&(reclen as u16).to_ne_bytes());
            r[18] = 10; // DT_LNK
            r[19..19 + name.len()].copy_from_slice(name);
            r
        }
        let mut buf = record(b".");
        buf.extend(record(b".."));
        buf.extend(record(b"0"));
        buf.extend(record(b"12345"));
        let names: Vec<&[u8]> = dirent_names(&buf).collect();
        assert_eq!(names, [&b"."[..], b"..", b"0", b"12345"]);
        assert_eq!(dirent_names(&buf[..10]).count(), 0);
    }
}
