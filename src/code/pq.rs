//! Product-quantization codes and codebooks.
//!
//! A vector of `dim = M · dsub` floats is cut into `M` sub-vectors; each is replaced by
//! the index of a codeword in its own codebook of `K = 2^nbits` codewords (`nbits` is 4
//! or 8). [`PqCodebooks`] holds the `M × K × dsub` codewords as one contiguous f32 array
//! (the layout a segment column stores); [`PqCodes`] owns rows of codes and [`PqView`]
//! borrows them (from a memory map, say). A row is `M` bytes for 8-bit codes and
//! `⌈M/2⌉` bytes for 4-bit codes, two codes a byte, low nibble first (an odd `M` leaves
//! the last high nibble zero).
//!
//! Encoding picks, per sub-vector, the nearest codeword in squared L2
//! ([`PqMetric::SquaredL2`]), or the codeword of largest cosine
//! ([`PqMetric::InnerProduct`]: for normalised sub-vectors and unit codewords, as HCQ
//! keeps them, that is the largest inner product).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::code::assign::{Nearness, assign};
use crate::error::{Error, Result};

/// Rows per encoding task.
const ENCODE_BLOCK_ROWS: usize = 2048;

/// How a query is compared with a PQ-coded vector (in a manifest: `"inner_product"` or
/// `"squared_l2"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PqMetric {
    /// Inner product: larger is better (HCQ's asymmetric quantized similarity).
    InnerProduct,
    /// Squared Euclidean distance: smaller is better.
    SquaredL2,
}

impl PqMetric {
    /// Short name: `ip` or `l2`.
    pub fn name(self) -> &'static str {
        match self {
            PqMetric::InnerProduct => "ip",
            PqMetric::SquaredL2 => "l2",
        }
    }

    /// Whether `a` ranks strictly before `b` under this metric.
    #[inline]
    pub fn better(self, a: f32, b: f32) -> bool {
        match self {
            PqMetric::InnerProduct => a > b,
            PqMetric::SquaredL2 => a < b,
        }
    }
}

/// Checks `nbits` ∈ {4, 8} and `m ≥ 1`.
fn check_shape(m: usize, nbits: u8) -> Result<()> {
    if nbits != 4 && nbits != 8 {
        return Err(Error::InvalidPqBits { nbits });
    }
    if m == 0 {
        return Err(Error::InvalidArgument {
            name: "m",
            reason: "a PQ code needs at least one sub-quantizer".into(),
        });
    }
    Ok(())
}

/// Bytes in one code row of `m` sub-quantizers at `nbits` bits.
pub fn code_row_bytes(m: usize, nbits: u8) -> usize {
    if nbits == 4 { m.div_ceil(2) } else { m }
}

/// Checks every value of a `rows × dim` matrix is finite.
pub(crate) fn check_finite(what: &'static str, data: &[f32], dim: usize) -> Result<()> {
    match data.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::NonFinite {
            what,
            row: i / dim.max(1),
            col: i % dim.max(1),
            value: data[i],
        }),
    }
}

/// `M` codebooks of `K = 2^nbits` codewords of `dsub` floats, stored `M × K × dsub`.
#[derive(Clone, Debug, PartialEq)]
pub struct PqCodebooks {
    m: usize,
    nbits: u8,
    dsub: usize,
    data: Vec<f32>,
}

impl PqCodebooks {
    /// Codebooks from their `M × K × dsub` row-major values.
    ///
    /// Errors: `nbits` not 4 or 8, `m` or `dsub` zero, a length other than `m·K·dsub`,
    /// or a non-finite value.
    pub fn new(m: usize, nbits: u8, dsub: usize, data: Vec<f32>) -> Result<Self> {
        check_shape(m, nbits)?;
        if dsub == 0 {
            return Err(Error::InvalidArgument {
                name: "dsub",
                reason: "sub-vectors need at least one dimension".into(),
            });
        }
        let expected = m * (1usize << nbits) * dsub;
        if data.len() != expected {
            return Err(Error::LengthMismatch {
                what: "PQ codebooks (M × K × dsub)",
                expected,
                found: data.len(),
            });
        }
        check_finite("PQ codebooks", &data, dsub)?;
        Ok(PqCodebooks {
            m,
            nbits,
            dsub,
            data,
        })
    }

    /// Number of sub-quantizers `M`.
    pub fn m(&self) -> usize {
        self.m
    }
    /// Bits per code, 4 or 8.
    pub fn nbits(&self) -> u8 {
        self.nbits
    }
    /// Codewords per sub-quantizer, `2^nbits`.
    pub fn k(&self) -> usize {
        1 << self.nbits
    }
    /// Dimensions per sub-vector.
    pub fn dsub(&self) -> usize {
        self.dsub
    }
    /// Dimension of a full vector, `M · dsub`.
    pub fn dim(&self) -> usize {
        self.m * self.dsub
    }
    /// Bytes in one code row.
    pub fn code_row_bytes(&self) -> usize {
        code_row_bytes(self.m, self.nbits)
    }
    /// All codewords, `M × K × dsub` row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }
    /// The `K × dsub` codebook of sub-quantizer `sub` (`None` past `M`).
    pub fn codebook(&self, sub: usize) -> Option<&[f32]> {
        let size = self.k() * self.dsub;
        self.data.get(sub * size..(sub + 1) * size)
    }
    /// Codeword `code` of sub-quantizer `sub`.
    pub fn codeword(&self, sub: usize, code: usize) -> Option<&[f32]> {
        if code >= self.k() {
            return None;
        }
        self.codebook(sub)?
            .get(code * self.dsub..(code + 1) * self.dsub)
    }

    /// Checks a `rows × dim` matrix: length and finiteness.
    fn check_vectors(&self, what: &'static str, vectors: &[f32]) -> Result<usize> {
        let dim = self.dim();
        if !vectors.len().is_multiple_of(dim) {
            return Err(Error::DimensionMismatch {
                what,
                expected: dim,
                found: vectors.len() % dim,
            });
        }
        check_finite(what, vectors, dim)?;
        Ok(vectors.len() / dim)
    }

    /// Codes of `vectors` (`n × dim` row-major): per sub-vector the nearest codeword
    /// (squared L2) or the codeword of largest cosine (inner product).
    ///
    /// Errors: a length that is not a multiple of `dim`, or a non-finite value.
    pub fn encode(&self, vectors: &[f32], metric: PqMetric) -> Result<PqCodes> {
        let n = self.check_vectors("vectors to encode", vectors)?;
        let (dim, dsub, row_bytes) = (self.dim(), self.dsub, self.code_row_bytes());
        let nearness = match metric {
            PqMetric::SquaredL2 => Nearness::SquaredL2,
            PqMetric::InnerProduct => Nearness::Cosine,
        };
        let mut bytes = vec![0u8; n * row_bytes];
        let encode_block = |(block, out): (&[f32], &mut [u8])| {
            let rows = block.len() / dim;
            let mut sub_vectors = vec![0f32; rows * dsub];
            for sub in 0..self.m {
                for (r, dst) in sub_vectors.chunks_exact_mut(dsub).enumerate() {
                    dst.copy_from_slice(&block[r * dim + sub * dsub..][..dsub]);
                }
                let book = self.codebook(sub).unwrap_or_default();
                let (idx, _) = assign(&sub_vectors, book, dsub, nearness, false);
                for (r, &c) in idx.iter().enumerate() {
                    let row = &mut out[r * row_bytes..(r + 1) * row_bytes];
                    if self.nbits == 8 {
                        row[sub] = c as u8;
                    } else {
                        row[sub / 2] |= (c as u8) << (4 * (sub % 2));
                    }
                }
            }
        };
        vectors
            .par_chunks(ENCODE_BLOCK_ROWS * dim)
            .zip(bytes.par_chunks_mut(ENCODE_BLOCK_ROWS * row_bytes))
            .for_each(encode_block);
        PqCodes::new(self.m, self.nbits, bytes)
    }

    /// The vectors `codes` stand for (`n × dim` row-major).
    ///
    /// Errors: codes of another `M` or `nbits`.
    pub fn decode(&self, codes: PqView<'_>) -> Result<Vec<f32>> {
        self.check_codes(codes)?;
        let mut out = Vec::with_capacity(codes.len() * self.dim());
        for i in 0..codes.len() {
            for sub in 0..self.m {
                let c = codes.code(i, sub);
                out.extend_from_slice(self.codeword(sub, c as usize).unwrap_or_default());
            }
        }
        Ok(out)
    }

    /// Checks `codes` were made with codebooks of this shape.
    pub fn check_codes(&self, codes: PqView<'_>) -> Result<()> {
        if codes.m() != self.m {
            return Err(Error::DimensionMismatch {
                what: "PQ sub-quantizers (M) of codes vs codebooks",
                expected: self.m,
                found: codes.m(),
            });
        }
        if codes.nbits() != self.nbits {
            return Err(Error::DimensionMismatch {
                what: "PQ bits per code of codes vs codebooks",
                expected: self.nbits as usize,
                found: codes.nbits() as usize,
            });
        }
        Ok(())
    }
}

/// Owned PQ code rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PqCodes {
    m: usize,
    nbits: u8,
    bytes: Vec<u8>,
}

impl PqCodes {
    /// Codes from their row bytes. Errors as [`PqView::new`].
    pub fn new(m: usize, nbits: u8, bytes: Vec<u8>) -> Result<Self> {
        PqView::new(m, nbits, &bytes)?;
        Ok(PqCodes { m, nbits, bytes })
    }
    /// A borrowed view of all rows.
    pub fn view(&self) -> PqView<'_> {
        PqView {
            m: self.m,
            nbits: self.nbits,
            bytes: &self.bytes,
        }
    }
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.view().len()
    }
    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
    /// The row bytes, `len × code_row_bytes`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Borrowed PQ code rows: `len × row_bytes` contiguous bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PqView<'a> {
    m: usize,
    nbits: u8,
    bytes: &'a [u8],
}

impl<'a> PqView<'a> {
    /// A view of `bytes` as rows of `m` codes at `nbits` bits.
    ///
    /// Errors: `nbits` not 4 or 8, `m` zero, a length that is not a whole number of
    /// rows, or (4-bit, odd `m`) a non-zero padding nibble.
    pub fn new(m: usize, nbits: u8, bytes: &'a [u8]) -> Result<Self> {
        check_shape(m, nbits)?;
        let row = code_row_bytes(m, nbits);
        if !bytes.len().is_multiple_of(row) {
            return Err(Error::LengthMismatch {
                what: "PQ code bytes (a whole number of rows)",
                expected: bytes.len() / row * row + row,
                found: bytes.len(),
            });
        }
        if nbits == 4
            && m % 2 == 1
            && let Some(i) = bytes.chunks_exact(row).position(|r| r[row - 1] >> 4 != 0)
        {
            return Err(Error::InvalidArgument {
                name: "codes",
                reason: format!("row {i}: padding nibble of an odd-M 4-bit code is not 0"),
            });
        }
        Ok(PqView { m, nbits, bytes })
    }
    /// Number of sub-quantizers.
    pub fn m(&self) -> usize {
        self.m
    }
    /// Bits per code.
    pub fn nbits(&self) -> u8 {
        self.nbits
    }
    /// Bytes per row.
    pub fn row_bytes(&self) -> usize {
        code_row_bytes(self.m, self.nbits)
    }
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.bytes.len() / self.row_bytes()
    }
    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
    /// All row bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
    /// Row `i`'s bytes.
    pub fn row(&self, i: usize) -> Option<&'a [u8]> {
        let r = self.row_bytes();
        self.bytes.get(i * r..(i + 1) * r)
    }
    /// Rows `start..end` as a view (clamped to the rows there are).
    pub fn slice(&self, start: usize, end: usize) -> PqView<'a> {
        let r = self.row_bytes();
        let end = end.min(self.len());
        let start = start.min(end);
        PqView {
            bytes: &self.bytes[start * r..end * r],
            ..*self
        }
    }
    /// Code of sub-quantizer `sub` in row `i` (caller keeps `i < len`, `sub < m`).
    #[inline]
    pub fn code(&self, i: usize, sub: usize) -> u8 {
        let row = &self.bytes[i * self.row_bytes()..];
        if self.nbits == 8 {
            row[sub]
        } else {
            (row[sub / 2] >> (4 * (sub % 2))) & 0x0f
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn random_books(m: usize, nbits: u8, dsub: usize, seed: u64) -> PqCodebooks {
        let mut rng = Rng::new(seed);
        let len = m * (1 << nbits) * dsub;
        PqCodebooks::new(m, nbits, dsub, (0..len).map(|_| rng.normal()).collect()).unwrap()
    }

    #[test]
    fn decode_then_encode_is_identity() {
        for (m, nbits) in [(3, 4), (4, 4), (5, 8)] {
            let books = random_books(m, nbits, 3, 9);
            let mut rng = Rng::new(1);
            let bytes: Vec<u8> = (0..50 * code_row_bytes(m, nbits))
                .map(|i| {
                    let b = rng.next_u64() as u8;
                    let last = i % code_row_bytes(m, nbits) == code_row_bytes(m, nbits) - 1;
                    if nbits == 4 && m % 2 == 1 && last {
                        b & 0x0f
                    } else {
                        b
                    }
                })
                .collect();
            let codes = PqCodes::new(m, nbits, bytes).unwrap();
            let decoded = books.decode(codes.view()).unwrap();
            assert_eq!(books.encode(&decoded, PqMetric::SquaredL2).unwrap(), codes);
        }
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        assert!(matches!(
            PqCodebooks::new(2, 6, 2, vec![0.0; 256]),
            Err(Error::InvalidPqBits { nbits: 6 })
        ));
        assert!(matches!(
            PqCodebooks::new(2, 4, 2, vec![0.0; 63]),
            Err(Error::LengthMismatch { .. })
        ));
        let mut nan = vec![0.0; 64];
        nan[5] = f32::NAN;
        assert!(matches!(
            PqCodebooks::new(2, 4, 2, nan),
            Err(Error::NonFinite { row: 2, col: 1, .. })
        ));
        let books = random_books(2, 4, 2, 1);
        assert!(matches!(
            books.encode(&[0.0; 5], PqMetric::SquaredL2),
            Err(Error::DimensionMismatch { .. })
        ));
        assert!(matches!(
            books.encode(&[0.0, f32::INFINITY, 0.0, 0.0], PqMetric::InnerProduct),
            Err(Error::NonFinite { .. })
        ));
        assert!(PqView::new(3, 4, &[0, 0x10]).is_err());
        assert!(PqView::new(3, 8, &[0, 1]).is_err());
        let other = PqCodes::new(3, 4, vec![0, 0]).unwrap();
        assert!(books.decode(other.view()).is_err());
    }

    #[test]
    fn inner_product_encoding_picks_the_largest_cosine() {
        // One 2-d sub-quantizer: a long codeword pointing away, a short one aligned.
        let mut data = vec![0.0f32; 32];
        data[0..2].copy_from_slice(&[10.0, 10.0]);
        data[2..4].copy_from_slice(&[0.1, 0.0]);
        for c in 2..16 {
            data[2 * c..2 * c + 2].copy_from_slice(&[-1.0, -1.0]);
        }
        let books = PqCodebooks::new(1, 4, 2, data).unwrap();
        let ip = books.encode(&[1.0, 0.0], PqMetric::InnerProduct).unwrap();
        assert_eq!(ip.view().code(0, 0), 1);
        let l2 = books.encode(&[9.0, 9.0], PqMetric::SquaredL2).unwrap();
        assert_eq!(l2.view().code(0, 0), 0);
    }
}
