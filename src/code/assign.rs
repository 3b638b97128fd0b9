//! Nearest-centroid assignment by matrix product.
//!
//! Shared by PQ encoding and k-means training: a block of points (rows, row-major) is
//! multiplied by the transposed centroid matrix with faer's f32 GEMM, and each row of the
//! product is reduced to its best centroid by the arg-min kernel of
//! [`crate::scan::argmin`] (AVX2 where available). Squared L2 uses
//! `‖x‖² − 2·x·c + ‖c‖²`; cosine uses `x·c / ‖c‖` (zero centroids score `−∞`). Blocks
//! run in parallel on rayon unless asked not to. Points of at most 16 dimensions (PQ
//! sub-vectors) skip the GEMM where AVX-512 F runs: one fused kernel scores 16
//! centroids a step and keeps the arg-min in registers.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

/// Rows per GEMM block: the `rows × k` product stays in the L2 cache for `k ≤ 256`.
const BLOCK_ROWS: usize = 512;

/// How "nearest" is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Nearness {
    /// Smallest squared Euclidean distance.
    SquaredL2,
    /// Largest cosine between point and centroid (the point's norm does not matter).
    Cosine,
}

/// Best centroid of every point: `(index, value)` where value is the squared distance
/// (`SquaredL2`, clamped at zero) or `x·c/‖c‖` (`Cosine`). Ties go to the smaller index.
///
/// `points` is `n × dim`, `centroids` is `k × dim`, both row-major, `k ≥ 1`, `dim ≥ 1`.
pub(crate) fn assign(
    points: &[f32],
    centroids: &[f32],
    dim: usize,
    nearness: Nearness,
    parallel: bool,
) -> (Vec<u32>, Vec<f32>) {
    let n = points.len() / dim;
    let k = centroids.len() / dim;
    if n == 0 || k == 0 {
        return (vec![0; n], vec![0.0; n]);
    }
    if let Some(result) = assign_small_dim(points, centroids, dim, nearness, parallel) {
        return result;
    }
    let mut index = vec![0u32; n];
    let mut value = vec![0f32; n];
    // Score of centroid j for a row of dot products d: a[j] + b[j]·d[j], minimised.
    // L2: ‖c‖² − 2·x·c (‖x‖² added after); cosine: −x·c/‖c‖ (zero centroids never win).
    let (a, b): (Vec<f32>, Vec<f32>) = centroids
        .chunks_exact(dim)
        .map(|c| {
            let sq: f32 = c.iter().map(|v| v * v).sum();
            match nearness {
                Nearness::SquaredL2 => (sq, -2.0),
                Nearness::Cosine if sq > 0.0 => (0.0, -1.0 / sq.sqrt()),
                Nearness::Cosine => (f32::INFINITY, 0.0),
            }
        })
        .unzip();
    let avx2 = crate::scan::argmin::avx2_available();
    let cen = MatRef::from_row_major_slice(centroids, k, dim);
    let work = |prod: &mut Vec<f32>, ((pts, idx), val): ((&[f32], &mut [u32]), &mut [f32])| {
        let rows = pts.len() / dim;
        prod.resize(rows * k, 0.0);
        let prod = &mut prod[..rows * k];
        matmul(
            MatMut::from_row_major_slice_mut(prod, rows, k),
            Accum::Replace,
            MatRef::from_row_major_slice(pts, rows, dim),
            cen.transpose(),
            1.0f32,
            Par::Seq,
        );
        for (r, dots) in prod.chunks_exact(k).enumerate() {
            let (best, v) = crate::scan::argmin::arg_min_affine(&a, &b, dots, avx2);
            let best_v = match nearness {
                Nearness::SquaredL2 => {
                    let x = &pts[r * dim..(r + 1) * dim];
                    (v + x.iter().map(|v| v * v).sum::<f32>()).max(0.0)
                }
                Nearness::Cosine => -v,
            };
            idx[r] = best as u32;
            val[r] = best_v;
        }
    };
    let blocks = points
        .chunks(BLOCK_ROWS * dim)
        .zip(index.chunks_mut(BLOCK_ROWS))
        .zip(value.chunks_mut(BLOCK_ROWS));
    if parallel && n > BLOCK_ROWS {
        points
            .par_chunks(BLOCK_ROWS * dim)
            .zip(index.par_chunks_mut(BLOCK_ROWS))
            .zip(value.par_chunks_mut(BLOCK_ROWS))
            .for_each_init(Vec::new, work);
    } else {
        let mut prod = Vec::new();
        blocks.for_each(|block| work(&mut prod, block));
    }
    (index, value)
}

/// [`assign`] for short points (PQ sub-vectors, `dim ≤ 16`) with the fused AVX-512
/// kernel ([`crate::scan::argmin::nearest_small`]): no GEMM, the scores
/// `a[j] + Σ_d w[j][d]·x[d]` of 16 centroids a step with the running arg-min in
/// registers. L2: `a = ‖c‖²`, `w = −2·c` (then `‖x‖²` added to the best); cosine:
/// `a = 0`, `w = −c/‖c‖` (zero centroids `a = +∞`). `None` where the kernel cannot run.
fn assign_small_dim(
    points: &[f32],
    centroids: &[f32],
    dim: usize,
    nearness: Nearness,
    parallel: bool,
) -> Option<(Vec<u32>, Vec<f32>)> {
    use crate::scan::argmin::{SMALL_DIM_MAX, avx512_available, nearest_small};
    if !avx512_available() || dim > SMALL_DIM_MAX {
        return None;
    }
    let n = points.len() / dim;
    let k = centroids.len() / dim;
    let kp = k.div_ceil(16) * 16;
    let mut a = vec![f32::INFINITY; kp];
    let mut wt = vec![0f32; dim * kp];
    for (j, c) in centroids.chunks_exact(dim).enumerate() {
        let sq: f32 = c.iter().map(|v| v * v).sum();
        let (aj, scale) = match nearness {
            Nearness::SquaredL2 => (sq, -2.0),
            Nearness::Cosine if sq > 0.0 => (0.0, -1.0 / sq.sqrt()),
            Nearness::Cosine => (f32::INFINITY, 0.0),
        };
        a[j] = aj;
        for (d, &v) in c.iter().enumerate() {
            wt[d * kp + j] = scale * v;
        }
    }
    let mut index = vec![0u32; n];
    let mut value = vec![0f32; n];
    let work = |((pts, idx), val): ((&[f32], &mut [u32]), &mut [f32])| {
        let ran = nearest_small(pts, dim, &wt, &a, k, idx, val);
        for (v, x) in val.iter_mut().zip(pts.chunks_exact(dim)) {
            *v = match nearness {
                Nearness::SquaredL2 => (*v + x.iter().map(|v| v * v).sum::<f32>()).max(0.0),
                Nearness::Cosine => -*v,
            };
        }
        ran
    };
    // A block the kernel refuses refuses them all (the same checks): stopping early is fine.
    let ran = if parallel && n > BLOCK_ROWS {
        points
            .par_chunks(BLOCK_ROWS * dim)
            .zip(index.par_chunks_mut(BLOCK_ROWS))
            .zip(value.par_chunks_mut(BLOCK_ROWS))
            .all(work)
    } else {
        points
            .chunks(BLOCK_ROWS * dim)
            .zip(index.chunks_mut(BLOCK_ROWS))
            .zip(value.chunks_mut(BLOCK_ROWS))
            .all(work)
    };
    ran.then_some((index, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_brute_force() {
        let mut rng = crate::rng::Rng::new(3);
        // Dimension 5 takes the fused small-dimension kernel where AVX-512 runs, 20
        // the GEMM.
        for (n, k, dim) in [(1500, 7, 5), (1500, 19, 20)] {
            let pts: Vec<f32> = (0..n * dim).map(|_| rng.normal()).collect();
            let cen: Vec<f32> = (0..k * dim).map(|_| rng.normal()).collect();
            for nearness in [Nearness::SquaredL2, Nearness::Cosine] {
                let (idx, val) = assign(&pts, &cen, dim, nearness, true);
                for i in 0..n {
                    let x = &pts[i * dim..(i + 1) * dim];
                    let score = |j: usize| {
                        let c = &cen[j * dim..(j + 1) * dim];
                        match nearness {
                            Nearness::SquaredL2 => {
                                -x.iter().zip(c).map(|(a, b)| (a - b) * (a - b)).sum::<f32>()
                            }
                            Nearness::Cosine => {
                                x.iter().zip(c).map(|(a, b)| a * b).sum::<f32>()
                                    / c.iter().map(|v| v * v).sum::<f32>().sqrt()
                            }
                        }
                    };
                    let best = (0..k).map(score).fold(f32::NEG_INFINITY, f32::max);
                    assert!(
                        score(idx[i] as usize) >= best - 1e-4,
                        "{nearness:?} row {i}"
                    );
                    assert!((val[i].abs() - best.abs()).abs() < 1e-3);
                }
            }
        }
    }
}
