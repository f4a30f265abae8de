//! The only place that knows which operating system we run on: one `enumerate` signature, one module per OS.
//!
//! Linux has its own path (netlink sock_diag for the sockets, a `/proc` scan for their owners); macOS and Windows
//! lean on `netstat2` for sockets and owner PIDs and on `sysinfo` for process details.

use crate::model::{Inventory, ListenerChange, Query};

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as imp;

#[cfg(any(target_os = "macos", target_os = "windows"))]
mod netstat;
#[cfg(any(target_os = "macos", target_os = "windows"))]
use netstat as imp;

/// Lists every listening TCP socket and every bound UDP socket (IPv4 and IPv6) with the processes that hold them.
///
/// A socket whose owner cannot be seen is still returned, with no processes; `Inventory::owners_partly_hidden`
/// says whether that can happen on this run. An error means the socket list itself could not be obtained, or no
/// owner could be seen at all: callers must fail closed rather than report an empty machine. Its kind says why:
/// [`Error::SocketList`](crate::error::Error::SocketList), [`Error::ProcessTable`](crate::error::Error::ProcessTable),
/// [`Error::NotPermitted`](crate::error::Error::NotPermitted) when something asked for explicitly was refused, or
/// [`Error::BadInput`](crate::error::Error::BadInput) for a bad `PORTWARDEN_OWNERS`.
pub fn enumerate(query: &Query) -> crate::error::Result<Inventory> {
    imp::enumerate(query)
}

/// The name of a user id in the system's user database, or `None` when it has none (callers may show the number).
pub fn user_name(uid: u32) -> Option<String> {
    imp::user_name(uid)
}

/// Sets the allocator up for what a run does: build lists of thousands of sockets, free them, build the next.
/// The binary calls it first thing; the library never does (it is the program's allocator).
pub fn tune_allocator() {
    imp::tune_allocator()
}

/// A hint telling the user how to see owners that were hidden from this run.
pub fn hidden_owner_hint() -> &'static str {
    imp::hidden_owner_hint()
}

/// Listeners as the kernel reports them starting and stopping, each with the process that did it (Linux, as root,
/// where BPF tracing programs load: see `bpf/listeners.c`). Nothing is missed however short a listener lives, as
/// long as events are read faster than the kernel's buffer fills; when it overflowed, [`ListenerEvents::read`]
/// says so, and the caller lists the machine to catch up.
pub struct ListenerEvents(imp::ListenerEvents);

impl ListenerEvents {
    /// Starts the event source; the error says, for a person, why it cannot run here (not root, no BPF, a program
    /// the kernel refused, another operating system).
    pub fn open(query: &Query) -> Result<ListenerEvents, String> {
        imp::ListenerEvents::open(query).map(ListenerEvents)
    }

    /// Blocks until events may be there to read, or `timeout` passed (`None`: no limit).
    pub fn wait(&self, timeout: Option<std::time::Duration>) -> std::io::Result<()> {
        self.0.wait(timeout)
    }

    /// Appends every waiting change to `out`, in order; returns how many were lost (kernel buffer full) since the
    /// last call.
    pub fn read(&mut self, out: &mut Vec<ListenerChange>) -> std::io::Result<u64> {
        self.0.read(out)
    }
}
