//! Training PQ codebooks and OPQ rotations.
//!
//! [`train_pq`] runs one k-means per sub-space (spherical k-means for the inner-product
//! metric, so codewords stay unit length as HCQ keeps them), the sub-spaces in parallel.
//! [`train_opq`] alternates PQ training on rotated data with the orthogonal Procrustes
//! step: given reconstructions `Y` of `X·R`, the rotation minimising `‖X·R − Y‖` is
//! `U·Vᵀ` from the SVD `XᵀY = U·S·Vᵀ` (faer).

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use rayon::prelude::*;

use crate::code::pq::{PqCodebooks, PqCodes, PqMetric, check_finite};
use crate::error::{Error, Result};
use crate::train::kmeans::{KMeansConfig, kmeans};

/// How to train PQ codebooks.
#[derive(Clone, Debug)]
pub struct PqTrainConfig {
    /// Sub-quantizers `M` (must divide the dimension).
    pub m: usize,
    /// Bits per code, 4 or 8.
    pub nbits: u8,
    /// The metric the codes will be searched with; inner product trains spherical
    /// k-means (unit codewords).
    pub metric: PqMetric,
    /// k-means iterations per sub-space.
    pub iterations: usize,
    /// Seed; sub-space `i` uses `seed + i`.
    pub seed: u64,
    /// Train each sub-space on at most `K ×` this many sampled points (`None`: all).
    pub max_points_per_centroid: Option<usize>,
}

impl PqTrainConfig {
    /// `m` sub-quantizers of `nbits`, squared L2, 25 iterations, seed 0, 256 points per
    /// centroid at most.
    pub fn new(m: usize, nbits: u8) -> Self {
        PqTrainConfig {
            m,
            nbits,
            metric: PqMetric::SquaredL2,
            iterations: 25,
            seed: 0,
            max_points_per_centroid: Some(256),
        }
    }
}

/// Trains PQ codebooks on `vectors` (`n × dim`, row-major).
///
/// Errors: `nbits` not 4 or 8, `m` not dividing `dim`, a non-finite value, fewer
/// training vectors than codewords.
pub fn train_pq(vectors: &[f32], dim: usize, config: &PqTrainConfig) -> Result<PqCodebooks> {
    if config.nbits != 4 && config.nbits != 8 {
        return Err(Error::InvalidPqBits {
            nbits: config.nbits,
        });
    }
    if config.m == 0 || dim == 0 || !dim.is_multiple_of(config.m) {
        return Err(Error::InvalidArgument {
            name: "m",
            reason: format!("{} sub-quantizers do not divide dimension {dim}", config.m),
        });
    }
    if !vectors.len().is_multiple_of(dim) {
        return Err(Error::DimensionMismatch {
            what: "PQ training vectors (length a multiple of dim)",
            expected: dim,
            found: vectors.len() % dim,
        });
    }
    check_finite("PQ training vectors", vectors, dim)?;
    let (n, dsub, k) = (vectors.len() / dim, dim / config.m, 1usize << config.nbits);
    let books: Vec<Result<Vec<f32>>> = (0..config.m)
        .into_par_iter()
        .map(|sub| {
            let sub_vectors: Vec<f32> = (0..n)
                .flat_map(|r| &vectors[r * dim + sub * dsub..][..dsub])
                .copied()
                .collect();
            let km = kmeans(
                &sub_vectors,
                dsub,
                &KMeansConfig {
                    k,
                    iterations: config.iterations,
                    seed: config.seed.wrapping_add(sub as u64),
                    spherical: config.metric == PqMetric::InnerProduct,
                    max_points_per_centroid: config.max_points_per_centroid,
                    parallel: false,
                },
            )?;
            Ok(km.centroids)
        })
        .collect();
    let mut data = Vec::with_capacity(config.m * k * dsub);
    for book in books {
        data.extend_from_slice(&book?);
    }
    PqCodebooks::new(config.m, config.nbits, dsub, data)
}

/// An orthogonal rotation followed by PQ: a vector `x` is coded as PQ of `x·R`.
#[derive(Clone, Debug)]
pub struct OpqModel {
    /// `dim × dim` orthogonal matrix, row-major; rotated = `x · rotation`.
    pub rotation: Vec<f32>,
    /// Codebooks trained on rotated vectors.
    pub codebooks: PqCodebooks,
    /// Squared reconstruction error per vector after each alternation.
    pub reconstruction_error: Vec<f64>,
}

impl OpqModel {
    /// Dimension of an input vector.
    pub fn dim(&self) -> usize {
        self.codebooks.dim()
    }

    /// `vectors · R` (`n × dim`, row-major). Errors: a length not a multiple of `dim`.
    pub fn rotate(&self, vectors: &[f32]) -> Result<Vec<f32>> {
        let dim = self.dim();
        if !vectors.len().is_multiple_of(dim) {
            return Err(Error::DimensionMismatch {
                what: "vectors to rotate",
                expected: dim,
                found: vectors.len() % dim,
            });
        }
        Ok(multiply(
            vectors,
            vectors.len() / dim,
            dim,
            &self.rotation,
            dim,
        ))
    }

    /// Codes of `vectors`: rotate, then encode. Queries are rotated with
    /// [`OpqModel::rotate`] before building lookup tables.
    pub fn encode(&self, vectors: &[f32], metric: PqMetric) -> Result<PqCodes> {
        check_finite("vectors to encode", vectors, self.dim())?;
        self.codebooks.encode(&self.rotate(vectors)?, metric)
    }
}

/// `a (n × d) · b (d × e)`, row-major in and out.
fn multiply(a: &[f32], n: usize, d: usize, b: &[f32], e: usize) -> Vec<f32> {
    let mut out = vec![0f32; n * e];
    matmul(
        MatMut::from_row_major_slice_mut(&mut out, n, e),
        Accum::Replace,
        MatRef::from_row_major_slice(a, n, d),
        MatRef::from_row_major_slice(b, d, e),
        1.0f32,
        Par::rayon(0),
    );
    out
}

/// Trains OPQ: `opq_iterations` alternations of PQ training on `X·R` and the
/// Procrustes update of `R`, starting from the identity, then final codebooks.
///
/// Errors: as [`train_pq`], and an SVD that fails to converge.
pub fn train_opq(
    vectors: &[f32],
    dim: usize,
    config: &PqTrainConfig,
    opq_iterations: usize,
) -> Result<OpqModel> {
    // Validate once through a cheap PQ shape check.
    if dim == 0 || !vectors.len().is_multiple_of(dim) {
        return Err(Error::DimensionMismatch {
            what: "OPQ training vectors (length a multiple of dim)",
            expected: dim,
            found: if dim == 0 { 0 } else { vectors.len() % dim },
        });
    }
    check_finite("OPQ training vectors", vectors, dim)?;
    let n = vectors.len() / dim;
    let mut rotation: Vec<f32> = (0..dim * dim)
        .map(|i| if i / dim == i % dim { 1.0 } else { 0.0 })
        .collect();
    let x = MatRef::from_row_major_slice(vectors, n, dim);
    let mut errors = Vec::with_capacity(opq_iterations);
    for it in 0..opq_iterations {
        let rotated = multiply(vectors, n, dim, &rotation, dim);
        let books = train_pq(
            &rotated,
            dim,
            &PqTrainConfig {
                seed: config.seed.wrapping_add(1000 * it as u64),
                ..config.clone()
            },
        )?;
        let recon = books.decode(books.encode(&rotated, config.metric)?.view())?;
        let err: f64 = rotated
            .iter()
            .zip(&recon)
            .map(|(a, b)| ((a - b) * (a - b)) as f64)
            .sum();
        errors.push(err / n.max(1) as f64);
        // Procrustes: R = U Vᵀ with Xᵀ Y = U S Vᵀ.
        let mut xty = Mat::<f32>::zeros(dim, dim);
        matmul(
            xty.as_mut(),
            Accum::Replace,
            x.transpose(),
            MatRef::from_row_major_slice(&recon, n, dim),
            1.0f32,
            Par::rayon(0),
        );
        let svd = xty.svd().map_err(|_| Error::NoConvergence {
            what: "OPQ rotation SVD",
        })?;
        let r = svd.U() * svd.V().transpose();
        for i in 0..dim {
            for j in 0..dim {
                rotation[i * dim + j] = r[(i, j)];
            }
        }
    }
    let rotated = multiply(vectors, n, dim, &rotation, dim);
    let codebooks = train_pq(&rotated, dim, config)?;
    Ok(OpqModel {
        rotation,
        codebooks,
        reconstruction_error: errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Vectors whose energy sits in a few correlated directions spread over all
    /// sub-spaces: plain PQ splits them badly, a rotation helps.
    fn correlated(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        let basis: Vec<f32> = (0..4 * dim).map(|_| rng.normal()).collect();
        (0..n)
            .flat_map(|_| {
                let z: Vec<f32> = (0..4).map(|_| rng.normal()).collect();
                (0..dim)
                    .map(|j| {
                        (0..4).map(|t| z[t] * basis[t * dim + j]).sum::<f32>() + 0.05 * rng.normal()
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn mse(books: &PqCodebooks, x: &[f32]) -> f64 {
        let recon = books
            .decode(books.encode(x, PqMetric::SquaredL2).unwrap().view())
            .unwrap();
        x.iter()
            .zip(&recon)
            .map(|(a, b)| ((a - b) * (a - b)) as f64)
            .sum::<f64>()
            / x.len() as f64
    }

    #[test]
    fn pq_and_opq_train_and_opq_is_no_worse() {
        let dim = 16;
        let x = correlated(2000, dim, 4);
        let config = PqTrainConfig {
            iterations: 10,
            ..PqTrainConfig::new(4, 4)
        };
        let books = train_pq(&x, dim, &config).unwrap();
        assert_eq!((books.m(), books.k(), books.dsub()), (4, 16, 4));
        let pq_err = mse(&books, &x);
        let opq = train_opq(&x, dim, &config, 4).unwrap();
        // R is orthogonal.
        let r = &opq.rotation;
        for i in 0..dim {
            for j in 0..dim {
                let dot: f32 = (0..dim).map(|t| r[i * dim + t] * r[j * dim + t]).sum();
                assert!((dot - if i == j { 1.0 } else { 0.0 }).abs() < 1e-4);
            }
        }
        let opq_err = mse(&opq.codebooks, &opq.rotate(&x).unwrap());
        assert!(opq_err <= pq_err * 1.02, "opq {opq_err} pq {pq_err}");
        let ip = train_pq(
            &x,
            dim,
            &PqTrainConfig {
                metric: PqMetric::InnerProduct,
                ..config.clone()
            },
        )
        .unwrap();
        for c in ip.as_slice().chunks_exact(4) {
            assert!((c.iter().map(|v| v * v).sum::<f32>() - 1.0).abs() < 1e-4);
        }
        assert!(matches!(
            train_pq(&x, dim, &PqTrainConfig::new(3, 4)),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(matches!(
            train_pq(&x, dim, &PqTrainConfig::new(4, 5)),
            Err(Error::InvalidPqBits { .. })
        ));
    }
}
