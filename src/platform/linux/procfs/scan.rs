//! The fd scan: every process's `/proc/PID/fd`, in parallel, for descriptors on the wanted socket inodes.
//!
//! The fd scan is the hot path (one `readlinkat` per open file on the machine), so it allocates nothing per fd: it
//! opens `/proc/PID/fd` once, reads it with `getdents64` into a per-thread buffer and resolves each entry with
//! `readlinkat` relative to the directory descriptor into a stack buffer.
//!
//! Work is shared between threads a piece at a time: a thread takes the next PID, reads one buffer of its fd
//! table, and if the table did not fit, hands the rest of it (the same open directory, whose file position is where
//! the next `getdents64` continues) to the queue before resolving its own part. So a process with a huge fd table
//! is spread over every core instead of pinning one; the last piece of a process to finish reads its details.
//!
//! The scan may start before the socket dump has said which inodes are wanted ([`Wanted`]): until it has, a thread
//! notes the socket inodes of each process and keeps that process's descriptor open, and sorts them out (details
//! included) once the set is known. At most [`MAX_UNDECIDED`] processes (fewer under a low open-file limit) wait
//! like that; past that, threads wait for the set.
//!
//! `/proc/PID/fd` lists the descriptors of the whole thread group (threads share one fd table, unless created
//! with `CLONE_FILES` unset, which no threading library does), so `/proc/PID/task` is not walked.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread;

use super::super::sys::{is_kernel_thread, is_permission_error};
use super::details::{read_details, stat_field};
use super::syscalls::{
    dirent_names, getdents, nul_terminated, open_at, proc_pid_fd_path, read_link_at, DirentBuf, DIRENT_BUF_LEN,
    MAX_DIRENT_LEN,
};
use super::{parse_decimal, InodeSet, OwnerScan};
use crate::model::Process;

/// The socket inodes whose holders are wanted, possibly still to come: the scan can start while the socket dump
/// is running.
#[derive(Debug, Default)]
pub struct Wanted {
    /// `Some(set)`, or `None` when the dump failed and the scan should stop.
    value: OnceLock<Option<InodeSet>>,
    lock: Mutex<()>,
    arrived: Condvar,
}

impl Wanted {
    /// A set known from the start.
    pub fn known(set: InodeSet) -> Self {
        let wanted = Wanted::default();
        wanted.set(Some(set));
        wanted
    }

    /// Delivers the set, or `None` to call the scan off. Only the first call counts.
    pub fn set(&self, set: Option<InodeSet>) {
        let _ = self.value.set(set);
        // Taken after setting, so a thread checking under the lock either sees the value or is already waiting.
        let _guard = lock(&self.lock);
        self.arrived.notify_all();
    }

    /// The set if it has arrived (`Some(None)`: called off).
    fn get(&self) -> Option<&Option<InodeSet>> {
        self.value.get()
    }

    fn wait(&self) -> &Option<InodeSet> {
        let mut guard = lock(&self.lock);
        loop {
            if let Some(value) = self.value.get() {
                return value;
            }
            guard = self.arrived.wait(guard).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// True when there is nothing (more) to look for: called off, or an empty set.
    fn nothing(&self) -> bool {
        matches!(self.get(), Some(None)) || matches!(self.get(), Some(Some(set)) if set.is_empty())
    }
}

/// Calls the scan off unless the set was delivered first: held by the thread that dumps the sockets, so that
/// scanning threads waiting for the set never wait forever, whatever happens to the dump.
pub struct CallOffUnlessSet<'a>(pub &'a Wanted);

impl Drop for CallOffUnlessSet<'_> {
    fn drop(&mut self) {
        self.0.set(None);
    }
}

/// Processes whose socket inodes wait for the wanted set, with their descriptor open, at most.
const MAX_UNDECIDED: usize = 256;

/// [`MAX_UNDECIDED`], or a quarter of the soft open-file limit if that is lower, so that held descriptors never
/// make opening the next `/proc/PID/fd` fail.
fn max_undecided() -> usize {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit struct that we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 16;
    }
    usize::try_from(limit.rlim_cur / 4).unwrap_or(MAX_UNDECIDED).clamp(1, MAX_UNDECIDED)
}

/// Scans every process in `/proc` for descriptors on the `wanted` socket inodes and reads the details of those
/// holding one. Processes that exit during the scan are skipped silently. Fails only when `/proc` itself cannot be
/// listed.
pub fn scan_owners(wanted: InodeSet) -> io::Result<OwnerScan> {
    scan_owners_during(&Wanted::known(wanted), || ()).1
}

/// [`scan_owners`] started before the wanted set is known: `first` runs on one of the scanning threads, which
/// joins the scan when it returns; `first` is to deliver the set (and to call the scan off, whatever happens, if it
/// cannot: see [`CallOffUnlessSet`]). Returns what `first` returned and the scan. If the scan is called off, it
/// returns what it found so far.
pub fn scan_owners_during<R: Send>(wanted: &Wanted, first: impl FnOnce() -> R + Send) -> (R, io::Result<OwnerScan>) {
    let pids = match list_pids() {
        Ok(pids) => pids,
        Err(e) => return (first(), Err(e)),
    };
    let queue = Queue::new(&pids);
    let threads = thread::available_parallelism().map_or(1, |n| n.get()).min(pids.len()).max(1);
    let work = || {
        let mut worker = Worker::new(wanted);
        while let Some(task) = queue.take() {
            worker.run(task, &queue);
            queue.done();
            worker.settle(&queue, false);
        }
        worker.settle(&queue, true);
        worker.found
    };
    let (first_result, parts) = thread::scope(|scope| {
        let mut first = Some(first);
        let mut helpers = Vec::new();
        let mut first_helper = None;
        for _ in 1..threads {
            if let Some(f) = first.take() {
                match thread::Builder::new().spawn_scoped(scope, move || (f(), work())) {
                    Ok(helper) => first_helper = Some(helper),
                    // If a helper cannot be spawned, the remaining threads simply take its share.
                    Err(_) => break,
                }
            } else if let Ok(helper) = thread::Builder::new().spawn_scoped(scope, work) {
                helpers.push(helper);
            }
        }
        // No helper took `first`: run it here before scanning.
        let mut first_result = first.map(|f| f());
        let mut parts = vec![work()];
        if let Some(helper) = first_helper {
            match helper.join() {
                Ok((result, part)) => {
                    first_result = Some(result);
                    parts.push(part);
                }
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        for helper in helpers {
            match helper.join() {
                Ok(part) => parts.push(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        (first_result, parts)
    });
    // One of the two branches above always ran `first`.
    let Some(first_result) = first_result else { unreachable!("`first` ran on this thread or on a helper") };

    let mut scan = OwnerScan::default();
    for part in parts {
        scan.holdings.extend(part.holdings);
        scan.processes.extend(part.processes);
        scan.unreadable.extend(part.unreadable);
    }
    scan.processes.sort_unstable_by_key(|p| p.pid);
    // Keep only the holdings of processes we could describe (the others exited during the scan).
    scan.holdings.retain(|&(_, pid)| scan.processes.binary_search_by_key(&pid, |p| p.pid).is_ok());
    scan.holdings.sort_unstable();
    scan.holdings.dedup();
    scan.unreadable.sort_by_key(|(pid, _)| *pid);
    (first_result, Ok(scan))
}

/// Processes whose open files `/proc` refuses to show (a first `readlinkat` of one fd each), but for `readable`
/// (sorted PIDs of processes already read): what the fd scan would report as unreadable, found without resolving
/// every fd. Used when the kernel's file tables left some socket without owner, to say which processes may hide it.
pub fn refusing_processes_but(readable: &[u32]) -> io::Result<Vec<(u32, io::Error)>> {
    Ok(refusing(list_pids()?.into_iter().filter(|pid| readable.binary_search(pid).is_err())))
}

/// Those of `pids` whose open files `/proc` refuses to show (see [`refusing_processes_but`]).
pub fn refusing(pids: impl IntoIterator<Item = u32>) -> Vec<(u32, io::Error)> {
    let mut refusing = Vec::new();
    // Room for a few entries: ".", ".." and the first fd.
    let mut buf = [0u8; 256];
    let mut name = [0u8; 32];
    let mut link = [0u8; 64];
    for pid in pids {
        let fd_dir = match open_fd_dir(pid) {
            Ok(Some(fd_dir)) => fd_dir,
            Ok(None) => continue,
            Err(e) => {
                refusing.push((pid, e));
                continue;
            }
        };
        let Ok(len) = getdents(fd_dir.as_fd(), &mut buf) else { continue };
        let Some(first) = dirent_names(&buf[..len]).find(|n| !n.is_empty() && n.iter().all(u8::is_ascii_digit)) else {
            continue;
        };
        let Some(first) = nul_terminated(first, &mut name) else { continue };
        if let Err(e) = read_link_at(fd_dir.as_fd(), first, &mut link) {
            if is_permission_error(&e) {
                refusing.push((pid, e));
            }
        }
    }
    refusing
}

/// PIDs of all processes (thread-group leaders) visible in `/proc`.
pub(super) fn list_pids() -> io::Result<Vec<u32>> {
    let proc_dir = open_at(None, c"/proc", libc::O_DIRECTORY)?;
    let mut buf = Box::new(DirentBuf([0; DIRENT_BUF_LEN]));
    let mut pids = Vec::new();
    loop {
        let len = getdents(proc_dir.as_fd(), &mut buf.0)?;
        if len == 0 {
            return Ok(pids);
        }
        pids.extend(dirent_names(&buf.0[..len]).filter_map(parse_decimal::<u32>));
    }
}

/// One process being scanned, shared by the pieces of its fd table in flight.
struct ProcessScan {
    pid: u32,
    /// `/proc/PID/fd`, open; its file position is where the next piece of the table starts. For a process whose
    /// first thread has exited (its fd directory is then empty), a live thread's `/proc/PID/task/TID/fd`.
    fd_dir: OwnedFd,
    /// `/proc/PID/fd` when `fd_dir` is a thread's: the process's own files (`stat`, `exe`) are read through it.
    leader_dir: Option<OwnedFd>,
    /// Some piece held a wanted socket.
    hit: AtomicBool,
    /// The process exited while being read: it holds nothing any more.
    gone: AtomicBool,
    /// Reading its fds was refused (reported once, when the last piece finishes).
    refused: Mutex<Option<io::Error>>,
    /// Socket inodes it holds, noted while the wanted set was not known yet.
    undecided: Mutex<Vec<u64>>,
}

enum Task {
    Pid(u32),
    /// The rest of a fd table that did not fit one buffer.
    Rest(Arc<ProcessScan>),
}

/// Work shared by the scanning threads: PIDs not yet started, and the unread rest of fd tables being read.
struct Queue<'a> {
    pids: &'a [u32],
    state: Mutex<QueueState>,
    wake: Condvar,
    /// Processes held open by all threads until the wanted set arrives.
    undecided: AtomicUsize,
    /// How many may be (see [`max_undecided`]).
    max_undecided: usize,
}

struct QueueState {
    next_pid: usize,
    rests: Vec<Arc<ProcessScan>>,
    /// Tasks taken and not yet done; while some are, more rests may still appear.
    active: usize,
}

impl<'a> Queue<'a> {
    fn new(pids: &'a [u32]) -> Self {
        Queue {
            pids,
            state: Mutex::new(QueueState { next_pid: 0, rests: Vec::new(), active: 0 }),
            wake: Condvar::new(),
            undecided: AtomicUsize::new(0),
            max_undecided: max_undecided(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next task (rests of big fd tables first), waiting while others may still add some; `None` when done.
    fn take(&self) -> Option<Task> {
        let mut state = self.lock();
        loop {
            if let Some(rest) = state.rests.pop() {
                state.active += 1;
                return Some(Task::Rest(rest));
            }
            if let Some(&pid) = self.pids.get(state.next_pid) {
                state.next_pid += 1;
                state.active += 1;
                return Some(Task::Pid(pid));
            }
            if state.active == 0 {
                return None;
            }
            state = self.wake.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn push(&self, rest: Arc<ProcessScan>) {
        self.lock().rests.push(rest);
        self.wake.notify_one();
    }

    fn done(&self) {
        let mut state = self.lock();
        state.active -= 1;
        let idle = state.active == 0;
        drop(state);
        if idle {
            self.wake.notify_all();
        }
    }
}

/// What one thread found.
#[derive(Default)]
struct Found {
    holdings: Vec<(u64, u32)>,
    processes: Vec<Process>,
    unreadable: Vec<(u32, io::Error)>,
}

/// One scanning thread: its results and its reusable buffers.
struct Worker<'w> {
    wanted: &'w Wanted,
    found: Found,
    /// Processes whose socket inodes this thread noted before the wanted set was known.
    undecided: Vec<ProcessScan>,
    dents: Box<DirentBuf>,
    scratch: Vec<u8>,
    sockets: Vec<u64>,
}

impl<'w> Worker<'w> {
    fn new(wanted: &'w Wanted) -> Self {
        Worker {
            wanted,
            found: Found::default(),
            undecided: Vec::new(),
            dents: Box::new(DirentBuf([0; DIRENT_BUF_LEN])),
            scratch: Vec::new(),
            sockets: Vec::new(),
        }
    }

    fn run(&mut self, task: Task, queue: &Queue<'_>) {
        if self.wanted.nothing() {
            return;
        }
        let process = match task {
            Task::Rest(process) => process,
            Task::Pid(pid) => match open_fd_dir(pid) {
                Ok(Some(fd_dir)) => {
                    let (fd_dir, leader_dir) = match living_thread_fd_dir(pid, &fd_dir) {
                        Some(thread_dir) => (thread_dir, Some(fd_dir)),
                        None => (fd_dir, None),
                    };
                    Arc::new(ProcessScan {
                        pid,
                        fd_dir,
                        leader_dir,
                        hit: AtomicBool::new(false),
                        gone: AtomicBool::new(false),
                        refused: Mutex::new(None),
                        undecided: Mutex::new(Vec::new()),
                    })
                }
                Ok(None) => return,
                Err(e) => {
                    self.found.unreadable.push((pid, e));
                    return;
                }
            },
        };
        self.scan_piece(&process, queue);
        // The last piece of a process to finish wraps it up.
        if let Some(process) = Arc::into_inner(process) {
            self.finish(process, queue);
        }
    }

    /// Sorts out the processes noted before the wanted set was known, once it is; waits for it when too many are
    /// waiting already, or when `last` (nothing else left to do).
    fn settle(&mut self, queue: &Queue<'_>, last: bool) {
        if self.undecided.is_empty() {
            return;
        }
        let full = queue.undecided.load(Ordering::Relaxed) >= queue.max_undecided;
        let wanted = match self.wanted.get() {
            Some(wanted) => wanted,
            None if last || full => self.wanted.wait(),
            None => return,
        };
        let undecided = std::mem::take(&mut self.undecided);
        queue.undecided.fetch_sub(undecided.len(), Ordering::Relaxed);
        let Some(wanted) = wanted else { return };
        for process in undecided {
            let held = std::mem::take(&mut *lock(&process.undecided));
            for inode in held.into_iter().filter(|inode| wanted.contains(inode)) {
                self.found.holdings.push((inode, process.pid));
                process.hit.store(true, Ordering::Relaxed);
            }
            self.describe(process);
        }
    }

    /// Reads one buffer of the fd table (queueing the rest, if any, for whichever thread is free) and resolves it.
    fn scan_piece(&mut self, process: &Arc<ProcessScan>, queue: &Queue<'_>) {
        if process.gone.load(Ordering::Relaxed) || lock(&process.refused).is_some() {
            return;
        }
        let len = match getdents(process.fd_dir.as_fd(), &mut self.dents.0) {
            Ok(len) => len,
            // The process exited while we were reading its fd table.
            Err(_) => {
                process.gone.store(true, Ordering::Relaxed);
                return;
            }
        };
        // procfs fills the buffer until the next record does not fit, so room left for a record of the longest
        // possible name means the listing is complete; otherwise the rest is read from the same position.
        if len > 0 && self.dents.0.len() - len < MAX_DIRENT_LEN {
            queue.push(Arc::clone(process));
        }
        // The wanted set as of this piece; until it is known, socket inodes are noted for later.
        let wanted = self.wanted.get();
        self.sockets.clear();
        let mut name = [0u8; 32];
        let mut link = [0u8; 64];
        for entry in dirent_names(&self.dents.0[..len]) {
            if entry == b"." || entry == b".." {
                continue;
            }
            let Some(entry_name) = nul_terminated(entry, &mut name) else {
                continue;
            };
            match read_link_at(process.fd_dir.as_fd(), entry_name, &mut link) {
                Ok(n) => {
                    if let Some(inode) = parse_socket_link(&link[..n]) {
                        match wanted {
                            Some(Some(wanted)) if wanted.contains(&inode) => {
                                self.found.holdings.push((inode, process.pid));
                                process.hit.store(true, Ordering::Relaxed);
                            }
                            Some(_) => {}
                            None => self.sockets.push(inode),
                        }
                    }
                }
                Err(e) if is_permission_error(&e) => {
                    // Every other fd of this process will be refused too (this happens even to root for
                    // processes it may not ptrace): report the process once and stop.
                    lock(&process.refused).get_or_insert(e);
                    break;
                }
                // ENOENT: the fd was closed after we listed it. Anything else: skip the fd.
                Err(_) => {}
            }
        }
        if !self.sockets.is_empty() {
            lock(&process.undecided).extend_from_slice(&self.sockets);
        }
    }

    /// Reports a refused process; describes one that holds a wanted socket, or keeps it for later when it holds
    /// sockets and the wanted set was not known yet.
    fn finish(&mut self, process: ProcessScan, queue: &Queue<'_>) {
        if let Some(e) = lock(&process.refused).take() {
            self.found.unreadable.push((process.pid, e));
        }
        if process.gone.load(Ordering::Relaxed) {
            return;
        }
        if !lock(&process.undecided).is_empty() {
            queue.undecided.fetch_add(1, Ordering::Relaxed);
            self.undecided.push(process);
            return;
        }
        self.describe(process);
    }

    /// Reads the details of a process that holds a wanted socket. One that exited meanwhile is left out, and with
    /// it its holdings.
    fn describe(&mut self, process: ProcessScan) {
        if process.hit.load(Ordering::Relaxed) && !process.gone.load(Ordering::Relaxed) {
            let own = process.leader_dir.as_ref().unwrap_or(&process.fd_dir);
            if let Some(details) = read_details(own.as_fd(), process.pid, None, &mut self.scratch) {
                self.found.processes.push(details);
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Keeps an open error only when it means "exists but may not be read"; a vanished process is not an error.
fn unreadable(e: io::Error) -> Option<io::Error> {
    match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ESRCH) => None,
        _ => Some(e),
    }
}

/// When the first thread of a process has exited while others live on (it stays a zombie), `/proc/PID/fd` is
/// empty, but the process's descriptors are still open: a live thread's `/proc/PID/task/TID/fd` lists them (the BPF
/// walk sees them the same way). Returns that directory, open, when `fd_dir` is empty and the leader is a zombie.
/// Since Linux 6.2 the size of an fd directory is its number of descriptors, so one `fstat` tells an empty table;
/// on older kernels (size 0 always) the leader's state is read for every process.
fn living_thread_fd_dir(pid: u32, fd_dir: &OwnedFd) -> Option<OwnedFd> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat on a descriptor we own; `st` is read only when the call succeeded.
    if unsafe { libc::fstat(fd_dir.as_raw_fd(), st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: fstat returned 0, so it filled `st`.
    if unsafe { st.assume_init() }.st_size != 0 {
        return None;
    }
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    if stat_field(&stat, 3) != Some("Z") {
        return None;
    }
    super::threads::other_threads(pid).into_iter().find_map(|tid| {
        let path = std::ffi::CString::new(format!("/proc/{pid}/task/{tid}/fd")).ok()?;
        open_at(None, &path, libc::O_DIRECTORY).ok()
    })
}

/// Opens `/proc/PID/fd`. `Ok(None)`: nothing to report: the process is gone, or it is a kernel thread (no files;
/// when we are not root its fd directory is refused like any other process's, but that hides nothing). `Err`: the
/// directory of a process that may hold sockets could not be opened.
fn open_fd_dir(pid: u32) -> io::Result<Option<OwnedFd>> {
    let mut path = [0u8; 32];
    let Some(path) = proc_pid_fd_path(pid, &mut path) else { return Ok(None) };
    match open_at(None, path, libc::O_DIRECTORY) {
        Ok(fd_dir) => Ok(Some(fd_dir)),
        Err(e) if is_permission_error(&e) && is_kernel_thread(pid) => Ok(None),
        Err(e) => unreadable(e).map_or(Ok(None), Err),
    }
}

/// Parses the target of an fd symlink, `socket:[INODE]`.
pub fn parse_socket_link(link: &[u8]) -> Option<u64> {
    parse_decimal(link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?)
}

#[cfg(test)]
mod tests {
    use super::super::details::describe_one;
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn refusing_processes_never_names_ourselves() {
        let refusing = refusing_processes_but(&[]).unwrap();
        assert!(refusing.iter().all(|(pid, _)| *pid != std::process::id()));
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

    fn own_inode(fd: &impl AsRawFd) -> u64 {
        let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
        parse_socket_link(link.as_os_str().as_encoded_bytes()).unwrap()
    }

    #[test]
    fn scan_finds_own_socket_and_details() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let inode = own_inode(&listener);
        let scan = scan_owners(InodeSet::from_iter([inode])).unwrap();
        let me = std::process::id();
        assert_eq!(scan.holdings, vec![(inode, me)]);
        assert_eq!(scan.processes.len(), 1);
        let process = &scan.processes[0];
        assert_eq!(process.pid, me);
        let start = process.start_time;
        assert!(start.is_some());
        let comm = std::fs::read("/proc/self/comm").unwrap();
        assert_eq!(process.name.as_bytes(), comm.strip_suffix(b"\n").unwrap_or(&comm));
        // SAFETY: getuid has no preconditions and cannot fail.
        assert_eq!(process.uid, Some(unsafe { libc::getuid() }));
        let exe = std::env::current_exe().unwrap();
        assert_eq!(process.exe.as_deref(), exe.to_str());
        assert!(!process.cmdline.is_empty());
        assert_eq!(process.user, None);

        // The same details by path; a different start time means the PID was reused: the owner is dropped.
        let start = start.unwrap();
        assert_eq!(describe_one((me, start), None).as_ref(), Some(process));
        assert!(describe_one((me, start + 1), None).is_none());
    }

    /// The wanted set arrives while the scan runs: what was noted before is sorted out then; a scan called off
    /// returns without waiting; an empty set finds nothing.
    #[test]
    fn scan_works_when_the_wanted_set_comes_late_or_never() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let inode = own_inode(&listener);
        let me = std::process::id();
        for delay in [0, 5, 50] {
            let wanted = Wanted::default();
            let (value, scan) = scan_owners_during(&wanted, || {
                std::thread::sleep(std::time::Duration::from_millis(delay));
                wanted.set(Some(InodeSet::from_iter([inode])));
                delay
            });
            let scan = scan.unwrap();
            assert_eq!(value, delay);
            assert_eq!(scan.holdings, vec![(inode, me)], "delay {delay} ms");
            assert_eq!(scan.processes.len(), 1);
        }
        let called_off = Wanted::default();
        let ((), scan) = scan_owners_during(&called_off, || drop(CallOffUnlessSet(&called_off)));
        assert!(scan.unwrap().holdings.is_empty());
        assert!(scan_owners(InodeSet::default()).unwrap().processes.is_empty());
    }

    /// A fd table larger than one getdents64 buffer is read in pieces, possibly by several threads; every piece is
    /// resolved and the process is described once.
    #[test]
    fn scan_reads_big_fd_tables_in_pieces() {
        let first = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let wanted_fds = DIRENT_BUF_LEN / 24 * 2 + 100;
        let (soft, hard) = fd_limits();
        if soft < (wanted_fds + 512) as u64 && !raise_fd_limit((wanted_fds + 512) as u64, hard) {
            let why = format!("cannot raise RLIMIT_NOFILE to {}", wanted_fds + 512);
            crate::platform::linux::sys::cannot_run("scan_reads_big_fd_tables_in_pieces", &why);
            return;
        }
        let dups: Vec<OwnedFd> = (0..wanted_fds).map(|_| first.as_fd().try_clone_to_owned().unwrap()).collect();
        let last = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let scan = scan_owners(InodeSet::from_iter([own_inode(&first), own_inode(&last)])).unwrap();
        let me = std::process::id();
        let mut expected = vec![(own_inode(&first), me), (own_inode(&last), me)];
        expected.sort_unstable();
        assert_eq!(scan.holdings, expected);
        assert_eq!(scan.processes.iter().filter(|p| p.pid == me).count(), 1);
        drop(dups);
    }

    fn fd_limits() -> (u64, u64) {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes one rlimit struct we own.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
        (limit.rlim_cur, limit.rlim_max)
    }

    fn raise_fd_limit(soft: u64, hard: u64) -> bool {
        let limit = libc::rlimit { rlim_cur: soft.min(hard), rlim_max: hard };
        // SAFETY: setrlimit reads one rlimit struct we own.
        soft <= hard && unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } == 0
    }
}
