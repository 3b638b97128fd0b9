//! CVH: cross-view hashing (Kumar & Udupa, IJCAI 2011), two views, paired similarity.
//!
//! CVH minimises the Hamming distance between the codes of similar items across views,
//! `Σ_i ‖y_i^a − y_i^b‖²`, under the relaxed "balanced, uncorrelated bits" constraint
//! taken over *all views together*: `(1/2)·Σ_k Y_kᵀY_k / n = I`, with `y = Aᵀ(x − μ)`.
//! With the similarity of the unsupervised paired setting (`W = I`: an item is similar to
//! its own counterpart) and the constraint written as
//! `A_aᵀ C̃_aa A_a + A_bᵀ C̃_bb A_b = I`, the objective becomes
//! `const − 2·tr(A_aᵀ C_ab A_b)`, whose optimum is given by the generalised symmetric
//! eigenproblem
//!
//! ```text
//! [ 0     C_ab ] [a]     [ C̃_aa   0   ] [a]
//! [ C_ba   0   ] [b] = λ [  0    C̃_bb ] [b]
//! ```
//!
//! keeping the `bits` largest eigenvalues; the code is `sign(A_kᵀ(x − μ_k))`.
//! The eigenvectors are `D`-orthonormal for the block-diagonal `D` on the right, which is
//! exactly the constraint (tested).
//!
//! **How this differs from CCA.** CCA constrains each view separately
//! (`A_aᵀC_aaA_a = I` and `A_bᵀC_bbA_b = I`); CVH constrains only their *sum*. For two views
//! with `W = I` the stationary points of both coincide up to scale: each eigenvector above
//! is a canonical pair `(u, v)/√2` with `λ` its canonical correlation (Kumar & Udupa note
//! that CVH generalises CCA). Sign codes are scale-free, so CVH's codes differ from
//! [`CcaHash`](super::CcaHash)'s only where (i) canonical correlations are tied (the
//! summed constraint then allows any rotation within the tied block) and (ii) through the
//! regularisation: CVH's covariance is that of the stacked views, so it gets **one** ridge
//! `r = reg × mean diagonal of D` shared by both views (CCA uses one per view, relative to
//! that view's own variance). With views of very different scale this ridge is relatively
//! stronger on the low-variance view. That is the only regularisation we add; the paper
//! has none and solves the plain problem.

use std::path::Path;

use faer::Mat;
use serde::{Deserialize, Serialize};

use crate::code::BinaryCodes;
use crate::error::{Error, Result};
use crate::train::data::{Modality, PairedDataset};
use crate::train::methods::Side;
use crate::train::methods::linear::{ViewMaps, check_method, config_field, sign_codes};
use crate::train::model_file::{ModelFile, save_model};

/// Hyper-parameters of CVH.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CvhConfig {
    /// Code length.
    pub bits: usize,
    /// Ridge on the joint covariance, relative to its mean diagonal.
    pub reg: f64,
}

impl Default for CvhConfig {
    fn default() -> Self {
        CvhConfig {
            bits: 64,
            reg: 1e-3,
        }
    }
}

/// The solved eigenproblem: everything needed to check it.
#[derive(Clone, Debug)]
pub struct CvhSolution {
    /// `(d_a, bits)` projection of view A.
    pub a: Mat<f64>,
    /// `(d_b, bits)` projection of view B.
    pub b: Mat<f64>,
    /// The `bits` largest generalised eigenvalues, descending.
    pub eigenvalues: Vec<f64>,
    /// Regularised `C̃_aa`.
    pub caa: Mat<f64>,
    /// Regularised `C̃_bb`.
    pub cbb: Mat<f64>,
    /// `C_ab`.
    pub cab: Mat<f64>,
}

/// A fitted CVH hash.
#[derive(Clone, Debug)]
pub struct Cvh {
    /// The configuration it was fitted with.
    pub config: CvhConfig,
    maps: ViewMaps,
    /// Generalised eigenvalues of the kept directions.
    pub eigenvalues: Vec<f64>,
}

fn centre(x: &Mat<f64>) -> (Mat<f64>, Vec<f64>) {
    let (n, d) = (x.nrows(), x.ncols());
    let mean: Vec<f64> = (0..d)
        .map(|j| (0..n).map(|i| x[(i, j)]).sum::<f64>() / n as f64)
        .collect();
    (Mat::from_fn(n, d, |i, j| x[(i, j)] - mean[j]), mean)
}

fn eig_err(e: impl std::fmt::Debug) -> Error {
    Error::InvalidArgument {
        name: "CVH covariance",
        reason: format!("eigendecomposition failed: {e:?}"),
    }
}

/// Solves the CVH eigenproblem for centred views `xa` `(n, d_a)`, `xb` `(n, d_b)`.
pub fn solve_cvh(xa: &Mat<f64>, xb: &Mat<f64>, bits: usize, reg: f64) -> Result<CvhSolution> {
    let (n, da, db) = (xa.nrows(), xa.ncols(), xb.ncols());
    if bits == 0 || bits > da.min(db) {
        return Err(Error::InvalidArgument {
            name: "bits",
            reason: format!(
                "CVH gives at most {} positive directions here, {bits} requested",
                da.min(db)
            ),
        });
    }
    let scale = 1.0 / n as f64;
    let cov = |x: &Mat<f64>, y: &Mat<f64>| {
        let c = x.transpose() * y;
        Mat::from_fn(c.nrows(), c.ncols(), |i, j| c[(i, j)] * scale)
    };
    let (mut caa, mut cbb, cab) = (cov(xa, xa), cov(xb, xb), cov(xa, xb));
    let trace: f64 =
        (0..da).map(|i| caa[(i, i)]).sum::<f64>() + (0..db).map(|i| cbb[(i, i)]).sum::<f64>();
    let ridge = reg * trace / (da + db) as f64 + 1e-12;
    for i in 0..da {
        caa[(i, i)] += ridge;
    }
    for i in 0..db {
        cbb[(i, i)] += ridge;
    }
    // D^{-1/2} is block diagonal: one inverse square root per view.
    let inv_sqrt = |c: &Mat<f64>| -> Result<Mat<f64>> {
        let e = c.self_adjoint_eigen(faer::Side::Lower).map_err(eig_err)?;
        let (u, s) = (e.U(), e.S().column_vector());
        let d = c.nrows();
        let scaled = Mat::from_fn(d, d, |i, j| u[(i, j)] / s[j].max(1e-300).sqrt());
        Ok(&scaled * u.transpose())
    };
    let (wa, wb) = (inv_sqrt(&caa)?, inv_sqrt(&cbb)?);
    // S = D^{-1/2} M D^{-1/2} = [[0, K], [Kᵀ, 0]] with K = W_a C_ab W_b.
    let k = &(&wa * &cab) * &wb;
    let d = da + db;
    let s = Mat::from_fn(d, d, |i, j| match (i < da, j < da) {
        (true, false) => k[(i, j - da)],
        (false, true) => k[(j, i - da)],
        _ => 0.0,
    });
    let e = s.self_adjoint_eigen(faer::Side::Lower).map_err(eig_err)?;
    let (u, vals) = (e.U(), e.S().column_vector());
    // faer sorts eigenvalues ascending; take the `bits` largest.
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&x, &y| vals[y].total_cmp(&vals[x]));
    let top = &order[..bits];
    let ua = Mat::from_fn(da, bits, |i, j| u[(i, top[j])]);
    let ub = Mat::from_fn(db, bits, |i, j| u[(da + i, top[j])]);
    Ok(CvhSolution {
        a: &wa * &ua,
        b: &wb * &ub,
        eigenvalues: top.iter().map(|&t| vals[t]).collect(),
        caa,
        cbb,
        cab,
    })
}

impl Cvh {
    /// Fits on the `train` items; both modalities need global vectors.
    pub fn fit(ds: &PairedDataset, train: &[usize], config: CvhConfig) -> Result<Self> {
        crate::code::binary::words_for_bits(config.bits)?;
        if train.len() < 2 {
            return Err(Error::InvalidArgument {
                name: "train",
                reason: "CVH needs at least two training pairs".into(),
            });
        }
        let to_mat = |m: &Modality| -> Result<Mat<f64>> {
            let x = m.gather_global::<f32>(train)?;
            let d = x.cols();
            Ok(Mat::from_fn(train.len(), d, |i, j| {
                x.data()[i * d + j] as f64
            }))
        };
        let (xa, ma) = centre(&to_mat(&ds.a)?);
        let (xb, mb) = centre(&to_mat(&ds.b)?);
        let sol = solve_cvh(&xa, &xb, config.bits, config.reg)?;
        Ok(Cvh {
            maps: ViewMaps::new([ma, mb], [sol.a, sol.b])?,
            eigenvalues: sol.eigenvalues,
            config,
        })
    }

    /// Projections `A_kᵀ(x − μ_k)` of items `idx` of a modality.
    pub fn project_modality(&self, m: &Modality, side: Side, idx: &[usize]) -> Result<Mat<f64>> {
        self.maps.apply(m, side, idx, "CVH input features")
    }

    /// Sign codes of items `idx` of a modality read as side `side`.
    pub fn encode_modality(&self, m: &Modality, side: Side, idx: &[usize]) -> Result<BinaryCodes> {
        sign_codes(&self.project_modality(m, side, idx)?)
    }

    /// Writes a model file.
    pub fn save(&self, path: &Path) -> Result<()> {
        save_model(
            path,
            "cvh",
            serde_json::json!({
                "bits": self.config.bits,
                "reg": self.config.reg,
                "dims": self.maps.dims(),
                "eigenvalues": self.eigenvalues,
            }),
            &self.maps.blocks(""),
        )
    }

    /// Builds the model from a file written by [`Cvh::save`].
    pub fn from_file(path: &Path, file: &mut ModelFile) -> Result<Self> {
        check_method(path, file, "cvh")?;
        let config = CvhConfig {
            bits: config_field(path, file, "bits")?,
            reg: config_field(path, file, "reg")?,
        };
        let dims: [usize; 2] = config_field(path, file, "dims")?;
        Ok(Cvh {
            maps: ViewMaps::from_file(path, file, "", dims, config.bits)?,
            eigenvalues: config_field(path, file, "eigenvalues")?,
            config,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use crate::train::methods::testdata::{check_planted_recovery, planted_two_views};

    fn objective(s: &CvhSolution, a: &Mat<f64>, b: &Mat<f64>) -> f64 {
        let m = &(a.transpose() * &s.cab) * b;
        (0..m.nrows()).map(|i| m[(i, i)]).sum()
    }

    /// `AᵀC̃_aaA + BᵀC̃_bbB`.
    fn constraint(s: &CvhSolution, a: &Mat<f64>, b: &Mat<f64>) -> Mat<f64> {
        &(&(a.transpose() * &s.caa) * a) + &(&(b.transpose() * &s.cbb) * b)
    }

    #[test]
    fn solution_is_feasible_and_beats_random_feasible_projections() {
        let mut rng = Rng::new(21);
        let n = 200;
        // Tiny correlated views: 3-d and 4-d, two shared latent factors.
        let z = Mat::from_fn(n, 2, |_, _| rng.normal() as f64);
        let la = Mat::from_fn(2, 3, |_, _| rng.normal() as f64);
        let lb = Mat::from_fn(2, 4, |_, _| rng.normal() as f64);
        let xa = &(&z * &la) + &Mat::from_fn(n, 3, |_, _| 0.5 * rng.normal() as f64);
        let xb = &(&z * &lb) + &Mat::from_fn(n, 4, |_, _| 0.5 * rng.normal() as f64);
        let (xa, _) = centre(&xa);
        let (xb, _) = centre(&xb);
        for k in [1usize, 2] {
            let s = solve_cvh(&xa, &xb, k, 1e-3).unwrap();
            // The summed constraint holds: AᵀC̃_aaA + BᵀC̃_bbB = I.
            let c = constraint(&s, &s.a, &s.b);
            for i in 0..k {
                for j in 0..k {
                    let e = if i == j { 1.0 } else { 0.0 };
                    assert!(
                        (c[(i, j)] - e).abs() < 1e-9,
                        "k {k}: C[{i},{j}] = {}",
                        c[(i, j)]
                    );
                }
            }
            // Objective tr(AᵀC_abB) equals half the sum of the kept eigenvalues.
            let best = objective(&s, &s.a, &s.b);
            let half: f64 = s.eigenvalues.iter().sum::<f64>() / 2.0;
            assert!((best - half).abs() < 1e-9, "{best} vs {half}");
            // Brute force: random feasible projections W = W₀ (W₀ᵀDW₀)^{-1/2} never do better,
            // and the best of many comes close (the optimum is attained).
            let mut best_random = f64::NEG_INFINITY;
            for _ in 0..4000 {
                let a0 = Mat::from_fn(3, k, |_, _| rng.normal() as f64);
                let b0 = Mat::from_fn(4, k, |_, _| rng.normal() as f64);
                let g = constraint(&s, &a0, &b0);
                let e = g.self_adjoint_eigen(faer::Side::Lower).unwrap();
                let (u, sv) = (e.U(), e.S().column_vector());
                let isq = &Mat::from_fn(k, k, |i, j| u[(i, j)] / sv[j].sqrt()) * u.transpose();
                let (a1, b1) = (&a0 * &isq, &b0 * &isq);
                let c1 = constraint(&s, &a1, &b1);
                assert!((c1[(0, 0)] - 1.0).abs() < 1e-9);
                let o = objective(&s, &a1, &b1);
                assert!(
                    o <= best + 1e-9,
                    "random feasible {o} beats the solution {best}"
                );
                best_random = best_random.max(o);
            }
            assert!(best_random > 0.9 * best, "k {k}: {best_random} vs {best}");
        }
    }

    #[test]
    fn two_view_cvh_splits_each_direction_evenly_like_scaled_cca() {
        // Each eigenvector is a canonical pair scaled by 1/√2: aᵀC̃_aaa = bᵀC̃_bbb = ½.
        let mut rng = Rng::new(4);
        let n = 300;
        let xa = Mat::from_fn(n, 5, |_, _| rng.normal() as f64);
        let xb = Mat::from_fn(n, 6, |i, j| {
            if j < 5 { xa[(i, j)] * (j + 1) as f64 } else { 0.0 }
        } + rng.normal() as f64);
        let (xa, _) = centre(&xa);
        let (xb, _) = centre(&xb);
        let s = solve_cvh(&xa, &xb, 4, 1e-3).unwrap();
        let pa = &(s.a.transpose() * &s.caa) * &s.a;
        let pb = &(s.b.transpose() * &s.cbb) * &s.b;
        for i in 0..4 {
            assert!((pa[(i, i)] - 0.5).abs() < 1e-6, "{}", pa[(i, i)]);
            assert!((pb[(i, i)] - 0.5).abs() < 1e-6, "{}", pb[(i, i)]);
            assert!(s.eigenvalues[i] > 0.0 && s.eigenvalues[i] < 1.0);
        }
        assert!(s.eigenvalues.windows(2).all(|w| w[0] >= w[1]));
        assert!(solve_cvh(&xa, &xb, 6, 1e-3).is_err());
    }

    #[test]
    fn recovers_planted_pairs_and_round_trips() {
        let ds = planted_two_views(600, 16, 24, 20, 8);
        let train: Vec<usize> = (0..400).collect();
        let test: Vec<usize> = (400..600).collect();
        let m = Cvh::fit(
            &ds,
            &train,
            CvhConfig {
                bits: 16,
                ..CvhConfig::default()
            },
        )
        .unwrap();
        let ca = m.encode_modality(&ds.a, Side::A, &test).unwrap();
        let cb = m.encode_modality(&ds.b, Side::B, &test).unwrap();
        check_planted_recovery(&ca, &cb);
        let p = std::env::temp_dir().join(format!("crosscode-cvh-{}.model", std::process::id()));
        m.save(&p).unwrap();
        let back = crate::train::methods::load_any(&p).unwrap();
        assert_eq!(back.method(), "cvh");
        assert_eq!(
            back.encode_modality(&ds.a, Side::A, &test)
                .unwrap()
                .as_words(),
            ca.as_words()
        );
        assert_eq!(
            back.encode_modality(&ds.b, Side::B, &test)
                .unwrap()
                .as_words(),
            cb.as_words()
        );
        std::fs::remove_file(p).unwrap();
    }
}
