//! Who holds which socket, read from `/proc`: a parallel scan of every process's `/proc/PID/fd`, then details
//! (name, executable, command line, uid, start time) for the owning processes only.
//!
//! The fd scan is the hot path (one `readlink` per open file on the machine), so it avoids allocating per fd: it
//! opens `/proc/PID/fd` once, reads it with `getdents64` into a stack buffer and resolves each entry with
//! `readlinkat` relative to the directory descriptor into another stack buffer. Working through an open
//! descriptor also pins the process instance: if the PID dies and is reused meanwhile, reads through the old
//! descriptor fail instead of describing the newcomer; the start time of an owner is read through it too
//! (`../stat`). Details are read later by path, so they are guarded by that start time (see [`read_process`]).
//!
//! `/proc/PID/fd` lists the descriptors of the whole thread group (threads share one fd table, unless created
//! with `CLONE_FILES` unset, which no threading library does), so `/proc/PID/task` is not walked.

use std::collections::{HashMap, HashSet};
use std::ffi::CStr;
use std::io::{self, Read, Write as _};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use crate::model::Process;
use crate::text::decode_bytes;

/// What the fd scan found.
#[derive(Debug, Default)]
pub struct OwnerScan {
    /// For each wanted socket inode, the PIDs holding it (unsorted, each PID once per fd that holds it).
    pub owners: HashMap<u64, Vec<u32>>,
    /// Start time (clock ticks after boot, field 22 of `/proc/PID/stat`) of each owning PID, read during the scan
    /// through the same `/proc/PID` descriptor as its fds.
    pub start_times: HashMap<u32, Option<u64>>,
    /// Processes whose fds could not be read, with the error (`EACCES` for other users' processes when not root,
    /// or for processes protected even from root), sorted by PID.
    pub unreadable: Vec<(u32, io::Error)>,
}

/// Scans every process in `/proc` for descriptors on the `wanted` socket inodes. Processes that exit during the
/// scan are skipped silently. Fails only when `/proc` itself cannot be listed.
pub fn scan_owners(wanted: &HashSet<u64>) -> io::Result<OwnerScan> {
    let pids = list_pids()?;
    let results = parallel_map(&pids, |&pid| scan_pid(pid, wanted));
    let mut scan = OwnerScan::default();
    for result in results {
        if let Some(error) = result.error {
            scan.unreadable.push((result.pid, error));
        }
        if result.hits.is_empty() {
            continue;
        }
        for inode in result.hits {
            scan.owners.entry(inode).or_default().push(result.pid);
        }
        scan.start_times.insert(result.pid, result.start_time);
    }
    scan.unreadable.sort_by_key(|(pid, _)| *pid);
    Ok(scan)
}

/// PIDs of all processes (thread-group leaders) visible in `/proc`.
fn list_pids() -> io::Result<Vec<u32>> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let Ok(entry) = entry else { continue };
        if let Some(pid) = parse_decimal(entry.file_name().as_bytes()) {
            pids.push(pid);
        }
    }
    Ok(pids)
}

fn parse_decimal<T: std::str::FromStr>(bytes: &[u8]) -> Option<T> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// Runs `f` on every item using up to `available_parallelism` threads (the calling thread included). Each thread
/// takes the next unclaimed item from a shared atomic index, so a process with a huge fd table occupies one thread
/// while the others carry on. Results come back in no particular order.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let work = || {
        let mut out = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { break };
            out.push(f(item));
        }
        out
    };
    let threads = thread::available_parallelism().map_or(1, |n| n.get()).min(items.len());
    if threads <= 1 {
        return work();
    }
    thread::scope(|scope| {
        // If a helper cannot be spawned, the remaining threads simply take its share.
        let helpers: Vec<_> =
            (1..threads).filter_map(|_| thread::Builder::new().spawn_scoped(scope, work).ok()).collect();
        let mut out = work();
        for helper in helpers {
            match helper.join() {
                Ok(part) => out.extend(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}

/// Outcome of scanning one process.
struct PidScan {
    pid: u32,
    /// Wanted socket inodes this process holds (once per fd).
    hits: Vec<u64>,
    start_time: Option<u64>,
    /// Set when the process exists but its fds could not be read.
    error: Option<io::Error>,
}

fn scan_pid(pid: u32, wanted: &HashSet<u64>) -> PidScan {
    let mut scan = PidScan { pid, hits: Vec::new(), start_time: None, error: None };
    let mut path = [0u8; 32];
    let Some(path) = proc_pid_fd_path(pid, &mut path) else {
        return scan;
    };
    let fd_dir = match open_at(None, path, libc::O_DIRECTORY) {
        Ok(fd) => fd,
        // Kernel threads have no files; when we are not root their fd directory is refused like any other
        // process's, but that hides nothing, so do not report them.
        Err(e) if is_permission_error(&e) && is_kernel_thread(pid) => return scan,
        Err(e) => {
            scan.error = unreadable(e);
            return scan;
        }
    };

    let mut dents = DirentBuf([0; 8192]);
    let mut name = [0u8; 32];
    let mut link = [0u8; 64];
    'read: loop {
        let len = match getdents(fd_dir.as_fd(), &mut dents.0) {
            Ok(0) => break,
            Ok(len) => len,
            // The process exited while we were reading its fd table: it holds nothing any more.
            Err(_) => {
                scan.hits.clear();
                return scan;
            }
        };
        for entry in dirent_names(&dents.0[..len]) {
            if entry == b"." || entry == b".." || entry.len() >= name.len() {
                continue;
            }
            name[..entry.len()].copy_from_slice(entry);
            name[entry.len()] = 0;
            let Ok(entry_name) = CStr::from_bytes_until_nul(&name) else {
                continue;
            };
            match read_link_at(fd_dir.as_fd(), entry_name, &mut link) {
                Ok(n) => {
                    if let Some(inode) = parse_socket_link(&link[..n]) {
                        if wanted.contains(&inode) {
                            scan.hits.push(inode);
                        }
                    }
                }
                Err(e) if is_permission_error(&e) => {
                    // Every other fd of this process will be refused too (this happens even to root for
                    // processes it may not ptrace): report the process once and stop.
                    scan.error = Some(e);
                    break 'read;
                }
                // ENOENT: the fd was closed after we listed it. Anything else: skip the fd.
                Err(_) => {}
            }
        }
        // procfs fills the buffer until the next record does not fit, so room for a record of the longest
        // possible name means the listing is complete; this saves one getdents64 call per process.
        if dents.0.len() - len >= MAX_DIRENT_LEN {
            break;
        }
    }
    if !scan.hits.is_empty() {
        // `..` of the fd directory is the `/proc/PID` directory of the same process instance (a PID reused since
        // would be a different directory), so this is the start time of the process whose fds we just read.
        let mut stat = [0u8; 2048];
        match read_small_at(fd_dir.as_fd(), c"../stat", &mut stat) {
            Ok(n) => scan.start_time = parse_stat_start_time(&stat[..n]),
            // Exited since: it no longer holds the sockets.
            Err(_) => scan.hits.clear(),
        }
    }
    scan
}

/// Keeps an open error only when it means "exists but may not be read"; a vanished process is not an error.
fn unreadable(e: io::Error) -> Option<io::Error> {
    match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ESRCH) => None,
        _ => Some(e),
    }
}

fn is_permission_error(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM))
}

/// Writes `/proc/PID/fd` and a terminating NUL into `buf`.
fn proc_pid_fd_path(pid: u32, buf: &mut [u8; 32]) -> Option<&CStr> {
    let mut cursor = &mut buf[..];
    write!(cursor, "/proc/{pid}/fd\0").ok()?;
    CStr::from_bytes_until_nul(buf).ok()
}

/// Parses the target of an fd symlink, `socket:[INODE]`.
pub fn parse_socket_link(link: &[u8]) -> Option<u64> {
    parse_decimal(link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?)
}

/// Size of the largest `linux_dirent64` record: 19 header bytes, a 255-byte name and its NUL, rounded up to 8.
const MAX_DIRENT_LEN: usize = 280;

/// An 8-byte aligned buffer for `getdents64`, whose records are 8-byte aligned.
#[repr(C, align(8))]
struct DirentBuf([u8; 8192]);

/// Names in a buffer of `struct linux_dirent64` records (`u64 d_ino; i64 d_off; u16 d_reclen; u8 d_type;
/// char d_name[]`, NUL-terminated), as filled by `getdents64`.
fn dirent_names(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
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

// ---- thin safe wrappers over the few system calls used above ----

/// `openat(dir or AT_FDCWD, path, O_RDONLY | O_CLOEXEC | extra)`.
fn open_at(dir: Option<BorrowedFd<'_>>, path: &CStr, extra_flags: libc::c_int) -> io::Result<OwnedFd> {
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
fn getdents(dir: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `dir` is an open directory descriptor and `buf` is writable for `buf.len()` bytes.
    let n = unsafe { libc::syscall(libc::SYS_getdents64, dir.as_raw_fd(), buf.as_mut_ptr(), buf.len()) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// `readlinkat(dir, name)` into `buf`; returns the length (the target is cut at `buf.len()` bytes).
fn read_link_at(dir: BorrowedFd<'_>, name: &CStr, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `name` is NUL-terminated, `dir` is open, and `buf` is writable for `buf.len()` bytes.
    let n = unsafe { libc::readlinkat(dir.as_raw_fd(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// Reads a small file relative to `dir` into `buf`, returning how many bytes were read (at most `buf.len()`).
fn read_small_at(dir: BorrowedFd<'_>, name: &CStr, buf: &mut [u8]) -> io::Result<usize> {
    let mut file = std::fs::File::from(open_at(Some(dir), name, 0)?);
    let mut len = 0;
    while len < buf.len() {
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(len)
}

// ---- owner details ----

/// Reads the details of one owning process. `expected_start` is the start time seen during the fd scan: when the
/// PID now has another start time (or none), the process that held the socket has exited and the PID was reused,
/// so `None` is returned and the PID is dropped as an owner. `user` is left `None` for the caller to fill.
pub fn read_process(pid: u32, expected_start: Option<u64>) -> Option<Process> {
    let dir = format!("/proc/{pid}");
    let name = std::fs::read(format!("{dir}/comm")).ok().map(|comm| decode_bytes(trim_newline(&comm)));
    let exe = std::fs::read_link(format!("{dir}/exe")).ok().map(|p| decode_bytes(p.as_os_str().as_bytes()));
    let cmdline = std::fs::read(format!("{dir}/cmdline")).map(|c| decode_bytes(&join_cmdline(&c))).unwrap_or_default();
    let uid = std::fs::read(format!("{dir}/status")).ok().and_then(|s| parse_status_uid(&s));
    // Read the start time last. If it is still the one seen by the fd scan, that process was alive from the scan
    // until now, so its PID cannot have been reused in between and every file above was its own. Otherwise the
    // PID was (or is being) recycled and some of them may describe the newcomer.
    let start_time = read_start_time(&dir)?;
    if expected_start.is_some_and(|expected| expected != start_time) {
        return None;
    }
    Some(Process {
        pid,
        name: name.unwrap_or_default(),
        exe,
        cmdline,
        user: None,
        uid,
        start_time: Some(start_time),
        container: None,
    })
}

fn read_start_time(dir: &str) -> Option<u64> {
    parse_stat_start_time(&std::fs::read(format!("{dir}/stat")).ok()?)
}

fn trim_newline(bytes: &[u8]) -> &[u8] {
    bytes.strip_suffix(b"\n").unwrap_or(bytes)
}

/// Whether `pid` is a kernel thread (PF_KTHREAD in its stat flags).
fn is_kernel_thread(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/stat"))
        .ok()
        .as_deref()
        .and_then(|stat| stat_field(stat, 9))
        .and_then(|flags| flags.parse::<u64>().ok())
        .is_some_and(|flags| flags & PF_KTHREAD != 0)
}

/// `PF_KTHREAD` from linux/sched.h: the task is a kernel thread.
const PF_KTHREAD: u64 = 0x0020_0000;

/// Field `n` (1-based, as in proc(5)) of `/proc/PID/stat`, for `n >= 3`. The second field is the command name in
/// parentheses and may itself contain spaces and parentheses, so fields are counted from the *last* `)`: the
/// token right after it is field 3.
fn stat_field(stat: &[u8], n: usize) -> Option<&str> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    rest.split_ascii_whitespace().nth(n.checked_sub(3)?)
}

/// Field 22 (`starttime`) of `/proc/PID/stat`, in clock ticks after boot.
pub fn parse_stat_start_time(stat: &[u8]) -> Option<u64> {
    stat_field(stat, 22)?.parse().ok()
}

/// Joins the NUL-separated arguments of `/proc/PID/cmdline` with single spaces. Trailing NULs (the terminator of
/// the last argument, or padding left by processes that rewrite their arguments) are dropped.
pub fn join_cmdline(raw: &[u8]) -> Vec<u8> {
    let end = raw.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    raw[..end].iter().map(|&b| if b == 0 { b' ' } else { b }).collect()
}

/// The real uid: the first number on the `Uid:` line of `/proc/PID/status`.
pub fn parse_status_uid(status: &[u8]) -> Option<u32> {
    let line = status.split(|&b| b == b'\n').find_map(|line| line.strip_prefix(b"Uid:"))?;
    let first = line.split(|b| b.is_ascii_whitespace()).find(|field| !field.is_empty())?;
    parse_decimal(first)
}

/// Reads the details of every owning PID in parallel; PIDs that exited or were replaced are left out.
pub fn read_processes(pids: &[(u32, Option<u64>)]) -> HashMap<u32, Process> {
    parallel_map(pids, |&(pid, start)| read_process(pid, start))
        .into_iter()
        .flatten()
        .map(|process| (process.pid, process))
        .collect()
}

// ---- /proc mount options ----

/// True when the last procfs mounted on `/proc` in `mounts` (the text of `/proc/mounts`) has a `hidepid=` option
/// that hides processes: any value but `0` / `off` (`1`/`noaccess`, `2`/`invisible`, `4`/`ptraceable`).
pub fn hidepid_in_mounts(mounts: &str) -> bool {
    let proc_mount = mounts.lines().rev().find_map(|line| {
        let mut fields = line.split_ascii_whitespace();
        let (_source, target, fstype, options) = (fields.next()?, fields.next()?, fields.next()?, fields.next()?);
        (target == "/proc" && fstype == "proc").then_some(options)
    });
    proc_mount.is_some_and(|options| {
        options
            .split(',')
            .filter_map(|option| option.strip_prefix("hidepid="))
            .any(|value| value != "0" && value != "off")
    })
}

/// Whether `/proc` is mounted with a hiding `hidepid=` option (false when it cannot be told).
pub fn proc_hides_pids() -> bool {
    std::fs::read_to_string("/proc/mounts").is_ok_and(|mounts| hidepid_in_mounts(&mounts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_start_time_survives_hostile_comm() {
        let stat = b"4242 (evil) (x) 1 2) S 1 4242 4242 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 987654 1000 100\n";
        assert_eq!(parse_stat_start_time(stat), Some(987654));
        let plain = b"1 (systemd) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 12 1000 100";
        assert_eq!(parse_stat_start_time(plain), Some(12));
        assert_eq!(parse_stat_start_time(b"1 (x) S 0 1"), None);
        assert_eq!(parse_stat_start_time(b"no paren"), None);
    }

    #[test]
    fn stat_flags_mark_kernel_threads() {
        let kthread = b"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 3 0 0";
        assert_eq!(stat_field(kthread, 9), Some("2129984")); // 0x208040: PF_KTHREAD set
        assert_eq!(stat_field(kthread, 3), Some("S"));
        assert_eq!(stat_field(kthread, 2), None);
        if std::fs::read("/proc/2/stat").is_ok_and(|stat| stat.starts_with(b"2 (kthreadd)")) {
            assert!(is_kernel_thread(2));
        }
        assert!(!is_kernel_thread(std::process::id()));
    }

    #[test]
    fn own_stat_parses() {
        let stat = std::fs::read("/proc/self/stat").unwrap();
        assert!(parse_stat_start_time(&stat).is_some());
    }

    #[test]
    fn cmdline_joining() {
        assert_eq!(join_cmdline(b"/usr/bin/python3\0-m\0http.server\0"), b"/usr/bin/python3 -m http.server");
        assert_eq!(join_cmdline(b"nginx: master process\0\0\0\0"), b"nginx: master process");
        assert_eq!(join_cmdline(b"a\0\0b\0"), b"a  b");
        assert_eq!(join_cmdline(b""), b"");
        assert_eq!(join_cmdline(b"\0"), b"");
    }

    #[test]
    fn socket_links() {
        assert_eq!(parse_socket_link(b"socket:[123]"), Some(123));
        assert_eq!(parse_socket_link(b"socket:[18446744073709551615]"), Some(u64::MAX));
        assert_eq!(parse_socket_link(b"socket:[]"), None);
        assert_eq!(parse_socket_link(b"socket:[12a]"), None);
        assert_eq!(parse_socket_link(b"socket:[+12]"), None);
        assert_eq!(parse_socket_link(b"socket:[123"), None); // cut short
        assert_eq!(parse_socket_link(b"pipe:[123]"), None);
        assert_eq!(parse_socket_link(b"/tmp/socket:[123]"), None);
        assert_eq!(parse_socket_link(b"anon_inode:[eventfd]"), None);
    }

    #[test]
    fn status_uid_is_the_real_uid() {
        let status = b"Name:\tx\nUmask:\t0022\nState:\tS\nUid:\t1000\t0\t0\t0\nGid:\t100\t100\t100\t100\n";
        assert_eq!(parse_status_uid(status), Some(1000));
        assert_eq!(parse_status_uid(b"Name:\tx\n"), None);
    }

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

    #[test]
    fn hidepid_detection() {
        let plain = "sysfs /sys sysfs rw 0 0\nproc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n";
        assert!(!hidepid_in_mounts(plain));
        assert!(hidepid_in_mounts("proc /proc proc rw,relatime,hidepid=2 0 0\n"));
        assert!(hidepid_in_mounts("proc /proc proc rw,relatime,hidepid=invisible,gid=10 0 0\n"));
        assert!(!hidepid_in_mounts("proc /proc proc rw,hidepid=0 0 0\n"));
        assert!(!hidepid_in_mounts("proc /proc proc rw,hidepid=off 0 0\n"));
        // Only /proc counts, and the last mount on it wins.
        assert!(!hidepid_in_mounts("proc /mnt/proc proc rw,hidepid=2 0 0\n"));
        assert!(!hidepid_in_mounts("proc /proc proc rw,hidepid=2 0 0\nproc /proc proc rw 0 0\n"));
    }

    #[test]
    fn parallel_map_visits_every_item_once() {
        let items: Vec<u32> = (0..1000).collect();
        let mut out = parallel_map(&items, |&i| i * 2);
        out.sort_unstable();
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert!(parallel_map(&[] as &[u32], |&i| i).is_empty());
    }

    #[test]
    fn scan_finds_own_socket_and_details() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let link = std::fs::read_link(format!("/proc/self/fd/{}", listener.as_raw_fd())).unwrap();
        let inode = parse_socket_link(link.as_os_str().as_bytes()).unwrap();
        let scan = scan_owners(&HashSet::from([inode])).unwrap();
        let me = std::process::id();
        assert_eq!(scan.owners.get(&inode), Some(&vec![me]));
        let start = scan.start_times[&me];
        assert!(start.is_some());

        let process = read_process(me, start).unwrap();
        let comm = std::fs::read("/proc/self/comm").unwrap();
        assert_eq!(process.name.as_bytes(), trim_newline(&comm));
        // SAFETY: getuid has no preconditions and cannot fail.
        assert_eq!(process.uid, Some(unsafe { libc::getuid() }));
        let exe = std::env::current_exe().unwrap();
        assert_eq!(process.exe.as_deref(), exe.to_str());
        assert!(!process.cmdline.is_empty());
        // A different start time means the PID was reused: the owner is dropped.
        assert!(read_process(me, start.map(|s| s + 1)).is_none());
    }
}
