//! The knowledge tables in `registry/knowledge/`: their format and every check a row must pass. Shared with
//! `build.rs`, which runs the same checks and fails the build naming the file and line, so the binary only ever
//! carries rows that parse.

use std::collections::HashSet;

/// Operating systems a row applies to, as bits.
pub const LINUX: u8 = 1;
pub const MACOS: u8 = 2;
pub const WINDOWS: u8 = 4;

pub const LISTENERS_HEADER: [&str; 10] =
    ["os", "programs", "exe", "ports", "proto", "exposed", "secure_if", "what", "risk", "source"];
pub const PROGRAMS_HEADER: [&str; 3] = ["name", "class", "source"];
pub const KERNEL_THREADS_HEADER: [&str; 2] = ["prefix", "source"];
pub const TOOL_DIRS_HEADER: [&str; 3] = ["dir", "tool", "source"];

/// What it means when the program is reachable beyond loopback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Exposed {
    /// Meant to be reachable (sshd, a web server, mDNS).
    Normal,
    /// Normally internal; reachable from the network is worth a look.
    Review,
    /// No authentication by default, or a known way in: reachable from the network is dangerous.
    Dangerous,
}

/// One row of `listeners.csv`: a program and where it normally listens.
#[derive(Debug, Clone)]
pub struct ListenerRow {
    pub line: usize,
    pub os: u8,
    /// Lowercase names; empty when the row is about the port whoever holds it (`*`).
    pub programs: Vec<String>,
    /// Executable path patterns (glob; lowercase with `/` separators for Windows rows); empty: not checked.
    pub exe: Vec<String>,
    /// Inclusive port ranges.
    pub ports: Vec<(u16, u16)>,
    /// Also any port in the operating system's dynamic range.
    pub dynamic: bool,
    pub tcp: bool,
    pub udp: bool,
    pub exposed: Exposed,
    /// Command-line options that switch authentication or TLS on (`--requirepass`): when the holder's command
    /// line has one, its exposure is normal.
    pub secure_if: Vec<String>,
    pub what: String,
    pub risk: String,
    pub source: String,
}

/// What kind of generic program a name is (`programs.csv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A command shell: holding a listening socket, it is a bind shell.
    Shell,
    /// netcat, socat: pipes a socket to anything, a shell included.
    Relay,
    /// A script interpreter: what it serves is whatever the script is.
    Interpreter,
    /// A language runtime that legitimate servers run in (node, java): judged by the script or jar it runs.
    Runtime,
    /// A system binary abused to run code (rundll32, mshta): never a server.
    Lolbin,
    /// One binary that is many programs (busybox): judged by the applet it runs.
    Multicall,
    /// Holds sockets for the services it starts (systemd as PID 1, launchd, inetd): judged as the service.
    Activator,
    /// Forwards a port to a service elsewhere (docker-proxy, `ssh -L`): judged as the service it forwards to.
    Proxy,
}

impl Class {
    pub fn parse(s: &str) -> Option<Class> {
        Some(match s {
            "shell" => Class::Shell,
            "relay" => Class::Relay,
            "interpreter" => Class::Interpreter,
            "runtime" => Class::Runtime,
            "lolbin" => Class::Lolbin,
            "multicall" => Class::Multicall,
            "activator" => Class::Activator,
            "proxy" => Class::Proxy,
            _ => return None,
        })
    }
}

/// One row of `programs.csv`.
#[derive(Debug, Clone)]
pub struct ProgramRow {
    pub line: usize,
    /// Lowercase name, possibly a glob (`python3.*`).
    pub name: String,
    pub class: Class,
    pub source: String,
}

/// Reads a CSV text with the given header into (line, fields) records; every field trimmed.
fn records(text: &str, header: &[&str]) -> Result<Vec<(usize, Vec<String>)>, String> {
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    match rdr.headers() {
        Ok(h) if h.iter().collect::<Vec<_>>() == header => {}
        _ => return Err(format!("line 1: expected the header {:?}", header.join(","))),
    }
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| format!("line {}: {e}", e.position().map_or(0, |p| p.line())))?;
        let line = rec.position().map_or(0, |p| p.line()) as usize;
        if rec.len() != header.len() {
            return Err(format!("line {line}: {} fields (expected {}: {})", rec.len(), header.len(), header.join(",")));
        }
        let fields: Vec<String> = rec.iter().map(|f| f.trim().to_string()).collect();
        if let Some(f) = fields.iter().find(|f| f.chars().any(|c| c.is_control() || is_invisible(c))) {
            return Err(format!("line {line}: a control or invisible character in {:?} (expected plain text)", f));
        }
        out.push((line, fields));
    }
    Ok(out)
}

/// Bidi controls, zero-width characters and line separators (the set of `text::is_unsafe_char` beyond controls; this
/// file is also compiled by `build.rs`, so it cannot use it): text from the tables is shown to people and must read
/// as it is.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}'
        | '\u{2028}'..='\u{202E}'
        | '\u{2060}'..='\u{2069}'
        | '\u{FEFF}'
        | '\u{061C}'
        | '\u{FFF9}'..='\u{FFFB}')
}

fn source(line: usize, s: &str) -> Result<String, String> {
    if !(s.starts_with("https://") || s.starts_with("http://")) || s.contains(' ') || s.len() < 12 {
        return Err(format!("line {line}: source {s:?} (expected one http(s) URL saying where the fact comes from)"));
    }
    Ok(s.to_string())
}

fn os_bits(line: usize, s: &str) -> Result<u8, String> {
    let mut bits = 0;
    for part in s.split('|') {
        bits |= match part {
            "linux" => LINUX,
            "macos" => MACOS,
            "windows" => WINDOWS,
            "any" => LINUX | MACOS | WINDOWS,
            _ => return Err(format!("line {line}: os {part:?} (expected linux, macos, windows or any, joined by |)")),
        };
    }
    Ok(bits)
}

fn ports(line: usize, s: &str) -> Result<(Vec<(u16, u16)>, bool), String> {
    let (mut ranges, mut dynamic) = (Vec::new(), false);
    for part in s.split('|') {
        if part == "dynamic" {
            dynamic = true;
            continue;
        }
        let num = |t: &str| match t.parse::<u16>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("line {line}: port {t:?} (expected 1-65535, a range A-B, or dynamic, joined by |)")),
        };
        let range = match part.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(part)?, num(part)?),
        };
        if range.0 > range.1 {
            return Err(format!("line {line}: port range {part:?} ends before it starts"));
        }
        ranges.push(range);
    }
    Ok((ranges, dynamic))
}

/// A path pattern as matched: Windows paths lowercase with `/` separators.
pub fn normalise_path(p: &str) -> String {
    if p.len() > 2 && p.as_bytes()[1] == b':' {
        p.replace('\\', "/").to_lowercase()
    } else {
        p.to_string()
    }
}

/// Parses `listeners.csv`. Errors start with `line N:`.
pub fn parse_listeners(text: &str) -> Result<Vec<ListenerRow>, String> {
    let mut rows = Vec::new();
    let mut seen = HashSet::new();
    for (line, f) in records(text, &LISTENERS_HEADER)? {
        let os = os_bits(line, &f[0])?;
        let programs: Vec<String> = if f[1] == "*" {
            Vec::new()
        } else {
            f[1].split('|').map(|p| p.trim().trim_end_matches(".exe").to_lowercase()).collect()
        };
        if programs.iter().any(|p| p.is_empty() || p.contains('*')) {
            return Err(format!("line {line}: programs {:?} (expected names joined by |, or * alone)", f[1]));
        }
        let exe: Vec<String> = if f[2].is_empty() { Vec::new() } else { f[2].split('|').map(normalise_path).collect() };
        if let Some(bad) = exe.iter().find(|e| !(e.starts_with('/') || e.get(1..3) == Some(":/"))) {
            return Err(format!("line {line}: exe pattern {bad:?} (expected an absolute path, glob allowed)"));
        }
        if programs.is_empty() && !exe.is_empty() {
            return Err(format!("line {line}: exe patterns need program names (programs is *)"));
        }
        let (port_ranges, dynamic) = ports(line, &f[3])?;
        let (tcp, udp) = match f[4].as_str() {
            "tcp" => (true, false),
            "udp" => (false, true),
            "tcp|udp" | "udp|tcp" => (true, true),
            p => return Err(format!("line {line}: proto {p:?} (expected tcp, udp or tcp|udp)")),
        };
        let exposed = match f[5].as_str() {
            "normal" => Exposed::Normal,
            "review" => Exposed::Review,
            "dangerous" => Exposed::Dangerous,
            e => return Err(format!("line {line}: exposed {e:?} (expected normal, review or dangerous)")),
        };
        let secure_if: Vec<String> =
            if f[6].is_empty() { Vec::new() } else { f[6].split('|').map(str::to_string).collect() };
        if secure_if.iter().any(|m| m.len() < 3) {
            return Err(format!("line {line}: secure_if {:?} (expected command-line options, joined by |)", f[6]));
        }
        if f[7].is_empty() {
            return Err(format!("line {line}: `what` is empty (expected what the program is)"));
        }
        if exposed != Exposed::Normal && f[8].is_empty() {
            return Err(format!(
                "line {line}: `risk` is empty (expected why reachability matters, when exposed is {})",
                f[5]
            ));
        }
        let source = source(line, &f[9])?;
        if !seen.insert((f[0].clone(), f[1].clone(), f[3].clone(), f[4].clone())) {
            return Err(format!("line {line}: the same os, programs, ports and proto as an earlier row"));
        }
        rows.push(ListenerRow {
            line,
            os,
            programs,
            exe,
            ports: port_ranges,
            dynamic,
            tcp,
            udp,
            exposed,
            secure_if,
            what: f[7].clone(),
            risk: f[8].clone(),
            source,
        });
    }
    Ok(rows)
}

/// Parses `programs.csv`.
pub fn parse_programs(text: &str) -> Result<Vec<ProgramRow>, String> {
    let mut rows: Vec<ProgramRow> = Vec::new();
    for (line, f) in records(text, &PROGRAMS_HEADER)? {
        let name = f[0].trim_end_matches(".exe").to_lowercase();
        if name.is_empty() || name.contains(['/', '\\', ' ']) {
            return Err(format!("line {line}: name {:?} (expected a program name, glob allowed)", f[0]));
        }
        let class = Class::parse(&f[1]).ok_or_else(|| {
            format!(
                "line {line}: class {:?} (expected shell, relay, interpreter, runtime, lolbin, multicall, activator or proxy)",
                f[1]
            )
        })?;
        if rows.iter().any(|r| r.name == name) {
            return Err(format!("line {line}: {name:?} is listed twice"));
        }
        rows.push(ProgramRow { line, name, class, source: source(line, &f[2])? });
    }
    Ok(rows)
}

/// Parses a table whose first column is a non-empty word and whose last is a source: `kernel-threads.csv`
/// (prefix, source) and `tool-dirs.csv` (dir, tool, source). Returns the first column of each row.
pub fn parse_words(text: &str, header: &[&str]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (line, f) in records(text, header)? {
        if f[0].is_empty() || f.iter().any(String::is_empty) {
            return Err(format!("line {line}: an empty field (expected {})", header.join(",")));
        }
        source(line, &f[f.len() - 1])?;
        out.push(f[0].to_lowercase());
    }
    Ok(out)
}
