//! Classification, pure: a port's range tier, its IANA status, exposure of a socket, and the flags (with reasons a
//! person can act on) that make a listener worth a look.

use crate::model::{Protocol, Socket};
use crate::registry::{self, Record, Registry, Status};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// IANA's three tiers of port numbers (RFC 6335 section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Range {
    /// 0-1023, "well-known": assigned by IETF review; binding needs privileges on Unix.
    System,
    /// 1024-49151, "registered": assigned by IANA on request.
    User,
    /// 49152-65535, dynamic/private/ephemeral: never assigned.
    Dynamic,
}

impl Range {
    pub fn of(port: u16) -> Range {
        match port {
            0..=1023 => Range::System,
            1024..=49151 => Range::User,
            _ => Range::Dynamic,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Range::System => "system",
            Range::User => "user",
            Range::Dynamic => "dynamic",
        }
    }

    /// One sentence on what the tier means.
    pub fn meaning(self) -> &'static str {
        match self {
            Range::System => {
                "system ports (0-1023, \"well-known\"): assigned through IETF review; on Unix only privileged processes may bind them"
            }
            Range::User => "user ports (1024-49151, \"registered\"): assigned by IANA to whoever asks, usually with little review",
            Range::Dynamic => {
                "dynamic ports (49152-65535, private/ephemeral): IANA never assigns them; operating systems hand them out for outgoing connections and temporary servers"
            }
        }
    }
}

/// Who can reach a socket, judged from its local address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Exposure {
    /// Only this machine (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104); inside another network namespace, only that
    /// namespace.
    Loopback,
    /// Any address inside another network namespace than portwarden's (a container's, usually): reachable only
    /// through that namespace's own interfaces (from inside it, and over its virtual link from this machine), not
    /// from the machine's networks unless a port mapping or proxy publishes it.
    Namespace,
    /// One specific local address: reachable from the networks that address is on.
    Address,
    /// Every interface (0.0.0.0 or ::): reachable from every network the machine is on.
    AllInterfaces,
}

impl Exposure {
    pub fn of(socket: &Socket) -> Exposure {
        let ip = match socket.address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        if ip.is_loopback() {
            Exposure::Loopback
        } else if socket.netns.as_ref().is_some_and(|n| !n.current) {
            Exposure::Namespace
        } else if ip.is_unspecified() {
            Exposure::AllInterfaces
        } else {
            Exposure::Address
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Exposure::Loopback => "loopback",
            Exposure::Namespace => "namespace",
            Exposure::Address => "address",
            Exposure::AllInterfaces => "all-interfaces",
        }
    }

    fn weight(self) -> u8 {
        match self {
            Exposure::Loopback | Exposure::Namespace => 1,
            Exposure::Address => 2,
            Exposure::AllInterfaces => 3,
        }
    }

    fn clause(self) -> &'static str {
        match self {
            Exposure::Loopback => "It listens on loopback only, so only this machine can reach it.",
            Exposure::Namespace => {
                "It listens inside another network namespace (a container's, usually), so only that namespace's own \
                 interfaces reach it: not the networks this machine is on, unless a port mapping or proxy publishes it."
            }
            Exposure::Address => "It listens on one address, reachable from the network that address is on.",
            Exposure::AllInterfaces => "It listens on all interfaces, so any network this machine is on can reach it.",
        }
    }
}

/// Kinds of findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlagKind {
    /// IANA assigns the port to no service.
    Unassigned,
    /// IANA reserves the port.
    Reserved,
    /// The port's IANA record is silent and the service rare.
    Obscure,
    /// The port is in the dynamic range, never assigned.
    DynamicRange,
    /// A service that is unsafe to reach (no authentication by default) is reachable beyond loopback.
    ExposedService,
    /// A port that belongs to a known program is held by another one.
    UnexpectedHolder,
    /// A shell, netcat-like relay, one-off interpreter or abused system binary holds the socket.
    GenericHolder,
    /// A program named like a known service runs from another path than that service's.
    WrongPath,
    /// The executable was deleted and nothing is at its path.
    DeletedExe,
    /// The executable lives in a temporary or hidden directory.
    SuspiciousPath,
    /// A program named like a kernel thread.
    Masquerade,
    /// A program portwarden does not know listens beyond loopback.
    UnknownProgram,
    /// The holder could not be seen, and the port's story does not settle it.
    OwnerUnknown,
}

impl FlagKind {
    pub const ALL: [FlagKind; 13] = [
        FlagKind::Unassigned,
        FlagKind::Reserved,
        FlagKind::Obscure,
        FlagKind::DynamicRange,
        FlagKind::ExposedService,
        FlagKind::UnexpectedHolder,
        FlagKind::GenericHolder,
        FlagKind::WrongPath,
        FlagKind::DeletedExe,
        FlagKind::SuspiciousPath,
        FlagKind::Masquerade,
        FlagKind::UnknownProgram,
        FlagKind::OwnerUnknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FlagKind::Unassigned => "unassigned",
            FlagKind::Reserved => "reserved",
            FlagKind::Obscure => "obscure",
            FlagKind::DynamicRange => "dynamic-range",
            FlagKind::ExposedService => "exposed-service",
            FlagKind::UnexpectedHolder => "unexpected-holder",
            FlagKind::GenericHolder => "generic-holder",
            FlagKind::WrongPath => "wrong-path",
            FlagKind::DeletedExe => "deleted-exe",
            FlagKind::SuspiciousPath => "suspicious-path",
            FlagKind::Masquerade => "masquerade",
            FlagKind::UnknownProgram => "unknown-program",
            FlagKind::OwnerUnknown => "owner-unknown",
        }
    }

    pub fn parse(s: &str) -> Option<FlagKind> {
        FlagKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    fn weight(self) -> u8 {
        match self {
            FlagKind::Unassigned | FlagKind::Reserved => 3,
            FlagKind::Obscure | FlagKind::DynamicRange => 2,
            _ => 3,
        }
    }
}

/// A finding and the reason for it, in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flag {
    pub kind: FlagKind,
    pub reason: String,
}

/// How much a flagged listener deserves attention: flag weight times exposure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }

    /// Highest flag weight (unassigned/reserved 3, obscure/dynamic-range 2) times exposure (all interfaces 3, one
    /// address 2, loopback or another network namespace 1): 6 and more is high, 3-5 medium, below low. `None` without flags.
    pub fn of(flags: &[Flag], exposure: Exposure) -> Option<Severity> {
        let w = flags.iter().map(|f| f.kind.weight()).max()?;
        Some(match w * exposure.weight() {
            6.. => Severity::High,
            3..=5 => Severity::Medium,
            _ => Severity::Low,
        })
    }
}

/// Which silence signals fired on an assigned record (see [`obscure_signals`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Signal {
    /// The record cites no RFC or other document.
    NoReference,
    /// The description is empty or only repeats the service name.
    NameOnlyDescription,
}

impl Signal {
    pub fn describe(self) -> &'static str {
        match self {
            Signal::NoReference => "no reference (no RFC or document)",
            Signal::NameOnlyDescription => "a description that only repeats the name",
        }
    }
}

fn normalise(s: &str) -> String {
    s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// The silence signals of one record: no reference; a description that is empty or says no more than the
/// service name (compared ignoring case, spaces and punctuation, so "MySQL" for mysql and "NSJTP CTRL" for
/// nsjtp-ctrl both count).
pub fn obscure_signals(record: &Record<'_>) -> Vec<Signal> {
    let mut signals = Vec::new();
    if record.reference.trim().is_empty() {
        signals.push(Signal::NoReference);
    }
    let desc = normalise(record.description);
    if desc.is_empty() || desc == normalise(record.service) {
        signals.push(Signal::NameOnlyDescription);
    }
    signals
}

/// A registry record is silent when every silence signal fires on it.
pub fn is_silent(record: &Record<'_>) -> bool {
    obscure_signals(record).len() == 2
}

/// The IANA side of a port/protocol: status, the names of the services assigned there and every record.
#[derive(Debug, Clone, Serialize)]
pub struct Iana<'r> {
    pub status: Status,
    pub services: Vec<&'r str>,
    pub entries: Vec<Record<'r>>,
}

impl<'r> Iana<'r> {
    pub fn of(registry: &'r Registry, port: u16, protocol: Protocol) -> Iana<'r> {
        let entries = registry.lookup(port, protocol);
        let status = Registry::status(&entries);
        let mut services: Vec<&str> = Vec::new();
        for r in entries.iter().filter(|r| r.status() == Status::Assigned) {
            if !services.contains(&r.service) {
                services.push(r.service);
            }
        }
        Iana { status, services, entries }
    }

    fn assigned(&self) -> impl Iterator<Item = &Record<'r>> {
        self.entries.iter().filter(|r| r.status() == Status::Assigned)
    }
}

/// Flags for a port/protocol from its range and registry records alone (no socket): the reasons say what is
/// wrong with the port and what to do about it.
pub fn port_flags(port: u16, protocol: Protocol, iana: &Iana<'_>) -> Vec<Flag> {
    flags_ending(port, protocol, iana, None)
}

/// [`port_flags`] with `. {clause}` added to each reason. Each reason is written once into a buffer with room to
/// spare (a listing makes thousands of them).
fn flags_ending(port: u16, protocol: Protocol, iana: &Iana<'_>, clause: Option<&str>) -> Vec<Flag> {
    let reason = |text: std::fmt::Arguments<'_>| {
        use std::fmt::Write as _;
        let mut reason = String::with_capacity(480);
        let _ = reason.write_fmt(text);
        if let Some(clause) = clause {
            reason.push_str(". ");
            reason.push_str(clause);
        }
        reason
    };
    let pp = PortProtocol(port, protocol);
    let mut flags = Vec::new();
    match iana.status {
        Status::Unassigned if Range::of(port) == Range::Dynamic => flags.push(Flag {
            kind: FlagKind::DynamicRange,
            reason: reason(format_args!(
                "{pp} is in the dynamic range (49152-65535), which IANA never assigns: nothing is expected to listen \
                 here for long. Usually a program picked a random free port (RPC, debuggers, dev servers, games); \
                 check the owner and pin it to a known port if it is meant to stay"
            )),
        }),
        Status::Unassigned => {
            let was = iana
                .entries
                .iter()
                .map(|r| r.description.trim())
                .find(|d| !d.is_empty() && !d.eq_ignore_ascii_case("unassigned"));
            let history = was.map(|d| format!(" (IANA notes: {d:?})")).unwrap_or_default();
            flags.push(Flag {
                kind: FlagKind::Unassigned,
                reason: reason(format_args!(
                    "IANA has assigned {pp} to no service{history}: no standard software is expected here. \
                     Identify the owner and confirm it should listen; if it should, document the port in your policy"
                )),
            });
        }
        Status::Reserved => flags.push(Flag {
            kind: FlagKind::Reserved,
            reason: reason(format_args!(
                "IANA lists {pp} as Reserved: it is not available to any service (often held back beside a \
                 service registered for another protocol, or for future use). Whatever listens here has no \
                 registration; identify the owner"
            )),
        }),
        Status::Assigned => {
            // Common on real machines: in the curated list of services, or something the knowledge tables know to
            // listen there.
            let common = iana.services.iter().any(|s| registry::is_common_service(s))
                || super::knowledge::Knowledge::get().knows_port(port, protocol);
            let all_silent = iana.assigned().all(is_silent);
            if !common && all_silent {
                let who = iana
                    .assigned()
                    .map(|r| {
                        let by = if r.assignee.is_empty() {
                            String::new()
                        } else {
                            format!(", registered by {}", r.assignee)
                        };
                        format!("{}{by}", r.service)
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                let signals = [Signal::NoReference, Signal::NameOnlyDescription]
                    .iter()
                    .map(|s| s.describe())
                    .collect::<Vec<_>>()
                    .join(" and ");
                flags.push(Flag {
                    kind: FlagKind::Obscure,
                    reason: reason(format_args!(
                        "{pp} is assigned to {who}, but the record is silent: {signals}, and it is not a service \
                         commonly found on machines. The listener is probably not that service; find out what the \
                         owning program really is"
                    )),
                });
            }
        }
    }
    flags
}

/// Flags for a socket: the port's flags with a sentence on exposure added, so the reason says how far the problem
/// reaches.
pub fn socket_flags(socket: &Socket, iana: &Iana<'_>) -> Vec<Flag> {
    let clause = match Exposure::of(socket) {
        Exposure::Loopback if socket.netns.as_ref().is_some_and(|n| !n.current) => {
            "It listens on the loopback of another network namespace, so only processes in that namespace can reach \
             it."
        }
        exposure => exposure.clause(),
    };
    flags_ending(socket.port, socket.protocol, iana, Some(clause))
}

/// "PORT/PROTOCOL", written straight into the reason.
struct PortProtocol(u16, Protocol);

impl std::fmt::Display for PortProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.0, self.1)
    }
}

/// How many tcp/udp port numbers the registry assigns, and how many of those [`port_flags`] calls obscure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ObscureShare {
    pub assigned: usize,
    pub obscure: usize,
}

/// Counts assigned and obscure port/protocol pairs (tcp and udp) over the whole registry: the figure the README
/// quotes for the obscurity rule.
pub fn obscure_share(registry: &Registry) -> ObscureShare {
    let mut share = ObscureShare { assigned: 0, obscure: 0 };
    for port in 0..=u16::MAX {
        for protocol in Protocol::ALL {
            let iana = Iana::of(registry, port, protocol);
            if iana.status == Status::Assigned {
                share.assigned += 1;
                if port_flags(port, protocol, &iana).iter().any(|f| f.kind == FlagKind::Obscure) {
                    share.obscure += 1;
                }
            }
        }
    }
    share
}

/// The stem of a service name for finding related registrations: the part before the last `-` ("nsjtp" for
/// "nsjtp-ctrl"), or the name without trailing digits ("sgi-esphttp" stays itself, "bacula1" gives "bacula").
pub fn stem(service: &str) -> &str {
    match service.rsplit_once('-') {
        Some((head, _)) if head.len() >= 2 => head,
        _ => service.trim_end_matches(|c: char| c.is_ascii_digit()),
    }
}

/// Registrations for `protocol` on neighbouring ports (within `window`) whose service name shares the stem of a
/// service assigned on `port`: control/data pairs and families such as 1687 nsjtp-ctrl / 1688 nsjtp-data.
pub fn related<'r>(
    registry: &'r Registry,
    port: u16,
    protocol: Protocol,
    iana: &Iana<'_>,
    window: u16,
) -> Vec<Record<'r>> {
    let stems: Vec<&str> = iana.services.iter().map(|s| stem(s)).filter(|s| s.len() >= 2).collect();
    if stems.is_empty() {
        return Vec::new();
    }
    let lo = port.saturating_sub(window);
    let hi = port.saturating_add(window);
    let mut out: Vec<Record<'r>> = Vec::new();
    for r in registry.records_between(lo, hi) {
        let same_protocol = r.protocol.is_empty() || r.protocol == protocol.as_str();
        if r.start == port || !same_protocol || r.service.is_empty() || r.status() != Status::Assigned {
            continue;
        }
        if stems.contains(&stem(r.service)) && !out.iter().any(|o| o.service == r.service && o.start == r.start) {
            out.push(r);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn sock(address: IpAddr, port: u16) -> Socket {
        Socket {
            protocol: Protocol::Tcp,
            address,
            port,
            uid: Some(0),
            inode: 1,
            v6only: None,
            interface: None,
            netns: None,
        }
    }

    fn kinds(port: u16, protocol: Protocol) -> Vec<FlagKind> {
        let reg = Registry::builtin();
        let iana = Iana::of(&reg, port, protocol);
        port_flags(port, protocol, &iana).into_iter().map(|f| f.kind).collect()
    }

    #[test]
    fn range_tiers_have_exact_edges() {
        assert_eq!(Range::of(0), Range::System);
        assert_eq!(Range::of(1023), Range::System);
        assert_eq!(Range::of(1024), Range::User);
        assert_eq!(Range::of(49151), Range::User);
        assert_eq!(Range::of(49152), Range::Dynamic);
        assert_eq!(Range::of(65535), Range::Dynamic);
    }

    #[test]
    fn exposure_from_address() {
        let v4 = |a: Ipv4Addr| Exposure::of(&sock(IpAddr::V4(a), 1));
        let v6 = |a: Ipv6Addr| Exposure::of(&sock(IpAddr::V6(a), 1));
        assert_eq!(v4(Ipv4Addr::LOCALHOST), Exposure::Loopback);
        assert_eq!(v4(Ipv4Addr::new(127, 0, 0, 53)), Exposure::Loopback);
        assert_eq!(v4(Ipv4Addr::UNSPECIFIED), Exposure::AllInterfaces);
        assert_eq!(v4(Ipv4Addr::new(192, 168, 1, 10)), Exposure::Address);
        assert_eq!(v6(Ipv6Addr::LOCALHOST), Exposure::Loopback);
        assert_eq!(v6(Ipv6Addr::UNSPECIFIED), Exposure::AllInterfaces);
        assert_eq!(v6(Ipv4Addr::LOCALHOST.to_ipv6_mapped()), Exposure::Loopback);
        assert_eq!(v6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped()), Exposure::Address);
        assert_eq!(v6("fe80::1".parse().unwrap()), Exposure::Address);
    }

    #[test]
    fn exposure_inside_another_network_namespace() {
        let in_ns = |address: &str, current: bool| {
            let mut s = sock(address.parse().unwrap(), 1);
            s.netns = Some(crate::model::Netns { inode: 4026532201, name: None, current });
            Exposure::of(&s)
        };
        assert_eq!(in_ns("0.0.0.0", false), Exposure::Namespace);
        assert_eq!(in_ns("::", false), Exposure::Namespace);
        assert_eq!(in_ns("172.17.0.2", false), Exposure::Namespace);
        assert_eq!(in_ns("127.0.0.1", false), Exposure::Loopback);
        // The namespace portwarden runs in is the host's: its wildcard listeners face every network.
        assert_eq!(in_ns("0.0.0.0", true), Exposure::AllInterfaces);
        assert_eq!(in_ns("10.0.0.1", true), Exposure::Address);
        let f = vec![Flag { kind: FlagKind::Unassigned, reason: String::new() }];
        assert_eq!(Severity::of(&f, Exposure::Namespace), Severity::of(&f, Exposure::Loopback));
        let reg = Registry::builtin();
        let mut s = sock("0.0.0.0".parse().unwrap(), 987);
        s.netns = Some(crate::model::Netns { inode: 7, name: None, current: false });
        let flags = socket_flags(&s, &Iana::of(&reg, 987, Protocol::Tcp));
        assert!(flags[0].reason.contains("another network namespace"), "{}", flags[0].reason);
        s.address = "127.0.0.1".parse().unwrap();
        let flags = socket_flags(&s, &Iana::of(&reg, 987, Protocol::Tcp));
        assert!(flags[0].reason.ends_with("only processes in that namespace can reach it."), "{}", flags[0].reason);
    }

    #[test]
    fn well_known_services_are_not_flagged() {
        for (port, proto) in [
            (22, Protocol::Tcp),
            (53, Protocol::Tcp),
            (53, Protocol::Udp),
            (80, Protocol::Tcp),
            (443, Protocol::Tcp),
            (3306, Protocol::Tcp),
            (5432, Protocol::Tcp),
            (6379, Protocol::Tcp),
            (11211, Protocol::Tcp),
            (11211, Protocol::Udp),
            (5353, Protocol::Udp),
            (123, Protocol::Udp),
            (25, Protocol::Tcp),
        ] {
            assert_eq!(kinds(port, proto), vec![], "{port}/{proto} should be unflagged");
        }
    }

    #[test]
    fn silent_registrations_are_obscure_with_signals_named() {
        for port in [1647, 1683, 1687, 2867] {
            assert_eq!(kinds(port, Protocol::Tcp), vec![FlagKind::Obscure], "{port}/tcp");
        }
        let reg = Registry::builtin();
        let iana = Iana::of(&reg, 1647, Protocol::Tcp);
        let reason = &port_flags(1647, Protocol::Tcp, &iana)[0].reason;
        assert!(reason.contains("rsap") && reason.contains("Holger_Reif"), "{reason}");
        assert!(reason.contains("no reference") && reason.contains("repeats the name"), "{reason}");
    }

    #[test]
    fn unassigned_reserved_and_dynamic() {
        assert_eq!(kinds(987, Protocol::Tcp), vec![FlagKind::Unassigned]);
        assert_eq!(kinds(987, Protocol::Udp), vec![FlagKind::Unassigned]);
        assert_eq!(kinds(49999, Protocol::Tcp), vec![FlagKind::DynamicRange]);
        assert_eq!(kinds(65535, Protocol::Udp), vec![FlagKind::DynamicRange]);
        assert_eq!(kinds(0, Protocol::Tcp), vec![FlagKind::Reserved]);
    }

    #[test]
    fn signals_compare_ignoring_case_and_punctuation() {
        let reg = Registry::builtin();
        let mut r = reg.lookup(3306, Protocol::Tcp)[0];
        assert_eq!(r.service, "mysql");
        r.description = "MySQL";
        r.reference = "";
        assert_eq!(obscure_signals(&r), vec![Signal::NoReference, Signal::NameOnlyDescription]);
        r.description = "NSJTP CTRL";
        r.service = "nsjtp-ctrl";
        assert!(is_silent(&r));
        r.description = "Secure Shell";
        assert_eq!(obscure_signals(&r), vec![Signal::NoReference]);
        r.reference = "[RFC4251]";
        assert!(obscure_signals(&r).is_empty());
    }

    #[test]
    fn severity_weighs_exposure() {
        let f = |kind| vec![Flag { kind, reason: String::new() }];
        assert_eq!(Severity::of(&[], Exposure::AllInterfaces), None);
        assert_eq!(Severity::of(&f(FlagKind::Unassigned), Exposure::AllInterfaces), Some(Severity::High));
        assert_eq!(Severity::of(&f(FlagKind::Unassigned), Exposure::Loopback), Some(Severity::Medium));
        assert_eq!(Severity::of(&f(FlagKind::Obscure), Exposure::AllInterfaces), Some(Severity::High));
        assert_eq!(Severity::of(&f(FlagKind::Obscure), Exposure::Loopback), Some(Severity::Low));
        assert!(
            Severity::of(&f(FlagKind::Obscure), Exposure::AllInterfaces)
                > Severity::of(&f(FlagKind::Obscure), Exposure::Loopback)
        );
    }

    #[test]
    fn socket_flags_mention_exposure() {
        let reg = Registry::builtin();
        let s = sock(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 987);
        let iana = Iana::of(&reg, 987, Protocol::Tcp);
        let flags = socket_flags(&s, &iana);
        assert!(flags[0].reason.contains("all interfaces"), "{}", flags[0].reason);
    }

    #[test]
    fn related_finds_control_data_pairs() {
        let reg = Registry::builtin();
        let iana = Iana::of(&reg, 1687, Protocol::Tcp);
        let rel = related(&reg, 1687, Protocol::Tcp, &iana, 10);
        assert!(rel.iter().any(|r| r.service == "nsjtp-data" && r.start == 1688), "{rel:?}");
        assert_eq!(stem("nsjtp-ctrl"), "nsjtp");
        assert_eq!(stem("bacula1"), "bacula");
    }
}
