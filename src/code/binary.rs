//! Packed binary codes.
//!
//! A code of `bits` bits (a multiple of 8, 8..=4096) is `bits / 8` bytes with bit `i` in
//! byte `i / 8` at position `i % 8`, least significant bit first — the packing of FAISS
//! `IndexBinary`, so codes move between the two without conversion. In memory each row is
//! padded with zero bytes to a whole number of little-endian `u64` words, so scans read
//! whole words; [`BinaryCodes::to_packed`] gives back the unpadded bytes.

use crate::error::{Error, Result};

/// Smallest supported code length in bits.
pub const MIN_BITS: usize = 8;
/// Largest supported code length in bits.
pub const MAX_BITS: usize = 4096;

/// Checks that `bits` is a supported code length and returns the `u64` words per row.
pub fn words_for_bits(bits: usize) -> Result<usize> {
    if !(MIN_BITS..=MAX_BITS).contains(&bits) || !bits.is_multiple_of(8) {
        return Err(Error::InvalidBits { bits });
    }
    Ok(bits.div_ceil(64))
}

/// Mask of the meaningful bytes of the last word of a row: padding bytes must be zero.
fn last_word_mask(bits: usize) -> u64 {
    match bits % 64 {
        0 => u64::MAX,
        r => (1u64 << r) - 1,
    }
}

/// A borrowed, row-padded matrix of binary codes: what the scanners read.
///
/// `words.len()` is `len() * words_per_code()`. Padding bits are expected to be zero; a
/// view over foreign memory whose padding is not zero gives larger distances but never
/// reads out of bounds.
#[derive(Clone, Copy, Debug)]
pub struct BinaryView<'a> {
    bits: usize,
    words_per_code: usize,
    words: &'a [u64],
}

impl<'a> BinaryView<'a> {
    /// Views `words` as rows of `bits`-bit codes, each padded to whole `u64` words.
    pub fn new(bits: usize, words: &'a [u64]) -> Result<Self> {
        let words_per_code = words_for_bits(bits)?;
        if !words.len().is_multiple_of(words_per_code) {
            return Err(Error::LengthMismatch {
                what: "binary code words (a multiple of the words per code)",
                expected: words.len() / words_per_code * words_per_code,
                found: words.len(),
            });
        }
        Ok(BinaryView {
            bits,
            words_per_code,
            words,
        })
    }

    /// Code length in bits.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// `u64` words per (padded) row.
    pub fn words_per_code(&self) -> usize {
        self.words_per_code
    }

    /// Number of codes.
    pub fn len(&self) -> usize {
        self.words.len() / self.words_per_code
    }

    /// True when there are no codes.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// All rows, padded, back to back.
    pub fn as_words(&self) -> &'a [u64] {
        self.words
    }

    /// Row `i`, or `None` past the end.
    pub fn row(&self, i: usize) -> Option<&'a [u64]> {
        let start = i.checked_mul(self.words_per_code)?;
        self.words.get(start..start + self.words_per_code)
    }

    /// Rows `start..end` as a view.
    pub fn slice(&self, start: usize, end: usize) -> Option<BinaryView<'a>> {
        if start > end || end > self.len() {
            return None;
        }
        Some(BinaryView {
            bits: self.bits,
            words_per_code: self.words_per_code,
            words: &self.words[start * self.words_per_code..end * self.words_per_code],
        })
    }
}

/// An owned matrix of binary codes (row-padded to whole `u64` words).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinaryCodes {
    bits: usize,
    words_per_code: usize,
    words: Vec<u64>,
}

impl BinaryCodes {
    /// An empty set of `bits`-bit codes.
    pub fn empty(bits: usize) -> Result<Self> {
        let words_per_code = words_for_bits(bits)?;
        Ok(BinaryCodes {
            bits,
            words_per_code,
            words: Vec::new(),
        })
    }

    /// Builds codes from FAISS-layout packed bytes: `n` rows of `bits / 8` bytes each.
    pub fn from_packed(bits: usize, bytes: &[u8]) -> Result<Self> {
        let mut codes = Self::empty(bits)?;
        let row_bytes = bits / 8;
        if !bytes.len().is_multiple_of(row_bytes) {
            return Err(Error::LengthMismatch {
                what: "packed binary codes (a multiple of bits / 8 bytes)",
                expected: bytes.len() / row_bytes * row_bytes,
                found: bytes.len(),
            });
        }
        codes
            .words
            .reserve(bytes.len() / row_bytes * codes.words_per_code);
        for row in bytes.chunks_exact(row_bytes) {
            codes.push_packed_row(row);
        }
        Ok(codes)
    }

    /// Builds codes by sign from a row-major `n × bits` matrix: `x > 0` gives bit 1,
    /// anything else bit 0 (so ±1 matrices and real-valued projections both work).
    /// NaN is an error naming its row and column.
    pub fn from_signs(bits: usize, values: &[f32]) -> Result<Self> {
        let mut codes = Self::empty(bits)?;
        if !values.len().is_multiple_of(bits) {
            return Err(Error::LengthMismatch {
                what: "sign matrix (a multiple of bits values)",
                expected: values.len() / bits * bits,
                found: values.len(),
            });
        }
        let n = values.len() / bits;
        codes.words.resize(n * codes.words_per_code, 0);
        for (r, row) in values.chunks_exact(bits).enumerate() {
            let out = &mut codes.words[r * codes.words_per_code..(r + 1) * codes.words_per_code];
            for (c, &x) in row.iter().enumerate() {
                if x.is_nan() {
                    return Err(Error::NonFinite {
                        what: "sign matrix",
                        row: r,
                        col: c,
                        value: x,
                    });
                }
                if x > 0.0 {
                    out[c / 64] |= 1u64 << (c % 64);
                }
            }
        }
        Ok(codes)
    }

    /// Builds codes from row-padded words (`words_per_code` words per row, padding zero).
    pub fn from_words(bits: usize, words: Vec<u64>) -> Result<Self> {
        let view = BinaryView::new(bits, &words)?;
        let wpc = view.words_per_code();
        let mask = last_word_mask(bits);
        if let Some(row) = (0..view.len()).find(|&r| words[r * wpc + wpc - 1] & !mask != 0) {
            return Err(Error::InvalidArgument {
                name: "words",
                reason: format!("row {row} has non-zero padding bits past bit {bits}"),
            });
        }
        Ok(BinaryCodes {
            bits,
            words_per_code: wpc,
            words,
        })
    }

    /// `n` uniformly random codes from a seeded generator (for examples, tests, benches).
    pub fn random(bits: usize, n: usize, seed: u64) -> Result<Self> {
        let mut codes = Self::empty(bits)?;
        let mut rng = crate::rng::Rng::new(seed);
        let mask = last_word_mask(bits);
        let wpc = codes.words_per_code;
        codes.words = (0..n * wpc)
            .map(|i| {
                let w = rng.next_u64();
                if i % wpc == wpc - 1 { w & mask } else { w }
            })
            .collect();
        Ok(codes)
    }

    fn push_packed_row(&mut self, row: &[u8]) {
        for chunk in row.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.words.push(u64::from_le_bytes(b));
        }
    }

    /// Appends one code given as `bits / 8` packed bytes.
    pub fn push_packed(&mut self, row: &[u8]) -> Result<()> {
        if row.len() != self.bits / 8 {
            return Err(Error::LengthMismatch {
                what: "packed binary code",
                expected: self.bits / 8,
                found: row.len(),
            });
        }
        self.push_packed_row(row);
        Ok(())
    }

    /// Appends every code of `other`, which must have the same length.
    pub fn extend_from(&mut self, other: BinaryView<'_>) -> Result<()> {
        if other.bits() != self.bits {
            return Err(Error::DimensionMismatch {
                what: "code bits",
                expected: self.bits,
                found: other.bits(),
            });
        }
        self.words.extend_from_slice(other.as_words());
        Ok(())
    }

    /// The borrowed view the scanners take.
    pub fn view(&self) -> BinaryView<'_> {
        BinaryView {
            bits: self.bits,
            words_per_code: self.words_per_code,
            words: &self.words,
        }
    }

    /// Code length in bits.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// `u64` words per (padded) row.
    pub fn words_per_code(&self) -> usize {
        self.words_per_code
    }

    /// Number of codes.
    pub fn len(&self) -> usize {
        self.words.len() / self.words_per_code
    }

    /// True when there are no codes.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Row `i`, or `None` past the end.
    pub fn row(&self, i: usize) -> Option<&[u64]> {
        self.view().row(i)
    }

    /// All rows, padded, back to back.
    pub fn as_words(&self) -> &[u64] {
        &self.words
    }

    /// The unpadded FAISS-layout bytes: `len() * bits / 8` bytes.
    pub fn to_packed(&self) -> Vec<u8> {
        let row_bytes = self.bits / 8;
        let mut out = Vec::with_capacity(self.len() * row_bytes);
        for row in self.words.chunks_exact(self.words_per_code) {
            let start = out.len();
            for w in row {
                out.extend_from_slice(&w.to_le_bytes());
            }
            out.truncate(start + row_bytes);
        }
        out
    }

    /// Unpacks to a row-major `len() × bits` matrix of ±1.
    pub fn to_signs(&self) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.len() * self.bits);
        for row in self.words.chunks_exact(self.words_per_code) {
            out.extend((0..self.bits).map(|c| {
                if row[c / 64] >> (c % 64) & 1 == 1 {
                    1.0
                } else {
                    -1.0
                }
            }));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_order_matches_faiss_lsb_first() {
        // bit 0 and bit 9 set: byte 0 = 0b0000_0001, byte 1 = 0b0000_0010.
        let mut signs = vec![-1.0f32; 16];
        signs[0] = 1.0;
        signs[9] = 0.5;
        let codes = BinaryCodes::from_signs(16, &signs).unwrap();
        assert_eq!(codes.to_packed(), vec![0b0000_0001, 0b0000_0010]);
        assert_eq!(codes.as_words(), &[0x0201]);
    }

    #[test]
    fn packed_round_trip_with_padding() {
        // 72 bits = 9 bytes -> 2 words per row; row bytes come back unpadded.
        let bytes: Vec<u8> = (0..27).map(|i| (i * 37 + 11) as u8).collect();
        let codes = BinaryCodes::from_packed(72, &bytes).unwrap();
        assert_eq!(codes.len(), 3);
        assert_eq!(codes.words_per_code(), 2);
        assert_eq!(codes.to_packed(), bytes);
        assert_eq!(codes.row(1).unwrap()[1], bytes[17] as u64);
    }

    #[test]
    fn signs_round_trip() {
        let signs: Vec<f32> = (0..3 * 24)
            .map(|i| if i % 3 == 0 { 1.0 } else { -1.0 })
            .collect();
        let codes = BinaryCodes::from_signs(24, &signs).unwrap();
        assert_eq!(codes.to_signs(), signs);
        // zero maps to bit 0 (-1): only x > 0 is a one.
        let zeros = BinaryCodes::from_signs(8, &[0.0; 8]).unwrap();
        assert_eq!(zeros.to_packed(), vec![0]);
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        assert!(matches!(
            BinaryCodes::empty(12),
            Err(Error::InvalidBits { bits: 12 })
        ));
        assert!(matches!(
            BinaryCodes::empty(0),
            Err(Error::InvalidBits { .. })
        ));
        assert!(matches!(
            BinaryCodes::empty(4104),
            Err(Error::InvalidBits { .. })
        ));
        assert!(matches!(
            BinaryCodes::from_packed(16, &[1, 2, 3]),
            Err(Error::LengthMismatch { found: 3, .. })
        ));
        let mut nan = vec![1.0f32; 16];
        nan[10] = f32::NAN;
        assert!(matches!(
            BinaryCodes::from_signs(8, &nan),
            Err(Error::NonFinite { row: 1, col: 2, .. })
        ));
        assert!(matches!(
            BinaryCodes::from_words(8, vec![0x100]),
            Err(Error::InvalidArgument { .. })
        ));
        let mut codes = BinaryCodes::empty(16).unwrap();
        assert!(codes.push_packed(&[1]).is_err());
        assert!(
            codes
                .extend_from(BinaryCodes::empty(8).unwrap().view())
                .is_err()
        );
    }

    #[test]
    fn view_rows_and_slices_are_bounds_checked() {
        let codes = BinaryCodes::from_packed(128, &[7u8; 48]).unwrap();
        let v = codes.view();
        assert_eq!(v.len(), 3);
        assert!(v.row(3).is_none());
        assert!(v.row(usize::MAX).is_none());
        assert_eq!(v.slice(1, 3).unwrap().len(), 2);
        assert!(v.slice(2, 4).is_none());
        assert!(BinaryView::new(128, &[0u64; 3]).is_err());
    }
}
