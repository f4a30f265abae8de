//! Owners from a walk of the kernel's file tables ([`super::bpf`]): the walk's holdings of the wanted sockets, their
//! processes described from `/proc` ([`super::procfs`]), some of them while the walk is still going on.

use super::{bpf, procfs};
use crate::model::Process;

/// Owners of the `wanted` sockets from one walk of the kernel's file tables.
pub(super) fn owners_from_file_tables(wanted: &procfs::InodeSet) -> std::io::Result<procfs::OwnerScan> {
    Ok(describe(of_wanted(bpf::socket_holdings()?, wanted).collect(), Vec::new(), wanted))
}

/// The holdings of `wanted` sockets, as `(inode, PID, start time)`.
fn of_wanted(holdings: Vec<bpf::Holding>, wanted: &procfs::InodeSet) -> impl Iterator<Item = (u64, u32, u64)> + '_ {
    holdings.into_iter().filter(|h| wanted.contains(&h.inode)).map(|h| (h.inode, h.pid, h.start_ticks))
}

/// What [`describe_while_walking`] gathered: `(inode, PID, start time)` of the wanted sockets, and the owners it
/// already looked at.
#[derive(Default)]
pub(super) struct Early {
    pub(super) holdings: Vec<(u64, u32, u64)>,
    pub(super) described: Vec<((u32, u64), Option<Process>)>,
}

/// Takes the walk's parts as they arrive, keeps the wanted sockets' holdings, and while no part is waiting
/// describes their owners one at a time; returns when the walk has ended.
pub(super) fn describe_while_walking(
    arrive: &std::sync::mpsc::Receiver<Vec<bpf::Holding>>,
    wanted: &procfs::InodeSet,
) -> Early {
    use std::sync::mpsc::TryRecvError;
    let mut early = Early::default();
    let mut seen = rustc_hash::FxHashSet::default();
    let mut queue = std::collections::VecDeque::new();
    let mut take = |part: Vec<bpf::Holding>, early: &mut Early, queue: &mut std::collections::VecDeque<(u32, u64)>| {
        for (inode, pid, start) in of_wanted(part, wanted) {
            early.holdings.push((inode, pid, start));
            if seen.insert((pid, start)) {
                queue.push_back((pid, start));
            }
        }
    };
    loop {
        match arrive.try_recv() {
            Ok(part) => take(part, &mut early, &mut queue),
            Err(TryRecvError::Disconnected) => return early,
            Err(TryRecvError::Empty) => match queue.pop_front() {
                Some(owner) => early.described.push((owner, procfs::describe_one(owner))),
                None => match arrive.recv() {
                    Ok(part) => take(part, &mut early, &mut queue),
                    Err(_) => return early,
                },
            },
        }
    }
}

/// Details of the processes holding the wanted sockets (`holdings`: inode, PID, start time), on every core but
/// for those `described` already. If some wanted socket has no holder, the processes whose files `/proc` refuses
/// to show are named, as the `/proc` scan would (the kernel may hide such a process from the walk too).
pub(super) fn describe(
    holdings: Vec<(u64, u32, u64)>,
    described: Vec<((u32, u64), Option<Process>)>,
    wanted: &procfs::InodeSet,
) -> procfs::OwnerScan {
    let mut scan = procfs::describe_holders(&holdings, described);
    let held: procfs::InodeSet = scan.holdings.iter().map(|&(inode, _)| inode).collect();
    if wanted.iter().any(|inode| !held.contains(inode)) {
        scan.unreadable = procfs::refusing_processes().unwrap_or_default();
    }
    scan
}
