//! The `list` table: one row per listener, aligned columns, escaped text, then the reasons for each flag and a
//! summary line.

use super::fit;
use super::Painter;
use crate::registry::Status;
use crate::text::escape;
use crate::verdict::{Listener, Sink, Summary};
use crate::verdict::{Severity, Verdict};
use std::fmt::Write as _;
use std::io::{self, Write};
use unicode_width::UnicodeWidthStr;

/// Owners shown per row before "+N more".
const MAX_OWNERS: usize = 3;

/// Flagged listeners whose reasons are spelt out under the table; the rest are counted.
const MAX_REASONS: usize = 20;

/// "pid/name (user)" for each owner, escaped, with " in docker:0123456789ab" when it runs in a container; "owner
/// unknown (uid N user)" when none could be seen.
pub fn owners_cell(l: &Listener<'_>) -> String {
    let mut s = String::new();
    push_owners(&mut s, l);
    s
}

fn push_owners(s: &mut String, l: &Listener<'_>) {
    if l.processes.is_empty() {
        s.push_str("owner unknown");
        match (&l.user, l.uid) {
            (Some(u), _) => {
                let _ = write!(s, " (user {})", escape(u));
            }
            (None, Some(uid)) => {
                let _ = write!(s, " (uid {uid})");
            }
            _ => {}
        }
        return;
    }
    for (i, p) in l.processes.iter().take(MAX_OWNERS).enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        push_owner(s, p);
    }
    if l.processes.len() > MAX_OWNERS {
        let _ = write!(s, ", +{} more", l.processes.len() - MAX_OWNERS);
    }
}

/// One owner: "pid/name (user)", " in docker:0123456789ab" when it runs in a container; escaped.
fn push_owner(s: &mut String, p: &crate::model::Process) {
    let _ = write!(s, "{}/{}", p.pid, escape(&p.name));
    if let Some(u) = &p.user {
        let _ = write!(s, " ({})", escape(u));
    }
    if let Some(c) = &p.container {
        let _ = write!(s, " in {}", escape(&c.short()));
    }
}

/// The address, with "(dual-stack)" for an IPv6 wildcard that also takes IPv4, "(v4-mapped)" for `::ffff:a.b.c.d`
/// and "%iface" when bound to a device.
pub fn address_cell(l: &Listener<'_>) -> String {
    let mut s = String::new();
    push_address(&mut s, l);
    s
}

fn push_address(s: &mut String, l: &Listener<'_>) {
    s.push_str(&l.address);
    if let Some(dev) = &l.interface {
        s.push('%');
        s.push_str(&escape(dev));
    }
    if l.dual_stack {
        s.push_str(" (dual-stack)");
    } else if l.ipv4_mapped {
        s.push_str(" (v4-mapped)");
    }
}

/// The network namespace column (`--all-netns`): its name or inode, "current" for the one portwarden runs in
/// (unless it has a name); empty when the listing has no namespaces.
pub fn netns_cell(l: &Listener<'_>) -> String {
    match &l.netns {
        None => String::new(),
        Some(n) if n.current && n.name.is_none() => "current".to_string(),
        Some(n) => escape(&n.label()).into_owned(),
    }
}

/// " netns pw-test" for a listener in another network namespace than portwarden's; empty otherwise.
pub fn netns_suffix(l: &Listener<'_>) -> String {
    match &l.netns {
        Some(n) if !n.current => format!(" netns {}", escape(&n.label())),
        _ => String::new(),
    }
}

/// The IANA service names (escaped: an imported registry is text from outside), or the status when nothing is
/// assigned.
pub fn service_cell(l: &Listener<'_>) -> String {
    let mut s = String::new();
    push_service(&mut s, l);
    s
}

fn push_service(s: &mut String, l: &Listener<'_>) {
    if l.iana.services.is_empty() {
        s.push_str(if l.iana.status == Status::Reserved { "(reserved)" } else { "(unassigned)" });
    }
    for (i, service) in l.iana.services.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&escape(service));
    }
}

/// The verdict, with the kind of its main finding: `dangerous (exposed-service)`; `expected` alone.
pub fn verdict_cell(l: &Listener<'_>) -> String {
    let mut s = String::new();
    push_verdict(&mut s, l);
    s
}

fn push_verdict(s: &mut String, l: &Listener<'_>) {
    s.push_str(l.verdict.as_str());
    if let (Verdict::Review | Verdict::Dangerous, Some(f)) = (l.verdict, l.flags.first()) {
        let _ = write!(s, " ({})", f.kind.as_str());
    }
}

fn push_spaces(s: &mut String, mut n: usize) {
    const SPACES: &str = "                                                                ";
    while n > 0 {
        let k = n.min(SPACES.len());
        s.push_str(&SPACES[..k]);
        n -= k;
    }
}

/// Display columns of escaped text (no control characters): its length when ASCII.
fn cols(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.width()
    }
}

/// The columns, in order; NETNS only when the listing spans namespaces (`--all-netns`).
const HEADERS: [&str; 8] = ["PROTO", "ADDRESS", "PORT", "EXPOSURE", "NETNS", "OWNERS", "SERVICE", "VERDICT"];
const ADDRESS: usize = 1;
const NETNS: usize = 4;
const OWNERS: usize = 5;
const SERVICE: usize = 6;
const VERDICT: usize = 7;
/// How narrow each column may become in a small window: PROTO and PORT never shrink; an address keeps its start, a
/// namespace its inode number (10 digits), an owner its PID and the start of its name, a verdict its word
/// ("dangerous"), the exposure its shortest word ("all" stands for "all-interfaces").
const MIN: [usize; 8] = [5, 9, 5, 9, 10, 12, 7, 9];
/// Which columns give up room first in a narrow window: the registry's names, the verdict's detail and the
/// exposure's long word before the address, namespace and owners.
const RANK: [u8; 8] = [1, 1, 1, 0, 1, 1, 0, 0];
const EXPOSURE: usize = 3;
/// The columns a window too narrow for all of them loses, in order.
const DROP_ORDER: [usize; 3] = [SERVICE, NETNS, EXPOSURE];
/// Columns between cells.
const GAP: usize = 2;
/// The indentation of the reasons, and of their continuation lines.
const REASON_INDENT: usize = 2;
const HANGING: usize = 6;

/// One row, kept compact until the table is laid out: its cells' text in one string.
struct Row {
    text: Box<str>,
    /// Where each cell ends in `text` (cells follow each other).
    ends: [u32; 8],
    owner_known: bool,
    assigned: bool,
    severity: Option<Severity>,
}

impl Row {
    fn cell(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    fn set_cell(&mut self, i: usize, value: &str) {
        let cells: Vec<String> =
            (0..8).map(|j| if j == i { value.to_string() } else { self.cell(j).to_string() }).collect();
        *self = Row::new(&cells, self.owner_known, self.assigned, self.severity);
    }

    fn new(cells: &[String], owner_known: bool, assigned: bool, severity: Option<Severity>) -> Row {
        let mut text = String::with_capacity(cells.iter().map(String::len).sum());
        let mut ends = [0u32; 8];
        for (end, cell) in ends.iter_mut().zip(cells) {
            text.push_str(cell);
            *end = u32::try_from(text.len()).unwrap_or(u32::MAX);
        }
        Row { text: text.into(), ends, owner_known, assigned, severity }
    }
}

/// What makes two sockets twins: the same service on the IPv4 and IPv6 wildcard (or loopback) address, held by the
/// same processes, with the same judgement.
#[derive(PartialEq)]
struct TwinKey {
    port: u16,
    protocol: crate::model::Protocol,
    loopback: bool,
    pids: Vec<u32>,
    netns: Option<u64>,
    interface: Option<String>,
    verdict: Verdict,
    reason: std::sync::Arc<str>,
}

impl TwinKey {
    /// The key of a socket on a wildcard or loopback address that is not IPv4-mapped; `None` for the others.
    fn of(l: &Listener<'_>) -> Option<(TwinKey, crate::model::Family)> {
        // The address is written the standard way, so the wildcards are these two strings; a loopback address is
        // what the exposure says (IPv4-mapped ones are left alone, as their twin would be the IPv4 socket itself).
        let loopback = l.exposure == crate::verdict::Exposure::Loopback;
        if l.ipv4_mapped || !(l.address == "0.0.0.0" || l.address == "::" || loopback) {
            return None;
        }
        let key = TwinKey {
            port: l.port,
            protocol: l.protocol,
            loopback,
            pids: l.processes.iter().map(|p| p.pid).collect(),
            netns: l.netns.as_ref().map(|n| n.inode),
            interface: l.interface.clone(),
            verdict: l.verdict,
            reason: std::sync::Arc::clone(&l.reason),
        };
        Some((key, l.family))
    }
}

/// A flagged row's reason, with what orders the reasons (most severe first).
struct Reason {
    order: crate::verdict::SeverityOrder,
    row: usize,
    head: String,
    verdict: Verdict,
    text: std::sync::Arc<str>,
}

/// The `list` table, as a sink of the pipeline: rows are kept as compact text while listeners arrive (twins merged
/// into one row), then laid out for the window: each column as wide as its widest cell, or, in a terminal too narrow
/// for that, narrowed and its long cells shortened with `…`. `width` is the window's width (`None`: not a
/// terminal, or `--wide`: full cells).
pub struct Table<'a> {
    out: &'a mut dyn Write,
    painter: Painter,
    width: Option<usize>,
    rows: Vec<Row>,
    reasons: Vec<Reason>,
    with_netns: bool,
    current_netns: Option<String>,
    /// IPv4 twin candidates among the rows of the current port and protocol: (row, key).
    pending: Vec<(usize, TwinKey)>,
    /// Where a row is put together before it is stored.
    scratch: String,
    /// Each single owner's cell, by its record (the `Arc` keeps the address from being reused meanwhile).
    owner_cells: rustc_hash::FxHashMap<*const crate::model::Process, (std::sync::Arc<crate::model::Process>, Box<str>)>,
}

impl<'a> Table<'a> {
    pub fn new(out: &'a mut dyn Write, painter: Painter, width: Option<usize>) -> Self {
        Table {
            out,
            painter,
            width,
            rows: Vec::new(),
            reasons: Vec::new(),
            with_netns: false,
            current_netns: None,
            pending: Vec::new(),
            scratch: String::new(),
            owner_cells: rustc_hash::FxHashMap::default(),
        }
    }

    fn add(&mut self, l: &Listener<'_>) {
        if self.pending.first().is_some_and(|(_, k)| (k.port, k.protocol) != (l.port, l.protocol)) {
            self.pending.clear();
        }
        let twin = TwinKey::of(l);
        if let Some((key, crate::model::Family::Ipv6)) = &twin {
            if let Some(at) = self.pending.iter().position(|(_, k)| k == key) {
                let (row, _) = self.pending.swap_remove(at);
                let merged = format!("{}, {}", self.rows[row].cell(ADDRESS), address_cell(l));
                self.rows[row].set_cell(ADDRESS, &merged);
                if let Some(r) = self.reasons.iter_mut().rev().find(|r| r.row == row) {
                    r.head = format!("{}/{} {merged}{}", l.port, l.protocol, netns_suffix(l));
                }
                return;
            }
        }
        self.with_netns |= l.netns.is_some();
        if self.current_netns.is_none() {
            self.current_netns = l.netns.as_ref().filter(|n| n.current).map(|n| escape(&n.label()).into_owned());
        }
        let mut text = std::mem::take(&mut self.scratch);
        text.clear();
        let mut ends = [0u32; 8];
        let mut end = |text: &String, i: usize| ends[i] = u32::try_from(text.len()).unwrap_or(u32::MAX);
        text.push_str(l.protocol.as_str());
        end(&text, 0);
        push_address(&mut text, l);
        end(&text, 1);
        crate::text::push_decimal(&mut text, u64::from(l.port));
        end(&text, 2);
        text.push_str(l.exposure.as_str());
        end(&text, 3);
        if l.netns.is_some() {
            text.push_str(&netns_cell(l));
        }
        end(&text, 4);
        match l.processes.as_slice() {
            // One owner, usually with many sockets: its cell is written once per listing.
            [one] => {
                let key = std::sync::Arc::as_ptr(one);
                let (_, cell) = self.owner_cells.entry(key).or_insert_with(|| {
                    let mut cell = String::new();
                    push_owner(&mut cell, one);
                    (std::sync::Arc::clone(one), cell.into())
                });
                text.push_str(cell);
            }
            _ => push_owners(&mut text, l),
        }
        end(&text, 5);
        push_service(&mut text, l);
        end(&text, 6);
        push_verdict(&mut text, l);
        end(&text, 7);
        let stored = Row {
            text: text.as_str().into(),
            ends,
            owner_known: l.owner_known(),
            assigned: l.iana.status == Status::Assigned,
            severity: l.severity,
        };
        self.scratch = text;
        let row = self.rows.len();
        self.rows.push(stored);
        if let Some((key, crate::model::Family::Ipv4)) = twin {
            self.pending.push((row, key));
        }
        if l.verdict != Verdict::Expected {
            self.reasons.push(Reason {
                order: crate::verdict::severity_order(l),
                row,
                head: format!("{}/{} {}{}", l.port, l.protocol, address_cell(l), netns_suffix(l)),
                verdict: l.verdict,
                text: std::sync::Arc::clone(&l.reason),
            });
        }
    }

    fn write_rows(&mut self) -> io::Result<()> {
        let p = self.painter;
        let mut shown: Vec<usize> = (0..8).filter(|&i| i != NETNS || self.with_netns).collect();
        let natural_of = |i: usize| self.rows.iter().map(|r| cols(r.cell(i))).max().unwrap_or(0).max(HEADERS[i].len());
        let natural_all: Vec<usize> = (0..8).map(natural_of).collect();
        if let Some(window) = self.width {
            // A window too narrow for even the narrowest columns loses whole columns, the least needed first, so
            // that port, owner and verdict stay.
            for drop in DROP_ORDER {
                let floor: usize = shown.iter().map(|&i| natural_all[i].min(MIN[i]) + 1).sum::<usize>() - 1;
                if floor <= window {
                    break;
                }
                shown.retain(|&i| i != drop);
            }
        }
        let natural: Vec<usize> = shown.iter().map(|&i| natural_all[i]).collect();
        let min: Vec<usize> = shown.iter().map(|&i| MIN[i]).collect();
        let rank: Vec<u8> = shown.iter().map(|&i| RANK[i]).collect();
        let (widths, gap) = match self.width {
            Some(window) => fit::column_widths(&natural, &min, &rank, GAP, window),
            None => (natural, GAP),
        };
        let last = shown.len() - 1;
        let mut line = String::new();
        let mut plain = String::new();
        let header = Row::new(&HEADERS.map(String::from), true, true, None);
        for (n, row) in std::iter::once(&header).chain(&self.rows).enumerate() {
            // Laid out plain first (escape codes take no columns), then painted when colour is on.
            plain.clear();
            let mut pieces: [(usize, usize, usize); 8] = [(0, 0, 0); 8];
            for (k, &i) in shown.iter().enumerate() {
                let cell = match row.cell(i) {
                    // Narrowed, "all-interfaces" says "all", and a verdict its word alone, rather than lose their end.
                    "all-interfaces" if i == EXPOSURE && widths[k] < "all-interfaces".len() => "all",
                    verdict if i == VERDICT && n > 0 && widths[k] < cols(verdict) => {
                        verdict.split_once(" (").map_or(verdict, |(word, _)| word)
                    }
                    cell => cell,
                };
                let fitted = if cols(cell) <= widths[k] { cell.into() } else { fit::shorten(cell, widths[k]) };
                let start = plain.len();
                plain.push_str(&fitted);
                let pad = if k == last { 0 } else { widths[k] - cols(&fitted) + gap };
                pieces[k] = (start, plain.len(), pad);
                push_spaces(&mut plain, pad);
            }
            let trimmed = plain.trim_end();
            let out: &str = match self.width {
                // Only when even the narrowest columns do not fit the window.
                Some(w) if cols(trimmed) > w => {
                    line = fit::shorten(trimmed, w).into_owned();
                    &line
                }
                _ if !p.color => trimmed,
                _ => {
                    line.clear();
                    for (k, &i) in shown.iter().enumerate() {
                        let (start, end, pad) = pieces[k];
                        let text = &plain[start..end];
                        let painted = match i {
                            _ if n == 0 => p.bold(text),
                            OWNERS if !row.owner_known => p.warn(text),
                            SERVICE if !row.assigned => p.dim(text),
                            VERDICT => match row.severity {
                                Some(Severity::High) => p.bad(text),
                                Some(_) => p.warn(text),
                                None => p.dim(text),
                            },
                            _ => text.to_string(),
                        };
                        line.push_str(&painted);
                        push_spaces(&mut line, pad);
                    }
                    line.truncate(line.trim_end().len());
                    &line
                }
            };
            self.out.write_all(out.as_bytes())?;
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }

    fn write_reasons(&mut self) -> io::Result<()> {
        if self.reasons.is_empty() {
            return Ok(());
        }
        let p = self.painter;
        self.reasons.sort_by_key(|r| r.order);
        writeln!(self.out)?;
        writeln!(self.out, "{}", p.bold("Why flagged (most severe first):"))?;
        let more = self.reasons.len().saturating_sub(MAX_REASONS);
        for r in self.reasons.iter().take(MAX_REASONS) {
            let word = r.verdict.as_str();
            let text = format!("{}: {word}: {}", r.head, escape(&r.text));
            for (i, line) in fit::wrap(&text, self.width, REASON_INDENT, HANGING).into_iter().enumerate() {
                // The verdict word is painted where it stands on the first line.
                let line = if i == 0 {
                    let painted = if r.verdict == Verdict::Dangerous { p.bad(word) } else { p.warn(word) };
                    line.replacen(&format!(": {word}: "), &format!(": {painted}: "), 1)
                } else {
                    line
                };
                writeln!(self.out, "{line}")?;
            }
        }
        if more > 0 {
            let text = format!("... and {more} more: see `portwarden explain PORT` or `--format json`");
            for line in fit::wrap(&text, self.width, REASON_INDENT, HANGING) {
                writeln!(self.out, "{line}")?;
            }
        }
        Ok(())
    }
}

impl<'r> Sink<'r> for Table<'_> {
    fn listener(&mut self, l: Listener<'r>) -> io::Result<()> {
        self.add(&l);
        Ok(())
    }

    fn end(&mut self, summary: &Summary) -> io::Result<()> {
        self.write_rows()?;
        self.write_reasons()?;
        writeln!(self.out)?;
        write_summary(self.out, summary, self.current_netns.as_deref(), self.painter, self.width)
    }
}

/// "1 listener", "2 listeners".
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// One line of counts, the namespaces listed, the hint about unknown owners and the run's warnings, each wrapped to
/// the window (`None`: not wrapped).
pub fn write_summary(
    out: &mut dyn Write,
    s: &Summary,
    current_netns: Option<&str>,
    p: Painter,
    width: Option<usize>,
) -> io::Result<()> {
    let mut say = |text: String, paint: &dyn Fn(&str) -> String| -> io::Result<()> {
        for line in fit::wrap(&text, width, 0, 2) {
            writeln!(out, "{}", paint(&line))?;
        }
        Ok(())
    };
    let flagged = format!("{} flagged", s.flagged);
    let painted = if s.flagged > 0 { p.warn(&flagged) } else { p.good(&flagged) };
    let origin = match &s.registry.origin {
        crate::registry::Origin::Builtin => "built-in",
        crate::registry::Origin::Imported { .. } => "imported",
    };
    say(
        format!(
            "{} ({} tcp, {} udp), {flagged}; registry: {origin} ({}, {} rows)",
            plural(s.listeners, "listener"),
            s.tcp,
            s.udp,
            s.registry.date,
            s.registry.rows
        ),
        &|l| l.replacen(&format!(" {flagged};"), &format!(" {painted};"), 1),
    )?;
    if let Some(n) = s.namespaces {
        let current = current_netns.map(|c| format!(" (current: {c})")).unwrap_or_default();
        say(format!("{} listed{current}", plural(n, "network namespace")), &|l| l.to_string())?;
    }
    if s.owner_unknown > 0 {
        let hint = s.hint.as_deref().unwrap_or("");
        say(format!("{} with owner unknown: {hint}", plural(s.owner_unknown, "listener")), &|l| p.warn(l))?;
    }
    for w in &s.warnings {
        say(format!("warning: {}", escape(w)), &|l| p.warn(l))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use crate::render::fixtures::inventory;
    use crate::verdict::pipeline::{run, Inputs};
    use crate::verdict::Order;

    fn table(width: Option<usize>, order: Order) -> String {
        let registry = Registry::builtin();
        let mut out = Vec::new();
        let mut names = |uid: u32| (uid == 0).then(|| "root".to_string());
        let inputs = Inputs { registry: &registry, user_name: &mut names, keep: &|_| true, hint: "a hint", order };
        run(inventory(), inputs, &mut Table::new(&mut out, Painter { color: false }, width)).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn fits_80_columns() {
        let t = table(Some(80), Order::Port);
        assert!(t.lines().all(|l| l.width() <= 80), "{t}");
        insta::assert_snapshot!("table_80_columns", t);
    }

    #[test]
    fn fits_200_columns() {
        let t = table(Some(200), Order::Port);
        assert!(t.lines().all(|l| l.width() <= 200), "{t}");
        insta::assert_snapshot!("table_200_columns", t);
    }

    #[test]
    fn piped_shows_full_cells() {
        let t = table(None, Order::Port);
        assert!(!t.contains('…'), "{t}");
        insta::assert_snapshot!("table_piped", t);
    }

    #[test]
    fn most_severe_first() {
        insta::assert_snapshot!("table_by_severity", table(Some(120), Order::Severity));
    }

    #[test]
    fn twins_share_a_row() {
        let t = table(None, Order::Port);
        // nginx holds 80 on 0.0.0.0 and on ::: one row, both addresses.
        let rows: Vec<&str> = t.lines().filter(|l| l.starts_with("tcp") && l.contains(" 80 ")).collect();
        assert_eq!(rows.len(), 1, "{t}");
        assert!(rows[0].contains("0.0.0.0, ::"), "{t}");
        // Sockets on the same port that are not twins keep their rows: 1687 on two addresses.
        assert_eq!(t.lines().filter(|l| l.contains(" 1687 ")).count(), 2, "{t}");
    }

    #[test]
    fn a_narrow_window_still_shows_port_pid_and_verdict() {
        for width in [60, 72, 80, 100] {
            let t = table(Some(width), Order::Port);
            assert!(t.lines().all(|l| l.width() <= width), "{width}:\n{t}");
            let row = t.lines().find(|l| l.contains(" 22222 ")).unwrap_or_else(|| panic!("{t}"));
            assert!(row.contains("100/"), "{width}: {row}");
            assert!(["expected", "review", "dangerous"].iter().any(|v| row.contains(v)), "{width}: {row}");
        }
    }
}
