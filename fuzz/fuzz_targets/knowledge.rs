//! Fuzz target: the knowledge table parsers (`registry/knowledge/*.csv`) never panic, every refusal starts with
//! `line N:`, and every row they accept keeps the promises the verdict relies on.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portwarden::verdict::knowledge::format::{self, Exposed};

fn refusal(e: &str) {
    assert!(e.starts_with("line "), "{e}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let shown_safe = |s: &str| !s.chars().any(|c| c.is_control() || portwarden::text::is_unsafe_char(c));
    match which % 4 {
        0 => match format::parse_listeners(text) {
            Ok(rows) => {
                for r in rows {
                    assert!(r.line >= 2 && r.os != 0 && r.os <= 7, "{r:?}");
                    assert!(r.tcp || r.udp, "{r:?}");
                    assert!(r.ports.iter().all(|&(a, b)| a >= 1 && a <= b), "{r:?}");
                    assert!(!r.ports.is_empty() || r.dynamic, "{r:?}");
                    assert!(!r.what.is_empty() && (r.exposed == Exposed::Normal || !r.risk.is_empty()), "{r:?}");
                    assert!(r.programs.iter().all(|p| !p.is_empty() && !p.contains('*')), "{r:?}");
                    assert!(r.exe.is_empty() || !r.programs.is_empty(), "{r:?}");
                    assert!(r.source.starts_with("http"), "{r:?}");
                    assert!(shown_safe(&r.what) && shown_safe(&r.risk), "{r:?}");
                }
            }
            Err(e) => refusal(&e),
        },
        1 => match format::parse_programs(text) {
            Ok(rows) => {
                for (i, r) in rows.iter().enumerate() {
                    assert!(!r.name.is_empty() && !r.name.contains(['/', '\\', ' ']), "{r:?}");
                    assert!(rows[..i].iter().all(|o| o.name != r.name), "{r:?} twice");
                }
            }
            Err(e) => refusal(&e),
        },
        2 => match format::parse_words(text, &format::KERNEL_THREADS_HEADER) {
            Ok(words) => assert!(words.iter().all(|w| !w.is_empty() && shown_safe(w))),
            Err(e) => refusal(&e),
        },
        _ => match format::parse_words(text, &format::TOOL_DIRS_HEADER) {
            Ok(words) => assert!(words.iter().all(|w| !w.is_empty() && shown_safe(w))),
            Err(e) => refusal(&e),
        },
    }
});
