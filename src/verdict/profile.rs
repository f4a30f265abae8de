//! What is judged of a process once, whatever socket it holds: the names it goes by, its class, where its
//! executable lives and in what state. A [`super::judge::Judge`] keeps one per process of a listing.

use super::knowledge::{format::normalise_path, Class, Knowledge};
use crate::model::{ExeState, Os, Process};

/// Temporary directories: installed software does not run from them.
const TEMP_DIRS: [&str; 10] = [
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

/// What is judged of a process once, whatever socket it holds: who it says it is, where its executable lives and
/// in what state. Built once per process per listing ([`Judge`] keeps them), so thousands of sockets of one process
/// cost one look at it.
pub(super) struct Profile {
    pub(super) class: Option<Class>,
    /// "name (pid N)", shortened.
    pub(super) who: String,
    /// The executable path without " (deleted)".
    pub(super) exe: Option<String>,
    /// Its executable is an interpreter or a runtime: the path does not say which program it is.
    pub(super) runs_runtime: bool,
    /// The path may be relied on (not seen through another mount namespace, not unverified).
    pub(super) trusted: bool,
    /// A program named like a kernel thread.
    pub(super) masquerade: bool,
    /// Its executable was deleted, nothing at its path.
    pub(super) deleted: bool,
    /// "a temporary directory" or "a hidden directory" when it runs from one.
    pub(super) place: Option<&'static str>,
    /// A Windows system program (System32 or SysWOW64, trusted).
    pub(super) windows_system: bool,
    /// Knowledge rows of its program on any port, by the names that say which program it is.
    pub(super) elsewhere: Vec<u32>,
    /// Knowledge rows naming it by any of its names (runtimes too), on any port.
    pub(super) rows: Vec<u32>,
    /// The command line, shortened for a reason.
    pub(super) cmdline: String,
}

impl Profile {
    pub(super) fn of(p: &Process, k: &Knowledge, os: Os) -> Profile {
        let mut names = vec![norm(&p.name)];
        let exe = p.exe.as_deref().filter(|e| !e.is_empty()).map(|e| e.trim_end_matches(" (deleted)").to_string());
        if let Some(exe) = &exe {
            let base = norm(basename(exe));
            if !base.is_empty() && !names.contains(&base) {
                names.push(base);
            }
        }
        let is_runtime = |n: &str| matches!(k.class(n), Some(Class::Interpreter | Class::Runtime));
        if names.iter().any(|n| is_runtime(n)) {
            if let Some(script) = script_of(&p.cmdline) {
                if !names.contains(&script) {
                    names.push(script);
                }
            }
        }
        let class = names.iter().find_map(|n| k.class(n));
        let runs_runtime = exe.as_deref().is_some_and(|e| is_runtime(&norm(basename(e))));
        let trusted = p.exe_state.is_none_or(ExeState::trusted);
        let (mut masquerade, mut deleted, mut place, mut windows_system) = (false, false, None, false);
        if let Some(raw) = p.exe.as_deref().filter(|e| !e.is_empty()) {
            masquerade = k.kernel_thread_like(&names[0]);
            deleted = p.exe_state == Some(ExeState::Deleted) || (raw.ends_with(" (deleted)") && p.exe_state.is_none());
            let path = normalise_path(raw.trim_end_matches(" (deleted)")).to_lowercase();
            let temp = TEMP_DIRS.iter().any(|t| path.starts_with(t)) || path.contains("/appdata/local/temp/");
            let dirs: Vec<&str> = path.split('/').collect();
            let hidden = dirs[..dirs.len().saturating_sub(1)]
                .iter()
                .any(|d| d.len() > 1 && d.starts_with('.') && *d != ".." && !k.is_tool_dir(d));
            place = if temp {
                Some("a temporary directory")
            } else if hidden {
                Some("a hidden directory")
            } else {
                None
            };
            windows_system = os == Os::Windows
                && trusted
                && (path.starts_with("c:/windows/system32/") || path.starts_with("c:/windows/syswow64/"));
        }
        let elsewhere = names.iter().filter(|n| !is_runtime(n)).flat_map(|n| k.of_program(n, os)).collect();
        let mut rows: Vec<u32> = names.iter().flat_map(|n| k.of_program(n, os)).collect();
        rows.sort_unstable();
        rows.dedup();
        Profile {
            who: reason!("{} (pid {})", short(&p.name), p.pid),
            class,
            exe,
            runs_runtime,
            trusted,
            masquerade,
            deleted,
            place,
            windows_system,
            elsewhere,
            rows,
            cmdline: short(&p.cmdline).into_owned(),
        }
    }
}

/// Text from a process (or a snapshot) shortened for a reason: a reason is one line, not a command line's 100 kB.
pub(super) fn short(s: &str) -> std::borrow::Cow<'_, str> {
    crate::text::truncate(s, 120)
}

fn norm(name: &str) -> String {
    name.trim().trim_end_matches(".exe").trim_end_matches(".EXE").to_lowercase()
}

fn basename(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// The script an interpreter command line runs: the first argument that is not an option (after `-m`, the
/// module; after `-jar`, the jar), its file name without the extension.
fn script_of(cmdline: &str) -> Option<String> {
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
