//! k-means clustering: k-means++ seeding, Lloyd iterations, empty-cluster repair.
//!
//! k-means++ makes one pass over the points per centroid, so it seeds from a random
//! sample of `max(16·k, 1024)` points; the Lloyd iterations then use every point.
//!
//! The assignment step is a GEMM (faer, f32) of point blocks against the centroids,
//! spread over rayon; the update step sums points per cluster in f64 per task and
//! reduces. A cluster left empty after an assignment takes the point that is currently
//! worst served (largest distance, or smallest cosine) among clusters with more than one
//! member; moving that point to a centroid of its own can only lower the objective, so
//! the objective recorded at each assignment never goes up.
//!
//! Spherical k-means normalises the points and keeps every centroid at unit length,
//! scoring by cosine (HCQ keeps its codewords this way). Every random choice comes from
//! [`Rng`] seeded by [`KMeansConfig::seed`].

use rayon::prelude::*;

use crate::code::assign::{Nearness, assign};
use crate::code::pq::check_finite;
use crate::error::{Error, Result};
use crate::rng::Rng;

/// k-means++ seeds from a sample of `max(16·k, this)` points.
const SEEDING_MIN_ROWS: usize = 1024;
/// Rows per partial sum in the update step.
const UPDATE_BLOCK_ROWS: usize = 8192;

/// How to run k-means.
#[derive(Clone, Debug)]
pub struct KMeansConfig {
    /// Number of clusters (≥ 1, at most the number of training points).
    pub k: usize,
    /// Lloyd iterations (assignment + update); stops early once no point moves.
    pub iterations: usize,
    /// Seed for the sampling and the k-means++ seeding.
    pub seed: u64,
    /// Unit-length centroids scored by cosine instead of squared L2 centroids.
    pub spherical: bool,
    /// Train on at most `k ×` this many points, sampled at random (`None`: all).
    pub max_points_per_centroid: Option<usize>,
    /// Spread work over the rayon pool.
    pub parallel: bool,
}

impl KMeansConfig {
    /// `k` clusters, 25 iterations, seed 0, squared L2, at most 256 points per centroid.
    pub fn new(k: usize) -> Self {
        KMeansConfig {
            k,
            iterations: 25,
            seed: 0,
            spherical: false,
            max_points_per_centroid: Some(256),
            parallel: true,
        }
    }
}

/// A trained clustering.
#[derive(Clone, Debug)]
pub struct KMeans {
    /// `k × dim` centroids, row-major.
    pub centroids: Vec<f32>,
    /// Dimension of a point.
    pub dim: usize,
    /// The objective after each assignment step: sum of squared distances (L2,
    /// non-increasing) or sum of cosines (spherical, non-decreasing).
    pub objective: Vec<f64>,
    /// How many times an empty cluster was re-seeded.
    pub empty_cluster_repairs: usize,
}

impl KMeans {
    /// Number of clusters.
    pub fn k(&self) -> usize {
        self.centroids.len() / self.dim
    }
}

/// Squared distance, eight independent partial sums so it vectorises.
fn sq_dist(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    for (x, y) in a8.zip(b8) {
        for l in 0..8 {
            let d = x[l] - y[l];
            acc[l] += d * d;
        }
    }
    acc.iter().sum::<f32>() + tail
}

fn normalise_rows(data: &mut [f32], dim: usize) {
    for row in data.chunks_exact_mut(dim) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|v| *v /= norm);
        }
    }
}

/// k-means++ seeding: each next centroid is a point drawn with probability
/// proportional to its squared distance to the nearest centroid so far.
fn seed_plus_plus(points: &[f32], dim: usize, k: usize, rng: &mut Rng, par: bool) -> Vec<f32> {
    let n = points.len() / dim;
    let mut centroids = Vec::with_capacity(k * dim);
    let first = rng.below(n);
    centroids.extend_from_slice(&points[first * dim..(first + 1) * dim]);
    let mut d2 = vec![f32::INFINITY; n];
    for _ in 1..k {
        let last = &centroids[centroids.len() - dim..];
        let update = |(x, d): (&[f32], &mut f32)| *d = d.min(sq_dist(x, last));
        if par {
            points.par_chunks_exact(dim).zip(&mut d2).for_each(update);
        } else {
            points.chunks_exact(dim).zip(&mut d2).for_each(update);
        }
        let total: f64 = d2.iter().map(|&v| v as f64).sum();
        let pick = if total > 0.0 {
            let mut target = rng.uniform() as f64 * total;
            let mut pick = n - 1;
            for (i, &v) in d2.iter().enumerate() {
                target -= v as f64;
                if target < 0.0 && v > 0.0 {
                    pick = i;
                    break;
                }
            }
            pick
        } else {
            rng.below(n)
        };
        centroids.extend_from_slice(&points[pick * dim..(pick + 1) * dim]);
    }
    centroids
}

/// Per-cluster sums (f64) and counts of the assigned points.
fn cluster_sums(
    points: &[f32],
    dim: usize,
    k: usize,
    labels: &[u32],
    par: bool,
) -> (Vec<f64>, Vec<usize>) {
    let partial = |(pts, lab): (&[f32], &[u32])| {
        let mut sums = vec![0f64; k * dim];
        let mut counts = vec![0usize; k];
        for (x, &c) in pts.chunks_exact(dim).zip(lab) {
            counts[c as usize] += 1;
            for (s, &v) in sums[c as usize * dim..][..dim].iter_mut().zip(x) {
                *s += v as f64;
            }
        }
        (sums, counts)
    };
    let merge = |(mut s1, mut c1): (Vec<f64>, Vec<usize>), (s2, c2): (Vec<f64>, Vec<usize>)| {
        s1.iter_mut().zip(&s2).for_each(|(a, b)| *a += b);
        c1.iter_mut().zip(&c2).for_each(|(a, b)| *a += b);
        (s1, c1)
    };
    let blocks = || {
        points
            .chunks(UPDATE_BLOCK_ROWS * dim)
            .zip(labels.chunks(UPDATE_BLOCK_ROWS))
    };
    let empty = || (vec![0f64; k * dim], vec![0usize; k]);
    if par {
        points
            .par_chunks(UPDATE_BLOCK_ROWS * dim)
            .zip(labels.par_chunks(UPDATE_BLOCK_ROWS))
            .map(partial)
            .reduce(empty, merge)
    } else {
        blocks().map(partial).fold(empty(), merge)
    }
}

/// Clusters `points` (`n × dim`, row-major) into `config.k` clusters.
///
/// Errors: `dim` zero or not dividing the length, a non-finite value, `k` zero or
/// larger than the number of points.
pub fn kmeans(points: &[f32], dim: usize, config: &KMeansConfig) -> Result<KMeans> {
    if dim == 0 || !points.len().is_multiple_of(dim) {
        return Err(Error::DimensionMismatch {
            what: "k-means points (length a multiple of dim)",
            expected: dim,
            found: if dim == 0 { 0 } else { points.len() % dim },
        });
    }
    check_finite("k-means points", points, dim)?;
    let n = points.len() / dim;
    let k = config.k;
    if k == 0 || k > n {
        return Err(Error::InvalidArgument {
            name: "k",
            reason: format!("need 1 ≤ k ≤ number of points ({n}), got {k}"),
        });
    }
    let par = config.parallel;
    let mut rng = Rng::new(config.seed);
    // Sample, then (spherical) normalise, into one owned training matrix.
    let limit = config
        .max_points_per_centroid
        .map_or(n, |p| p.saturating_mul(k).max(k));
    let mut train: Vec<f32> = if n > limit {
        let mut rows: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut rows);
        rows.truncate(limit);
        rows.sort_unstable();
        rows.iter()
            .flat_map(|&r| &points[r * dim..(r + 1) * dim])
            .copied()
            .collect()
    } else {
        points.to_vec()
    };
    if config.spherical {
        normalise_rows(&mut train, dim);
    }
    let n = train.len() / dim;
    // Seed from a sample small enough to stay in cache (k-means++ makes k passes).
    let seed_rows = n.min((16 * k).max(SEEDING_MIN_ROWS));
    let mut centroids = if seed_rows < n {
        let mut rows: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut rows);
        rows.truncate(seed_rows);
        rows.sort_unstable();
        let sample: Vec<f32> = rows
            .iter()
            .flat_map(|&r| &train[r * dim..(r + 1) * dim])
            .copied()
            .collect();
        seed_plus_plus(&sample, dim, k, &mut rng, par)
    } else {
        seed_plus_plus(&train, dim, k, &mut rng, par)
    };
    if config.spherical {
        normalise_rows(&mut centroids, dim);
    }
    let nearness = if config.spherical {
        Nearness::Cosine
    } else {
        Nearness::SquaredL2
    };
    let mut objective = Vec::with_capacity(config.iterations);
    let mut repairs = 0;
    let mut previous: Option<Vec<u32>> = None;
    for _ in 0..config.iterations {
        let (mut labels, mut cost) = assign(&train, &centroids, dim, nearness, par);
        let mut counts = vec![0usize; k];
        labels.iter().for_each(|&c| counts[c as usize] += 1);
        for empty in 0..k {
            if counts[empty] > 0 {
                continue;
            }
            // Worst-served point of a cluster that can spare it.
            let worst = (0..n)
                .filter(|&i| counts[labels[i] as usize] > 1)
                .max_by(|&a, &b| {
                    let (ca, cb) = match nearness {
                        Nearness::SquaredL2 => (cost[a], cost[b]),
                        Nearness::Cosine => (-cost[a], -cost[b]),
                    };
                    ca.total_cmp(&cb).then(b.cmp(&a))
                });
            let Some(p) = worst else { break };
            counts[labels[p] as usize] -= 1;
            counts[empty] = 1;
            labels[p] = empty as u32;
            cost[p] = match nearness {
                Nearness::SquaredL2 => 0.0,
                Nearness::Cosine => 1.0,
            };
            centroids[empty * dim..(empty + 1) * dim]
                .copy_from_slice(&train[p * dim..(p + 1) * dim]);
            repairs += 1;
        }
        objective.push(cost.iter().map(|&v| v as f64).sum());
        if previous.as_ref() == Some(&labels) {
            break;
        }
        let (sums, counts) = cluster_sums(&train, dim, k, &labels, par);
        for c in 0..k {
            if counts[c] == 0 {
                continue;
            }
            let sum = &sums[c * dim..(c + 1) * dim];
            let dst = &mut centroids[c * dim..(c + 1) * dim];
            if config.spherical {
                let norm = sum.iter().map(|v| v * v).sum::<f64>().sqrt();
                if norm > 0.0 {
                    dst.iter_mut()
                        .zip(sum)
                        .for_each(|(d, s)| *d = (s / norm) as f32);
                }
            } else {
                let inv = 1.0 / counts[c] as f64;
                dst.iter_mut()
                    .zip(sum)
                    .for_each(|(d, s)| *d = (s * inv) as f32);
            }
        }
        previous = Some(labels);
    }
    Ok(KMeans {
        centroids,
        dim,
        objective,
        empty_cluster_repairs: repairs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs(n: usize, dim: usize, centres: usize, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        let c: Vec<f32> = (0..centres * dim).map(|_| 10.0 * rng.normal()).collect();
        (0..n)
            .flat_map(|i| {
                let base = (i % centres) * dim;
                (0..dim)
                    .map(|j| c[base + j] + rng.normal())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn objective_never_increases_and_seed_decides() {
        let pts = blobs(3000, 6, 12, 5);
        for spherical in [false, true] {
            let config = KMeansConfig {
                spherical,
                seed: 11,
                ..KMeansConfig::new(16)
            };
            let a = kmeans(&pts, 6, &config).unwrap();
            assert!(a.objective.len() >= 2);
            for w in a.objective.windows(2) {
                let tol = 1e-4 * w[0].abs().max(1.0);
                if spherical {
                    assert!(w[1] >= w[0] - tol, "{:?}", a.objective);
                } else {
                    assert!(w[1] <= w[0] + tol, "{:?}", a.objective);
                }
            }
            let b = kmeans(&pts, 6, &config).unwrap();
            assert_eq!(a.centroids, b.centroids);
            if spherical {
                for c in a.centroids.chunks_exact(6) {
                    let norm: f32 = c.iter().map(|v| v * v).sum();
                    assert!((norm - 1.0).abs() < 1e-4);
                }
            }
        }
    }

    #[test]
    fn empty_clusters_are_repaired() {
        // 200 copies of 3 distinct points, k = 5: k-means++ must pick duplicates, so
        // two clusters start empty and are re-seeded from spare points.
        let pts: Vec<f32> = (0..200)
            .flat_map(|i| match i % 3 {
                0 => [0.0, 0.0],
                1 => [5.0, 0.0],
                _ => [0.0, 5.0],
            })
            .collect();
        let km = kmeans(&pts, 2, &KMeansConfig::new(5)).unwrap();
        assert!(
            km.empty_cluster_repairs >= 2,
            "{}",
            km.empty_cluster_repairs
        );
        assert_eq!(km.k(), 5);
        assert!(km.objective.last().copied().unwrap_or(1.0) <= 1e-6);
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(kmeans(&[1.0, 2.0, 3.0], 2, &KMeansConfig::new(1)).is_err());
        assert!(kmeans(&[1.0, 2.0], 2, &KMeansConfig::new(2)).is_err());
        assert!(kmeans(&[1.0, f32::NAN], 2, &KMeansConfig::new(1)).is_err());
        assert!(kmeans(&[1.0, 2.0], 0, &KMeansConfig::new(1)).is_err());
    }
}
