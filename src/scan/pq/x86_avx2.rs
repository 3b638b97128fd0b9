//! AVX2 PQ kernels: the `vpshufb` fast-scan block (several queries per code load), the
//! eight-query 8-bit ADC, and the one-query 8-bit ADC loop compiled for AVX2.
//!
//! Fast-scan accumulation: each `vpshufb` result holds 32 u8 entries, one per row.
//! Viewed as 16 u16 lanes, adding the whole lane accumulates `even + 256·odd` (mod
//! 2^16) and adding the lane shifted right by 8 accumulates `odd`; `even = acc −
//! (acc_hi << 8)` is exact because the true even sum stays below 2^16. Three
//! instructions per lookup vector, no unpacking inside the loop.

use std::arch::x86_64::*;

use super::fastscan::{BLOCK_ROWS, FastScanCodes};
use super::table::lut_bytes;
use crate::scan::hamming::DistanceSink;

/// 8-bit ADC costs (the portable unrolled loop, compiled with AVX2 enabled).
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn costs_8bit(costs: &[f32], m: usize, bytes: &[u8], out: &mut [f32]) {
    super::adc::costs_8bit_unrolled(costs, m, bytes, out)
}

/// Scans blocks `blocks` of `codes` for `Q` queries at once, offering each query's rows
/// whose quantised sum is below its sink's bound (absolute row numbers, in row order).
///
/// The block loop and the offers live here, inside the AVX2 function, so that nothing
/// per block crosses a call. Per block, [`block_sums`] gives two u16 accumulators per
/// query; the bound test runs on them as they are, and only a block where some row
/// passes (after the first blocks, few) is put in row order.
///
/// # Safety
/// The CPU must support AVX2; `codes.pairs() ≤ 128` (so that no u16 sum overflows),
/// every `luts[q].len() == lut_bytes(codes.pairs())` (laid out as
/// [`QuantizedTable`](super::table::QuantizedTable)), and `blocks.end ≤ codes.blocks()`.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn fast_scan_blocks<const Q: usize, S: DistanceSink>(
    luts: &[&[u8]; Q],
    codes: &FastScanCodes,
    blocks: std::ops::Range<usize>,
    sinks: &mut [S; Q],
) {
    debug_assert!(luts.iter().all(|l| l.len() == lut_bytes(codes.pairs())));
    let mut sums = [0u16; BLOCK_ROWS];
    for b in blocks {
        // SAFETY: as this function's contract.
        let acc = unsafe { block_sums::<Q>(luts, codes.block(b)) };
        let base = b * BLOCK_ROWS;
        let valid = (codes.len() - base).min(BLOCK_ROWS);
        let keep = if valid < BLOCK_ROWS {
            (1u32 << valid) - 1
        } else {
            u32::MAX
        };
        for q in 0..Q {
            let bound = sinks[q].bound();
            if bound == 0 {
                continue;
            }
            // Lane l: rows 2l (even) and 2l + 1 (odd).
            let odd = acc[q][1];
            let even = _mm256_sub_epi16(acc[q][0], _mm256_slli_epi16::<8>(odd));
            // sum < bound  ⇔  min(sum, bound − 1) == sum, unsigned.
            let limit = _mm256_set1_epi16((bound.min(65536) - 1) as u16 as i16);
            let pass_even = _mm256_cmpeq_epi16(_mm256_min_epu16(even, limit), even);
            let pass_odd = _mm256_cmpeq_epi16(_mm256_min_epu16(odd, limit), odd);
            let pass = _mm256_or_si256(pass_even, pass_odd);
            if _mm256_testz_si256(pass, pass) == 1 {
                continue;
            }
            let (first, second) = interleave(even, odd);
            // SAFETY: `sums` is 32 u16 = two 256-bit stores.
            unsafe {
                _mm256_storeu_si256(sums.as_mut_ptr().cast(), first);
                _mm256_storeu_si256(sums.as_mut_ptr().add(16).cast(), second);
            }
            let (pass_first, pass_second) = interleave(pass_even, pass_odd);
            // packs interleaves lanes: [r0-7, r16-23 | r8-15, r24-31]; restore row order.
            let packed = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packs_epi16(
                pass_first,
                pass_second,
            ));
            let mut mask = _mm256_movemask_epi8(packed) as u32 & keep;
            while mask != 0 {
                let i = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                sinks[q].offer(base + i, sums[i] as u32);
            }
        }
    }
}

/// The two u16 accumulators of each query over one block: whole lanes (`even row +
/// 256·odd row`, mod 2^16) and lanes shifted right by 8 (`odd row`).
///
/// Per two pairs of sub-quantizers: two loads of the block's bytes, split into low and
/// high nibbles once for all `Q` queries, then per query four lookups added byte-wise
/// (entries are at most 63, [`super::table::ENTRY_MAX`], so the sum is exact) and
/// widened once. `even = whole − (odd << 8)` is exact because the true even sum stays
/// below 2^16. The eight accumulators of four queries stay in registers.
///
/// # Safety
/// The CPU must support AVX2; `block.len()` is a multiple of 32 and every
/// `luts[q].len() == lut_bytes(block.len() / 32)`.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn block_sums<const Q: usize>(luts: &[&[u8]; Q], block: &[u8]) -> [[__m256i; 2]; Q] {
    debug_assert!(
        luts.iter().all(|l| l.len() == lut_bytes(block.len() / 32))
            && block.len().is_multiple_of(32)
    );
    let low = _mm256_set1_epi8(0x0f);
    let zero = _mm256_setzero_si256();
    let mut acc = [[zero; 2]; Q];
    let pairs = block.len() / 32;
    let mut j = 0;
    // SAFETY (every load below): `32·(j + 2) ≤ block.len()` (or `32·(j + 1)` for the
    // last single pair) and, `j` being even, `64·j + 128 ≤ luts[q].len()`; unaligned
    // loads are allowed. Pairs `j` and `j + 1` have their low-nibble tables at `64·j`
    // and `64·j + 32`, their high-nibble ones at `64·j + 64` and `64·j + 96`.
    while j + 2 <= pairs {
        let (g0, g1) = unsafe {
            (
                _mm256_loadu_si256(block.as_ptr().add(32 * j).cast()),
                _mm256_loadu_si256(block.as_ptr().add(32 * j + 32).cast()),
            )
        };
        let (lo0, hi0) = (
            _mm256_and_si256(g0, low),
            _mm256_and_si256(_mm256_srli_epi16::<4>(g0), low),
        );
        let (lo1, hi1) = (
            _mm256_and_si256(g1, low),
            _mm256_and_si256(_mm256_srli_epi16::<4>(g1), low),
        );
        for q in 0..Q {
            let t = luts[q].as_ptr().wrapping_add(64 * j);
            let (e0, e1, o0, o1) = unsafe {
                (
                    _mm256_loadu_si256(t.cast()),
                    _mm256_loadu_si256(t.add(32).cast()),
                    _mm256_loadu_si256(t.add(64).cast()),
                    _mm256_loadu_si256(t.add(96).cast()),
                )
            };
            let r = _mm256_add_epi8(
                _mm256_add_epi8(_mm256_shuffle_epi8(e0, lo0), _mm256_shuffle_epi8(o0, hi0)),
                _mm256_add_epi8(_mm256_shuffle_epi8(e1, lo1), _mm256_shuffle_epi8(o1, hi1)),
            );
            acc[q][0] = _mm256_add_epi16(acc[q][0], r);
            acc[q][1] = _mm256_add_epi16(acc[q][1], _mm256_srli_epi16::<8>(r));
        }
        j += 2;
    }
    if j < pairs {
        let g = unsafe { _mm256_loadu_si256(block.as_ptr().add(32 * j).cast()) };
        let (lo, hi) = (
            _mm256_and_si256(g, low),
            _mm256_and_si256(_mm256_srli_epi16::<4>(g), low),
        );
        for q in 0..Q {
            let t = luts[q].as_ptr().wrapping_add(64 * j);
            let (e, o) = unsafe {
                (
                    _mm256_loadu_si256(t.cast()),
                    _mm256_loadu_si256(t.add(64).cast()),
                )
            };
            let r = _mm256_add_epi8(_mm256_shuffle_epi8(e, lo), _mm256_shuffle_epi8(o, hi));
            acc[q][0] = _mm256_add_epi16(acc[q][0], r);
            acc[q][1] = _mm256_add_epi16(acc[q][1], _mm256_srli_epi16::<8>(r));
        }
    }
    acc
}

/// Rows 0-15 and 16-31 in order from the even-row and odd-row u16 lanes.
#[inline]
#[target_feature(enable = "avx2")]
fn interleave(even: __m256i, odd: __m256i) -> (__m256i, __m256i) {
    // unpacklo: [rows 0-7 | rows 16-23]; unpackhi: [rows 8-15 | rows 24-31].
    let lo = _mm256_unpacklo_epi16(even, odd);
    let hi = _mm256_unpackhi_epi16(even, odd);
    (
        _mm256_permute2x128_si256::<0x20>(lo, hi),
        _mm256_permute2x128_si256::<0x31>(lo, hi),
    )
}

/// Eight queries' 8-bit ADC costs of each row, four rows a step: per sub-quantizer and
/// row one 32-byte load of the interleaved table and one vector add.
///
/// # Safety
/// The CPU must support AVX2; `m > 0`, `lanes.len() == m × 256` and
/// `bytes.len() == out.len() × m`.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn group_costs_8bit(
    lanes: &[super::group::Lanes],
    m: usize,
    bytes: &[u8],
    out: &mut [super::group::Lanes],
) {
    debug_assert!(lanes.len() == m * 256 && bytes.len() == out.len() * m);
    let table = lanes.as_ptr().cast::<f32>();
    let rows = out.len();
    let mut r = 0;
    while r + 4 <= rows {
        // SAFETY: rows r..r+4 lie inside `bytes`; every table offset is
        // `(j·256 + code)·8` with `j < m` and `code < 256`, inside `lanes`; `Lanes` is
        // 32-byte aligned, so the table loads and the stores to `out` are aligned.
        unsafe {
            let p = bytes.as_ptr().add(r * m);
            let mut a0 = _mm256_setzero_ps();
            let mut a1 = _mm256_setzero_ps();
            let mut a2 = _mm256_setzero_ps();
            let mut a3 = _mm256_setzero_ps();
            for j in 0..m {
                let t = table.add(j * 256 * 8);
                a0 = _mm256_add_ps(a0, _mm256_load_ps(t.add(*p.add(j) as usize * 8)));
                a1 = _mm256_add_ps(a1, _mm256_load_ps(t.add(*p.add(m + j) as usize * 8)));
                a2 = _mm256_add_ps(a2, _mm256_load_ps(t.add(*p.add(2 * m + j) as usize * 8)));
                a3 = _mm256_add_ps(a3, _mm256_load_ps(t.add(*p.add(3 * m + j) as usize * 8)));
            }
            let o = out.as_mut_ptr().add(r).cast::<f32>();
            _mm256_store_ps(o, a0);
            _mm256_store_ps(o.add(8), a1);
            _mm256_store_ps(o.add(16), a2);
            _mm256_store_ps(o.add(24), a3);
        }
        r += 4;
    }
    while r < rows {
        // SAFETY: as above, for the single row r.
        unsafe {
            let p = bytes.as_ptr().add(r * m);
            let mut a = _mm256_setzero_ps();
            for j in 0..m {
                let t = table.add(j * 256 * 8);
                a = _mm256_add_ps(a, _mm256_load_ps(t.add(*p.add(j) as usize * 8)));
            }
            _mm256_store_ps(out.as_mut_ptr().add(r).cast::<f32>(), a);
        }
        r += 1;
    }
}
