//! Streaming readers for code matrices and ids.
//!
//! [`CodeReader`] reads binary codes in chunks of rows from
//! - `.npy` `uint8` `(n, bits/8)`: packed codes, FAISS layout (bit `i` in byte `i/8`, LSB first);
//! - `.npy` `int8` or `float32` `(n, bits)`: packed by sign (`x > 0` is a one bit);
//! - raw `.bin`: `n × bits/8` packed bytes back to back (the code length must be given).
//!
//! [`IdReader`] reads ids in the same chunks from `.npy` `uint64` / `int64` `(n,)`
//! (negative ids are refused), or numbers rows `0..n` when no id file is given.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::code::BinaryCodes;
use crate::error::{Error, Result};
use crate::io::npy::{NpyDtype, open_npy};

/// Most input bytes one [`CodeReader::next_chunk`] call reads, whatever row count it is
/// asked for, so wide sign matrices stream in bounded memory too.
pub const MAX_CHUNK_BYTES: usize = 256 << 20;

/// How a code file is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeFormat {
    /// Packed bytes, `bits / 8` per row.
    Packed,
    /// One `int8` per bit, packed by sign.
    SignsI8,
    /// One `float32` per bit, packed by sign.
    SignsF32,
}

/// Chunked reader of binary codes from a file.
pub struct CodeReader {
    path: PathBuf,
    reader: BufReader<File>,
    format: CodeFormat,
    bits: usize,
    rows: u64,
    read: u64,
    buf: Vec<u8>,
}

fn read_exact(path: &Path, r: &mut impl Read, buf: &mut [u8]) -> Result<()> {
    r.read_exact(buf).map_err(|e| Error::io(path, e))
}

impl CodeReader {
    /// Opens a `.npy` code file; the code length comes from its shape and dtype.
    pub fn open_npy(path: &Path) -> Result<CodeReader> {
        let npy = open_npy(path)?;
        let [rows, cols] = npy.shape[..] else {
            return Err(Error::UnsupportedInput {
                path: path.to_path_buf(),
                expected: "a 2-D array (n, bits/8) or (n, bits)".to_string(),
                found: format!("shape {:?}", npy.shape),
            });
        };
        let (format, bits) = match npy.dtype {
            NpyDtype::U8 => (CodeFormat::Packed, cols.saturating_mul(8)),
            NpyDtype::I8 => (CodeFormat::SignsI8, cols),
            NpyDtype::F32 => (CodeFormat::SignsF32, cols),
            other => {
                return Err(Error::UnsupportedInput {
                    path: path.to_path_buf(),
                    expected: "codes as uint8 (packed), int8 or float32 (signs)".to_string(),
                    found: format!("{other:?}"),
                });
            }
        };
        let bits = usize::try_from(bits).unwrap_or(usize::MAX);
        crate::code::binary::words_for_bits(bits)?;
        Ok(CodeReader {
            path: path.to_path_buf(),
            reader: npy.reader,
            format,
            bits,
            rows,
            read: 0,
            buf: Vec::new(),
        })
    }

    /// Opens a raw file of packed `bits`-bit codes.
    pub fn open_raw(path: &Path, bits: usize) -> Result<CodeReader> {
        crate::code::binary::words_for_bits(bits)?;
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let row = (bits / 8) as u64;
        if len % row != 0 {
            return Err(Error::UnsupportedInput {
                path: path.to_path_buf(),
                expected: format!("a multiple of {row} bytes ({bits}-bit packed codes)"),
                found: format!("{len} bytes"),
            });
        }
        Ok(CodeReader {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(1 << 20, file),
            format: CodeFormat::Packed,
            bits,
            rows: len / row,
            read: 0,
            buf: Vec::new(),
        })
    }

    /// Opens by extension: `.npy` as [`CodeReader::open_npy`], anything else as raw
    /// packed codes of `bits` bits (required then).
    pub fn open(path: &Path, bits: Option<usize>) -> Result<CodeReader> {
        let is_npy = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
        match (is_npy, bits) {
            (true, _) => {
                let r = Self::open_npy(path)?;
                if let Some(b) = bits.filter(|&b| b != r.bits) {
                    return Err(Error::SchemaMismatch {
                        path: path.to_path_buf(),
                        expected: format!("{b} bits (as requested)"),
                        found: format!("{} bits", r.bits),
                    });
                }
                Ok(r)
            }
            (false, Some(b)) => Self::open_raw(path, b),
            (false, None) => Err(Error::InvalidArgument {
                name: "bits",
                reason: format!(
                    "{} is a raw code file; its code length must be given",
                    path.display()
                ),
            }),
        }
    }

    /// Code length in bits.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// Rows in the file.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Rows read so far.
    pub fn rows_read(&self) -> u64 {
        self.read
    }

    /// The layout being read.
    pub fn format(&self) -> CodeFormat {
        self.format
    }

    /// Reads up to `max_rows` more codes (fewer when that would exceed
    /// [`MAX_CHUNK_BYTES`] of input); `None` at the end of the file.
    pub fn next_chunk(&mut self, max_rows: usize) -> Result<Option<BinaryCodes>> {
        let (elem, per_row) = match self.format {
            CodeFormat::Packed => (1, self.bits / 8),
            CodeFormat::SignsI8 => (1, self.bits),
            CodeFormat::SignsF32 => (4, self.bits),
        };
        let cap = (MAX_CHUNK_BYTES / (elem * per_row)).max(1);
        let n = (self.rows - self.read).min(max_rows.clamp(1, cap) as u64) as usize;
        if n == 0 {
            return Ok(None);
        }
        self.buf.resize(n * per_row * elem, 0);
        read_exact(&self.path, &mut self.reader, &mut self.buf)?;
        let codes = match self.format {
            CodeFormat::Packed => BinaryCodes::from_packed(self.bits, &self.buf)?,
            CodeFormat::SignsI8 => {
                let values: Vec<f32> = self.buf.iter().map(|&b| f32::from(b as i8)).collect();
                BinaryCodes::from_signs(self.bits, &values)?
            }
            CodeFormat::SignsF32 => {
                let values: Vec<f32> = self
                    .buf
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                BinaryCodes::from_signs(self.bits, &values).map_err(|e| match e {
                    Error::NonFinite {
                        row, col, value, ..
                    } => Error::UnsupportedInput {
                        path: self.path.clone(),
                        expected: "finite sign values".to_string(),
                        found: format!("{value} at row {}, column {col}", self.read + row as u64),
                    },
                    other => other,
                })?
            }
        };
        self.read += n as u64;
        Ok(Some(codes))
    }
}

/// Chunked reader of ids: from a `.npy` file, or implicit row numbers.
pub enum IdReader {
    /// Ids `next, next + 1, …` up to `end`.
    Implicit {
        /// The next id.
        next: u64,
        /// One past the last id.
        end: u64,
    },
    /// Ids from a 1-D `uint64` / `int64` `.npy`.
    Npy {
        /// The file.
        path: PathBuf,
        /// Reader at the next id.
        reader: BufReader<File>,
        /// Whether the ids are signed (negatives are refused).
        signed: bool,
        /// Ids not yet read.
        left: u64,
        /// Ids read so far.
        read: u64,
    },
}

impl IdReader {
    /// Ids `start..start + rows`.
    pub fn implicit(start: u64, rows: u64) -> IdReader {
        IdReader::Implicit {
            next: start,
            end: start.saturating_add(rows),
        }
    }

    /// Opens a 1-D `.npy` of `uint64` or `int64` ids.
    pub fn open_npy(path: &Path) -> Result<IdReader> {
        let npy = open_npy(path)?;
        let signed = match npy.dtype {
            NpyDtype::U64 => false,
            NpyDtype::I64 => true,
            other => {
                return Err(Error::UnsupportedInput {
                    path: path.to_path_buf(),
                    expected: "ids as uint64 or int64".to_string(),
                    found: format!("{other:?}"),
                });
            }
        };
        let [n] = npy.shape[..] else {
            return Err(Error::UnsupportedInput {
                path: path.to_path_buf(),
                expected: "a 1-D array of ids".to_string(),
                found: format!("shape {:?}", npy.shape),
            });
        };
        Ok(IdReader::Npy {
            path: path.to_path_buf(),
            reader: npy.reader,
            signed,
            left: n,
            read: 0,
        })
    }

    /// Ids not yet read.
    pub fn remaining(&self) -> u64 {
        match self {
            IdReader::Implicit { next, end } => end - next,
            IdReader::Npy { left, .. } => *left,
        }
    }

    /// Reads exactly `n` ids (an error if fewer remain).
    pub fn next_ids(&mut self, n: usize) -> Result<Vec<u64>> {
        if (n as u64) > self.remaining() {
            let (what, left) = ("ids (one per code)", self.remaining() as usize);
            return Err(Error::LengthMismatch {
                what,
                expected: n,
                found: left,
            });
        }
        match self {
            IdReader::Implicit { next, .. } => {
                let ids = (*next..*next + n as u64).collect();
                *next += n as u64;
                Ok(ids)
            }
            IdReader::Npy {
                path,
                reader,
                signed,
                left,
                read,
            } => {
                let mut bytes = vec![0u8; n * 8];
                read_exact(path, reader, &mut bytes)?;
                let ids: Vec<u64> = bytes
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect();
                if *signed && let Some(i) = ids.iter().position(|&v| (v as i64) < 0) {
                    return Err(Error::UnsupportedInput {
                        path: path.clone(),
                        expected: "non-negative ids".to_string(),
                        found: format!("{} at position {}", ids[i] as i64, *read + i as u64),
                    });
                }
                *left -= n as u64;
                *read += n as u64;
                Ok(ids)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::npy::write_npy;

    #[test]
    fn hand_built_npy_packed_codes() {
        // A literal numpy v1.0 file: uint8, shape (2, 2), bytes 01 80 ff 00.
        let dict = b"{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2), }";
        let mut file = b"\x93NUMPY\x01\x00".to_vec();
        let pad = 64 - (10 + dict.len() + 1) % 64;
        file.extend_from_slice(&((dict.len() + pad + 1) as u16).to_le_bytes());
        file.extend_from_slice(dict);
        file.extend(std::iter::repeat_n(b' ', pad));
        file.push(b'\n');
        file.extend_from_slice(&[0x01, 0x80, 0xff, 0x00]);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.npy");
        std::fs::write(&p, &file).unwrap();
        let mut r = CodeReader::open(&p, None).unwrap();
        assert_eq!((r.bits(), r.rows()), (16, 2));
        let c = r.next_chunk(10).unwrap().unwrap();
        // Row 0: bit 0 and bit 15; row 1: bits 0..8.
        assert_eq!(c.as_words(), &[1 | (1 << 15), 0xff]);
        assert!(r.next_chunk(10).unwrap().is_none());
    }

    #[test]
    fn signs_raw_and_ids_agree() {
        let dir = tempfile::tempdir().unwrap();
        let codes = BinaryCodes::random(24, 7, 3).unwrap();
        let signs = codes.to_signs();
        let i8s: Vec<i8> = signs
            .iter()
            .map(|&x| if x > 0.0 { 1 } else { -1 })
            .collect();
        let reals: Vec<f32> = signs.iter().map(|&x| x * 0.37).collect();
        write_npy(&dir.path().join("f.npy"), &[7, 24], &reals).unwrap();
        write_npy(&dir.path().join("i.npy"), &[7, 24], &i8s).unwrap();
        write_npy(&dir.path().join("u.npy"), &[7, 3], &codes.to_packed()).unwrap();
        std::fs::write(dir.path().join("r.bin"), codes.to_packed()).unwrap();
        for (name, bits) in [
            ("f.npy", None),
            ("i.npy", None),
            ("u.npy", Some(24)),
            ("r.bin", Some(24)),
        ] {
            let mut r = CodeReader::open(&dir.path().join(name), bits).unwrap();
            let mut all = BinaryCodes::empty(24).unwrap();
            while let Some(chunk) = r.next_chunk(3).unwrap() {
                all.extend_from(chunk.view()).unwrap();
            }
            assert_eq!(all, codes, "{name}");
        }
        assert!(CodeReader::open(&dir.path().join("r.bin"), None).is_err());
        assert!(CodeReader::open(&dir.path().join("r.bin"), Some(16)).is_err());
        write_npy(&dir.path().join("ids.npy"), &[3], &[5i64, 9, -1]).unwrap();
        let mut ids = IdReader::open_npy(&dir.path().join("ids.npy")).unwrap();
        assert_eq!(ids.next_ids(2).unwrap(), vec![5, 9]);
        assert!(matches!(
            ids.next_ids(1),
            Err(Error::UnsupportedInput { .. })
        ));
        let mut imp = IdReader::implicit(10, 3);
        assert_eq!(imp.next_ids(3).unwrap(), vec![10, 11, 12]);
        assert!(imp.next_ids(1).is_err());
    }

    #[test]
    fn fortran_order_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.npy");
        let mut bytes = crate::io::npy::npy_header::<u8>(&[2, 8]);
        let pos = bytes.windows(5).position(|w| w == b"False").unwrap();
        bytes.splice(pos..pos + 5, b"True ".iter().copied());
        bytes.extend_from_slice(&[0u8; 16]);
        std::fs::write(&p, &bytes).unwrap();
        let err = CodeReader::open(&p, None).err().unwrap();
        assert!(err.to_string().contains("Fortran"), "{err}");
    }
}
