//! Who holds which socket, read from `/proc`: a parallel scan of every process's `/proc/PID/fd`, and details
//! (name, executable, command line, uid, start time) of the processes found holding a wanted socket. As root the
//! owners usually come from the kernel's file tables instead ([`super::bpf`]); their details are still read here
//! ([`describe_holders`]), and the scan is the fallback wherever that walk cannot run.
//!
//! The fd scan is the hot path (one `readlinkat` per open file on the machine), so it allocates nothing per fd: it
//! opens `/proc/PID/fd` once, reads it with `getdents64` into a per-thread buffer and resolves each entry with
//! `readlinkat` relative to the directory descriptor into a stack buffer.
//!
//! Working through an open descriptor also pins the process instance: if the PID dies and is reused meanwhile,
//! reads through the old descriptor fail instead of describing the newcomer. An owner's details are therefore read
//! right after its fds, through the same descriptor (`../exe`, `../cmdline`, `../status`, and `../stat` last: if
//! that still reads, the process lived through every read before it), each file opened once. The name comes from
//! `stat` too: its second field is the same bytes as `comm` (both are the kernel's `proc_task_name` without
//! escaping), which saves opening a fourth file.
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

use std::ffi::CStr;
use std::io::{self, Read, Write as _};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread;

use crate::model::Process;
use crate::text::decode_bytes;

/// A set of socket inodes. Inodes are small integers handed out by the kernel, not chosen by an adversary, so the
/// Fx hash is enough and much cheaper than the default SipHash (one lookup per socket fd).
pub type InodeSet = rustc_hash::FxHashSet<u64>;

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

/// What the fd scan found.
#[derive(Debug, Default)]
pub struct OwnerScan {
    /// `(socket inode, PID)` for every wanted socket held by a process whose details could be read; sorted, each
    /// pair once.
    pub holdings: Vec<(u64, u32)>,
    /// Details of every PID in `holdings`, sorted by PID. `user` is left `None` for the caller to fill.
    pub processes: Vec<Process>,
    /// Processes whose fds could not be read, with the error (`EACCES` for other users' processes when not root,
    /// or for processes protected even from root), sorted by PID.
    pub unreadable: Vec<(u32, io::Error)>,
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

/// The details of processes already known to hold wanted sockets (from the kernel's file tables, see
/// [`super::bpf`]): `holdings` are `(socket inode, PID, start time in clock ticks)`. A process is described only
/// if `/proc` shows it with that start time (otherwise it exited, or its PID was reused since: its sockets are left
/// without owner), reading its files through one open `/proc/PID` descriptor as the scan does, `stat` last. Work is
/// spread over the cores.
///
/// `early` has the owners already looked at (see [`describe_one`]): `Some` details, or `None` when `/proc` did
/// not show that process with that start time.
pub fn describe_holders(holdings: &[(u64, u32, u64)], early: Vec<((u32, u64), Option<Process>)>) -> OwnerScan {
    let looked_at: std::collections::HashSet<(u32, u64)> = early.iter().map(|(owner, _)| *owner).collect();
    let mut owners: Vec<(u32, u64)> =
        holdings.iter().map(|&(_, pid, start)| (pid, start)).filter(|owner| !looked_at.contains(owner)).collect();
    owners.sort_unstable();
    owners.dedup();
    let threads = thread::available_parallelism().map_or(1, |n| n.get()).min(owners.len()).max(1);
    let next = AtomicUsize::new(0);
    let work = || {
        let mut found = Vec::new();
        let mut buf = Vec::new();
        let mut path = [0u8; 32];
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(&owner) = owners.get(i) else { break };
            found.extend(describe_with(owner, &mut buf, &mut path));
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
        .filter(|&&(_, pid, start)| {
            processes.binary_search_by_key(&pid, |p| p.pid).is_ok_and(|i| processes[i].start_time == Some(start))
        })
        .map(|&(inode, pid, _)| (inode, pid))
        .collect();
    holdings.sort_unstable();
    holdings.dedup();
    OwnerScan { holdings, processes, unreadable: Vec::new() }
}

/// The details of one owner found by the walk of the file tables, `(PID, start time in clock ticks)`, if `/proc`
/// shows that process with that start time (see [`describe_holders`]).
pub fn describe_one(owner: (u32, u64)) -> Option<Process> {
    describe_with(owner, &mut Vec::new(), &mut [0u8; 32])
}

fn describe_with((pid, start): (u32, u64), buf: &mut Vec<u8>, path: &mut [u8; 32]) -> Option<Process> {
    let fd_dir = open_at(None, proc_pid_fd_path(pid, path)?, libc::O_DIRECTORY | libc::O_PATH).ok()?;
    read_details(fd_dir.as_fd(), pid, buf).filter(|process| process.start_time == Some(start))
}

/// Processes whose open files `/proc` refuses to show (a first `readlinkat` of one fd each): what the fd scan
/// would report as unreadable, found without resolving every fd. Used when the kernel's file tables left some
/// socket without owner, to say which processes may hide it.
pub fn refusing_processes() -> io::Result<Vec<(u32, io::Error)>> {
    let mut refusing = Vec::new();
    // Room for a few entries: ".", ".." and the first fd.
    let mut buf = [0u8; 256];
    let mut name = [0u8; 32];
    let mut link = [0u8; 64];
    for pid in list_pids()? {
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
    Ok(refusing)
}

/// PIDs of all processes (thread-group leaders) visible in `/proc`.
fn list_pids() -> io::Result<Vec<u32>> {
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

fn parse_decimal<T: std::str::FromStr>(bytes: &[u8]) -> Option<T> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// One process being scanned, shared by the pieces of its fd table in flight.
struct ProcessScan {
    pid: u32,
    /// `/proc/PID/fd`, open; its file position is where the next piece of the table starts.
    fd_dir: OwnedFd,
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
                Ok(Some(fd_dir)) => Arc::new(ProcessScan {
                    pid,
                    fd_dir,
                    hit: AtomicBool::new(false),
                    gone: AtomicBool::new(false),
                    refused: Mutex::new(None),
                    undecided: Mutex::new(Vec::new()),
                }),
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
            if let Some(details) = read_details(process.fd_dir.as_fd(), process.pid, &mut self.scratch) {
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

/// A directory entry's name with a terminating NUL, in `buf`; `None` if it does not fit.
fn nul_terminated<'b>(entry: &[u8], buf: &'b mut [u8; 32]) -> Option<&'b CStr> {
    let slot = buf.get_mut(..=entry.len())?;
    slot[..entry.len()].copy_from_slice(entry);
    slot[entry.len()] = 0;
    CStr::from_bytes_until_nul(slot).ok()
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

/// Bytes of directory records read at once: about 1,300 fds (a record for fd 1234 takes 24 bytes).
const DIRENT_BUF_LEN: usize = 32 * 1024;

/// An 8-byte aligned buffer for `getdents64`, whose records are 8-byte aligned.
#[repr(C, align(8))]
struct DirentBuf([u8; DIRENT_BUF_LEN]);

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

/// Reads a file relative to `dir` into the start of `buf` and returns its length: the content is `&buf[..len]`.
/// `buf` is only ever grown (zero-filled), never cleared, so reading many small files costs no memset each. A read
/// shorter than the room offered ends it: procfs files are generated whole and handed out as far as the buffer
/// allows, so that saves the final zero-length read.
fn read_at(dir: BorrowedFd<'_>, name: &CStr, buf: &mut Vec<u8>) -> io::Result<usize> {
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
fn read_link_vec(dir: BorrowedFd<'_>, name: &CStr, buf: &mut Vec<u8>) -> io::Result<usize> {
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

// ---- owner details ----

/// Reads the details of the process whose `/proc/PID/fd` is open as `fd_dir`, through that descriptor, so every
/// file belongs to the process whose fds were just read even if the PID has been reused since. `../stat` is read
/// last: if it still reads, the process was alive throughout and the other files were complete; otherwise `None`
/// (it exited, and no longer holds its sockets). `user` is left `None` for the caller to fill.
fn read_details(fd_dir: BorrowedFd<'_>, pid: u32, buf: &mut Vec<u8>) -> Option<Process> {
    let exe = read_link_vec(fd_dir, c"../exe", buf).ok().map(|n| decode_bytes(&buf[..n]));
    let cmdline =
        read_at(fd_dir, c"../cmdline", buf).map(|n| decode_bytes(&join_cmdline(&buf[..n]))).unwrap_or_default();
    let uid = read_at(fd_dir, c"../status", buf).ok().and_then(|n| parse_status_uid(&buf[..n]));
    let stat_len = read_at(fd_dir, c"../stat", buf).ok()?;
    let stat = &buf[..stat_len];
    let start_time = parse_stat_start_time(stat)?;
    let name = decode_bytes(stat_comm(stat)?);
    Some(Process { pid, name, exe, cmdline, user: None, uid, start_time: Some(start_time), container: None })
}

/// The command name in `/proc/PID/stat`: everything between the `(` after the PID and the last `)` (the name may
/// itself contain parentheses, spaces and newlines). The same bytes as `/proc/PID/comm` without its newline.
fn stat_comm(stat: &[u8]) -> Option<&[u8]> {
    let open = stat.iter().position(|&b| b == b'(')?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    stat.get(open + 1..close)
}

#[cfg(test)]
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
    fn holders_are_described_only_with_their_start_time() {
        let me = std::process::id();
        let stat = std::fs::read("/proc/self/stat").unwrap();
        let start = parse_stat_start_time(&stat).unwrap();
        let scan = describe_holders(&[(4711, me, start), (4712, me, start), (4713, me, start + 1)], Vec::new());
        // The record with another start time stands for an earlier process that had our PID: not us.
        assert_eq!(scan.holdings, [(4711, me), (4712, me)]);
        assert_eq!(scan.processes.len(), 1);
        assert_eq!(scan.processes[0].pid, me);
        let reused = describe_holders(&[(4713, me, start + 1)], Vec::new());
        assert!(reused.holdings.is_empty() && reused.processes.is_empty(), "{reused:?}");
        // A PID that does not exist describes nothing.
        let gone = describe_holders(&[(4714, u32::MAX - 1, 1)], Vec::new());
        assert!(gone.holdings.is_empty() && gone.processes.is_empty());
        // Owners looked at early are not looked at again, and count as described (or not).
        let early = vec![((me, start), describe_one((me, start))), ((me, start + 1), None)];
        let scan = describe_holders(&[(4711, me, start), (4713, me, start + 1)], early);
        assert_eq!(scan.holdings, [(4711, me)]);
        assert_eq!(scan.processes.len(), 1);
    }

    #[test]
    fn refusing_processes_never_names_ourselves() {
        let refusing = refusing_processes().unwrap();
        assert!(refusing.iter().all(|(pid, _)| *pid != std::process::id()));
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
        assert_eq!(process.name.as_bytes(), trim_newline(&comm));
        // SAFETY: getuid has no preconditions and cannot fail.
        assert_eq!(process.uid, Some(unsafe { libc::getuid() }));
        let exe = std::env::current_exe().unwrap();
        assert_eq!(process.exe.as_deref(), exe.to_str());
        assert!(!process.cmdline.is_empty());
        assert_eq!(process.user, None);

        // The same details by path; a different start time means the PID was reused: the owner is dropped.
        let start = start.unwrap();
        assert_eq!(describe_one((me, start)).as_ref(), Some(process));
        assert!(describe_one((me, start + 1)).is_none());
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
            eprintln!("skipped: cannot raise RLIMIT_NOFILE to {}", wanted_fds + 512);
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
