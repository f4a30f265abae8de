//! Writing files safely where other users may write too (portwarden often runs as root in shared directories).
//!
//! Every file portwarden writes goes through here, and:
//! * a path whose last component is a symbolic link is never followed (`O_NOFOLLOW`), nor replaced;
//! * an existing file is used only if it is a regular file (a FIFO or device is refused without blocking: it is
//!   opened `O_NONBLOCK` and checked before anything is written), owned by the user portwarden runs as and with a
//!   single link (no hard link to someone else's file); one to be replaced must also not be writable by group or
//!   others;
//! * new files are created `O_EXCL` with mode 0600;
//! * whole-file writes are atomic: a temporary file (`O_EXCL|O_NOFOLLOW`, 0600) in the target's directory is
//!   written and flushed to disk, renamed over the target, and the directory is flushed so the rename survives a
//!   crash. On any error the target is left as it was and the temporary file is removed.
//!
//! Errors name the file and say what was refused.

use anyhow::{bail, Context};
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

/// Flags and the effective uid, from libc on Linux (its only dependency there) and from the system headers' values
/// on other Unix systems.
#[cfg(target_os = "linux")]
mod sys {
    pub const O_NOFOLLOW: i32 = libc::O_NOFOLLOW;
    pub const O_NONBLOCK: i32 = libc::O_NONBLOCK;
    pub const ELOOP: i32 = libc::ELOOP;

    pub fn effective_uid() -> Option<u32> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        Some(unsafe { libc::geteuid() })
    }
}

/// macOS and the BSDs (`<sys/fcntl.h>`, `<sys/errno.h>`).
#[cfg(all(unix, not(target_os = "linux")))]
mod sys {
    pub const O_NOFOLLOW: i32 = 0x0100;
    pub const O_NONBLOCK: i32 = 0x0004;
    pub const ELOOP: i32 = 62;

    /// Not known without libc: the owner check is left to the other checks there.
    pub fn effective_uid() -> Option<u32> {
        None
    }
}

/// Opens `path` for reading and appending, creating it (mode 0600) if it does not exist. An existing file must be a
/// regular file that we own, with one link (see the module's rules).
pub fn open_append(path: &Path) -> anyhow::Result<File> {
    // A file removed between our two attempts is looked for again, a few times.
    for _ in 0..3 {
        let mut create = OpenOptions::new();
        create.read(true).append(true).create_new(true);
        no_follow(&mut create, 0o600);
        match create.open(path) {
            Ok(file) => {
                sync_dir(&dir_of(path))?;
                return Ok(file);
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("{}: cannot create the file", path.display())),
        }
        let mut existing = OpenOptions::new();
        existing.read(true).append(true);
        no_follow(&mut existing, 0);
        match existing.open(path) {
            Ok(file) => {
                let meta = file.metadata().with_context(|| format!("{}: cannot read its metadata", path.display()))?;
                check_ours(path, &meta, false)?;
                return Ok(file);
            }
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(refusal(path, e)),
        }
    }
    bail!("{}: the file keeps appearing and disappearing; refusing to write to it", path.display())
}

/// Opens `path` for reading without following a symbolic link in its last component and without blocking on a
/// FIFO (`O_NOFOLLOW|O_NONBLOCK` on Unix): for paths another user may have planted something at. The caller checks
/// what it got (e.g. its inode) before using it.
pub fn open_read_no_follow(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    no_follow(&mut options, 0);
    options.open(path)
}

/// Writes `bytes` to `path` atomically: a temporary file beside it is written, flushed to disk and renamed over
/// `path`. An existing `path` must pass the module's checks (it is never a link, nor someone else's file). On any
/// error `path` is left as it was and the temporary file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write(path, bytes, true)
}

/// Like [`write_atomic`] but refuses to replace an existing file (the check and the placing are one step: the
/// temporary file is hard-linked into place, which fails if `path` exists, even as a dangling link).
pub fn write_new_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write(path, bytes, false)
}

/// Fails unless [`write_atomic`] may replace `path`: absent, or a file that passes the module's checks. For
/// commands that want to refuse before doing their work; the write checks again.
pub fn check_replaceable(path: &Path) -> anyhow::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) => check_ours(path, &meta, true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("{}: cannot read its metadata", path.display())),
    }
}

/// The directory a path's file is in.
fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A temporary file: removed on drop unless `keep` says it was placed.
struct Temp {
    path: PathBuf,
    keep: bool,
}

impl Drop for Temp {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn write(path: &Path, bytes: &[u8], clobber: bool) -> anyhow::Result<()> {
    let dir = dir_of(path);
    if clobber {
        check_replaceable(path)?;
    } else {
        refuse_existing(path)?;
    }
    let (mut file, mut tmp) = create_temp(&dir)?;
    file.write_all(bytes).with_context(|| format!("cannot write {}", tmp.path.display()))?;
    file.sync_all().with_context(|| format!("cannot flush {}", tmp.path.display()))?;
    drop(file);
    if clobber {
        std::fs::rename(&tmp.path, path).with_context(|| format!("cannot write {}", path.display()))?;
        tmp.keep = true;
    } else {
        std::fs::hard_link(&tmp.path, path).map_err(|e| {
            if e.kind() == ErrorKind::AlreadyExists {
                anyhow::anyhow!("{} exists; not overwriting it", path.display())
            } else {
                anyhow::Error::new(e).context(format!("cannot write {}", path.display()))
            }
        })?;
    }
    drop(tmp);
    sync_dir(&dir)
}

/// Says what is at `path` when something is (for a write that must not replace anything).
fn refuse_existing(path: &Path) -> anyhow::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            bail!("{}: is a symbolic link; refusing to follow or replace it", path.display())
        }
        Ok(_) => bail!("{} exists; not overwriting it", path.display()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("{}: cannot read its metadata", path.display())),
    }
}

/// Creates a new, empty temporary file in `dir`, private to us.
fn create_temp(dir: &Path) -> anyhow::Result<(File, Temp)> {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let mut last = None;
    for _ in 0..16 {
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!(".portwarden-{}-{nanos:08x}-{n}.tmp", std::process::id()));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        no_follow(&mut options, 0o600);
        match options.open(&path) {
            Ok(file) => return Ok((file, Temp { path, keep: false })),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e).with_context(|| format!("cannot create a temporary file in {}", dir.display())),
        }
    }
    let e = last.unwrap_or_else(|| std::io::Error::from(ErrorKind::AlreadyExists));
    Err(e).with_context(|| format!("cannot create a temporary file in {}", dir.display()))
}

/// Sets `O_NOFOLLOW|O_NONBLOCK` and, for files it creates, `mode` (Unix).
#[cfg(unix)]
fn no_follow(options: &mut OpenOptions, mode: u32) {
    use std::os::unix::fs::OpenOptionsExt;
    options.custom_flags(sys::O_NOFOLLOW | sys::O_NONBLOCK);
    if mode != 0 {
        options.mode(mode);
    }
}

#[cfg(not(unix))]
fn no_follow(_options: &mut OpenOptions, _mode: u32) {}

/// Turns a refused open into a message that says why.
fn refusal(path: &Path, e: std::io::Error) -> anyhow::Error {
    #[cfg(unix)]
    if e.raw_os_error() == Some(sys::ELOOP) {
        return anyhow::anyhow!("{}: is a symbolic link; refusing to follow it", path.display());
    }
    anyhow::Error::new(e).context(format!("{}: cannot open the file", path.display()))
}

/// Refuses an existing file that is not safe to write or replace: a link, not a regular file, someone else's,
/// hard-linked elsewhere, or (to be `replaced`) writable by group or others.
fn check_ours(path: &Path, meta: &std::fs::Metadata, replaced: bool) -> anyhow::Result<()> {
    let name = path.display();
    if meta.file_type().is_symlink() {
        bail!("{name}: is a symbolic link; refusing to follow or replace it");
    }
    if !meta.is_file() {
        bail!("{name}: is not a regular file (a FIFO, device, socket or directory); refusing to write to it");
    }
    #[cfg(not(unix))]
    let _ = replaced;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Some(euid) = sys::effective_uid() {
            if meta.uid() != euid {
                bail!(
                    "{name}: is owned by uid {}, not by the user portwarden runs as (uid {euid}); refusing to write \
                     to a file another user controls",
                    meta.uid()
                );
            }
        }
        if meta.nlink() > 1 {
            bail!(
                "{name}: is a hard link ({} links); refusing to write to a file that is also elsewhere",
                meta.nlink()
            );
        }
        if replaced && meta.mode() & 0o022 != 0 {
            bail!(
                "{name}: is writable by others (mode {:o}); refusing to write to it (chmod go-w it, or remove it)",
                meta.mode() & 0o7777
            );
        }
    }
    Ok(())
}

/// Flushes a directory's entries to disk (Unix; elsewhere the rename is all there is).
fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("{}: cannot flush the directory to disk", dir.display()))?;
    #[cfg(not(unix))]
    let _ = dir;
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

    #[cfg(unix)]
    #[test]
    fn links_and_open_files_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        for e in [open_append(&link).err(), write_atomic(&link, b"x").err(), write_new_atomic(&link, b"x").err()] {
            let e = format!("{:#}", e.unwrap());
            assert!(e.contains("symbolic link") && e.contains("link"), "{e}");
        }
        let hard = dir.path().join("hard");
        std::fs::hard_link(&victim, &hard).unwrap();
        assert!(format!("{:#}", open_append(&hard).unwrap_err()).contains("hard link"));
        std::fs::remove_file(&hard).unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o620)).unwrap();
        assert!(format!("{:#}", write_atomic(&victim, b"x").unwrap_err()).contains("writable by others"));
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        let new = dir.path().join("new");
        drop(open_append(&new).unwrap());
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&new).unwrap().mode() & 0o777, 0o600);
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
