//! Arg-min over one row of an affine score, the inner loop of nearest-centroid
//! assignment (k-means, PQ encoding): the smallest `a[j] + b[j]·d[j]` and its first
//! index. For squared L2, `d` is a row of the point–centroid dot products, `a = ‖c‖²`
//! and `b = −2`; for cosine, `a = 0` and `b = −1/‖c‖`.
//!
//! The AVX2 kernel finds the minimum with four independent vector minima, then the
//! first index that reaches it; the portable one is the scalar loop. Both compute each
//! score as a multiply then an add, so they agree exactly.

/// Whether the AVX2 kernel can run (detected once per process by the std macro's cache).
pub fn avx2_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Portable reference: first index of the smallest `a[j] + b[j]·d[j]`, and the value.
/// All three slices have the same length.
pub fn arg_min_affine_scalar(a: &[f32], b: &[f32], d: &[f32]) -> (usize, f32) {
    let (mut best, mut best_v) = (0usize, f32::INFINITY);
    for (j, ((&a, &b), &d)) in a.iter().zip(b).zip(d).enumerate() {
        let v = a + b * d;
        if v < best_v {
            best_v = v;
            best = j;
        }
    }
    (best, best_v)
}

/// [`arg_min_affine_scalar`], with AVX2 when `avx2` is true (callers pass
/// [`avx2_available`], worked out once).
#[inline]
pub fn arg_min_affine(a: &[f32], b: &[f32], d: &[f32], avx2: bool) -> (usize, f32) {
    #[cfg(target_arch = "x86_64")]
    if avx2 && avx2_available() && a.len() == b.len() && a.len() == d.len() {
        // SAFETY: the CPU supports AVX2 (checked just above) and the slices have one
        // length.
        return unsafe { arg_min_affine_avx2(a, b, d) };
    }
    let _ = avx2;
    arg_min_affine_scalar(a, b, d)
}

/// Two passes over the row: the minimum, with four independent running minima so that
/// the loop is bound by throughput rather than by the latency of one compare-and-blend
/// chain; then the first index whose score equals it (the scores are recomputed with
/// the same operations, so equality is exact), which stops at the first match.
///
/// # Safety
/// The CPU must support AVX2; `a`, `b`, `d` have the same length.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn arg_min_affine_avx2(a: &[f32], b: &[f32], d: &[f32]) -> (usize, f32) {
    use std::arch::x86_64::*;
    let n = a.len();
    let full = n / 8 * 8;
    /// Scores `j..j + 8`. (A function, not a closure: closures do not inherit the
    /// AVX2 target feature.)
    ///
    /// # Safety
    /// AVX2 is enabled in the caller; `j + 8` is at most the length of all three.
    #[inline(always)]
    unsafe fn scores8(a: &[f32], b: &[f32], d: &[f32], j: usize) -> __m256 {
        // SAFETY: the loads read `j..j + 8` of each slice (contract).
        unsafe {
            _mm256_add_ps(
                _mm256_loadu_ps(a.as_ptr().add(j)),
                _mm256_mul_ps(
                    _mm256_loadu_ps(b.as_ptr().add(j)),
                    _mm256_loadu_ps(d.as_ptr().add(j)),
                ),
            )
        }
    }
    let inf = _mm256_set1_ps(f32::INFINITY);
    let mut mins = [inf; 4];
    let mut j = 0;
    while j + 32 <= full {
        for (c, m) in mins.iter_mut().enumerate() {
            // SAFETY: j + 32 ≤ full ≤ n, the length of all three slices.
            *m = _mm256_min_ps(*m, unsafe { scores8(a, b, d, j + 8 * c) });
        }
        j += 32;
    }
    while j < full {
        // SAFETY: j + 8 ≤ full ≤ n.
        mins[0] = _mm256_min_ps(mins[0], unsafe { scores8(a, b, d, j) });
        j += 8;
    }
    let folded = _mm256_min_ps(
        _mm256_min_ps(mins[0], mins[1]),
        _mm256_min_ps(mins[2], mins[3]),
    );
    let mut lanes = [0f32; 8];
    // SAFETY: `lanes` holds eight f32.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), folded) };
    let mut value = lanes.iter().copied().fold(f32::INFINITY, f32::min);
    for t in full..n {
        value = value.min(a[t] + b[t] * d[t]);
    }
    if value == f32::INFINITY {
        // Every score is +∞: the scalar loop keeps index 0.
        return (0, value);
    }
    let target = _mm256_set1_ps(value);
    let mut j = 0;
    while j < full {
        // SAFETY: j + 8 ≤ full ≤ n.
        let v = unsafe { scores8(a, b, d, j) };
        let hit = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_EQ_OQ>(v, target));
        if hit != 0 {
            return (j + hit.trailing_zeros() as usize, value);
        }
        j += 8;
    }
    let tail = (full..n).find(|&t| a[t] + b[t] * d[t] == value);
    (tail.unwrap_or(0), value)
}

/// Largest point dimension [`nearest_small`] takes (PQ sub-vectors are this short).
pub const SMALL_DIM_MAX: usize = 16;

/// Whether the AVX-512 nearest-centroid kernel can run (detected once per process by
/// the std macro's cache).
pub fn avx512_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Reference for [`nearest_small`]: for each point `x` (a row of `points`, `dim`
/// floats), the first index `j < k` of the smallest affine score `a[j] + Σ_d
/// w[d][j]·x[d]` and that score, the sum taken in order of `d` with fused
/// multiply-adds (`f32::mul_add`). `w[d][j] = wt[d·kp + j]` with `kp = a.len()`: the
/// weights transposed, one row per dimension; `k ≤ kp`.
pub fn nearest_small_scalar(
    points: &[f32],
    dim: usize,
    wt: &[f32],
    a: &[f32],
    k: usize,
    index: &mut [u32],
    value: &mut [f32],
) {
    let kp = a.len();
    for ((x, i), v) in points.chunks_exact(dim).zip(index).zip(value) {
        let (mut best, mut best_v) = (0usize, f32::INFINITY);
        for (j, &aj) in a.iter().enumerate().take(k) {
            let mut s = aj;
            for (d, &xd) in x.iter().enumerate() {
                s = wt[d * kp + j].mul_add(xd, s);
            }
            if s < best_v {
                best_v = s;
                best = j;
            }
        }
        *i = best as u32;
        *v = best_v;
    }
}

/// [`nearest_small_scalar`] with AVX-512 F: 16 centroids per register, four points
/// sharing every load of the transposed centroids, running minima and their indices
/// blended under a compare mask. Gives exactly the reference's results. Returns false
/// (and writes nothing) where it cannot run: no AVX-512 F, `dim` of 0 or above
/// [`SMALL_DIM_MAX`], `a.len()` not a multiple of 16, `a[k..]` not all `+∞` (the
/// padding must never win), or slices of other lengths than the reference expects.
pub fn nearest_small(
    points: &[f32],
    dim: usize,
    wt: &[f32],
    a: &[f32],
    k: usize,
    index: &mut [u32],
    value: &mut [f32],
) -> bool {
    let kp = a.len();
    let n = points.len().checked_div(dim).unwrap_or(0);
    let fits = avx512_available()
        && (1..=SMALL_DIM_MAX).contains(&dim)
        && kp.is_multiple_of(16)
        && k <= kp
        && a[k..].iter().all(|&v| v == f32::INFINITY)
        && wt.len() == dim * kp
        && points.len() == n * dim
        && index.len() == n
        && value.len() == n
        && kp < u32::MAX as usize;
    if !fits {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! by_dim {
            ($($d:literal)*) => {
                match dim {
                    $($d => {
                        // SAFETY: the CPU supports AVX-512 F and every length was
                        // checked above (`dim == D`, `kp` a multiple of 16).
                        unsafe { nearest_small_avx512::<$d>(points, wt, a, index, value) };
                    })*
                    _ => return false,
                }
            };
        }
        by_dim!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16);
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// # Safety
/// The CPU must support AVX-512 F; `a.len()` is a multiple of 16, `wt.len() == D ×
/// a.len()`, `points.len() == D × index.len()` and `value.len() == index.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn nearest_small_avx512<const D: usize>(
    points: &[f32],
    wt: &[f32],
    a: &[f32],
    index: &mut [u32],
    value: &mut [f32],
) {
    let n = index.len();
    let mut p = 0;
    while p + 4 <= n {
        // SAFETY: points p..p+4 lie inside `points`; the rest as this function's contract.
        let best = unsafe { nearest_block::<D, 4>(&points[p * D..(p + 4) * D], wt, a) };
        for (q, (i, v)) in best.into_iter().enumerate() {
            index[p + q] = i;
            value[p + q] = v;
        }
        p += 4;
    }
    while p < n {
        // SAFETY: as above, for the single point p.
        let [(i, v)] = unsafe { nearest_block::<D, 1>(&points[p * D..(p + 1) * D], wt, a) };
        index[p] = i;
        value[p] = v;
        p += 1;
    }
}

/// `P` points' (first index, value) of the smallest score.
///
/// Not a `target_feature` function so that it may be `inline(always)` into
/// [`nearest_small_avx512`], which keeps its registers.
///
/// # Safety
/// The CPU must support AVX-512 F; `x.len() == P × D`, `a.len()` is a multiple of 16
/// and `wt.len() == D × a.len()`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn nearest_block<const D: usize, const P: usize>(
    x: &[f32],
    wt: &[f32],
    a: &[f32],
) -> [(u32, f32); P] {
    use std::arch::x86_64::*;
    debug_assert!(x.len() == P * D && a.len().is_multiple_of(16) && wt.len() == D * a.len());
    let kp = a.len();
    // SAFETY: the CPU supports AVX-512 F (this function's contract), which every
    // intrinsic below needs; every load reads 16 floats at `16·c < kp` of `a` or of row
    // `d < D` of `wt` (`d·kp + 16·c + 16 ≤ D·kp`). Unaligned loads are allowed.
    unsafe {
        let mut best_v = [_mm512_set1_ps(f32::INFINITY); P];
        let mut best_i = [_mm512_setzero_si512(); P];
        let mut idx = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let step = _mm512_set1_epi32(16);
        for c in 0..kp / 16 {
            let w: [__m512; D] =
                std::array::from_fn(|d| _mm512_loadu_ps(wt.as_ptr().add(d * kp + 16 * c)));
            let av = _mm512_loadu_ps(a.as_ptr().add(16 * c));
            for q in 0..P {
                let mut acc = av;
                for (d, wd) in w.iter().enumerate() {
                    acc = _mm512_fmadd_ps(*wd, _mm512_set1_ps(x[q * D + d]), acc);
                }
                let better = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(acc, best_v[q]);
                best_v[q] = _mm512_mask_mov_ps(best_v[q], better, acc);
                best_i[q] = _mm512_mask_mov_epi32(best_i[q], better, idx);
            }
            idx = _mm512_add_epi32(idx, step);
        }
        std::array::from_fn(|q| {
            // The smallest value, then the smallest index among the lanes holding it
            // (each lane kept its first index at its own minimum).
            let v = _mm512_reduce_min_ps(best_v[q]);
            let at = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(best_v[q], _mm512_set1_ps(v));
            let i = _mm512_mask_reduce_min_epu32(at, best_i[q]);
            // Only a NaN could leave no lane equal to the minimum (inputs are finite).
            (if at == 0 { 0 } else { i }, v)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_small_matches_the_reference() {
        if !avx512_available() {
            eprintln!("skipping the AVX-512 nearest-centroid check: this CPU lacks AVX-512 F");
            return;
        }
        let mut rng = crate::rng::Rng::new(4);
        for dim in 1..=SMALL_DIM_MAX {
            for k in [1usize, 5, 16, 17, 40, 256] {
                let kp = k.div_ceil(16) * 16;
                for n in [0usize, 1, 3, 4, 9, 33] {
                    // Few distinct values: many ties, which must go to the smaller index.
                    let points: Vec<f32> =
                        (0..n * dim).map(|_| rng.below(3) as f32 - 1.0).collect();
                    let wt: Vec<f32> = (0..dim * kp)
                        .map(|i| {
                            if i % kp < k {
                                rng.below(3) as f32 * 0.5
                            } else {
                                0.0
                            }
                        })
                        .collect();
                    let a: Vec<f32> = (0..kp)
                        .map(|j| {
                            if j < k {
                                rng.below(4) as f32
                            } else {
                                f32::INFINITY
                            }
                        })
                        .collect();
                    let (mut i1, mut v1) = (vec![0u32; n], vec![0f32; n]);
                    let (mut i2, mut v2) = (vec![7u32; n], vec![7f32; n]);
                    nearest_small_scalar(&points, dim, &wt, &a, k, &mut i1, &mut v1);
                    assert!(nearest_small(&points, dim, &wt, &a, k, &mut i2, &mut v2));
                    assert_eq!((i1, v1), (i2, v2), "dim {dim} k {k} n {n}");
                }
            }
        }
        // Refused: a padding entry that could win, a dimension too large.
        let (mut i, mut v) = (vec![0u32; 1], vec![0f32; 1]);
        assert!(!nearest_small(
            &[1.0],
            1,
            &[0.0; 16],
            &[0.0; 16],
            1,
            &mut i,
            &mut v
        ));
        let (big, wt) = (vec![0f32; 17], vec![0f32; 17 * 16]);
        let a = [f32::INFINITY; 16];
        assert!(!nearest_small(&big, 17, &wt, &a, 0, &mut i, &mut v));
    }

    #[test]
    fn kernels_agree_including_ties_and_tails() {
        let mut rng = crate::rng::Rng::new(2);
        for n in [1usize, 7, 8, 9, 31, 32, 33, 40, 255, 256, 257] {
            for _ in 0..50 {
                // Few distinct values: many ties.
                let a: Vec<f32> = (0..n).map(|_| rng.below(4) as f32).collect();
                let b: Vec<f32> = (0..n).map(|_| -2.0).collect();
                let d: Vec<f32> = (0..n).map(|_| rng.below(3) as f32 * 0.5).collect();
                let want = arg_min_affine_scalar(&a, &b, &d);
                assert_eq!(arg_min_affine(&a, &b, &d, true), want, "n = {n}");
                assert_eq!(arg_min_affine(&a, &b, &d, false), want);
            }
            // Distinct values, some +∞ (zero centroids under cosine), the minimum
            // anywhere, tail included; and rows that are +∞ throughout.
            for case in 0..50 {
                let a: Vec<f32> = (0..n)
                    .map(|_| match rng.below(5) {
                        0 => f32::INFINITY,
                        _ => rng.normal(),
                    })
                    .collect();
                let b: Vec<f32> = (0..n)
                    .map(|j| if a[j].is_finite() { -1.0 } else { 0.0 })
                    .collect();
                let d: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
                let want = arg_min_affine_scalar(&a, &b, &d);
                assert_eq!(
                    arg_min_affine(&a, &b, &d, true),
                    want,
                    "n = {n} case {case}"
                );
            }
            let a = vec![f32::INFINITY; n];
            let zero = vec![0.0; n];
            assert_eq!(arg_min_affine(&a, &zero, &zero, true), (0, f32::INFINITY));
            assert_eq!(arg_min_affine_scalar(&a, &zero, &zero), (0, f32::INFINITY));
        }
    }
}
