//! Who holds which socket, read from the kernel's own descriptor tables by a BPF iterator program, instead of one
//! `readlinkat` per open file through `/proc` (see [`super::procfs`]).
//!
//! Two programs, assembled here (no compiler, no object file), write the same records `(inode, tgid, start time,
//! fd, uid)` for every socket that is not connected, to the iterator's output, which is read like a file:
//!
//! * the task walker ([`task_program`], Linux 6.4+: `bpf_iter_task`, the `bpf_iter_num` loop and
//!   `bpf_rdonly_cast`) runs once per task and walks the task's descriptor table itself, the open descriptors only
//!   (from the table's `open_fds` bitmap), without the table's lock: each socket it finds is checked again after
//!   it is read, and a record whose slot, file or table changed meanwhile is marked doubtful and decided by
//!   `/proc` ([`confirm`]);
//! * the task-file program ([`file_program`], Linux 5.11+: `bpf_iter_task_file` and `bpf_sock_from_file`) runs
//!   on each open file as the kernel visits it, holding a reference to the file (its records need no check);
//!   used when the task walker cannot load or cannot take a table.
//!
//! Both need `CAP_BPF` and `CAP_PERFMON` (or root) and the kernel's BTF (`/sys/kernel/btf/vmlinux`), from which the
//! field offsets they read come; the verifier checks every access against those types when a program loads.
//! Nothing is attached to any hook; program, link and iterator live as long as their descriptors, which are closed
//! before this returns.
//!
//! The walk replaces the `/proc` scan's one `readlinkat` per open file. Reading the BTF and loading a program cost
//! little next to that; of the two programs the task walker is the cheaper, as the task-file program pays for the
//! kernel's visit of each file (a lock and a reference per file and a program call). The walk runs beside the socket
//! dump. (The measurements: `benches/README.md`, "Figures moved from code comments".)
//!
//! Used only where it sees what `/proc` would: in the initial PID namespace (the program reports global PIDs) and
//! the initial time namespace (start times are compared with `/proc/PID/stat`'s, which a time namespace shifts).
//! Anything else, or any failure, and the caller falls back to the `/proc` scan.
//!
//! The parts: [`btf`] reads the kernel's type information, [`layout`] finds in it the offsets the programs read,
//! [`asm`] assembles instructions, [`programs`] holds the two programs and [`syscalls`] the `bpf(2)` calls that
//! load and run them; [`confirm`] cross-checks doubtful records in `/proc`; this module runs the walk and reads its
//! records.

mod asm;
mod btf;
mod confirm;
mod layout;
mod programs;
#[cfg(test)]
mod stress;
mod syscalls;

use std::io::{self, Read};
use std::os::fd::OwnedFd;

use btf::KernelBtf;
use confirm::{confirm, Doubtful};
use layout::Layout;
use programs::{file_program, task_program, DOUBTFUL, TOO_MANY_SLOTS};
use syscalls::{iter_create, link_create, load};

/// One socket descriptor found by the walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holding {
    /// The socket's inode (as in `socket:[INODE]`).
    pub inode: u64,
    /// The holding process (thread-group id, as in `/proc`).
    pub pid: u32,
    /// The process's start time in clock ticks since boot, as in field 22 of `/proc/PID/stat`.
    pub start_ticks: u64,
    /// The process's real uid, as in `/proc/PID/status`.
    pub uid: u32,
}

/// Whether the walk may be tried at all: effective root, initial PID and time namespaces.
pub fn usable() -> bool {
    if super::sys::effective_uid() != 0 {
        return false;
    }
    // PROC_PID_INIT_INO and PROC_TIME_INIT_INO: the initial namespaces' fixed inode numbers.
    let initial = |path: &str, init: &str| match std::fs::read_link(path) {
        Ok(link) => link.as_os_str().as_encoded_bytes().ends_with(init.as_bytes()),
        // No time namespaces in this kernel: there is only the initial one.
        Err(e) => e.kind() == io::ErrorKind::NotFound && path.ends_with("time"),
    };
    initial("/proc/self/ns/pid", ":[4026531836]") && initial("/proc/self/ns/time", ":[4026531834]")
}

/// For tests of the walk: whether it can run here. Without root the test skips (saying so); as root, a walk that
/// cannot run (not the initial PID or time namespace, no kernel BTF) skips outside CI and fails under `CI=true`.
#[cfg(test)]
pub(crate) fn walk_testable(test: &str) -> bool {
    if super::sys::effective_uid() != 0 {
        eprintln!("SKIP {test}: needs root");
        return false;
    }
    if !usable() {
        return !super::sys::cannot_run(test, "not in the initial PID and time namespaces");
    }
    if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
        return !super::sys::cannot_run(test, "the kernel has no BTF (/sys/kernel/btf/vmlinux)");
    }
    true
}

/// The descriptors of every unconnected socket of every process, from a walk of the kernel's descriptor tables
/// (a holding may come twice, see [`walk`]).
pub fn socket_holdings() -> io::Result<Vec<Holding>> {
    let mut all = Vec::new();
    socket_holdings_in_parts(|part| all.extend(part))?;
    Ok(all)
}

/// [`socket_holdings`] handed over a part at a time as the walk produces them (a read of the iterator is one
/// part), so that the caller can start on them before the walk ends.
pub fn socket_holdings_in_parts(mut take: impl FnMut(Vec<Holding>)) -> io::Result<()> {
    let layout = Layout::from_btf(KernelBtf::open()?.bytes())?;
    walk(&layout, &mut take)
}

/// Loads a program (the task walker where the kernel offers what it needs, else the task-file one), runs the
/// iterator once and hands over its records as they are read.
///
/// The task walker writes a whole process at a time, into the iterator's 32 KB buffer: a process with more than
/// about 1,300 unconnected sockets does not fit, and the read fails with `E2BIG`; so does a descriptor table beyond
/// its loop's reach (more than 2^29 slots, see [`TOO_MANY_SLOTS`]). Then the task-file program, which writes a
/// file at a time, walks again; records already handed over come again, and callers keep each holding once.
fn walk(layout: &Layout, take: &mut dyn FnMut(Vec<Holding>)) -> io::Result<()> {
    if let Some(tasks) = &layout.tasks {
        if let Ok(prog) = load(&task_program(layout, tasks), tasks.iter_func_id) {
            match run(&prog, take) {
                Err(e) if e.raw_os_error() == Some(libc::E2BIG) => {}
                done => return done,
            }
        }
    }
    run(&load(&file_program(layout), layout.iter_func_id)?, take)
}

/// Runs a loaded iterator program once, handing over its records as they are read.
fn run(prog: &OwnedFd, take: &mut dyn FnMut(Vec<Holding>)) -> io::Result<()> {
    let ns_per_tick = 1_000_000_000 / clock_ticks_per_second()?;
    let link = link_create(prog)?;
    let mut iter = std::fs::File::from(iter_create(&link)?);
    // A read runs the iteration until the buffer is full; a record cut at the end is completed by the next read.
    let mut buf = vec![0u8; 64 * 1024];
    let mut filled = 0;
    loop {
        let n = match iter.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A read that visited a million objects without writing anything (possible now that connections are
            // skipped) ends with EAGAIN; the iterator resumes where it stopped.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(());
        }
        filled += n;
        let whole = filled - filled % RECORD;
        let part = parse_records(&buf[..whole], ns_per_tick, &mut confirm);
        if part.iter().any(|h| h.inode == TOO_MANY_SLOTS) {
            // A table larger than the task walker's loop covers: as when a process's records overflow the buffer.
            return Err(io::Error::from_raw_os_error(libc::E2BIG));
        }
        take(part);
        buf.copy_within(whole..filled, 0);
        filled -= whole;
    }
}

/// The records the program writes: `inode: u64, start_boottime: u64 (ns), tgid: u32, fd: u32, uid: u32` and 4 bytes
/// of padding, native endian.
/// A record whose fd has the [`DOUBTFUL`] bit set carries the thread's id in place of the inode; it becomes a
/// holding only if `confirm` (the `/proc` cross-check, [`confirm::confirm`]) names the socket the descriptor
/// holds now.
const RECORD: usize = 32;

fn parse_records(out: &[u8], ns_per_tick: u64, confirm: &mut dyn FnMut(Doubtful) -> Option<u64>) -> Vec<Holding> {
    out.chunks_exact(RECORD)
        .filter_map(|r| {
            let inode = u64::from_ne_bytes(r[0..8].try_into().ok()?);
            let start_ns = u64::from_ne_bytes(r[8..16].try_into().ok()?);
            let pid = u32::from_ne_bytes(r[16..20].try_into().ok()?);
            let fd = u32::from_ne_bytes(r[20..24].try_into().ok()?);
            let uid = u32::from_ne_bytes(r[24..28].try_into().ok()?);
            let start_ticks = start_ns / ns_per_tick;
            let inode = if fd & DOUBTFUL == 0 {
                inode
            } else {
                let tid = u32::try_from(inode).ok()?;
                confirm(Doubtful { tgid: pid, tid, fd: fd & !DOUBTFUL, start_ticks })?
            };
            Some(Holding { inode, pid, start_ticks, uid })
        })
        .collect()
}

fn clock_ticks_per_second() -> io::Result<u64> {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    match u64::try_from(ticks) {
        Ok(t) if t > 0 && 1_000_000_000 % t == 0 => Ok(t),
        _ => Err(io::Error::other("unexpected clock tick rate")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_read_whole_start_times_in_ticks_and_doubtful_ones_cross_checked() {
        let mut out = Vec::new();
        let mut record = |first: u64, ns: u64, pid: u32, fd: u32, uid: u32| {
            out.extend_from_slice(&first.to_ne_bytes());
            out.extend_from_slice(&ns.to_ne_bytes());
            out.extend_from_slice(&pid.to_ne_bytes());
            out.extend_from_slice(&fd.to_ne_bytes());
            out.extend_from_slice(&uid.to_ne_bytes());
            out.extend_from_slice(&[0; 4]);
        };
        for (inode, ns, pid, fd, uid) in
            [(4711u64, 2_500_000_000u64, 42u32, 3u32, 0u32), (4712, 10_000_000, 7, 9, 1000)]
        {
            record(inode, ns, pid, fd, uid);
        }
        // Doubtful: thread 43 of process 42, fd 5, which /proc confirms; thread 8 of process 7, which it does not.
        for (tid, ns, pid, fd) in [(43u64, 2_500_000_000u64, 42u32, 5 | DOUBTFUL), (8, 10_000_000, 7, 6 | DOUBTFUL)] {
            record(tid, ns, pid, fd, 0);
        }
        out.extend_from_slice(&[1, 2, 3]); // a torn tail is ignored
        let mut asked = Vec::new();
        let got = parse_records(&out, 10_000_000, &mut |d| {
            asked.push(d);
            (d.tid == 43).then_some(9999)
        });
        assert_eq!(
            got,
            [
                Holding { inode: 4711, pid: 42, start_ticks: 250, uid: 0 },
                Holding { inode: 4712, pid: 7, start_ticks: 1, uid: 1000 },
                Holding { inode: 9999, pid: 42, start_ticks: 250, uid: 0 },
            ]
        );
        assert_eq!(
            asked,
            [
                Doubtful { tgid: 42, tid: 43, fd: 5, start_ticks: 250 },
                Doubtful { tgid: 7, tid: 8, fd: 6, start_ticks: 1 }
            ]
        );
    }

    /// A python process started through `setpriv` with the ids `ids`, holding a bound UDP socket until dropped.
    struct OtherUser {
        child: std::process::Child,
        inode: u64,
    }

    impl OtherUser {
        fn start(ids: &[&str]) -> OtherUser {
            use std::io::BufRead;
            let code = "import socket, time\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
                        s.bind(('127.0.0.1', 0))\nprint(s.fileno(), flush=True)\ntime.sleep(120)";
            // The system python: one under root's home (pyenv) is not readable by other users.
            let mut child = std::process::Command::new("setpriv")
                .args(ids)
                .args(["/usr/bin/python3", "-c", code])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("setpriv and /usr/bin/python3 (util-linux, python3)");
            let mut line = String::new();
            std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
            let fd: u32 = line.trim().parse().unwrap_or_else(|_| panic!("the holder said {line:?}"));
            let inode = inode_at(&format!("/proc/{}/fd/{fd}", child.id()));
            OtherUser { child, inode }
        }

        fn pid(&self) -> u32 {
            self.child.id()
        }
    }

    impl Drop for OtherUser {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// A thread of this process with a descriptor table of its own (`unshare(CLONE_FILES)`), emptied of the copies
    /// of everyone else's descriptors (other tests run in this process), holding `sockets` bound UDP sockets until
    /// [`OwnTable::end`].
    struct OwnTable {
        inodes: Vec<u64>,
        stop: std::sync::mpsc::Sender<()>,
        thread: std::thread::JoinHandle<()>,
    }

    impl OwnTable {
        fn start(sockets: usize) -> OwnTable {
            use std::os::fd::AsRawFd;
            let (sent, got) = std::sync::mpsc::channel();
            let (stop, stopped) = std::sync::mpsc::channel::<()>();
            let thread = std::thread::spawn(move || {
                // SAFETY: unshare, close_range and setrlimit act on this thread's own, now private, descriptor
                // table and on a limit that only grows.
                unsafe {
                    assert_eq!(libc::unshare(libc::CLONE_FILES), 0);
                    assert_eq!(libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32), 0);
                    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
                    assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
                    let want = (sockets as u64 + 64).min(limit.rlim_max);
                    if limit.rlim_cur < want {
                        limit.rlim_cur = want;
                        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
                    }
                }
                let held: Vec<std::net::UdpSocket> =
                    (0..sockets).map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap()).collect();
                let inodes = held.iter().map(|s| inode_at(&format!("/proc/thread-self/fd/{}", s.as_raw_fd())));
                sent.send(inodes.collect::<Vec<u64>>()).unwrap();
                let _ = stopped.recv();
            });
            OwnTable { inodes: got.recv().unwrap(), stop, thread }
        }

        fn end(self) {
            self.stop.send(()).unwrap();
            self.thread.join().unwrap();
        }
    }

    fn inode_at(path: &str) -> u64 {
        let link = std::fs::read_link(path).unwrap();
        super::super::procfs::parse_socket_link(link.as_os_str().as_encoded_bytes()).unwrap()
    }

    /// A thread whose own descriptor table holds 2,000 bound UDP sockets (more than the iterator's 32 KB buffer
    /// takes from one task): the task walker's read fails with E2BIG, and `walk` gets them all from the task-file
    /// program instead.
    #[test]
    fn a_table_too_large_for_the_task_walker_is_walked_file_by_file() {
        if !walk_testable("a_table_too_large_for_the_task_walker_is_walked_file_by_file") {
            return;
        }
        let table = OwnTable::start(2000);
        let btf = KernelBtf::open().unwrap();
        let layout = Layout::from_btf(btf.bytes()).unwrap();
        if let Some(tasks) = &layout.tasks {
            let prog = load(&task_program(&layout, tasks), tasks.iter_func_id).unwrap();
            let e = run(&prog, &mut |_| {}).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::E2BIG), "{e}");
        }
        let mut all = Vec::new();
        walk(&layout, &mut |part| all.extend(part)).unwrap();
        let found: std::collections::HashSet<u64> =
            all.iter().filter(|h| h.pid == std::process::id()).map(|h| h.inode).collect();
        assert!(table.inodes.iter().all(|inode| found.contains(inode)), "every socket of the large table");
        table.end();
    }

    /// Not a test: times the walk alone (BTF and loading apart), for `benches/README.md`.
    /// `cargo test --release --lib walk_timing -- --ignored --nocapture` (as root), with a load running.
    #[test]
    #[ignore]
    fn walk_timing() {
        let btf = KernelBtf::open().unwrap();
        let layout = Layout::from_btf(btf.bytes()).unwrap();
        let tasks = layout.tasks.as_ref().expect("the task walker");
        let prog = load(&task_program(&layout, tasks), tasks.iter_func_id).unwrap();
        let mut times = Vec::new();
        let mut records = 0;
        for _ in 0..41 {
            let t = std::time::Instant::now();
            records = 0;
            run(&prog, &mut |part| records += part.len()).unwrap();
            times.push(t.elapsed());
        }
        times.sort_unstable();
        eprintln!("task walk: median {:?}, min {:?}, {records} records", times[times.len() / 2], times[0]);
    }

    /// Both programs, run on this process: its unconnected sockets with its PID and start time, none of its
    /// connected ones; and a socket in the private descriptor table of one of its threads. The same from the task
    /// walker when it doubts every record and the `/proc` cross-check decides.
    #[test]
    fn both_walkers_find_our_unconnected_sockets_and_skip_connections() {
        use std::time::Duration;
        if !walk_testable("both_walkers_find_our_unconnected_sockets_and_skip_connections") {
            return;
        }
        use std::os::fd::AsRawFd;
        let inode_of = |fd: i32| inode_at(&format!("/proc/self/fd/{fd}"));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let unconnected = std::net::UdpSocket::bind("[::1]:0").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let unix_listener = std::os::unix::net::UnixListener::bind(dir.path().join("s")).unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        let (unix, _) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut unconnected = vec![
            inode_of(listener.as_raw_fd()),
            inode_of(unconnected.as_raw_fd()),
            inode_of(unix_listener.as_raw_fd()),
        ];
        let connected = [inode_of(client.as_raw_fd()), inode_of(accepted.as_raw_fd()), inode_of(unix.as_raw_fd())];
        // A socket in the descriptor table of a thread that has one of its own.
        let table = OwnTable::start(1);
        let in_thread = table.inodes[0];
        unconnected.push(in_thread);
        let stat = std::fs::read("/proc/self/stat").unwrap();
        let start = super::super::procfs::parse_stat_start_time(&stat);
        // Processes of other users, each holding a UDP socket: the records carry their real uid (`nobody`; real
        // uid 1000 with effective uid 0, as a set-user-ID program runs).
        let others: Vec<(OtherUser, u32)> =
            [(&["--reuid=65534", "--regid=65534", "--clear-groups"][..], 65534), (&["--ruid=1000", "--euid=0"], 1000)]
                .into_iter()
                .map(|(ids, uid)| (OtherUser::start(ids), uid))
                .collect();

        let btf = KernelBtf::open().unwrap();
        let layout = Layout::from_btf(btf.bytes()).unwrap();
        let kfuncs = [&b"\0bpf_iter_num_new\0"[..], b"\0bpf_rdonly_cast\0", b"\0bpf_iter_task\0"];
        if kfuncs.iter().all(|name| memchr::memmem::find(btf.bytes(), name).is_some()) {
            assert!(layout.tasks.is_some(), "this kernel has what the task walker needs");
        }
        let mut programs = vec![("task-file", load(&file_program(&layout), layout.iter_func_id).unwrap())];
        if let Some(tasks) = &layout.tasks {
            programs.push(("task", load(&task_program(&layout, tasks), tasks.iter_func_id).unwrap()));
            // Every record doubtful: each holding then comes from the /proc cross-check, through the thread whose
            // table holds it (the test thread with a table of its own among them).
            let doubting = programs::task_program_doubting_all(&layout, tasks);
            programs.push(("task, every record doubtful", load(&doubting, tasks.iter_func_id).unwrap()));
        }
        for (name, prog) in &programs {
            let mut all = Vec::new();
            // Other tests in this process briefly hold thousands of descriptors, too many for the task walker
            // (see the next test): wait for them to end.
            for _ in 0..200 {
                all.clear();
                match run(prog, &mut |part| all.extend(part)) {
                    Err(e) if e.raw_os_error() == Some(libc::E2BIG) => std::thread::sleep(Duration::from_millis(50)),
                    done => {
                        done.unwrap();
                        break;
                    }
                }
            }
            for inode in &unconnected {
                let h = all.iter().find(|h| h.inode == *inode);
                let h = h.unwrap_or_else(|| panic!("{name}: unconnected socket {inode} not in the walk"));
                // SAFETY: getuid has no preconditions.
                let me = (std::process::id(), start, unsafe { libc::getuid() });
                assert_eq!((h.pid, Some(h.start_ticks), h.uid), me, "{name}");
            }
            for inode in &connected {
                assert!(!all.iter().any(|h| h.inode == *inode), "{name}: connected socket {inode} in the walk");
            }
            for (other, uid) in &others {
                let h = all.iter().find(|h| h.inode == other.inode);
                let h = h.unwrap_or_else(|| panic!("{name}: the socket of process {} not in the walk", other.pid()));
                assert_eq!((h.pid, h.uid), (other.pid(), *uid), "{name}");
            }
        }
        let holdings = socket_holdings().unwrap();
        assert!(unconnected.iter().all(|inode| holdings.iter().any(|h| h.inode == *inode)));
        table.end();
    }
}
