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

/// True when a file belongs to root or to the effective user: its contents are then ours to quote in messages. Other
/// files (another user's, chosen through an environment variable under sudo) are read but never quoted. Always true
/// where files have no owners.
pub fn is_ours(meta: &std::fs::Metadata) -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let euid = unsafe { libc::geteuid() };
        meta.uid() == 0 || meta.uid() == euid
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = meta;
        true
    }
}

/// Opens a file portwarden keeps for itself (the imported registry) only if it is a regular file that belongs to
/// root or to us, never following a symbolic link at its last component (`O_NOFOLLOW`) and never blocking on a FIFO
/// or device. The refusal names the file but says nothing of its contents.
pub fn open_own_regular(path: &Path) -> anyhow::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    #[cfg(not(target_os = "linux"))]
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        anyhow::bail!("{} is a symbolic link; refusing to follow it", path.display());
    }
    let file = match options.open(path) {
        Ok(f) => f,
        #[cfg(target_os = "linux")]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            anyhow::bail!("{} is a symbolic link; refusing to follow it", path.display())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
    };
    let meta = file.metadata().with_context(|| format!("cannot read the status of {}", path.display()))?;
    if !meta.is_file() {
        anyhow::bail!("{} is not a regular file; refusing to read it", path.display());
    }
    if !is_ours(&meta) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            anyhow::bail!(
                "{} belongs to uid {}, neither root nor you; refusing to read it",
                path.display(),
                meta.uid()
            );
        }
    }
    Ok(file)
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

    #[cfg(target_os = "linux")]
    #[test]
    fn own_files_are_opened_without_links_fifos_or_devices() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.csv");
        std::fs::write(&real, "secret\n").unwrap();
        assert!(open_own_regular(&real).is_ok());
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let e = open_own_regular(&link).unwrap_err().to_string();
        assert!(e.contains("symbolic link") && !e.contains("secret\n"), "{e}");
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = open_own_regular(&fifo).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        assert!(open_own_regular(Path::new("/dev/null")).unwrap_err().to_string().contains("not a regular file"));
    }
}
