//! Reading PQ inputs from `.npy`: codebooks, code rows (streamed in chunks) and float
//! query or vector matrices.
//!
//! - codebooks: `float32 (M, K, dsub)` with `K` = 16 (4-bit) or 256 (8-bit);
//! - codes: `uint8 (n, M)` for 8-bit codes, `uint8 (n, M/2)` for 4-bit codes packed two a
//!   byte, low nibble first (sub-quantizer `2j` in the low nibble of byte `j`);
//! - floats: `float32 (n, d)`.
//!
//! Every mismatch is a typed error naming the file: a dtype or rank other than these
//! ([`Error::UnsupportedInput`]), a shape that disagrees with the codebooks or the
//! index ([`Error::SchemaMismatch`]), a NaN or infinity ([`Error::UnsupportedInput`],
//! with its position).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::code::pq::{PqCodebooks, PqCodes, code_row_bytes};
use crate::error::{Error, Result};
use crate::io::codes::MAX_CHUNK_BYTES;
use crate::io::npy::{NpyDtype, open_npy};

fn unsupported(path: &Path, expected: &str, found: String) -> Error {
    Error::UnsupportedInput {
        path: path.to_path_buf(),
        expected: expected.to_string(),
        found,
    }
}

fn open_f32(path: &Path, expected: &str) -> Result<(Vec<u64>, BufReader<File>)> {
    let npy = open_npy(path)?;
    if npy.dtype != NpyDtype::F32 {
        return Err(unsupported(
            path,
            expected,
            format!("dtype {:?}", npy.dtype),
        ));
    }
    Ok((npy.shape, npy.reader))
}

fn read_f32s(path: &Path, reader: &mut impl Read, n: usize) -> Result<Vec<f32>> {
    let mut bytes = vec![0u8; n * 4];
    reader
        .read_exact(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

fn check_finite_in(path: &Path, what: &str, values: &[f32], dims: &[usize]) -> Result<()> {
    let Some(i) = values.iter().position(|v| !v.is_finite()) else {
        return Ok(());
    };
    let mut at = Vec::with_capacity(dims.len());
    let mut rest = i;
    for &d in dims.iter().rev() {
        at.push(rest % d.max(1));
        rest /= d.max(1);
    }
    at.reverse();
    Err(unsupported(
        path,
        &format!("finite {what}"),
        format!("{} at index {at:?}", values[i]),
    ))
}

/// Reads codebooks from a `float32 (M, K, dsub)` `.npy`. `nbits`, when given, must
/// agree with `K` (16 → 4 bits, 256 → 8 bits).
pub fn read_codebooks_npy(path: &Path, nbits: Option<u8>) -> Result<PqCodebooks> {
    let expected = "PQ codebooks as float32 (M, K, dsub), K = 16 or 256";
    let (shape, mut reader) = open_f32(path, expected)?;
    let [m, k, dsub] = shape[..] else {
        return Err(unsupported(path, expected, format!("shape {shape:?}")));
    };
    let (m, k, dsub) = (m as usize, k as usize, dsub as usize);
    let from_k = match k {
        16 => 4u8,
        256 => 8u8,
        _ => return Err(unsupported(path, expected, format!("K = {k}"))),
    };
    if let Some(n) = nbits.filter(|&n| n != from_k) {
        return Err(Error::SchemaMismatch {
            path: path.to_path_buf(),
            expected: format!("K = 2^{n} = {} codewords (--nbits {n})", 1u32 << n.min(31)),
            found: format!("K = {k}"),
        });
    }
    if m == 0 || dsub == 0 || m.saturating_mul(k).saturating_mul(dsub) > (1 << 30) {
        return Err(unsupported(path, expected, format!("shape {shape:?}")));
    }
    let values = read_f32s(path, &mut reader, m * k * dsub)?;
    check_finite_in(path, "codebook values", &values, &[m, k, dsub])?;
    PqCodebooks::new(m, from_k, dsub, values)
}

/// Reads a whole `float32 (n, dim)` `.npy` (queries, or vectors to encode); `dim`,
/// when given, must match.
pub fn read_floats_npy(path: &Path, dim: Option<usize>) -> Result<(usize, Vec<f32>)> {
    let expected = "float32 vectors (n, d)";
    let (shape, mut reader) = open_f32(path, expected)?;
    let [n, d] = shape[..] else {
        return Err(unsupported(path, expected, format!("shape {shape:?}")));
    };
    let (n, d) = (n as usize, d as usize);
    if let Some(want) = dim.filter(|&w| w != d) {
        return Err(Error::SchemaMismatch {
            path: path.to_path_buf(),
            expected: format!("vectors of dimension {want} (M · dsub of the codebooks)"),
            found: format!("dimension {d}"),
        });
    }
    if n.checked_mul(d).is_none_or(|x| x > (1 << 34)) {
        return Err(unsupported(path, expected, format!("shape {shape:?}")));
    }
    let values = read_f32s(path, &mut reader, n * d)?;
    check_finite_in(path, "vector values", &values, &[n, d])?;
    Ok((d, values))
}

/// Chunked reader of PQ code rows from a `uint8` `.npy`.
pub struct PqCodeReader {
    path: PathBuf,
    reader: BufReader<File>,
    m: usize,
    nbits: u8,
    rows: u64,
    read: u64,
}

impl PqCodeReader {
    /// Opens codes for `m` sub-quantizers at `nbits` bits: `uint8 (n, M)` (8-bit) or
    /// `uint8 (n, M/2)` (4-bit, packed).
    pub fn open_npy(path: &Path, m: usize, nbits: u8) -> Result<PqCodeReader> {
        let row = code_row_bytes(m, nbits);
        let expected = format!(
            "PQ codes as uint8 (n, {row}) ({m} sub-quantizers at {nbits} bits{})",
            if nbits == 4 { ", two a byte" } else { "" }
        );
        let npy = open_npy(path)?;
        if npy.dtype != NpyDtype::U8 {
            return Err(unsupported(
                path,
                &expected,
                format!("dtype {:?}", npy.dtype),
            ));
        }
        let [rows, cols] = npy.shape[..] else {
            return Err(unsupported(
                path,
                &expected,
                format!("shape {:?}", npy.shape),
            ));
        };
        if cols != row as u64 {
            return Err(Error::SchemaMismatch {
                path: path.to_path_buf(),
                expected,
                found: format!(
                    "{cols} bytes a row ({} sub-quantizers at {nbits} bits)",
                    if nbits == 4 { cols * 2 } else { cols }
                ),
            });
        }
        Ok(PqCodeReader {
            path: path.to_path_buf(),
            reader: npy.reader,
            m,
            nbits,
            rows,
            read: 0,
        })
    }

    /// Rows in the file.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Reads up to `max_rows` more rows (fewer past [`MAX_CHUNK_BYTES`]); `None` at the end.
    pub fn next_chunk(&mut self, max_rows: usize) -> Result<Option<PqCodes>> {
        let row = code_row_bytes(self.m, self.nbits);
        let cap = (MAX_CHUNK_BYTES / row).max(1);
        let n = (self.rows - self.read).min(max_rows.clamp(1, cap) as u64) as usize;
        if n == 0 {
            return Ok(None);
        }
        let mut bytes = vec![0u8; n * row];
        self.reader
            .read_exact(&mut bytes)
            .map_err(|e| Error::io(&self.path, e))?;
        self.read += n as u64;
        Ok(Some(PqCodes::new(self.m, self.nbits, bytes)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::npy::write_npy;

    #[test]
    fn shapes_dtypes_and_nans_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        let books: Vec<f32> = (0..2 * 16 * 3).map(|i| i as f32).collect();
        write_npy(&p("b.npy"), &[2, 16, 3], &books).unwrap();
        let read = read_codebooks_npy(&p("b.npy"), Some(4)).unwrap();
        assert_eq!((read.m(), read.nbits(), read.dsub()), (2, 4, 3));
        assert_eq!(read.as_slice(), &books[..]);
        assert!(matches!(
            read_codebooks_npy(&p("b.npy"), Some(8)),
            Err(Error::SchemaMismatch { .. })
        ));
        write_npy(&p("k.npy"), &[2, 8, 6], &books).unwrap();
        assert!(matches!(
            read_codebooks_npy(&p("k.npy"), None),
            Err(Error::UnsupportedInput { .. })
        ));
        let mut nan = books.clone();
        nan[40] = f32::NAN;
        write_npy(&p("n.npy"), &[2, 16, 3], &nan).unwrap();
        let err = read_codebooks_npy(&p("n.npy"), None).unwrap_err();
        assert!(err.to_string().contains("[0, 13, 1]"), "{err}");
        write_npy(&p("u.npy"), &[2, 16, 3], &[0u8; 96]).unwrap();
        assert!(matches!(
            read_codebooks_npy(&p("u.npy"), None),
            Err(Error::UnsupportedInput { .. })
        ));

        write_npy(&p("q.npy"), &[2, 6], &[0f32; 12]).unwrap();
        assert_eq!(read_floats_npy(&p("q.npy"), Some(6)).unwrap().1.len(), 12);
        assert!(matches!(
            read_floats_npy(&p("q.npy"), Some(4)),
            Err(Error::SchemaMismatch { .. })
        ));
        let mut q = [0f32; 12];
        q[7] = f32::INFINITY;
        write_npy(&p("qi.npy"), &[2, 6], &q).unwrap();
        assert!(matches!(
            read_floats_npy(&p("qi.npy"), None),
            Err(Error::UnsupportedInput { .. })
        ));

        let codes: Vec<u8> = (0..10).collect();
        write_npy(&p("c.npy"), &[5, 2], &codes).unwrap();
        let mut r = PqCodeReader::open_npy(&p("c.npy"), 4, 4).unwrap();
        let a = r.next_chunk(3).unwrap().unwrap();
        let b = r.next_chunk(3).unwrap().unwrap();
        assert_eq!((a.len(), b.len()), (3, 2));
        // Row 4 is bytes [8, 9]: sub-quantizers 0, 1 in byte 8 (low nibble first), 2, 3 in 9.
        assert_eq!(
            (0..4).map(|s| b.view().code(1, s)).collect::<Vec<_>>(),
            [8, 0, 9, 0]
        );
        assert!(r.next_chunk(3).unwrap().is_none());
        assert!(matches!(
            PqCodeReader::open_npy(&p("c.npy"), 2, 8).map(|_| ()),
            Ok(())
        ));
        assert!(matches!(
            PqCodeReader::open_npy(&p("c.npy"), 3, 8),
            Err(Error::SchemaMismatch { .. })
        ));
        write_npy(&p("ci.npy"), &[5, 2], &[0i8; 10]).unwrap();
        assert!(matches!(
            PqCodeReader::open_npy(&p("ci.npy"), 4, 4),
            Err(Error::UnsupportedInput { .. })
        ));
    }
}
