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

#[cfg(test)]
mod tests {
    use super::*;

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
