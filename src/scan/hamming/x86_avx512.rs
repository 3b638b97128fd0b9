//! AVX-512 Hamming scan with `vpopcntq` (AVX-512 F + VPOPCNTDQ).
//!
//! 64-bit codes go eight rows a step, compared with the bound into a mask register.
//! Longer codes accumulate `vpopcntq` over 512-bit chunks (a masked load takes the last
//! 1-7 words) and reduce each row once.

use std::arch::x86_64::*;

use super::DistanceSink;

/// Scans `codes` against `query`.
///
/// # Safety
/// The CPU must support AVX-512 F and VPOPCNTDQ. `query` is non-empty and `codes.len()`
/// is a multiple of `query.len()` (the dispatcher guarantees both).
#[target_feature(enable = "avx512f,avx512vpopcntdq,popcnt")]
pub(super) unsafe fn scan<S: DistanceSink>(
    query: &[u64],
    codes: &[u64],
    first_row: usize,
    sink: &mut S,
) {
    if query.len() == 1 {
        scan_one_word(query[0], codes, first_row, sink)
    } else {
        scan_wide(query, codes, first_row, sink)
    }
}

#[target_feature(enable = "avx512f,avx512vpopcntdq,popcnt")]
fn scan_one_word<S: DistanceSink>(query: u64, codes: &[u64], first_row: usize, sink: &mut S) {
    let q = _mm512_set1_epi64(query as i64);
    let mut bound = sink.bound();
    let mut bound_v = _mm512_set1_epi64(bound as i64);
    let groups = codes.len() / 8;
    for g in 0..groups {
        // SAFETY: words 8g..8g+8 are inside `codes`; loadu needs no alignment.
        let v = unsafe { _mm512_loadu_epi64(codes.as_ptr().add(8 * g) as *const i64) };
        let dist = _mm512_popcnt_epi64(_mm512_xor_si512(v, q));
        let mut below = _mm512_cmplt_epu64_mask(dist, bound_v);
        if below != 0 {
            let mut d = [0u64; 8];
            // SAFETY: `d` is 64 writable bytes.
            unsafe { _mm512_storeu_epi64(d.as_mut_ptr() as *mut i64, dist) };
            while below != 0 {
                let j = below.trailing_zeros() as usize;
                below &= below - 1;
                let dj = d[j] as u32;
                if dj < bound {
                    sink.offer(first_row + 8 * g + j, dj);
                    bound = sink.bound();
                }
            }
            bound_v = _mm512_set1_epi64(bound as i64);
        }
    }
    for (i, &c) in codes.iter().enumerate().skip(groups * 8) {
        let d = (c ^ query).count_ones();
        if d < bound {
            sink.offer(first_row + i, d);
            bound = sink.bound();
        }
    }
}

#[target_feature(enable = "avx512f,avx512vpopcntdq,popcnt")]
fn scan_wide<S: DistanceSink>(query: &[u64], codes: &[u64], first_row: usize, sink: &mut S) {
    let w = query.len();
    let (full, rem) = (w / 8, w % 8);
    let rem_mask: __mmask8 = ((1u16 << rem) - 1) as u8;
    let mut bound = sink.bound();
    for (r, row) in codes.chunks_exact(w).enumerate() {
        let mut acc = _mm512_setzero_si512();
        for c in 0..full {
            // SAFETY: words 8c..8c+8 of both row and query exist (c < w / 8).
            let (v, qc) = unsafe {
                (
                    _mm512_loadu_epi64(row.as_ptr().add(8 * c) as *const i64),
                    _mm512_loadu_epi64(query.as_ptr().add(8 * c) as *const i64),
                )
            };
            acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_xor_si512(v, qc)));
        }
        if rem != 0 {
            // SAFETY: only lanes 0..rem are read, and words 8*full..w exist in both.
            let (v, qc) = unsafe {
                (
                    _mm512_maskz_loadu_epi64(rem_mask, row.as_ptr().add(8 * full) as *const i64),
                    _mm512_maskz_loadu_epi64(rem_mask, query.as_ptr().add(8 * full) as *const i64),
                )
            };
            acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_xor_si512(v, qc)));
        }
        let d = _mm512_reduce_add_epi64(acc) as u32;
        if d < bound {
            sink.offer(first_row + r, d);
            bound = sink.bound();
        }
    }
}
