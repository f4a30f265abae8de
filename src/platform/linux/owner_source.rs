//! Where socket owners come from, and getting them alongside the socket dump: the kernel's file tables ([`super::bpf`],
//! as root) or the `/proc` fd scan ([`super::procfs`]), as `PORTWARDEN_OWNERS` and this run's privileges allow.

use std::io;

use super::file_tables::{describe, describe_while_walking, owners_from_file_tables, Early};
use super::{bpf, netns, procfs, sys};
use crate::error::Error;
use crate::model::{Query, Socket};

/// Where socket owners come from: `PORTWARDEN_OWNERS=auto` (the default: the kernel's file tables when that can
/// work, else `/proc`), `bpf` (the file tables or fail) or `procfs` (always the `/proc` scan).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OwnerSource {
    Auto,
    Bpf,
    Procfs,
}

impl OwnerSource {
    /// The source `PORTWARDEN_OWNERS` names; any other value is bad input (reported with the variable's name as
    /// its "path").
    fn from_env() -> Result<OwnerSource, Error> {
        match std::env::var("PORTWARDEN_OWNERS").as_deref() {
            Err(_) | Ok("" | "auto") => Ok(OwnerSource::Auto),
            Ok("bpf") => Ok(OwnerSource::Bpf),
            Ok("procfs") => Ok(OwnerSource::Procfs),
            Ok(other) => Err(Error::bad_input(
                "PORTWARDEN_OWNERS",
                &anyhow::anyhow!("PORTWARDEN_OWNERS is {:?}: expected auto, bpf or procfs", crate::text::escape(other)),
            )),
        }
    }

    /// Whether to walk the file tables ([`bpf`]); with `bpf`, an error when that cannot work here (not permitted:
    /// only root in the initial namespaces may).
    fn walk_file_tables(self) -> Result<bool, Error> {
        match self {
            OwnerSource::Procfs => Ok(false),
            OwnerSource::Auto => Ok(bpf::usable()),
            OwnerSource::Bpf if bpf::usable() => Ok(true),
            OwnerSource::Bpf => Err(Error::NotPermitted(
                "PORTWARDEN_OWNERS=bpf: the kernel's file tables can be walked only as root in the initial PID and \
                 time namespaces"
                    .to_string(),
            )),
        }
    }
}

/// The sockets (from netlink) and who holds them (from `/proc`).
///
/// For a whole listing both run at once: the socket dump on one of the scanning threads, which joins the scan when
/// the dump is done, while the others already resolve fds, noting socket inodes until the wanted set is known (see
/// [`procfs::Wanted`]). With a port filter the list is usually tiny or empty, so the dump comes first and the scan
/// runs only when some socket was found.
///
/// With `--all-netns` the sockets are those of every network namespace ([`netns::list_sockets`]).
///
/// Fails when the socket list cannot be read, or when `PORTWARDEN_OWNERS` is bad or asks for a walk of the file
/// tables that cannot be made; the scan's own result is returned for the caller to judge.
pub(super) fn sockets_and_owners(
    query: &Query,
    netns: &mut netns::Extra,
) -> Result<(Vec<Socket>, io::Result<procfs::OwnerScan>), Error> {
    // Inode 0 would be a socket without a file (a kernel socket): no process can hold it.
    let inodes = |sockets: &[Socket]| -> procfs::InodeSet {
        sockets.iter().map(|s| s.inode).filter(|&inode| inode != 0).collect()
    };
    let source = OwnerSource::from_env()?;
    let walk = source.walk_file_tables()?;
    // In `auto`, a walk that fails is replaced by the /proc scan; asked for explicitly, it is an error: not
    // permitted when the kernel refused, else the owners could not be read.
    let fallback = |e: io::Error, wanted: procfs::InodeSet| match source {
        OwnerSource::Bpf => {
            let message = format!("cannot walk the kernel's file tables (PORTWARDEN_OWNERS=bpf): {e}");
            Err(if sys::is_permission_error(&e) { Error::NotPermitted(message) } else { Error::ProcessTable(message) })
        }
        _ => Ok(procfs::with_thread_tables(procfs::scan_owners(wanted.clone()), &wanted)),
    };
    if query.port.is_some() {
        let sockets = netns::list_sockets(query, netns)?;
        let wanted = inodes(&sockets);
        if wanted.is_empty() {
            return Ok((sockets, Ok(procfs::OwnerScan::default())));
        }
        let scan = match walk.then(|| owners_from_file_tables(&wanted)) {
            Some(Ok(scan)) => Ok(scan),
            Some(Err(e)) => fallback(e, wanted)?,
            None => procfs::with_thread_tables(procfs::scan_owners(wanted.clone()), &wanted),
        };
        return Ok((sockets, scan));
    }
    if walk {
        // The socket dump and the walk of the file tables at once. The walk hands its records over a part at a time:
        // once the dump is done, owners of the wanted sockets are described here while the walk goes on (it is
        // the longer of the two on a machine with many open files), the rest on every core when it ends. A failed
        // walk falls back to the /proc scan.
        let (parts, arrive) = std::sync::mpsc::channel();
        let dumped = std::sync::atomic::AtomicBool::new(false);
        let (sockets, wanted, early, walked) = std::thread::scope(|scope| {
            let dumped = &dumped;
            let walker = std::thread::Builder::new().spawn_scoped(scope, move || {
                let mut owners = Vec::new();
                let mut seen = rustc_hash::FxHashSet::default();
                let walked = bpf::socket_holdings_in_parts(|part| {
                    let new = part.iter().filter(|h| seen.insert((h.pid, h.start_ticks)));
                    owners.extend(new.map(|h| ((h.pid, h.start_ticks), h.uid)));
                    let _ = parts.send(part);
                });
                drop(parts);
                // A walk that ends before the dump leaves this thread idle until then: it describes the holders it
                // found meanwhile (most hold a wanted socket; the others are dropped below).
                let mut ahead = Vec::new();
                for (owner, uid) in owners {
                    if dumped.load(std::sync::atomic::Ordering::Acquire) || walked.is_err() {
                        break;
                    }
                    ahead.push((owner, procfs::describe_one(owner, Some(uid))));
                }
                walked.map(|()| ahead)
            });
            let sockets = netns::list_sockets(query, netns);
            dumped.store(true, std::sync::atomic::Ordering::Release);
            let wanted = sockets.as_deref().map(inodes).unwrap_or_default();
            let early = match &sockets {
                Ok(_) if walker.is_ok() => describe_while_walking(&arrive, &wanted),
                _ => Early::default(),
            };
            let walked = match walker {
                Ok(walker) => walker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                Err(e) => Err(e),
            };
            (sockets, wanted, early, walked)
        });
        let sockets = sockets?;
        let scan = match walked {
            Ok(ahead) => {
                let Early { holdings, mut described } = early;
                // Of what the walker described ahead, the owners of wanted sockets not described here already.
                let known: rustc_hash::FxHashSet<(u32, u64)> = described.iter().map(|(owner, _)| *owner).collect();
                let owners: rustc_hash::FxHashSet<(u32, u64)> =
                    holdings.iter().map(|&(_, pid, start, _)| (pid, start)).collect();
                described.extend(ahead.into_iter().filter(|(o, _)| owners.contains(o) && !known.contains(o)));
                Ok(describe(holdings, described, &wanted))
            }
            Err(e) => fallback(e, wanted)?,
        };
        return Ok((sockets, scan));
    }
    let wanted = procfs::Wanted::default();
    let (sockets, scan) = procfs::scan_owners_during(&wanted, || {
        let _call_off = procfs::CallOffUnlessSet(&wanted);
        let sockets = netns::list_sockets(query, netns)?;
        wanted.set(Some(inodes(&sockets)));
        Ok::<_, Error>(sockets)
    });
    let sockets = sockets?;
    // Threads with a table of their own hold what `/proc/PID/fd` does not list (the walk above sees them).
    let scan = procfs::with_thread_tables(scan, &inodes(&sockets));
    Ok((sockets, scan))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_walk_asked_for_where_it_cannot_run_is_not_permitted() {
        assert!(!OwnerSource::Procfs.walk_file_tables().unwrap());
        assert_eq!(OwnerSource::Auto.walk_file_tables().unwrap(), bpf::usable());
        match OwnerSource::Bpf.walk_file_tables() {
            Ok(walk) => assert!(walk && bpf::usable()),
            Err(Error::NotPermitted(message)) => {
                assert!(!bpf::usable() && message.starts_with("PORTWARDEN_OWNERS=bpf"))
            }
            Err(other) => panic!("{other:?}"),
        }
    }
}
