//! AVX2 PQ kernels: the `vpshufb` fast-scan block (several queries per code load), the
//! eight-query 8-bit ADC, and the one-query 8-bit ADC loop compiled for AVX2.
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

/// Sums of the 32 rows of one fast-scan block for `Q` queries at once (row order, into
/// `out[q]`); returns per query the mask of rows whose sum is below `bounds[q]`.
///
/// The codes are loaded and split into nibbles once for all `Q` queries. Two pairs of
/// sub-quantizers are looked up before accumulating: table entries are at most 127
/// ([`super::table::ENTRY_MAX`]), so the byte-wise sum of two lookups is exact.
///
/// # Safety
/// The CPU must support AVX2; every `luts[q].len() == block.len()`, a multiple of 32,
/// and at most `128 × 32` (so that no u16 sum overflows).
#[target_feature(enable = "avx2")]
pub(super) unsafe fn fast_scan_block_group<const Q: usize>(
    luts: &[&[u8]; Q],
    block: &[u8],
    bounds: &[u32; Q],
    out: &mut [[u16; BLOCK_ROWS]; Q],
) -> [u32; Q] {
    debug_assert!(luts.iter().all(|l| l.len() == block.len()) && block.len().is_multiple_of(32));
    let pairs = block.len() / 32;
    let low = _mm256_set1_epi8(0x0f);
    let zero = _mm256_setzero_si256();
    let mut acc = [[zero; 4]; Q];
    let mut j = 0;
    // SAFETY (every load below): offsets `32·j` and `32·(j+1)` with `j + 1 < pairs`
    // (or `j < pairs` for the last single pair) lie inside `block` and every `luts[q]`,
    // which have the same length; unaligned loads are allowed.
    while j + 2 <= pairs {
        let (g0, g1) = unsafe {
            (
                _mm256_loadu_si256(block.as_ptr().add(32 * j).cast()),
                _mm256_loadu_si256(block.as_ptr().add(32 * j + 32).cast()),
            )
        };
        let lo0 = _mm256_and_si256(g0, low);
        let hi0 = _mm256_and_si256(_mm256_srli_epi16::<4>(g0), low);
        let lo1 = _mm256_and_si256(g1, low);
        let hi1 = _mm256_and_si256(_mm256_srli_epi16::<4>(g1), low);
        for q in 0..Q {
            let (t0, t1) = unsafe {
                (
                    _mm256_loadu_si256(luts[q].as_ptr().add(32 * j).cast()),
                    _mm256_loadu_si256(luts[q].as_ptr().add(32 * j + 32).cast()),
                )
            };
            let r_lo = _mm256_add_epi8(_mm256_shuffle_epi8(t0, lo0), _mm256_shuffle_epi8(t1, lo1));
            let r_hi = _mm256_add_epi8(_mm256_shuffle_epi8(t0, hi0), _mm256_shuffle_epi8(t1, hi1));
            accumulate(&mut acc[q], r_lo, r_hi);
        }
        j += 2;
    }
    if j < pairs {
        let g = unsafe { _mm256_loadu_si256(block.as_ptr().add(32 * j).cast()) };
        let lo = _mm256_and_si256(g, low);
        let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(g), low);
        for q in 0..Q {
            let t = unsafe { _mm256_loadu_si256(luts[q].as_ptr().add(32 * j).cast()) };
            accumulate(
                &mut acc[q],
                _mm256_shuffle_epi8(t, lo),
                _mm256_shuffle_epi8(t, hi),
            );
        }
    }
    let mut masks = [0u32; Q];
    for q in 0..Q {
        let first = rows_in_order(acc[q][0], acc[q][1]);
        let second = rows_in_order(acc[q][2], acc[q][3]);
        // SAFETY: `out[q]` is 32 u16 = two 256-bit stores.
        unsafe {
            _mm256_storeu_si256(out[q].as_mut_ptr().cast(), first);
            _mm256_storeu_si256(out[q].as_mut_ptr().add(16).cast(), second);
        }
        if bounds[q] == 0 {
            continue;
        }
        // sum < bound  ⇔  min(sum, bound − 1) == sum, unsigned.
        let limit = _mm256_set1_epi16((bounds[q].min(65536) - 1) as u16 as i16);
        let pass_first = _mm256_cmpeq_epi16(_mm256_min_epu16(first, limit), first);
        let pass_second = _mm256_cmpeq_epi16(_mm256_min_epu16(second, limit), second);
        // packs interleaves lanes: [r0-7, r16-23 | r8-15, r24-31]; restore row order.
        let packed =
            _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packs_epi16(pass_first, pass_second));
        masks[q] = _mm256_movemask_epi8(packed) as u32;
    }
    masks
}

/// Adds one lookup result for rows 0-15 (`r_lo`) and rows 16-31 (`r_hi`) into the four
/// u16 accumulators: whole lanes (`even + 256·odd`) and lanes shifted right by 8 (`odd`).
#[inline]
#[target_feature(enable = "avx2")]
fn accumulate(acc: &mut [__m256i; 4], r_lo: __m256i, r_hi: __m256i) {
    acc[0] = _mm256_add_epi16(acc[0], r_lo);
    acc[1] = _mm256_add_epi16(acc[1], _mm256_srli_epi16::<8>(r_lo));
    acc[2] = _mm256_add_epi16(acc[2], r_hi);
    acc[3] = _mm256_add_epi16(acc[3], _mm256_srli_epi16::<8>(r_hi));
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
