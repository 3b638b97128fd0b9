//! The `.fvecs`, `.bvecs` and `.ivecs` formats of the ANN benchmark sets (SIFT, GIST,
//! Deep1B): each vector is a little-endian `i32` dimension followed by that many `f32`,
//! `u8` or `i32` values. Every vector of a file must have the same dimension.
//!
//! Readers take any `Read` and check what they read: a dimension that is zero, negative
//! or changes between vectors, a file that ends inside a vector, and (for `fvecs`) NaN or
//! infinite values are typed errors naming the vector.

use std::io::{self, Read, Write};

use crate::error::{Error, Result};

/// Largest dimension accepted (guards allocations against corrupt headers).
pub const MAX_DIM: usize = 1 << 20;

/// A row-major matrix read from a vecs file.
#[derive(Clone, Debug, PartialEq)]
pub struct VecsMatrix<T> {
    /// Vector dimension (0 when the file held no vector).
    pub dim: usize,
    /// `rows() * dim` values, row after row.
    pub data: Vec<T>,
}

impl<T> VecsMatrix<T> {
    /// Number of vectors.
    pub fn rows(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }
}

/// Element types of the three formats.
pub trait VecsElement: Copy {
    /// Bytes per element.
    const SIZE: usize;
    /// The format's usual file extension, for messages.
    const FORMAT: &'static str;
    /// Decodes one little-endian element.
    fn from_le(bytes: &[u8]) -> Self;
    /// Encodes one element, little-endian.
    fn write_le(self, out: &mut Vec<u8>);
    /// Whether the value is acceptable (finite, for floats).
    fn is_valid(self) -> bool {
        true
    }
}

impl VecsElement for f32 {
    const SIZE: usize = 4;
    const FORMAT: &'static str = "fvecs";
    fn from_le(b: &[u8]) -> Self {
        f32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
    fn write_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn is_valid(self) -> bool {
        self.is_finite()
    }
}

impl VecsElement for u8 {
    const SIZE: usize = 1;
    const FORMAT: &'static str = "bvecs";
    fn from_le(b: &[u8]) -> Self {
        b[0]
    }
    fn write_le(self, out: &mut Vec<u8>) {
        out.push(self);
    }
}

impl VecsElement for i32 {
    const SIZE: usize = 4;
    const FORMAT: &'static str = "ivecs";
    fn from_le(b: &[u8]) -> Self {
        i32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
    fn write_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

fn corrupt(format: &'static str, what: String, expected: String, found: String) -> Error {
    Error::Corrupt {
        path: format!("<{format} stream>").into(),
        what,
        expected,
        found,
    }
}

/// Fills `buf` completely, or reports how many bytes were there (0 = clean end of input).
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads a whole vecs stream, at most `max_rows` vectors (`None`: all of them).
pub fn read_vecs<T: VecsElement>(
    mut reader: impl Read,
    max_rows: Option<usize>,
) -> Result<VecsMatrix<T>> {
    let io_err = |e| Error::io(format!("<{} stream>", T::FORMAT), e);
    let mut dim = 0usize;
    let mut data = Vec::new();
    let mut row_bytes = Vec::new();
    let mut row = 0usize;
    while max_rows.is_none_or(|m| row < m) {
        let mut head = [0u8; 4];
        match read_full(&mut reader, &mut head).map_err(io_err)? {
            0 => break,
            4 => {}
            got => {
                return Err(corrupt(
                    T::FORMAT,
                    format!("vector {row}: dimension field"),
                    "4 bytes".into(),
                    format!("{got} bytes before the end of the file"),
                ));
            }
        }
        let d = i32::from_le_bytes(head);
        if d <= 0 || d as usize > MAX_DIM {
            return Err(corrupt(
                T::FORMAT,
                format!("vector {row}: dimension"),
                format!("1..={MAX_DIM}"),
                d.to_string(),
            ));
        }
        let d = d as usize;
        if row == 0 {
            dim = d;
        } else if d != dim {
            return Err(Error::DimensionMismatch {
                what: "vecs vector dimension (all vectors must match the first)",
                expected: dim,
                found: d,
            });
        }
        row_bytes.resize(d * T::SIZE, 0);
        let got = read_full(&mut reader, &mut row_bytes).map_err(io_err)?;
        if got != row_bytes.len() {
            return Err(corrupt(
                T::FORMAT,
                format!("vector {row}: values"),
                format!("{} bytes", row_bytes.len()),
                format!("{got} bytes before the end of the file"),
            ));
        }
        for (col, chunk) in row_bytes.chunks_exact(T::SIZE).enumerate() {
            let v = T::from_le(chunk);
            if !v.is_valid() {
                return Err(corrupt(
                    T::FORMAT,
                    format!("vector {row}, component {col}"),
                    "a finite number".into(),
                    "NaN or infinity".into(),
                ));
            }
            data.push(v);
        }
        row += 1;
    }
    Ok(VecsMatrix { dim, data })
}

/// Writes `data` (rows of `dim` values) as a vecs stream.
pub fn write_vecs<T: VecsElement>(mut writer: impl Write, dim: usize, data: &[T]) -> Result<()> {
    if dim == 0 || dim > MAX_DIM || !data.len().is_multiple_of(dim) {
        return Err(Error::LengthMismatch {
            what: "vecs rows (a multiple of a dimension in 1..=2^20)",
            expected: data.len().checked_div(dim).map_or(0, |rows| rows * dim),
            found: data.len(),
        });
    }
    let mut buf = Vec::with_capacity(4 + dim * T::SIZE);
    for row in data.chunks_exact(dim) {
        buf.clear();
        buf.extend_from_slice(&(dim as i32).to_le_bytes());
        for &v in row {
            v.write_le(&mut buf);
        }
        writer
            .write_all(&buf)
            .map_err(|e| Error::io(format!("<{} stream>", T::FORMAT), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_made_fvecs_file() {
        // Two 2-d vectors: (1.0, -2.5), (0.0, 3.0).
        let mut bytes = Vec::new();
        for row in [[1.0f32, -2.5], [0.0, 3.0]] {
            bytes.extend_from_slice(&2i32.to_le_bytes());
            for v in row {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
        }
        let m: VecsMatrix<f32> = read_vecs(&bytes[..], None).unwrap();
        assert_eq!((m.dim, m.rows()), (2, 2));
        assert_eq!(m.data, vec![1.0, -2.5, 0.0, 3.0]);
        let first: VecsMatrix<f32> = read_vecs(&bytes[..], Some(1)).unwrap();
        assert_eq!(first.data, vec![1.0, -2.5]);
        let mut out = Vec::new();
        write_vecs(&mut out, 2, &m.data).unwrap();
        assert_eq!(out, bytes);
    }

    #[test]
    fn round_trips_bvecs_and_ivecs() {
        let b: Vec<u8> = (0..=255).collect();
        let mut out = Vec::new();
        write_vecs(&mut out, 16, &b).unwrap();
        assert_eq!(out.len(), 16 * (4 + 16));
        assert_eq!(read_vecs::<u8>(&out[..], None).unwrap().data, b);
        let i: Vec<i32> = (-50..50).collect();
        let mut out = Vec::new();
        write_vecs(&mut out, 10, &i).unwrap();
        let m = read_vecs::<i32>(&out[..], None).unwrap();
        assert_eq!((m.dim, m.rows(), m.data), (10, 10, i));
        assert_eq!(read_vecs::<i32>(&[][..], None).unwrap().rows(), 0);
    }

    #[test]
    fn every_truncation_and_corruption_is_a_typed_error() {
        let mut good = Vec::new();
        write_vecs(&mut good, 3, &[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        for cut in 1..good.len() {
            if cut == 16 {
                continue; // a whole first vector: a valid one-vector file
            }
            assert!(
                read_vecs::<f32>(&good[..cut], None).is_err(),
                "cut at {cut}"
            );
        }
        let mut bad_dim = good.clone();
        bad_dim[16..20].copy_from_slice(&4i32.to_le_bytes());
        assert!(matches!(
            read_vecs::<f32>(&bad_dim[..], None),
            Err(Error::DimensionMismatch {
                expected: 3,
                found: 4,
                ..
            })
        ));
        let mut negative = good.clone();
        negative[0..4].copy_from_slice(&(-1i32).to_le_bytes());
        assert!(read_vecs::<f32>(&negative[..], None).is_err());
        let mut nan = good.clone();
        nan[8..12].copy_from_slice(&f32::NAN.to_le_bytes());
        let err = read_vecs::<f32>(&nan[..], None).unwrap_err().to_string();
        assert!(err.contains("vector 0, component 1"), "{err}");
        assert!(write_vecs(Vec::new(), 0, &[1.0f32]).is_err());
        assert!(write_vecs(Vec::new(), 2, &[1.0f32]).is_err());
    }
}
