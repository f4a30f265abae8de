//! Listening TCP and bound UDP sockets straight from the kernel: one NETLINK_SOCK_DIAG dump per wanted
//! (protocol, address family), filtered by state (and by port, when asked) inside the kernel.
//!
//! # Crate or hand-written?
//!
//! Requests are built with `netlink-packet-sock-diag` 0.5 (on `netlink-packet-core` 0.9) and sent over a
//! `netlink-sys` socket: the request carries a state bitmask (`StateFlags`). What the crate lacks is request
//! attributes, so the optional port filter (`INET_DIAG_REQ_BYTECODE`, four 4-byte instructions) is appended here by
//! hand to the serialised request; it is small and unit-tested below.
//!
//! Replies are parsed here, by hand, with bounds-checked reads at the offsets of the kernel's structures
//! (`nlmsghdr`, `inet_diag_msg`, `rtattr`; no `unsafe`). The crate parses them correctly too, but it builds an
//! error-context string with `format!` for every attribute it does not know (the kernel attaches two of those,
//! the cgroup id and socket options, to every socket) and copies each such attribute into a `Vec`: with many
//! sockets that was a large share of the work portwarden did in user space to enumerate. We read only what we use:
//! address, port, interface, uid, inode and `INET_DIAG_SKV6ONLY`. The error code in `NLMSG_DONE` and a non-zero
//! code in `NLMSG_ERROR` fail the dump, as does `NLMSG_OVERRUN` or any malformed message.
//!
//! # What is dumped
//!
//! * TCP: state LISTEN only (`idiag_states = 1 << TCP_LISTEN`), like `ss -tl`.
//! * UDP: state CLOSE only (`1 << TCP_CLOSE`, shown as `UNCONN` by ss). That is every bound UDP socket that is not
//!   connected, exactly the set `ss -ul` prints (checked on this machine against `ss -uln` and `ss -uan`). A
//!   *connected* UDP socket (state ESTABLISHED) only accepts datagrams from its one peer, so it is not a listener:
//!   including them would add every DNS/QUIC client socket on the machine.
//!
//! For IPv6 sockets in LISTEN or CLOSE state the kernel (since 4.x) always attaches `INET_DIAG_SKV6ONLY` (0 or 1);
//! it cannot be requested through `idiag_ext`, which only has room for the first eight extensions. When the
//! attribute is missing (very old kernels only sent it when set) `v6only` is left `None` rather than guessed.

use std::collections::HashMap;
use std::ffi::CStr;
use std::io;

use anyhow::{anyhow, bail, Result};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use netlink_sys::{Socket as NetlinkSocket, SocketAddr as NetlinkAddr};

use super::sys::{u16_at, u32_at};
use crate::model::{Protocol, Query, Socket};
use crate::text::decode_bytes;

/// Receive buffer. The kernel sizes each dump datagram to the largest buffer we have passed to `recv` (at least
/// one page, usually 16-32 KiB), so 64 KiB never truncates; truncation is still detected (`MSG_TRUNC`).
const RECV_BUF_LEN: usize = 64 * 1024;

/// `INET_DIAG_REQ_BYTECODE`: request attribute carrying a filter program (linux/inet_diag.h).
const INET_DIAG_REQ_BYTECODE: u16 = 1;
/// Filter instructions "source port >= N" and "source port <= N"; N sits in the `no` field of the next op.
/// (`INET_DIAG_BC_S_EQ` would be shorter but only exists since Linux 4.16.)
const INET_DIAG_BC_S_GE: u8 = 2;
const INET_DIAG_BC_S_LE: u8 = 3;

/// One of the four dumps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dump {
    protocol: Protocol,
    /// `AF_INET` or `AF_INET6`.
    family: u8,
}

const DUMPS: [Dump; 4] = [
    Dump { protocol: Protocol::Tcp, family: AF_INET },
    Dump { protocol: Protocol::Tcp, family: AF_INET6 },
    Dump { protocol: Protocol::Udp, family: AF_INET },
    Dump { protocol: Protocol::Udp, family: AF_INET6 },
];

impl Dump {
    fn label(self) -> String {
        let family = if self.family == AF_INET6 { "ipv6" } else { "ipv4" };
        format!("{}/{family}", self.protocol)
    }

    fn ip_protocol(self) -> u8 {
        match self.protocol {
            Protocol::Tcp => IPPROTO_TCP,
            Protocol::Udp => IPPROTO_UDP,
        }
    }

    /// Kernel-side state filter (see the module documentation).
    fn states(self) -> StateFlags {
        match self.protocol {
            Protocol::Tcp => StateFlags::LISTEN,
            Protocol::Udp => StateFlags::CLOSE,
        }
    }
}

/// A socket as parsed from one dump message, before its interface index is turned into a name.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    socket: Socket,
    ifindex: u32,
}

/// Lists the sockets the query wants, sorted by (port, protocol, address, inode). Sockets are never merged: two
/// sockets sharing a port through SO_REUSEPORT are two entries.
pub fn list_sockets(query: &Query) -> Result<Vec<Socket>> {
    let mut nl =
        NetlinkSocket::new(NETLINK_SOCK_DIAG).map_err(|e| anyhow!("cannot open a netlink sock_diag socket: {e}"))?;
    nl.bind_auto().map_err(|e| anyhow!("cannot bind the netlink sock_diag socket: {e}"))?;
    nl.connect(&NetlinkAddr::new(0, 0))
        .map_err(|e| anyhow!("cannot connect the netlink sock_diag socket to the kernel: {e}"))?;

    let mut buf = vec![0u8; RECV_BUF_LEN];
    let mut entries = Vec::new();
    for (seq, dump) in (1u32..).zip(DUMPS.iter().copied().filter(|d| query.wants(d.protocol))) {
        run_dump(&nl, dump, seq, query.port, &mut buf, &mut entries)
            .map_err(|e| anyhow!("netlink sock_diag dump for {} failed: {e:#}", dump.label()))?;
    }

    // The kernel already applied the port filter; keep ours too, it costs nothing.
    if let Some(port) = query.port {
        entries.retain(|e| e.socket.port == port);
    }

    let mut names: HashMap<u32, String> = HashMap::new();
    let mut sockets: Vec<Socket> = entries
        .into_iter()
        .map(|Entry { mut socket, ifindex }| {
            if ifindex != 0 {
                socket.interface = Some(names.entry(ifindex).or_insert_with(|| interface_name(ifindex)).clone());
            }
            socket
        })
        .collect();
    // By (port, protocol, address, inode), the address as IpAddr orders it (IPv4 first, then by value), through
    // plain integers. The keys are distinct (the inode is unique), so an unstable sort gives the one order.
    sockets.sort_unstable_by_key(|s| {
        let address = match s.address {
            IpAddr::V4(a) => (false, u128::from(u32::from(a))),
            IpAddr::V6(a) => (true, u128::from(a)),
        };
        (s.port, s.protocol, address, s.inode)
    });
    Ok(sockets)
}

/// Sends one dump request and reads replies until `NLMSG_DONE`.
fn run_dump(
    nl: &NetlinkSocket,
    dump: Dump,
    seq: u32,
    port: Option<u16>,
    buf: &mut [u8],
    out: &mut Vec<Entry>,
) -> Result<()> {
    let request = request_bytes(dump, seq, port);
    let sent = retry_eintr(|| nl.send(&request, 0)).map_err(|e| anyhow!("send: {e}"))?;
    if sent != request.len() {
        bail!("short send ({sent} of {} bytes)", request.len());
    }
    loop {
        // MSG_TRUNC makes recv return the real datagram length even when it did not fit.
        let len = retry_eintr(|| nl.recv(&mut &mut buf[..], libc::MSG_TRUNC)).map_err(|e| anyhow!("recv: {e}"))?;
        if len > buf.len() {
            bail!("a {len}-byte reply did not fit the {}-byte receive buffer", buf.len());
        }
        if len == 0 {
            bail!("empty reply from the kernel");
        }
        if parse_datagram(&buf[..len], dump, seq, out)? == Progress::Done {
            return Ok(());
        }
    }
}

fn retry_eintr<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Serialises an `inet_diag_req_v2` dump request, with a port filter appended when `port` is given.
fn request_bytes(dump: Dump, seq: u32, port: Option<u16>) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    header.sequence_number = seq;
    let socket_id = if dump.family == AF_INET6 { SocketId::new_v6() } else { SocketId::new_v4() };
    let request = InetRequest {
        family: dump.family,
        protocol: dump.ip_protocol(),
        extensions: ExtensionFlags::empty(),
        states: dump.states(),
        socket_id,
    };
    let mut message = NetlinkMessage::new(header, SockDiagMessage::InetRequest(request).into());
    message.finalize();
    let mut bytes = vec![0u8; message.buffer_len()];
    message.serialize(&mut bytes);
    if let Some(port) = port {
        append_port_filter(&mut bytes, port);
    }
    bytes
}

/// Appends an `INET_DIAG_REQ_BYTECODE` attribute accepting only sockets whose local port is `port`, and fixes up
/// `nlmsg_len`. The program is two range tests; each op is `{u8 code, u8 yes, u16 no}` in host byte order, and a
/// jump that lands exactly at the end accepts while one that lands 4 bytes past it rejects (that is what the
/// kernel's `inet_diag_bc_run` does and what `inet_diag_bc_audit` allows).
fn append_port_filter(request: &mut Vec<u8>, port: u16) {
    fn op(code: u8, yes: u8, no: u16) -> [u8; 4] {
        let no = no.to_ne_bytes();
        [code, yes, no[0], no[1]]
    }
    let program: [[u8; 4]; 4] = [
        op(INET_DIAG_BC_S_GE, 8, 20), // sport >= port ? next test : reject (16 + 4)
        op(0, 0, port),               // operand
        op(INET_DIAG_BC_S_LE, 8, 12), // sport <= port ? accept (end) : reject (8 + 4)
        op(0, 0, port),               // operand
    ];
    let attr_len = (4 + program.len() * 4) as u16;
    request.extend_from_slice(&attr_len.to_ne_bytes());
    request.extend_from_slice(&INET_DIAG_REQ_BYTECODE.to_ne_bytes());
    for instruction in program {
        request.extend_from_slice(&instruction);
    }
    let total = request.len() as u32;
    request[0..4].copy_from_slice(&total.to_ne_bytes());
}

/// Netlink message types (linux/netlink.h, linux/sock_diag.h).
const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_OVERRUN: u16 = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `sizeof(struct nlmsghdr)`: `u32 len; u16 type; u16 flags; u32 seq; u32 pid`.
const NLMSG_HDRLEN: usize = 16;
/// `sizeof(struct inet_diag_msg)` (linux/inet_diag.h), then attributes.
const INET_DIAG_MSG_LEN: usize = 72;
/// Attribute carrying IPV6_V6ONLY as one byte.
const INET_DIAG_SKV6ONLY: u16 = 11;
/// Attribute type bits (the top two are NLA_F_NESTED and NLA_F_NET_BYTEORDER).
const NLA_TYPE_MASK: u16 = 0x3fff;

#[derive(Debug, PartialEq, Eq)]
enum Progress {
    More,
    Done,
}

/// Parses one datagram, which holds one or more netlink messages, appending the sockets it describes.
/// `NLMSG_ERROR` with a non-zero code, a negative code in `NLMSG_DONE`, `NLMSG_OVERRUN` and malformed messages are
/// errors; messages for another sequence number are ignored.
fn parse_datagram(data: &[u8], dump: Dump, seq: u32, out: &mut Vec<Entry>) -> Result<Progress> {
    let mut offset = 0;
    while offset < data.len() {
        let rest = &data[offset..];
        let (Some(len), Some(kind), Some(message_seq)) = (u32_at(rest, 0), u16_at(rest, 4), u32_at(rest, 8)) else {
            bail!("malformed netlink message at offset {offset}: {} bytes, too short for a header", rest.len());
        };
        let len = len as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            bail!("malformed netlink message at offset {offset}: length {len} with {} bytes left", rest.len());
        }
        let payload = &rest[NLMSG_HDRLEN..len];
        // Messages are 4-byte aligned.
        offset += (len + 3) & !3;
        if message_seq != seq {
            continue;
        }
        match kind {
            SOCK_DIAG_BY_FAMILY => match entry_from_message(payload, dump) {
                Some(entry) => out.push(entry),
                None => bail!("malformed sock_diag message at offset {offset} ({} bytes)", payload.len()),
            },
            NLMSG_DONE => {
                // The dump's final status (kernels before 4.x sent no payload).
                let code = u32_at(payload, 0).map_or(0, |c| c as i32);
                if code < 0 {
                    bail!("{}", io::Error::from_raw_os_error(code.saturating_neg()));
                }
                return Ok(Progress::Done);
            }
            NLMSG_ERROR => {
                let Some(code) = u32_at(payload, 0).map(|c| c as i32) else {
                    bail!("malformed netlink error message at offset {offset}");
                };
                // Zero is a plain acknowledgement; dumps do not ask for one, ignore it.
                if code != 0 {
                    bail!("{}", io::Error::from_raw_os_error(code.saturating_neg()));
                }
            }
            NLMSG_NOOP => {}
            NLMSG_OVERRUN => bail!("netlink overrun"),
            other => bail!("unexpected netlink message type {other}"),
        }
    }
    Ok(Progress::More)
}

/// Reads one `struct inet_diag_msg` and its attributes; `None` when it is malformed.
fn entry_from_message(payload: &[u8], dump: Dump) -> Option<Entry> {
    let header = payload.get(..INET_DIAG_MSG_LEN)?;
    let family = header[0];
    // idiag_sport is in network byte order; idiag_src holds 4 or 16 address bytes, also in network order.
    let port = u16::from_be_bytes([header[4], header[5]]);
    let address = match family {
        AF_INET => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(&header[8..12]).ok()?)),
        AF_INET6 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&header[8..24]).ok()?)),
        _ => return None,
    };
    let ifindex = u32_at(header, 40)?;
    let uid = u32_at(header, 64)?;
    let inode = u32_at(header, 68)?;

    let mut v6only = None;
    let mut attrs = &payload[INET_DIAG_MSG_LEN..];
    while attrs.len() >= 4 {
        let len = usize::from(u16_at(attrs, 0)?);
        let kind = u16_at(attrs, 2)? & NLA_TYPE_MASK;
        if len < 4 || len > attrs.len() {
            return None;
        }
        if kind == INET_DIAG_SKV6ONLY && family == AF_INET6 {
            v6only = Some(*attrs.get(4..len)?.first()? != 0);
        }
        attrs = attrs.get((len + 3) & !3..).unwrap_or_default();
    }

    Some(Entry {
        socket: Socket {
            protocol: dump.protocol,
            address,
            port,
            uid: Some(uid),
            inode: u64::from(inode),
            v6only,
            interface: None,
            netns: None,
        },
        ifindex,
    })
}

/// Name of a network interface, or `#N` when index N no longer names one (the device was removed after the
/// socket was bound to it).
pub(super) fn interface_name(index: u32) -> String {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has the IF_NAMESIZE bytes if_indextoname may write, including the terminating NUL.
    let name = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if name.is_null() {
        return format!("#{index}");
    }
    // SAFETY: on success if_indextoname returned `buf`, now holding a NUL-terminated string.
    let name = unsafe { CStr::from_ptr(buf.as_ptr()) };
    decode_bytes(name.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    /// Builds a netlink message from the kernel's layout, written out here again, so the tests check the parser
    /// against that layout rather than against itself.
    fn nlmsg(kind: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let len = 16 + payload.len();
        let mut m = Vec::new();
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&2u16.to_ne_bytes()); // NLM_F_MULTI
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(payload);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    /// `struct inet_diag_msg` (72 bytes) followed by attributes.
    fn inet_diag_msg(family: u8, state: u8, addr: [u8; 16], port: u16, ifindex: u32, uid: u32, inode: u32) -> Vec<u8> {
        let mut m = vec![family, state, 0, 0];
        m.extend_from_slice(&port.to_be_bytes()); // idiag_sport
        m.extend_from_slice(&0u16.to_be_bytes()); // idiag_dport
        m.extend_from_slice(&addr); // idiag_src
        m.extend_from_slice(&[0u8; 16]); // idiag_dst
        m.extend_from_slice(&ifindex.to_ne_bytes()); // idiag_if
        m.extend_from_slice(&[0xffu8; 8]); // idiag_cookie
        for v in [0u32, 0, 0, uid, inode] {
            m.extend_from_slice(&v.to_ne_bytes()); // expires, rqueue, wqueue, uid, inode
        }
        assert_eq!(m.len(), 72);
        m
    }

    fn rtattr(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(value);
        while a.len() % 4 != 0 {
            a.push(0);
        }
        a
    }

    const TCP6: Dump = Dump { protocol: Protocol::Tcp, family: AF_INET6 };
    const UDP4: Dump = Dump { protocol: Protocol::Udp, family: AF_INET };

    #[test]
    fn parses_a_multipart_datagram() {
        let mut v4 = [0u8; 16];
        v4[..4].copy_from_slice(&[127, 0, 0, 1]);
        let mut datagram = nlmsg(SOCK_DIAG_BY_FAMILY, 7, &inet_diag_msg(AF_INET, 7, v4, 53, 0, 101, 4242));
        datagram.extend(nlmsg(SOCK_DIAG_BY_FAMILY, 7, &inet_diag_msg(AF_INET, 7, [0; 16], 5353, 3, 0, 99)));
        let mut out = Vec::new();
        assert_eq!(parse_datagram(&datagram, UDP4, 7, &mut out).unwrap(), Progress::More);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].socket.address, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(out[0].socket.port, 53);
        assert_eq!(out[0].socket.uid, Some(101));
        assert_eq!(out[0].socket.inode, 4242);
        assert_eq!(out[0].socket.protocol, Protocol::Udp);
        assert_eq!(out[0].socket.v6only, None);
        assert_eq!(out[0].ifindex, 0);
        assert_eq!(out[1].socket.address, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(out[1].ifindex, 3);

        let done = nlmsg(NLMSG_DONE, 7, &0i32.to_ne_bytes());
        assert_eq!(parse_datagram(&done, UDP4, 7, &mut out).unwrap(), Progress::Done);
    }

    #[test]
    fn reads_the_v6only_attribute() {
        let mut out = Vec::new();
        for (flag, expected) in [(Some(0u8), Some(false)), (Some(1), Some(true)), (None, None)] {
            let mut payload = inet_diag_msg(AF_INET6, 10, [0; 16], 8080, 0, 0, 1);
            payload.extend(rtattr(15, &[0; 4])); // INET_DIAG_MARK-like unknown-to-us attribute first
            if let Some(flag) = flag {
                payload.extend(rtattr(INET_DIAG_SKV6ONLY, &[flag]));
            }
            out.clear();
            parse_datagram(&nlmsg(SOCK_DIAG_BY_FAMILY, 1, &payload), TCP6, 1, &mut out).unwrap();
            assert_eq!(out[0].socket.v6only, expected);
            assert_eq!(out[0].socket.address, IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        }
    }

    #[test]
    fn errors_in_done_and_error_messages_fail_the_dump() {
        let mut out = Vec::new();
        let done = nlmsg(NLMSG_DONE, 1, &(-libc::ENOBUFS).to_ne_bytes());
        let err = parse_datagram(&done, TCP6, 1, &mut out).unwrap_err().to_string();
        assert!(err.contains("No buffer space"), "{err}");

        let mut payload = (-libc::EINVAL).to_ne_bytes().to_vec();
        payload.extend(&nlmsg(SOCK_DIAG_BY_FAMILY, 1, &[0; 56])[..16]); // the offending request's header
        let error = nlmsg(NLMSG_ERROR, 1, &payload);
        let err = parse_datagram(&error, TCP6, 1, &mut out).unwrap_err().to_string();
        assert!(err.contains("Invalid argument"), "{err}");
    }

    #[test]
    fn acknowledgements_pass_overruns_and_bad_attributes_fail() {
        let mut out = Vec::new();
        let mut ack = 0i32.to_ne_bytes().to_vec();
        ack.extend(&nlmsg(SOCK_DIAG_BY_FAMILY, 1, &[])[..16]);
        assert_eq!(parse_datagram(&nlmsg(NLMSG_ERROR, 1, &ack), TCP6, 1, &mut out).unwrap(), Progress::More);
        assert!(parse_datagram(&nlmsg(NLMSG_OVERRUN, 1, &[]), TCP6, 1, &mut out).is_err());
        assert!(parse_datagram(&nlmsg(77, 1, &[]), TCP6, 1, &mut out).is_err());
        // A dump from an old kernel ends without a status.
        assert_eq!(parse_datagram(&nlmsg(NLMSG_DONE, 1, &[]), TCP6, 1, &mut out).unwrap(), Progress::Done);

        let msg = inet_diag_msg(AF_INET6, 10, [0; 16], 8080, 0, 0, 1);
        for bad_attr in [vec![2u8, 0, 11, 0], vec![200u8, 0, 11, 0, 1, 0, 0, 0]] {
            let mut payload = msg.clone();
            payload.extend(bad_attr);
            assert!(parse_datagram(&nlmsg(SOCK_DIAG_BY_FAMILY, 1, &payload), TCP6, 1, &mut out).is_err());
        }
        // An unknown address family, and a message cut inside inet_diag_msg.
        let unknown = inet_diag_msg(AF_INET6 + 1, 10, [0; 16], 1, 0, 0, 1);
        assert!(parse_datagram(&nlmsg(SOCK_DIAG_BY_FAMILY, 1, &unknown), TCP6, 1, &mut out).is_err());
        assert!(parse_datagram(&nlmsg(SOCK_DIAG_BY_FAMILY, 1, &msg[..60]), TCP6, 1, &mut out).is_err());
        // Nested/byte-order flag bits on the attribute type do not hide the attribute.
        let mut flagged = msg.clone();
        flagged.extend(rtattr(INET_DIAG_SKV6ONLY | 0x8000, &[1]));
        out.clear();
        parse_datagram(&nlmsg(SOCK_DIAG_BY_FAMILY, 1, &flagged), TCP6, 1, &mut out).unwrap();
        assert_eq!(out[0].socket.v6only, Some(true));
        assert_eq!(out[0].socket.port, 8080);
    }

    #[test]
    fn ignores_other_sequence_numbers_and_rejects_garbage() {
        let mut out = Vec::new();
        let stray = nlmsg(NLMSG_DONE, 99, &0i32.to_ne_bytes());
        assert_eq!(parse_datagram(&stray, TCP6, 1, &mut out).unwrap(), Progress::More);
        let mut truncated = nlmsg(SOCK_DIAG_BY_FAMILY, 1, &inet_diag_msg(AF_INET6, 10, [0; 16], 1, 0, 0, 1));
        truncated.truncate(40);
        assert!(parse_datagram(&truncated, TCP6, 1, &mut out).is_err());
    }

    #[test]
    fn request_layout_and_port_filter() {
        let plain = request_bytes(TCP6, 5, None);
        assert_eq!(plain.len(), 16 + 56);
        assert_eq!(u32::from_ne_bytes(plain[0..4].try_into().unwrap()), 72);
        assert_eq!(u16::from_ne_bytes(plain[4..6].try_into().unwrap()), SOCK_DIAG_BY_FAMILY);
        assert_eq!(u16::from_ne_bytes(plain[6..8].try_into().unwrap()), NLM_F_REQUEST | NLM_F_DUMP);
        assert_eq!(u32::from_ne_bytes(plain[8..12].try_into().unwrap()), 5);
        assert_eq!(&plain[16..20], &[AF_INET6, IPPROTO_TCP, 0, 0]);
        assert_eq!(u32::from_ne_bytes(plain[20..24].try_into().unwrap()), 1 << 10); // TCP_LISTEN
        let udp = request_bytes(UDP4, 1, None);
        assert_eq!(u32::from_ne_bytes(udp[20..24].try_into().unwrap()), 1 << 7); // TCP_CLOSE

        let filtered = request_bytes(TCP6, 5, Some(0x1234));
        assert_eq!(filtered.len(), 72 + 4 + 16);
        assert_eq!(u32::from_ne_bytes(filtered[0..4].try_into().unwrap()), 92);
        assert_eq!(&filtered[..16][4..], &plain[..16][4..]);
        let attr = &filtered[72..];
        assert_eq!(u16::from_ne_bytes([attr[0], attr[1]]), 20);
        assert_eq!(u16::from_ne_bytes([attr[2], attr[3]]), INET_DIAG_REQ_BYTECODE);
        assert_eq!(&attr[4..8], &[INET_DIAG_BC_S_GE, 8, 20, 0][..]);
        assert_eq!(u16::from_ne_bytes([attr[10], attr[11]]), 0x1234);
        assert_eq!(&attr[12..16], &[INET_DIAG_BC_S_LE, 8, 12, 0][..]);
        assert_eq!(u16::from_ne_bytes([attr[18], attr[19]]), 0x1234);
    }

    #[test]
    fn the_kernel_applies_the_port_filter() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = a.local_addr().unwrap().port();
        let nl = NetlinkSocket::new(NETLINK_SOCK_DIAG).unwrap();
        nl.connect(&NetlinkAddr::new(0, 0)).unwrap();
        let mut buf = vec![0u8; RECV_BUF_LEN];
        let mut unfiltered = Vec::new();
        run_dump(&nl, UDP4, 1, None, &mut buf, &mut unfiltered).unwrap();
        assert!(unfiltered.iter().any(|e| e.socket.port == b.local_addr().unwrap().port()));
        let mut filtered = Vec::new();
        run_dump(&nl, UDP4, 2, Some(port), &mut buf, &mut filtered).unwrap();
        assert!(!filtered.is_empty());
        assert!(filtered.iter().all(|e| e.socket.port == port), "{filtered:?}");
    }

    #[test]
    fn unknown_interface_index_is_shown_as_a_number() {
        assert_eq!(interface_name(u32::MAX), format!("#{}", u32::MAX));
        assert_eq!(interface_name(1), "lo");
    }
}
