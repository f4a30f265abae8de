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
use super::knowledge::{dynamic_start, Class, Exposed, Knowledge, ListenerRow};
use super::profile::{short, Profile};
use crate::model::{Os, Process, Protocol};
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::sync::Arc;

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
    /// Shared: listeners judged alike (one process on many ports) share one reason.
    pub reason: Arc<str>,
    pub flags: Vec<Flag>,
}

/// The socket being judged.
struct Facts {
    port: u16,
    exposure: Exposure,
}

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
    /// Judgements of single-holder listeners that did not rest on the port's own IANA story: the same process on
    /// ports of the same kind, reached the same way, is judged the same (reasons do not name the port).
    judged: FxHashMap<JudgementKey, Judgement>,
}

/// The process record, the kind of port, the exposure, and the two port thresholds the judge looks at.
type JudgementKey = (usize, (u16, Protocol, bool), Exposure, bool, bool);

/// The knowledge rows of one port and protocol: all of them, and those that name programs.
struct Port {
    here: Vec<u32>,
    specific: Vec<u32>,
}

impl Judge {
    pub fn new(os: Os) -> Judge {
        Judge {
            k: Knowledge::get(),
            os,
            profiles: FxHashMap::default(),
            ports: FxHashMap::default(),
            judged: FxHashMap::default(),
        }
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
        let own = k.has_own_rows(port);
        let port_key =
            if own { (port, protocol, true) } else { (u16::from(port >= dynamic_start(os)), protocol, false) };
        let key = match processes {
            [one] => {
                Some((Arc::as_ptr(one) as usize, port_key, exposure, port < 1024, port >= dynamic_start(Os::Windows)))
            }
            _ => None,
        };
        if let Some(j) = key.and_then(|key| self.judged.get(&key)) {
            return j.clone();
        }
        for p in processes {
            self.profiles.entry(Arc::as_ptr(p)).or_insert_with(|| (Arc::clone(p), Profile::of(p, k, os)));
        }
        let at = self.ports.entry(port_key).or_insert_with(|| {
            let here = k.at_port(port, protocol, os);
            let specific = here.iter().copied().filter(|&i| !k.rows[i as usize].programs.is_empty()).collect();
            Port { here, specific }
        });
        let profiles: Vec<(&Process, &Profile)> =
            processes.iter().map(|p| (p.as_ref(), &self.profiles[&Arc::as_ptr(p)].1)).collect();
        let mut asked_iana = false;
        let judgement = judge(&Facts { port, exposure }, k, at, &profiles, &mut || {
            asked_iana = true;
            iana_flags()
        });
        if let Some(key) = key.filter(|_| !asked_iana) {
            self.judged.insert(key, judgement.clone());
        }
        judgement
    }
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

/// A program named like the one `row` describes, run from another path than that program's.
fn wrong_path_finding(f: &Facts, who: &str, row: &ListenerRow, exe: Option<&str>) -> Finding {
    let wanted = row.exe.first().map(String::as_str).unwrap_or("its usual path");
    Finding::new(
        f.by_reach(Verdict::Dangerous, Verdict::Review),
        Some(FlagKind::WrongPath),
        reason!(
            "{who}, named like {}, runs {}, not {wanted}: find out what it really is",
            row.what,
            short(exe.unwrap_or("?"))
        ),
    )
}

/// The judgement of one process holding the socket.
fn judge_process(f: &Facts, p: &Process, prof: &Profile, k: &Knowledge, at: &Port) -> (Vec<Finding>, bool) {
    let (here, specific) = (&at.here, &at.specific);
    let mut out = Vec::new();
    exe_findings(f, p, prof, &mut out);
    let (class, who) = (prof.class, &prof.who);
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
            reason!("{who} holds this port {}; it is {what}", f.reach()),
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
            out.push(wrong_path_finding(f, who, row, exe));
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
                reason!("{by} {}: {}", f.reach(), row.risk),
            ),
            Exposed::Review if proxy && row.exposed == Exposed::Normal => Finding::new(
                f.by_reach(Verdict::Review, Verdict::Expected),
                Some(FlagKind::ExposedService),
                reason!(
                    "{by} {}: a published port goes around the host's firewall rules; publish it on \
                     127.0.0.1 unless the network should reach it",
                    f.reach()
                ),
            ),
            Exposed::Review => Finding::new(
                f.by_reach(Verdict::Review, Verdict::Expected),
                Some(FlagKind::ExposedService),
                reason!("{by} {}: {}", f.reach(), row.risk),
            ),
            Exposed::Normal if secured => {
                Finding::new(Verdict::Expected, None, reason!("{by}, with authentication on its command line"))
            }
            Exposed::Normal => Finding::new(Verdict::Expected, None, reason!("{by}, as usual on this port")),
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
                reason!("{who}: {}, a port shared by many programs", shared.what),
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
                    "{who} holds this port {}, where {} normally listens: a script answers in its place",
                    f.reach(),
                    usual()
                ),
            )
        } else {
            (
                f.by_reach(Verdict::Review, Verdict::Expected),
                FlagKind::GenericHolder,
                reason!(
                    "{who} serves {}: a script, not an installed service ({}); check what it serves and to whom",
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
            reason!("{who}, a Windows system program, on an RPC endpoint in the dynamic range"),
        ));
        return (out, false);
    }
    let elsewhere = &prof.elsewhere;
    let paths: Vec<Option<bool>> = elsewhere.iter().map(|&i| exe.and_then(|e| k.exe_matches(i, e))).collect();
    if trusted && !runs_runtime && paths.iter().any(Option::is_some) && !paths.contains(&Some(true)) {
        let row = &k.rows[elsewhere[paths.iter().position(Option::is_some).unwrap_or(0)] as usize];
        out.push(wrong_path_finding(f, who, row, exe));
        return (out, false);
    }
    if let Some(worst) = elsewhere.iter().map(|&i| &k.rows[i as usize]).min_by_key(|r| r.exposed) {
        let finding = match worst.exposed {
            Exposed::Normal => Finding::new(
                Verdict::Expected,
                None,
                if prof.exe.is_some() && !prof.trusted {
                    reason!(
                        "{} ({}), on another port than its usual ones; its path {} could not be verified",
                        worst.what,
                        short(&p.name),
                        short(prof.exe.as_deref().unwrap_or("?"))
                    )
                } else {
                    reason!("{} ({}), on another port than its usual ones", worst.what, short(&p.name))
                },
            ),
            level => Finding::new(
                f.by_reach(
                    if level == Exposed::Dangerous { Verdict::Dangerous } else { Verdict::Review },
                    Verdict::Expected,
                ),
                Some(FlagKind::ExposedService),
                reason!("{} ({}) {}: {}", worst.what, short(&p.name), f.reach(), worst.risk),
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
        reason!("{holder} {}, on the port of {}: {}", f.reach(), row.what, row.risk),
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
                    reason!("the holder could not be seen; {} usually listens here; {}{tail}", row.what, f.reach()),
                )
            }
            None => Finding::new(
                f.by_reach(Verdict::Review, Verdict::Expected),
                Some(FlagKind::OwnerUnknown),
                reason!("the holder could not be seen and nothing is known to listen on this port, {}", f.reach()),
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
                reason!("{} (pid {}) listens {}, and portwarden does not know the program: confirm it should be reachable, then allow it in a policy", short(&p.name), p.pid, f.reach()),
            )),
            None => findings.push(Finding::new(Verdict::Expected, None, reason!("{} (pid {}) listens {}: only this machine can reach it", short(&p.name), p.pid, f.reach()))),
        }
    }
    let verdict = findings.iter().map(|x| x.verdict).max().unwrap_or_default();
    let worst = findings.iter().position(|x| x.verdict == verdict);
    if verdict == Verdict::Expected {
        let reason = worst.map(|i| findings.swap_remove(i).reason).unwrap_or_default();
        return Judgement { verdict, reason: reason.into(), flags: Vec::new() };
    }
    let reason: Arc<str> = worst.map(|i| findings[i].reason.as_str()).unwrap_or_default().into();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ExeState;

    fn process(pid: u32, name: &str, exe: Option<&str>, state: Option<ExeState>, cmdline: &str) -> Arc<Process> {
        Arc::new(Process {
            pid,
            name: name.to_string(),
            exe: exe.map(str::to_string),
            exe_state: state,
            cmdline: cmdline.to_string(),
            user: Some("root".to_string()),
            uid: Some(0),
            start_time: None,
            container: None,
        })
    }

    /// The verdict, its first flag kind and its reason, for one holder (or none) of `port`/`protocol`.
    fn judged(os: Os, port: u16, protocol: Protocol, exposure: Exposure, owners: &[Arc<Process>]) -> Judgement {
        Judge::new(os).judge(port, protocol, exposure, owners, &mut || {
            vec![Flag { kind: FlagKind::Unassigned, reason: "IANA says nothing".into() }]
        })
    }

    fn kinds(j: &Judgement) -> Vec<FlagKind> {
        j.flags.iter().map(|f| f.kind).collect()
    }

    const ALL: Exposure = Exposure::AllInterfaces;
    const LO: Exposure = Exposure::Loopback;
    const V: Option<ExeState> = Some(ExeState::Verified);

    #[test]
    fn the_usual_holder_is_expected_and_silent() {
        let sshd = process(10, "sshd", Some("/usr/sbin/sshd"), V, "sshd: /usr/sbin/sshd -D");
        let j = judged(Os::Linux, 22, Protocol::Tcp, ALL, &[sshd]);
        assert_eq!((j.verdict, j.flags.len()), (Verdict::Expected, 0), "{}", j.reason);
        assert!(j.reason.contains("OpenSSH"), "{}", j.reason);
    }

    #[test]
    fn a_known_name_from_the_wrong_place_is_not() {
        let fake = process(11, "sshd", Some("/usr/local/games/sshd"), V, "sshd");
        let j = judged(Os::Linux, 22, Protocol::Tcp, ALL, &[fake]);
        assert_eq!((j.verdict, kinds(&j)[0]), (Verdict::Dangerous, FlagKind::WrongPath), "{}", j.reason);
        // The same path seen through another mount namespace cannot be checked: the name alone decides, and says
        // so; a name never makes an unsafe exposure expected.
        let boxed = process(12, "sshd", Some("/usr/local/games/sshd"), Some(ExeState::OtherMountNamespace), "sshd");
        let j = judged(Os::Linux, 22, Protocol::Tcp, ALL, &[boxed]);
        assert_eq!(j.verdict, Verdict::Expected, "{}", j.reason);
        assert!(j.reason.contains("could not be verified"), "{}", j.reason);
        let redis = process(13, "redis-server", Some("/tmp/r"), Some(ExeState::OtherMountNamespace), "redis-server");
        assert_eq!(judged(Os::Linux, 6379, Protocol::Tcp, ALL, &[redis]).verdict, Verdict::Dangerous);
    }

    #[test]
    fn generic_holders_and_strangers_on_well_known_ports() {
        let bash = process(20, "bash", Some("/usr/bin/bash"), V, "bash -i");
        let j = judged(Os::Linux, 4444, Protocol::Tcp, ALL, std::slice::from_ref(&bash));
        assert_eq!((j.verdict, kinds(&j)[0]), (Verdict::Dangerous, FlagKind::GenericHolder), "{}", j.reason);
        assert_eq!(judged(Os::Linux, 4444, Protocol::Tcp, LO, &[bash]).verdict, Verdict::Review);
        let py = process(21, "python3", Some("/usr/bin/python3.11"), V, "python3 -c import socket");
        let j = judged(Os::Linux, 22, Protocol::Tcp, ALL, std::slice::from_ref(&py));
        assert_eq!((j.verdict, kinds(&j)[0]), (Verdict::Dangerous, FlagKind::UnexpectedHolder), "{}", j.reason);
        // A script serving a port nothing owns: worth a look beyond loopback, quiet on it.
        assert_eq!(judged(Os::Linux, 8765, Protocol::Tcp, ALL, std::slice::from_ref(&py)).verdict, Verdict::Review);
        assert_eq!(judged(Os::Linux, 8765, Protocol::Tcp, LO, &[py]).verdict, Verdict::Expected);
    }

    #[test]
    fn executables_that_hide() {
        let gone = process(30, "updater", Some("/opt/u/updater (deleted)"), None, "updater");
        let j = judged(Os::Linux, 9999, Protocol::Tcp, ALL, &[gone]);
        assert_eq!((j.verdict, kinds(&j)[0]), (Verdict::Dangerous, FlagKind::DeletedExe), "{}", j.reason);
        let kworker = process(31, "kworker/0:2", Some("/var/tmp/.cache/kw"), V, "kw");
        let j = judged(Os::Linux, 31337, Protocol::Tcp, LO, &[kworker]);
        assert_eq!(j.verdict, Verdict::Dangerous, "a kernel thread's name on a program, even on loopback");
        assert!(kinds(&j).contains(&FlagKind::Masquerade) && kinds(&j).contains(&FlagKind::SuspiciousPath));
        // A developer tool's hidden home is not hiding.
        let cargo = process(32, "trunk", Some("/home/a/.cargo/bin/trunk"), V, "trunk serve");
        assert_eq!(judged(Os::Linux, 8080, Protocol::Tcp, LO, &[cargo]).verdict, Verdict::Expected);
    }

    #[test]
    fn exposure_of_services_without_authentication() {
        let redis = process(40, "redis-server", Some("/usr/bin/redis-server"), V, "redis-server *:6379");
        assert_eq!(judged(Os::Linux, 6379, Protocol::Tcp, LO, std::slice::from_ref(&redis)).verdict, Verdict::Expected);
        let j = judged(Os::Linux, 6379, Protocol::Tcp, ALL, &[redis]);
        assert_eq!((j.verdict, kinds(&j)[0]), (Verdict::Dangerous, FlagKind::ExposedService), "{}", j.reason);
        let locked = process(41, "redis-server", Some("/usr/bin/redis-server"), V, "redis-server --requirepass x");
        assert_eq!(judged(Os::Linux, 6379, Protocol::Tcp, ALL, &[locked]).verdict, Verdict::Expected);
        // Inside a container's namespace the same socket is one step less exposed.
        let boxed = process(42, "redis-server", Some("/usr/bin/redis-server"), V, "redis-server");
        assert_eq!(judged(Os::Linux, 6379, Protocol::Tcp, Exposure::Namespace, &[boxed]).verdict, Verdict::Review);
    }

    #[test]
    fn stand_ins_and_unseen_holders_are_judged_by_the_port() {
        let init = process(1, "systemd", None, None, "");
        assert_eq!(judged(Os::Linux, 22, Protocol::Tcp, ALL, std::slice::from_ref(&init)).verdict, Verdict::Expected);
        assert_eq!(judged(Os::Linux, 6379, Protocol::Tcp, ALL, &[init]).verdict, Verdict::Dangerous);
        let proxy = process(50, "docker-proxy", Some("/usr/bin/docker-proxy"), V, "docker-proxy -host-port 5432");
        let j = judged(Os::Linux, 5432, Protocol::Tcp, ALL, &[proxy]);
        assert_eq!(j.verdict, Verdict::Review, "a published port goes around the firewall: {}", j.reason);
        let j = judged(Os::Linux, 6379, Protocol::Tcp, ALL, &[]);
        assert_eq!(j.verdict, Verdict::Dangerous, "{}", j.reason);
        assert!(j.reason.contains("could not be seen"), "{}", j.reason);
        // Nothing known on the port: the IANA story is the last word, beyond loopback only.
        let j = judged(Os::Linux, 2024, Protocol::Tcp, ALL, &[]);
        assert_eq!(kinds(&j), [FlagKind::OwnerUnknown, FlagKind::Unassigned], "{}", j.reason);
        assert_eq!(judged(Os::Linux, 2024, Protocol::Tcp, LO, &[]).verdict, Verdict::Expected);
    }

    #[test]
    fn other_systems_are_judged_by_their_own_rows() {
        let sys = "C:\\Windows\\System32\\";
        let lsass = process(60, "lsass.exe", Some(&format!("{sys}lsass.exe")), None, "lsass.exe");
        assert_eq!(judged(Os::Windows, 49664, Protocol::Tcp, ALL, &[lsass]).verdict, Verdict::Expected);
        let fake = process(61, "svchost.exe", Some("C:\\Users\\Public\\svchost.exe"), None, "svchost.exe");
        let j = judged(Os::Windows, 135, Protocol::Tcp, ALL, &[fake]);
        assert_eq!(j.verdict, Verdict::Dangerous, "{}", j.reason);
        let airplay = "/System/Library/CoreServices/ControlCenter.app/Contents/MacOS/ControlCenter";
        let cc = process(62, "ControlCenter", Some(airplay), None, airplay);
        assert_eq!(judged(Os::Macos, 7000, Protocol::Tcp, ALL, &[cc]).verdict, Verdict::Expected);
    }
}
