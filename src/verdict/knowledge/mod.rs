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

/// The tables as `build.rs` checked them, compiled in.
mod builtin {
    use super::{Class, Exposed};

    /// One row of `listeners.csv` as static data.
    pub(super) struct StaticRow {
        pub line: usize,
        pub os: u8,
        pub programs: &'static [&'static str],
        pub exe: &'static [&'static str],
        pub ports: &'static [(u16, u16)],
        pub dynamic: bool,
        pub tcp: bool,
        pub udp: bool,
        pub exposed: Exposed,
        pub secure_if: &'static [&'static str],
        pub what: &'static str,
        pub risk: &'static str,
        pub source: &'static str,
    }

    include!(concat!(env!("OUT_DIR"), "/knowledge_data.rs"));
}

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
    /// Which ports some row names itself (not as part of the dynamic range), one bit per port.
    own_ports: Vec<u64>,
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
    /// The built-in tables (indexed once, on first use; `build.rs` has already checked every row).
    pub fn get() -> &'static Knowledge {
        static K: OnceLock<Knowledge> = OnceLock::new();
        K.get_or_init(|| {
            let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            let rows = builtin::LISTENERS
                .iter()
                .map(|r| ListenerRow {
                    line: r.line,
                    os: r.os,
                    programs: owned(r.programs),
                    exe: owned(r.exe),
                    ports: r.ports.to_vec(),
                    dynamic: r.dynamic,
                    tcp: r.tcp,
                    udp: r.udp,
                    exposed: r.exposed,
                    secure_if: owned(r.secure_if),
                    what: r.what.to_string(),
                    risk: r.risk.to_string(),
                    source: r.source.to_string(),
                })
                .collect();
            let programs = builtin::PROGRAMS
                .iter()
                .map(|&(name, class)| format::ProgramRow {
                    line: 0,
                    name: name.to_string(),
                    class,
                    source: String::new(),
                })
                .collect();
            Knowledge::from_rows(rows, programs, owned(builtin::KERNEL_THREADS), owned(builtin::TOOL_DIRS))
        })
    }

    /// Parses and indexes tables given as text (tests, fuzzing): errors name the file and line.
    pub fn from_texts(listeners: &str, programs: &str, kthreads: &str, tool_dirs: &str) -> Result<Knowledge, String> {
        let rows = format::parse_listeners(listeners).map_err(|e| format!("listeners.csv: {e}"))?;
        let programs = format::parse_programs(programs).map_err(|e| format!("programs.csv: {e}"))?;
        let kernel_threads = format::parse_words(kthreads, &format::KERNEL_THREADS_HEADER)
            .map_err(|e| format!("kernel-threads.csv: {e}"))?;
        let tool_dirs =
            format::parse_words(tool_dirs, &format::TOOL_DIRS_HEADER).map_err(|e| format!("tool-dirs.csv: {e}"))?;
        Ok(Knowledge::from_rows(rows, programs, kernel_threads, tool_dirs))
    }

    fn from_rows(
        rows: Vec<ListenerRow>,
        programs: Vec<format::ProgramRow>,
        kernel_threads: Vec<String>,
        tool_dirs: Vec<String>,
    ) -> Knowledge {
        let mut k = Knowledge {
            exe: Vec::with_capacity(rows.len()),
            by_port: FxHashMap::default(),
            wide: Vec::new(),
            own_ports: vec![0; 1024],
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
            for &(a, b) in &row.ports {
                for p in a..=b {
                    k.own_ports[usize::from(p) / 64] |= 1 << (p % 64);
                }
            }
            if row.dynamic || span > 64 {
                k.wide.push(i);
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
                // build.rs (or the parser) checked the pattern; one that does not compile names nothing.
                if let Ok(g) = glob::Pattern::new(&p.name) {
                    k.class_globs.push((g, p.class));
                }
            } else {
                k.classes.insert(p.name, p.class);
            }
        }
        k.rows = rows;
        k
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
        self.own_ports[usize::from(port) / 64] & (1 << (port % 64)) != 0
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

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "os,programs,exe,ports,proto,exposed,secure_if,what,risk,source\n";
    const SRC: &str = "https://example.org/doc";

    fn listeners(body: &str) -> Result<Vec<ListenerRow>, String> {
        format::parse_listeners(&format!("{H}{body}"))
    }

    #[test]
    fn bad_rows_are_refused_with_their_line() {
        let cases = [
            ("linux,sshd,,22,tcp,normal,,OpenSSH,,not-a-url\n".to_string(), "line 2: source"),
            (format!("mars,sshd,,22,tcp,normal,,OpenSSH,,{SRC}\n"), "line 2: os \"mars\""),
            (format!("linux,sshd,,70000,tcp,normal,,OpenSSH,,{SRC}\n"), "line 2: port \"70000\""),
            (format!("linux,sshd,,30-20,tcp,normal,,OpenSSH,,{SRC}\n"), "ends before it starts"),
            (format!("linux,sshd,,22,sctp,normal,,OpenSSH,,{SRC}\n"), "proto \"sctp\""),
            (format!("linux,sshd,,22,tcp,open,,OpenSSH,,{SRC}\n"), "exposed \"open\""),
            (format!("linux,redis,,6379,tcp,dangerous,,Redis,,{SRC}\n"), "`risk` is empty"),
            (format!("linux,sshd,,22,tcp,normal,,,,{SRC}\n"), "`what` is empty"),
            (format!("linux,sshd,sbin/sshd,22,tcp,normal,,OpenSSH,,{SRC}\n"), "absolute path"),
            (format!("linux,*,/usr/sbin/x,22,tcp,review,,X,r,{SRC}\n"), "need program names"),
            (format!("linux,sshd,,22,tcp,normal,,Open\u{202e}SSH,,{SRC}\n"), "invisible"),
            (
                format!("linux,sshd,,22,tcp,normal,,OpenSSH,,{SRC}\nlinux,sshd,,22,tcp,normal,,again,,{SRC}\n"),
                "line 3: the same",
            ),
            ("linux,sshd,,22,tcp,normal,,OpenSSH\n".to_string(), "line 2: 8 fields"),
        ];
        for (text, wanted) in cases {
            let e = listeners(&text).expect_err(&text);
            assert!(e.contains(wanted), "{text:?}: {e}");
        }
        assert!(format::parse_listeners("os,programs\n").unwrap_err().starts_with("line 1: expected the header"));
        let e = format::parse_programs("name,class,source\nbash,wizard,https://x.org/a\n").unwrap_err();
        assert!(e.starts_with("line 2: class \"wizard\""), "{e}");
    }

    #[test]
    fn the_builtin_tables_hold_their_promises() {
        let k = Knowledge::get();
        assert!(k.rows.len() >= 300, "aim wide: {} rows", k.rows.len());
        for (os, bit) in [(Os::Linux, format::LINUX), (Os::Macos, format::MACOS), (Os::Windows, format::WINDOWS)] {
            let n = k.rows.iter().filter(|r| r.os & bit != 0).count();
            assert!(n >= 40, "{os:?}: {n} rows");
        }
        for r in &k.rows {
            assert!(r.source.starts_with("http"), "line {}: {}", r.line, r.source);
            assert!(!r.what.is_empty() && (r.exposed == Exposed::Normal || !r.risk.is_empty()), "line {}", r.line);
            assert!(r.programs.iter().all(|p| *p == p.to_lowercase() && !p.ends_with(".exe")), "line {}", r.line);
        }
        // A few facts the verdict rests on, one per kind of row.
        let what = |port, proto, os| -> Vec<String> {
            k.at_port(port, proto, os).iter().map(|&i| k.rows[i as usize].what.clone()).collect()
        };
        assert!(what(22, Protocol::Tcp, Os::Linux).iter().any(|w| w.contains("OpenSSH")));
        let redis = k.at_port(6379, Protocol::Tcp, Os::Linux);
        assert!(redis.iter().all(|&i| k.rows[i as usize].exposed == Exposed::Dangerous));
        assert!(what(5000, Protocol::Tcp, Os::Macos).iter().any(|w| w.contains("AirPlay")));
        let lsass: Vec<u32> = k.of_program("lsass", Os::Windows).collect();
        assert!(k.at_port(49666, Protocol::Tcp, Os::Windows).iter().any(|i| lsass.contains(i)));
        assert_eq!(k.class("bash"), Some(Class::Shell));
        assert_eq!(k.class("python3.12"), Some(Class::Interpreter), "globs in programs.csv");
        assert_eq!(k.class("docker-proxy"), Some(Class::Proxy));
        assert!(
            k.kernel_thread_like("kworker/0:1") && k.kernel_thread_like("[kswapd0]") && !k.kernel_thread_like("nginx")
        );
        assert!(k.is_tool_dir(".cargo") && !k.is_tool_dir(".x"));
        // Linux truncates names to 15 bytes: the cut name finds the row of the whole one.
        assert!(k.of_program("kube-controller", Os::Linux).next().is_some());
    }

    #[test]
    fn the_text_tables_and_the_compiled_ones_agree() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("registry/knowledge");
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
        let parsed = Knowledge::from_texts(
            &read("listeners.csv"),
            &read("programs.csv"),
            &read("kernel-threads.csv"),
            &read("tool-dirs.csv"),
        )
        .unwrap();
        let built = Knowledge::get();
        assert_eq!(parsed.rows.len(), built.rows.len());
        for (a, b) in parsed.rows.iter().zip(&built.rows) {
            assert_eq!(
                (a.line, &a.programs, &a.ports, a.exposed, &a.what),
                (b.line, &b.programs, &b.ports, b.exposed, &b.what)
            );
        }
    }
}
