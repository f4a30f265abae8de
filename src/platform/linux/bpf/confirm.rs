//! The `/proc` cross-check of the records the task walker marks doubtful (its slot changed while it was read, see
//! [`super::programs::task_program`]): what does that descriptor of that thread hold now?
//!
//! Only doubtful records come here, which are rare (a descriptor closed or a table replaced during the few
//! nanoseconds the walker spends on it), so the walk stays fast: one `open`, one `read` and one `readlinkat`
//! per doubtful record.

use std::ffi::CString;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd};

use super::super::procfs;

/// A doubtful record: descriptor `fd` of thread `tid` of the process `tgid` that started at `start_ticks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Doubtful {
    pub(super) tgid: u32,
    pub(super) tid: u32,
    pub(super) fd: u32,
    pub(super) start_ticks: u64,
}

/// The inode of the socket the descriptor holds now, as `/proc` shows it (`socket:[INODE]`), or `None` if the
/// process, the thread or the descriptor is gone, or the descriptor is no socket.
///
/// The process's directory is opened first and everything else read through it: once opened it stands for that
/// process, not for whichever process gets its PID next, and its start time (from `stat`) must be the record's.
/// The descriptor is read through the thread (`task/TID/fd/FD`), as a thread may have a table of its own; a
/// descriptor of any thread of the process is the process's.
pub(super) fn confirm(d: Doubtful) -> Option<u64> {
    let dir = std::fs::File::open(format!("/proc/{}", d.tgid)).ok()?;
    let mut stat = Vec::with_capacity(512);
    open_at(&dir, "stat")?.read_to_end(&mut stat).ok()?;
    if procfs::parse_stat_start_time(&stat)? != d.start_ticks {
        return None;
    }
    let link = read_link_at(&dir, &format!("task/{}/fd/{}", d.tid, d.fd)).ok()?;
    socket_inode(&link)
}

/// The inode in a descriptor's link `socket:[INODE]`.
fn socket_inode(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn open_at(dir: &std::fs::File, name: &str) -> Option<std::fs::File> {
    let name = CString::new(name).ok()?;
    // SAFETY: both arguments are valid for the call; a descriptor returned is new and owned by nobody else.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    // SAFETY: see above.
    (fd >= 0).then(|| unsafe { std::fs::File::from_raw_fd(fd) })
}

fn read_link_at(dir: &std::fs::File, name: &str) -> io::Result<Vec<u8>> {
    let name = CString::new(name).map_err(io::Error::other)?;
    // `socket:[` and at most 20 digits and `]`: anything longer is no socket.
    let mut buf = [0u8; 64];
    // SAFETY: the buffer is valid for its length; readlinkat writes at most that many bytes.
    let n = unsafe { libc::readlinkat(dir.as_raw_fd(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    Ok(buf[..n].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn our_start() -> u64 {
        procfs::parse_stat_start_time(&std::fs::read("/proc/self/stat").unwrap()).unwrap()
    }

    fn inode_of(fd: i32) -> u64 {
        let link = std::fs::read_link(format!("/proc/thread-self/fd/{fd}")).unwrap();
        socket_inode(link.as_os_str().as_encoded_bytes()).unwrap()
    }

    #[test]
    fn socket_links() {
        assert_eq!(socket_inode(b"socket:[4711]"), Some(4711));
        for bad in [&b"socket:[]"[..], b"socket:[+1]", b"pipe:[4711]", b"socket:[4711", b"/dev/null"] {
            assert_eq!(socket_inode(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    fn this_thread() -> u32 {
        // SAFETY: gettid has no preconditions.
        u32::try_from(unsafe { libc::gettid() }).unwrap()
    }

    /// Constructed records about this process: a socket it holds is confirmed with its inode, through this thread's
    /// id and through the process's own; a wrong start time (the PID reused), a closed descriptor, a descriptor
    /// that is no socket and a process that is gone are not.
    #[test]
    fn doubtful_records_are_confirmed_only_by_what_proc_shows_now() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let fd = u32::try_from(socket.as_raw_fd()).unwrap();
        let inode = inode_of(socket.as_raw_fd());
        let pid = std::process::id();
        let d = Doubtful { tgid: pid, tid: this_thread(), fd, start_ticks: our_start() };
        assert_eq!(confirm(d), Some(inode));
        // The main thread shares this test thread's table.
        assert_eq!(confirm(Doubtful { tid: pid, ..d }), Some(inode));
        assert_eq!(confirm(Doubtful { start_ticks: d.start_ticks + 1, ..d }), None, "another process, same PID");
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        assert_eq!(confirm(Doubtful { fd: u32::try_from(file.as_raw_fd()).unwrap(), ..d }), None, "no socket");
        drop(socket);
        assert_eq!(confirm(d), None, "closed");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = child.id();
        child.wait().unwrap();
        assert_eq!(confirm(Doubtful { tgid: gone, tid: gone, ..d }), None, "gone");
    }

    /// A socket in the table of a thread that has one of its own (`unshare(CLONE_FILES)`) is confirmed through that
    /// thread's id; through the main thread, whose table lacks it, it is not.
    #[test]
    fn a_thread_with_its_own_table_is_asked_itself() {
        let (sent, got) = std::sync::mpsc::channel();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            // SAFETY: unshare acts on this thread's own descriptor table.
            assert_eq!(unsafe { libc::unshare(libc::CLONE_FILES) }, 0);
            // A descriptor number far above any the other tests of this process use.
            let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            // SAFETY: dup2 onto a descriptor of this thread's private table.
            let fd = unsafe { libc::dup2(socket.as_raw_fd(), 900) };
            assert_eq!(fd, 900);
            sent.send((this_thread(), inode_of(900))).unwrap();
            let _ = stopped.recv();
            // SAFETY: closes the descriptor made above.
            unsafe { libc::close(900) };
        });
        let (tid, inode) = got.recv().unwrap();
        let pid = std::process::id();
        let d = Doubtful { tgid: pid, tid, fd: 900, start_ticks: our_start() };
        assert_eq!(confirm(d), Some(inode));
        assert_ne!(confirm(Doubtful { tid: pid, ..d }), Some(inode));
        stop.send(()).unwrap();
        thread.join().unwrap();
    }
}
