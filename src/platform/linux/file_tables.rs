//! Owners from a walk of the kernel's file tables ([`super::bpf`]): the walk's holdings of the wanted sockets, their
//! processes described from `/proc` ([`super::procfs`]), some of them while the walk is still going on.

use super::{bpf, procfs};
use crate::model::Process;

/// Owners of the `wanted` sockets from one walk of the kernel's file tables.
pub(super) fn owners_from_file_tables(wanted: &procfs::InodeSet) -> std::io::Result<procfs::OwnerScan> {
    Ok(describe(of_wanted(bpf::socket_holdings()?, wanted).collect(), Vec::new(), wanted))
}

/// The holdings of `wanted` sockets, as `(inode, PID, start time, uid)`.
fn of_wanted(holdings: Vec<bpf::Holding>, wanted: &procfs::InodeSet) -> impl Iterator<Item = procfs::Held> + '_ {
    holdings.into_iter().filter(|h| wanted.contains(&h.inode)).map(|h| (h.inode, h.pid, h.start_ticks, h.uid))
}

/// What [`describe_while_walking`] gathered: `(inode, PID, start time, uid)` of the wanted sockets, and the owners
/// it already looked at.
#[derive(Default)]
pub(super) struct Early {
    pub(super) holdings: Vec<procfs::Held>,
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
    let mut take = |part: Vec<bpf::Holding>, early: &mut Early, queue: &mut std::collections::VecDeque<_>| {
        for held @ (_, pid, start, uid) in of_wanted(part, wanted) {
            early.holdings.push(held);
            if seen.insert((pid, start)) {
                queue.push_back(((pid, start), uid));
            }
        }
    };
    loop {
        match arrive.try_recv() {
            Ok(part) => take(part, &mut early, &mut queue),
            Err(TryRecvError::Disconnected) => return early,
            Err(TryRecvError::Empty) => match queue.pop_front() {
                Some((owner, uid)) => early.described.push((owner, procfs::describe_one(owner, Some(uid)))),
                None => match arrive.recv() {
                    Ok(part) => take(part, &mut early, &mut queue),
                    Err(_) => return early,
                },
            },
        }
    }
}

/// Details of the processes holding the wanted sockets (`holdings`: inode, PID, start time, uid), on every core but
/// for those `described` already. A wanted socket left without owner is explained as the `/proc` scan would, by
/// the processes whose files `/proc` refuses to show: when the walk named its holder but `/proc` would not describe
/// it, that holder is asked; when the walk named none (the kernel may hide a process from the walk too), every
/// process is.
pub(super) fn describe(
    holdings: Vec<procfs::Held>,
    described: Vec<((u32, u64), Option<Process>)>,
    wanted: &procfs::InodeSet,
) -> procfs::OwnerScan {
    let mut scan = procfs::describe_holders(&holdings, described);
    let held: procfs::InodeSet = scan.holdings.iter().map(|&(inode, _)| inode).collect();
    let walked: procfs::InodeSet = holdings.iter().map(|&(inode, ..)| inode).collect();
    let unowned = wanted.iter().filter(|inode| !held.contains(inode));
    if unowned.clone().any(|inode| !walked.contains(inode)) {
        // The processes just described showed their files already.
        let described: Vec<u32> = scan.processes.iter().map(|p| p.pid).collect();
        scan.unreadable = procfs::refusing_processes_but(&described).unwrap_or_default();
    } else if unowned.clone().next().is_some() {
        let undescribed = |&&(inode, ..): &&procfs::Held| !held.contains(&inode);
        let mut pids: Vec<u32> = holdings.iter().filter(undescribed).map(|&(_, pid, ..)| pid).collect();
        pids.sort_unstable();
        pids.dedup();
        scan.unreadable = procfs::refusing(pids);
    }
    scan
}
