//! `--all-netns`: every network namespace in use on the machine, and the listeners inside each.
//!
//! # Finding the namespaces
//!
//! * Every process's `/proc/PID/ns/net` (its target reads `net:[INODE]`): namespaces with a process in them,
//!   with a few PIDs per namespace kept as ways in (more than one in case one exits before we get there).
//! * Every `nsfs` bind mount of a network namespace in `/proc/self/mountinfo`: `ip netns add NAME` binds one at
//!   `/run/netns/NAME` (the namespace is then named NAME; Docker's under `/run/docker/netns` stay unnamed), and
//!   such a namespace may hold no process at all.
//!
//! Namespaces are told apart by inode. The one portwarden runs in (`/proc/thread-self/ns/net`) is the *current*
//! one, treated as the host's; its sockets are the dump `list` makes anyway.
//!
//! # Listing one namespace
//!
//! A socket belongs to the namespace it was created in, and sock_diag only reports the namespace of the netlink
//! socket asking. So each other namespace's file is opened by the calling thread first (pinning the namespace, and
//! checked to be the inode found), then a worker thread `setns`es into it and runs the very dump `list` uses
//! (interface names included, resolved inside the namespace). The network namespace is per thread, so the calling
//! thread never moves; the workers (one per core at most, each taking the next namespace until none is left) are
//! scoped threads that end when the dumps are done, never reused for anything else.
//!
//! Owners need nothing more: socket inodes are unique across namespaces, so the one `/proc` fd scan over the
//! inodes of every namespace finds them all.
//!
//! # Partial failure
//!
//! Only the current namespace's dump failing is fatal (the caller fails closed). A namespace that cannot be
//! entered (EPERM when not root), one that vanished before it could be opened, and processes whose namespace could
//! not be read (other users' processes when not root) become warnings that say what was not seen.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use anyhow::anyhow;

use super::sock_diag;
use super::sys::{effective_uid, is_kernel_thread, is_permission_error};
use crate::error::Error;
use crate::model::{Netns, Query, Socket};

/// Ways into one namespace kept from the process scan (more than one in case a process exits meanwhile).
const PIDS_PER_NAMESPACE: usize = 3;

/// Namespaces named in one warning before summarising the rest.
const NAMESPACES_IN_WARNING: usize = 5;

/// Directories whose namespace bind mounts are named by their file name (`ip netns`).
const NAMED_DIRS: [&str; 2] = ["/run/netns", "/var/run/netns"];

/// What `--all-netns` adds to a listing besides sockets.
#[derive(Debug, Default)]
pub struct Extra {
    /// How many namespaces were listed (the current one included); `None` without `--all-netns`.
    pub namespaces: Option<usize>,
    /// What could not be seen, and why.
    pub warnings: Vec<String>,
    /// Those of the warnings that mean a namespace's listeners are missing from the list (not one that vanished):
    /// a check made with such gaps cannot pass.
    pub gaps: Vec<String>,
}

/// The sockets of the current network namespace (the dump `list` always makes) and, with `query.all_netns`, those
/// of every other namespace, each labelled with its namespace. Fails when the current namespace's dump fails.
pub fn list_sockets(query: &Query, extra: &mut Extra) -> Result<Vec<Socket>, Error> {
    let current = sock_diag::list_sockets(query).map_err(|e| Error::SocketList(format!("{e:#}")))?;
    let (sockets, namespaces) = add_other_namespaces(query, current, &mut extra.warnings, &mut extra.gaps)?;
    extra.namespaces = namespaces;
    Ok(sockets)
}

/// With `query.all_netns`: labels `current` (the sockets of the current namespace, already dumped) with that
/// namespace, adds the sockets of every other network namespace, each labelled, and returns them sorted by
/// (port, protocol, address, inode) with the number of namespaces listed. Without it, returns `current` as it is.
///
/// Fails only when the current namespace cannot be identified (not permitted, when that was refused; else the socket
/// list is incomplete); every other problem is a warning.
pub fn add_other_namespaces(
    query: &Query,
    current: Vec<Socket>,
    warnings: &mut Vec<String>,
    gaps: &mut Vec<String>,
) -> Result<(Vec<Socket>, Option<usize>), Error> {
    if !query.all_netns {
        return Ok((current, None));
    }
    let before = warnings.len();
    let own = current_inode().map_err(|e| {
        let message = format!("cannot tell which network namespace portwarden runs in: {e}");
        if is_permission_error(&e) {
            Error::NotPermitted(message)
        } else {
            Error::SocketList(message)
        }
    })?;
    warnings.extend(confinement_warnings());
    let found = discover();
    if let Some(e) = &found.proc_error {
        warnings.push(format!(
            "cannot list the processes in /proc ({e}): only network namespaces bound under /run/netns are listed"
        ));
    }
    if found.unreadable > 0 {
        let n = found.unreadable;
        let noun = if n == 1 { "process" } else { "processes" };
        warnings.push(format!(
            "could not read the network namespace of {n} {noun} (permission denied): namespaces used only by them \
             are not listed; {}",
            unreadable_hint()
        ));
    }

    let mut namespaces = found.namespaces;
    let own_name = namespaces.remove(&own).and_then(|c| c.name);
    let own_ns = Netns { inode: own, name: own_name, current: true };
    let mut sockets = current;
    for s in &mut sockets {
        s.netns = Some(own_ns.clone());
    }

    // Open every other namespace here, so the workers only enter and dump.
    let mut opened: Vec<(Netns, File)> = Vec::new();
    let mut vanished: Vec<Netns> = Vec::new();
    for (inode, candidate) in namespaces {
        let netns = Netns { inode, name: candidate.name, current: false };
        match open_namespace(inode, &candidate.ways_in, candidate.mounts) {
            Some(file) => opened.push((netns, file)),
            None => vanished.push(netns),
        }
    }
    // Everything said so far is something that could not be seen.
    gaps.extend(warnings[before..].iter().cloned());
    if !vanished.is_empty() {
        warnings.push(format!(
            "{} vanished before it could be opened (its processes exited or it was deleted)",
            namespace_list(&vanished)
        ));
    }
    let after_vanished = warnings.len();

    let mut listed = 1;
    let mut refused: Vec<Netns> = Vec::new();
    let mut refusal: Option<io::Error> = None;
    for ((netns, _), result) in opened.iter().zip(dump_all(query, &opened)) {
        match result {
            Ok(found) => {
                listed += 1;
                sockets.extend(found.into_iter().map(|mut s| {
                    s.netns = Some(netns.clone());
                    s
                }));
            }
            Err(Failure::Enter(e)) if is_permission_error(&e) => {
                refused.push(netns.clone());
                refusal.get_or_insert(e);
            }
            Err(Failure::Enter(e)) => {
                warnings.push(format!("could not enter {}: {e}; its listeners are not listed", describe(netns)))
            }
            Err(Failure::Dump(e)) => warnings
                .push(format!("cannot list the sockets of {}: {e:#}; its listeners are not listed", describe(netns))),
        }
    }
    if let Some(e) = refusal {
        let their = if refused.len() == 1 { "its" } else { "their" };
        warnings.push(format!(
            "could not enter {}: {e}; {their} listeners are not listed; {}",
            namespace_list(&refused),
            privilege_hint()
        ));
    }

    gaps.extend(warnings[after_vanished..].iter().cloned());
    sockets.sort_by_key(|s| (s.port, s.protocol, s.address, s.inode));
    Ok((sockets, Some(listed)))
}

/// "network namespace 4026532201 (pw-test)" or "network namespace 4026532305".
fn describe(netns: &Netns) -> String {
    match &netns.name {
        Some(name) => format!("network namespace {} ({name})", netns.inode),
        None => format!("network namespace {}", netns.inode),
    }
}

/// "2 network namespaces (4026532201 (pw-test), 4026532305)", the first few named.
fn namespace_list(list: &[Netns]) -> String {
    if let [one] = list {
        return describe(one);
    }
    let mut shown: Vec<String> = list
        .iter()
        .take(NAMESPACES_IN_WARNING)
        .map(|n| match &n.name {
            Some(name) => format!("{} ({name})", n.inode),
            None => n.inode.to_string(),
        })
        .collect();
    if list.len() > NAMESPACES_IN_WARNING {
        shown.push(format!("and {} more", list.len() - NAMESPACES_IN_WARNING));
    }
    format!("{} network namespaces ({})", list.len(), shown.join(", "))
}

/// What to say when namespaces were refused to us.
fn privilege_hint() -> &'static str {
    if effective_uid() != 0 {
        "run as root to see every network namespace"
    } else if !in_initial_user_namespace() {
        "portwarden is root only inside a user namespace (a rootless container?), which gives it no power over \
         namespaces outside; run it as root on the host to see every network namespace"
    } else if !has_cap_sys_admin() {
        "portwarden runs as root without CAP_SYS_ADMIN (a container or service that dropped it), which entering a \
         namespace needs; run it with CAP_SYS_ADMIN to see every network namespace"
    } else {
        "even root was refused: a security module or a seccomp filter forbids entering namespaces"
    }
}

/// Warnings for a portwarden that runs confined (in a container): what it cannot even know exists.
fn confinement_warnings() -> Vec<String> {
    let mut out = Vec::new();
    if !in_initial_user_namespace() {
        out.push(
            "portwarden runs inside a user namespace (a rootless container?): it may enter no network namespace \
             owned outside it; run it as root on the host to see every network namespace"
                .to_string(),
        );
    }
    if !in_initial_pid_namespace() {
        out.push(
            "portwarden runs in a PID namespace of its own (a container?): processes outside it, and network \
             namespaces only they use, cannot be seen from here; run it on the host to see every network namespace"
                .to_string(),
        );
    }
    out
}

/// `PROC_PID_INIT_INO` (include/linux/proc_ns.h): the inode of the initial PID namespace, fixed since Linux 3.8.
const INITIAL_PID_NAMESPACE: u64 = 0xEFFF_FFFC;

/// True unless `/proc/self/ns/pid` names another PID namespace than the initial one (a container's). Asking the
/// namespace, not `NSpid:`, matters: a container's own `/proc` shows only its own level of PIDs.
fn in_initial_pid_namespace() -> bool {
    match std::fs::read_link("/proc/self/ns/pid") {
        Ok(link) => link.as_os_str().as_bytes() == format!("pid:[{INITIAL_PID_NAMESPACE}]").as_bytes(),
        Err(_) => true,
    }
}

/// What to say when some processes' namespace links could not be read.
fn unreadable_hint() -> &'static str {
    if effective_uid() != 0 || !in_initial_user_namespace() {
        privilege_hint()
    } else {
        "even root may not read them: a sandbox or security module protects these processes"
    }
}

/// True when our user namespace maps every uid to itself: the initial one (not a container's).
fn in_initial_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .map(|map| {
            let fields: Vec<&str> = map.split_whitespace().collect();
            fields == ["0", "0", "4294967295"]
        })
        .unwrap_or(true)
}

/// Whether CAP_SYS_ADMIN (bit 21) is in our effective capability set.
fn has_cap_sys_admin() -> bool {
    const CAP_SYS_ADMIN: u32 = 21;
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?.trim().to_string();
            u64::from_str_radix(&hex, 16).ok()
        })
        .is_none_or(|caps| caps & (1 << CAP_SYS_ADMIN) != 0)
}

/// A warning when portwarden runs in another network namespace than PID 1 (normally the host's): exposure
/// (loopback, all-interfaces...) is then judged for this namespace's interfaces, not the host's. Nothing when PID
/// 1's namespace cannot be read (not root, or PID 1 protected even from root).
pub fn foreign_namespace_warning() -> Option<String> {
    let ours = std::fs::read_link("/proc/self/ns/net").ok()?;
    let init = std::fs::read_link("/proc/1/ns/net").ok()?;
    let (ours, init) = (parse_ns_link(ours.as_os_str().as_bytes())?, parse_ns_link(init.as_os_str().as_bytes())?);
    (ours != init).then(|| {
        format!(
            "portwarden runs in network namespace {ours}, not in PID 1's ({init}, normally the host's): exposure is \
             judged for this network namespace, whose interfaces may not be the host's; run it in the host's \
             namespace to judge what the host exposes"
        )
    })
}

/// The inode of the calling thread's network namespace.
pub(super) fn current_inode() -> io::Result<u64> {
    let link = std::fs::read_link("/proc/thread-self/ns/net")?;
    parse_ns_link(link.as_os_str().as_bytes())
        .ok_or_else(|| io::Error::other(format!("unexpected namespace link {}", link.display())))
}

/// Parses the target of a namespace link, `net:[INODE]`.
pub fn parse_ns_link(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"net:[")?.strip_suffix(b"]")?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// One namespace found, before it is opened.
#[derive(Debug, Default)]
struct Candidate {
    /// Its name under /run/netns, if bound there.
    name: Option<String>,
    /// Files that refer to it: bind mounts first (they do not go away with a process), then `/proc/PID/ns/net`.
    ways_in: Vec<PathBuf>,
    /// How many of those are `/proc/PID/ns/net`.
    pids: usize,
    /// How many of those are bind mounts (the first ones): paths from mountinfo, opened without following links.
    mounts: usize,
}

#[derive(Debug, Default)]
struct Discovery {
    namespaces: BTreeMap<u64, Candidate>,
    /// Processes whose namespace link could not be read (not kernel threads, which all live in the initial one).
    unreadable: usize,
    /// `/proc` could not be listed.
    proc_error: Option<io::Error>,
}

fn discover() -> Discovery {
    let mut found = Discovery::default();
    if let Ok(mountinfo) = std::fs::read("/proc/self/mountinfo") {
        for (inode, path) in namespace_mounts(&mountinfo) {
            let name = named(&path);
            let c = found.namespaces.entry(inode).or_default();
            if c.name.is_none() {
                c.name = name;
            }
            c.ways_in.insert(c.mounts, path);
            c.mounts += 1;
        }
    }
    let entries = match std::fs::read_dir("/proc") {
        Ok(entries) => entries,
        Err(e) => {
            found.proc_error = Some(e);
            return found;
        }
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = std::str::from_utf8(file_name.as_bytes()).ok().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let link_path = PathBuf::from(format!("/proc/{pid}/ns/net"));
        match std::fs::read_link(&link_path) {
            Ok(link) => {
                if let Some(inode) = parse_ns_link(link.as_os_str().as_bytes()) {
                    let c = found.namespaces.entry(inode).or_default();
                    if c.pids < PIDS_PER_NAMESPACE {
                        c.pids += 1;
                        c.ways_in.push(link_path);
                    }
                }
            }
            Err(e) if is_permission_error(&e) => {
                if !is_kernel_thread(pid) {
                    found.unreadable += 1;
                }
            }
            // ENOENT: the process exited meanwhile.
            Err(_) => {}
        }
    }
    found
}

/// The network namespace bind mounts in the text of `/proc/self/mountinfo`: (inode, mount point).
pub fn namespace_mounts(mountinfo: &[u8]) -> Vec<(u64, PathBuf)> {
    let mut out = Vec::new();
    for line in mountinfo.split(|&b| b == b'\n') {
        // "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER"
        let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        let Some(dash) = fields.iter().position(|f| *f == b"-") else { continue };
        if fields.get(dash + 1) != Some(&&b"nsfs"[..]) || fields.len() < 5 {
            continue;
        }
        if let Some(inode) = parse_ns_link(fields[3]) {
            out.push((inode, PathBuf::from(std::ffi::OsStr::from_bytes(&unescape_octal(fields[4])))));
        }
    }
    out
}

/// The namespaces bound under the `ip netns` directories, with their names (see [`named`]); empty when mountinfo
/// cannot be read.
pub(super) fn named_namespaces() -> Vec<(u64, Option<String>)> {
    let mountinfo = std::fs::read("/proc/self/mountinfo").unwrap_or_default();
    namespace_mounts(&mountinfo).into_iter().filter_map(|(inode, path)| Some((inode, Some(named(&path)?)))).collect()
}

/// Undoes the `\NNN` octal escapes mountinfo uses for space, tab, newline and backslash in paths.
fn unescape_octal(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\' {
            if let Some(digits) = field.get(i + 1..i + 4) {
                if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                    let value = digits.iter().fold(0u32, |v, d| v * 8 + u32::from(d - b'0'));
                    if let Ok(byte) = u8::try_from(value) {
                        out.push(byte);
                        i += 4;
                        continue;
                    }
                }
            }
        }
        out.push(field[i]);
        i += 1;
    }
    out
}

/// The name of a namespace bound in one of the `ip netns` directories.
fn named(path: &std::path::Path) -> Option<String> {
    let parent = path.parent()?;
    if NAMED_DIRS.iter().any(|d| parent == std::path::Path::new(d)) {
        Some(crate::text::decode_bytes(path.file_name()?.as_bytes()))
    } else {
        None
    }
}

/// Opens the first of `ways_in` that still refers to namespace `inode` (a PID may have exited, or been reused by a
/// process in another namespace). The first `mounts` are mount points from mountinfo: what is at such a path now
/// may be something else (a directory mounted over it, where another user put a FIFO or a link), so they are opened
/// without following a link or blocking on a FIFO; `/proc/PID/ns/net` are the kernel's own links, followed.
/// What is opened must be on the namespace filesystem (the device of our own namespace's file), with that inode.
fn open_namespace(inode: u64, ways_in: &[PathBuf], mounts: usize) -> Option<File> {
    let nsfs = std::fs::metadata("/proc/thread-self/ns/net").ok().map(|m| m.dev());
    ways_in.iter().enumerate().find_map(|(i, path)| {
        let file = if i < mounts { crate::fsutil::open_read_no_follow(path) } else { File::open(path) }.ok()?;
        let meta = file.metadata().ok()?;
        (meta.ino() == inode && nsfs.is_none_or(|dev| meta.dev() == dev)).then_some(file)
    })
}

/// Why one namespace could not be listed.
enum Failure {
    /// `setns` refused.
    Enter(io::Error),
    /// The sock_diag dump inside it failed.
    Dump(anyhow::Error),
}

/// Dumps the sockets of every namespace in `namespaces`, in order, using up to `available_parallelism` worker
/// threads. The calling thread never changes namespace.
fn dump_all(query: &Query, namespaces: &[(Netns, File)]) -> Vec<Result<Vec<Socket>, Failure>> {
    if namespaces.is_empty() {
        return Vec::new();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut out = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some((_, file)) = namespaces.get(i) else { break };
            out.push((i, dump_inside(file.as_fd(), query)));
        }
        out
    };
    let threads = thread::available_parallelism().map_or(1, |n| n.get()).min(namespaces.len());
    let mut results: Vec<(usize, Result<Vec<Socket>, Failure>)> = thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .filter_map(|_| thread::Builder::new().name("portwarden-netns".into()).spawn_scoped(scope, work).ok())
            .collect();
        let mut out = Vec::new();
        for worker in workers {
            match worker.join() {
                Ok(part) => out.extend(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    });
    // No worker could be started: every namespace is reported, none entered from this thread.
    for i in 0..namespaces.len() {
        if !results.iter().any(|(j, _)| *j == i) {
            results.push((i, Err(Failure::Dump(anyhow!("cannot start a thread to enter it")))));
        }
    }
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Runs in a worker thread: moves the thread into the namespace `ns` refers to, then dumps its sockets.
fn dump_inside(ns: BorrowedFd<'_>, query: &Query) -> Result<Vec<Socket>, Failure> {
    // SAFETY: `ns` is an open descriptor; setns only changes the network namespace of the calling thread (a worker
    // that ends after its dumps), and fails with EINVAL if `ns` is not a network namespace.
    let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(Failure::Enter(io::Error::last_os_error()));
    }
    sock_diag::list_sockets(query).map_err(Failure::Dump)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_links_parse_strictly() {
        assert_eq!(parse_ns_link(b"net:[4026531833]"), Some(4026531833));
        assert_eq!(parse_ns_link(b"net:[]"), None);
        assert_eq!(parse_ns_link(b"mnt:[4026531833]"), None);
        assert_eq!(parse_ns_link(b"net:[12x]"), None);
        assert_eq!(parse_ns_link(b"net:[99999999999999999999999]"), None);
    }

    #[test]
    fn mountinfo_yields_namespace_bind_mounts() {
        let text = b"22 1 0:21 / /proc rw,nosuid - proc proc rw\n\
43 42 0:4 net:[4026532177] /run/netns/pw\\040probe rw shared:2 - nsfs nsfs rw\n\
44 42 0:4 net:[4026532246] /run/netns/plain rw shared:3 - nsfs nsfs rw\n\
45 42 0:4 mnt:[4026532300] /run/mntns/x rw - nsfs nsfs rw\n\
46 30 0:4 net:[4026532400] /run/docker/netns/1a2b3c rw - nsfs nsfs rw\n";
        let mounts = namespace_mounts(text);
        assert_eq!(
            mounts,
            [
                (4026532177, PathBuf::from("/run/netns/pw probe")),
                (4026532246, PathBuf::from("/run/netns/plain")),
                (4026532400, PathBuf::from("/run/docker/netns/1a2b3c")),
            ]
        );
        assert_eq!(named(&mounts[0].1).as_deref(), Some("pw probe"));
        assert_eq!(named(std::path::Path::new("/var/run/netns/x")).as_deref(), Some("x"));
        assert_eq!(named(&mounts[2].1), None);
        assert_eq!(unescape_octal(b"a\\134b\\011\\12"), b"a\\b\t\\12");
    }

    #[test]
    fn warnings_name_namespaces_and_summarise() {
        let ns = |inode, name: Option<&str>| Netns { inode, name: name.map(str::to_string), current: false };
        assert_eq!(namespace_list(&[ns(7, Some("a"))]), "network namespace 7 (a)");
        let many: Vec<Netns> = (1..=7).map(|i| ns(i, None)).collect();
        assert_eq!(namespace_list(&many), "7 network namespaces (1, 2, 3, 4, 5, and 2 more)");
    }

    #[test]
    fn the_current_namespace_is_found_and_kernel_threads_are_told() {
        let own = current_inode().unwrap();
        let found = discover();
        // Our own process is always readable, so our namespace is always found, with at most a few PIDs.
        let c = found.namespaces.get(&own).unwrap_or_else(|| panic!("{own} not in {:?}", found.namespaces.keys()));
        assert!((1..=PIDS_PER_NAMESPACE).contains(&c.pids), "{c:?}");
        assert!(open_namespace(own, &c.ways_in, c.mounts).is_some());
        assert!(open_namespace(own + 1, &c.ways_in, c.mounts).is_none(), "a file of another namespace is refused");
        assert!(!is_kernel_thread(std::process::id()));
        // The test runs wherever CI runs it; at least the check must agree with what /proc says.
        let pid_ns = std::fs::read_link("/proc/self/ns/pid").unwrap();
        assert_eq!(in_initial_pid_namespace(), pid_ns.as_os_str() == "pid:[4026531836]");
    }

    #[test]
    fn without_all_netns_nothing_changes() {
        let mut warnings = Vec::new();
        let (sockets, count) =
            add_other_namespaces(&Query::default(), Vec::new(), &mut warnings, &mut Vec::new()).unwrap();
        assert!(sockets.is_empty() && count.is_none() && warnings.is_empty());
    }
}
