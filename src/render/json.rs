//! `list --format json`, written by hand and streamed: byte for byte what `serde_json::to_writer_pretty` makes of
//! a [`Report`] (the tests below hold it to that), but one listener at a time and several times faster.
//!
//! A listing of thousands of sockets is megabytes of JSON, most of it the same few things over and over: a process
//! with 30 sockets appears 30 times, and a registry row covering a range of ports appears under every listener in
//! it. Each process and each registry row is therefore serialised once, at the indentation where it appears, and
//! copied after that. Everything else is written straight into a buffer that goes to the output in 64 KiB pieces,
//! with the key names and indentation as constant byte strings. The summary at the end is small and goes through
//! serde.

use std::io::{self, Write};
use std::sync::Arc;

use crate::model::Process;
use crate::registry::Record;
use crate::verdict::Flag;
use crate::verdict::{Listener, Report, Sink, Summary, SCHEMA_VERSION};
use rustc_hash::FxHashMap as HashMap;

/// Bytes gathered before they are handed to the output.
const CHUNK: usize = 64 * 1024;

/// A constant piece of pretty JSON (keys, punctuation, indentation) without its layout: the spaces and newlines
/// outside strings. Evaluated at compile time by [`lit!`]; returns the bytes and how many of them count.
const fn squeeze<const N: usize>(pretty: &[u8; N]) -> ([u8; N], usize) {
    let mut out = [0u8; N];
    let (mut n, mut i, mut in_string) = (0, 0, false);
    while i < N {
        let c = pretty[i];
        if c == b'"' {
            in_string = !in_string;
        }
        if in_string || (c != b' ' && c != b'\n') {
            out[n] = c;
            n += 1;
        }
        i += 1;
    }
    (out, n)
}

/// A constant piece of JSON, pretty or compact (`$compact`), both forms made at compile time.
macro_rules! lit {
    ($compact:expr, $pretty:literal) => {{
        const COMPACT: ([u8; $pretty.len()], usize) = squeeze($pretty);
        if $compact {
            COMPACT.0.split_at(COMPACT.1).0
        } else {
            &$pretty[..]
        }
    }};
}

/// Writes a whole report (for reports built already, e.g. by `diff`).
pub fn write_report(out: &mut dyn Write, report: &Report<'_>) -> io::Result<()> {
    let mut listing = JsonListing::begin(out)?;
    for l in &report.listeners {
        listing.listener(l)?;
    }
    listing.end(&report.summary)
}

/// A report being written: [`begin`](Self::begin), one [`listener`](Self::listener) call per listener in order,
/// then [`end`](Self::end) with the summary.
pub struct JsonListing<'a, 'r> {
    out: &'a mut dyn Write,
    buf: Vec<u8>,
    first: bool,
    writer: ListenerWriter<'r>,
}

impl<'a, 'r> JsonListing<'a, 'r> {
    /// Writes the opening of the report, up to the start of the listener array.
    pub fn begin(out: &'a mut dyn Write) -> io::Result<Self> {
        let mut listing = JsonListing {
            out,
            buf: Vec::with_capacity(CHUNK + 8 * 1024),
            first: true,
            writer: ListenerWriter::default(),
        };
        listing.buf.extend_from_slice(b"{\n  \"schema_version\": ");
        push_u64(&mut listing.buf, u64::from(SCHEMA_VERSION));
        listing.buf.extend_from_slice(b",\n  \"listeners\": [");
        Ok(listing)
    }

    /// Writes one listener.
    pub fn listener(&mut self, l: &Listener<'r>) -> io::Result<()> {
        self.writer.write(&mut self.buf, l, self.first);
        self.first = false;
        self.flush_full()
    }

    fn flush_full(&mut self) -> io::Result<()> {
        if self.buf.len() >= CHUNK {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Closes the listener array, writes the summary and the closing brace and a newline.
    pub fn end(&mut self, summary: &Summary) -> io::Result<()> {
        self.buf.extend_from_slice(if self.first { b"],\n  \"summary\": " } else { b"\n  ],\n  \"summary\": " });
        // serde's pretty form of the summary at top level, indented one more level: JSON strings hold no raw
        // newline, so every newline in it starts a line of indentation.
        let summary = serde_json::to_vec_pretty(summary).map_err(io::Error::from)?;
        for (i, line) in summary.split(|&c| c == b'\n').enumerate() {
            if i > 0 {
                self.buf.extend_from_slice(b"\n  ");
            }
            self.buf.extend_from_slice(line);
        }
        self.buf.extend_from_slice(b"\n}\n");
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }
}

impl<'r> Sink<'r> for JsonListing<'_, 'r> {
    fn listener(&mut self, l: Listener<'r>) -> io::Result<()> {
        JsonListing::listener(self, &l)
    }

    fn end(&mut self, summary: &Summary) -> io::Result<()> {
        JsonListing::end(self, summary)
    }
}

/// `--format ndjson`: one listener per line, in the compact form [`ListenerWriter`] writes (serde's `to_string` of
/// a [`Listener`], byte for byte); no summary.
pub struct Ndjson<'a, 'r> {
    out: &'a mut dyn Write,
    buf: Vec<u8>,
    writer: ListenerWriter<'r>,
}

impl<'a> Ndjson<'a, '_> {
    pub fn new(out: &'a mut dyn Write) -> Self {
        let writer = ListenerWriter { compact: true, ..ListenerWriter::default() };
        Ndjson { out, buf: Vec::with_capacity(CHUNK + 8 * 1024), writer }
    }
}

impl<'r> Sink<'r> for Ndjson<'_, 'r> {
    fn listener(&mut self, l: Listener<'r>) -> io::Result<()> {
        self.writer.write(&mut self.buf, &l, true);
        self.buf.push(b'\n');
        if self.buf.len() >= CHUNK {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn end(&mut self, _: &Summary) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }
}

/// Writes listeners as they appear in the report's `listeners` array, with the caches that make that cheap. One
/// per thread.
#[derive(Default)]
pub struct ListenerWriter<'r> {
    /// Each process's object as it appears in a listener's `processes`, by record (the `Arc` keeps the address
    /// from being reused while the cache lives).
    processes: HashMap<*const Process, (Arc<Process>, Vec<u8>)>,
    /// Each registry row's object as it appears in `iana.entries`, by where its text lives.
    records: HashMap<(usize, usize), (Record<'r>, Vec<u8>)>,
    /// Each shared reason as a JSON string, by where its text lives (the `Arc` keeps it there).
    reasons: HashMap<usize, (Arc<str>, Vec<u8>)>,
    scratch: Vec<u8>,
    /// Compact JSON (NDJSON) rather than pretty; the caches hold this form.
    compact: bool,
}

impl<'r> ListenerWriter<'r> {
    /// Appends one listener to `b`, preceded by the separator (`,` unless `first`) and indentation.
    pub fn write(&mut self, b: &mut Vec<u8>, l: &Listener<'r>, first: bool) {
        let c = self.compact;
        b.extend_from_slice(if first { lit!(c, b"\n    {") } else { lit!(c, b",\n    {") });
        b.extend_from_slice(lit!(c, b"\n      \"protocol\": "));
        push_plain(b, l.protocol.as_str());
        b.extend_from_slice(lit!(c, b",\n      \"family\": "));
        b.extend_from_slice(match l.family {
            crate::model::Family::Ipv4 => lit!(c, b"\"ipv4\""),
            crate::model::Family::Ipv6 => lit!(c, b"\"ipv6\""),
        });
        b.extend_from_slice(lit!(c, b",\n      \"address\": "));
        push_str(b, &l.address);
        b.extend_from_slice(lit!(c, b",\n      \"port\": "));
        push_u64(b, u64::from(l.port));
        b.extend_from_slice(lit!(c, b",\n      \"dual_stack\": "));
        push_bool(b, l.dual_stack);
        b.extend_from_slice(lit!(c, b",\n      \"ipv4_mapped\": "));
        push_bool(b, l.ipv4_mapped);
        b.extend_from_slice(lit!(c, b",\n      \"interface\": "));
        push_opt_str(b, l.interface.as_deref());
        b.extend_from_slice(lit!(c, b",\n      \"netns\": "));
        match &l.netns {
            None => b.extend_from_slice(lit!(c, b"null")),
            Some(netns) => {
                b.extend_from_slice(lit!(c, b"{\n        \"inode\": "));
                push_u64(b, netns.inode);
                b.extend_from_slice(lit!(c, b",\n        \"name\": "));
                push_opt_str(b, netns.name.as_deref());
                b.extend_from_slice(lit!(c, b",\n        \"current\": "));
                push_bool(b, netns.current);
                b.extend_from_slice(lit!(c, b"\n      }"));
            }
        }
        b.extend_from_slice(lit!(c, b",\n      \"exposure\": "));
        push_plain(b, l.exposure.as_str());
        b.extend_from_slice(lit!(c, b",\n      \"processes\": ["));
        for (i, p) in l.processes.iter().enumerate() {
            b.extend_from_slice(if i == 0 { lit!(c, b"\n        ") } else { lit!(c, b",\n        ") });
            let (_, json) = self.processes.entry(Arc::as_ptr(p)).or_insert_with(|| (Arc::clone(p), process_json(p, c)));
            b.extend_from_slice(json);
        }
        b.extend_from_slice(if l.processes.is_empty() { lit!(c, b"]") } else { lit!(c, b"\n      ]") });
        b.extend_from_slice(lit!(c, b",\n      \"uid\": "));
        push_opt_u64(b, l.uid.map(u64::from));
        b.extend_from_slice(lit!(c, b",\n      \"user\": "));
        push_opt_str(b, l.user.as_deref());
        b.extend_from_slice(lit!(c, b",\n      \"range\": "));
        push_plain(b, l.range.as_str());
        b.extend_from_slice(lit!(c, b",\n      \"iana\": {\n        \"status\": "));
        push_plain(b, l.iana.status.as_str());
        b.extend_from_slice(lit!(c, b",\n        \"services\": ["));
        for (i, service) in l.iana.services.iter().enumerate() {
            b.extend_from_slice(if i == 0 { lit!(c, b"\n          ") } else { lit!(c, b",\n          ") });
            push_str(b, service);
        }
        b.extend_from_slice(if l.iana.services.is_empty() { lit!(c, b"]") } else { lit!(c, b"\n        ]") });
        b.extend_from_slice(lit!(c, b",\n        \"entries\": ["));
        for (i, r) in l.iana.entries.iter().enumerate() {
            b.extend_from_slice(if i == 0 { lit!(c, b"\n          ") } else { lit!(c, b",\n          ") });
            write_record(b, &mut self.records, &mut self.scratch, r, c);
        }
        b.extend_from_slice(if l.iana.entries.is_empty() { lit!(c, b"]") } else { lit!(c, b"\n        ]") });
        b.extend_from_slice(lit!(c, b"\n      },\n      \"verdict\": "));
        push_plain(b, l.verdict.as_str());
        b.extend_from_slice(lit!(c, b",\n      \"reason\": "));
        // Listeners judged alike share their reason (the judge holds it too): escaped once. Others are escaped
        // as they come, so the cache never grows with the listing.
        if Arc::strong_count(&l.reason) > 1 {
            let key = Arc::as_ptr(&l.reason).cast::<u8>() as usize;
            let (_, json) = self.reasons.entry(key).or_insert_with(|| {
                let mut json = Vec::with_capacity(l.reason.len() + 2);
                push_str(&mut json, &l.reason);
                (Arc::clone(&l.reason), json)
            });
            b.extend_from_slice(json);
        } else {
            push_str(b, &l.reason);
        }
        b.extend_from_slice(lit!(c, b",\n      \"flags\": ["));
        for (i, f) in l.flags.iter().enumerate() {
            b.extend_from_slice(if i == 0 { lit!(c, b"\n        ") } else { lit!(c, b",\n        ") });
            push_flag(b, f, c);
        }
        b.extend_from_slice(if l.flags.is_empty() { lit!(c, b"]") } else { lit!(c, b"\n      ]") });
        b.extend_from_slice(lit!(c, b",\n      \"severity\": "));
        match l.severity {
            Some(severity) => push_plain(b, severity.as_str()),
            None => b.extend_from_slice(lit!(c, b"null")),
        }
        b.extend_from_slice(lit!(c, b"\n    }"));
    }
}

/// A process object as it appears in a listener's `processes` (its lines indented by 8 and 10 spaces).
fn process_json(p: &Process, c: bool) -> Vec<u8> {
    let mut b = Vec::with_capacity(128 + p.cmdline.len() + p.exe.as_ref().map_or(0, String::len));
    b.extend_from_slice(lit!(c, b"{\n          \"pid\": "));
    push_u64(&mut b, u64::from(p.pid));
    b.extend_from_slice(lit!(c, b",\n          \"name\": "));
    push_str(&mut b, &p.name);
    b.extend_from_slice(lit!(c, b",\n          \"exe\": "));
    push_opt_str(&mut b, p.exe.as_deref());
    b.extend_from_slice(lit!(c, b",\n          \"exe_state\": "));
    match p.exe_state {
        None => b.extend_from_slice(lit!(c, b"null")),
        Some(state) => push_plain(&mut b, state.as_str()),
    }
    b.extend_from_slice(lit!(c, b",\n          \"cmdline\": "));
    push_str(&mut b, &p.cmdline);
    b.extend_from_slice(lit!(c, b",\n          \"user\": "));
    push_opt_str(&mut b, p.user.as_deref());
    b.extend_from_slice(lit!(c, b",\n          \"uid\": "));
    push_opt_u64(&mut b, p.uid.map(u64::from));
    b.extend_from_slice(lit!(c, b",\n          \"container\": "));
    match &p.container {
        None => b.extend_from_slice(lit!(c, b"null")),
        Some(container) => {
            b.extend_from_slice(lit!(c, b"{\n            \"runtime\": "));
            push_str(&mut b, &container.runtime);
            b.extend_from_slice(lit!(c, b",\n            \"id\": "));
            push_str(&mut b, &container.id);
            b.extend_from_slice(lit!(c, b"\n          }"));
        }
    }
    b.extend_from_slice(lit!(c, b"\n        }"));
    b
}

/// Writes a registry row object as it appears in `iana.entries`, from the cache when the same row was written
/// before.
fn write_record<'r>(
    b: &mut Vec<u8>,
    cache: &mut HashMap<(usize, usize), (Record<'r>, Vec<u8>)>,
    scratch: &mut Vec<u8>,
    r: &Record<'r>,
    c: bool,
) {
    // Where the row's text lives identifies it; every field is checked to be the very same text, so rows that
    // happened to share some of their text could not be confused.
    let key = (r.service.as_ptr() as usize, r.assignment_notes.as_ptr() as usize + r.assignment_notes.len());
    if let Some((cached, json)) = cache.get(&key) {
        if same_text(cached, r) {
            b.extend_from_slice(json);
            return;
        }
    }
    scratch.clear();
    let fields: [(&[u8], &str); 12] = [
        (lit!(c, b"{\n            \"service\": "), r.service),
        (lit!(c, b",\n            \"port\": "), r.port),
        (lit!(c, b",\n            \"protocol\": "), r.protocol),
        (lit!(c, b",\n            \"description\": "), r.description),
        (lit!(c, b",\n            \"assignee\": "), r.assignee),
        (lit!(c, b",\n            \"contact\": "), r.contact),
        (lit!(c, b",\n            \"registration_date\": "), r.registration_date),
        (lit!(c, b",\n            \"modification_date\": "), r.modification_date),
        (lit!(c, b",\n            \"reference\": "), r.reference),
        (lit!(c, b",\n            \"service_code\": "), r.service_code),
        (lit!(c, b",\n            \"unauthorized_use_reported\": "), r.unauthorized_use_reported),
        (lit!(c, b",\n            \"assignment_notes\": "), r.assignment_notes),
    ];
    for (key, value) in fields {
        scratch.extend_from_slice(key);
        push_str(scratch, value);
    }
    scratch.extend_from_slice(lit!(c, b"\n          }"));
    b.extend_from_slice(scratch);
    cache.insert(key, (*r, scratch.clone()));
}

/// Both rows' fields are the same slices of the same registry text (address and length).
fn same_text(a: &Record<'_>, b: &Record<'_>) -> bool {
    fn fields<'x>(r: &Record<'x>) -> [&'x str; 12] {
        [
            r.service,
            r.port,
            r.protocol,
            r.description,
            r.assignee,
            r.contact,
            r.registration_date,
            r.modification_date,
            r.reference,
            r.service_code,
            r.unauthorized_use_reported,
            r.assignment_notes,
        ]
    }
    fields(a).iter().zip(fields(b)).all(|(x, y)| std::ptr::eq(*x, y))
}

fn push_flag(b: &mut Vec<u8>, f: &Flag, c: bool) {
    b.extend_from_slice(lit!(c, b"{\n          \"kind\": "));
    push_plain(b, f.kind.as_str());
    b.extend_from_slice(lit!(c, b",\n          \"reason\": "));
    push_str(b, &f.reason);
    b.extend_from_slice(lit!(c, b"\n        }"));
}

fn push_bool(b: &mut Vec<u8>, v: bool) {
    b.extend_from_slice(if v { b"true" } else { b"false" });
}

fn push_opt_str(b: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => push_str(b, s),
        None => b.extend_from_slice(b"null"),
    }
}

fn push_opt_u64(b: &mut Vec<u8>, n: Option<u64>) {
    match n {
        Some(n) => push_u64(b, n),
        None => b.extend_from_slice(b"null"),
    }
}

fn push_u64(b: &mut Vec<u8>, n: u64) {
    b.extend_from_slice(crate::text::decimal(n, &mut [0; 20]));
}

/// Writes a name of our own (an enum's JSON name: lowercase letters and dashes) as a JSON string; such names need
/// no escaping.
fn push_plain(b: &mut Vec<u8>, name: &'static str) {
    debug_assert!(name.bytes().all(|c| c.is_ascii_lowercase() || c == b'-'), "{name}");
    b.push(b'"');
    b.extend_from_slice(name.as_bytes());
    b.push(b'"');
}

/// True when one of the eight bytes of `word` may need escaping: below 0x20, a quote or a backslash (exact for "none": the
/// classic zero-byte and less-than tests on all lanes at once).
fn may_need_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS != 0;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGHS != 0;
    below_space || has_zero(word ^ (ONES * u64::from(b'"'))) || has_zero(word ^ (ONES * u64::from(b'\\')))
}

/// What a byte becomes inside a JSON string, as serde_json writes it: 0 for itself, `u` for `\u00XX`, or the
/// letter after the backslash.
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = b'u';
        i += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Writes `s` as a quoted JSON string, escaped like serde_json does it (`"`, `\` and control characters below
/// 0x20; the short forms `\b \t \n \f \r` where they exist, otherwise `\u00xx` in lowercase hex).
fn push_str(b: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    b.reserve(bytes.len() + 2);
    b.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Most text needs no escaping: skip it eight bytes at a time.
        if let Some(word) = bytes.get(i..i + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()) {
            if !may_need_escape(u64::from_le_bytes(word)) {
                i += 8;
                continue;
            }
        }
        let byte = bytes[i];
        let escape = ESCAPE[usize::from(byte)];
        if escape != 0 {
            b.extend_from_slice(&bytes[start..i]);
            match escape {
                b'u' => b.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(byte >> 4)],
                    HEX[usize::from(byte & 0xf)],
                ]),
                letter => b.extend_from_slice(&[b'\\', letter]),
            }
            start = i + 1;
        }
        i += 1;
    }
    b.extend_from_slice(&bytes[start..]);
    b.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Inventory, Protocol};
    use crate::registry::Registry;
    use crate::render::fixtures::inventory;

    fn serde_form(report: &Report<'_>) -> String {
        let mut out = Vec::new();
        crate::render::json(&mut out, report).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn ours(report: &Report<'_>) -> String {
        let mut out = Vec::new();
        write_report(&mut out, report).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn build<'r>(inventory: Inventory, registry: &'r Registry, keep: &dyn Fn(&Listener<'r>) -> bool) -> Report<'r> {
        let mut names = |uid: u32| (uid == 0).then(|| "root".to_string());
        crate::verdict::build(inventory, registry, &mut names, keep, "a \"hint\"")
    }

    #[test]
    fn identical_to_serde_json_pretty() {
        let registry = Registry::builtin();
        let report = build(inventory(), &registry, &|_| true);
        assert!(report.listeners.iter().any(|l| l.iana.services.len() > 1), "want a port with several services");
        assert!(report.listeners.iter().any(|l| l.iana.entries.is_empty()));
        assert!(report.listeners.iter().any(|l| l.flags.is_empty()));
        // Every value of every enum the writer spells itself.
        let seen = |f: &dyn Fn(&Listener<'_>) -> String| -> std::collections::BTreeSet<String> {
            report.listeners.iter().map(f).collect()
        };
        assert_eq!(seen(&|l| l.protocol.as_str().into()).len(), 2);
        assert_eq!(seen(&|l| format!("{:?}", l.family)).len(), 2);
        assert_eq!(seen(&|l| l.exposure.as_str().into()).len(), 4);
        assert_eq!(seen(&|l| format!("{:?}", l.netns.as_ref().map(|n| (n.name.is_some(), n.current)))).len(), 4);
        assert_eq!(seen(&|l| l.range.as_str().into()).len(), 3);
        assert_eq!(seen(&|l| l.iana.status.as_str().into()).len(), 3);
        assert_eq!(seen(&|l| l.severity.map_or("none", |s| s.as_str()).into()).len(), 4);
        let kinds: std::collections::BTreeSet<_> =
            report.listeners.iter().flat_map(|l| l.flags.iter().map(|f| f.kind)).collect();
        assert!(kinds.len() >= 3, "{kinds:?}");
        assert!(seen(&|l| l.verdict.as_str().into()).len() >= 2);
        assert_eq!(ours(&report), serde_form(&report));

        let mut by_severity = build(inventory(), &registry, &|_| true);
        crate::verdict::sort_by_severity(&mut by_severity.listeners);
        assert_eq!(ours(&by_severity), serde_form(&by_severity));

        let empty = build(inventory(), &registry, &|_| false);
        assert!(empty.listeners.is_empty());
        assert_eq!(ours(&empty), serde_form(&empty));
    }

    /// Runs the pipeline into the JSON or NDJSON sink and returns what it wrote.
    fn piped<'r>(
        registry: &'r Registry,
        keep: &dyn Fn(&Listener<'r>) -> bool,
        order: crate::verdict::Order,
        ndjson: bool,
    ) -> String {
        let mut out = Vec::new();
        {
            let mut sink: Box<dyn Sink<'r> + '_> =
                if ndjson { Box::new(Ndjson::new(&mut out)) } else { Box::new(JsonListing::begin(&mut out).unwrap()) };
            let mut names = |uid: u32| (uid == 0).then(|| "root".to_string());
            let inputs =
                crate::verdict::pipeline::Inputs { registry, user_name: &mut names, keep, hint: "a \"hint\"", order };
            crate::verdict::pipeline::run(inventory(), inputs, sink.as_mut()).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_pipeline_gives_the_materialised_report_in_either_order() {
        use crate::verdict::Order;
        let registry = Registry::builtin();
        let keeps: [&dyn Fn(&Listener<'_>) -> bool; 4] =
            [&|_| true, &|l| l.protocol == Protocol::Udp, &|l| l.port == 80, &|_| false];
        for keep in keeps {
            let report = build(inventory(), &registry, keep);
            assert_eq!(piped(&registry, keep, Order::Port, false), serde_form(&report));
            let mut by_severity = build(inventory(), &registry, keep);
            crate::verdict::sort_by_severity(&mut by_severity.listeners);
            assert_eq!(piped(&registry, keep, Order::Severity, false), serde_form(&by_severity));
            let mut serde_lines = Vec::new();
            crate::render::ndjson(&mut serde_lines, &by_severity.listeners).unwrap();
            assert_eq!(piped(&registry, keep, Order::Severity, true), String::from_utf8(serde_lines).unwrap());
        }
    }

    #[test]
    fn rows_of_an_imported_registry_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reg.csv");
        std::fs::write(
            &path,
            "Service Name,Port Number,Transport Protocol,Description,Assignee,Contact,Registration Date,\
             Modification Date,Reference,Service Code,Unauthorized Use Reported,Assignment Notes\n\
             x11,6000-6063,tcp,X \"Window\" System,,,,,,,,\"a\nb\"\nhttp,80,tcp,World Wide Web HTTP,,,,,,,,\n",
        )
        .unwrap();
        let registry = Registry::from_file(&path).unwrap();
        let report = build(inventory(), &registry, &|_| true);
        assert_eq!(ours(&report), serde_form(&report));
    }

    #[test]
    fn strings_escape_like_serde_json() {
        let all: String = (0u32..0x100).filter_map(char::from_u32).chain(['\u{2028}', '\u{fffd}', '😀']).collect();
        let mut cases = vec![all.clone(), String::new(), "plain".into(), "\"".into(), "\\\\".into(), "\u{7f}".into()];
        // Every special byte at every position around the eight-byte steps, among ASCII and non-ASCII text.
        for special in ['"', '\\', '\n', '\u{1}', '\u{1f}', ' ', '\u{7f}', 'é', '€'] {
            for at in 0..20 {
                let mut s: String = "abcdefghijklmnopqrstuvwx".chars().take(at).collect();
                s.push(special);
                s.push_str("0123456789é€abcdefghijk");
                cases.push(s);
            }
        }
        for s in &cases {
            let mut b = Vec::new();
            push_str(&mut b, s);
            assert_eq!(String::from_utf8(b).unwrap(), serde_json::to_string(s).unwrap());
        }
        for n in [0, 7, 10, 65535, u64::from(u32::MAX), u64::MAX] {
            let mut b = Vec::new();
            push_u64(&mut b, n);
            assert_eq!(b, n.to_string().as_bytes());
        }
    }
}
