//! Per-query lookup tables.
//!
//! [`AdcTable`] is the exact `M × K` f32 cost table of one query (squared L2 distance
//! of the query's sub-vector to each codeword, or the negated inner product).
//! [`QuantizedTable`] is its u8 version for the 4-bit fast scan: each sub-quantizer's
//! row is shifted by its minimum, all rows share one scale chosen so the largest entry
//! maps to [`ENTRY_MAX`] (127), and entries are rounded. A row's quantised sum `s` approximates its cost
//! as `offset + s / scale`, off by at most `M / (2·scale)`.

use crate::code::pq::{PqCodebooks, PqMetric, check_finite};
use crate::error::{Error, Result};

/// Exact per-query costs: `costs[sub · K + code]`, smaller is better.
#[derive(Clone, Debug, PartialEq)]
pub struct AdcTable {
    m: usize,
    k: usize,
    metric: PqMetric,
    costs: Vec<f32>,
}

impl AdcTable {
    /// The table of `query` (`dim` floats) against `books`, scaled by `weight`
    /// (1 for a plain search; multi-column search weights each column).
    ///
    /// Errors: a query of the wrong length or with a non-finite value.
    pub fn new(books: &PqCodebooks, query: &[f32], metric: PqMetric, weight: f32) -> Result<Self> {
        if query.len() != books.dim() {
            return Err(Error::DimensionMismatch {
                what: "PQ query dimension",
                expected: books.dim(),
                found: query.len(),
            });
        }
        check_finite("PQ query", query, books.dim())?;
        let (m, k, dsub) = (books.m(), books.k(), books.dsub());
        let mut costs = Vec::with_capacity(m * k);
        for (sub, q) in query.chunks_exact(dsub).enumerate() {
            let book = books.codebook(sub).unwrap_or_default();
            for c in book.chunks_exact(dsub) {
                let cost = match metric {
                    PqMetric::SquaredL2 => q.iter().zip(c).map(|(a, b)| (a - b) * (a - b)).sum(),
                    PqMetric::InnerProduct => -q.iter().zip(c).map(|(a, b)| a * b).sum::<f32>(),
                };
                // `+ 0.0` turns a -0.0 entry into +0.0, so no sum of entries is -0.0
                // and equal scores compare equal under `total_cmp` (ties go by row).
                costs.push(cost * weight + 0.0);
            }
        }
        Ok(AdcTable {
            m,
            k,
            metric,
            costs,
        })
    }

    /// Sub-quantizers `M`.
    pub fn m(&self) -> usize {
        self.m
    }
    /// Codewords per sub-quantizer `K`.
    pub fn k(&self) -> usize {
        self.k
    }
    /// The metric the table was built for.
    pub fn metric(&self) -> PqMetric {
        self.metric
    }
    /// All costs, `M × K`.
    pub fn costs(&self) -> &[f32] {
        &self.costs
    }
    /// The user-facing score of a cost: the distance, or the inner product.
    #[inline]
    pub fn score(&self, cost: f32) -> f32 {
        match self.metric {
            PqMetric::SquaredL2 => cost,
            PqMetric::InnerProduct => -cost,
        }
    }
}

/// Largest quantised entry: 6 bits, so that the fast scan may add four lookups in a
/// byte without overflow before widening.
pub const ENTRY_MAX: u8 = 63;

/// A 4-bit table quantised to u8 and laid out for the fast scan. Each sub-quantizer's 16
/// entries are stored twice (32 bytes, one copy per 128-bit lane of a `vpshufb`), and the
/// sub-quantizers go in groups of four, two pairs, 128 bytes: `4q` (low nibble of pair
/// `2q`), `4q + 2` (low nibble of pair `2q + 1`), then `4q + 1` and `4q + 3` (the high
/// nibbles). So the 64 bytes at `128q` are the low-nibble tables of both pairs and the
/// next 64 their high-nibble tables: one 512-bit load per nibble serves two pairs, and a
/// 256-bit kernel reads pair `p`'s tables at `128·(p/2) + 32·(p%2)` and 64 bytes on.
/// Missing sub-quantizers (an odd `M`, an odd number of pairs) are padded with zeros.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantizedTable {
    /// `pairs.div_ceil(2) × 128` bytes, laid out as above.
    pub bytes: Vec<u8>,
    /// Quantised units per unit of cost.
    pub scale: f32,
    /// Sum of the per-sub-quantizer minima: cost ≈ `offset + sum / scale`.
    pub offset: f32,
    pairs: usize,
}

impl QuantizedTable {
    /// Quantises a 4-bit (`K = 16`) table. Errors: a table of another `K`.
    pub fn new(table: &AdcTable) -> Result<Self> {
        if table.k() != 16 {
            return Err(Error::DimensionMismatch {
                what: "fast-scan table codewords per sub-quantizer",
                expected: 16,
                found: table.k(),
            });
        }
        let rows: Vec<&[f32]> = table.costs().chunks_exact(16).collect();
        let minima: Vec<f32> = rows
            .iter()
            .map(|r| r.iter().copied().fold(f32::INFINITY, f32::min))
            .collect();
        let spread = rows
            .iter()
            .zip(&minima)
            .flat_map(|(r, &lo)| r.iter().map(move |&v| v - lo))
            .fold(0.0f32, f32::max);
        let scale = if spread > 0.0 {
            ENTRY_MAX as f32 / spread
        } else {
            1.0
        };
        let pairs = table.m().div_ceil(2);
        let mut bytes = vec![0u8; lut_bytes(pairs)];
        for (sub, (row, &lo)) in rows.iter().zip(&minima).enumerate() {
            let at = entry_offset(sub);
            let (first, second) = bytes[at..at + 32].split_at_mut(16);
            for ((d, e), &v) in first.iter_mut().zip(second.iter_mut()).zip(row.iter()) {
                *d = ((v - lo) * scale).round().clamp(0.0, ENTRY_MAX as f32) as u8;
                *e = *d;
            }
        }
        Ok(QuantizedTable {
            bytes,
            pairs,
            scale,
            offset: minima.iter().sum(),
        })
    }

    /// Number of sub-quantizer pairs.
    pub fn pairs(&self) -> usize {
        self.pairs
    }

    /// Quantised entry of sub-quantizer `sub` for `code` (`sub < 2·pairs`, `code < 16`).
    #[inline]
    pub fn entry(&self, sub: usize, code: u8) -> u8 {
        self.bytes[entry_offset(sub) + code as usize]
    }
}

/// Bytes of a [`QuantizedTable`] of `pairs` pairs of sub-quantizers.
#[inline]
pub(crate) fn lut_bytes(pairs: usize) -> usize {
    pairs.div_ceil(2) * 128
}

/// Where sub-quantizer `sub`'s first copy of entries starts in [`QuantizedTable::bytes`].
#[inline]
pub(crate) fn entry_offset(sub: usize) -> usize {
    // sub = 4q + 2s + h: pair 2q + s, nibble h.
    (sub / 4) * 128 + (sub % 2) * 64 + ((sub / 2) % 2) * 32
}
