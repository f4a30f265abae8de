//! `explain`: the whole story of a port/protocol, built purely from the registry and the current listeners.

use super::classify::{self, Flag, Iana, Range};
use super::listener::Listener;
use crate::model::Protocol;
use crate::registry::{Record, Registry};
use serde::Serialize;

/// How far around a port to look for related registrations.
pub const RELATED_WINDOW: u16 = 10;

/// A port and protocol as asked for on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortSpec {
    pub port: u16,
    /// None means both tcp and udp.
    pub protocol: Option<Protocol>,
}

impl PortSpec {
    /// Parses "N" or "N/tcp" / "N/udp". The error says what was expected.
    pub fn parse(s: &str) -> Result<PortSpec, String> {
        let (num, proto) = match s.split_once('/') {
            Some((n, p)) => (n, Some(p)),
            None => (s, None),
        };
        let port = match num.trim().parse::<u32>() {
            Ok(p) if p <= 65535 => p as u16,
            Ok(p) => return Err(format!("port {p} is out of range: ports are 0-65535")),
            Err(_) => return Err(format!("{s:?} is not a port: expected N or N/tcp or N/udp with N in 0-65535")),
        };
        let protocol = match proto {
            None => None,
            Some(p) => Some(
                Protocol::parse(p.trim())
                    .ok_or_else(|| format!("unknown protocol {p:?} in {s:?}: expected tcp or udp"))?,
            ),
        };
        Ok(PortSpec { port, protocol })
    }

    pub fn protocols(&self) -> Vec<Protocol> {
        self.protocol.map_or_else(|| Protocol::ALL.to_vec(), |p| vec![p])
    }
}

/// Everything portwarden can say about one port/protocol.
#[derive(Debug, Clone, Serialize)]
pub struct Story<'r> {
    pub port: u16,
    pub protocol: Protocol,
    pub range: Range,
    /// What the range tier means.
    pub range_meaning: &'static str,
    pub iana: Iana<'r>,
    /// Flags a listener on this port would get (before exposure is known).
    pub flags: Vec<Flag>,
    /// Registrations on neighbouring ports with the same service-name stem.
    pub related: Vec<Record<'r>>,
    /// Software known to use this port without (or against) an IANA assignment.
    pub commonly: Vec<crate::registry::Unofficial>,
    /// Who listens on this port/protocol on this machine now.
    pub listeners: Vec<Listener<'r>>,
}

/// Builds the story for `port`/`protocol`, taking the matching listeners from `listeners`.
pub fn story<'r>(registry: &'r Registry, port: u16, protocol: Protocol, listeners: &[Listener<'r>]) -> Story<'r> {
    let iana = Iana::of(registry, port, protocol);
    let flags = classify::port_flags(port, protocol, &iana);
    let related = classify::related(registry, port, protocol, &iana, RELATED_WINDOW);
    let range = Range::of(port);
    Story {
        port,
        protocol,
        range,
        range_meaning: range.meaning(),
        iana,
        flags,
        related,
        commonly: crate::registry::commonly(port, protocol),
        listeners: listeners.iter().filter(|l| l.port == port && l.protocol == protocol).cloned().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Status;

    #[test]
    fn port_specs_parse_and_refuse() {
        assert_eq!(PortSpec::parse("22").unwrap(), PortSpec { port: 22, protocol: None });
        assert_eq!(PortSpec::parse("53/UDP").unwrap(), PortSpec { port: 53, protocol: Some(Protocol::Udp) });
        assert!(PortSpec::parse("70000").unwrap_err().contains("0-65535"));
        assert!(PortSpec::parse("-1").is_err());
        assert!(PortSpec::parse("22/sctp").unwrap_err().contains("tcp or udp"));
        assert!(PortSpec::parse("ssh").is_err());
    }

    #[test]
    fn stories_of_the_five_pages_and_friends() {
        let reg = Registry::builtin();
        let s = story(&reg, 987, Protocol::Tcp, &[]);
        assert_eq!((s.range, s.iana.status), (Range::System, Status::Unassigned));
        let s = story(&reg, 1647, Protocol::Tcp, &[]);
        assert_eq!(s.iana.services, vec!["rsap"]);
        assert!(s.iana.entries[0].assignee.contains("Holger_Reif"));
        let s = story(&reg, 1687, Protocol::Tcp, &[]);
        assert_eq!((s.range, s.iana.services.clone()), (Range::User, vec!["nsjtp-ctrl"]));
        assert!(s.related.iter().any(|r| r.service == "nsjtp-data" && r.port == "1688"));
        let s = story(&reg, 2867, Protocol::Tcp, &[]);
        assert!(s.iana.entries[0].assignee.contains("Nicholas_Stowfis"));
        let s = story(&reg, 22, Protocol::Tcp, &[]);
        assert!(s.iana.entries[0].reference.contains("RFC4251"));
        assert!(s.flags.is_empty());
        let s = story(&reg, 49999, Protocol::Udp, &[]);
        assert_eq!(s.range, Range::Dynamic);
    }
}
