//! What the judge reads off a socket and its owner's name: reach, the port as people write it, temporary
//! directories, and names normalised (a program's, a script's).

use super::classify::Exposure;
use super::judge::Verdict;
use crate::model::Protocol;

/// The socket being judged.
pub(super) struct Facts {
    pub(super) port: u16,
    pub(super) protocol: Protocol,
    pub(super) exposure: Exposure,
}

/// Temporary directories: installed software does not run from them.
pub(super) const TEMP_DIRS: [&str; 10] = [
    "/tmp/",
    "/var/tmp/",
    "/dev/shm/",
    "/dev/",
    "/run/shm/",
    "/private/tmp/",
    "/private/var/tmp/",
    "/users/shared/",
    "c:/windows/temp/",
    "c:/users/public/",
];

impl Facts {
    pub(super) fn reachable(&self) -> bool {
        matches!(self.exposure, Exposure::AllInterfaces | Exposure::Address)
    }

    /// A level that depends on reach: `exposed` beyond loopback, `local` on loopback. Inside another network
    /// namespace the listener is one step less exposed than its address says.
    pub(super) fn by_reach(&self, exposed: Verdict, local: Verdict) -> Verdict {
        match self.exposure {
            Exposure::AllInterfaces | Exposure::Address => exposed,
            Exposure::Namespace if exposed == Verdict::Dangerous => Verdict::Review.max(local),
            Exposure::Namespace => local,
            Exposure::Loopback => local,
        }
    }

    pub(super) fn pp(&self) -> String {
        format!("{}/{}", self.port, self.protocol)
    }

    pub(super) fn reach(&self) -> &'static str {
        match self.exposure {
            Exposure::AllInterfaces => "on all interfaces",
            Exposure::Address => "on a network address",
            Exposure::Namespace => "inside another network namespace",
            Exposure::Loopback => "on loopback",
        }
    }
}

/// Text from a process (or a snapshot) shortened for a reason: a reason is one line, not a command line's 100 kB.
pub(super) fn short(s: &str) -> std::borrow::Cow<'_, str> {
    crate::text::truncate(s, 120)
}

pub(super) fn norm(name: &str) -> String {
    name.trim().trim_end_matches(".exe").trim_end_matches(".EXE").to_lowercase()
}

pub(super) fn basename(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// The script an interpreter command line runs: the first argument that is not an option (after `-m`, the
/// module; after `-jar`, the jar), its file name without the extension.
pub(super) fn script_of(cmdline: &str) -> Option<String> {
    let mut args = cmdline.split_whitespace().skip(1);
    while let Some(a) = args.next() {
        if a == "-m" || a == "-jar" {
            return args.next().map(|m| strip_ext(basename(m)));
        }
        if a.starts_with('-') {
            continue;
        }
        return Some(strip_ext(basename(a)));
    }
    None
}

fn strip_ext(name: &str) -> String {
    let lower = name.to_lowercase();
    for ext in [".py", ".js", ".mjs", ".cjs", ".ts", ".rb", ".pl", ".php", ".jar", ".exe"] {
        if let Some(stem) = lower.strip_suffix(ext) {
            return stem.to_string();
        }
    }
    lower
}
