//! Plain data that flows through the pipeline: sockets, their owning processes, and the query that selects them.
//!
//! Nothing here does I/O. Text that comes from processes (names, command lines, paths, user names) is kept as a
//! `String` exactly as read, except that bytes that are not valid UTF-8 are replaced by the four characters `\xNN`
//! (see [`crate::text::decode_bytes`]); control characters are kept and escaped only when rendered for a terminal.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::sync::Arc;

/// Transport protocol of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub const ALL: [Protocol; 2] = [Protocol::Tcp, Protocol::Udp];

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }

    /// Parses "tcp" or "udp" (any case).
    pub fn parse(s: &str) -> Option<Protocol> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Some(Protocol::Tcp),
            "udp" => Some(Protocol::Udp),
            _ => None,
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Address family of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Ipv6,
}

/// One listening TCP socket or bound UDP socket, as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    pub protocol: Protocol,
    /// The local address the socket is bound to. An IPv6 socket keeps its IPv6 address even when it is an
    /// IPv4-mapped one (`::ffff:a.b.c.d`); it is shown as such.
    pub address: IpAddr,
    pub port: u16,
    /// Owner uid of the socket, from the kernel (known even when the owning process is not visible).
    pub uid: Option<u32>,
    /// Socket inode (Linux), used to join sockets with the processes that hold them; 0 when unknown.
    pub inode: u64,
    /// For IPv6 sockets: `Some(true)` when IPV6_V6ONLY is set, `Some(false)` when the socket also accepts IPv4
    /// (dual-stack), `None` when unknown or not IPv6.
    pub v6only: Option<bool>,
    /// Interface the socket is bound to with SO_BINDTODEVICE, if any (Linux).
    pub interface: Option<String>,
    /// The network namespace the socket lives in: `None` when only the current namespace was listed (no
    /// `--all-netns`); with `Query::all_netns` every socket carries its namespace.
    pub netns: Option<Netns>,
}

/// A network namespace (Linux), as `--all-netns` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Netns {
    /// The namespace's inode number (`net:[INODE]` in `/proc/PID/ns/net`); new for every namespace created, so it
    /// changes when a container restarts or the machine reboots.
    pub inode: u64,
    /// Its name, when it is bound under `/run/netns` (`ip netns add NAME`).
    #[serde(default)]
    pub name: Option<String>,
    /// The namespace portwarden runs in (usually the host's): its listeners are exposed as the address says.
    #[serde(default)]
    pub current: bool,
}

impl Netns {
    /// The name, or the inode as a number: how tables, policies and `diff` refer to the namespace.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.inode.to_string())
    }
}

/// The container a process runs in, told from its cgroup (Linux).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Container {
    /// "docker", "containerd", "cri-o", "podman", "kubernetes" (a Kubernetes pod whose runtime the cgroup does not
    /// name), "systemd-nspawn" or "lxc".
    pub runtime: String,
    /// The container id (64 hex digits for docker, containerd, cri-o, podman and Kubernetes), or its name
    /// (systemd-nspawn, LXC).
    pub id: String,
}

impl Container {
    /// "runtime:id", what a policy's `container` patterns are matched against.
    pub fn full(&self) -> String {
        format!("{}:{}", self.runtime, self.id)
    }

    /// "runtime:id" with a 64-hex id cut to its first 12 digits, as `docker ps` shows it.
    pub fn short(&self) -> String {
        let id = if self.id.len() == 64 && self.id.bytes().all(|b| b.is_ascii_hexdigit()) {
            &self.id[..12]
        } else {
            self.id.as_str()
        };
        format!("{}:{id}", self.runtime)
    }
}

impl Socket {
    pub fn family(&self) -> Family {
        match self.address {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    /// True for an IPv6 wildcard socket that also receives IPv4 traffic.
    pub fn is_dual_stack(&self) -> bool {
        matches!(self.address, IpAddr::V6(a) if a.is_unspecified()) && self.v6only == Some(false)
    }
}

/// An operating system whose listeners portwarden judges (a snapshot may come from another machine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    Linux,
    Macos,
    Windows,
}

impl Os {
    /// The system this binary runs on (others are judged as Linux).
    pub fn current() -> Os {
        match std::env::consts::OS {
            "macos" => Os::Macos,
            "windows" => Os::Windows,
            _ => Os::Linux,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Os::Linux => "linux",
            Os::Macos => "macos",
            Os::Windows => "windows",
        }
    }
}

/// What is known about a process's executable path, beyond the path itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExeState {
    /// The file at the path, seen from portwarden's mount namespace, is the one the process runs (whatever the
    /// process's own mount namespace).
    Verified,
    /// The executable was deleted and nothing is at its path now.
    Deleted,
    /// The executable was deleted and another file is at its path (usually a package upgrade).
    Replaced,
    /// The process lives in another mount namespace (a container, or `unshare`): its path names a file of that
    /// namespace, which may be anything; it cannot be checked from here.
    OtherMountNamespace,
    /// The path names a file other than the one the process runs, or could not be checked.
    Unverified,
}

impl ExeState {
    pub fn as_str(self) -> &'static str {
        match self {
            ExeState::Verified => "verified",
            ExeState::Deleted => "deleted",
            ExeState::Replaced => "replaced",
            ExeState::OtherMountNamespace => "other-mount-namespace",
            ExeState::Unverified => "unverified",
        }
    }

    /// Whether the path may be relied on (a rule about it, a judgement resting on it).
    pub fn trusted(self) -> bool {
        matches!(self, ExeState::Verified | ExeState::Replaced)
    }
}

/// A process that holds a socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    pub pid: u32,
    /// Short name (on Linux the 15-byte `comm`).
    pub name: String,
    /// Executable path, when it can be read.
    pub exe: Option<String>,
    /// Whether that path could be checked (Linux); `None` when not checked (other systems, old snapshots).
    #[serde(default)]
    pub exe_state: Option<ExeState>,
    /// Command line, arguments joined by single spaces (empty for kernel threads or when unreadable).
    pub cmdline: String,
    /// Name of the process's (real) user, or the uid as a number when it has no name.
    pub user: Option<String>,
    pub uid: Option<u32>,
    /// Process start time in clock ticks since boot (Linux), to guard against PID reuse; not serialised.
    #[serde(skip)]
    pub start_time: Option<u64>,
    /// The container the process runs in, from its cgroup; only looked up with `Query::all_netns` (Linux).
    #[serde(default)]
    pub container: Option<Container>,
}

/// A socket together with every process that holds it (several for a socket shared by a master and its workers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedSocket {
    pub socket: Socket,
    /// Sorted by pid; empty when no owner could be seen. A process holding many sockets is one shared record.
    pub processes: Vec<Arc<Process>>,
}

/// A socket that started listening (TCP) or was bound to a port (UDP), or stopped, as the kernel reported it
/// (Linux, see `platform::ListenerEvents`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerChange {
    /// True when it started; false when it stopped (closed, shut down, a UDP socket connected).
    pub listening: bool,
    /// When it happened.
    pub time: std::time::SystemTime,
    /// The socket, with the process that made the change (details read from `/proc` when the event was read, or
    /// what the event carried when that process was already gone).
    pub socket: OwnedSocket,
}

/// What to enumerate. The platform layer may filter in the kernel; callers must not rely on it and filter again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Protocols wanted; empty means both.
    pub protocols: Vec<Protocol>,
    /// Only sockets on this local port.
    pub port: Option<u16>,
    /// Every network namespace in use on the machine, not only the current one, with the containers owners run
    /// in (Linux; needs root to see other users' namespaces and to enter any other namespace).
    pub all_netns: bool,
}

impl Query {
    pub fn wants(&self, protocol: Protocol) -> bool {
        self.protocols.is_empty() || self.protocols.contains(&protocol)
    }
}

/// The result of one enumeration of the machine.
#[derive(Debug, Clone)]
pub struct Inventory {
    /// The system the sockets were listed on.
    pub os: Os,
    pub sockets: Vec<OwnedSocket>,
    /// Things that went partly wrong but did not stop the run (e.g. "/proc/123/fd: permission denied" summarised);
    /// shown on stderr and in the summary.
    pub warnings: Vec<String>,
    /// True when the process table could only be partly read (not root, hidepid, other PID namespace): some
    /// sockets may have owners that we could not see.
    pub owners_partly_hidden: bool,
    /// With `Query::all_netns`: how many network namespaces were listed (the current one included); `None` when
    /// only the current namespace was asked for.
    pub namespaces: Option<usize>,
    /// Gaps in a recording read back (a recorder killed and another started on the same file): what happened
    /// between them is missing, each said with its file and line. Empty for a live listing and a snapshot.
    pub gaps: Vec<String>,
}

impl Default for Inventory {
    fn default() -> Self {
        Inventory {
            os: Os::current(),
            sockets: Vec::new(),
            warnings: Vec::new(),
            owners_partly_hidden: false,
            namespaces: None,
            gaps: Vec::new(),
        }
    }
}
