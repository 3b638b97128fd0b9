//! The index directory: its writer lock and the removal of files no commit refers to.
//!
//! One writer at a time holds an exclusive advisory lock (`flock`) on `dir/LOCK`. The
//! operating system drops the lock when the process exits, so a writer killed mid-commit
//! never leaves the index locked. Readers take no lock: they read the manifest and map the
//! files it names, which are never modified in place.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::store::fsutil::{is_temp_name, sync_dir};
use crate::store::manifest::{MANIFEST_FILE, Manifest};

/// File name of the writer lock.
pub const LOCK_FILE: &str = "LOCK";

/// The exclusive right to commit to one index directory, held until dropped.
#[derive(Debug)]
pub struct WriterLock {
    file: File,
    dir: PathBuf,
}

impl WriterLock {
    /// Takes the lock, or fails at once with [`Error::Locked`] if another writer holds it.
    pub fn acquire(dir: &Path) -> Result<WriterLock> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(WriterLock {
                file,
                dir: dir.to_path_buf(),
            }),
            Err(TryLockError::WouldBlock) => Err(Error::Locked {
                path: dir.to_path_buf(),
            }),
            Err(TryLockError::Error(e)) => Err(Error::io(&path, e)),
        }
    }

    /// The locked directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Removes store files that `manifest` (just committed) does not name: segments and
    /// tombstones of replaced or never-committed states, and leftover temporary files.
    /// Files the store did not create are left alone. Returns how many were removed.
    pub fn collect_garbage(&self, manifest: &Manifest) -> Result<usize> {
        let live: Vec<&str> = manifest.files().collect();
        let entries = std::fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let mut removed = 0;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&self.dir, e))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let ours = name.starts_with("seg-")
                && (name.ends_with(".ccs") || name.ends_with(".del"))
                || is_temp_name(&name);
            if ours && name != MANIFEST_FILE && !live.contains(&name.as_str()) {
                let path = entry.path();
                match std::fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(&path, e)),
                }
            }
        }
        if removed > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(removed)
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_writer_is_refused_until_the_first_drops() {
        let dir = tempfile::tempdir().unwrap();
        let first = WriterLock::acquire(dir.path()).unwrap();
        assert!(matches!(
            WriterLock::acquire(dir.path()),
            Err(Error::Locked { .. })
        ));
        drop(first);
        WriterLock::acquire(dir.path()).unwrap();
    }
}
