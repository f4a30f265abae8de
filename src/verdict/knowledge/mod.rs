//! What normally listens where, compiled in from `registry/knowledge/` (validated by `build.rs`): which program
//! holds which ports on which operating system, how it is normally exposed, what it is and why exposure matters
//! (`listeners.csv`); generic programs that are red flags as listeners (`programs.csv`); kernel thread names that
//! malware imitates (`kernel-threads.csv`); and the hidden directories developer tools install into
//! (`tool-dirs.csv`). Every row carries its source.

pub mod format;

use crate::model::{Os, Protocol};
pub use format::{Class, Exposed, ListenerRow};
use rustc_hash::FxHashMap;
use std::sync::OnceLock;

const LISTENERS: &str = include_str!("../../../registry/knowledge/listeners.csv");
const PROGRAMS: &str = include_str!("../../../registry/knowledge/programs.csv");
const KERNEL_THREADS: &str = include_str!("../../../registry/knowledge/kernel-threads.csv");
const TOOL_DIRS: &str = include_str!("../../../registry/knowledge/tool-dirs.csv");

/// Linux's comm is the first 15 bytes of the name: a longer name is matched by that prefix.
const COMM_LEN: usize = 15;

/// The compiled-in tables, indexed for lookups by port and by program name.
pub struct Knowledge {
    pub rows: Vec<ListenerRow>,
    /// Each row's exe patterns, compiled when first needed (most rows are never asked).
    exe: Vec<OnceLock<Vec<glob::Pattern>>>,
    by_port: FxHashMap<u16, Vec<u32>>,
    /// Rows with a range wider than a few ports, or `dynamic`: checked one by one.
    wide: Vec<u32>,
    /// The port ranges of those rows.
    wide_ranges: Vec<(u16, u16)>,
    by_program: FxHashMap<String, Vec<u32>>,
    classes: FxHashMap<String, Class>,
    class_globs: Vec<(glob::Pattern, Class)>,
    kernel_threads: Vec<String>,
    tool_dirs: Vec<String>,
}

fn os_bit(os: Os) -> u8 {
    match os {
        Os::Linux => format::LINUX,
        Os::Macos => format::MACOS,
        Os::Windows => format::WINDOWS,
    }
}

/// The first port of the operating system's dynamic (ephemeral) range: Linux's default `ip_local_port_range`
/// starts at 32768; Windows and macOS use IANA's 49152.
pub fn dynamic_start(os: Os) -> u16 {
    match os {
        Os::Linux => 32768,
        Os::Macos | Os::Windows => 49152,
    }
}

impl Knowledge {
    /// The built-in tables (parsed once; `build.rs` has already checked every row).
    pub fn get() -> &'static Knowledge {
        static K: OnceLock<Knowledge> = OnceLock::new();
        K.get_or_init(|| {
            Knowledge::from_texts(LISTENERS, PROGRAMS, KERNEL_THREADS, TOOL_DIRS)
                .unwrap_or_else(|e| panic!("registry/knowledge passed build.rs but not the parser: {e}"))
        })
    }

    pub fn from_texts(listeners: &str, programs: &str, kthreads: &str, tool_dirs: &str) -> Result<Knowledge, String> {
        let rows = format::parse_listeners(listeners).map_err(|e| format!("listeners.csv: {e}"))?;
        let programs = format::parse_programs(programs).map_err(|e| format!("programs.csv: {e}"))?;
        let kernel_threads = format::parse_words(kthreads, &format::KERNEL_THREADS_HEADER)
            .map_err(|e| format!("kernel-threads.csv: {e}"))?;
        let tool_dirs =
            format::parse_words(tool_dirs, &format::TOOL_DIRS_HEADER).map_err(|e| format!("tool-dirs.csv: {e}"))?;
        let mut k = Knowledge {
            exe: Vec::with_capacity(rows.len()),
            by_port: FxHashMap::default(),
            wide: Vec::new(),
            wide_ranges: Vec::new(),
            by_program: FxHashMap::default(),
            classes: FxHashMap::default(),
            class_globs: Vec::new(),
            kernel_threads,
            tool_dirs,
            rows: Vec::new(),
        };
        for (i, row) in rows.iter().enumerate() {
            let i = i as u32;
            k.exe.push(OnceLock::new());
            let span: u32 = row.ports.iter().map(|(a, b)| u32::from(b - a) + 1).sum();
            if row.dynamic || span > 64 {
                k.wide.push(i);
                k.wide_ranges.extend(row.ports.iter().copied());
            } else {
                for &(a, b) in &row.ports {
                    for p in a..=b {
                        k.by_port.entry(p).or_default().push(i);
                    }
                }
            }
            for name in &row.programs {
                k.by_program.entry(name.clone()).or_default().push(i);
                if name.len() > COMM_LEN {
                    let cut = name.char_indices().take_while(|(at, _)| *at < COMM_LEN).map(|(_, c)| c).collect();
                    k.by_program.entry(cut).or_default().push(i);
                }
            }
        }
        for p in programs {
            if p.name.contains(['*', '?', '[']) {
                let g = glob::Pattern::new(&p.name).map_err(|e| format!("programs.csv: line {}: {e}", p.line))?;
                k.class_globs.push((g, p.class));
            } else {
                k.classes.insert(p.name, p.class);
            }
        }
        k.rows = rows;
        Ok(k)
    }

    fn row_has_port(&self, row: &ListenerRow, port: u16, os: Os) -> bool {
        row.ports.iter().any(|&(a, b)| (a..=b).contains(&port)) || (row.dynamic && port >= dynamic_start(os))
    }

    fn applies(row: &ListenerRow, protocol: Protocol, os: Os) -> bool {
        row.os & os_bit(os) != 0
            && match protocol {
                Protocol::Tcp => row.tcp,
                Protocol::Udp => row.udp,
            }
    }

    /// Whether some row names this port itself (not as part of the dynamic range).
    pub fn has_own_rows(&self, port: u16) -> bool {
        self.by_port.contains_key(&port) || self.wide_ranges.iter().any(|&(a, b)| (a..=b).contains(&port))
    }

    /// Rows for this port, protocol and operating system, in table order.
    pub fn at_port(&self, port: u16, protocol: Protocol, os: Os) -> Vec<u32> {
        let mut out: Vec<u32> = self.by_port.get(&port).map(|v| v.to_vec()).unwrap_or_default();
        out.extend(self.wide.iter().copied().filter(|&i| self.row_has_port(&self.rows[i as usize], port, os)));
        out.retain(|&i| Self::applies(&self.rows[i as usize], protocol, os));
        out.sort_unstable();
        out
    }

    /// Whether any row, for any operating system, is about this port and protocol (`dynamic` rows aside).
    pub fn knows_port(&self, port: u16, protocol: Protocol) -> bool {
        let about = |r: &ListenerRow| {
            r.ports.iter().any(|&(a, b)| (a..=b).contains(&port))
                && match protocol {
                    Protocol::Tcp => r.tcp,
                    Protocol::Udp => r.udp,
                }
        };
        self.by_port.get(&port).is_some_and(|v| v.iter().any(|&i| about(&self.rows[i as usize])))
            || self.wide.iter().any(|&i| about(&self.rows[i as usize]))
    }

    /// Rows naming this program (lowercase, `.exe` stripped) for this operating system, on any port.
    pub fn of_program(&self, name: &str, os: Os) -> impl Iterator<Item = u32> + '_ {
        self.by_program
            .get(name)
            .into_iter()
            .flatten()
            .copied()
            .filter(move |&i| self.rows[i as usize].os & os_bit(os) != 0)
    }

    /// The systems a row applies to.
    pub fn systems(&self, row: u32) -> Vec<&'static str> {
        let bits = self.rows[row as usize].os;
        [(format::LINUX, "linux"), (format::MACOS, "macos"), (format::WINDOWS, "windows")]
            .into_iter()
            .filter(|(b, _)| bits & b != 0)
            .map(|(_, n)| n)
            .collect()
    }

    /// Whether a row lists this program name.
    pub fn names(&self, row: u32, name: &str) -> bool {
        self.rows[row as usize]
            .programs
            .iter()
            .any(|p| p == name || (name.len() == COMM_LEN && p.len() > COMM_LEN && p.starts_with(name)))
    }

    /// Whether an executable path matches the row's patterns; `None` when the row names no path.
    pub fn exe_matches(&self, row: u32, exe: &str) -> Option<bool> {
        // build.rs compiled every pattern once already: one that fails here cannot occur, and matches nothing.
        let pats = self.exe[row as usize]
            .get_or_init(|| self.rows[row as usize].exe.iter().filter_map(|e| glob::Pattern::new(e).ok()).collect());
        if pats.is_empty() {
            return None;
        }
        let exe = format::normalise_path(exe);
        Some(pats.iter().any(|p| p.matches(&exe)))
    }

    /// The generic class of a program name, if it has one.
    pub fn class(&self, name: &str) -> Option<Class> {
        self.classes
            .get(name)
            .copied()
            .or_else(|| self.class_globs.iter().find(|(g, _)| g.matches(name)).map(|(_, c)| *c))
    }

    /// The kernel thread name `name` imitates, if it looks like one (`kworker/0:1`, `[kswapd0]`).
    pub fn kernel_thread_like(&self, name: &str) -> bool {
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        (name.starts_with('[') && name.ends_with(']'))
            || self.kernel_threads.iter().any(|p| bare.starts_with(p.as_str()))
    }

    /// Whether a hidden directory is one a developer tool installs into (`.cargo`, `.nvm`).
    pub fn is_tool_dir(&self, dir: &str) -> bool {
        let dir = dir.to_lowercase();
        self.tool_dirs.contains(&dir)
    }
}
