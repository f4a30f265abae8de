//! Joins enumerated sockets with the registry and the classification into listener records and a run summary:
//! the data every renderer (table, JSON) and later the policy check work from.

use super::classify::{self, Exposure, Flag, Iana, Range, Severity};
use super::judge::{Judge, Verdict};
use super::pipeline::{self, Collect, Inputs, Order};
use crate::model::{Family, Inventory, Netns, Os, OwnedSocket, Process, Protocol};
use crate::registry::{Info, Registry, Status};
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

/// One listening socket with everything portwarden knows about it.
#[derive(Debug, Clone, Serialize)]
pub struct Listener<'r> {
    pub protocol: Protocol,
    pub family: Family,
    /// Plain address, no brackets; an IPv4-mapped IPv6 address is shown as `::ffff:a.b.c.d`.
    pub address: String,
    pub port: u16,
    /// An IPv6 wildcard socket that also accepts IPv4 (IPV6_V6ONLY off).
    pub dual_stack: bool,
    /// The address is an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`).
    pub ipv4_mapped: bool,
    /// Interface the socket is bound to (SO_BINDTODEVICE), if any.
    pub interface: Option<String>,
    /// The network namespace of the socket (`--all-netns`); null when only the current namespace was listed.
    pub netns: Option<Netns>,
    pub exposure: Exposure,
    /// Every process holding the socket, by pid; empty when the owner could not be seen. Shared with the other
    /// sockets of the same process.
    pub processes: Vec<Arc<Process>>,
    /// Socket owner's uid as the kernel reports it (known even when the processes are not).
    pub uid: Option<u32>,
    /// Name of that uid.
    pub user: Option<String>,
    pub range: Range,
    pub iana: Iana<'r>,
    /// Should it be listening? `expected`, `review` or `dangerous`.
    pub verdict: Verdict,
    /// Why, in one line a person can act on.
    pub reason: Arc<str>,
    /// The findings behind a `review` or `dangerous` verdict; empty when expected.
    pub flags: Vec<Flag>,
    /// high for dangerous; medium for review beyond loopback, low on it; null when expected.
    pub severity: Option<Severity>,
    #[serde(skip)]
    pub inode: u64,
}

impl Listener<'_> {
    pub fn owner_known(&self) -> bool {
        !self.processes.is_empty()
    }
}

/// Counts and facts about one run.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub listeners: usize,
    pub tcp: usize,
    pub udp: usize,
    pub flagged: usize,
    /// The system the listeners were listed on (their verdicts are judged for it).
    pub os: Os,
    /// Listeners per verdict.
    pub by_verdict: BTreeMap<&'static str, usize>,
    /// Listeners per IANA status.
    pub by_status: BTreeMap<&'static str, usize>,
    /// Listeners per flag kind.
    pub by_flag: BTreeMap<&'static str, usize>,
    /// Listeners whose owning process could not be seen.
    pub owner_unknown: usize,
    /// How to see the unknown owners, when there are some.
    pub hint: Option<String>,
    /// With `--all-netns`: how many network namespaces were listed (the current one included); null without.
    pub namespaces: Option<usize>,
    pub warnings: Vec<String>,
    pub registry: Info,
}

/// The whole result of `list`.
#[derive(Debug, Clone, Serialize)]
pub struct Report<'r> {
    pub schema_version: u32,
    pub listeners: Vec<Listener<'r>>,
    pub summary: Summary,
}

/// Version of the JSON output's shape; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Builds the listener record for one socket. `user_name` maps a uid to a name (the platform's passwd lookup).
pub fn listener<'r>(
    owned: OwnedSocket,
    registry: &'r Registry,
    user_name: &mut dyn FnMut(u32) -> Option<String>,
) -> Listener<'r> {
    listener_at(owned, registry, &mut Judge::new(Os::current()), user_name)
}

/// [`listener`], judged by `judge` (whose caches serve a whole listing).
pub(crate) fn listener_at<'r>(
    owned: OwnedSocket,
    registry: &'r Registry,
    judge: &mut Judge,
    user_name: &mut dyn FnMut(u32) -> Option<String>,
) -> Listener<'r> {
    let OwnedSocket { socket, processes } = owned;
    let address = written(&socket.address);
    let iana = Iana::of(registry, socket.port, socket.protocol);
    let exposure = Exposure::of(&socket);
    let judgement =
        judge.judge(socket.port, socket.protocol, exposure, &processes, &mut || classify::socket_flags(&socket, &iana));
    let severity = match judgement.verdict {
        Verdict::Expected => None,
        Verdict::Review if exposure >= Exposure::Address => Some(Severity::Medium),
        Verdict::Review => Some(Severity::Low),
        Verdict::Dangerous => Some(Severity::High),
    };
    let ipv4_mapped = matches!(socket.address, IpAddr::V6(a) if a.to_ipv4_mapped().is_some());
    Listener {
        protocol: socket.protocol,
        family: socket.family(),
        address,
        port: socket.port,
        dual_stack: socket.is_dual_stack(),
        ipv4_mapped,
        interface: socket.interface.clone(),
        netns: socket.netns.clone(),
        exposure,
        user: socket.uid.and_then(&mut *user_name),
        uid: socket.uid,
        range: Range::of(socket.port),
        severity,
        verdict: judgement.verdict,
        reason: judgement.reason,
        flags: judgement.flags,
        iana,
        processes,
        inode: socket.inode,
    }
}

/// Builds the report for an inventory: one listener per socket that `keep` accepts, in port order (see
/// [`super::pipeline`]), and the summary of those listeners.
pub fn build<'r>(
    inventory: Inventory,
    registry: &'r Registry,
    user_name: &mut dyn FnMut(u32) -> Option<String>,
    keep: &dyn Fn(&Listener<'r>) -> bool,
    hint: &str,
) -> Report<'r> {
    let mut all = Collect::default();
    let inputs = Inputs { registry, user_name, keep, hint, order: Order::Port };
    // Collecting cannot fail.
    let summary = match pipeline::run(inventory, inputs, &mut all) {
        Ok(summary) => summary,
        Err(e) => unreachable!("collecting listeners failed: {e}"),
    };
    Report { schema_version: SCHEMA_VERSION, listeners: all.listeners, summary }
}

/// Puts the sockets in report order ([`Order::Port`]): by port, protocol and family, then by the address as
/// written in [`Listener::address`] (a string: "10.0.0.1" comes before "9.0.0.1") and the inode. Only sockets that
/// share port, protocol and family need their addresses written to be placed, so only theirs are.
pub(crate) fn in_report_order(sockets: &mut [OwnedSocket]) {
    let group = |owned: &OwnedSocket| (owned.socket.port, owned.socket.protocol, owned.socket.family());
    sockets.sort_by_key(group);
    for run in sockets.chunk_by_mut(|a, b| group(a) == group(b)).filter(|run| run.len() > 1) {
        run.sort_by_cached_key(|owned| (written(&owned.socket.address), owned.socket.inode));
    }
}

/// An address as `Display` writes it. IPv4 addresses and the two common IPv6 ones are written here: the standard
/// formatter goes through the padding machinery for every octet, which made writing addresses a noticeable part
/// of a listing.
pub(crate) fn written(address: &IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => {
            let mut out = String::with_capacity(15);
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                if octet >= 100 {
                    out.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    out.push(char::from(b'0' + octet / 10 % 10));
                }
                out.push(char::from(b'0' + octet % 10));
            }
            out
        }
        IpAddr::V6(v6) if v6.is_unspecified() => "::".to_string(),
        IpAddr::V6(v6) if v6.is_loopback() => "::1".to_string(),
        IpAddr::V6(v6) => v6.to_string(),
    }
}

/// Sorts the most severe first (dangerous, then review beyond loopback, then review on loopback), then by port.
pub fn sort_by_severity(listeners: &mut [Listener<'_>]) {
    listeners.sort_by(by_severity);
}

/// Ordering for [`sort_by_severity`]: severity, then exposure (wider first), then port.
pub fn by_severity(a: &Listener<'_>, b: &Listener<'_>) -> std::cmp::Ordering {
    severity_order(a).cmp(&severity_order(b))
}

/// Where a listener stands in [`by_severity`]'s order, as a key: what the pipeline sorts by and the table's reasons
/// are ordered by.
pub fn severity_order(l: &Listener<'_>) -> SeverityOrder {
    (Reverse(l.severity), Reverse(l.exposure), l.port)
}

/// See [`severity_order`]: severity and exposure (both widest first), port.
pub type SeverityOrder = (Reverse<Option<Severity>>, Reverse<Exposure>, u16);

const STATUSES: [Status; 3] = [Status::Assigned, Status::Reserved, Status::Unassigned];

/// The counts of a [`Summary`], taken one listener at a time.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    listeners: usize,
    tcp: usize,
    udp: usize,
    flagged: usize,
    /// Indexed like [`STATUSES`].
    by_status: [usize; 3],
    /// Indexed like [`classify::FlagKind::ALL`].
    by_flag: [usize; classify::FlagKind::ALL.len()],
    /// Indexed like [`Verdict::ALL`].
    by_verdict: [usize; 3],
    owner_unknown: usize,
}

impl Tally {
    pub(crate) fn add(&mut self, l: &Listener<'_>) {
        self.listeners += 1;
        match l.protocol {
            Protocol::Tcp => self.tcp += 1,
            Protocol::Udp => self.udp += 1,
        }
        self.flagged += usize::from(l.verdict != Verdict::Expected);
        for (count, v) in self.by_verdict.iter_mut().zip(Verdict::ALL) {
            *count += usize::from(l.verdict == v);
        }
        for (count, status) in self.by_status.iter_mut().zip(STATUSES) {
            *count += usize::from(l.iana.status == status);
        }
        for (count, kind) in self.by_flag.iter_mut().zip(classify::FlagKind::ALL) {
            *count += usize::from(l.flags.iter().any(|f| f.kind == kind));
        }
        self.owner_unknown += usize::from(!l.owner_known());
    }

    pub(crate) fn summary(
        &self,
        warnings: Vec<String>,
        owners_partly_hidden: bool,
        hint: &str,
        registry: Info,
    ) -> Summary {
        let hint = (self.owner_unknown > 0).then(|| {
            if owners_partly_hidden {
                hint.to_string()
            } else {
                "no visible process holds these sockets: they may belong to the kernel (NFS, WireGuard...) or to a \
                 process in another PID namespace"
                    .to_string()
            }
        });
        Summary {
            listeners: self.listeners,
            tcp: self.tcp,
            udp: self.udp,
            flagged: self.flagged,
            os: Os::current(),
            by_verdict: Verdict::ALL.iter().map(|v| v.as_str()).zip(self.by_verdict).collect(),
            by_status: STATUSES.iter().map(|s| s.as_str()).zip(self.by_status).collect(),
            by_flag: classify::FlagKind::ALL.iter().map(|k| k.as_str()).zip(self.by_flag).collect(),
            owner_unknown: self.owner_unknown,
            hint,
            namespaces: None,
            warnings,
            registry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::written;
    use proptest::prelude::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for a in ["0.0.0.0", "127.0.0.1", "255.255.255.255", "10.0.9.100", "1.20.199.250", "::", "::1", "fe80::1"] {
            let ip: IpAddr = a.parse().unwrap();
            assert_eq!(written(&ip), a);
        }
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 168, 0, 1).to_ipv6_mapped());
        assert_eq!(written(&mapped), "::ffff:192.168.0.1");
    }

    proptest! {
        #[test]
        fn any_address_is_written_as_display_writes_it(v4 in any::<u32>(), v6 in any::<u128>()) {
            let v4 = IpAddr::V4(Ipv4Addr::from(v4));
            prop_assert_eq!(written(&v4), v4.to_string());
            let v6 = IpAddr::V6(Ipv6Addr::from(v6));
            prop_assert_eq!(written(&v6), v6.to_string());
        }
    }
}
