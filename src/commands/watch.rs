//! `watch`: print the listeners that appear and disappear, and append every event to a recording (one complete JSON
//! line per write, see [`portwarden::history`]) until Ctrl-C, SIGTERM or SIGHUP.
//!
//! Two ways to see them, and the `started` event and stderr say which runs and why:
//! * Kernel events (Linux, as root, where the BPF programs load: [`platform::ListenerEvents`]): every TCP socket
//!   that starts or stops listening and every UDP socket bound or closed is reported as it happens, with the
//!   process that did it, however short it lives. A full scan every `--reconcile` (and whenever the kernel's event
//!   buffer overflowed) catches what events cannot say: owners that change (a fork, a descriptor passed on), UDP
//!   sockets bound by sendto() or connected after bind().
//! * Polling, anywhere else or with `--poll`: a scan every `--interval`. A listener that lives shorter than the
//!   interval can fall between two scans and be missed. One that lives at least one interval (plus the time a
//!   scan takes) is always seen.
//!
//! Failure is loud: when the sockets can no longer be listed (three tries), `watch` writes a `stopped` event with
//! the error, which makes the recording unreadable by `check --from`, and exits 2; a recording that silently missed
//! scans would pass a CI check it should not.

use super::{Context, Outcome, Output};
use crate::cli::{WatchArgs, WatchFormat};
use anyhow::Context as _;
use portwarden::history::{self, Event, EventKind, Identity, Recording};
use portwarden::model::ListenerChange;
use portwarden::render::events::describe;
use portwarden::render::table::plural;
use portwarden::render::Painter;
use portwarden::text::escape;
use portwarden::verdict::{self, Listener};
use portwarden::{platform, Query, Registry};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Tries per scan before `watch` gives up on listing the sockets.
const TRIES: u32 = 3;
/// Pause between those tries.
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// How long events may wait in the recording before it is flushed to disk. Each is written (and so safe from the
/// watcher being killed) at once; flushing each as it comes would cost more than a burst of events gives time for.
const SYNC_DELAY: Duration = Duration::from_millis(200);

/// What the main loop is told: a signal to stop, or listener changes from the kernel (with how many were lost).
enum Message {
    Stop,
    Changes(Vec<ListenerChange>, u64),
    EventsFailed(std::io::Error),
}

/// Runs `watch`.
pub fn run(args: &WatchArgs, cx: &mut Context<'_>) -> anyhow::Result<Outcome> {
    let (io, painter) = (&mut cx.io, cx.painter);
    let registry = cx.data.registry()?;
    let recording = args.record.as_deref().map(Recording::open).transpose()?;
    let (tx, messages) = mpsc::channel();
    let signals = tx.clone();
    ctrlc::set_handler(move || {
        let _ = signals.send(Message::Stop);
    })
    .context("cannot catch Ctrl-C and SIGTERM")?;

    let query = Query { all_netns: args.all_netns, ..Query::default() };
    // Events start before the first scan, so that nothing between the two is missed.
    let events = if args.poll { Err("--poll was given".to_string()) } else { platform::ListenerEvents::open(&query) };
    let (mode, reader) = match events {
        Ok(events) => (Ok(()), Some(EventReader::start(events, tx))),
        Err(why) => (Err(why), None),
    };
    let interval = if reader.is_some() { args.reconcile } else { args.interval };

    let mut w = Watcher {
        registry,
        query,
        user_names: Box::new(cx.data.user_names()),
        live: BTreeMap::new(),
        by_inode: HashMap::new(),
        pending: HashMap::new(),
        recording,
        format: args.format,
        painter,
        scans: 0,
        appeared: 0,
        disappeared: 0,
        warned: HashSet::new(),
        stdout_closed: false,
        unsynced: None,
    };
    w.emit(&Event::started(&history::now(), interval, mode.clone()), io)?;

    let mut outcome = w.scan(io, false);
    if outcome.is_ok() {
        let record = match &w.recording {
            Some(r) => format!("; recording to {}", escape(&r.path.display().to_string())),
            None => String::new(),
        };
        let how = match &mode {
            Ok(()) => format!(
                "from kernel events (every listener, however short-lived), reconciling every {}",
                humantime::format_duration(interval)
            ),
            Err(why) => format!(
                "polling every {} (kernel events unavailable: {}; a listener living shorter can be missed)",
                humantime::format_duration(interval),
                escape(why)
            ),
        };
        let _ = writeln!(
            io.err,
            "portwarden: watching {}, {how}{record}; Ctrl-C to stop",
            plural(w.live.len(), "listener")
        );
    }
    let mut last_scan = Instant::now();
    let reason = loop {
        match outcome {
            Err(e) => break Stop::Failed(e),
            Ok(()) if w.stdout_closed => break Stop::OutputClosed,
            Ok(()) => {}
        }
        let scan_at = last_scan + interval;
        let wake_at = w.unsynced.map_or(scan_at, |since| scan_at.min(since + SYNC_DELAY));
        outcome = match messages.recv_timeout(wake_at.saturating_duration_since(Instant::now())) {
            Err(RecvTimeoutError::Timeout) if Instant::now() < scan_at => w.sync_recording(),
            Err(RecvTimeoutError::Timeout) => {
                last_scan = Instant::now();
                w.scan(io, false)
            }
            Ok(Message::Changes(changes, lost)) => w.apply(changes, io).and_then(|()| {
                if lost == 0 {
                    return Ok(());
                }
                w.warn_once(io, "the kernel's event buffer overflowed: listing the machine to catch up (said once)");
                last_scan = Instant::now();
                w.scan(io, false)
            }),
            Ok(Message::EventsFailed(e)) => {
                Err(anyhow::Error::new(e).context("cannot read the kernel's listener events"))
            }
            // A signal: the events already sent, then one last scan, so listeners still there at the end are seen
            // even when they came up after the previous scan.
            Ok(Message::Stop) | Err(RecvTimeoutError::Disconnected) => {
                let last = match &reader {
                    Some(r) => r.finish(&messages).and_then(|changes| w.apply(changes, io)),
                    None => Ok(()),
                };
                match last.and_then(|()| w.scan(io, true)) {
                    Ok(()) => break Stop::Signal,
                    Err(e) => break Stop::Failed(e),
                }
            }
        };
    };
    w.finish(reason, io)
}

/// The thread that reads the kernel's listener events as they come and hands them to the main loop, so that the
/// owner of each is read from `/proc` at once, while a scan or a slow write may hold the main loop.
struct EventReader {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

/// How long the reader waits for events before it looks whether it should stop.
const READER_WAKE: Duration = Duration::from_millis(250);

impl EventReader {
    fn start(mut events: platform::ListenerEvents, to: mpsc::Sender<Message>) -> EventReader {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || loop {
            let last = stopping.load(Ordering::Acquire);
            let mut changes = Vec::new();
            let message = match events.wait(Some(READER_WAKE)).and_then(|()| events.read(&mut changes)) {
                Ok(lost) if changes.is_empty() && lost == 0 => None,
                Ok(lost) => Some(Message::Changes(changes, lost)),
                Err(e) => Some(Message::EventsFailed(e)),
            };
            let failed = matches!(message, Some(Message::EventsFailed(_)));
            if let Some(m) = message {
                if to.send(m).is_err() {
                    return;
                }
            }
            if last || failed {
                return;
            }
        });
        EventReader { stop, thread }
    }

    /// Stops the reader after one last read, and returns every change it sent that the main loop has not taken.
    fn finish(&self, messages: &mpsc::Receiver<Message>) -> anyhow::Result<Vec<ListenerChange>> {
        self.stop.store(true, Ordering::Release);
        let deadline = Instant::now() + READER_WAKE * 4;
        let mut all = Vec::new();
        while !self.thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        while let Ok(m) = messages.try_recv() {
            match m {
                Message::Changes(changes, _) => all.extend(changes),
                Message::EventsFailed(e) => {
                    return Err(anyhow::Error::new(e).context("cannot read the kernel's listener events"))
                }
                Message::Stop => {}
            }
        }
        Ok(all)
    }
}

/// A socket as the kernel knows it, whoever holds it: protocol, address, port and inode.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SocketKey {
    protocol: portwarden::Protocol,
    address: String,
    port: u16,
    inode: u64,
}

impl SocketKey {
    fn of(id: &Identity) -> SocketKey {
        SocketKey { protocol: id.protocol, address: id.address.clone(), port: id.port, inode: id.inode }
    }
}

/// The identities of `live` listeners by their socket (one listener per socket in a scan).
fn by_socket<'a>(live: &'a BTreeMap<Identity, Listener<'_>>) -> HashMap<SocketKey, &'a Identity> {
    live.keys().map(|k| (SocketKey::of(k), k)).collect()
}

/// A new socket seen without owner, held back for one scan.
struct Pending<'r> {
    time: String,
    initial: bool,
    listener: Listener<'r>,
}

/// Held-back sockets in the order of their identities, so that recordings do not depend on hash order.
fn in_order<'r>(pending: impl Iterator<Item = Pending<'r>>) -> Vec<Pending<'r>> {
    let mut pending: Vec<Pending<'r>> = pending.collect();
    pending.sort_by_cached_key(|p| Identity::of(&p.listener));
    pending
}

/// Why the loop ended.
enum Stop {
    Signal,
    OutputClosed,
    Failed(anyhow::Error),
}

struct Watcher<'r> {
    registry: &'r Registry,
    /// What each scan lists.
    query: Query,
    user_names: Box<dyn FnMut(u32) -> Option<String> + 'r>,
    /// The listeners of the last scan, and those events reported since.
    live: BTreeMap<Identity, Listener<'r>>,
    /// The identities of `live` by socket inode, for events (a socket's address may change, its inode not).
    by_inode: HashMap<u64, Identity>,
    /// New sockets the last scan saw without an owner, not recorded yet: when the time and `initial` flag of that
    /// scan. See [`Watcher::scan`].
    pending: HashMap<SocketKey, Pending<'r>>,
    recording: Option<Recording>,
    format: WatchFormat,
    painter: Painter,
    scans: u64,
    appeared: u64,
    disappeared: u64,
    /// Warnings already shown (each once, not every scan).
    warned: HashSet<String>,
    /// Stdout was closed (`watch | head`): stop after this scan, keeping the recording whole.
    stdout_closed: bool,
    /// Since when events written to the recording wait to be flushed to disk (see [`SYNC_DELAY`]).
    unsynced: Option<Instant>,
}

impl<'r> Watcher<'r> {
    /// One scan: list the sockets, emit the differences with the previous scan. Errors are failures to list the
    /// sockets or to write the recording; a closed stdout only sets `stdout_closed`.
    ///
    /// A socket opened while a scan runs can be listed before its owner's open files are read, so it shows no owner
    /// in that scan only. A new socket without an owner is therefore not recorded at once: the machine is listed
    /// again right away, and a socket still without owner is held back until the next scan (or the `last` one), and
    /// recorded ownerless, with the time it was first seen, only if that scan cannot see its owner either. One that
    /// is gone by then is recorded as having appeared and disappeared.
    fn scan(&mut self, io: &mut Output<'_>, last: bool) -> anyhow::Result<()> {
        let mut inventory = self.enumerate(io)?;
        if self.has_new_unowned(&inventory) {
            inventory = self.enumerate(io)?;
        }
        let time = history::now();
        let initial = self.scans == 0;
        self.scans += 1;
        let report =
            verdict::build(inventory, self.registry, &mut *self.user_names, &|_| true, platform::hidden_owner_hint());
        if report.summary.owner_unknown > 0 {
            if let Some(hint) = &report.summary.hint {
                self.warn_once(io, &format!("some listeners have no visible owner: {hint}"));
            }
        }
        for w in &report.summary.warnings {
            self.warn_once(io, w);
        }
        let mut next: BTreeMap<Identity, Listener<'r>> = BTreeMap::new();
        let mut held_back: HashMap<SocketKey, Pending<'r>> = HashMap::new();
        // When and whether initially each listener recorded late was first seen.
        let mut first_seen: HashMap<Identity, (String, bool)> = HashMap::new();
        let live_sockets = by_socket(&self.live);
        for l in report.listeners {
            let id = Identity::of(&l);
            let socket = SocketKey::of(&id);
            if let Some((key, known)) = self.last_owners(&l, &socket, &live_sockets) {
                next.insert(key, known);
                continue;
            }
            if !l.owner_known() && !live_sockets.contains_key(&socket) {
                match self.pending.remove(&socket) {
                    // Ownerless in two scans: recorded as it was first seen.
                    Some(p) => {
                        first_seen.insert(id.clone(), (p.time, p.initial));
                    }
                    None if !last => {
                        held_back.insert(socket, Pending { time: time.clone(), initial, listener: l });
                        continue;
                    }
                    None => {}
                }
            }
            next.insert(id, l);
        }
        // Sockets held back last time that now show their owner appear below like any new listener; those that
        // are gone were real, if short-lived, listeners without a visible owner.
        let next_sockets: HashSet<SocketKey> = next.keys().map(SocketKey::of).collect();
        let vanished =
            in_order(self.pending.drain().filter(|(socket, _)| !next_sockets.contains(socket)).map(|(_, p)| p));
        let mut wrote = false;
        for p in &vanished {
            self.appeared += 1;
            self.disappeared += 1;
            wrote = true;
            self.emit(&Event::change(EventKind::Appeared, &p.time, p.initial, &p.listener), io)?;
            self.emit(&Event::change(EventKind::Disappeared, &time, false, &p.listener), io)?;
        }
        let gone: Vec<Identity> = self.live.keys().filter(|k| !next.contains_key(*k)).cloned().collect();
        for key in gone {
            if let Some(l) = self.live.remove(&key) {
                self.disappeared += 1;
                wrote = true;
                self.emit(&Event::change(EventKind::Disappeared, &time, false, &l), io)?;
            }
        }
        for (key, l) in &next {
            if !self.live.contains_key(key) {
                self.appeared += 1;
                wrote = true;
                let (when, was_initial) = match first_seen.get(key) {
                    Some((when, was_initial)) => (when.as_str(), *was_initial),
                    None => (time.as_str(), initial),
                };
                self.emit(&Event::change(EventKind::Appeared, when, was_initial, l), io)?;
            }
        }
        std::mem::swap(&mut self.live, &mut next);
        self.by_inode = self.live.keys().filter(|k| k.inode != 0).map(|k| (k.inode, k.clone())).collect();
        self.pending = held_back;
        if wrote && self.unsynced.is_none() {
            self.unsynced = Some(Instant::now());
        }
        self.sync_recording()?;
        self.flush_stdout(io)
    }

    /// Records what kernel events reported, in order: a listener that started (unless a scan already has its
    /// socket), one that stopped (if it is known). Each is judged alone, as a scan judges each socket.
    fn apply(&mut self, changes: Vec<ListenerChange>, io: &mut Output<'_>) -> anyhow::Result<()> {
        let mut wrote = false;
        for change in changes {
            let inode = change.socket.socket.inode;
            let time = history::time(change.time);
            if !change.listening {
                if let Some(l) = self.by_inode.remove(&inode).and_then(|id| self.live.remove(&id)) {
                    self.disappeared += 1;
                    wrote = true;
                    self.emit(&Event::change(EventKind::Disappeared, &time, false, &l), io)?;
                }
                continue;
            }
            if inode == 0 || self.by_inode.contains_key(&inode) {
                continue;
            }
            let inventory = portwarden::Inventory { sockets: vec![change.socket], ..portwarden::Inventory::default() };
            let report = verdict::build(inventory, self.registry, &mut *self.user_names, &|_| true, "");
            for l in report.listeners {
                let id = Identity::of(&l);
                // A scan held it back for want of an owner, which the event names.
                self.pending.remove(&SocketKey::of(&id));
                self.appeared += 1;
                wrote = true;
                self.emit(&Event::change(EventKind::Appeared, &time, false, &l), io)?;
                self.by_inode.insert(inode, id.clone());
                self.live.insert(id, l);
            }
        }
        if wrote && self.unsynced.is_none() {
            self.unsynced = Some(Instant::now());
        }
        if self.unsynced.is_some_and(|since| since.elapsed() >= SYNC_DELAY) {
            self.sync_recording()?;
        }
        self.flush_stdout(io)
    }

    /// Flushes the recording to disk, if events were written to it since the last time.
    fn sync_recording(&mut self) -> anyhow::Result<()> {
        if self.unsynced.take().is_some() {
            if let Some(r) = &mut self.recording {
                r.sync()?;
            }
        }
        Ok(())
    }

    /// For a socket whose owner cannot be seen now but could be in the last scan (same socket: protocol, address,
    /// port and inode), that last record: a process that is exiting keeps its sockets a moment after its open files
    /// become unreadable, and that is not a new listener.
    fn last_owners(
        &self,
        l: &Listener<'r>,
        socket: &SocketKey,
        live_sockets: &HashMap<SocketKey, &Identity>,
    ) -> Option<(Identity, Listener<'r>)> {
        if l.owner_known() {
            return None;
        }
        let key = live_sockets.get(socket).filter(|k| !k.pids.is_empty())?;
        Some(((*key).clone(), self.live.get(*key)?.clone()))
    }

    /// Whether the inventory has a socket without a visible owner that the last scan did not have (with or without
    /// owners, recorded or held back).
    fn has_new_unowned(&self, inventory: &portwarden::Inventory) -> bool {
        let mut unowned = inventory.sockets.iter().filter(|o| o.processes.is_empty()).peekable();
        if unowned.peek().is_none() {
            return false;
        }
        let known = by_socket(&self.live);
        unowned.any(|o| {
            let socket = SocketKey::of(&Identity::of_socket(o));
            !known.contains_key(&socket) && !self.pending.contains_key(&socket)
        })
    }

    /// Lists the sockets, trying again after a short pause when that fails.
    fn enumerate(&mut self, io: &mut Output<'_>) -> anyhow::Result<portwarden::Inventory> {
        let mut tries = 0;
        loop {
            tries += 1;
            match platform::enumerate(&self.query) {
                Ok(inventory) => return Ok(inventory),
                Err(e) if tries < TRIES => {
                    let _ = writeln!(
                        io.err,
                        "portwarden: warning: cannot list the sockets ({}); trying again",
                        escape(&format!("{e:#}"))
                    );
                    std::thread::sleep(RETRY_PAUSE);
                }
                Err(e) => {
                    let e = anyhow::Error::new(e);
                    return Err(e.context(format!("cannot list the sockets of this machine ({tries} tries)")));
                }
            }
        }
    }

    /// Writes one event: to the recording (always), and to stdout (NDJSON: every event; text: changes after the
    /// first scan).
    fn emit(&mut self, event: &Event<'_, 'r>, io: &mut Output<'_>) -> anyhow::Result<()> {
        let line = event.to_line().context("cannot encode an event")?;
        if let Some(r) = &mut self.recording {
            r.write(&line)?;
        }
        if self.stdout_closed {
            return Ok(());
        }
        let written = match (self.format, event.listener) {
            (WatchFormat::Ndjson, _) => io.out.write_all(&line),
            (WatchFormat::Text, Some(l)) if event.initial != Some(true) => {
                let sign = match event.event {
                    EventKind::Appeared => self.painter.good("+"),
                    _ => self.painter.bad("-"),
                };
                writeln!(io.out, "{} {sign} {}", event.time, describe(l, self.painter))
            }
            (WatchFormat::Text, _) => Ok(()),
        };
        self.stdout_result(written)
    }

    fn flush_stdout(&mut self, io: &mut Output<'_>) -> anyhow::Result<()> {
        if self.stdout_closed {
            return Ok(());
        }
        let flushed = io.out.flush();
        self.stdout_result(flushed)
    }

    /// A closed stdout stops the watch cleanly; any other write error is a failure.
    fn stdout_result(&mut self, r: io::Result<()>) -> anyhow::Result<()> {
        match r {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.stdout_closed = true;
                Ok(())
            }
            r => r.context("cannot write to stdout"),
        }
    }

    fn warn_once(&mut self, io: &mut Output<'_>, warning: &str) {
        if self.warned.insert(warning.to_string()) {
            let _ = writeln!(io.err, "portwarden: warning: {}", escape(warning));
        }
    }

    /// Writes the `stopped` event, says what was seen, and turns the reason into the exit status.
    fn finish(mut self, stop: Stop, io: &mut Output<'_>) -> anyhow::Result<Outcome> {
        let time = history::now();
        let (reason, failure) = match stop {
            Stop::Signal => ("signal", None),
            Stop::OutputClosed => ("output closed", None),
            Stop::Failed(e) => ("error", Some(e)),
        };
        let error = failure.as_ref().map(|e| format!("{e:#}"));
        // Sockets held back by the last scan (it was not the final one: stdout closed, or listing failed) were
        // there, without a visible owner: record them before stopping.
        for p in &in_order(std::mem::take(&mut self.pending).into_values()) {
            self.appeared += 1;
            if let Err(e) = self.emit(&Event::change(EventKind::Appeared, &p.time, p.initial, &p.listener), io) {
                let _ = writeln!(io.err, "portwarden: error: {}", escape(&format!("{e:#}")));
            }
        }
        let wrote =
            self.emit(&Event::stopped(&time, reason, error, self.scans), io).and_then(|()| match &mut self.recording {
                Some(r) => r.sync(),
                None => Ok(()),
            });
        let flushed = self.flush_stdout(io);
        let _ = writeln!(
            io.err,
            "portwarden: stopped ({reason}) after {}: {} appeared, {} disappeared{}",
            plural(usize::try_from(self.scans).unwrap_or(usize::MAX), "scan"),
            self.appeared,
            self.disappeared,
            match &self.recording {
                Some(r) => format!("; recorded in {}", escape(&r.path.display().to_string())),
                None => String::new(),
            }
        );
        if let Some(e) = failure {
            if let Err(w) = wrote {
                let _ = writeln!(io.err, "portwarden: error: {}", escape(&format!("{w:#}")));
            }
            return Err(e);
        }
        wrote?;
        flushed?;
        Ok(Outcome::Clean)
    }
}
