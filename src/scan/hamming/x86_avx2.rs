//! AVX2 Hamming scan: popcount by nibble lookup (`vpshufb`), byte sums by `vpsadbw`.
//!
//! 64-bit codes go 16 rows a step: four vectors of four codes, their sums packed to
//! sixteen `u16` distances in row order and compared with the bound in one instruction.
//! Longer codes go four rows a step: each row's byte counts are accumulated over its
//! 256-bit chunks (a masked load takes the last 1-3 words), reduced with `vpsadbw`, and
//! the four rows' lane sums are folded together into four `u16` distances.

use std::arch::x86_64::*;

use super::DistanceSink;

/// Per-byte popcounts of `x` (each 0..=8).
#[inline]
#[target_feature(enable = "avx2")]
fn byte_popcounts(x: __m256i) -> __m256i {
    let lookup = _mm256_setr_epi8(
        0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3,
        3, 4,
    );
    let low_nibbles = _mm256_set1_epi8(0x0f);
    let lo = _mm256_and_si256(x, low_nibbles);
    let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(x), low_nibbles);
    _mm256_add_epi8(
        _mm256_shuffle_epi8(lookup, lo),
        _mm256_shuffle_epi8(lookup, hi),
    )
}

/// The bound as a vector of `i16` (distances are at most 4096, so clamping is exact).
#[inline]
#[target_feature(enable = "avx2")]
fn bound_vector(bound: u32) -> __m256i {
    _mm256_set1_epi16(bound.min(i16::MAX as u32) as i16)
}

/// Scans `codes` against `query`.
///
/// # Safety
/// The CPU must support AVX2 and popcnt. `query` is non-empty and `codes.len()` is a
/// multiple of `query.len()` (the dispatcher guarantees both).
#[target_feature(enable = "avx2,popcnt")]
pub(super) unsafe fn scan<S: DistanceSink>(
    query: &[u64],
    codes: &[u64],
    first_row: usize,
    sink: &mut S,
) {
    match query.len() {
        1 => scan_one_word(query[0], codes, first_row, sink),
        2 => scan_wide::<0, 2, S>(query, codes, first_row, sink),
        4 => scan_wide::<1, 0, S>(query, codes, first_row, sink),
        8 => scan_wide::<2, 0, S>(query, codes, first_row, sink),
        16 => scan_wide::<4, 0, S>(query, codes, first_row, sink),
        w => scan_wide_dynamic(query, codes, first_row, sink, w / 4, w % 4),
    }
}

#[target_feature(enable = "avx2,popcnt")]
fn scan_one_word<S: DistanceSink>(query: u64, codes: &[u64], first_row: usize, sink: &mut S) {
    let q = _mm256_set1_epi64x(query as i64);
    let zero = _mm256_setzero_si256();
    let row_order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    let mut bound = sink.bound();
    let mut bound_v = bound_vector(bound);
    let groups = codes.len() / 16;
    for g in 0..groups {
        let base = g * 16;
        // SAFETY: rows base..base + 16 lie inside `codes` (g < codes.len() / 16); loadu
        // has no alignment requirement.
        let (v0, v1, v2, v3) = unsafe {
            let p = codes.as_ptr().add(base) as *const __m256i;
            (
                _mm256_loadu_si256(p),
                _mm256_loadu_si256(p.add(1)),
                _mm256_loadu_si256(p.add(2)),
                _mm256_loadu_si256(p.add(3)),
            )
        };
        let s0 = _mm256_sad_epu8(byte_popcounts(_mm256_xor_si256(v0, q)), zero);
        let s1 = _mm256_sad_epu8(byte_popcounts(_mm256_xor_si256(v1, q)), zero);
        let s2 = _mm256_sad_epu8(byte_popcounts(_mm256_xor_si256(v2, q)), zero);
        let s3 = _mm256_sad_epu8(byte_popcounts(_mm256_xor_si256(v3, q)), zero);
        // Two rounds of packs give lanes [0 1 4 5 8 9 12 13 | 2 3 6 7 10 11 14 15];
        // the 32-bit permute puts the sixteen distances back in row order.
        let packed = _mm256_packus_epi32(_mm256_packus_epi32(s0, s1), _mm256_packus_epi32(s2, s3));
        let dist = _mm256_permutevar8x32_epi32(packed, row_order);
        let below = _mm256_movemask_epi8(_mm256_cmpgt_epi16(bound_v, dist)) as u32;
        if below != 0 {
            let mut d = [0u16; 16];
            // SAFETY: `d` is 32 writable bytes; storeu has no alignment requirement.
            unsafe { _mm256_storeu_si256(d.as_mut_ptr() as *mut __m256i, dist) };
            let mut m = below & 0x5555_5555;
            while m != 0 {
                let j = (m.trailing_zeros() / 2) as usize;
                m &= m - 1;
                let dj = d[j] as u32;
                if dj < bound {
                    sink.offer(first_row + base + j, dj);
                    bound = sink.bound();
                }
            }
            bound_v = bound_vector(bound);
        }
    }
    for (i, &c) in codes.iter().enumerate().skip(groups * 16) {
        let d = (c ^ query).count_ones();
        if d < bound {
            sink.offer(first_row + i, d);
            bound = sink.bound();
        }
    }
}

/// Sum of one row's byte popcounts against the query, as four `u64` lane partial sums.
///
/// `FULL` whole 256-bit chunks, then `rem` (0..=3) words by masked load.
#[inline]
#[target_feature(enable = "avx2")]
fn row_lane_sums(
    row: &[u64],
    q: &[__m256i; 17],
    full: usize,
    rem: usize,
    rem_mask: __m256i,
) -> __m256i {
    let mut acc = _mm256_setzero_si256();
    for (c, qc) in q.iter().enumerate().take(full) {
        // SAFETY: row has full * 4 + rem words, so words 4c..4c+4 are inside it.
        let v = unsafe { _mm256_loadu_si256(row.as_ptr().add(4 * c) as *const __m256i) };
        // At most 17 chunks of at most 8 per byte: 136 < 256, no byte overflow.
        acc = _mm256_add_epi8(acc, byte_popcounts(_mm256_xor_si256(v, *qc)));
    }
    if rem != 0 {
        // SAFETY: lanes 0..rem of the mask are set and words 4*full..4*full+rem are in
        // the row; masked-out lanes are not read.
        let v =
            unsafe { _mm256_maskload_epi64(row.as_ptr().add(4 * full) as *const i64, rem_mask) };
        acc = _mm256_add_epi8(acc, byte_popcounts(_mm256_xor_si256(v, q[full])));
    }
    _mm256_sad_epu8(acc, _mm256_setzero_si256())
}

#[inline(always)]
fn rem_lanes_mask(rem: usize) -> __m256i {
    let lane = |i: usize| if i < rem { -1i64 } else { 0 };
    // SAFETY: _mm256_setr_epi64x needs only AVX, implied by the callers' AVX2.
    unsafe { _mm256_setr_epi64x(lane(0), lane(1), lane(2), lane(3)) }
}

#[target_feature(enable = "avx2,popcnt")]
fn scan_wide<const FULL: usize, const REM: usize, S: DistanceSink>(
    query: &[u64],
    codes: &[u64],
    first_row: usize,
    sink: &mut S,
) {
    scan_wide_dynamic(query, codes, first_row, sink, FULL, REM)
}

#[inline]
#[target_feature(enable = "avx2,popcnt")]
fn scan_wide_dynamic<S: DistanceSink>(
    query: &[u64],
    codes: &[u64],
    first_row: usize,
    sink: &mut S,
    full: usize,
    rem: usize,
) {
    let w = query.len();
    let rem_mask = rem_lanes_mask(rem);
    let mut q = [_mm256_setzero_si256(); 17];
    for (c, qc) in q.iter_mut().enumerate().take(full) {
        // SAFETY: words 4c..4c+4 of the query exist (c < full = w / 4).
        *qc = unsafe { _mm256_loadu_si256(query.as_ptr().add(4 * c) as *const __m256i) };
    }
    if rem != 0 {
        // SAFETY: only lanes 0..rem are read, and they exist.
        q[full] =
            unsafe { _mm256_maskload_epi64(query.as_ptr().add(4 * full) as *const i64, rem_mask) };
    }
    let mut bound = sink.bound();
    let rows = codes.len() / w;
    let groups = rows / 4;
    for g in 0..groups {
        let at = g * 4 * w;
        let s0 = row_lane_sums(&codes[at..at + w], &q, full, rem, rem_mask);
        let s1 = row_lane_sums(&codes[at + w..at + 2 * w], &q, full, rem, rem_mask);
        let s2 = row_lane_sums(&codes[at + 2 * w..at + 3 * w], &q, full, rem, rem_mask);
        let s3 = row_lane_sums(&codes[at + 3 * w..at + 4 * w], &q, full, rem, rem_mask);
        // Lane sums are below 2^16: put row r's in bits 16r.. of each lane, then add the
        // four lanes together so lane 0 holds the four rows' distances as u16.
        let t = _mm256_or_si256(
            _mm256_or_si256(s0, _mm256_slli_epi64::<16>(s1)),
            _mm256_or_si256(_mm256_slli_epi64::<32>(s2), _mm256_slli_epi64::<48>(s3)),
        );
        let x = _mm256_add_epi16(t, _mm256_permute4x64_epi64::<0b01_00_11_10>(t));
        let y = _mm256_add_epi16(x, _mm256_shuffle_epi32::<0b01_00_11_10>(x));
        let lo = _mm256_castsi256_si128(y);
        let bound_v = _mm_set1_epi16(bound.min(i16::MAX as u32) as i16);
        let below = (_mm_movemask_epi8(_mm_cmpgt_epi16(bound_v, lo)) as u32) & 0x55;
        if below != 0 {
            let packed = _mm_cvtsi128_si64(lo) as u64;
            for j in 0..4 {
                let d = (packed >> (16 * j)) as u32 & 0xffff;
                if below & (1 << (2 * j)) != 0 && d < bound {
                    sink.offer(first_row + g * 4 + j, d);
                    bound = sink.bound();
                }
            }
        }
    }
    for r in groups * 4..rows {
        let row = &codes[r * w..(r + 1) * w];
        let d: u32 = row
            .iter()
            .zip(query)
            .map(|(a, b)| (a ^ b).count_ones())
            .sum();
        if d < bound {
            sink.offer(first_row + r, d);
            bound = sink.bound();
        }
    }
}
