//! AVX-512 PQ fast scan (AVX-512 F + BW + VL, BMI2 for the row masks).
//!
//! Same block layout as the AVX2 kernel ([`super::fastscan`]): a block is 32 rows, one
//! 32-byte line per pair of sub-quantizers. One 512-bit load takes two lines (pairs `j`
//! and `j + 1`), and one 512-bit `vpshufb` looks up 32 rows in two sub-quantizers at
//! once: [`QuantizedTable`](super::table::QuantizedTable) keeps the low-nibble tables of
//! pairs `j` and `j + 1` side by side in 64 bytes (each in both 128-bit lanes of its
//! half), the high-nibble ones in the next 64. Four lookups (four pairs, eight
//! sub-quantizers) are added byte-wise (entries are at most 63), then widened into two
//! u16 accumulators as in the AVX2 kernel (`even + 256·odd` and `odd`). The two 256-bit
//! halves hold the same 32 rows, summed over different sub-quantizers; they are added
//! once per block. Per eight sub-quantizers and query: four shuffles and six adds or
//! shifts, against eight and twelve with 256-bit registers.
//!
//! The bound test compares the sums with the sink's bound into mask registers, so a
//! block where no row passes costs two compares. Up to 256 pairs (512 sub-quantizers)
//! the sums stay in u16 (at most 63 × 512 < 2^16); longer codes are summed in passes
//! of 256 pairs, each pass widened into u32.

use std::arch::x86_64::*;

use super::fastscan::{BLOCK_ROWS, FastScanCodes};
use super::table::lut_bytes;
use crate::scan::hamming::DistanceSink;

/// Pairs one u16 pass may sum: each half of the accumulator sums at most `63 × 2 ×
/// pairs / 2` per row, the two halves `126 × pairs`, below 2^16 for `pairs ≤ 256`.
const MAX_PAIRS_PER_PASS: usize = 256;

/// Scans blocks `blocks` of `codes` for `Q` queries at once, offering each query's rows
/// whose quantised sum is below its sink's bound (absolute row numbers, in row order).
///
/// # Safety
/// The CPU must support AVX-512 F, BW, VL and BMI2; every `luts[q].len() ==
/// lut_bytes(codes.pairs())` (laid out as
/// [`QuantizedTable`](super::table::QuantizedTable)), and `blocks.end ≤ codes.blocks()`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,bmi2")]
pub(super) unsafe fn fast_scan_blocks<const Q: usize, S: DistanceSink>(
    luts: &[&[u8]; Q],
    codes: &FastScanCodes,
    blocks: std::ops::Range<usize>,
    sinks: &mut [S; Q],
) {
    debug_assert!(luts.iter().all(|l| l.len() == lut_bytes(codes.pairs())));
    let pairs = codes.pairs();
    if pairs > MAX_PAIRS_PER_PASS {
        // SAFETY: as this function's contract.
        unsafe { fast_scan_blocks_wide::<Q, S>(luts, codes, blocks, sinks) };
        return;
    }
    let mut sums = [[0u16; BLOCK_ROWS]; Q];
    for b in blocks {
        // SAFETY: as this function's contract; `pairs ≤ 256`.
        let acc = unsafe { block_sums::<Q>(luts, codes.block(b), 0, pairs) };
        let base = b * BLOCK_ROWS;
        let valid = (codes.len() - base).min(BLOCK_ROWS);
        let keep = if valid < BLOCK_ROWS {
            (1u32 << valid) - 1
        } else {
            u32::MAX
        };
        // The bound test of every query first, then only the queries with rows to
        // offer: most blocks have none for any query.
        let mut masks = [0u32; Q];
        for q in 0..Q {
            let bound = sinks[q].bound();
            let (even, odd) = fold(acc[q]);
            // sum < bound  ⇔  sum ≤ bound − 1 (sums stay below 2^16); a bound of 0
            // refuses everything.
            let limit = _mm256_set1_epi16((bound.clamp(1, 65536) - 1) as u16 as i16);
            let pass_even = _mm256_cmple_epu16_mask(even, limit) as u32;
            let pass_odd = _mm256_cmple_epu16_mask(odd, limit) as u32;
            let open = 0u32.wrapping_sub((bound != 0) as u32);
            // Lane l holds rows 2l (even) and 2l + 1 (odd).
            masks[q] = (_pdep_u32(pass_even, 0x5555_5555) | _pdep_u32(pass_odd, 0xaaaa_aaaa))
                & keep
                & open;
            // SAFETY: `sums[q]` is 32 u16: even rows' sums, then odd rows'.
            unsafe {
                _mm256_storeu_si256(sums[q].as_mut_ptr().cast(), even);
                _mm256_storeu_si256(sums[q].as_mut_ptr().add(16).cast(), odd);
            }
        }
        // Bit q: query q has rows to offer.
        const { assert!(Q <= 32) };
        let mut queries = masks
            .iter()
            .enumerate()
            .fold(0u32, |a, (q, &m)| a | (((m != 0) as u32) << q));
        while queries != 0 {
            let q = queries.trailing_zeros() as usize;
            queries &= queries - 1;
            let mut mask = masks[q];
            while mask != 0 {
                let i = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                sinks[q].offer(base + i, sums[q][(i & 1) * 16 + i / 2] as u32);
            }
        }
    }
}

/// [`fast_scan_blocks`] for more than 256 pairs: passes of 256 pairs, each pass's u16
/// sums put in row order and widened into u32.
///
/// # Safety
/// As [`fast_scan_blocks`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,bmi2")]
unsafe fn fast_scan_blocks_wide<const Q: usize, S: DistanceSink>(
    luts: &[&[u8]; Q],
    codes: &FastScanCodes,
    blocks: std::ops::Range<usize>,
    sinks: &mut [S; Q],
) {
    let pairs = codes.pairs();
    let mut sums = [0u32; BLOCK_ROWS];
    for b in blocks {
        let block = codes.block(b);
        let zero = _mm512_setzero_si512();
        let mut total = [[zero; 2]; Q];
        let mut start = 0;
        while start < pairs {
            let end = (start + MAX_PAIRS_PER_PASS).min(pairs);
            // SAFETY: as this function's contract; `start` is a multiple of 256 (so of
            // four) and `end − start ≤ 256`.
            let acc = unsafe { block_sums::<Q>(luts, block, start, end) };
            for q in 0..Q {
                let (even, odd) = fold(acc[q]);
                let rows = in_row_order(even, odd);
                let lo = _mm512_cvtepu16_epi32(_mm512_castsi512_si256(rows));
                let hi = _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64::<1>(rows));
                total[q][0] = _mm512_add_epi32(total[q][0], lo);
                total[q][1] = _mm512_add_epi32(total[q][1], hi);
            }
            start = end;
        }
        let base = b * BLOCK_ROWS;
        let valid = (codes.len() - base).min(BLOCK_ROWS);
        let keep = if valid < BLOCK_ROWS {
            (1u32 << valid) - 1
        } else {
            u32::MAX
        };
        for q in 0..Q {
            let bound = sinks[q].bound();
            let limit = _mm512_set1_epi32(bound as i32);
            let below = _mm512_cmplt_epu32_mask(total[q][0], limit) as u32
                | ((_mm512_cmplt_epu32_mask(total[q][1], limit) as u32) << 16);
            let mut mask = below & keep;
            if mask == 0 {
                continue;
            }
            // SAFETY: `sums` is 32 u32, two 512-bit stores.
            unsafe {
                _mm512_storeu_si512(sums.as_mut_ptr().cast(), total[q][0]);
                _mm512_storeu_si512(sums.as_mut_ptr().add(16).cast(), total[q][1]);
            }
            while mask != 0 {
                let i = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                sinks[q].offer(base + i, sums[i]);
            }
        }
    }
}

/// The two u16 accumulators of each query over pairs `start..end` of one block: whole
/// lanes (`even row + 256·odd row`, mod 2^16) and lanes shifted right by 8 (`odd row`),
/// each 256-bit half over its own sub-quantizers.
///
/// Not a `target_feature` function so that it may be `inline(always)`: the callers
/// (AVX-512 functions) keep their accumulators in registers instead of receiving them
/// through memory.
///
/// # Safety
/// The CPU must support AVX-512 F, BW and VL; `block.len()` is `32 × pairs` and every
/// `luts[q].len() == lut_bytes(pairs)` for the block's `pairs`; `start` is a multiple
/// of four, `start ≤ end ≤ pairs` and `end − start ≤ 256`.
#[inline(always)]
unsafe fn block_sums<const Q: usize>(
    luts: &[&[u8]; Q],
    block: &[u8],
    start: usize,
    end: usize,
) -> [[__m512i; 2]; Q] {
    debug_assert!(
        block.len().is_multiple_of(32)
            && luts.iter().all(|l| l.len() == lut_bytes(block.len() / 32))
            && start.is_multiple_of(4)
            && start <= end
            && end <= block.len() / 32
            && end - start <= MAX_PAIRS_PER_PASS
    );
    // SAFETY: the CPU supports AVX-512 F, BW and VL (this function's contract), which
    // every intrinsic below needs. Loads: lines `j .. j + 4` (or `+ 2`, `+ 1` at the
    // tail) lie inside `block` (`32·(j + 4) ≤ 32·end ≤ block.len()`); `j` is even, so
    // the tables of pairs `j .. j + 4` (or `j .. j + 2`) are the bytes `64·j .. 64·j +
    // 256` (`+ 128`), inside `lut_bytes(pairs)`. Unaligned loads are allowed.
    unsafe {
        let low = _mm512_set1_epi8(0x0f);
        let zero = _mm512_setzero_si512();
        let mut acc = [[zero; 2]; Q];
        let mut j = start;
        while j + 4 <= end {
            let g0 = _mm512_loadu_si512(block.as_ptr().add(32 * j).cast());
            let g1 = _mm512_loadu_si512(block.as_ptr().add(32 * j + 64).cast());
            let (lo0, hi0) = (
                _mm512_and_si512(g0, low),
                _mm512_and_si512(_mm512_srli_epi16::<4>(g0), low),
            );
            let (lo1, hi1) = (
                _mm512_and_si512(g1, low),
                _mm512_and_si512(_mm512_srli_epi16::<4>(g1), low),
            );
            for q in 0..Q {
                let t = luts[q].as_ptr().add(64 * j);
                let e0 = _mm512_loadu_si512(t.cast());
                let o0 = _mm512_loadu_si512(t.add(64).cast());
                let e1 = _mm512_loadu_si512(t.add(128).cast());
                let o1 = _mm512_loadu_si512(t.add(192).cast());
                let r = _mm512_add_epi8(
                    _mm512_add_epi8(_mm512_shuffle_epi8(e0, lo0), _mm512_shuffle_epi8(o0, hi0)),
                    _mm512_add_epi8(_mm512_shuffle_epi8(e1, lo1), _mm512_shuffle_epi8(o1, hi1)),
                );
                acc[q][0] = _mm512_add_epi16(acc[q][0], r);
                acc[q][1] = _mm512_add_epi16(acc[q][1], _mm512_srli_epi16::<8>(r));
            }
            j += 4;
        }
        if j + 2 <= end {
            let g = _mm512_loadu_si512(block.as_ptr().add(32 * j).cast());
            let (lo, hi) = (
                _mm512_and_si512(g, low),
                _mm512_and_si512(_mm512_srli_epi16::<4>(g), low),
            );
            for q in 0..Q {
                let t = luts[q].as_ptr().add(64 * j);
                let e = _mm512_loadu_si512(t.cast());
                let o = _mm512_loadu_si512(t.add(64).cast());
                let r = _mm512_add_epi8(_mm512_shuffle_epi8(e, lo), _mm512_shuffle_epi8(o, hi));
                acc[q][0] = _mm512_add_epi16(acc[q][0], r);
                acc[q][1] = _mm512_add_epi16(acc[q][1], _mm512_srli_epi16::<8>(r));
            }
            j += 2;
        }
        if j < end {
            // One pair left: 256-bit lookups (pair j's tables are the low 32 bytes of
            // each 64-byte half), added to the low halves of the accumulators.
            let g = _mm256_loadu_si256(block.as_ptr().add(32 * j).cast());
            let low = _mm256_set1_epi8(0x0f);
            let (lo, hi) = (
                _mm256_and_si256(g, low),
                _mm256_and_si256(_mm256_srli_epi16::<4>(g), low),
            );
            for q in 0..Q {
                let t = luts[q].as_ptr().add(64 * j);
                let e = _mm256_loadu_si256(t.cast());
                let o = _mm256_loadu_si256(t.add(64).cast());
                let r = _mm512_zextsi256_si512(_mm256_add_epi8(
                    _mm256_shuffle_epi8(e, lo),
                    _mm256_shuffle_epi8(o, hi),
                ));
                acc[q][0] = _mm512_add_epi16(acc[q][0], r);
                acc[q][1] = _mm512_add_epi16(acc[q][1], _mm512_srli_epi16::<8>(r));
            }
        }
        acc
    }
}

/// Even-row and odd-row sums (16 u16 lanes each, lane `l` for rows `2l` and `2l + 1`)
/// from one query's accumulators: `even = whole − (odd << 8)` per half (exact, the true
/// even sum of a half staying below 2^16), then the two halves added.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
fn fold(acc: [__m512i; 2]) -> (__m256i, __m256i) {
    let odd = acc[1];
    let even = _mm512_sub_epi16(acc[0], _mm512_slli_epi16::<8>(odd));
    (
        _mm256_add_epi16(
            _mm512_castsi512_si256(even),
            _mm512_extracti64x4_epi64::<1>(even),
        ),
        _mm256_add_epi16(
            _mm512_castsi512_si256(odd),
            _mm512_extracti64x4_epi64::<1>(odd),
        ),
    )
}

/// The 32 rows' u16 sums in row order from the even-row and odd-row lanes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
fn in_row_order(even: __m256i, odd: __m256i) -> __m512i {
    // Row 2l is even lane l (index l), row 2l + 1 odd lane l (index 32 + l).
    let index = _mm512_set_epi16(
        47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8, 39, 7, 38, 6, 37, 5, 36, 4,
        35, 3, 34, 2, 33, 1, 32, 0,
    );
    _mm512_permutex2var_epi16(
        _mm512_castsi256_si512(even),
        index,
        _mm512_castsi256_si512(odd),
    )
}
