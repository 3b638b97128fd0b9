//! CCA-ITQ: iterative quantisation (Gong & Lazebnik, CVPR 2011) in the CCA common space.
//!
//! First a regularised CCA (the fit of [`CcaHash`]) with `bits` canonical directions
//! projects both views of the centred training pairs into a common `bits`-dimensional
//! space `V`. ITQ then learns an orthogonal rotation `R` minimising the quantisation loss
//! `‖B − V·R‖²_F` over codes `B ∈ {−1, +1}` and rotations, alternating the two exact
//! minimisers: `B = sign(V·R)` for fixed `R`, and for fixed `B` the orthogonal Procrustes
//! solution `R = W·Uᵀ` from the SVD `Bᵀ·V = U·Σ·Wᵀ`. Each half-step is an exact minimiser,
//! so the loss never increases. `R` starts as a seeded random rotation.
//!
//! **Which points ITQ sees.** Gong et al. (PAMI 2013) run ITQ on one view's CCA
//! embedding; for cross-modal codes both views must share the rotation, so here `V`
//! stacks the projected training items of *both* views (`2n × bits` rows): the rotation
//! balances the quantisation error of the two modalities equally, and a pair whose two
//! projections agree is pushed to the same vertex of the hypercube. The CCA directions are
//! used unscaled (unit variance each), as in the original CCA-ITQ.
//!
//! The stored model composes `P_side·R`, so encoding is one affine map and a sign.

use std::path::Path;

use faer::Mat;
use serde::{Deserialize, Serialize};

use crate::code::BinaryCodes;
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::train::data::{Modality, PairedDataset};
use crate::train::methods::linear::{
    ViewMaps, check_method, config_field, mat_block, matmul_seq, sign_codes, take_mat,
};
use crate::train::methods::{CcaHash, Side};
use crate::train::model_file::{ModelFile, save_model};

/// Hyper-parameters of CCA-ITQ.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CcaItqConfig {
    /// Code length (also the dimension of the CCA space).
    pub bits: usize,
    /// CCA ridge, relative to each view's mean variance.
    pub reg: f64,
    /// ITQ alternations (Gong & Lazebnik use 50).
    pub iterations: usize,
    /// Seed of the initial random rotation.
    pub seed: u64,
}

impl Default for CcaItqConfig {
    fn default() -> Self {
        CcaItqConfig {
            bits: 64,
            reg: 1e-3,
            iterations: 50,
            seed: 0,
        }
    }
}

/// A fitted CCA-ITQ hash.
#[derive(Clone, Debug)]
pub struct CcaItq {
    /// The configuration it was fitted with.
    pub config: CcaItqConfig,
    maps: ViewMaps,
    /// The learned `(bits, bits)` rotation.
    pub rotation: Mat<f64>,
    /// Quantisation loss `‖B − V·R‖²_F` after each half-step: `[after B₁, after R₁,
    /// after B₂, after R₂, …]`.
    pub objective: Vec<f64>,
}

fn svd_err(e: impl std::fmt::Debug) -> Error {
    Error::InvalidArgument {
        name: "ITQ",
        reason: format!("SVD failed: {e:?}"),
    }
}

/// A seeded random `(c, c)` rotation: the orthogonal factor of a Gaussian matrix.
pub fn random_rotation(c: usize, seed: u64) -> Result<Mat<f64>> {
    let mut rng = Rng::new(seed);
    let g = Mat::from_fn(c, c, |_, _| rng.normal() as f64);
    let svd = g.thin_svd().map_err(svd_err)?;
    Ok(svd.U() * svd.V().transpose())
}

/// `‖B − Y‖²_F` with `B = sign(Y)` given explicitly.
fn quantisation_loss(b: &Mat<f64>, y: &Mat<f64>) -> f64 {
    let mut s = 0.0;
    for j in 0..y.ncols() {
        for i in 0..y.nrows() {
            s += (b[(i, j)] - y[(i, j)]).powi(2);
        }
    }
    s
}

fn signs(y: &Mat<f64>) -> Mat<f64> {
    Mat::from_fn(y.nrows(), y.ncols(), |i, j| {
        if y[(i, j)] > 0.0 { 1.0 } else { -1.0 }
    })
}

/// ITQ on the rows of `v` (`(n, c)`, centred): the rotation and the loss after every
/// half-step (see [`CcaItq::objective`]).
pub fn itq_rotation(v: &Mat<f64>, iterations: usize, seed: u64) -> Result<(Mat<f64>, Vec<f64>)> {
    let mut r = random_rotation(v.ncols(), seed)?;
    let mut history = Vec::with_capacity(2 * iterations);
    for _ in 0..iterations {
        let y = matmul_seq(v.as_ref(), r.as_ref());
        let b = signs(&y);
        history.push(quantisation_loss(&b, &y));
        let m = matmul_seq(b.transpose(), v.as_ref());
        let svd = m.thin_svd().map_err(svd_err)?;
        r = svd.V() * svd.U().transpose();
        history.push(quantisation_loss(&b, &matmul_seq(v.as_ref(), r.as_ref())));
    }
    Ok((r, history))
}

impl CcaItq {
    /// Fits on the `train` items; both modalities need global vectors.
    pub fn fit(ds: &PairedDataset, train: &[usize], config: CcaItqConfig) -> Result<Self> {
        let cca = CcaHash::fit(ds, train, config.bits, config.reg)?;
        let (means, projections) = cca.parts();
        let space = ViewMaps::new(means.clone(), projections.clone())?;
        let va = space.apply(&ds.a, Side::A, train, "CCA-ITQ input features")?;
        let vb = space.apply(&ds.b, Side::B, train, "CCA-ITQ input features")?;
        let n = train.len();
        let v = Mat::from_fn(2 * n, config.bits, |i, j| {
            if i < n { va[(i, j)] } else { vb[(i - n, j)] }
        });
        let (rotation, objective) = itq_rotation(&v, config.iterations, config.seed)?;
        let maps = ViewMaps::new(
            means.clone(),
            [
                space.map(Side::A) * &rotation,
                space.map(Side::B) * &rotation,
            ],
        )?;
        Ok(CcaItq {
            config,
            maps,
            rotation,
            objective,
        })
    }

    /// Rotated CCA projections `(x − μ)·P·R` of items `idx` of a modality.
    pub fn project_modality(&self, m: &Modality, side: Side, idx: &[usize]) -> Result<Mat<f64>> {
        self.maps.apply(m, side, idx, "CCA-ITQ input features")
    }

    /// Sign codes of items `idx` of a modality read as side `side`.
    pub fn encode_modality(&self, m: &Modality, side: Side, idx: &[usize]) -> Result<BinaryCodes> {
        sign_codes(&self.project_modality(m, side, idx)?)
    }

    /// Writes a model file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut blocks = self.maps.blocks("");
        blocks.push(("rotation".into(), mat_block(&self.rotation)));
        save_model(
            path,
            "cca-itq",
            serde_json::json!({
                "bits": self.config.bits,
                "reg": self.config.reg,
                "iterations": self.config.iterations,
                "seed": self.config.seed,
                "dims": self.maps.dims(),
                "objective": self.objective,
            }),
            &blocks,
        )
    }

    /// Builds the model from a file written by [`CcaItq::save`].
    pub fn from_file(path: &Path, file: &mut ModelFile) -> Result<Self> {
        check_method(path, file, "cca-itq")?;
        let config = CcaItqConfig {
            bits: config_field(path, file, "bits")?,
            reg: config_field(path, file, "reg")?,
            iterations: config_field(path, file, "iterations")?,
            seed: config_field(path, file, "seed")?,
        };
        let dims: [usize; 2] = config_field(path, file, "dims")?;
        let objective = config_field(path, file, "objective")?;
        let maps = ViewMaps::from_file(path, file, "", dims, config.bits)?;
        let rotation = take_mat(path, file, "rotation", config.bits, config.bits)?;
        Ok(CcaItq {
            config,
            maps,
            rotation,
            objective,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::methods::testdata::{check_planted_recovery, planted_two_views};

    #[test]
    fn itq_loss_never_increases_and_rotation_stays_orthogonal() {
        // Noisy hypercube vertices under a hidden rotation Q: the optimum rotation undoes
        // Q (up to a signed permutation) and leaves only the noise, far below the loss of
        // the random start.
        let mut rng = Rng::new(11);
        let (n, c, sigma) = (300, 8, 0.1);
        let q = random_rotation(c, 99).unwrap();
        let planted = Mat::from_fn(n, c, |_, _| {
            (if rng.uniform() < 0.5 { -1.0 } else { 1.0 }) + sigma * rng.normal() as f64
        });
        let v = &planted * q.transpose();
        let (r, hist) = itq_rotation(&v, 50, 5).unwrap();
        assert_eq!(hist.len(), 100);
        for w in hist.windows(2) {
            assert!(
                w[1] <= w[0] * (1.0 + 1e-12),
                "loss rose: {} → {}",
                w[0],
                w[1]
            );
        }
        // ITQ reaches a local minimum, well below the random start but not below the
        // loss at the planted rotation (about n·c·σ²).
        let last = hist[hist.len() - 1];
        assert!(last < 0.6 * hist[0], "{hist:?}");
        let yq = &v * &q;
        let at_q = quantisation_loss(&signs(&yq), &yq);
        assert!(
            at_q < 1.5 * (n * c) as f64 * sigma * sigma && at_q <= last,
            "{at_q} {last}"
        );
        let rtr = r.transpose() * &r;
        for i in 0..c {
            for j in 0..c {
                let e = if i == j { 1.0 } else { 0.0 };
                assert!(
                    (rtr[(i, j)] - e).abs() < 1e-10,
                    "RᵀR[{i},{j}] = {}",
                    rtr[(i, j)]
                );
            }
        }
        // The reported loss is the real one: recompute at the end from scratch.
        let y = &v * &r;
        let b = signs(&y);
        let direct: f64 = (0..n)
            .flat_map(|i| (0..c).map(move |j| (i, j)))
            .map(|(i, j)| (b[(i, j)] - y[(i, j)]).powi(2))
            .sum();
        assert!(direct <= hist[hist.len() - 1] * (1.0 + 1e-12));
        // Seeded: the same seed gives the same rotation, another seed another start.
        assert_eq!(itq_rotation(&v, 50, 5).unwrap().0, r);
        assert_ne!(
            random_rotation(c, 5).unwrap(),
            random_rotation(c, 6).unwrap()
        );
    }

    #[test]
    fn recovers_planted_pairs_and_round_trips() {
        let ds = planted_two_views(600, 16, 24, 20, 7);
        let train: Vec<usize> = (0..400).collect();
        let test: Vec<usize> = (400..600).collect();
        let cfg = CcaItqConfig {
            bits: 16,
            ..CcaItqConfig::default()
        };
        let m = CcaItq::fit(&ds, &train, cfg).unwrap();
        let ca = m.encode_modality(&ds.a, Side::A, &test).unwrap();
        let cb = m.encode_modality(&ds.b, Side::B, &test).unwrap();
        check_planted_recovery(&ca, &cb);
        let p = std::env::temp_dir().join(format!("crosscode-itq-{}.model", std::process::id()));
        m.save(&p).unwrap();
        let back = crate::train::methods::load_any(&p).unwrap();
        assert_eq!(back.method(), "cca-itq");
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
