//! `explain`: the whole story of a port/protocol, built purely from the registry and the current listeners.

use super::classify::{self, Flag, Iana, Range};
use super::knowledge::{Exposed, Knowledge, ListenerRow};
use super::listener::Listener;
use crate::model::{Os, Protocol};
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
    /// What normally listens on this port, from the knowledge tables, for the system the listeners are on.
    pub normally: Vec<Usual>,
    /// Who would be expected to hold this port, and what would not be, in one sentence.
    pub expectation: String,
    /// Who listens on this port/protocol on this machine now.
    pub listeners: Vec<Listener<'r>>,
}

/// One program (or any holder) that normally listens on a port, and how exposed it may be.
#[derive(Debug, Clone, Serialize)]
pub struct Usual {
    pub what: String,
    /// The systems it runs on: `linux`, `macos`, `windows`.
    pub os: Vec<&'static str>,
    /// Process names; empty when the row is about the port whoever holds it.
    pub programs: Vec<String>,
    /// Where the program is installed (glob patterns); empty when not checked.
    pub exe: Vec<String>,
    /// `normal`, `review` or `dangerous`: what it means when it is reachable beyond loopback.
    pub exposed: &'static str,
    /// Why reachability matters (empty when it does not).
    pub risk: String,
    pub source: String,
}

/// The rows about this port for every system, those of `os` first.
fn usual(port: u16, protocol: Protocol, os: Os) -> Vec<Usual> {
    let k = Knowledge::get();
    // Rows for "a dynamic port" fit every port of the range: they are named in the expectation instead.
    let mut ids: Vec<u32> =
        k.at_port(port, protocol, os).into_iter().filter(|&i| !k.rows[i as usize].dynamic).collect();
    for other in [Os::Linux, Os::Macos, Os::Windows] {
        for i in k.at_port(port, protocol, other) {
            if !ids.contains(&i) && !k.rows[i as usize].dynamic {
                ids.push(i);
            }
        }
    }
    ids.into_iter()
        .map(|i| {
            let r = &k.rows[i as usize];
            Usual {
                what: r.what.clone(),
                os: k.systems(i),
                programs: r.programs.clone(),
                exe: r.exe.clone(),
                exposed: match r.exposed {
                    Exposed::Normal => "normal",
                    Exposed::Review => "review",
                    Exposed::Dangerous => "dangerous",
                },
                risk: r.risk.clone(),
                source: r.source.clone(),
            }
        })
        .collect()
}

/// Who would be expected on this port, and what would not be, as the verdict judges it.
fn expectation(port: u16, protocol: Protocol, os: Os) -> String {
    let k = Knowledge::get();
    let pp = format!("{port}/{protocol}");
    let all: Vec<&ListenerRow> = k.at_port(port, protocol, os).into_iter().map(|i| &k.rows[i as usize]).collect();
    let (dynamic, rows): (Vec<&ListenerRow>, Vec<&ListenerRow>) = all.into_iter().partition(|r| r.dynamic);
    let mut pickers: Vec<&str> = dynamic.iter().flat_map(|r| r.programs.iter().map(String::as_str)).collect();
    pickers.sort_unstable();
    pickers.dedup();
    let pick = if pickers.is_empty() {
        String::new()
    } else {
        let more = pickers.len().saturating_sub(8);
        pickers.truncate(8);
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        format!(" ({pp} is in the dynamic range, where {}{more} pick a port each start)", pickers.join(", "))
    };
    let mut programs: Vec<&str> = rows.iter().flat_map(|r| r.programs.iter().map(String::as_str)).collect();
    programs.sort_unstable();
    programs.dedup();
    let anyone = rows.iter().any(|r| r.programs.is_empty());
    if programs.is_empty() && !anyone {
        return format!(
            "nothing is known to listen on {pp} on {}{pick}: a program portwarden does not know is expected on \
             loopback and worth a look beyond it; a shell, netcat or a one-off script is worth a look anywhere and \
             dangerous beyond loopback",
            os.as_str()
        );
    }
    let mut s = if programs.is_empty() {
        format!("{pp} is not tied to one program on {}", os.as_str())
    } else {
        format!(
            "expected when held by {} (at its usual path where one is known); another program holding {pp} is \
             worth a look, and a shell, netcat or a one-off script holding it is dangerous beyond loopback",
            programs.join(", ")
        )
    };
    if let Some(r) = rows.iter().filter(|r| r.exposed != Exposed::Normal).max_by_key(|r| r.exposed) {
        let level = if r.exposed == Exposed::Dangerous { "dangerous" } else { "worth a look" };
        s.push_str(&format!("; reachable beyond loopback it is {level}: {}", r.risk));
    }
    s.push_str(&pick);
    s
}

/// Builds the story for `port`/`protocol`, taking the matching listeners from `listeners`.
pub fn story<'r>(
    registry: &'r Registry,
    port: u16,
    protocol: Protocol,
    os: Os,
    listeners: &[Listener<'r>],
) -> Story<'r> {
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
        normally: usual(port, protocol, os),
        expectation: expectation(port, protocol, os),
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
        let s = story(&reg, 987, Protocol::Tcp, Os::Linux, &[]);
        assert_eq!((s.range, s.iana.status), (Range::System, Status::Unassigned));
        let s = story(&reg, 1647, Protocol::Tcp, Os::Linux, &[]);
        assert_eq!(s.iana.services, vec!["rsap"]);
        assert!(s.iana.entries[0].assignee.contains("Holger_Reif"));
        let s = story(&reg, 1687, Protocol::Tcp, Os::Linux, &[]);
        assert_eq!((s.range, s.iana.services.clone()), (Range::User, vec!["nsjtp-ctrl"]));
        assert!(s.related.iter().any(|r| r.service == "nsjtp-data" && r.port == "1688"));
        let s = story(&reg, 2867, Protocol::Tcp, Os::Linux, &[]);
        assert!(s.iana.entries[0].assignee.contains("Nicholas_Stowfis"));
        let s = story(&reg, 22, Protocol::Tcp, Os::Linux, &[]);
        assert!(s.iana.entries[0].reference.contains("RFC4251"));
        assert!(s.flags.is_empty());
        let s = story(&reg, 49999, Protocol::Udp, Os::Linux, &[]);
        assert_eq!(s.range, Range::Dynamic);
    }
}
