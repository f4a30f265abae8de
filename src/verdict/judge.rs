//! The verdict: should this listener be here? Judged from who holds the socket (name, executable path and its
//! state), what normally listens on that port ([`Knowledge`]) and who can reach it, with one line a person can act
//! on. Pure: the same listener and tables give the same verdict on any machine, so a snapshot from another system
//! is judged as it would be there.
//!
//! Signals, each from the owner alone and cheap: the executable's state (deleted, in a temporary or hidden
//! directory, a kernel thread's name on a program); a generic holder (a shell, netcat, a one-off interpreter);
//! the program's identity against what normally holds the port (a match is expected, a system name from the wrong
//! path or a stranger on a well-known port is not); and exposure of services that are dangerous to reach. A name
//! is chosen by the process itself, so it can make a listener *expected* only where nothing else objects: it never
//! outweighs a dangerous exposure or a suspicious executable. The IANA story (unassigned, reserved, silent record,
//! dynamic range) is the weakest signal, used only when nothing else explains an exposed listener.

use super::classify::{Exposure, Flag, FlagKind};
use super::knowledge::{dynamic_start, Class, Exposed, Knowledge};
use crate::model::{ExeState, Os, Process, Protocol};
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::sync::Arc;

/// A reason, written once into a buffer with room for the usual sentence (thousands are made per listing; growing
/// a string as it is formatted costs more than the formatting).
macro_rules! reason {
    ($($t:tt)*) => {{
        let mut s = String::with_capacity(200);
        let _ = std::fmt::Write::write_fmt(&mut s, format_args!($($t)*));
        s
    }};
}

/// Should it be listening?
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// What such a machine runs: nothing to do.
    #[default]
    Expected,
    /// Worth a look: something is unusual about the holder or its reach.
    Review,
    /// A careful admin acts now: reachable and unsafe, or the holder looks like an intruder.
    Dangerous,
}

impl Verdict {
    pub const ALL: [Verdict; 3] = [Verdict::Expected, Verdict::Review, Verdict::Dangerous];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Expected => "expected",
            Verdict::Review => "review",
            Verdict::Dangerous => "dangerous",
        }
    }

    pub fn parse(s: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A verdict with its reason and the findings behind it (none when expected).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    pub verdict: Verdict,
    pub reason: String,
    pub flags: Vec<Flag>,
}

/// The socket being judged.
struct Facts {
    port: u16,
    protocol: Protocol,
    exposure: Exposure,
}

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

impl Facts {
    fn reachable(&self) -> bool {
        matches!(self.exposure, Exposure::AllInterfaces | Exposure::Address)
    }

    /// A level that depends on reach: `exposed` beyond loopback, `local` on loopback. Inside another network
    /// namespace the listener is one step less exposed than its address says.
    fn by_reach(&self, exposed: Verdict, local: Verdict) -> Verdict {
        match self.exposure {
            Exposure::AllInterfaces | Exposure::Address => exposed,
            Exposure::Namespace if exposed == Verdict::Dangerous => Verdict::Review.max(local),
            Exposure::Namespace => local,
            Exposure::Loopback => local,
        }
    }

    fn pp(&self) -> String {
        reason!("{}/{}", self.port, self.protocol)
    }

    fn reach(&self) -> &'static str {
        match self.exposure {
            Exposure::AllInterfaces => "on all interfaces",
            Exposure::Address => "on a network address",
            Exposure::Namespace => "inside another network namespace",
            Exposure::Loopback => "on loopback",
        }
    }
}

/// One finding about one process.
struct Finding {
    verdict: Verdict,
    reason: String,
    flag: Option<FlagKind>,
}

impl Finding {
    fn new(verdict: Verdict, flag: Option<FlagKind>, reason: String) -> Finding {
        Finding { verdict, reason, flag }
    }
}

/// What is judged of a process once, whatever socket it holds: who it says it is, where its executable lives and
/// in what state. Built once per process per listing ([`Judge`] keeps them), so thousands of sockets of one process
/// cost one look at it.
struct Profile {
    class: Option<Class>,
    /// "name (pid N)", shortened.
    who: String,
    /// The executable path without " (deleted)".
    exe: Option<String>,
    /// Its executable is an interpreter or a runtime: the path does not say which program it is.
    runs_runtime: bool,
    /// The path may be relied on (not seen through another mount namespace, not unverified).
    trusted: bool,
    /// A program named like a kernel thread.
    masquerade: bool,
    /// Its executable was deleted, nothing at its path.
    deleted: bool,
    /// "a temporary directory" or "a hidden directory" when it runs from one.
    place: Option<&'static str>,
    /// A Windows system program (System32 or SysWOW64, trusted).
    windows_system: bool,
    /// Knowledge rows of its program on any port, by the names that say which program it is.
    elsewhere: Vec<u32>,
    /// Knowledge rows naming it by any of its names (runtimes too), on any port.
    rows: Vec<u32>,
    /// The command line, shortened for a reason.
    cmdline: String,
}

impl Profile {
    fn of(p: &Process, k: &Knowledge, os: Os) -> Profile {
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
            let path = super::knowledge::format::normalise_path(raw.trim_end_matches(" (deleted)")).to_lowercase();
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

/// Judges the listeners of one listing: the knowledge tables, the system they are judged for, and what was already
/// worked out about each process and port.
pub struct Judge {
    k: &'static Knowledge,
    os: Os,
    /// By the process record's address; the `Arc` keeps the record, so the address is not reused meanwhile.
    profiles: FxHashMap<*const Process, (Arc<Process>, Profile)>,
    /// By (port, protocol, true) for ports with rows of their own, else by (1 for the dynamic range or 0,
    /// protocol, false).
    ports: FxHashMap<(u16, Protocol, bool), Port>,
}

/// The knowledge rows of one port and protocol: all of them, and those that name programs.
struct Port {
    here: Vec<u32>,
    specific: Vec<u32>,
}

impl Judge {
    pub fn new(os: Os) -> Judge {
        Judge { k: Knowledge::get(), os, profiles: FxHashMap::default(), ports: FxHashMap::default() }
    }

    /// Judges one listener: its port and protocol, how far it reaches, and who holds it. `iana_flags` gives the
    /// port's IANA flags, asked for only when they are the last word.
    pub fn judge(
        &mut self,
        port: u16,
        protocol: Protocol,
        exposure: Exposure,
        processes: &[Arc<Process>],
        iana_flags: &mut dyn FnMut() -> Vec<Flag>,
    ) -> Judgement {
        let (k, os) = (self.k, self.os);
        for p in processes {
            self.profiles.entry(Arc::as_ptr(p)).or_insert_with(|| (Arc::clone(p), Profile::of(p, k, os)));
        }
        // Most ports have no row of their own: their rows are those of any port of their kind (the dynamic range
        // or not), worked out once per kind instead of once per port.
        let key =
            if k.has_own_rows(port) { (port, protocol) } else { (u16::from(port >= dynamic_start(os)), protocol) };
        let key = (key.0, key.1, k.has_own_rows(port));
        let at = self.ports.entry(key).or_insert_with(|| {
            let here = k.at_port(port, protocol, os);
            let specific = here.iter().copied().filter(|&i| !k.rows[i as usize].programs.is_empty()).collect();
            Port { here, specific }
        });
        let profiles: Vec<(&Process, &Profile)> =
            processes.iter().map(|p| (p.as_ref(), &self.profiles[&Arc::as_ptr(p)].1)).collect();
        judge(&Facts { port, protocol, exposure }, k, at, &profiles, iana_flags)
    }
}

/// Text from a process (or a snapshot) shortened for a reason: a reason is one line, not a command line's 100 kB.
fn short(s: &str) -> std::borrow::Cow<'_, str> {
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

/// Signals from the executable alone: a kernel thread's name on a program, a deleted binary, a temporary or hidden
/// directory.
fn exe_findings(f: &Facts, p: &Process, prof: &Profile, out: &mut Vec<Finding>) {
    let Some(exe) = prof.exe.as_deref().filter(|_| prof.masquerade || prof.deleted || prof.place.is_some()) else {
        return;
    };
    let (who, exe) = (&prof.who, short(exe));
    if prof.masquerade {
        out.push(Finding::new(
            Verdict::Dangerous,
            Some(FlagKind::Masquerade),
            reason!("{who} is named like a kernel thread but runs the program {exe}: kernel threads have no executable; malware hides this way"),
        ));
    }
    if prof.deleted {
        out.push(Finding::new(
            f.by_reach(Verdict::Dangerous, Verdict::Review),
            Some(FlagKind::DeletedExe),
            reason!("{who} runs {exe}: its executable was deleted and nothing is at that path; find out what it is (copy /proc/{}/exe) before it exits", p.pid),
        ));
    }
    if let Some(place) = prof.place {
        out.push(Finding::new(
            f.by_reach(Verdict::Dangerous, Verdict::Review),
            Some(FlagKind::SuspiciousPath),
            reason!(
                "{who} runs from {place} ({exe}), where installed software does not live; find out who put it there"
            ),
        ));
    }
}

/// The judgement of one process holding the socket.
fn judge_process(f: &Facts, p: &Process, prof: &Profile, k: &Knowledge, at: &Port) -> (Vec<Finding>, bool) {
    let (here, specific) = (&at.here, &at.specific);
    let mut out = Vec::new();
    exe_findings(f, p, prof, &mut out);
    let (class, who) = (prof.class, &prof.who);
    let pp = f.pp();
    let usual = || -> String {
        let mut whats: Vec<&str> = specific.iter().map(|&i| k.rows[i as usize].what.as_str()).collect();
        whats.dedup();
        whats.truncate(2);
        whats.join(" or ")
    };

    if let Some(c @ (Class::Shell | Class::Relay | Class::Lolbin)) = class {
        let what = match c {
            Class::Shell => "a shell: whoever connects may get a command line (a bind shell)",
            Class::Relay => {
                "a relay such as netcat or socat, which can hand the connection to any program, a shell included"
            }
            _ => "a system binary that is abused to run code and never serves anything",
        };
        out.push(Finding::new(
            f.by_reach(Verdict::Dangerous, Verdict::Review),
            Some(FlagKind::GenericHolder),
            reason!("{who} holds {pp} {}; it is {what}", f.reach()),
        ));
        return (out, false);
    }

    // Socket activation: the service manager holds the port for the service it starts; a proxy (docker-proxy,
    // `ssh -L`) holds it for the service it forwards to. Either is judged as what normally listens there.
    let stand_in = matches!(class, Some(Class::Activator | Class::Proxy)) || (p.pid == 1 && p.exe.is_none());
    let own: Vec<u32> = prof.rows.iter().copied().filter(|i| specific.contains(i)).collect();
    let matched: Vec<u32> = if stand_in && own.is_empty() {
        let mut by_risk = specific.to_vec();
        by_risk.sort_by_key(|&i| k.rows[i as usize].exposed);
        by_risk
    } else {
        own
    };
    let activator = stand_in;
    // A script's executable is its interpreter, and a runtime (java, node) is installed anywhere: neither path says
    // which program it is, so no path is expected of them.
    let (exe, runs_runtime, trusted) = (prof.exe.as_deref(), prof.runs_runtime, prof.trusted);
    if let Some(&first) = matched.first() {
        let checks: Vec<(u32, Option<bool>)> =
            matched.iter().map(|&i| (i, exe.and_then(|e| k.exe_matches(i, e)))).collect();
        let wrong_path =
            !activator && !runs_runtime && trusted && exe.is_some() && checks.iter().all(|(_, m)| *m == Some(false));
        // Of the rows that fit the holder (its path, or no path to check), the most cautious: each is a true
        // statement about it (the print spooler is an RPC endpoint, and one worth a look).
        let fitting: Vec<u32> = checks.iter().filter(|(_, m)| *m != Some(false)).map(|(i, _)| *i).collect();
        let row_i = if activator {
            first
        } else {
            fitting.iter().copied().max_by_key(|&i| (k.rows[i as usize].exposed, std::cmp::Reverse(i))).unwrap_or(first)
        };
        let row = &k.rows[row_i as usize];
        if wrong_path {
            let wanted = row.exe.first().map(String::as_str).unwrap_or("its usual path");
            out.push(Finding::new(
                f.by_reach(Verdict::Dangerous, Verdict::Review),
                Some(FlagKind::WrongPath),
                reason!(
                    "{who} holds {pp}, named like {}, but runs {}, not {wanted}: find out what it really is",
                    row.what,
                    short(exe.unwrap_or("?"))
                ),
            ));
            return (out, false);
        }
        let unverified = !trusted && checks.iter().any(|(_, m)| m.is_some());
        let by = if activator {
            reason!("{} for {}", short(&p.name), row.what)
        } else {
            reason!("{} ({})", row.what, short(&p.name))
        };
        let secured = row.secure_if.iter().any(|m| p.cmdline.contains(m.as_str()));
        let mut exposed = if secured { Exposed::Normal } else { row.exposed };
        // A proxy publishing a container's port beyond loopback goes around the host's firewall rules (Docker's
        // own packet filtering doc): worth a look even when the service behind it is a normal one.
        let proxy = class == Some(Class::Proxy);
        if proxy && exposed == Exposed::Normal {
            exposed = Exposed::Review;
        }
        let finding = match exposed {
            Exposed::Dangerous => Finding::new(
                f.by_reach(Verdict::Dangerous, Verdict::Expected),
                Some(FlagKind::ExposedService),
                reason!("{by} {} on {pp}: {}", f.reach(), row.risk),
            ),
            Exposed::Review if proxy && row.exposed == Exposed::Normal => Finding::new(
                f.by_reach(Verdict::Review, Verdict::Expected),
                Some(FlagKind::ExposedService),
                reason!(
                    "{by} {} on {pp}: a published port goes around the host's firewall rules; publish it on \
                     127.0.0.1 unless the network should reach it",
                    f.reach()
                ),
            ),
            Exposed::Review => Finding::new(
                f.by_reach(Verdict::Review, Verdict::Expected),
                Some(FlagKind::ExposedService),
                reason!("{by} {} on {pp}: {}", f.reach(), row.risk),
            ),
            Exposed::Normal if secured => {
                Finding::new(Verdict::Expected, None, reason!("{by} on {pp}, with authentication on its command line"))
            }
            Exposed::Normal => Finding::new(Verdict::Expected, None, reason!("{by}, as usual on {pp}")),
        };
        if unverified && finding.verdict == Verdict::Expected {
            // The name matched, the path could not be checked: expected on the name, said so.
            out.push(Finding::new(
                Verdict::Expected,
                None,
                reason!(
                    "{}; its path {} is seen through another mount namespace and could not be verified",
                    finding.reason,
                    short(exe.unwrap_or("?"))
                ),
            ));
        } else {
            out.push(finding);
        }
        return (out, false);
    }

    // A port any program may hold (multicast discovery: mDNS, SSDP, WS-Discovery).
    if let Some(shared) =
        here.iter().map(|&i| &k.rows[i as usize]).find(|r| r.programs.is_empty() && r.exposed == Exposed::Normal)
    {
        if class != Some(Class::Interpreter) {
            out.push(Finding::new(
                Verdict::Expected,
                None,
                reason!("{who} on {pp}: {}, shared by many programs", shared.what),
            ));
            return (out, false);
        }
    }
    // A stranger on a port that belongs to a known program.
    let risky_port = here.iter().any(|&i| k.rows[i as usize].programs.is_empty());
    let well_known = !specific.is_empty() && (f.port < 1024 || risky_port);
    if class == Some(Class::Interpreter) {
        let (v, flag, reason) = if well_known {
            (
                f.by_reach(Verdict::Dangerous, Verdict::Review),
                FlagKind::UnexpectedHolder,
                reason!(
                    "{who} holds {pp} {}, where {} normally listens: a script answers in its place",
                    f.reach(),
                    usual()
                ),
            )
        } else {
            (
                f.by_reach(Verdict::Review, Verdict::Expected),
                FlagKind::GenericHolder,
                reason!(
                    "{who} serves {pp} {}: a script, not an installed service ({}); check what it serves and to whom",
                    f.reach(),
                    prof.cmdline
                ),
            )
        };
        out.push(Finding::new(v, Some(flag), reason));
        return (out, false);
    }
    // Windows services register RPC endpoints on ports of the dynamic range that change every boot (msdtc, dfsr,
    // ismserv, lsass): a system binary from System32 there is one of them.
    if prof.windows_system && f.port >= super::knowledge::dynamic_start(Os::Windows) {
        out.push(Finding::new(
            Verdict::Expected,
            None,
            reason!("{who}, a Windows system program, on an RPC endpoint in the dynamic range ({pp})"),
        ));
        return (out, false);
    }
    let elsewhere = &prof.elsewhere;
    let paths: Vec<Option<bool>> = elsewhere.iter().map(|&i| exe.and_then(|e| k.exe_matches(i, e))).collect();
    if trusted && !runs_runtime && paths.iter().any(Option::is_some) && !paths.contains(&Some(true)) {
        let row = &k.rows[elsewhere[paths.iter().position(Option::is_some).unwrap_or(0)] as usize];
        let wanted = row.exe.first().map(String::as_str).unwrap_or("its usual path");
        out.push(Finding::new(
            f.by_reach(Verdict::Dangerous, Verdict::Review),
            Some(FlagKind::WrongPath),
            reason!(
                "{who} holds {pp}, named like {}, but runs {}, not {wanted}: find out what it really is",
                row.what,
                short(exe.unwrap_or("?"))
            ),
        ));
        return (out, false);
    }
    if let Some(worst) = elsewhere.iter().map(|&i| &k.rows[i as usize]).min_by_key(|r| r.exposed) {
        let finding = match worst.exposed {
            Exposed::Normal => Finding::new(
                Verdict::Expected,
                None,
                reason!("{} ({}), on {pp} instead of its usual port", worst.what, short(&p.name)),
            ),
            level => Finding::new(
                f.by_reach(
                    if level == Exposed::Dangerous { Verdict::Dangerous } else { Verdict::Review },
                    Verdict::Expected,
                ),
                Some(FlagKind::ExposedService),
                reason!("{} ({}) {} on {pp}: {}", worst.what, short(&p.name), f.reach(), worst.risk),
            ),
        };
        out.push(finding);
        return (out, false);
    }
    // Nothing known about the program: the port's own story decides.
    (out, true)
}

/// The risky-port rows (any holder) and what they say.
fn port_story(f: &Facts, k: &Knowledge, here: &[u32], holder: &str) -> Option<Finding> {
    let row = here
        .iter()
        .map(|&i| &k.rows[i as usize])
        .filter(|r| r.programs.is_empty() && r.exposed != Exposed::Normal)
        .max_by_key(|r| r.exposed)?;
    let level = if row.exposed == Exposed::Dangerous { Verdict::Dangerous } else { Verdict::Review };
    Some(Finding::new(
        f.by_reach(level, Verdict::Expected),
        Some(FlagKind::ExposedService),
        reason!("{holder} {} on {}, the port of {}: {}", f.reach(), f.pp(), row.what, row.risk),
    ))
}

/// Judges one listener held by `processes` (with their profiles); `here` are the knowledge rows of its port.
fn judge(
    f: &Facts,
    k: &Knowledge,
    at: &Port,
    processes: &[(&Process, &Profile)],
    iana_flags: &mut dyn FnMut() -> Vec<Flag>,
) -> Judgement {
    let here = &at.here;
    let mut findings: Vec<Finding> = Vec::new();
    let mut unknown_programs: Vec<&Process> = Vec::new();
    if processes.is_empty() {
        let rows = here.iter().map(|&i| &k.rows[i as usize]);
        let finding = match rows.max_by_key(|r| r.exposed) {
            Some(row) => {
                let v = match row.exposed {
                    Exposed::Normal => Verdict::Expected,
                    Exposed::Review => f.by_reach(Verdict::Review, Verdict::Expected),
                    Exposed::Dangerous => f.by_reach(Verdict::Dangerous, Verdict::Expected),
                };
                let tail = if v == Verdict::Expected { String::new() } else { reason!(": {}", row.risk) };
                Finding::new(
                    v,
                    (v != Verdict::Expected).then_some(FlagKind::ExposedService),
                    reason!(
                        "the holder could not be seen; {} usually listens on {} {}{tail}",
                        row.what,
                        f.pp(),
                        f.reach()
                    ),
                )
            }
            None => Finding::new(
                f.by_reach(Verdict::Review, Verdict::Expected),
                Some(FlagKind::OwnerUnknown),
                reason!("the holder could not be seen and nothing is known to listen on {} {}", f.pp(), f.reach()),
            ),
        };
        findings.push(finding);
    }
    for &(p, prof) in processes {
        let (mut found, unknown) = judge_process(f, p, prof, k, at);
        findings.append(&mut found);
        if unknown {
            unknown_programs.push(p);
        }
    }
    if let Some(p) = unknown_programs.first() {
        let holder = reason!("{} (pid {}), a program portwarden does not know,", short(&p.name), p.pid);
        match port_story(f, k, here, &holder) {
            Some(story) => findings.push(story),
            None if f.reachable() => findings.push(Finding::new(
                Verdict::Review,
                Some(FlagKind::UnknownProgram),
                reason!("{} (pid {}) listens {} on {}, and portwarden does not know the program: confirm it should be reachable, then allow it in a policy", short(&p.name), p.pid, f.reach(), f.pp()),
            )),
            None => findings.push(Finding::new(Verdict::Expected, None, reason!("{} (pid {}) {} on {}: only this machine can reach it", short(&p.name), p.pid, f.reach(), f.pp()))),
        }
    }
    let verdict = findings.iter().map(|x| x.verdict).max().unwrap_or_default();
    let worst = findings.iter().position(|x| x.verdict == verdict);
    if verdict == Verdict::Expected {
        let reason = worst.map(|i| findings.swap_remove(i).reason).unwrap_or_default();
        return Judgement { verdict, reason, flags: Vec::new() };
    }
    let reason = worst.map(|i| findings[i].reason.clone()).unwrap_or_default();
    let mut flags: Vec<Flag> = Vec::new();
    for x in findings.iter().filter(|x| x.verdict > Verdict::Expected) {
        if let Some(kind) = x.flag {
            if !flags.iter().any(|fl| fl.kind == kind) {
                flags.push(Flag { kind, reason: x.reason.clone() });
            }
        }
    }
    if flags.iter().any(|fl| matches!(fl.kind, FlagKind::UnknownProgram | FlagKind::OwnerUnknown)) {
        flags.extend(iana_flags());
    }
    Judgement { verdict, reason, flags }
}
