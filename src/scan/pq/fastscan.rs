//! The 4-bit fast scan: codes in blocks of 32 rows, looked up 32 at a time in a u8
//! table held in a register.
//!
//! Layout of one block (rows `32b .. 32b+32`), for each pair of sub-quantizers
//! `(2j, 2j+1)`, 32 bytes: byte `i` is row `32b+i`'s packed byte `j` (code of `2j` in
//! the low nibble, of `2j+1` in the high one), so a block is the 32 rows' packed codes
//! transposed. Masking the low nibbles of those 32 bytes gives the codes of all 32 rows
//! for `2j`, the high nibbles those for `2j+1`; `vpshufb` looks each set up in a table
//! that holds the sub-quantizer's 16 entries in both 128-bit lanes
//! ([`super::table::QuantizedTable`]), so one lookup serves 32 rows and no lane ever has
//! to be folded onto the other. The AVX-512 kernel loads two lines (two pairs) per
//! 512-bit register and looks up both pairs with one 512-bit `vpshufb` (the table keeps
//! the two pairs' tables side by side). Sums are kept in u16 (entries are at most 63):
//! the AVX2 kernel takes up to 128 pairs (more go to the portable kernel), the AVX-512
//! one sums passes of up to 256 pairs and widens each into u32. A final partial block
//! is padded with zero codes and its padding rows are never offered.
//!
//! The shortlist is a `Shortlist`: the same rows as a counting top-k, with a bound
//! that is exact after every offer, so fewer rows pass the kernels' bound test.
//!
//! The row-major codes are kept beside the blocks for the exact re-ranking: a row there
//! is `M/2` consecutive bytes, where in its block it is spread over `M/2` lines of 32.

use crate::code::pq::PqView;
use crate::error::{Error, Result};
use crate::scan::hamming::DistanceSink;
use crate::scan::pq::PqKernel;
use crate::scan::pq::table::{ENTRY_MAX, QuantizedTable, entry_offset, lut_bytes};
use crate::scan::pq::topk::Shortlist;

/// Rows per fast-scan block.
pub const BLOCK_ROWS: usize = 32;
/// Sub-quantizer pairs one u16 pass may sum without overflow (128 × 2 × 255 < 65536).
pub(crate) const MAX_PAIRS_PER_PASS: usize = 128;

/// 4-bit PQ codes re-laid for the fast scan, with a row-major copy for re-ranking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FastScanCodes {
    m: usize,
    len: usize,
    /// `blocks() × pairs() × 32` bytes, laid out as the module doc says.
    blocks: Vec<u8>,
    /// `len × pairs()` bytes: the packed codes, row-major.
    rows: Vec<u8>,
}

impl FastScanCodes {
    /// Re-lays 4-bit codes. Errors: codes that are not 4-bit.
    pub fn from_view(codes: PqView<'_>) -> Result<Self> {
        if codes.nbits() != 4 {
            return Err(Error::InvalidArgument {
                name: "codes",
                reason: format!("the fast scan needs 4-bit codes, got {}-bit", codes.nbits()),
            });
        }
        let (m, len) = (codes.m(), codes.len());
        let pairs = m.div_ceil(2);
        let rows = codes.as_bytes().to_vec();
        let block_bytes = pairs * 32;
        let mut blocks = vec![0u8; len.div_ceil(BLOCK_ROWS) * block_bytes];
        for (block, chunk) in blocks
            .chunks_exact_mut(block_bytes)
            .zip(rows.chunks(BLOCK_ROWS * pairs))
        {
            for (i, row) in chunk.chunks_exact(pairs).enumerate() {
                for (j, &byte) in row.iter().enumerate() {
                    block[j * 32 + i] = byte;
                }
            }
        }
        Ok(FastScanCodes {
            m,
            len,
            blocks,
            rows,
        })
    }

    /// Sub-quantizers `M`.
    pub fn m(&self) -> usize {
        self.m
    }
    /// Pairs of sub-quantizers (an odd `M` is padded).
    pub fn pairs(&self) -> usize {
        self.m.div_ceil(2)
    }
    /// Rows.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Number of 32-row blocks.
    pub fn blocks(&self) -> usize {
        self.len.div_ceil(BLOCK_ROWS)
    }
    /// Bytes of block `b`.
    pub(crate) fn block(&self, b: usize) -> &[u8] {
        let size = self.pairs() * 32;
        &self.blocks[b * size..(b + 1) * size]
    }
    /// Packed codes of `row` (`pairs()` bytes, low nibble first; caller keeps
    /// `row < len`).
    #[inline]
    pub(crate) fn row(&self, row: usize) -> &[u8] {
        let pairs = self.pairs();
        &self.rows[row * pairs..(row + 1) * pairs]
    }
    /// Asks the CPU to bring `row`'s packed codes into the cache (a hint; any `row`).
    #[inline]
    pub(crate) fn prefetch_row(&self, row: usize) {
        #[cfg(target_arch = "x86_64")]
        if let Some(byte) = self.rows.get(row * self.pairs()) {
            // SAFETY: a prefetch never faults and reads nothing into the program; the
            // address is inside `rows` anyway.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    (byte as *const u8).cast(),
                )
            };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = row;
    }
    /// Code of sub-quantizer `sub` in `row` (caller keeps `row < len`, `sub < m`).
    #[inline]
    pub fn code(&self, row: usize, sub: usize) -> u8 {
        (self.row(row)[sub / 2] >> (4 * (sub % 2))) & 0x0f
    }
}

/// Reference: quantised sum of every row of the original codes.
pub fn quantized_sums_reference(table: &QuantizedTable, codes: PqView<'_>) -> Vec<u32> {
    (0..codes.len())
        .map(|i| {
            (0..codes.m())
                .map(|s| table.entry(s, codes.code(i, s)) as u32)
                .sum()
        })
        .collect()
}

/// Portable block kernel: sums of the 32 rows of one block, any number of pairs.
fn block_sums_portable(lut: &[u8], block: &[u8], out: &mut [u32; BLOCK_ROWS]) {
    *out = [0; BLOCK_ROWS];
    for (j, g) in block.chunks_exact(32).enumerate() {
        let at = entry_offset(2 * j);
        let (even, odd) = (&lut[at..at + 16], &lut[at + 64..at + 80]);
        for (o, &byte) in out.iter_mut().zip(g) {
            *o += even[(byte & 0x0f) as usize] as u32 + odd[(byte >> 4) as usize] as u32;
        }
    }
}

/// Scans blocks `blocks`, offering rows (absolute row numbers) whose quantised sum is
/// below the sink's bound.
pub(crate) fn scan<S: DistanceSink>(
    kernel: PqKernel,
    table: &QuantizedTable,
    codes: &FastScanCodes,
    blocks: std::ops::Range<usize>,
    sink: &mut S,
) {
    let pairs = codes.pairs();
    let lut = &table.bytes[..lut_bytes(pairs)];
    #[cfg(target_arch = "x86_64")]
    if kernel == PqKernel::Avx512 && kernel.is_available() {
        // SAFETY: the CPU supports AVX-512 F/BW/VL and BMI2 (checked just above); `lut`
        // is `lut_bytes(pairs)` bytes and `blocks` lie inside `codes`.
        unsafe {
            super::x86_avx512::fast_scan_blocks::<1, S>(
                &[lut],
                codes,
                blocks,
                std::array::from_mut(sink),
            )
        };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if kernel == PqKernel::Avx2 && pairs <= MAX_PAIRS_PER_PASS && kernel.is_available() {
        // SAFETY: the CPU supports AVX2 (checked just above); `lut` is
        // `lut_bytes(pairs)` bytes, `pairs ≤ 128`, and `blocks` lie inside `codes`.
        unsafe {
            super::x86_avx2::fast_scan_blocks::<1, S>(
                &[lut],
                codes,
                blocks,
                std::array::from_mut(sink),
            )
        };
        return;
    }
    let mut sums32 = [0u32; BLOCK_ROWS];
    for b in blocks {
        let block = codes.block(b);
        let base = b * BLOCK_ROWS;
        let valid = (codes.len() - base).min(BLOCK_ROWS);
        if kernel == PqKernel::Scalar {
            for (i, s) in sums32.iter_mut().enumerate().take(valid) {
                *s = (0..codes.m())
                    .map(|sub| table.entry(sub, codes.code(base + i, sub)) as u32)
                    .sum();
            }
        } else {
            block_sums_portable(lut, block, &mut sums32);
        }
        for (i, &s) in sums32.iter().enumerate().take(valid) {
            if s < sink.bound() {
                sink.offer(base + i, s);
            }
        }
    }
}

/// Quantised sums of every row with `kernel` (for tests and evaluation).
pub fn quantized_sums(
    kernel: PqKernel,
    table: &QuantizedTable,
    codes: &FastScanCodes,
) -> Result<Vec<u32>> {
    let kernel = kernel.check()?;
    if table.pairs() != codes.pairs() {
        return Err(Error::DimensionMismatch {
            what: "fast-scan table pairs vs code pairs",
            expected: codes.pairs(),
            found: table.pairs(),
        });
    }
    struct Every(Vec<u32>);
    impl DistanceSink for Every {
        fn bound(&self) -> u32 {
            u32::MAX
        }
        fn offer(&mut self, _row: usize, distance: u32) {
            self.0.push(distance);
        }
    }
    let mut every = Every(Vec::with_capacity(codes.len()));
    scan(kernel, table, codes, 0..codes.blocks(), &mut every);
    Ok(every.0)
}

/// A shortlist selector sized for the quantised sums of `codes`.
pub(crate) fn shortlist_selector(codes: &FastScanCodes, shortlist: usize) -> Shortlist {
    Shortlist::new(shortlist, ENTRY_MAX as u32 * 2 * codes.pairs() as u32)
}

/// Queries per group in the batched fast scan (each code block is loaded once per
/// group): eight with AVX-512 (32 registers hold their accumulators), else four.
pub(crate) fn scan_group_size(kernel: PqKernel) -> usize {
    if kernel == PqKernel::Avx512 { 8 } else { 4 }
}

/// Scans blocks `blocks` for a group of queries, offering each query's rows below its
/// sink's bound. AVX-512 (groups of four or eight) and AVX2 with at most 128 pairs
/// (groups of four) load each code block once per group; otherwise each query is
/// scanned on its own.
pub(crate) fn scan_group(
    kernel: PqKernel,
    tables: &[&QuantizedTable],
    codes: &FastScanCodes,
    blocks: std::ops::Range<usize>,
    sinks: &mut [Shortlist],
) {
    #[cfg(target_arch = "x86_64")]
    if kernel.is_available() {
        let done = match (kernel, tables.len()) {
            (PqKernel::Avx512, 8) => scan_group_x86::<8>(true, tables, codes, &blocks, sinks),
            (PqKernel::Avx512, 4) => scan_group_x86::<4>(true, tables, codes, &blocks, sinks),
            (PqKernel::Avx2, 4) if codes.pairs() <= MAX_PAIRS_PER_PASS => {
                scan_group_x86::<4>(false, tables, codes, &blocks, sinks)
            }
            _ => false,
        };
        if done {
            return;
        }
    }
    for (table, sink) in tables.iter().zip(sinks.iter_mut()) {
        scan(kernel, table, codes, blocks.clone(), sink);
    }
}

/// One group of `Q` queries with the AVX-512 kernel (`avx512`) or the AVX2 one; false
/// (nothing scanned) if the group is not `Q` queries and `Q` sinks.
///
/// The caller has checked that the CPU runs the kernel and, for AVX2, that
/// `codes.pairs() ≤ 128`.
#[cfg(target_arch = "x86_64")]
fn scan_group_x86<const Q: usize>(
    avx512: bool,
    tables: &[&QuantizedTable],
    codes: &FastScanCodes,
    blocks: &std::ops::Range<usize>,
    sinks: &mut [Shortlist],
) -> bool {
    let pairs = codes.pairs();
    let (Ok(tables), Ok(sinks)) = (
        <&[&QuantizedTable; Q]>::try_from(tables),
        <&mut [Shortlist; Q]>::try_from(sinks),
    ) else {
        return false;
    };
    let luts: [&[u8]; Q] = std::array::from_fn(|q| &tables[q].bytes[..lut_bytes(pairs)]);
    if avx512 {
        debug_assert!(PqKernel::Avx512.is_available());
        // SAFETY: the caller checked that the CPU supports AVX-512 F/BW/VL and BMI2;
        // every lut is `lut_bytes(pairs)` bytes and `blocks` lie inside `codes`.
        unsafe {
            super::x86_avx512::fast_scan_blocks::<Q, Shortlist>(&luts, codes, blocks.clone(), sinks)
        };
    } else {
        debug_assert!(PqKernel::Avx2.is_available() && pairs <= MAX_PAIRS_PER_PASS);
        // SAFETY: the caller checked that the CPU supports AVX2 and `pairs ≤ 128`; every
        // lut is `lut_bytes(pairs)` bytes and `blocks` lie inside `codes`.
        unsafe {
            super::x86_avx2::fast_scan_blocks::<Q, Shortlist>(&luts, codes, blocks.clone(), sinks)
        };
    }
    true
}
