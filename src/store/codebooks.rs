//! Codebook files: the `M × K × dsub` f32 codewords of one PQ column, beside the
//! segments of an index directory.
//!
//! Every segment's codes of a column are scored against the same lookup tables, so the
//! codebooks are stored once per column, not per segment. The file is written once, when
//! the index is created (atomically, like every store file), and named by the manifest
//! together with the CRC32 of its bytes ([`CodebookEntry`]), so a torn or swapped file is
//! an error at open.
//!
//! Layout (little-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | magic `XCCPQB\r\n` |
//! | 8..12 | format version (1) |
//! | 12..16 | `M` |
//! | 16..20 | `nbits` (4 or 8) |
//! | 20..24 | `dsub` |
//! | 24..28 | CRC32 of the data |
//! | 28..32 | CRC32 of bytes 0..28 |
//! | 32..64 | reserved, zero |
//! | 64.. | `M · 2^nbits · dsub` f32, row-major |

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::code::pq::PqCodebooks;
use crate::error::{Error, Result};
use crate::store::fsutil::atomic_write;

/// The eight bytes every codebook file starts with.
pub const MAGIC: [u8; 8] = *b"XCCPQB\r\n";
/// The codebook file format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
const HEADER: usize = 64;
/// Largest codebook file accepted (a guard against reading an absurd file whole).
const MAX_FILE_BYTES: u64 = 1 << 32;

/// A codebook file named by the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodebookEntry {
    /// Name of the PQ column the codebooks belong to.
    pub column: String,
    /// File name inside the index directory.
    pub file: String,
    /// CRC32 of the whole file.
    pub crc32: u32,
}

/// The file name of column `col`'s codebooks.
pub fn codebook_name(col: usize) -> String {
    format!("pqbooks-{col}.ccb")
}

/// The bytes of a codebook file.
pub fn encode(books: &PqCodebooks) -> Vec<u8> {
    let data: Vec<u8> = books
        .as_slice()
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let mut out = vec![0u8; HEADER];
    out[0..8].copy_from_slice(&MAGIC);
    out[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    out[12..16].copy_from_slice(&(books.m() as u32).to_le_bytes());
    out[16..20].copy_from_slice(&u32::from(books.nbits()).to_le_bytes());
    out[20..24].copy_from_slice(&(books.dsub() as u32).to_le_bytes());
    out[24..28].copy_from_slice(&crc32fast::hash(&data).to_le_bytes());
    let crc = crc32fast::hash(&out[..28]);
    out[28..32].copy_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&data);
    out
}

/// Writes `books` to `dir/name` atomically and returns its manifest entry.
pub fn write_codebooks(
    dir: &Path,
    name: &str,
    column: &str,
    books: &PqCodebooks,
) -> Result<CodebookEntry> {
    let bytes = encode(books);
    atomic_write(dir, name, |w| w.write_all(&bytes))?;
    Ok(CodebookEntry {
        column: column.to_string(),
        file: name.to_string(),
        crc32: crc32fast::hash(&bytes),
    })
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parses codebook file bytes; `path` names the file in errors.
pub fn decode(path: &Path, bytes: &[u8]) -> Result<PqCodebooks> {
    let corrupt = |what: &str, expected: String, found: String| Error::Corrupt {
        path: path.to_path_buf(),
        what: what.to_string(),
        expected,
        found,
    };
    if bytes.len() < HEADER {
        return Err(corrupt(
            "file length",
            format!("at least {HEADER} bytes"),
            bytes.len().to_string(),
        ));
    }
    if bytes[0..8] != MAGIC {
        return Err(corrupt(
            "magic",
            format!("{:?}", String::from_utf8_lossy(&MAGIC)),
            format!("{:?}", String::from_utf8_lossy(&bytes[0..8])),
        ));
    }
    let version = u32_at(bytes, 8);
    if version != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            path: path.to_path_buf(),
            expected: FORMAT_VERSION,
            found: version,
        });
    }
    let (recorded, actual) = (u32_at(bytes, 28), crc32fast::hash(&bytes[..28]));
    if recorded != actual {
        return Err(Error::ChecksumMismatch {
            path: path.to_path_buf(),
            block: "codebook header".to_string(),
            expected: recorded,
            found: actual,
        });
    }
    if bytes[32..HEADER].iter().any(|&b| b != 0) {
        return Err(corrupt(
            "reserved bytes 32..64",
            "zero".into(),
            "non-zero".into(),
        ));
    }
    let (m, nbits, dsub) = (
        u32_at(bytes, 12) as usize,
        u32_at(bytes, 16),
        u32_at(bytes, 20) as usize,
    );
    if nbits != 4 && nbits != 8 {
        return Err(corrupt("nbits", "4 or 8".into(), nbits.to_string()));
    }
    let data = &bytes[HEADER..];
    let expected = m
        .checked_mul(1 << nbits)
        .and_then(|x| x.checked_mul(dsub))
        .and_then(|x| x.checked_mul(4));
    if expected != Some(data.len()) {
        return Err(corrupt(
            "data length",
            format!("M·K·dsub·4 = {m}·{}·{dsub}·4 bytes", 1u32 << nbits),
            data.len().to_string(),
        ));
    }
    let (recorded, actual) = (u32_at(bytes, 24), crc32fast::hash(data));
    if recorded != actual {
        return Err(Error::ChecksumMismatch {
            path: path.to_path_buf(),
            block: "codebook data".to_string(),
            expected: recorded,
            found: actual,
        });
    }
    let values: Vec<f32> = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    PqCodebooks::new(m, nbits as u8, dsub, values)
        .map_err(|e| corrupt("codebooks", "valid PQ codebooks".into(), e.to_string()))
}

/// Reads the codebook file `entry` names in `dir`, checking the manifest's CRC first.
pub fn read_codebooks(dir: &Path, entry: &CodebookEntry) -> Result<PqCodebooks> {
    let path = dir.join(&entry.file);
    let len = std::fs::metadata(&path)
        .map_err(|e| Error::io(&path, e))?
        .len();
    if len > MAX_FILE_BYTES {
        return Err(Error::Corrupt {
            path,
            what: "file length".to_string(),
            expected: format!("at most {MAX_FILE_BYTES} bytes"),
            found: len.to_string(),
        });
    }
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let found = crc32fast::hash(&bytes);
    if found != entry.crc32 {
        return Err(Error::ChecksumMismatch {
            path,
            block: "codebook file".to_string(),
            expected: entry.crc32,
            found,
        });
    }
    decode(&path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn books() -> PqCodebooks {
        let mut rng = Rng::new(4);
        PqCodebooks::new(3, 4, 2, (0..3 * 16 * 2).map(|_| rng.normal()).collect()).unwrap()
    }

    #[test]
    fn round_trips_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let b = books();
        let entry = write_codebooks(dir.path(), &codebook_name(0), "code", &b).unwrap();
        assert_eq!(entry.file, "pqbooks-0.ccb");
        assert_eq!(read_codebooks(dir.path(), &entry).unwrap(), b);
        let bytes = std::fs::read(dir.path().join(&entry.file)).unwrap();
        assert_eq!(bytes.len(), 64 + 3 * 16 * 2 * 4);
        // The data starts at byte 64, little-endian f32 in M × K × dsub order.
        assert_eq!(
            f32::from_le_bytes(bytes[64..68].try_into().unwrap()),
            b.as_slice()[0]
        );
    }

    #[test]
    fn every_byte_flip_and_cut_is_an_error() {
        let good = encode(&books());
        for at in 0..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 0x41;
            assert!(decode(Path::new("b"), &bad).is_err(), "flip at {at}");
        }
        for cut in 0..good.len() {
            assert!(
                decode(Path::new("b"), &good[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let entry = write_codebooks(dir.path(), "b.ccb", "code", &books()).unwrap();
        let wrong = CodebookEntry {
            crc32: entry.crc32 ^ 1,
            ..entry
        };
        assert!(matches!(
            read_codebooks(dir.path(), &wrong),
            Err(Error::ChecksumMismatch { .. })
        ));
    }
}
