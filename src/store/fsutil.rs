//! Durable file replacement: the one way the store puts a file in place.
//!
//! A file is written to a hidden temporary name in the target directory, flushed and
//! fsynced, renamed over its final name, and then the directory is fsynced so the rename
//! itself survives a crash. Readers therefore see either the old file or the complete new
//! one, never a partial write.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The temporary name used while `name` is being written.
pub fn temp_name(name: &str) -> String {
    format!(".{name}.tmp")
}

/// Whether a directory entry is a leftover temporary file from an interrupted write.
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
}

/// Fsyncs a directory so renames and removals in it are durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|e| Error::io(dir, e))?;
    d.sync_all().map_err(|e| Error::io(dir, e))
}

/// Writes `dir/name` atomically: `fill` writes the contents into a buffered temporary file
/// (which it may seek), then the file is fsynced, renamed into place and the directory fsynced.
pub fn atomic_write<F>(dir: &Path, name: &str, fill: F) -> Result<PathBuf>
where
    F: FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
{
    let tmp = dir.join(temp_name(name));
    let target = dir.join(name);
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| Error::io(&tmp, e))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let written = fill(&mut w).and_then(|()| w.flush());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(&tmp, e));
    }
    let file = w
        .into_inner()
        .map_err(|e| Error::io(&tmp, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(&tmp, e))?;
    drop(file);
    std::fs::rename(&tmp, &target).map_err(|e| Error::io(&target, e))?;
    sync_dir(dir)?;
    Ok(target)
}
