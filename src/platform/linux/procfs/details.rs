//! Owner details: the name, executable, command line, uid and start time of a process, from its `stat`, `status`,
//! `cmdline` and `exe` in `/proc`.
//!
//! Working through an open descriptor also pins the process instance: if the PID dies and is reused meanwhile,
//! reads through the old descriptor fail instead of describing the newcomer. An owner's details are therefore read
//! right after its fds, through the same descriptor (`../exe`, `../cmdline`, `../status`, and `../stat` last: if
//! that still reads, the process lived through every read before it), each file opened once. The name comes from
//! `stat` too: its second field is the same bytes as `comm` (both are the kernel's `proc_task_name` without
//! escaping), which saves opening a fourth file.

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use super::exe_state::exe_state;
use super::syscalls::{open_at, proc_pid_fd_path, read_at, read_link_vec};
use super::{parse_decimal, OwnerScan};
use crate::model::Process;
use crate::text::decode_bytes;

/// A socket held, as the walk of the kernel's file tables ([`super::super::bpf`]) found it: `(socket inode, PID,
/// start time in clock ticks, real uid)`.
pub type Held = (u64, u32, u64, u32);

/// The details of processes already known to hold wanted sockets (from the kernel's file tables, see
/// [`super::super::bpf`]), from their `holdings`. A process is described only
/// if `/proc` shows it with that start time (otherwise it exited, or its PID was reused since: its sockets are left
/// without owner), reading its files through one open `/proc/PID` descriptor as the scan does, `stat` last; its uid
/// is the walk's, which spares reading `status`. Work is spread over the cores.
///
/// `early` has the owners already looked at (see [`describe_one`]): `Some` details, or `None` when `/proc` did
/// not show that process with that start time.
pub fn describe_holders(holdings: &[Held], early: Vec<((u32, u64), Option<Process>)>) -> OwnerScan {
    let looked_at: rustc_hash::FxHashSet<(u32, u64)> = early.iter().map(|(owner, _)| *owner).collect();
    let mut owners: Vec<((u32, u64), u32)> = holdings
        .iter()
        .map(|&(_, pid, start, uid)| ((pid, start), uid))
        .filter(|(owner, _)| !looked_at.contains(owner))
        .collect();
    // One description per process (its records may disagree on the uid if it changed during the walk).
    owners.sort_unstable();
    owners.dedup_by_key(|(owner, _)| *owner);
    let threads = thread::available_parallelism().map_or(1, |n| n.get()).min(owners.len()).max(1);
    let next = AtomicUsize::new(0);
    let work = || {
        let mut found = Vec::new();
        let mut buf = Vec::new();
        let mut path = [0u8; 32];
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(&(owner, uid)) = owners.get(i) else { break };
            found.extend(describe_with(owner, Some(uid), &mut buf, &mut path));
        }
        found
    };
    let mut processes = thread::scope(|scope| {
        let helpers: Vec<_> =
            (1..threads).filter_map(|_| thread::Builder::new().spawn_scoped(scope, work).ok()).collect();
        let mut all = work();
        for helper in helpers {
            match helper.join() {
                Ok(part) => all.extend(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        all
    });
    processes.extend(early.into_iter().filter_map(|(_, process)| process));
    processes.sort_unstable_by_key(|p| p.pid);
    let mut holdings: Vec<(u64, u32)> = holdings
        .iter()
        .filter(|&&(_, pid, start, _)| {
            processes.binary_search_by_key(&pid, |p| p.pid).is_ok_and(|i| processes[i].start_time == Some(start))
        })
        .map(|&(inode, pid, ..)| (inode, pid))
        .collect();
    holdings.sort_unstable();
    holdings.dedup();
    OwnerScan { holdings, processes, unreadable: Vec::new() }
}

/// The details of one owner found by the walk of the file tables, `(PID, start time in clock ticks)`, if `/proc`
/// shows that process with that start time (see [`describe_holders`]). `uid`: the real uid, when known already
/// (the walk reads it); else it is read from `/proc`.
pub fn describe_one(owner: (u32, u64), uid: Option<u32>) -> Option<Process> {
    describe_with(owner, uid, &mut Vec::new(), &mut [0u8; 32])
}

fn describe_with(
    (pid, start): (u32, u64),
    uid: Option<u32>,
    buf: &mut Vec<u8>,
    path: &mut [u8; 32],
) -> Option<Process> {
    let fd_dir = open_at(None, proc_pid_fd_path(pid, path)?, libc::O_DIRECTORY | libc::O_PATH).ok()?;
    read_details(fd_dir.as_fd(), pid, uid, buf).filter(|process| process.start_time == Some(start))
}

/// Reads the details of the process whose `/proc/PID/fd` is open as `fd_dir`, through that descriptor, so every
/// file belongs to the process whose fds were just read even if the PID has been reused since. `../stat` is read
/// last: if it still reads, the process was alive throughout and the other files were complete; otherwise `None`
/// (it exited, and no longer holds its sockets). `uid`, when known, spares reading `status`. `user` is left `None`
/// for the caller to fill.
pub(super) fn read_details(fd_dir: BorrowedFd<'_>, pid: u32, uid: Option<u32>, buf: &mut Vec<u8>) -> Option<Process> {
    let exe_len = read_link_vec(fd_dir, c"../exe", buf).ok();
    let exe_state = exe_len.and_then(|n| exe_state(fd_dir, &buf[..n]));
    let exe = exe_len.map(|n| decode_bytes(&buf[..n]));
    let cmdline =
        read_at(fd_dir, c"../cmdline", buf).map(|n| decode_bytes(&join_cmdline(&buf[..n]))).unwrap_or_default();
    let uid = uid.or_else(|| read_at(fd_dir, c"../status", buf).ok().and_then(|n| parse_status_uid(&buf[..n])));
    let stat_len = read_at(fd_dir, c"../stat", buf).ok()?;
    let stat = &buf[..stat_len];
    let start_time = parse_stat_start_time(stat)?;
    let name = decode_bytes(stat_comm(stat)?);
    Some(Process { pid, name, exe, exe_state, cmdline, user: None, uid, start_time: Some(start_time), container: None })
}

/// The command name in `/proc/PID/stat`: everything between the `(` after the PID and the last `)` (the name may
/// itself contain parentheses, spaces and newlines). The same bytes as `/proc/PID/comm` without its newline.
fn stat_comm(stat: &[u8]) -> Option<&[u8]> {
    let open = stat.iter().position(|&b| b == b'(')?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    stat.get(open + 1..close)
}

/// Field `n` (1-based, as in proc(5)) of `/proc/PID/stat`, for `n >= 3`. The second field is the command name in
/// parentheses and may itself contain spaces and parentheses, so fields are counted from the *last* `)`: the
/// token right after it is field 3.
pub fn stat_field(stat: &[u8], n: usize) -> Option<&str> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn trim_newline(bytes: &[u8]) -> &[u8] {
        bytes.strip_suffix(b"\n").unwrap_or(bytes)
    }

    #[test]
    fn holders_are_described_only_with_their_start_time() {
        let me = std::process::id();
        let stat = std::fs::read("/proc/self/stat").unwrap();
        let start = parse_stat_start_time(&stat).unwrap();
        let scan =
            describe_holders(&[(4711, me, start, 0), (4712, me, start, 0), (4713, me, start + 1, 0)], Vec::new());
        // The record with another start time stands for an earlier process that had our PID: not us.
        assert_eq!(scan.holdings, [(4711, me), (4712, me)]);
        assert_eq!(scan.processes.len(), 1);
        assert_eq!(scan.processes[0].pid, me);
        let reused = describe_holders(&[(4713, me, start + 1, 0)], Vec::new());
        assert!(reused.holdings.is_empty() && reused.processes.is_empty(), "{reused:?}");
        // A PID that does not exist describes nothing.
        let gone = describe_holders(&[(4714, u32::MAX - 1, 1, 0)], Vec::new());
        assert!(gone.holdings.is_empty() && gone.processes.is_empty());
        // Owners looked at early are not looked at again, and count as described (or not).
        let early = vec![((me, start), describe_one((me, start), None)), ((me, start + 1), None)];
        let scan = describe_holders(&[(4711, me, start, 0), (4713, me, start + 1, 0)], early);
        assert_eq!(scan.holdings, [(4711, me)]);
        assert_eq!(scan.processes.len(), 1);
    }

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
    fn stat_comm_is_the_comm_file() {
        let stat = b"4242 (evil) (x) 1 2) S 1 4242 4242 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 987654 1000 100\n";
        assert_eq!(stat_comm(stat), Some(&b"evil) (x) 1 2"[..]));
        assert_eq!(stat_comm(b"1 (a\nb) S"), Some(&b"a\nb"[..]));
        assert_eq!(stat_comm(b"1 () S"), Some(&b""[..]));
        assert_eq!(stat_comm(b"no parens"), None);
        assert_eq!(stat_comm(b"1 )x( S"), None);
        // On this kernel: the same bytes as /proc/PID/comm, also for a name with a newline, a backslash, a
        // parenthesis and a byte that is not UTF-8 (comm is per thread: set and read on one thread).
        std::thread::spawn(|| {
            let name = b"a\nb\\c) (\xff\0";
            // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes from a live buffer.
            assert_eq!(unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr()) }, 0);
            let comm = std::fs::read("/proc/thread-self/comm").unwrap();
            let stat = std::fs::read("/proc/thread-self/stat").unwrap();
            assert_eq!(stat_comm(&stat), Some(trim_newline(&comm)));
            assert_eq!(trim_newline(&comm), &name[..name.len() - 1]);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn stat_flags_mark_kernel_threads() {
        let kthread = b"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 3 0 0";
        assert_eq!(stat_field(kthread, 9), Some("2129984")); // 0x208040: PF_KTHREAD set
        assert_eq!(stat_field(kthread, 3), Some("S"));
        assert_eq!(stat_field(kthread, 2), None);
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
    fn status_uid_is_the_real_uid() {
        let status = b"Name:\tx\nUmask:\t0022\nState:\tS\nUid:\t1000\t0\t0\t0\nGid:\t100\t100\t100\t100\n";
        assert_eq!(parse_status_uid(status), Some(1000));
        assert_eq!(parse_status_uid(b"Name:\tx\n"), None);
    }
}
