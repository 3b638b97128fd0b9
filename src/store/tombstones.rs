//! Tombstones: the deleted rows of a segment, kept as a roaring bitmap of row numbers.
//!
//! Each tombstone file holds one bitmap in the portable roaring format (readable by
//! CRoaring and pyroaring). A file is written once under a name that includes the commit
//! generation, so a delete never overwrites the file a reader may still be using; the
//! manifest names the current file with its CRC32, which is checked on load.

use std::path::Path;

use roaring::RoaringBitmap;

use crate::error::{Error, Result};
use crate::store::fsutil::atomic_write;
use crate::store::manifest::TombstoneEntry;

/// The tombstone file name for segment number `segment` at commit `generation`.
pub fn tombstone_name(segment_file: &str, generation: u64) -> String {
    let stem = segment_file.strip_suffix(".ccs").unwrap_or(segment_file);
    format!("{stem}-g{generation}.del")
}

/// Writes `deleted` to `dir/name` atomically and returns its manifest entry.
pub fn write_tombstones(dir: &Path, name: &str, deleted: &RoaringBitmap) -> Result<TombstoneEntry> {
    let mut bytes = Vec::with_capacity(deleted.serialized_size());
    deleted
        .serialize_into(&mut bytes)
        .map_err(|e| Error::io(dir.join(name), e))?;
    atomic_write(dir, name, |w| std::io::Write::write_all(w, &bytes))?;
    Ok(TombstoneEntry {
        file: name.to_string(),
        deleted: deleted.len(),
        crc32: crc32fast::hash(&bytes),
    })
}

/// Parses tombstone bytes and checks them against the manifest entry and segment size.
pub fn parse_tombstones(
    path: &Path,
    bytes: &[u8],
    entry: &TombstoneEntry,
    rows: u64,
) -> Result<RoaringBitmap> {
    let crc = crc32fast::hash(bytes);
    if crc != entry.crc32 {
        return Err(Error::ChecksumMismatch {
            path: path.to_path_buf(),
            block: "tombstones".to_string(),
            expected: entry.crc32,
            found: crc,
        });
    }
    let corrupt = |what: &str, expected: String, found: String| Error::Corrupt {
        path: path.to_path_buf(),
        what: what.to_string(),
        expected,
        found,
    };
    let bitmap = RoaringBitmap::deserialize_from(bytes).map_err(|e| {
        corrupt(
            "roaring bitmap",
            "portable roaring format".into(),
            e.to_string(),
        )
    })?;
    if bitmap.len() != entry.deleted {
        return Err(corrupt(
            "deleted row count",
            entry.deleted.to_string(),
            bitmap.len().to_string(),
        ));
    }
    if let Some(max) = bitmap.max()
        && u64::from(max) >= rows
    {
        return Err(corrupt(
            "deleted row",
            format!("below the segment's {rows} rows"),
            max.to_string(),
        ));
    }
    Ok(bitmap)
}

/// Reads and checks the tombstone file named by `entry`.
pub fn read_tombstones(dir: &Path, entry: &TombstoneEntry, rows: u64) -> Result<RoaringBitmap> {
    let path = dir.join(&entry.file);
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    parse_tombstones(&path, &bytes, entry, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_checks() {
        let dir = tempfile::tempdir().unwrap();
        let deleted: RoaringBitmap = [0u32, 5, 9].into_iter().collect();
        let entry = write_tombstones(dir.path(), "t.del", &deleted).unwrap();
        assert_eq!(entry.deleted, 3);
        assert_eq!(read_tombstones(dir.path(), &entry, 10).unwrap(), deleted);
        // Row 9 does not exist in a 9-row segment.
        assert!(read_tombstones(dir.path(), &entry, 9).is_err());
        let wrong_count = TombstoneEntry {
            deleted: 2,
            ..entry.clone()
        };
        assert!(read_tombstones(dir.path(), &wrong_count, 10).is_err());
        let mut bytes = std::fs::read(dir.path().join("t.del")).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(matches!(
            parse_tombstones(Path::new("t"), &bytes, &entry, 10),
            Err(Error::ChecksumMismatch { .. })
        ));
        assert_eq!(tombstone_name("seg-000003.ccs", 7), "seg-000003-g7.del");
    }
}
