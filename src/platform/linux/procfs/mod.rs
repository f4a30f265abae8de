//! Who holds which socket, read from `/proc`: a parallel scan of every process's `/proc/PID/fd` ([`scan`]), and
//! details (name, executable, command line, uid, start time) of the processes found holding a wanted socket
//! ([`details`]). As root the owners usually come from the kernel's file tables instead ([`super::bpf`]); their
//! details are still read here ([`describe_holders`]), and the scan is the fallback wherever that walk cannot run.
//! Whether `/proc` hides other users' processes: [`hidepid`]. The system calls both use: [`syscalls`].

mod details;
mod exe_state;
mod hidepid;
mod scan;
mod syscalls;
mod threads;

use std::io;

use crate::model::Process;

pub use details::{describe_holders, describe_one, parse_stat_start_time, stat_field, Held};
pub use exe_state::new_listing;
pub use hidepid::proc_hides_pids;
#[cfg(test)]
pub use scan::parse_socket_link;
pub use scan::{refusing, refusing_processes_but, scan_owners, scan_owners_during, CallOffUnlessSet, Wanted};
pub use threads::with_thread_tables;

/// A set of socket inodes. Inodes are small integers handed out by the kernel, not chosen by an adversary, so the
/// Fx hash is enough and much cheaper than the default SipHash (one lookup per socket fd).
pub type InodeSet = rustc_hash::FxHashSet<u64>;

/// What the fd scan found.
#[derive(Debug, Default)]
pub struct OwnerScan {
    /// `(socket inode, PID)` for every wanted socket held by a process whose details could be read; sorted, each
    /// pair once.
    pub holdings: Vec<(u64, u32)>,
    /// Details of every PID in `holdings`, sorted by PID. `user` is left `None` for the caller to fill.
    pub processes: Vec<Process>,
    /// Processes whose fds could not be read, with the error (`EACCES` for other users' processes when not root,
    /// or for processes protected even from root), sorted by PID.
    pub unreadable: Vec<(u32, io::Error)>,
}

pub(super) fn parse_decimal<T: std::str::FromStr>(bytes: &[u8]) -> Option<T> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}
