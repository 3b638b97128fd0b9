//! AVX2 PQ kernels: the `vpshufb` fast-scan block and the 8-bit ADC loop compiled for
//! AVX2.
//!
//! Fast-scan accumulation: each `vpshufb` result holds 32 u8 entries. Viewed as 16
//! u16 lanes, adding the whole lane accumulates `even + 256·odd` (mod 2^16) and adding
//! the lane shifted right by 8 accumulates `odd`; `even = acc − (acc_hi << 8)` is exact
//! because the true even sum stays below 2^16. Three instructions per lookup vector,
//! no unpacking inside the loop.

use std::arch::x86_64::*;

use super::fastscan::BLOCK_ROWS;

/// 8-bit ADC costs (the portable unrolled loop, compiled with AVX2 enabled).
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn costs_8bit(costs: &[f32], m: usize, bytes: &[u8], out: &mut [f32]) {
    super::adc::costs_8bit_unrolled(costs, m, bytes, out)
}

/// Sums of the 32 rows of one fast-scan block into `out` (row order); returns the mask
/// of rows whose sum is below `bound`.
///
/// # Safety
/// The CPU must support AVX2; `lut.len() == block.len()`, a multiple of 32, and at most
/// `128 × 32` (so that no u16 sum overflows).
#[target_feature(enable = "avx2")]
pub(super) unsafe fn fast_scan_block(
    lut: &[u8],
    block: &[u8],
    bound: u32,
    out: &mut [u16; BLOCK_ROWS],
) -> u32 {
    debug_assert!(lut.len() == block.len() && block.len().is_multiple_of(32));
    let low = _mm256_set1_epi8(0x0f);
    let zero = _mm256_setzero_si256();
    let (mut acc_lo, mut acc_lo_hi, mut acc_hi, mut acc_hi_hi) = (zero, zero, zero, zero);
    for (g, l) in block.chunks_exact(32).zip(lut.chunks_exact(32)) {
        // SAFETY: `g` and `l` are 32-byte slices; unaligned loads are allowed.
        let (codes, table) = unsafe {
            (
                _mm256_loadu_si256(g.as_ptr().cast()),
                _mm256_loadu_si256(l.as_ptr().cast()),
            )
        };
        let lo = _mm256_and_si256(codes, low);
        let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(codes), low);
        let r_lo = _mm256_shuffle_epi8(table, lo);
        let r_hi = _mm256_shuffle_epi8(table, hi);
        acc_lo = _mm256_add_epi16(acc_lo, r_lo);
        acc_lo_hi = _mm256_add_epi16(acc_lo_hi, _mm256_srli_epi16::<8>(r_lo));
        acc_hi = _mm256_add_epi16(acc_hi, r_hi);
        acc_hi_hi = _mm256_add_epi16(acc_hi_hi, _mm256_srli_epi16::<8>(r_hi));
    }
    let first = rows_in_order(acc_lo, acc_lo_hi);
    let second = rows_in_order(acc_hi, acc_hi_hi);
    // SAFETY: `out` is 32 u16 = two 256-bit stores.
    unsafe {
        _mm256_storeu_si256(out.as_mut_ptr().cast(), first);
        _mm256_storeu_si256(out.as_mut_ptr().add(16).cast(), second);
    }
    if bound == 0 {
        return 0;
    }
    // sum < bound  ⇔  min(sum, bound − 1) == sum, unsigned.
    let limit = _mm256_set1_epi16((bound.min(65536) - 1) as u16 as i16);
    let pass_first = _mm256_cmpeq_epi16(_mm256_min_epu16(first, limit), first);
    let pass_second = _mm256_cmpeq_epi16(_mm256_min_epu16(second, limit), second);
    // packs interleaves lanes: [r0-7, r16-23 | r8-15, r24-31]; restore row order.
    let packed =
        _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packs_epi16(pass_first, pass_second));
    _mm256_movemask_epi8(packed) as u32
}

/// Sixteen row sums in row order from the two accumulators of one row half.
#[inline]
#[target_feature(enable = "avx2")]
fn rows_in_order(acc: __m256i, acc_odd: __m256i) -> __m256i {
    // Per lane: even-row sums and odd-row sums (the two lanes are the even and odd
    // sub-quantizers of each pair).
    let even = _mm256_sub_epi16(acc, _mm256_slli_epi16::<8>(acc_odd));
    let both = _mm256_add_epi16(
        _mm256_permute2x128_si256::<0x20>(even, acc_odd),
        _mm256_permute2x128_si256::<0x31>(even, acc_odd),
    );
    // both = [even rows 0,2,..,14 | odd rows 1,3,..,15]: interleave.
    let e = _mm256_castsi256_si128(both);
    let o = _mm256_extracti128_si256::<1>(both);
    _mm256_set_m128i(_mm_unpackhi_epi16(e, o), _mm_unpacklo_epi16(e, o))
}
