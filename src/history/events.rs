//! The `watch --record` event format: one complete JSON object per line (see [`super::snapshot`] for a sample).

use crate::model::{OwnedSocket, Protocol};
use crate::verdict::{Listener, SCHEMA_VERSION};
use serde::{Deserialize, Serialize};

/// What a recording event says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// A recorder started (one per `watch` run; a file may hold several runs).
    Started,
    /// A listener was found that the previous scan did not have (or that was there at the start: `initial`).
    Appeared,
    /// A listener of the previous scan is gone.
    Disappeared,
    /// The recorder stopped: on a signal, when its output closed, or on an error (then `error` says which).
    Stopped,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Started => "started",
            EventKind::Appeared => "appeared",
            EventKind::Disappeared => "disappeared",
            EventKind::Stopped => "stopped",
        }
    }
}

/// One line of a recording, as written. Fields that do not apply to the kind are left out of the JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Event<'a, 'r> {
    pub event: EventKind,
    /// RFC 3339, UTC, milliseconds (`2026-01-02T10:00:00.123Z`): when the scan that saw the change ran.
    pub time: String,
    /// `started`: the version of the listener records that follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<u32>,
    /// `started`: time between scans (with kernel events: between the scans that reconcile).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u64>,
    /// `started`: how listeners are seen: "events" (the kernel reports each as it starts and stops: none is
    /// missed) or "polling" (scans `interval_ms` apart: one living shorter can be missed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<&'a str>,
    /// `started`, when polling: why kernel events are not used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode_reason: Option<String>,
    /// `appeared`/`disappeared`: true for the listeners already there when the recorder started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial: Option<bool>,
    /// `appeared`/`disappeared`: socket inode (0 when the platform has none); tells apart sockets with the same
    /// address, port and owners.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inode: Option<u64>,
    /// `appeared`/`disappeared`: the listener record, as in `list --format json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listener: Option<&'a Listener<'r>>,
    /// `stopped`: "signal", "output closed" or "error".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    /// `stopped`: what went wrong, when the recorder stopped on an error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `stopped`: how many scans ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scans: Option<u64>,
}

impl<'a, 'r> Event<'a, 'r> {
    fn new(event: EventKind, time: &str) -> Self {
        Event {
            event,
            time: time.to_string(),
            schema_version: None,
            interval_ms: None,
            mode: None,
            mode_reason: None,
            initial: None,
            inode: None,
            listener: None,
            reason: None,
            error: None,
            scans: None,
        }
    }

    /// The first event of a recorder run: scans `interval` apart, by kernel `events` or else polling for the reason
    /// given.
    pub fn started(time: &str, interval: std::time::Duration, events: Result<(), String>) -> Self {
        let interval_ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
        let (mode, mode_reason) = match events {
            Ok(()) => ("events", None),
            Err(why) => ("polling", Some(why)),
        };
        Event {
            schema_version: Some(SCHEMA_VERSION),
            interval_ms: Some(interval_ms),
            mode: Some(mode),
            mode_reason,
            ..Event::new(EventKind::Started, time)
        }
    }

    /// A listener appeared (`initial`: it was there when the recorder started) or disappeared.
    pub fn change(kind: EventKind, time: &str, initial: bool, listener: &'a Listener<'r>) -> Self {
        Event {
            initial: Some(initial),
            inode: Some(listener.inode),
            listener: Some(listener),
            ..Event::new(kind, time)
        }
    }

    /// The last event of a recorder run; `error` when it stopped because it could no longer list sockets.
    pub fn stopped(time: &str, reason: &'a str, error: Option<String>, scans: u64) -> Self {
        Event { reason: Some(reason), error, scans: Some(scans), ..Event::new(EventKind::Stopped, time) }
    }

    /// The event as one line of JSON, newline included, to be written with a single write.
    pub fn to_line(&self) -> serde_json::Result<Vec<u8>> {
        let mut line = serde_json::to_vec(self)?;
        line.push(b'\n');
        Ok(line)
    }
}

/// Now, as an event time: RFC 3339, UTC, milliseconds.
pub fn now() -> String {
    time(std::time::SystemTime::now())
}

/// A time as an event time: RFC 3339, UTC, milliseconds.
pub fn time(t: std::time::SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// What tells one live listening socket from another while it lives: the same socket (inode) held by the same
/// processes. Pids and inodes change from boot to boot; `diff` compares with a key of its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    pub port: u16,
    pub protocol: Protocol,
    /// As in the listener record (`::ffff:a.b.c.d` for IPv4-mapped).
    pub address: String,
    pub inode: u64,
    /// Owner pids, sorted; empty when the owner could not be seen.
    pub pids: Vec<u32>,
}

impl Identity {
    /// The identity of a listener record.
    pub fn of(l: &Listener<'_>) -> Identity {
        Identity::new(l.protocol, l.address.clone(), l.port, l.inode, l.processes.iter().map(|p| p.pid))
    }

    /// The identity of an enumerated socket.
    pub fn of_socket(o: &OwnedSocket) -> Identity {
        let s = &o.socket;
        Identity::new(s.protocol, s.address.to_string(), s.port, s.inode, o.processes.iter().map(|p| p.pid))
    }

    fn new(protocol: Protocol, address: String, port: u16, inode: u64, pids: impl Iterator<Item = u32>) -> Identity {
        let mut pids: Vec<u32> = pids.collect();
        pids.sort_unstable();
        pids.dedup();
        Identity { port, protocol, address, inode, pids }
    }
}
