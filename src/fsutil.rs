//! File writing that never leaves a half-written or clobbered file: temp file in the same directory, then rename.

use anyhow::Context;
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically: a temporary file beside it is written, flushed to disk and renamed over
/// `path`. On any error `path` is left as it was and the temporary file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write(path, bytes, true)
}

/// Like [`write_atomic`] but refuses to replace an existing file (the check and the rename are one step: the
/// temporary file is hard-linked into place, which fails if `path` exists).
pub fn write_new_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write(path, bytes, false)
}

fn write(path: &Path, bytes: &[u8], clobber: bool) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".portwarden-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes).with_context(|| format!("cannot write {}", tmp.path().display()))?;
    tmp.as_file().sync_all().with_context(|| format!("cannot flush {}", tmp.path().display()))?;
    let placed = if clobber { tmp.persist(path) } else { tmp.persist_noclobber(path) };
    placed.map_err(|e| e.error).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_noclobber_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert!(write_new_atomic(&p, b"three").is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "no temporary file left behind: {names:?}");
    }
}
