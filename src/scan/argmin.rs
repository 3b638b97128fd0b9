//! Arg-min over one row of an affine score, the inner loop of nearest-centroid
//! assignment (k-means, PQ encoding): the smallest `a[j] + b[j]·d[j]` and its first
//! index. For squared L2, `d` is a row of the point–centroid dot products, `a = ‖c‖²`
//! and `b = −2`; for cosine, `a = 0` and `b = −1/‖c‖`.
//!
//! The AVX2 kernel keeps eight running minima and their indices (as f32, exact below
//! 2^24) and blends both with one compare mask; the portable one is the scalar loop.
//! Both compute each score as a multiply then an add, so they agree exactly.

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

/// # Safety
/// The CPU must support AVX2; `a`, `b`, `d` have the same length.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn arg_min_affine_avx2(a: &[f32], b: &[f32], d: &[f32]) -> (usize, f32) {
    use std::arch::x86_64::*;
    let n = a.len();
    let full = n / 8 * 8;
    let mut best_v = _mm256_set1_ps(f32::INFINITY);
    let mut best_i = _mm256_set1_ps(f32::MAX);
    let mut idx = _mm256_setr_ps(0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0);
    let step = _mm256_set1_ps(8.0);
    let mut j = 0;
    while j < full {
        // SAFETY: j + 8 ≤ full ≤ n, the length of all three slices.
        let (va, vb, vd) = unsafe {
            (
                _mm256_loadu_ps(a.as_ptr().add(j)),
                _mm256_loadu_ps(b.as_ptr().add(j)),
                _mm256_loadu_ps(d.as_ptr().add(j)),
            )
        };
        let v = _mm256_add_ps(va, _mm256_mul_ps(vb, vd));
        let better = _mm256_cmp_ps::<_CMP_LT_OQ>(v, best_v);
        best_v = _mm256_blendv_ps(best_v, v, better);
        best_i = _mm256_blendv_ps(best_i, idx, better);
        idx = _mm256_add_ps(idx, step);
        j += 8;
    }
    let (mut lanes_v, mut lanes_i) = ([0f32; 8], [0f32; 8]);
    // SAFETY: both arrays hold eight f32.
    unsafe {
        _mm256_storeu_ps(lanes_v.as_mut_ptr(), best_v);
        _mm256_storeu_ps(lanes_i.as_mut_ptr(), best_i);
    }
    let (mut best, mut value) = (usize::MAX, f32::INFINITY);
    for (&v, &i) in lanes_v.iter().zip(&lanes_i) {
        let i = if i == f32::MAX {
            usize::MAX
        } else {
            i as usize
        };
        if v < value || (v == value && i < best) {
            value = v;
            best = i;
        }
    }
    for t in full..n {
        let v = a[t] + b[t] * d[t];
        if v < value {
            value = v;
            best = t;
        }
    }
    (if best == usize::MAX { 0 } else { best }, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_agree_including_ties_and_tails() {
        let mut rng = crate::rng::Rng::new(2);
        for n in [1usize, 7, 8, 9, 33, 256] {
            for _ in 0..50 {
                // Few distinct values: many ties.
                let a: Vec<f32> = (0..n).map(|_| rng.below(4) as f32).collect();
                let b: Vec<f32> = (0..n).map(|_| -2.0).collect();
                let d: Vec<f32> = (0..n).map(|_| rng.below(3) as f32 * 0.5).collect();
                let want = arg_min_affine_scalar(&a, &b, &d);
                assert_eq!(arg_min_affine(&a, &b, &d, true), want, "n = {n}");
                assert_eq!(arg_min_affine(&a, &b, &d, false), want);
            }
        }
    }
}
