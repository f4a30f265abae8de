//! Linux enumeration: sockets from netlink sock_diag ([`sock_diag`]), their owners from the kernel's file tables
//! (a BPF iterator, as root: [`bpf`], [`file_tables`]) or else from a `/proc` fd scan, owner details from `/proc`
//! ([`procfs`]), user names from the passwd database ([`users`]). Which source of owners a run uses, and running it
//! beside the socket dump: [`owner_source`]. Small helpers several of these share: [`sys`].
//!
//! Only the current network namespace is seen (as with `ss`), unless `Query::all_netns` asks for every one
//! ([`netns`]; owners' containers from their cgroups: [`container`]).
//!
//! Listeners as they start and stop, from BPF programs on the kernel's socket hooks, for `watch`:
//! [`listener_events`].

mod bpf;
mod container;
mod file_tables;
mod listener_events;
mod netns;
mod owner_source;
mod procfs;
mod sock_diag;
mod sys;
mod users;

use std::sync::Arc;

use crate::error::Error;
use crate::model::{Inventory, OwnedSocket, Process, Query};
use sys::effective_uid;

pub use listener_events::ListenerEvents;
pub use users::user_name;

/// Shown when some owners could not be seen.
pub const HIDDEN_OWNER_HINT: &str = "run as root (sudo) to see the owners of every socket; /proc may also be \
mounted with hidepid, or the owner may live in another PID namespace";

/// Shown instead when we already run as root: root was refused, so something stronger hides the owner.
const HIDDEN_OWNER_HINT_ROOT: &str = "even root could not see these owners: their processes refuse access to their \
open files (a sandbox or security module), or live in another PID namespace; look from that namespace or the host";

/// glibc serves allocations of 128 KiB and more (a listing's socket lists, a JSON listing's buffers) with fresh
/// mappings, unmapped again when freed, so the next such list faults every page in anew; and it returns freed
/// memory at the top of the heap to the system. A page fault costs microseconds (more in a virtual machine), and a
/// listing of 6,000 sockets made hundreds of them (benches/README.md, "Page faults"). Served from the heap and kept,
/// freed lists are reused by the next. Other C libraries (musl) allocate their own way and are left alone.
pub fn tune_allocator() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets parameters of glibc's allocator, before this program has threads.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

/// The hint that fits this run: running as root does not help when we already are root.
pub fn hidden_owner_hint() -> &'static str {
    if effective_uid() == 0 {
        HIDDEN_OWNER_HINT_ROOT
    } else {
        HIDDEN_OWNER_HINT
    }
}

/// How many PIDs to name in a warning before summarising the rest.
const PIDS_IN_WARNING: usize = 5;

/// Lists listening TCP and bound (unconnected) UDP sockets with the processes holding them.
///
/// Fails when the kernel's socket list cannot be read ([`Error::SocketList`]), or when `/proc` cannot be read at all
/// (then no owner could be seen: [`Error::ProcessTable`]), or when something asked for explicitly is refused
/// ([`Error::NotPermitted`]); problems seeing some owners become warnings and `owners_partly_hidden`.
pub fn enumerate(query: &Query) -> Result<Inventory, Error> {
    procfs::new_listing();
    let mut netns = netns::Extra::default(); // --all-netns: namespaces listed, and what could not be seen
    let (sockets, scan) = owner_source::sockets_and_owners(query, &mut netns)?;
    let mut warnings = netns.warnings;
    warnings.extend(netns::foreign_namespace_warning());
    // Without a readable procfs no owner can be seen at all: fail closed rather than report a machine of orphans.
    let scan = scan.map_err(|e| {
        Error::ProcessTable(format!("cannot list the processes in /proc ({e}), so no owner can be seen"))
    })?;
    if std::fs::metadata("/proc/self/stat").is_err() {
        return Err(Error::ProcessTable(
            "/proc is not a readable procfs (no /proc/self/stat), so no owner can be seen".to_string(),
        ));
    }

    // One shared record per owner, sorted by PID like `scan.processes`.
    let mut users = users::UserCache::default();
    let processes: Vec<Arc<Process>> = scan
        .processes
        .into_iter()
        .map(|mut process| {
            process.user = process.uid.map(|uid| users.display_name(uid));
            if query.all_netns {
                process.container = container::of_pid(process.pid, process.start_time);
                // --all-netns
            }
            Arc::new(process)
        })
        .collect();

    let sockets: Vec<OwnedSocket> = sockets
        .into_iter()
        .map(|socket| {
            let processes = owners_of(socket.inode, &scan.holdings, &processes);
            OwnedSocket { socket, processes }
        })
        .collect();

    if !scan.unreadable.is_empty() {
        warnings.push(unreadable_warning(&scan.unreadable));
    }

    // When may a socket have an owner we did not see?
    // * Some process was visible but its fds were not readable (EACCES: another user's process when we are not
    //   root, or one protected even from root, like PID 1 in some sandboxes): it may hold any socket.
    // * Not root, and some socket (with an inode, so held by some process) has no owner: its owner is invisible
    //   to us in a way that raised no error, e.g. hidden by `hidepid` or living in another PID namespace.
    // * `hidepid` is active and we are not root: other users' processes are invisible, not merely unreadable,
    //   so even sockets with a visible owner may have more owners we did not see. Root (with CAP_SYS_PTRACE)
    //   is exempt from hidepid, so for root it only matters when some socket is actually left without owner.
    // As root with no such sign, a socket without owner is one whose process closed it during the scan, or is
    //   held only by processes in another PID namespace sharing our network namespace: that cannot be told apart
    //   cheaply and is not flagged.
    let is_root = effective_uid() == 0;
    let any_unowned = sockets.iter().any(|s| s.socket.inode != 0 && s.processes.is_empty());
    let hidepid = procfs::proc_hides_pids();
    let owners_partly_hidden =
        !scan.unreadable.is_empty() || (!is_root && (any_unowned || hidepid)) || (hidepid && any_unowned);

    Ok(Inventory {
        os: crate::model::Os::Linux,
        sockets,
        warnings,
        owners_partly_hidden,
        namespaces: netns.namespaces,
        gaps: netns.gaps,
    })
}

/// The processes holding socket `inode`, sorted by PID, each once: `holdings` is sorted (by inode, then PID) and
/// free of duplicates, and `processes` is sorted by PID (see [`procfs::OwnerScan`]), so both are searched, not
/// indexed (a map of every inode cost more than the searches).
fn owners_of(inode: u64, holdings: &[(u64, u32)], processes: &[Arc<Process>]) -> Vec<Arc<Process>> {
    let start = holdings.partition_point(|&(i, _)| i < inode);
    holdings[start..]
        .iter()
        .take_while(|&&(i, _)| i == inode)
        .filter_map(|&(_, pid)| processes.binary_search_by_key(&pid, |p| p.pid).ok())
        .map(|at| Arc::clone(&processes[at]))
        .collect()
}

fn unreadable_warning(unreadable: &[(u32, std::io::Error)]) -> String {
    let count = unreadable.len();
    let mut pids: Vec<String> = unreadable.iter().take(PIDS_IN_WARNING).map(|(pid, _)| pid.to_string()).collect();
    if count > PIDS_IN_WARNING {
        pids.push(format!("and {} more", count - PIDS_IN_WARNING));
    }
    let mut reasons: Vec<String> = unreadable.iter().map(|(_, e)| e.to_string()).collect();
    reasons.sort();
    reasons.dedup();
    let noun = if count == 1 { "process" } else { "processes" };
    format!(
        "could not read the open files of {count} {noun} (PID {}: {}); sockets they hold show no owner",
        pids.join(", "),
        reasons.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Family, Protocol};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener, UdpSocket};

    fn own_comm() -> String {
        let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
        comm.trim_end_matches('\n').to_string()
    }

    fn find(inv: &Inventory, protocol: Protocol, address: IpAddr, port: u16) -> &OwnedSocket {
        inv.sockets
            .iter()
            .find(|s| s.socket.protocol == protocol && s.socket.address == address && s.socket.port == port)
            .unwrap_or_else(|| panic!("{protocol} {address} port {port} not enumerated"))
    }

    fn assert_owned_by_me(owned: &OwnedSocket) {
        let me = std::process::id();
        let process = owned.processes.iter().find(|p| p.pid == me).unwrap_or_else(|| panic!("{owned:?}"));
        assert_eq!(process.name, own_comm());
        assert!(process.start_time.is_some());
        assert!(process.user.is_some());
        // SAFETY: getuid has no preconditions and cannot fail.
        assert_eq!(owned.socket.uid, Some(unsafe { libc::getuid() }));
    }

    #[test]
    fn enumerates_sockets_bound_by_this_process() {
        let tcp4 = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp6 = TcpListener::bind("[::1]:0").unwrap();
        let udp4 = UdpSocket::bind("0.0.0.0:0").unwrap();
        let udp6 = UdpSocket::bind("[::]:0").unwrap();
        let dual_stack_default = std::fs::read_to_string("/proc/sys/net/ipv6/bindv6only").unwrap().trim() == "0";

        let inv = enumerate(&Query::default()).unwrap();

        let s = find(&inv, Protocol::Tcp, IpAddr::V4(Ipv4Addr::LOCALHOST), tcp4.local_addr().unwrap().port());
        assert_owned_by_me(s);
        assert_eq!(s.socket.family(), Family::Ipv4);
        assert_eq!(s.socket.v6only, None);
        assert_eq!(s.socket.interface, None);

        let s = find(&inv, Protocol::Tcp, IpAddr::V6(Ipv6Addr::LOCALHOST), tcp6.local_addr().unwrap().port());
        assert_owned_by_me(s);
        assert_eq!(s.socket.family(), Family::Ipv6);
        assert!(s.socket.v6only.is_some());

        let s = find(&inv, Protocol::Udp, IpAddr::V4(Ipv4Addr::UNSPECIFIED), udp4.local_addr().unwrap().port());
        assert_owned_by_me(s);

        let s = find(&inv, Protocol::Udp, IpAddr::V6(Ipv6Addr::UNSPECIFIED), udp6.local_addr().unwrap().port());
        assert_owned_by_me(s);
        assert_eq!(s.socket.v6only, Some(!dual_stack_default));
        assert_eq!(s.socket.is_dual_stack(), dual_stack_default);

        // Sorted by (port, protocol, address).
        let keys: Vec<_> = inv.sockets.iter().map(|s| (s.socket.port, s.socket.protocol, s.socket.address)).collect();
        assert!(keys.windows(2).all(|w| w[0] <= w[1]));
        // Processes are sorted by PID.
        assert!(inv.sockets.iter().all(|s| s.processes.windows(2).all(|w| w[0].pid < w[1].pid)));
    }

    #[test]
    fn query_filters_protocol_and_port_in_the_kernel() {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        let tcp = TcpListener::bind(("127.0.0.1", port)); // same number, other protocol (may be taken)

        let inv = enumerate(&Query { protocols: vec![Protocol::Udp], port: Some(port), ..Query::default() }).unwrap();
        assert!(!inv.sockets.is_empty());
        assert!(inv.sockets.iter().all(|s| s.socket.port == port && s.socket.protocol == Protocol::Udp));
        assert_owned_by_me(find(&inv, Protocol::Udp, IpAddr::V4(Ipv4Addr::LOCALHOST), port));

        if tcp.is_ok() {
            let inv =
                enumerate(&Query { protocols: vec![Protocol::Tcp], port: Some(port), ..Query::default() }).unwrap();
            assert!(inv.sockets.iter().all(|s| s.socket.port == port && s.socket.protocol == Protocol::Tcp));
            assert_owned_by_me(find(&inv, Protocol::Tcp, IpAddr::V4(Ipv4Addr::LOCALHOST), port));
        }
    }

    #[test]
    fn connected_udp_and_client_tcp_are_not_listed_but_reuseport_twins_are() {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(server.local_addr().unwrap()).unwrap();
        let connected = UdpSocket::bind("127.0.0.1:0").unwrap();
        connected.connect("127.0.0.1:9").unwrap();
        let (a, b) = reuseport_pair();
        let twin_port = a.local_addr().unwrap().port();
        assert_eq!(b.local_addr().unwrap().port(), twin_port);

        let inv = enumerate(&Query::default()).unwrap();
        // By inode, not port: another process's listener may have the same port number on another address.
        let inode_of = |fd: std::os::fd::RawFd| {
            // SAFETY: fstat writes into the zeroed struct we own; fd is open for the duration of the call.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            assert_eq!(unsafe { libc::fstat(fd, &mut st) }, 0);
            st.st_ino
        };
        use std::os::fd::AsRawFd;
        let (client_inode, connected_inode) = (inode_of(client.as_raw_fd()), inode_of(connected.as_raw_fd()));
        assert!(!inv.sockets.iter().any(|s| s.socket.inode == client_inode), "a client TCP socket is not a listener");
        assert!(!inv.sockets.iter().any(|s| s.socket.inode == connected_inode), "a connected UDP socket is not bound");
        let twins: Vec<_> =
            inv.sockets.iter().filter(|s| s.socket.protocol == Protocol::Udp && s.socket.port == twin_port).collect();
        assert_eq!(twins.len(), 2);
        assert_ne!(twins[0].socket.inode, twins[1].socket.inode);
    }

    /// Two UDP sockets on one port with SO_REUSEPORT (std cannot set it before bind).
    fn reuseport_pair() -> (UdpSocket, UdpSocket) {
        use std::os::fd::FromRawFd;
        fn bind(port: u16) -> UdpSocket {
            // SAFETY: plain socket/setsockopt/bind calls on a descriptor we own; the sockaddr_in is fully
            // initialised and its size is passed.
            unsafe {
                let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
                assert!(fd >= 0);
                let one: libc::c_int = 1;
                let rc = libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_REUSEPORT,
                    (&one as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
                assert_eq!(rc, 0);
                let mut addr: libc::sockaddr_in = std::mem::zeroed();
                addr.sin_family = libc::AF_INET as libc::sa_family_t;
                addr.sin_port = port.to_be();
                addr.sin_addr.s_addr = u32::from(Ipv4Addr::LOCALHOST).to_be();
                let rc = libc::bind(
                    fd,
                    (&addr as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                );
                assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
                UdpSocket::from_raw_fd(fd)
            }
        }
        let a = bind(0);
        let b = bind(a.local_addr().unwrap().port());
        (a, b)
    }

    #[test]
    fn reports_the_bound_interface() {
        use std::os::fd::AsRawFd;
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let name = b"lo\0";
        // SAFETY: setsockopt reads `name.len()` bytes from a live buffer.
        let rc = unsafe {
            libc::setsockopt(
                udp.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_BINDTODEVICE,
                name.as_ptr().cast(),
                name.len() as libc::socklen_t,
            )
        };
        if rc != 0 {
            let why = format!("SO_BINDTODEVICE refused ({})", std::io::Error::last_os_error());
            if sys::effective_uid() != 0 {
                eprintln!("SKIP reports_the_bound_interface: {why}; it needs CAP_NET_RAW");
            } else {
                sys::cannot_run("reports_the_bound_interface", &why);
            }
            return;
        }
        let port = udp.local_addr().unwrap().port();
        let inv = enumerate(&Query { protocols: vec![Protocol::Udp], port: Some(port), ..Query::default() }).unwrap();
        let s = find(&inv, Protocol::Udp, IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        assert_eq!(s.socket.interface.as_deref(), Some("lo"));
    }

    /// Compares `enumerate` with `ss -Htulpn` on this machine: the same (protocol, address, port) entries with the
    /// same owner PIDs. Ignored by default (needs `ss`, and sockets may come and go between the two snapshots):
    /// `cargo test --lib compare_with_ss -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn compare_with_ss() {
        use std::collections::{BTreeMap, BTreeSet};
        type Table = BTreeMap<(String, IpAddr, u16, Option<String>), Vec<BTreeSet<u32>>>;

        let _tcp = TcpListener::bind("[::]:0").unwrap();
        let _udp = UdpSocket::bind("127.0.0.1:0").unwrap();

        let mut ours = Table::new();
        for owned in enumerate(&Query::default()).unwrap().sockets {
            let s = owned.socket;
            let pids = owned.processes.iter().map(|p| p.pid).collect();
            ours.entry((s.protocol.to_string(), s.address, s.port, s.interface)).or_default().push(pids);
        }

        let output = std::process::Command::new("ss").arg("-Htulpn").output().unwrap();
        assert!(output.status.success());
        let mut theirs = Table::new();
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (local_addr, local_port) = fields[4].rsplit_once(':').unwrap();
            let (host, interface) = match local_addr.split_once('%') {
                Some((host, interface)) => (host, Some(interface.to_string())),
                None => (local_addr, None),
            };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            // ss prints a dual-stack IPv6 wildcard as "*".
            let address: IpAddr = if host == "*" { IpAddr::V6(Ipv6Addr::UNSPECIFIED) } else { host.parse().unwrap() };
            let users = fields.get(6).copied().unwrap_or("");
            let pids = users.split("pid=").skip(1).filter_map(|rest| rest.split(',').next()?.parse().ok()).collect();
            let key = (fields[0].to_string(), address, local_port.parse().unwrap(), interface);
            theirs.entry(key).or_default().push(pids);
        }
        for table in [&mut ours, &mut theirs] {
            for owners in table.values_mut() {
                owners.sort();
            }
        }

        let mut differences = 0;
        for key in ours.keys().chain(theirs.keys()).collect::<BTreeSet<_>>() {
            let (a, b) = (ours.get(key), theirs.get(key));
            if a != b {
                differences += 1;
                println!("DIFF {key:?}: portwarden {a:?} vs ss {b:?}");
            }
        }
        println!("{} entries from portwarden, {} from ss, {differences} differences", ours.len(), theirs.len());
        assert_eq!(differences, 0);
    }

    #[test]
    fn warning_summarises_unreadable_processes() {
        let denied = || std::io::Error::from_raw_os_error(libc::EACCES);
        let one = unreadable_warning(&[(1, denied())]);
        assert_eq!(
            one,
            "could not read the open files of 1 process (PID 1: Permission denied (os error 13)); \
             sockets they hold show no owner"
        );
        let many: Vec<_> = (1..=7).map(|pid| (pid, denied())).collect();
        assert!(unreadable_warning(&many).contains("7 processes (PID 1, 2, 3, 4, 5, and 2 more: Permission denied"));
    }
}
