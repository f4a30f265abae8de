//! Listeners as the kernel reports them starting and stopping: the BPF programs of `bpf/listeners.c` (built by
//! `bpf/build.sh`; the object is committed and embedded, so building portwarden needs no C compiler) send one
//! event per TCP socket that starts or stops listening and per UDP socket bound to a port or let go, with the
//! process that did it, through a ring buffer. Each event becomes an [`OwnedSocket`] at once, its owner's details
//! read from `/proc` while the process most likely still runs (what the event carried is kept when it is gone).
//!
//! # Loader: aya
//!
//! The object is loaded by aya, pure Rust at run time (no libbpf, no C toolchain on the machine that runs
//! portwarden). aya 0.14 is the newest release whose minimum Rust version this project's toolchain meets (0.15 and
//! later need 1.98). Checked before choosing, in its source and its issue tracker: it loads BTF-typed tracepoints
//! (`BtfTracePoint`), cgroup socket programs (`CgroupSock`, attached as BPF links), fentry/fexit and kprobes,
//! BTF-defined maps (`.maps`) and the ring buffer map (`RingBuf`, read by polling its descriptor), and applies
//! CO-RE relocations, bitfield ones included (`BPF_CORE_READ_BITFIELD_PROBED` for `skc_ipv6only`). What shaped the
//! programs: a ring buffer tells user space nothing about what it dropped (aya's documentation; iovisor/bcc#3476
//! for the kernel side), so the programs count drops in a map of their own ([`ListenerEvents::read`] reports
//! them); a cgroup link must be created without flags (see [`load`]); loader errors carry the verifier log, whose
//! last line is the reason [`load`] gives. libbpf-rs would bring libbpf (C) to build or run time, and aya loads
//! everything here. What aya 0.14 cannot load: calls to kernel functions (kfuncs, `__ksym` externs), which came in
//! aya 0.15 (aya-rs/aya#1372); the owner walk's task iterator ([`super::bpf`]) calls several, so it stays
//! assembled in Rust until the toolchain reaches aya 0.15's Rust 1.98.
//!
//! # What it needs
//!
//! Root (CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN for the cgroup hooks), kernel BTF (`/sys/kernel/btf/vmlinux`),
//! Linux 5.9 or later (`sock_release`; the ring buffer needs 5.8) and a mounted cgroup v2 hierarchy. Without any of
//! these [`ListenerEvents::open`] says which, and `watch` polls. The programs stay attached while
//! [`ListenerEvents`] lives, and go with its descriptors, however the process ends.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aya::maps::{Array, MapData, RingBuf};
use aya::programs::{BtfTracePoint, CgroupAttachMode, CgroupSock, ProgramError};
use aya::{Btf, Ebpf, EbpfLoader, VerifierLogLevel};

use super::{container, netns, procfs, sys::effective_uid, users::UserCache};
use crate::model::{ListenerChange, Netns, OwnedSocket, Process, Protocol, Query, Socket};
use crate::text::decode_bytes;

/// The compiled programs (see `bpf/build.sh`; CI checks that this object is what the source builds to).
static OBJECT: &[u8] = aya::include_bytes_aligned!("../../../bpf/listeners.o");

/// The programs of the object and what each is attached to (the cgroup hooks' kinds are in the object's section
/// names).
const PROGRAMS: [(&str, Hook); 4] = [
    ("tcp_state", Hook::TracePoint("inet_sock_set_state")),
    ("udp_bound4", Hook::Cgroup),
    ("udp_bound6", Hook::Cgroup),
    ("udp_closed", Hook::Cgroup),
];

#[derive(Clone, Copy)]
enum Hook {
    /// A BTF-typed tracepoint.
    TracePoint(&'static str),
    /// A cgroup socket hook, on the root of the cgroup v2 hierarchy.
    Cgroup,
}

/// The event a program sends, `struct listener_event` in `bpf/listeners.c` (native endian).
const EVENT_SIZE: usize = 88;
/// `kind`: now listening (TCP) or bound to a port (UDP).
const LISTENING: u8 = 1;
/// `kind`: no longer (closed, shut down, or a UDP socket connected).
const GONE: u8 = 2;

/// One event as the program wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RawEvent {
    time_ns: u64,
    socket_inode: u64,
    start_boottime: u64,
    tgid: u32,
    netns_inode: u32,
    uid: u32,
    process_uid: u32,
    bound_dev_if: i32,
    address: [u8; 16],
    port: u16,
    family: u8,
    protocol: u8,
    kind: u8,
    v6only: bool,
    comm: [u8; 16],
}

fn parse_event(b: &[u8]) -> Option<RawEvent> {
    if b.len() < EVENT_SIZE {
        return None;
    }
    let u64_at = |at: usize| Some(u64::from_ne_bytes(b.get(at..at + 8)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?));
    Some(RawEvent {
        time_ns: u64_at(0)?,
        socket_inode: u64_at(8)?,
        start_boottime: u64_at(16)?,
        tgid: u32_at(24)?,
        netns_inode: u32_at(28)?,
        uid: u32_at(32)?,
        process_uid: u32_at(36)?,
        bound_dev_if: i32::from_ne_bytes(b[40..44].try_into().ok()?),
        address: b[44..60].try_into().ok()?,
        port: u16::from_ne_bytes(b[60..62].try_into().ok()?),
        family: b[62],
        protocol: b[63],
        kind: b[64],
        v6only: b[65] != 0,
        comm: b[68..84].try_into().ok()?,
    })
}

/// The loaded and attached programs, and what turns their events into sockets.
pub struct ListenerEvents {
    /// Holds the programs and their links: dropping it detaches them.
    _ebpf: Ebpf,
    ring: RingBuf<MapData>,
    lost: Array<MapData, u64>,
    lost_seen: u64,
    /// Events from every namespace (`--all-netns`), or only from `own_netns`.
    all_netns: bool,
    own_netns: u64,
    /// Names of namespaces bound under `/run/netns`, looked up again when an unknown namespace shows up.
    netns_names: Vec<(u64, PathName)>,
    users: UserCache,
    ns_per_tick: u64,
}

type PathName = Option<String>;

impl ListenerEvents {
    /// Loads and attaches the programs; the error says why they cannot run here (for the user: the caller then
    /// polls).
    pub fn open(query: &Query) -> Result<ListenerEvents, String> {
        if effective_uid() != 0 {
            return Err("not running as root (loading BPF programs needs CAP_BPF and CAP_PERFMON)".to_string());
        }
        let btf =
            Btf::from_sys_fs().map_err(|e| format!("the kernel has no readable BTF (/sys/kernel/btf/vmlinux: {e})"))?;
        let cgroup = cgroup2_root()?;
        let mut ebpf = EbpfLoader::new()
            .btf(Some(&btf))
            .verifier_log_level(VerifierLogLevel::DEBUG)
            .load(OBJECT)
            .map_err(|e| format!("the BPF object would not load: {}", chain(&e)))?;
        for (name, hook) in PROGRAMS {
            load(&mut ebpf, name, hook, &btf, &cgroup)
                .map_err(|e| format!("the BPF program {name} would not load: {e}"))?;
        }
        let ring = ebpf.take_map("EVENTS").ok_or("the BPF object has no EVENTS map")?;
        let ring = RingBuf::try_from(ring).map_err(|e| format!("cannot map the event ring buffer: {e}"))?;
        let lost = ebpf.take_map("LOST").ok_or("the BPF object has no LOST map")?;
        let lost = Array::try_from(lost).map_err(|e| format!("cannot read the lost-event counter: {e}"))?;
        let own_netns = netns::current_inode().map_err(|e| format!("cannot tell our network namespace: {e}"))?;
        let ticks = super::sys::clock_ticks_per_second().map_err(|e| e.to_string())?;
        Ok(ListenerEvents {
            _ebpf: ebpf,
            ring,
            lost,
            lost_seen: 0,
            all_netns: query.all_netns,
            own_netns,
            netns_names: Vec::new(),
            users: UserCache::default(),
            ns_per_tick: 1_000_000_000 / ticks,
        })
    }

    /// Blocks until events may be read, at most `timeout` (`None`: for as long as it takes).
    pub fn wait(&self, timeout: Option<Duration>) -> io::Result<()> {
        let ms = timeout.map_or(-1, |t| libc::c_int::try_from(t.as_millis()).unwrap_or(libc::c_int::MAX));
        let mut fd = libc::pollfd { fd: self.ring.as_fd().as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: poll reads and writes the one pollfd we own for the duration of the call.
        let n = unsafe { libc::poll(&mut fd, 1, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        Ok(())
    }

    /// Takes every event waiting, as changes (in the order they happened), appended to `out`; returns how many
    /// events the programs could not send since the last call (the ring buffer was full): what they were is lost,
    /// and the caller must list the machine to catch up.
    pub fn read(&mut self, out: &mut Vec<ListenerChange>) -> io::Result<u64> {
        let mut raw = Vec::new();
        while let Some(item) = self.ring.next() {
            raw.extend(parse_event(&item));
        }
        let wall = SystemTime::now();
        let boot_now = boottime_ns();
        for e in raw {
            if !self.all_netns && u64::from(e.netns_inode) != self.own_netns {
                continue;
            }
            let time = wall.checked_sub(Duration::from_nanos(boot_now.saturating_sub(e.time_ns))).unwrap_or(wall);
            if let Some(socket) = self.socket(&e) {
                let processes = vec![Arc::new(self.owner(&e))];
                out.push(ListenerChange {
                    listening: e.kind == LISTENING,
                    time,
                    socket: OwnedSocket { socket, processes },
                });
            }
        }
        let lost =
            self.lost.get(&0, 0).map_err(|e| io::Error::other(format!("reading the lost-event counter: {e}")))?;
        let new = lost.saturating_sub(self.lost_seen);
        self.lost_seen = lost;
        Ok(new)
    }

    /// The socket an event is about, as sock_diag would describe it.
    fn socket(&mut self, e: &RawEvent) -> Option<Socket> {
        let protocol = match e.protocol {
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            _ => return None,
        };
        if e.kind != LISTENING && e.kind != GONE {
            return None;
        }
        let (address, v6only) = match e.family {
            4 => (IpAddr::V4(Ipv4Addr::new(e.address[0], e.address[1], e.address[2], e.address[3])), None),
            6 => {
                let a = Ipv6Addr::from(e.address);
                (IpAddr::V6(a), Some(v6only(a, e.v6only)))
            }
            _ => return None,
        };
        let netns = self.all_netns.then(|| self.netns(u64::from(e.netns_inode)));
        let interface = match u32::try_from(e.bound_dev_if) {
            Ok(0) | Err(_) => None,
            // Interface indexes name devices of the socket's own namespace.
            Ok(index) if u64::from(e.netns_inode) == self.own_netns => Some(super::sock_diag::interface_name(index)),
            Ok(index) => Some(format!("#{index}")),
        };
        Some(Socket {
            protocol,
            address,
            port: e.port,
            uid: Some(e.uid),
            inode: e.socket_inode,
            v6only,
            interface,
            netns,
        })
    }

    /// The process that did it: its details from `/proc` if it still runs (same PID and start time), else what
    /// the event says (PID, name, uid).
    fn owner(&mut self, e: &RawEvent) -> Process {
        let start = e.start_boottime / self.ns_per_tick;
        let mut process = procfs::describe_one((e.tgid, start), None).unwrap_or_else(|| {
            let len = e.comm.iter().position(|&b| b == 0).unwrap_or(e.comm.len());
            Process {
                pid: e.tgid,
                name: decode_bytes(&e.comm[..len]),
                exe: None,
                exe_state: None,
                cmdline: String::new(),
                user: None,
                uid: Some(e.process_uid),
                start_time: Some(start),
                container: None,
            }
        });
        process.user = process.uid.map(|uid| self.users.display_name(uid));
        if self.all_netns {
            process.container = container::of_pid(process.pid, process.start_time);
        }
        process
    }

    fn netns(&mut self, inode: u64) -> Netns {
        let current = inode == self.own_netns;
        if !self.netns_names.iter().any(|(i, _)| *i == inode) {
            // A namespace not seen yet: `ip netns add` may have named it since the last look.
            self.netns_names = netns::named_namespaces();
            if !self.netns_names.iter().any(|(i, _)| *i == inode) {
                self.netns_names.push((inode, None));
            }
        }
        let name = self.netns_names.iter().find(|(i, _)| *i == inode).and_then(|(_, n)| n.clone());
        Netns { inode, name, current }
    }
}

/// Whether an IPv6 socket on `address` takes IPv6 only, from the socket's flag: bind() also sets the flag for an IPv6
/// address that is neither the wildcard nor IPv4-mapped (older kernels only after the port is taken, so possibly
/// after an event read it), and sock_diag then reports it set.
fn v6only(address: Ipv6Addr, flag: bool) -> bool {
    flag || (!address.is_unspecified() && address.to_ipv4_mapped().is_none())
}

fn load(ebpf: &mut Ebpf, name: &str, hook: Hook, btf: &Btf, cgroup: &std::fs::File) -> Result<(), String> {
    let program = ebpf.program_mut(name).ok_or("not in the object")?;
    let result = match hook {
        Hook::TracePoint(point) => {
            <&mut BtfTracePoint>::try_from(program).and_then(|p| p.load(point, btf).and_then(|()| p.attach().map(drop)))
        }
        // As a BPF link (aya uses one from Linux 5.7 on, and sock_release needs 5.9): the kernel attaches a link
        // beside whatever else is attached there (a container runtime's programs), never in its place, and wants
        // no flags for it (BPF_F_ALLOW_MULTI is refused with EINVAL), hence `Single`, which passes none. The link
        // goes when its descriptor closes, so the programs never outlive the watcher, however it ends.
        Hook::Cgroup => <&mut CgroupSock>::try_from(program)
            .and_then(|p| p.load().and_then(|()| p.attach(cgroup, CgroupAttachMode::Single).map(drop))),
    };
    result.map_err(|e| match &e {
        // The verifier's complaint is the last line of its log before the closing statistics.
        ProgramError::LoadError { io_error, verifier_log } => {
            let log = verifier_log.to_string();
            let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
            let why = lines.iter().rev().find(|l| !l.starts_with("processed ") && !l.starts_with("verification time"));
            format!("{io_error}: {}", why.copied().unwrap_or("(no verifier log)"))
        }
        _ => chain(&e),
    })
}

/// The root of the cgroup v2 hierarchy (mounted at `/sys/fs/cgroup`, or at `/sys/fs/cgroup/unified` beside the
/// v1 hierarchies), opened: the cgroup socket hooks attached there run for every process.
fn cgroup2_root() -> Result<std::fs::File, String> {
    let mountinfo =
        std::fs::read("/proc/self/mountinfo").map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    let path = cgroup2_mount(&mountinfo).ok_or("no cgroup v2 hierarchy is mounted (the UDP hooks attach to one)")?;
    std::fs::File::open(&path).map_err(|e| format!("cannot open the cgroup v2 root {}: {e}", path.display()))
}

/// Where the cgroup v2 hierarchy's root is mounted, in mountinfo's text (fields: ID PARENT MAJ:MIN ROOT MOUNTPOINT
/// OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER); a mount of a sub-directory (ROOT other than `/`) does not do.
fn cgroup2_mount(mountinfo: &[u8]) -> Option<std::path::PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    mountinfo.split(|&b| b == b'\n').find_map(|line| {
        let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        let dash = fields.iter().position(|f| *f == b"-")?;
        let is_root = fields.get(3) == Some(&&b"/"[..]) && fields.get(dash + 1) == Some(&&b"cgroup2"[..]);
        // Mount points with spaces come escaped (\040): not the usual places, and not worth unescaping.
        let mount_point = fields.get(4)?;
        is_root.then(|| std::path::PathBuf::from(std::ffi::OsStr::from_bytes(mount_point)))
    })
}

/// An error and its causes, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Nanoseconds since boot, suspend included: the clock of `bpf_ktime_get_boot_ns`.
fn boottime_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn events_parse_at_the_programs_offsets() {
        let mut b = vec![0u8; EVENT_SIZE];
        b[0..8].copy_from_slice(&5u64.to_ne_bytes());
        b[8..16].copy_from_slice(&4711u64.to_ne_bytes());
        b[16..24].copy_from_slice(&2_000_000_000u64.to_ne_bytes());
        b[24..28].copy_from_slice(&42u32.to_ne_bytes());
        b[28..32].copy_from_slice(&4026531840u32.to_ne_bytes());
        b[32..36].copy_from_slice(&1000u32.to_ne_bytes());
        b[36..40].copy_from_slice(&1001u32.to_ne_bytes());
        b[40..44].copy_from_slice(&3i32.to_ne_bytes());
        b[44..48].copy_from_slice(&[127, 0, 0, 1]);
        b[60..62].copy_from_slice(&8080u16.to_ne_bytes());
        b[62] = 4;
        b[63] = 6;
        b[64] = LISTENING;
        b[65] = 0;
        b[68..72].copy_from_slice(b"nc\0\0");
        let e = parse_event(&b).unwrap();
        assert_eq!((e.time_ns, e.socket_inode, e.start_boottime, e.tgid), (5, 4711, 2_000_000_000, 42));
        assert_eq!((e.netns_inode, e.uid, e.process_uid, e.bound_dev_if), (4026531840, 1000, 1001, 3));
        assert_eq!((e.port, e.family, e.protocol, e.kind, e.v6only), (8080, 4, 6, LISTENING, false));
        assert_eq!(&e.address[..4], &[127, 0, 0, 1]);
        assert_eq!(&e.comm[..3], b"nc\0");
        assert!(parse_event(&b[..EVENT_SIZE - 1]).is_none(), "a short event is refused");
    }

    #[test]
    fn the_cgroup2_root_is_found_in_mountinfo() {
        let hybrid = b"25 1 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n\
                       26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid shared:9 - cgroup2 cgroup2 rw\n\
                       27 25 0:24 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n";
        assert_eq!(cgroup2_mount(hybrid), Some(std::path::PathBuf::from("/sys/fs/cgroup/unified")));
        // A container's view of a sub-tree only is not the root of the hierarchy.
        let sub = b"30 1 0:26 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        assert_eq!(cgroup2_mount(sub), None);
        assert_eq!(cgroup2_mount(b"27 25 0:24 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"), None);
    }

    #[test]
    fn ipv6_only_as_sock_diag_reports_it() {
        let (any, lo, mapped): (Ipv6Addr, Ipv6Addr, Ipv6Addr) =
            ("::".parse().unwrap(), "::1".parse().unwrap(), "::ffff:127.0.0.1".parse().unwrap());
        assert!(!v6only(any, false) && v6only(any, true), "the wildcard: as set");
        assert!(v6only(lo, false), "a specific IPv6 address: always");
        assert!(!v6only(mapped, false), "an IPv4-mapped one: as set");
    }

    fn inode_of(fd: i32) -> u64 {
        // SAFETY: fstat writes into the zeroed struct we own; fd is open for the duration of the call.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::fstat(fd, &mut st) }, 0);
        st.st_ino
    }

    /// As root with BPF: a TCP listener and a UDP socket bound and closed by this process come as events with
    /// their inode, address, port and this process as owner; a connected UDP client's port does not.
    #[test]
    fn our_own_listeners_come_and_go_as_events() {
        if effective_uid() != 0 {
            eprintln!("SKIP our_own_listeners_come_and_go_as_events: needs root");
            return;
        }
        let mut events = match ListenerEvents::open(&Query::default()) {
            Ok(e) => e,
            Err(why) => {
                crate::platform::linux::sys::cannot_run("our_own_listeners_come_and_go_as_events", &why.to_string());
                return;
            }
        };
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let udp = std::net::UdpSocket::bind("[::1]:0").unwrap();
        let client = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        let client_inode = inode_of(client.as_raw_fd());
        let connected = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        connected.connect("127.0.0.1:9").unwrap();
        let (tcp_inode, udp_inode, connected_inode) =
            (inode_of(tcp.as_raw_fd()), inode_of(udp.as_raw_fd()), inode_of(connected.as_raw_fd()));
        let (tcp_port, udp_port) = (tcp.local_addr().unwrap().port(), udp.local_addr().unwrap().port());
        // A client socket bound by connect() itself: never a listener.
        let auto_inode = connect_unbound_udp();
        drop(tcp);
        drop(udp);
        drop(client);
        let mut all = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            events.wait(Some(Duration::from_millis(100))).unwrap();
            assert_eq!(events.read(&mut all).unwrap(), 0, "nothing lost");
            let gone = all.iter().filter(|c| !c.listening && [tcp_inode, udp_inode].contains(&c.socket.socket.inode));
            if gone.count() == 2 {
                break;
            }
        }
        let me = std::process::id();
        let of =
            |inode: u64| -> Vec<&ListenerChange> { all.iter().filter(|c| c.socket.socket.inode == inode).collect() };
        let tcp_events = of(tcp_inode);
        assert_eq!(tcp_events.iter().map(|c| c.listening).collect::<Vec<_>>(), [true, false], "{all:#?}");
        let s = &tcp_events[0].socket;
        assert_eq!(
            (s.socket.protocol, s.socket.address, s.socket.port),
            (Protocol::Tcp, IpAddr::V4(Ipv4Addr::LOCALHOST), tcp_port)
        );
        assert_eq!(s.processes[0].pid, me);
        assert!(s.processes[0].exe.is_some(), "details read from /proc: {:?}", s.processes[0]);
        let udp_events = of(udp_inode);
        assert_eq!(udp_events.iter().map(|c| c.listening).collect::<Vec<_>>(), [true, false], "{all:#?}");
        let s = &udp_events[0].socket.socket;
        assert_eq!(
            (s.protocol, s.address, s.port, s.v6only),
            (Protocol::Udp, IpAddr::V6(Ipv6Addr::LOCALHOST), udp_port, Some(true))
        );
        assert_eq!(of(client_inode).len(), 2, "a socket bound to port 0 is a listener too");
        // Bound, then connected: the bind is seen; that it is a client now is left to the reconciling scan.
        let c = of(connected_inode);
        assert_eq!(c.iter().map(|c| c.listening).collect::<Vec<_>>(), [true], "{all:#?}");
        drop(connected);
        assert!(
            of(auto_inode).iter().all(|c| !c.listening),
            "a client's port bound by connect() is no listener: {all:#?}"
        );
    }

    /// A UDP socket connected without bind() (the kernel binds it in connect()), then closed: its inode.
    fn connect_unbound_udp() -> u64 {
        // SAFETY: socket/connect/close on a descriptor we own; the sockaddr_in is fully initialised and its size
        // passed.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
            assert!(fd >= 0);
            let mut addr: libc::sockaddr_in = std::mem::zeroed();
            addr.sin_family = libc::AF_INET as libc::sa_family_t;
            addr.sin_port = 9u16.to_be();
            addr.sin_addr.s_addr = u32::from(Ipv4Addr::LOCALHOST).to_be();
            let size = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            assert_eq!(libc::connect(fd, (&addr as *const libc::sockaddr_in).cast(), size), 0);
            let inode = inode_of(fd);
            libc::close(fd);
            inode
        }
    }
}
