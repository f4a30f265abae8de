//! Listeners of every shape for the renderers' tests: no owner, one, several (shared records), every protocol,
//! family, exposure, range and registry status, twins, flags and none, hostile text everywhere.

use crate::model::{Inventory, OwnedSocket, Process, Protocol, Socket};
use std::net::IpAddr;
use std::sync::Arc;

fn process(pid: u32, name: &str, exe: Option<&str>, user: Option<&str>, uid: Option<u32>) -> Arc<Process> {
    Arc::new(Process {
        pid,
        name: name.to_string(),
        exe: exe.map(str::to_string),
        exe_state: None,
        cmdline: format!("{name} --flag \"quoted\" back\\slash\ttab\u{1b}[31m \u{7f} caf\u{e9} \u{2028}"),
        user: user.map(str::to_string),
        uid,
        start_time: Some(7),
        // Every other owner in a container (--all-netns), with text to escape in its id.
        container: pid
            .is_multiple_of(2)
            .then(|| crate::model::Container { runtime: "docker".into(), id: format!("{name}\"id\\") }),
    })
}

fn socket(protocol: Protocol, address: &str, port: u16, interface: Option<&str>) -> Socket {
    let address: IpAddr = address.parse().unwrap();
    Socket {
        protocol,
        address,
        port,
        uid: (!port.is_multiple_of(3)).then_some(u32::from(port) % 2),
        inode: u64::from(port) * 10 + u64::from(address.is_ipv6()),
        v6only: address.is_ipv6().then_some(port.is_multiple_of(2)),
        interface: interface.map(str::to_string),
        // Every shape of namespace label: none (no --all-netns), a named one, an unnamed one, the current one.
        netns: match port % 4 {
            0 => None,
            1 => Some(crate::model::Netns { inode: 4026532201, name: Some("n\"s\n".into()), current: false }),
            2 => Some(crate::model::Netns { inode: 4026532305, name: None, current: false }),
            _ => Some(crate::model::Netns { inode: 4026531833, name: None, current: true }),
        },
    }
}

/// Listeners of every shape: no owner, one, several (shared records), every protocol, family, exposure,
/// range and registry status, several services and rows, flags and none, hostile text everywhere.
pub fn inventory() -> Inventory {
    let nginx = process(100, "nginx", Some("/usr/sbin/nginx"), Some("root"), Some(0));
    let worker = process(101, "nginx\nworker", None, None, None);
    let odd = process(102, "\u{0}\u{1f}\"\\", Some("/tmp/\u{1}x"), Some("who\u{8}\u{c}\r"), Some(4242));
    let shared = vec![Arc::clone(&nginx), Arc::clone(&worker)];
    let sockets = vec![
        OwnedSocket { socket: socket(Protocol::Tcp, "0.0.0.0", 80, None), processes: shared.clone() },
        OwnedSocket { socket: socket(Protocol::Tcp, "::", 80, None), processes: shared },
        OwnedSocket { socket: socket(Protocol::Tcp, "::1", 3000, Some("lo")), processes: vec![odd.clone()] },
        OwnedSocket { socket: socket(Protocol::Udp, "127.0.0.1", 987, None), processes: vec![] },
        OwnedSocket { socket: socket(Protocol::Udp, "::ffff:10.1.2.3", 6010, None), processes: vec![odd] },
        OwnedSocket { socket: socket(Protocol::Tcp, "192.0.2.7", 6011, Some("e\"th0")), processes: vec![] },
        OwnedSocket { socket: socket(Protocol::Udp, "0.0.0.0", 22222, None), processes: vec![nginx.clone()] },
        OwnedSocket { socket: socket(Protocol::Tcp, "10.0.0.1", 1687, None), processes: vec![nginx.clone()] },
        OwnedSocket { socket: socket(Protocol::Tcp, "9.0.0.1", 1687, None), processes: vec![nginx.clone()] },
        OwnedSocket { socket: socket(Protocol::Udp, "::", 53000, None), processes: vec![nginx] },
        OwnedSocket { socket: socket(Protocol::Tcp, "127.0.0.1", 0, None), processes: vec![] },
        OwnedSocket { socket: socket(Protocol::Udp, "127.0.0.1", 50000, None), processes: vec![] },
        // SO_REUSEPORT twins: same protocol, address and port, told apart (and ordered) by inode.
        OwnedSocket {
            socket: Socket { inode: 9, ..socket(Protocol::Udp, "127.0.0.1", 5353, None) },
            processes: vec![],
        },
        OwnedSocket {
            socket: Socket { inode: 4, ..socket(Protocol::Udp, "127.0.0.1", 5353, None) },
            processes: vec![],
        },
        OwnedSocket { socket: socket(Protocol::Udp, "127.0.0.10", 5353, None), processes: vec![] },
    ];
    Inventory {
        os: crate::model::Os::Linux,
        sockets,
        warnings: vec!["one \"warning\"\nwith a newline".to_string(), "two".to_string()],
        owners_partly_hidden: true,
        namespaces: Some(3),
        gaps: Vec::new(),
    }
}
