//! AVX2 Hamming scan: popcount by nibble lookup (`vpshufb`), byte sums by `vpsadbw`.
//!
//! - 64-bit codes go 16 rows a step: four vectors of four codes, their sums packed to
//!   sixteen `u16` distances in row order and compared with the bound at once.
//! - Longer codes go four rows a step: each row's byte counts are accumulated over its
//!   256-bit chunks (a masked load takes the last 1-3 words), reduced with `vpsadbw`, and
//!   the four rows' lane sums folded into four distances.
//! - Batched scans use a [`ByteSlicedBlock`](super::ByteSlicedBlock): 32 rows side by
//!   side per byte position, pre-split into nibbles; each query nibble picks one of 16
//!   fixed tables (popcount of row nibble xor query nibble), so each byte lane
//!   accumulates one row's distance with a lookup and an add. Eight groups share every
//!   table load.
//!
//! Style: the entry points carry `#[target_feature(enable = "avx2")]`; the helpers are
//! `#[inline(always)] unsafe fn` without the attribute so they inline into them, and
//! their one safety condition is that they run inside such an entry point.

use std::arch::x86_64::*;

use super::{DistanceSink, Lane32, offer_flagged};

/// Popcount of each nibble value, for `vpshufb` (one copy per 128-bit half).
///
/// # Safety
/// AVX2 must be enabled in the caller.
#[inline(always)]
unsafe fn nibble_lut() -> __m256i {
    // SAFETY: AVX2 is enabled (contract).
    unsafe {
        _mm256_setr_epi8(
            0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2,
            3, 3, 4,
        )
    }
}

/// Per-byte popcounts of `x` (each 0..=8).
///
/// # Safety
/// AVX2 must be enabled in the caller.
#[inline(always)]
unsafe fn byte_popcounts(x: __m256i, lut: __m256i) -> __m256i {
    // SAFETY: AVX2 is enabled (contract).
    unsafe {
        let low = _mm256_set1_epi8(0x0f);
        let lo = _mm256_and_si256(x, low);
        let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(x), low);
        _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi))
    }
}

/// Loads four words starting at word `at` of `words`.
///
/// # Safety
/// `at + 4 <= words.len()`; AVX2 must be enabled in the caller.
#[inline(always)]
unsafe fn load4(words: &[u64], at: usize) -> __m256i {
    debug_assert!(at + 4 <= words.len());
    // SAFETY: words at..at+4 exist (contract); loadu needs no alignment.
    unsafe { _mm256_loadu_si256(words.as_ptr().add(at) as *const __m256i) }
}

/// How far ahead (in words) single-query scans of long codes prefetch: 4 KiB.
const PREFETCH_WORDS: usize = 512;

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
    // SAFETY: AVX2 is enabled here; the shapes are the caller's contract.
    unsafe {
        match query.len() {
            1 => scan_one_word(query[0], codes, first_row, sink),
            2 => scan_rows4::<0, 2, S>(query, codes, first_row, sink),
            4 => scan_rows4::<1, 0, S>(query, codes, first_row, sink),
            8 => scan_rows4::<2, 0, S>(query, codes, first_row, sink),
            16 => scan_rows4::<4, 0, S>(query, codes, first_row, sink),
            w => scan_rows4_dynamic(query, codes, first_row, sink, w / 4, w % 4),
        }
    }
}

/// # Safety
/// AVX2 must be enabled in the caller.
#[inline(always)]
unsafe fn scan_one_word<S: DistanceSink>(
    query: u64,
    codes: &[u64],
    first_row: usize,
    sink: &mut S,
) {
    // SAFETY: AVX2 is enabled (contract); every load is of words inside `codes`.
    unsafe {
        let lut = nibble_lut();
        let q = _mm256_set1_epi64x(query as i64);
        let zero = _mm256_setzero_si256();
        let row_order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        let mut bound = sink.bound();
        let mut bound_v = _mm256_set1_epi16(bound.min(i16::MAX as u32) as i16);
        let groups = codes.len() / 16;
        for g in 0..groups {
            let at = g * 16;
            // (No closures here: they would not inherit the AVX2 feature.)
            let s0 = _mm256_sad_epu8(
                byte_popcounts(_mm256_xor_si256(load4(codes, at), q), lut),
                zero,
            );
            let s1 = _mm256_sad_epu8(
                byte_popcounts(_mm256_xor_si256(load4(codes, at + 4), q), lut),
                zero,
            );
            let s2 = _mm256_sad_epu8(
                byte_popcounts(_mm256_xor_si256(load4(codes, at + 8), q), lut),
                zero,
            );
            let s3 = _mm256_sad_epu8(
                byte_popcounts(_mm256_xor_si256(load4(codes, at + 12), q), lut),
                zero,
            );
            // Two rounds of packs give [0 1 4 5 8 9 12 13 | 2 3 6 7 10 11 14 15]; the
            // 32-bit permute puts the sixteen distances back in row order.
            let packed =
                _mm256_packus_epi32(_mm256_packus_epi32(s0, s1), _mm256_packus_epi32(s2, s3));
            let dist = _mm256_permutevar8x32_epi32(packed, row_order);
            let lanes = _mm256_movemask_epi8(_mm256_cmpgt_epi16(bound_v, dist)) as u32;
            if lanes != 0 {
                let mut d16 = [0u16; 16];
                _mm256_storeu_si256(d16.as_mut_ptr() as *mut __m256i, dist);
                // One flag bit per row from the two mask bits per u16 lane.
                let mut below = 0;
                for j in 0..16 {
                    below |= (lanes >> (2 * j) & 1) << j;
                }
                let mut d32 = [0u32; 16];
                for (o, &x) in d32.iter_mut().zip(&d16) {
                    *o = x as u32;
                }
                offer_flagged(&d32, below, first_row + at, &mut bound, sink);
                bound_v = _mm256_set1_epi16(bound.min(i16::MAX as u32) as i16);
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
}

/// One row's byte popcounts against the query, summed into four `u64` lanes: `full`
/// whole 256-bit chunks, then `rem` (0..=3) words by masked load.
///
/// # Safety
/// `row.len() == 4 * full + rem`, `q` holds the query's chunks as `scan_rows4_dynamic`
/// builds them; AVX2 must be enabled in the caller.
#[inline(always)]
unsafe fn row_lane_sums(
    row: &[u64],
    q: &[__m256i; 17],
    full: usize,
    rem: usize,
    rem_mask: __m256i,
    lut: __m256i,
) -> __m256i {
    // SAFETY: AVX2 is enabled (contract); loads stay inside `row` (masked-out lanes of
    // the masked load are not read).
    unsafe {
        let mut acc = _mm256_setzero_si256();
        for (c, &qc) in q.iter().enumerate().take(full) {
            // At most 17 chunks of at most 8 per byte: 136 < 256, no byte overflow.
            acc = _mm256_add_epi8(
                acc,
                byte_popcounts(_mm256_xor_si256(load4(row, 4 * c), qc), lut),
            );
        }
        if rem != 0 {
            let v = _mm256_maskload_epi64(row.as_ptr().add(4 * full) as *const i64, rem_mask);
            acc = _mm256_add_epi8(acc, byte_popcounts(_mm256_xor_si256(v, q[full]), lut));
        }
        _mm256_sad_epu8(acc, _mm256_setzero_si256())
    }
}

/// Folds four rows' lane sums (from `vpsadbw`, each below 2^16) into their distances.
///
/// # Safety
/// AVX2 must be enabled in the caller.
#[inline(always)]
unsafe fn four_row_distances(s0: __m256i, s1: __m256i, s2: __m256i, s3: __m256i) -> __m128i {
    // SAFETY: AVX2 is enabled (contract).
    unsafe {
        // Two rounds of packs give, per 128-bit half, [a0 a1 b0 b1 c0 c1 d0 d1] (rows a-d,
        // lanes 0-1 low, 2-3 high); pmaddwd adds the pairs, one add folds the halves.
        let packed = _mm256_packus_epi32(_mm256_packus_epi32(s0, s1), _mm256_packus_epi32(s2, s3));
        let pairs = _mm256_madd_epi16(packed, _mm256_set1_epi16(1));
        _mm_add_epi32(
            _mm256_castsi256_si128(pairs),
            _mm256_extracti128_si256::<1>(pairs),
        )
    }
}

#[target_feature(enable = "avx2,popcnt")]
fn scan_rows4<const FULL: usize, const REM: usize, S: DistanceSink>(
    query: &[u64],
    codes: &[u64],
    first_row: usize,
    sink: &mut S,
) {
    // SAFETY: AVX2 is enabled here; FULL and REM describe `query.len()` (dispatcher).
    unsafe { scan_rows4_dynamic(query, codes, first_row, sink, FULL, REM) }
}

/// # Safety
/// AVX2 must be enabled in the caller; `query.len() == 4 * full + rem`, `rem < 4`,
/// `full <= 16`, and `codes.len()` is a multiple of `query.len()`.
#[inline(always)]
unsafe fn scan_rows4_dynamic<S: DistanceSink>(
    query: &[u64],
    codes: &[u64],
    first_row: usize,
    sink: &mut S,
    full: usize,
    rem: usize,
) {
    // SAFETY: AVX2 is enabled (contract); all loads are inside `query` and the rows.
    unsafe {
        let w = query.len();
        let lut = nibble_lut();
        let rem_mask = _mm256_cmpgt_epi64(
            _mm256_set1_epi64x(rem as i64),
            _mm256_setr_epi64x(0, 1, 2, 3),
        );
        let mut q = [_mm256_setzero_si256(); 17];
        for (c, qc) in q.iter_mut().enumerate().take(full) {
            *qc = load4(query, 4 * c);
        }
        if rem != 0 {
            q[full] = _mm256_maskload_epi64(query.as_ptr().add(4 * full) as *const i64, rem_mask);
        }
        let mut bound = sink.bound();
        let rows = codes.len() / w;
        let groups = rows / 4;
        for g in 0..groups {
            let at = g * 4 * w;
            // Keep more cache-line fetches in flight than the out-of-order window would:
            // a prefetch is a hint, never a dereference, and wrapping_add forms no
            // out-of-bounds reference.
            _mm_prefetch::<_MM_HINT_T0>(
                codes.as_ptr().wrapping_add(at + PREFETCH_WORDS) as *const i8
            );
            _mm_prefetch::<_MM_HINT_T0>(
                codes.as_ptr().wrapping_add(at + PREFETCH_WORDS + 8) as *const i8
            );
            let s0 = row_lane_sums(&codes[at..at + w], &q, full, rem, rem_mask, lut);
            let s1 = row_lane_sums(&codes[at + w..at + 2 * w], &q, full, rem, rem_mask, lut);
            let s2 = row_lane_sums(&codes[at + 2 * w..at + 3 * w], &q, full, rem, rem_mask, lut);
            let s3 = row_lane_sums(&codes[at + 3 * w..at + 4 * w], &q, full, rem, rem_mask, lut);
            let dist = four_row_distances(s0, s1, s2, s3);
            let bound_v = _mm_set1_epi32(bound.min(i32::MAX as u32) as i32);
            let below = _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpgt_epi32(bound_v, dist))) as u32;
            if below != 0 {
                let mut d = [0u32; 4];
                _mm_storeu_si128(d.as_mut_ptr() as *mut __m128i, dist);
                offer_flagged(&d, below, first_row + 4 * g, &mut bound, sink);
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
}

/// The 16 nibble tables, each duplicated into both 128-bit halves for `vpshufb`:
/// entry `n` of table `v` is the popcount of `n ^ v`. A query's byte position with
/// nibble `v` looks its rows' nibbles up in table `v`.
static NIBBLE_XOR_POPCOUNT: [Lane32; 16] = {
    let mut tables = [Lane32([0; 32]); 16];
    let mut v = 0;
    while v < 16 {
        let mut n = 0;
        while n < 32 {
            tables[v].0[n] = ((n as u32 % 16) ^ v as u32).count_ones() as u8;
            n += 1;
        }
        v += 1;
    }
    tables
};

/// Loads an aligned 32-byte lane.
///
/// # Safety
/// `lane` points at a readable [`Lane32`]; AVX2 must be enabled in the caller.
#[inline(always)]
unsafe fn load_lane(lane: *const Lane32) -> __m256i {
    // SAFETY: a Lane32 is 32 bytes aligned to 32 (repr(align(32))), readable (contract).
    unsafe { _mm256_load_si256(lane as *const __m256i) }
}

/// Scans the groups of a byte-sliced block for one query: `lanes` holds, per group of 32
/// rows and per byte position, the rows' low then high nibbles; `nibbles` the query's
/// low and high nibble per byte position, which pick its lookup tables. Up to eight
/// groups share each table load, and each lane is read once, as the memory operand of
/// its `vpshufb`: two shuffles and two adds per lane pair and group, which is as fast as
/// the two shuffle ports go. (Two queries sharing each lane load, four groups a table,
/// measured 20% slower: more loads and table-index work per shuffle.)
///
/// # Safety
/// The CPU must support AVX2; `nibbles` has an even, non-zero length, and `lanes.len()`
/// is a multiple of it.
#[target_feature(enable = "avx2,popcnt")]
pub(super) unsafe fn scan_byte_sliced<S: DistanceSink>(
    nibbles: &[u8],
    lanes: &[Lane32],
    first_row: usize,
    sink: &mut S,
) {
    let per_group = nibbles.len();
    let groups = lanes.len() / per_group;
    let mut bound = sink.bound();
    // SAFETY: AVX2 is enabled here; each call reads G whole groups starting at group g,
    // and g + G <= groups.
    unsafe {
        let mut bound_v = _mm256_set1_epi16(bound.min(i16::MAX as u32) as i16);
        let mut g = 0;
        // (No closure here: closures do not inherit the AVX2 target feature.)
        while g + 8 <= groups {
            let at = lanes.as_ptr().add(g * per_group);
            let d = sliced_distances::<8>(nibbles, at);
            check_sliced(d, first_row + 32 * g, &mut bound, &mut bound_v, sink);
            g += 8;
        }
        if g + 4 <= groups {
            let at = lanes.as_ptr().add(g * per_group);
            let d = sliced_distances::<4>(nibbles, at);
            check_sliced(d, first_row + 32 * g, &mut bound, &mut bound_v, sink);
            g += 4;
        }
        if g + 2 <= groups {
            let at = lanes.as_ptr().add(g * per_group);
            let d = sliced_distances::<2>(nibbles, at);
            check_sliced(d, first_row + 32 * g, &mut bound, &mut bound_v, sink);
            g += 2;
        }
        if g < groups {
            let at = lanes.as_ptr().add(g * per_group);
            let d = sliced_distances::<1>(nibbles, at);
            check_sliced(d, first_row + 32 * g, &mut bound, &mut bound_v, sink);
        }
    }
}

/// Distances of `G` consecutive groups starting at `lanes`, each as a pair of `u16`
/// vectors (rows 0-7 and 16-23, rows 8-15 and 24-31).
///
/// # Safety
/// AVX2 must be enabled in the caller; `lanes` points at `G * nibbles.len()` readable
/// lanes; `nibbles` has an even length.
// Index loops over the const-size register arrays read best here (they unroll fully).
#[allow(clippy::needless_range_loop)]
#[inline(always)]
unsafe fn sliced_distances<const G: usize>(
    nibbles: &[u8],
    lanes: *const Lane32,
) -> [(__m256i, __m256i); G] {
    let per_group = nibbles.len();
    let table = |n: u8| &NIBBLE_XOR_POPCOUNT[(n & 15) as usize] as *const Lane32;
    // SAFETY: AVX2 is enabled (contract); t + 1 < per_group, so every lane read is
    // inside the G groups the caller vouches for; tables are indexed below 16.
    unsafe {
        let zero = _mm256_setzero_si256();
        let mut out = [(zero, zero); G];
        // Each byte position adds at most 8 per row: flush the u8 sums every 31
        // positions (62 nibble tables).
        let mut start = 0;
        while start < per_group {
            let end = (start + 62).min(per_group);
            let mut acc = [zero; G];
            let mut t = start;
            while t < end {
                let pair = nibbles.get_unchecked(t..t + 2);
                let (tl, th) = (load_lane(table(pair[0])), load_lane(table(pair[1])));
                for i in 0..G {
                    let base = lanes.add(i * per_group + t);
                    let x = _mm256_add_epi8(
                        _mm256_shuffle_epi8(tl, load_lane(base)),
                        _mm256_shuffle_epi8(th, load_lane(base.add(1))),
                    );
                    acc[i] = _mm256_add_epi8(acc[i], x);
                }
                t += 2;
            }
            for i in 0..G {
                // At most 8 * 31 = 248 per byte: no u8 overflow.
                out[i].0 = _mm256_add_epi16(out[i].0, _mm256_unpacklo_epi8(acc[i], zero));
                out[i].1 = _mm256_add_epi16(out[i].1, _mm256_unpackhi_epi8(acc[i], zero));
            }
            start = end;
        }
        out
    }
}

/// Offers the rows of `G` consecutive groups below the bound, in row order.
///
/// # Safety
/// AVX2 must be enabled in the caller.
#[inline(always)]
unsafe fn check_sliced<S: DistanceSink, const G: usize>(
    distances: [(__m256i, __m256i); G],
    first: usize,
    bound: &mut u32,
    bound_v: &mut __m256i,
    sink: &mut S,
) {
    for (i, &d) in distances.iter().enumerate() {
        // SAFETY: AVX2 is enabled (contract).
        unsafe { check_sliced_group(d, first + 32 * i, bound, bound_v, sink) };
    }
}

/// Offers the rows of a 32-row group below the bound, in row order.
///
/// # Safety
/// AVX2 must be enabled in the caller.
#[inline(always)]
unsafe fn check_sliced_group<S: DistanceSink>(
    (lo, hi): (__m256i, __m256i),
    first: usize,
    bound: &mut u32,
    bound_v: &mut __m256i,
    sink: &mut S,
) {
    // SAFETY: AVX2 is enabled (contract); stores go to local arrays.
    unsafe {
        let below = _mm256_or_si256(
            _mm256_cmpgt_epi16(*bound_v, lo),
            _mm256_cmpgt_epi16(*bound_v, hi),
        );
        if _mm256_movemask_epi8(below) != 0 {
            let (mut l, mut h) = ([0u16; 16], [0u16; 16]);
            _mm256_storeu_si256(l.as_mut_ptr() as *mut __m256i, lo);
            _mm256_storeu_si256(h.as_mut_ptr() as *mut __m256i, hi);
            // Unpacking worked within 128-bit halves: l = rows 0-7, 16-23; h = 8-15, 24-31.
            let mut d = [0u32; 32];
            for i in 0..8 {
                d[i] = l[i] as u32;
                d[8 + i] = h[i] as u32;
                d[16 + i] = l[8 + i] as u32;
                d[24 + i] = h[8 + i] as u32;
            }
            offer_flagged(&d, u32::MAX, first, bound, sink);
            *bound_v = _mm256_set1_epi16((*bound).min(i16::MAX as u32) as i16);
        }
    }
}
