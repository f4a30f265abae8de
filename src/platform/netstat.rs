//! macOS and Windows enumeration: sockets and owner PIDs from `netstat2`, owner details and user names from
//! `sysinfo`. Kept thin; written on Linux and checked with `cargo check --target x86_64-pc-windows-msvc` only
//! (netstat2's macOS build runs bindgen against the macOS SDK, which is not available there).
//!
//! Differences from Linux that callers see:
//! * No socket identity (inode) and no socket uid, v6only or bound interface: those fields stay 0 / `None`.
//! * Rows come per (socket, PID) on macOS, so rows with the same (protocol, address, port) are merged into one
//!   socket with several owners. Two SO_REUSEPORT sockets on one port therefore show as one socket here.
//! * UDP: every bound UDP socket, connected or not (netstat2 does not say which).
//! * macOS lists sockets by walking the fds of each process it may inspect, so when not root the sockets of
//!   other users' processes are missing altogether, not merely ownerless.
//! * `Process::start_time` is sysinfo's start time (seconds since the Unix epoch), not Linux clock ticks.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsStr;
use std::net::IpAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use anyhow::{anyhow, Context as _};
use netstat2::{AddressFamilyFlags, ProtocolFlags, ProtocolSocketInfo, SocketInfo, TcpState};
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind, Users};

use crate::error::Error;
use crate::model::{Inventory, OwnedSocket, Process, Protocol, Query, Socket};
use crate::text::decode_bytes;

/// Shown when some owners could not be seen.
#[cfg(target_os = "macos")]
pub const HIDDEN_OWNER_HINT: &str =
    "run as root (sudo): macOS only shows the sockets of processes you are allowed to inspect";

/// Shown when some owners could not be seen.
#[cfg(target_os = "windows")]
pub const HIDDEN_OWNER_HINT: &str =
    "run from an elevated (Administrator) prompt to see the details of every owning process";

/// Nothing to tune: the platform's allocator serves these systems as it is.
pub fn tune_allocator() {}

/// The hint that fits this run.
pub fn hidden_owner_hint() -> &'static str {
    HIDDEN_OWNER_HINT
}

/// Lists listening TCP and bound UDP sockets with the processes holding them. Fails when the socket tables
/// ([`Error::SocketList`]) or the process table ([`Error::ProcessTable`]) cannot be read.
pub fn enumerate(query: &Query) -> Result<Inventory, Error> {
    let mut protocols = ProtocolFlags::empty();
    if query.wants(Protocol::Tcp) {
        protocols |= ProtocolFlags::TCP;
    }
    if query.wants(Protocol::Udp) {
        protocols |= ProtocolFlags::UDP;
    }
    let mut warnings = Vec::new();
    let (rows, failed_rows) = list_rows(protocols).map_err(|e| Error::SocketList(format!("{e:#}")))?;
    if failed_rows > 0 {
        warnings.push(format!("{failed_rows} sockets could not be read and are not shown"));
    }

    // (port, protocol, address) -> owner PIDs; the key order is the output order.
    let mut grouped: BTreeMap<(u16, Protocol, IpAddr), BTreeSet<u32>> = BTreeMap::new();
    for row in rows {
        let (protocol, address, port) = match &row.protocol_socket_info {
            ProtocolSocketInfo::Tcp(tcp) if tcp.state == TcpState::Listen => {
                (Protocol::Tcp, tcp.local_addr, tcp.local_port)
            }
            ProtocolSocketInfo::Tcp(_) => continue,
            ProtocolSocketInfo::Udp(udp) => (Protocol::Udp, udp.local_addr, udp.local_port),
        };
        if !query.wants(protocol) || query.port.is_some_and(|wanted| wanted != port) {
            continue;
        }
        grouped.entry((port, protocol, fix_address(address))).or_default().extend(row.associated_pids.iter().copied());
    }

    let own_pid = Pid::from_u32(std::process::id());
    let mut pids: Vec<Pid> = grouped.values().flatten().map(|&pid| Pid::from_u32(pid)).collect();
    pids.push(own_pid);
    pids.sort_unstable();
    pids.dedup();
    let mut system =
        System::new().context("cannot read the process table").map_err(|e| Error::ProcessTable(format!("{e:#}")))?;
    system.refresh_processes_specifics(
        ProcessesToUpdate::Some(&pids),
        true,
        ProcessRefreshKind::nothing()
            .without_tasks()
            .with_exe(UpdateKind::OnlyIfNotSet)
            .with_cmd(UpdateKind::OnlyIfNotSet)
            .with_user(UpdateKind::OnlyIfNotSet),
    );
    let users = Users::new_with_refreshed_list().ok();
    // Each owner is described once and shared by all of its sockets.
    let described: HashMap<u32, Arc<Process>> = pids
        .iter()
        .filter_map(|pid| describe(&system, users.as_ref(), pid.as_u32()))
        .map(|process| (process.pid, Arc::new(process)))
        .collect();

    let sockets: Vec<OwnedSocket> = grouped
        .into_iter()
        .map(|((port, protocol, address), pids)| OwnedSocket {
            socket: Socket { protocol, address, port, uid: None, inode: 0, v6only: None, interface: None, netns: None },
            // BTreeSet iteration keeps the processes sorted by PID.
            processes: pids.iter().filter_map(|pid| described.get(pid).cloned()).collect(),
        })
        .collect();

    let owners_partly_hidden = owners_hidden(&system, own_pid, &sockets);
    if query.all_netns {
        warnings.push("--all-netns: network namespaces are a Linux feature; this is the only listing".to_string());
    }
    Ok(Inventory {
        os: crate::model::Os::current(),
        sockets,
        warnings,
        owners_partly_hidden,
        namespaces: None,
        gaps: Vec::new(),
    })
}

/// Runs netstat2, skipping (and counting) rows it fails on instead of failing the whole listing.
fn list_rows(protocols: ProtocolFlags) -> anyhow::Result<(Vec<SocketInfo>, usize)> {
    let families = AddressFamilyFlags::IPV4 | AddressFamilyFlags::IPV6;
    // netstat2 0.11 on macOS asserts on the socket kind of each fd and can panic on a descriptor that changed
    // under it; fail this run cleanly rather than abort the program.
    let listed = catch_unwind(AssertUnwindSafe(|| {
        netstat2::iterate_sockets_info(families, protocols).map(|rows| {
            let mut ok = Vec::new();
            let mut failed = 0usize;
            for row in rows {
                match row {
                    Ok(row) => ok.push(row),
                    Err(_) => failed += 1,
                }
            }
            (ok, failed)
        })
    }))
    .map_err(|_| anyhow!("cannot list sockets: netstat2 panicked"))?;
    listed.map_err(|e| anyhow::Error::new(e).context("cannot list sockets"))
}

/// Details of one owning process, or `None` when it has exited.
fn describe(system: &System, users: Option<&Users>, pid: u32) -> Option<Process> {
    let process = system.process(Pid::from_u32(pid))?;
    let uid = process.user_id();
    let user = uid.map(|uid| {
        users
            .and_then(|users| users.get_user_by_id(uid))
            .map(|user| user.name().to_string())
            // A uid number (macOS) or SID string (Windows) when the name is unknown.
            .unwrap_or_else(|| (**uid).to_string())
    });
    Some(Process {
        pid,
        name: decode_os(process.name()),
        exe: process.exe().map(|exe| decode_os(exe.as_os_str())),
        exe_state: None,
        cmdline: process.cmd().iter().map(|arg| decode_os(arg)).collect::<Vec<_>>().join(" "),
        user,
        uid: uid.and_then(numeric_uid),
        start_time: Some(process.start_time()),
        container: None,
    })
}

fn decode_os(s: &OsStr) -> String {
    decode_bytes(s.as_encoded_bytes())
}

#[cfg(target_os = "macos")]
fn numeric_uid(uid: &sysinfo::Uid) -> Option<u32> {
    Some(**uid)
}

/// Windows identifies users by SID, not by number.
#[cfg(target_os = "windows")]
fn numeric_uid(_uid: &sysinfo::Uid) -> Option<u32> {
    None
}

/// macOS: netstat2 skips processes whose fds it may not read, so when not root some sockets (and owners) are
/// missing. Windows: the socket tables carry every owner PID; an owner is only lost when its process exited
/// before its details were read.
#[cfg(target_os = "macos")]
fn owners_hidden(system: &System, own_pid: Pid, _sockets: &[OwnedSocket]) -> bool {
    let is_root =
        system.process(own_pid).and_then(|me| me.effective_user_id().or(me.user_id())).is_some_and(|uid| **uid == 0);
    !is_root
}

#[cfg(target_os = "windows")]
fn owners_hidden(_system: &System, _own_pid: Pid, sockets: &[OwnedSocket]) -> bool {
    sockets.iter().any(|s| s.processes.is_empty())
}

/// netstat2 on macOS reads the IPv6 address slot of every AF_INET6 socket, but the kernel stores an IPv4-mapped
/// address of such a socket in the IPv4 slot, so `::ffff:a.b.c.d` comes back as the (deprecated, never bound)
/// IPv4-compatible form `::a.b.c.d`. Put the mapping prefix back. `::` and `::1` have the same shape and are left.
#[cfg(target_os = "macos")]
fn fix_address(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) if !v6.is_unspecified() && !v6.is_loopback() => {
            let o = v6.octets();
            if o[..12].iter().all(|&b| b == 0) {
                IpAddr::V6(std::net::Ipv4Addr::new(o[12], o[13], o[14], o[15]).to_ipv6_mapped())
            } else {
                address
            }
        }
        other => other,
    }
}

#[cfg(not(target_os = "macos"))]
fn fix_address(address: IpAddr) -> IpAddr {
    address
}

/// The name of `uid` (macOS); Windows has no numeric uids, so always `None` there.
#[cfg(target_os = "macos")]
pub fn user_name(uid: u32) -> Option<String> {
    let uid = sysinfo::Uid::try_from(usize::try_from(uid).ok()?).ok()?;
    Users::new_with_refreshed_list().ok()?.get_user_by_id(&uid).map(|user| user.name().to_string())
}

/// The name of `uid` (macOS); Windows has no numeric uids, so always `None` there.
#[cfg(target_os = "windows")]
pub fn user_name(_uid: u32) -> Option<String> {
    None
}

#[cfg(all(test, target_os = "macos"))]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn restores_ipv4_mapped_addresses() {
        let compat: IpAddr = "::10.0.0.1".parse().unwrap();
        assert_eq!(fix_address(compat), IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped()));
        for kept in [IpAddr::V6(Ipv6Addr::UNSPECIFIED), IpAddr::V6(Ipv6Addr::LOCALHOST), "fe80::1".parse().unwrap()] {
            assert_eq!(fix_address(kept), kept);
        }
    }

    #[test]
    fn finds_own_listener() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let inv = enumerate(&Query { protocols: vec![Protocol::Tcp], port: Some(port), ..Query::default() }).unwrap();
        let me = std::process::id();
        assert!(inv.sockets.iter().any(|s| s.processes.iter().any(|p| p.pid == me)));
    }
}

/// Kernel listener events exist on Linux only: `watch` polls here.
pub struct ListenerEvents(());

impl ListenerEvents {
    pub fn open(_query: &Query) -> Result<ListenerEvents, String> {
        Err(format!("listener events from the kernel are implemented on Linux only, not {}", std::env::consts::OS))
    }

    pub fn wait(&self, _timeout: Option<std::time::Duration>) -> std::io::Result<()> {
        Ok(())
    }

    pub fn read(&mut self, _out: &mut Vec<crate::model::ListenerChange>) -> std::io::Result<u64> {
        Ok(0)
    }
}
