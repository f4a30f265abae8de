//! Reading listeners back from a recording or a `list --format json` snapshot, with errors that name the file,
//! line and column (the event format is in [`super::events`]).
//!
//! A **snapshot** is the JSON object `list --format json` prints (`schema_version` 1). A **recording** is NDJSON:
//! one event per line, each a complete JSON object ending in `\n`:
//!
//! ```text
//! {"event":"started","time":"2026-01-02T10:00:00.000Z","schema_version":1,"interval_ms":500}
//! {"event":"appeared","time":"...","initial":true,"inode":4711,"listener":{ ...as in list --format json... }}
//! {"event":"disappeared","time":"...","initial":false,"inode":4711,"listener":{...}}
//! {"event":"stopped","time":"...","reason":"signal","scans":42}
//! ```
//!
//! Reading a recording gives every listener that was ever present (those there at the start included), once per
//! [`Identity`]. Only what identifies a socket and its owners is read from a listener record (protocol, address,
//! port, dual_stack, interface, netns, processes with their containers, uid); IANA data, exposure, flags and severity
//! are recomputed by the caller from the registry in use. `netns` and `container` are optional, so files written
//! before `--all-netns` existed still read.
//!
//! Damaged recordings are refused, never half-read: a line that is not a complete event is an error naming its
//! line, and so is an incomplete **last** line (no newline, not complete JSON), which is what a recorder killed in
//! the middle of a write would leave: the event it held is lost, so the recording cannot be trusted. A `stopped`
//! event carrying an `error` (the recorder could no longer list sockets) is refused the same way. A recording that
//! does not end with `stopped` (the recorder is still running, or was killed between events) is read, with a
//! warning. A `started` event after a run that has no `stopped` (a recorder killed, then another appending to the
//! same file) is a **gap**: it is read, with a warning naming its line, and listed in [`Inventory::gaps`] (`check`
//! treats it as undecidable).

use super::{EventKind, Identity};
use crate::model::{Inventory, Netns, Os, OwnedSocket, Process, Protocol, Socket};
use crate::text::line_col;
use crate::verdict::SCHEMA_VERSION;
use anyhow::{anyhow, bail};
use serde::de::{self, Deserializer, IgnoredAny};
use serde::Deserialize;
use std::collections::HashSet;
use std::net::IpAddr;
use std::path::Path;

/// Longest piece of a serde message or found value quoted in an error (a 5 MB string must not become the message).
const MAX_QUOTED: usize = 120;

/// Reads every listener in a snapshot (`list --format json`) or a recording (`watch --record`): for a recording,
/// every listener that was ever present, once per [`Identity`]. Errors name the file, line and column and say what
/// was expected; nothing is returned from a file that is damaged anywhere.
pub fn read(path: &Path) -> crate::error::Result<Inventory> {
    let bytes = std::fs::read(path)
        .map_err(|e| crate::error::Error::Io(format!("{}: cannot read the file: {e}", path.display())))?;
    parse(&bytes, &path.display().to_string())
}

/// Parses the bytes of a snapshot or recording; `name` is used in messages.
pub fn parse(bytes: &[u8], name: &str) -> crate::error::Result<Inventory> {
    parse_inner(bytes, name).map_err(|e| crate::error::Error::bad_input(name, &e))
}

fn parse_inner(bytes: &[u8], name: &str) -> anyhow::Result<Inventory> {
    let Some(start) = bytes.iter().position(|b| !b.is_ascii_whitespace()) else {
        bail!("{name}: the file is empty: {WANTED}");
    };
    if bytes[start] != b'{' {
        let (line, col) = line_col(bytes, start);
        bail!("{name}:{line}:{col}: expected `{{`: {WANTED}; found {}", describe_byte(bytes, start));
    }
    let line_end = bytes[start..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |i| start + i);
    match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes[start..line_end]) {
        Ok(first) if first.contains_key("event") => read_recording(bytes, name),
        Ok(first) if first.contains_key("listeners") || first.contains_key("schema_version") => {
            read_snapshot(bytes, name)
        }
        Ok(first) => {
            let (line, _) = line_col(bytes, start);
            let keys: Vec<&str> = first.keys().map(String::as_str).take(8).collect();
            bail!(
                "{name}:{line}: expected a snapshot (an object with \"schema_version\" and \"listeners\") or a \
                 recording (one event object with \"event\" per line); found an object with keys {}",
                crate::text::truncate(&keys.join(", "), MAX_QUOTED)
            )
        }
        // The first line is the start of a document spread over several lines: a pretty-printed snapshot.
        Err(e) if e.is_eof() => read_snapshot(bytes, name),
        Err(_) => read_recording(bytes, name),
    }
}

const WANTED: &str =
    "expected a snapshot (`portwarden list --format json`) or a recording (`portwarden watch --record FILE`)";

// ---------------------------------------------------------------------------------------------------------------
// Input records

/// The parts of a listener record that identify the socket and its owners, checked as they are read.
#[derive(Debug, Deserialize)]
struct ListenerIn {
    protocol: Protocol,
    #[serde(deserialize_with = "ip_address")]
    address: IpAddr,
    #[serde(deserialize_with = "port_number")]
    port: u16,
    #[serde(default)]
    dual_stack: bool,
    #[serde(default)]
    interface: Option<String>,
    /// Written by `--all-netns` runs; older files have none.
    #[serde(default)]
    netns: Option<Netns>,
    processes: Vec<Process>,
    #[serde(default)]
    uid: Option<u32>,
}

impl ListenerIn {
    fn into_owned(self, inode: u64) -> Result<OwnedSocket, String> {
        if self.dual_stack && self.address != IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED) {
            return Err(format!(
                "\"dual_stack\" is true, but only the address :: can be dual-stack, not {}",
                self.address
            ));
        }
        let mut processes = self.processes;
        processes.sort_by_key(|p| p.pid);
        processes.dedup_by_key(|p| p.pid);
        let socket = Socket {
            protocol: self.protocol,
            address: self.address,
            port: self.port,
            uid: self.uid,
            inode,
            v6only: self.dual_stack.then_some(false),
            interface: self.interface,
            netns: self.netns,
        };
        Ok(OwnedSocket { socket, processes: processes.into_iter().map(std::sync::Arc::new).collect() })
    }
}

/// A JSON value shortened for a message.
fn quote(v: &serde_json::Value) -> String {
    crate::text::truncate(&v.to_string(), MAX_QUOTED).into_owned()
}

fn port_number<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    v.as_u64()
        .and_then(|n| u16::try_from(n).ok())
        .ok_or_else(|| de::Error::custom(format!("expected \"port\" to be a port number 0-65535, found {}", quote(&v))))
}

fn ip_address<'de, D: Deserializer<'de>>(d: D) -> Result<IpAddr, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    v.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
        de::Error::custom(format!(
            "expected \"address\" to be an IP address such as \"127.0.0.1\" or \"::1\", found {}",
            quote(&v)
        ))
    })
}

#[derive(Debug, Deserialize)]
struct SnapshotHead {
    schema_version: Option<serde_json::Value>,
    #[serde(rename = "listeners")]
    _listeners: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
struct SnapshotIn {
    listeners: Vec<ListenerIn>,
    #[serde(default)]
    summary: Option<SummaryIn>,
}

#[derive(Debug, Default, Deserialize)]
struct SummaryIn {
    #[serde(default)]
    warnings: Vec<String>,
    /// The system the snapshot was taken on (snapshots written before verdicts have none).
    #[serde(default)]
    os: Option<Os>,
}

#[derive(Debug, Deserialize)]
struct EventIn {
    event: EventKind,
    time: String,
    #[serde(default)]
    schema_version: Option<serde_json::Value>,
    #[serde(default)]
    inode: Option<u64>,
    #[serde(default)]
    listener: Option<ListenerIn>,
    #[serde(default)]
    error: Option<String>,
}

// ---------------------------------------------------------------------------------------------------------------
// Readers

fn read_snapshot(bytes: &[u8], name: &str) -> anyhow::Result<Inventory> {
    let head: SnapshotHead = serde_json::from_slice(bytes).map_err(|e| json_error(name, 0, &e, "a snapshot"))?;
    match head.schema_version {
        None => bail!(
            "{name}: expected \"schema_version\": {SCHEMA_VERSION} in the snapshot (written by `portwarden list \
             --format json`); found none"
        ),
        Some(v) if v.as_u64() != Some(u64::from(SCHEMA_VERSION)) => {
            let line = find_line(bytes, b"\"schema_version\"");
            bail!(
                "{name}:{line}: expected \"schema_version\": {SCHEMA_VERSION}, found {}: this portwarden reads \
                 snapshots of version {SCHEMA_VERSION} only (make the snapshot again with this version's `list \
                 --format json`)",
                quote(&v)
            )
        }
        Some(_) => {}
    }
    let snap: SnapshotIn = serde_json::from_slice(bytes).map_err(|e| json_error(name, 0, &e, "a snapshot"))?;
    let mut sockets = Vec::with_capacity(snap.listeners.len());
    for (i, l) in snap.listeners.into_iter().enumerate() {
        sockets.push(l.into_owned(0).map_err(|e| anyhow!("{name}: listener {}: {e}", i + 1))?);
    }
    let summary = snap.summary.unwrap_or_default();
    let warnings = summary.warnings.into_iter().map(|w| format!("{name}: when it was written: {w}")).collect();
    let mut inv = inventory(sockets, warnings);
    inv.os = summary.os.unwrap_or_else(|| guess_os(&inv.sockets));
    Ok(inv)
}

fn read_recording(bytes: &[u8], name: &str) -> anyhow::Result<Inventory> {
    let mut sockets = Vec::new();
    let mut seen = HashSet::new();
    let mut last: Option<(EventKind, String)> = None;
    // The line and time of the `started` of the run being read, until its `stopped`.
    let mut open_run: Option<(usize, String)> = None;
    let mut gaps = Vec::new();
    let mut offset = 0;
    let mut number = 0;
    while offset < bytes.len() {
        number += 1;
        let (line, complete) = match bytes[offset..].iter().position(|&b| b == b'\n') {
            Some(i) => (&bytes[offset..offset + i], true),
            None => (&bytes[offset..], false),
        };
        offset += line.len() + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let event: EventIn = match serde_json::from_slice(line) {
            Ok(ev) => ev,
            Err(e) if e.is_eof() && !complete => bail!(
                "{name}:{number}: the last line is incomplete (it ends without a newline before its JSON object is \
                 complete): the recorder was killed while writing it, or is writing it now; the event it held is \
                 lost, so the recording cannot be trusted (check again once the recorder has stopped, or delete \
                 that line to check the rest)"
            ),
            Err(e) => return Err(json_error(name, number, &e, "one recording event per line")),
        };
        if !event.time.is_ascii() || humantime::parse_rfc3339(&event.time).is_err() {
            bail!(
                "{name}:{number}: expected \"time\" to be an RFC 3339 UTC time such as \"2026-01-02T10:00:00.123Z\", \
                 found {}",
                quote(&serde_json::Value::String(event.time))
            );
        }
        match event.event {
            EventKind::Started => {
                if let Some(v) = &event.schema_version {
                    if v.as_u64() != Some(u64::from(SCHEMA_VERSION)) {
                        bail!(
                            "{name}:{number}: expected \"schema_version\": {SCHEMA_VERSION}, found {}: this \
                             portwarden reads recordings of version {SCHEMA_VERSION} only",
                            quote(v)
                        );
                    }
                }
                if let (Some((line, started)), Some((_, time))) = (&open_run, &last) {
                    gaps.push(format!(
                        "{name}:{number}: gap: this \"started\" event follows the run started at line {line} ({started}) \
                         that has no \"stopped\" event: that recorder was killed, so listeners between {time} and \
                         {} are missing",
                        event.time
                    ));
                }
                open_run = Some((number, event.time.clone()));
            }
            EventKind::Appeared | EventKind::Disappeared => {
                let Some(listener) = event.listener else {
                    bail!("{name}:{number}: expected a \"listener\" object in this \"{}\" event", event.event.as_str());
                };
                let owned =
                    listener.into_owned(event.inode.unwrap_or(0)).map_err(|e| anyhow!("{name}:{number}: {e}"))?;
                if seen.insert(Identity::of_socket(&owned)) {
                    sockets.push(owned);
                }
            }
            EventKind::Stopped => {
                if let Some(error) = &event.error {
                    bail!(
                        "{name}:{number}: the recorder stopped on an error at {}: {}; listeners after that time are \
                         not in the recording, so it cannot be trusted",
                        event.time,
                        crate::text::truncate(error, 4 * MAX_QUOTED)
                    );
                }
                open_run = None;
            }
        }
        last = Some((event.event, event.time));
    }
    let mut warnings = Vec::new();
    match last {
        None => bail!("{name}: the file has only blank lines: {WANTED}"),
        Some((EventKind::Stopped, _)) => {}
        Some((_, time)) => warnings.push(format!(
            "{name}: the recording does not end with a \"stopped\" event: the recorder is still running or was \
             killed; it holds the listeners seen up to {time}"
        )),
    }
    warnings.extend(gaps.iter().cloned());
    Ok(Inventory { gaps, ..inventory(sockets, warnings) })
}

fn inventory(sockets: Vec<OwnedSocket>, warnings: Vec<String>) -> Inventory {
    // Owners missing from the file were hidden from the run that wrote it.
    let owners_partly_hidden = sockets.iter().any(|s| s.processes.is_empty());
    // A file written with --all-netns labels every listener: count the namespaces that had some.
    let namespaces: HashSet<u64> = sockets.iter().filter_map(|s| s.socket.netns.as_ref().map(|n| n.inode)).collect();
    let namespaces = (!namespaces.is_empty()).then_some(namespaces.len());
    let os = guess_os(&sockets);
    Inventory { os, sockets, warnings, owners_partly_hidden, namespaces, gaps: Vec::new() }
}

/// The system a file without an `os` was written on: Windows when an executable path has a drive letter, else
/// this one.
fn guess_os(sockets: &[OwnedSocket]) -> Os {
    let windows = sockets
        .iter()
        .flat_map(|s| s.processes.iter())
        .filter_map(|p| p.exe.as_deref())
        .any(|e| e.len() > 2 && e.as_bytes()[1] == b':' && e.as_bytes()[0].is_ascii_alphabetic());
    if windows {
        Os::Windows
    } else {
        Os::current()
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Messages

/// "FILE:LINE:COL: MESSAGE (expected WHAT)". `line_base` is the file line of a single NDJSON line (its own line 1),
/// or 0 when the error's line is already a file line.
fn json_error(name: &str, line_base: usize, e: &serde_json::Error, what: &str) -> anyhow::Error {
    let full = e.to_string();
    let msg = match full.rfind(" at line ") {
        Some(i) if e.line() > 0 => &full[..i],
        _ => full.as_str(),
    };
    let msg = crate::text::truncate(msg, MAX_QUOTED);
    let line = if line_base == 0 { e.line() } else { line_base + e.line().saturating_sub(1) };
    let hint = match e.classify() {
        serde_json::error::Category::Eof => format!("; the JSON ends too early (expected {what})"),
        serde_json::error::Category::Syntax => format!(" (expected {what} in JSON)"),
        _ => String::new(),
    };
    anyhow!("{name}:{line}:{}: {msg}{hint}", e.column().max(1))
}

/// Line of the first occurrence of `needle`, or 1.
fn find_line(bytes: &[u8], needle: &[u8]) -> usize {
    bytes.windows(needle.len()).position(|w| w == needle).map_or(1, |i| line_col(bytes, i).0)
}

fn describe_byte(bytes: &[u8], at: usize) -> String {
    let b = bytes[at];
    if b.is_ascii_graphic() {
        format!("{:?}", b as char)
    } else {
        format!("byte 0x{b:02x} (not text: is this a binary file?)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Protocol;

    const L1: &str = r#"{"protocol":"tcp","family":"ipv4","address":"127.0.0.1","port":8080,"dual_stack":false,"ipv4_mapped":false,"interface":null,"exposure":"loopback","processes":[{"pid":42,"name":"python3","exe":"/usr/bin/python3","cmdline":"python3 -m http.server","user":"root","uid":0}],"uid":0,"user":"root","range":"user","iana":{"status":"assigned","services":["http-alt"],"entries":[]},"flags":[],"severity":null}"#;
    const L2: &str = r#"{"protocol":"udp","address":"::","port":5353,"dual_stack":true,"processes":[],"uid":110}"#;

    fn ev(kind: &str, inode: u64, listener: &str) -> String {
        format!(
            r#"{{"event":"{kind}","time":"2026-01-02T10:00:00.123Z","initial":false,"inode":{inode},"listener":{listener}}}"#
        )
    }

    fn started() -> String {
        r#"{"event":"started","time":"2026-01-02T10:00:00.000Z","schema_version":1,"interval_ms":500}"#.to_string()
    }

    fn stopped() -> String {
        r#"{"event":"stopped","time":"2026-01-02T10:00:09.000Z","reason":"signal","scans":18}"#.to_string()
    }

    fn err(text: &str) -> String {
        format!("{:#}", parse(text.as_bytes(), "f.json").unwrap_err())
    }

    #[test]
    fn pretty_snapshot() {
        let doc = format!(r#"{{"schema_version": 1, "listeners": [{L1}, {L2}], "summary": {{"warnings": ["w1"]}}}}"#);
        let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
        let pretty = serde_json::to_string_pretty(&v).unwrap();
        for text in [&doc, &pretty] {
            let inv = parse(text.as_bytes(), "s.json").unwrap();
            assert_eq!(inv.sockets.len(), 2);
            let a = &inv.sockets[0];
            assert_eq!((a.socket.protocol, a.socket.port), (Protocol::Tcp, 8080));
            assert_eq!(a.socket.address, "127.0.0.1".parse::<IpAddr>().unwrap());
            assert_eq!(a.processes[0].pid, 42);
            assert_eq!(a.processes[0].name, "python3");
            let b = &inv.sockets[1];
            assert!(b.socket.is_dual_stack());
            assert!(b.processes.is_empty());
            assert_eq!(b.socket.uid, Some(110));
            assert!(inv.owners_partly_hidden);
            assert_eq!(inv.warnings, ["s.json: when it was written: w1"]);
        }
    }

    #[test]
    fn netns_and_containers_read_back_and_are_optional() {
        let id = "a".repeat(64);
        let in_ns = L1
            .replace(
                "\"interface\":null,",
                "\"interface\":null,\"netns\":{\"inode\":4026532201,\"name\":\"pw-x\",\"current\":false},",
            )
            .replace("\"uid\":0}]", &format!("\"uid\":0,\"container\":{{\"runtime\":\"docker\",\"id\":\"{id}\"}}}}]"));
        assert_ne!(in_ns, L1);
        let doc = format!(r#"{{"schema_version": 1, "listeners": [{in_ns}, {L2}]}}"#);
        let inv = parse(doc.as_bytes(), "s.json").unwrap();
        let a = &inv.sockets[0];
        let netns = a.socket.netns.as_ref().unwrap();
        assert_eq!((netns.inode, netns.name.as_deref(), netns.current), (4026532201, Some("pw-x"), false));
        let container = a.processes[0].container.as_ref().unwrap();
        assert_eq!((container.runtime.as_str(), container.id.as_str()), ("docker", id.as_str()));
        // Exposure is recomputed from the namespace, not taken from the file ("loopback" there: it is 127.0.0.1).
        let reg = crate::registry::Registry::builtin();
        let l = crate::verdict::listener(a.clone(), &reg, &mut |_| None);
        assert_eq!(l.exposure, crate::verdict::Exposure::Loopback);
        // Older files, without the fields, still read.
        let b = &inv.sockets[1];
        assert_eq!(b.socket.netns, None);
        assert_eq!(inv.namespaces, Some(1));
        assert_eq!(
            parse(format!(r#"{{"schema_version": 1, "listeners": [{L1}]}}"#).as_bytes(), "s").unwrap().namespaces,
            None
        );
    }

    #[test]
    fn recording_keeps_every_listener_once() {
        let text = [
            started(),
            ev("appeared", 7, L1),
            ev("appeared", 8, L2),
            ev("disappeared", 8, L2),
            ev("appeared", 9, L2),
            ev("disappeared", 7, L1),
            stopped(),
        ]
        .join("\n")
            + "\n";
        let inv = parse(text.as_bytes(), "r.ndjson").unwrap();
        let inodes: Vec<u64> = inv.sockets.iter().map(|s| s.socket.inode).collect();
        assert_eq!(inodes, [7, 8, 9], "every socket that lived, once each");
        assert!(inv.warnings.is_empty(), "{:?}", inv.warnings);
    }

    #[test]
    fn recording_without_stop_is_read_with_a_warning() {
        let text = format!("{}\n{}\n", started(), ev("appeared", 7, L1));
        let inv = parse(text.as_bytes(), "r.ndjson").unwrap();
        assert_eq!(inv.sockets.len(), 1);
        assert!(inv.warnings[0].contains("does not end with a \"stopped\" event"), "{:?}", inv.warnings);
        // A complete last event that only lost its newline is kept.
        let text = format!("{}\n{}\n{}", started(), ev("appeared", 7, L1), stopped());
        assert!(parse(text.as_bytes(), "r.ndjson").unwrap().warnings.is_empty());
        // An empty recording (nothing listened) is fine.
        let text = format!("{}\n{}\n", started(), stopped());
        assert!(parse(text.as_bytes(), "r.ndjson").unwrap().sockets.is_empty());
    }

    #[test]
    fn a_run_without_stop_followed_by_another_is_a_gap() {
        let text = [started(), ev("appeared", 7, L1), started(), ev("appeared", 8, L2), stopped()].join("\n") + "\n";
        let inv = parse(text.as_bytes(), "r.ndjson").unwrap();
        assert_eq!(inv.sockets.len(), 2);
        assert_eq!(inv.gaps.len(), 1, "{:?}", inv.gaps);
        assert!(inv.gaps[0].starts_with("r.ndjson:3: gap:") && inv.gaps[0].contains("line 1"), "{:?}", inv.gaps);
        assert!(inv.warnings.contains(&inv.gaps[0]), "{:?}", inv.warnings);
        // Whole runs one after another are no gap.
        let text = [started(), stopped(), started(), ev("appeared", 7, L1), stopped()].join("\n") + "\n";
        assert!(parse(text.as_bytes(), "r.ndjson").unwrap().gaps.is_empty());
    }

    #[test]
    fn truncated_last_line_is_refused_with_its_line() {
        let full = ev("appeared", 7, L1);
        let text = format!("{}\n{}", started(), &full[..full.len() / 2]);
        let e = err(&text);
        assert!(e.starts_with("f.json:2: the last line is incomplete"), "{e}");
        // The same cut in the middle of the file is an ordinary error at that line.
        let text = format!("{}\n{}\n{}\n", started(), &full[..full.len() / 2], stopped());
        let e = err(&text);
        assert!(e.starts_with("f.json:2:"), "{e}");
    }

    #[test]
    fn recorder_error_is_refused() {
        let text = format!(
            "{}\n{}\n{}\n",
            started(),
            ev("appeared", 7, L1),
            r#"{"event":"stopped","time":"2026-01-02T10:00:01.000Z","reason":"error","error":"netlink: EPERM"}"#
        );
        let e = err(&text);
        assert!(e.starts_with("f.json:3: the recorder stopped on an error"), "{e}");
        assert!(e.contains("netlink: EPERM"), "{e}");
    }

    #[test]
    fn bad_values_name_file_line_and_expectation() {
        let bad_port = ev("appeared", 1, &L1.replace("8080", "70000"));
        let e = err(&format!("{}\n{bad_port}\n", started()));
        assert!(e.starts_with("f.json:2:"), "{e}");
        assert!(e.contains("port number 0-65535, found 70000"), "{e}");

        let e = err(&format!("{}\n{}\n", started(), ev("appeared", 1, &L1.replace("\"tcp\"", "\"sctp\""))));
        assert!(e.starts_with("f.json:2:") && e.contains("sctp") && e.contains("tcp"), "{e}");

        let e = err(&format!("{}\n{}\n", started(), ev("appeared", 1, &L1.replace("127.0.0.1", "localhost"))));
        assert!(e.contains("expected \"address\" to be an IP address"), "{e}");

        let e = err(&format!("{}\n{}\n", started(), ev("appeared", 1, &L1.replace("\"pid\":42", "\"pid\":\"42\""))));
        assert!(e.starts_with("f.json:2:") && e.contains("invalid type"), "{e}");

        let e = err(&format!("{}\n{}\n", started(), ev("appeared", 1, &L2.replace("\"::\"", "\"10.0.0.1\""))));
        assert!(e.starts_with("f.json:2:") && e.contains("dual-stack"), "{e}");

        let e = err(&ev("vanished", 1, L1));
        assert!(e.starts_with("f.json:1:") && e.contains("unknown variant `vanished`"), "{e}");

        let e = err(&ev("appeared", 1, L1).replace("2026-01-02T10:00:00.123Z", "yesterday"));
        assert!(e.starts_with("f.json:1: expected \"time\""), "{e}");

        let e = err(r#"{"event":"appeared","time":"2026-01-02T10:00:00.123Z"}"#);
        assert!(e.contains("expected a \"listener\" object"), "{e}");
    }

    #[test]
    fn snapshot_errors() {
        let e = err(&format!("{{\n  \"schema_version\": 2,\n  \"listeners\": [{L1}]\n}}"));
        assert!(e.starts_with("f.json:2: expected \"schema_version\": 1, found 2"), "{e}");
        let e = err(&format!("{{\"listeners\": [{L1}]}}"));
        assert!(e.contains("expected \"schema_version\": 1"), "{e}");
        let e = err(&format!("{{\n\"schema_version\": 1,\n\"listeners\": [\n{}\n]}}", L1.replace("8080", "-1")));
        assert!(e.starts_with("f.json:4:") && e.contains("found -1"), "{e}");
        let e = err("{\n\"schema_version\": 1,\n\"listeners\": [\n");
        assert!(e.contains("ends too early"), "{e}");
        let e = err("{\"schema_version\": 1, \"listeners\": \"none\"}");
        assert!(e.starts_with("f.json:1:") && e.contains("invalid type"), "{e}");
        let e = err("{\"hello\": 1}\n");
        assert!(e.starts_with("f.json:1: expected a snapshot") && e.contains("hello"), "{e}");
    }

    #[test]
    fn every_cut_and_every_flipped_byte_is_read_or_refused() {
        let recording = [started(), ev("appeared", 7, L1), ev("appeared", 8, L2), stopped()].join("\n") + "\n";
        let doc = format!(r#"{{"schema_version": 1, "listeners": [{L1}, {L2}]}}"#);
        let snapshot = serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(&doc).unwrap()).unwrap();
        for text in [recording.as_bytes(), snapshot.as_bytes()] {
            for cut in 0..text.len() {
                match parse(&text[..cut], "f") {
                    Ok(inv) => assert!(inv.sockets.len() <= 2),
                    Err(e) => assert!(format!("{e:#}").starts_with("f:"), "{e:#}"),
                }
            }
            for at in 0..text.len() {
                for b in [b'\0', b'"', b'{', b'\n', 0xff] {
                    let mut bad = text.to_vec();
                    bad[at] = b;
                    if let Err(e) = parse(&bad, "f") {
                        assert!(format!("{e:#}").starts_with("f:"), "{e:#}");
                    }
                }
            }
        }
    }

    #[test]
    fn garbage_is_refused_not_panicked_on() {
        assert!(err("").contains("the file is empty"));
        assert!(err("  \n\t").contains("the file is empty"));
        let e = format!("{:#}", parse(b"\x89PNG\r\n\x1a\n\0\0", "f.json").unwrap_err());
        assert!(e.starts_with("f.json:1:1: expected `{`") && e.contains("byte 0x89"), "{e}");
        let e = format!("{:#}", parse(b"\n\n{\xff\xfe}", "f.json").unwrap_err());
        assert!(e.starts_with("f.json:3:"), "{e}");
        assert!(err("[1,2]").starts_with("f.json:1:1: expected `{`"));
        let deep = "{\"event\":".to_string() + &"[".repeat(100_000);
        assert!(err(&deep).starts_with("f.json:1:"));
        let huge = format!("{{\"event\":\"appeared\",\"time\":\"{}\"}}", "x".repeat(5_000_000));
        let e = err(&huge);
        assert!(e.starts_with("f.json:1:") && e.len() < 1000, "{}", &e[..200.min(e.len())]);
    }
}
