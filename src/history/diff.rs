//! Comparing two sets of listeners: what was added and removed between two snapshots or recordings.
//!
//! Listeners are compared by what survives a reboot: protocol, address, port, dual-stack, interface, network
//! namespace and the set of owner process names. Pids and socket inodes are not compared (they change on every
//! start), so a service that restarted is the same listener; one whose owner could not be seen on one side (not
//! root) differs from the same socket with a visible owner on the other.
//!
//! The network namespace (from `--all-netns` listings) counts only when it is not the current one: by name when it
//! has one (`ip netns add`), else by inode, which is new each time a namespace is created, so a container that was
//! recreated shows as removed and added. Listeners of the current namespace compare equal whether or not the
//! listing was made with `--all-netns`.

use crate::model::Protocol;
use crate::verdict::Listener;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What a listener is compared by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub port: u16,
    pub protocol: Protocol,
    pub address: String,
    pub dual_stack: bool,
    pub interface: Option<String>,
    /// Another network namespace than the current one: its name, or its inode; `None` for the current namespace.
    pub netns: Option<String>,
    /// Owner process names, sorted, without repeats; empty when the owner could not be seen.
    pub owners: Vec<String>,
}

impl Key {
    pub fn of(l: &Listener<'_>) -> Key {
        let owners: BTreeSet<&str> = l.processes.iter().map(|p| p.name.as_str()).collect();
        Key {
            port: l.port,
            protocol: l.protocol,
            address: l.address.clone(),
            dual_stack: l.dual_stack,
            interface: l.interface.clone(),
            netns: l.netns.as_ref().filter(|n| !n.current).map(|n| n.label()),
            owners: owners.into_iter().map(str::to_string).collect(),
        }
    }
}

/// The listeners only one side has, each in port order.
#[derive(Debug, Serialize)]
pub struct Changes<'a, 'r> {
    pub added: Vec<&'a Listener<'r>>,
    pub removed: Vec<&'a Listener<'r>>,
    /// Listeners (by key) both sides have.
    pub unchanged: usize,
}

/// Compares two sets of listeners by [`Key`]. Several listeners with one key (sockets sharing a port) count once
/// on each side; every listener of an added or removed key is listed.
pub fn compare<'a, 'r>(old: &'a [Listener<'r>], new: &'a [Listener<'r>]) -> Changes<'a, 'r> {
    let group = |ls: &'a [Listener<'r>]| {
        let mut m: BTreeMap<Key, Vec<&'a Listener<'r>>> = BTreeMap::new();
        for l in ls {
            m.entry(Key::of(l)).or_default().push(l);
        }
        m
    };
    let (old, new) = (group(old), group(new));
    let only = |a: &BTreeMap<Key, Vec<&'a Listener<'r>>>, b: &BTreeMap<Key, Vec<&'a Listener<'r>>>| {
        a.iter().filter(|(k, _)| !b.contains_key(*k)).flat_map(|(_, v)| v.iter().copied()).collect::<Vec<_>>()
    };
    Changes {
        added: only(&new, &old),
        removed: only(&old, &new),
        unchanged: old.keys().filter(|k| new.contains_key(*k)).count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{OwnedSocket, Process, Socket};
    use crate::registry::Registry;

    fn owned(port: u16, pid: u32, name: &str, inode: u64) -> OwnedSocket {
        let socket = Socket {
            protocol: Protocol::Tcp,
            address: "127.0.0.1".parse().unwrap(),
            port,
            uid: Some(0),
            inode,
            v6only: None,
            interface: None,
            netns: None,
        };
        let p = Process {
            pid,
            name: name.to_string(),
            exe: None,
            exe_state: None,
            cmdline: String::new(),
            user: None,
            uid: Some(0),
            start_time: None,
            container: None,
        };
        OwnedSocket { socket, processes: vec![std::sync::Arc::new(p)] }
    }

    #[test]
    fn namespaces_compare_by_name_or_inode_and_current_is_none() {
        let reg = Registry::builtin();
        let with = |netns: Option<(u64, Option<&str>, bool)>| {
            let mut o = owned(80, 1, "nginx", 1);
            o.socket.netns = netns.map(|(inode, name, current)| crate::model::Netns {
                inode,
                name: name.map(str::to_string),
                current,
            });
            crate::verdict::listener(o, &reg, &mut |_| None)
        };
        let plain = with(None);
        let current = with(Some((4026531833, None, true)));
        assert_eq!(Key::of(&plain), Key::of(&current), "--all-netns or not, the current namespace is the same");
        let named_before = with(Some((4026532201, Some("web"), false)));
        let named_after = with(Some((4026532999, Some("web"), false)));
        assert_eq!(Key::of(&named_before), Key::of(&named_after), "a named namespace is its name, whatever its inode");
        let unnamed = with(Some((4026532201, None, false)));
        let recreated = with(Some((4026532202, None, false)));
        assert_ne!(Key::of(&unnamed), Key::of(&recreated));
        assert_ne!(Key::of(&plain), Key::of(&unnamed));
    }

    fn listeners(reg: &Registry, sockets: Vec<OwnedSocket>) -> Vec<Listener<'_>> {
        sockets.into_iter().map(|s| crate::verdict::listener(s, reg, &mut |_| None)).collect()
    }

    #[test]
    fn restarts_are_not_changes_but_new_owners_are() {
        let reg = Registry::builtin();
        let old = listeners(&reg, vec![owned(22, 100, "sshd", 1), owned(80, 200, "nginx", 2)]);
        let new = listeners(&reg, vec![owned(22, 900, "sshd", 9), owned(80, 300, "caddy", 3), owned(81, 5, "x", 4)]);
        let c = compare(&old, &new);
        assert_eq!(c.unchanged, 1, "sshd restarted with a new pid and inode: the same listener");
        let ports = |v: &[&Listener<'_>]| v.iter().map(|l| (l.port, l.processes[0].name.clone())).collect::<Vec<_>>();
        assert_eq!(ports(&c.added), [(80, "caddy".to_string()), (81, "x".to_string())]);
        assert_eq!(ports(&c.removed), [(80, "nginx".to_string())]);
        let same = compare(&old, &old);
        assert!(same.added.is_empty() && same.removed.is_empty());
        assert_eq!(same.unchanged, 2);
    }
}
