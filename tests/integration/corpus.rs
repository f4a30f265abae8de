//! The fuzzers' saved corpora (and any crash regressions) replayed through the same checks as the fuzz targets, so
//! CI exercises what fuzzing found without running a fuzzer. Directories: `fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/`.

use portwarden::text::{decode_bytes, escape, has_ci_command, is_unsafe_char};
use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files = Vec::new();
    for dir in [root.join("corpus").join(target), root.join("regressions").join(target)] {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            files.extend(entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()));
        }
    }
    files.sort();
    files
}

#[test]
fn policy_corpus() {
    let files = inputs("policy");
    assert!(!files.is_empty(), "no saved corpus for the policy fuzzer");
    for f in files {
        let data = std::fs::read(&f).unwrap();
        if let Ok(text) = std::str::from_utf8(&data) {
            if let Err(e) = portwarden::policy::Policy::parse(text, Path::new("f.toml")) {
                assert!(e.to_string().starts_with("f.toml:"), "{}: {e}", f.display());
            }
        }
    }
}

#[test]
fn registry_csv_corpus() {
    let files = inputs("registry_csv");
    assert!(!files.is_empty(), "no saved corpus for the registry CSV fuzzer");
    for f in files {
        let data = std::fs::read(&f).unwrap();
        match portwarden::registry::format::parse(data.as_slice()) {
            Ok(t) => {
                assert!(t.entries.windows(2).all(|w| w[0].start <= w[1].start), "{}", f.display());
                assert!(t.entries.iter().all(|e| e.start <= e.end && e.bounds[12] as usize <= t.blob.len()));
            }
            Err(e) => assert!(e.line >= 1, "{}", f.display()),
        }
    }
}

#[test]
fn escape_corpus() {
    let files = inputs("escape");
    assert!(!files.is_empty(), "no saved corpus for the escape fuzzer");
    for f in files {
        let data = std::fs::read(&f).unwrap();
        let text = decode_bytes(&data);
        assert!(!escape(&text).chars().any(is_unsafe_char), "{}", f.display());
        assert!(!has_ci_command(&escape(&text)), "{}", f.display());
        if std::str::from_utf8(&data).is_ok() {
            assert_eq!(text.as_bytes(), data.as_slice());
        }
    }
}

#[test]
fn snapshot_corpus() {
    let files = inputs("snapshot");
    assert!(!files.is_empty(), "no saved corpus for the snapshot fuzzer");
    for f in files {
        let data = std::fs::read(&f).unwrap();
        if let Err(e) = portwarden::history::parse(&data, "f.json") {
            assert!(e.to_string().starts_with("f.json"), "{}: {e}", f.display());
        }
    }
}

#[test]
fn knowledge_corpus() {
    use portwarden::verdict::knowledge::format;
    let files = inputs("knowledge");
    assert!(!files.is_empty(), "no saved corpus for the knowledge table fuzzer");
    for f in files {
        let data = std::fs::read(&f).unwrap();
        let Some((&which, rest)) = data.split_first() else { continue };
        let Ok(text) = std::str::from_utf8(rest) else { continue };
        let refused = match which % 4 {
            0 => format::parse_listeners(text).err(),
            1 => format::parse_programs(text).err(),
            2 => format::parse_words(text, &format::KERNEL_THREADS_HEADER).err(),
            _ => format::parse_words(text, &format::TOOL_DIRS_HEADER).err(),
        };
        if let Some(e) = refused {
            assert!(e.starts_with("line "), "{}: {e}", f.display());
        }
    }
    // The seeds are excerpts of the real tables and parse.
    let seed =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/knowledge/seed-listeners")).unwrap();
    assert!(format::parse_listeners(std::str::from_utf8(&seed[1..]).unwrap()).is_ok());
}
