//! The append-only file `watch --record` writes: one complete JSON line per write (see [`super::snapshot`]).

use crate::fsutil;
use anyhow::Context;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The append-only recording file.
pub struct Recording {
    file: File,
    /// Where it is, for messages.
    pub path: PathBuf,
}

impl Recording {
    /// Opens `path` for appending, creating it (mode 0600) if needed. Refuses what [`fsutil::open_append`]
    /// refuses (a symbolic link, a FIFO or other non-regular file, another user's file, a hard link, a file others
    /// can write), and a file that ends in the middle of a line (a recorder killed while writing): new events would
    /// be glued to that half line.
    pub fn open(path: &Path) -> anyhow::Result<Recording> {
        let mut file = fsutil::open_append(path).context("cannot open the recording for appending")?;
        let meta = file.metadata().with_context(|| format!("{}: cannot read its metadata", path.display()))?;
        if meta.len() > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::End(-1))
                .and_then(|_| file.read_exact(&mut last))
                .with_context(|| format!("{}: cannot read the end of the recording", path.display()))?;
            if last[0] != b'\n' {
                anyhow::bail!(
                    "{}: the file does not end with a complete line (a recorder was killed while writing, or it is \
                     not a recording): record to a new file, or remove its incomplete last line first",
                    path.display()
                );
            }
        }
        Ok(Recording { file, path: path.to_path_buf() })
    }

    /// Appends one complete line with a single write, so a reader never sees a half line from us (unless we are
    /// killed inside the write).
    pub fn write(&mut self, line: &[u8]) -> anyhow::Result<()> {
        self.file
            .write_all(line)
            .and_then(|()| self.file.flush())
            .with_context(|| format!("{}: cannot append to the recording", self.path.display()))
    }

    pub fn sync(&mut self) -> anyhow::Result<()> {
        self.file.sync_data().with_context(|| format!("{}: cannot flush the recording to disk", self.path.display()))
    }
}
