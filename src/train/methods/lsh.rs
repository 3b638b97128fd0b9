//! LSH in the CCA space: seeded Gaussian random hyperplanes (Charikar's sign random
//! projections) applied to the CCA projections of each view.
//!
//! A regularised CCA ([`CcaHash`]'s fit) maps the centred inputs of both views into a
//! common `c`-dimensional space (`c = cca_dims`, by default `min(bits, directions)`); each
//! bit is `sign(wᵀz)` for a hyperplane normal `w ~ N(0, I_c)` drawn from the seed, shared
//! by both views. For two points at angle `θ` a bit agrees with probability `1 − θ/π`,
//! so the expected Hamming distance of a pair is `bits·θ/π` (tested). Being data
//! independent beyond the CCA step, it is the floor every learned method should beat.

use std::path::Path;

use faer::Mat;
use serde::{Deserialize, Serialize};

use crate::code::BinaryCodes;
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::train::data::{Modality, PairedDataset};
use crate::train::methods::linear::{
    ViewMaps, check_method, config_field, mat_block, sign_codes, take_mat,
};
use crate::train::methods::{CcaHash, Side};
use crate::train::model_file::{ModelFile, save_model};

/// Hyper-parameters of LSH on CCA.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LshConfig {
    /// Code length (number of hyperplanes).
    pub bits: usize,
    /// CCA ridge, relative to each view's mean variance.
    pub reg: f64,
    /// Dimension of the CCA space; `None`: `min(bits, min(d_a, d_b))`.
    pub cca_dims: Option<usize>,
    /// Seed of the hyperplanes.
    pub seed: u64,
}

impl Default for LshConfig {
    fn default() -> Self {
        LshConfig {
            bits: 64,
            reg: 1e-3,
            cca_dims: None,
            seed: 0,
        }
    }
}

/// A fitted LSH-on-CCA hash.
#[derive(Clone, Debug)]
pub struct Lsh {
    /// The configuration it was fitted with.
    pub config: LshConfig,
    cca: ViewMaps,
    /// `(c, bits)` hyperplane normals, one per column.
    pub hyperplanes: Mat<f64>,
}

/// `(c, bits)` standard Gaussian hyperplane normals from `seed` (f32 draws, so they
/// survive the f32 model file exactly).
pub fn gaussian_hyperplanes(c: usize, bits: usize, seed: u64) -> Mat<f64> {
    let mut rng = Rng::new(seed);
    let mut m = Mat::zeros(c, bits);
    for j in 0..bits {
        for i in 0..c {
            m[(i, j)] = rng.normal() as f64;
        }
    }
    m
}

impl Lsh {
    /// Fits the CCA space on the `train` items and draws the hyperplanes.
    pub fn fit(ds: &PairedDataset, train: &[usize], config: LshConfig) -> Result<Self> {
        crate::code::binary::words_for_bits(config.bits)?;
        let directions = match (&ds.a.global, &ds.b.global) {
            (Some(a), Some(b)) => a.cols().min(b.cols()),
            _ => {
                return Err(Error::InvalidArgument {
                    name: "modality",
                    reason: "LSH on CCA needs global vectors for both modalities".into(),
                });
            }
        };
        let c = config.cca_dims.unwrap_or(config.bits.min(directions));
        if c == 0 || c > directions {
            return Err(Error::InvalidArgument {
                name: "cca_dims",
                reason: format!("need 1 ≤ CCA dimensions ≤ {directions}, got {c}"),
            });
        }
        let cca = CcaHash::fit_space(ds, train, c, config.reg)?;
        let (means, projections) = cca.parts();
        let keep = |p: &Mat<f64>| Mat::from_fn(p.nrows(), c, |i, j| p[(i, j)]);
        let cca = ViewMaps::new(
            means.clone(),
            [keep(&projections[0]), keep(&projections[1])],
        )?;
        Ok(Lsh {
            hyperplanes: gaussian_hyperplanes(c, config.bits, config.seed),
            cca,
            config,
        })
    }

    /// The CCA-space features `z = (x − μ)·P` of items `idx` of a modality.
    pub fn cca_features(&self, m: &Modality, side: Side, idx: &[usize]) -> Result<Mat<f64>> {
        self.cca.apply(m, side, idx, "LSH input features")
    }

    /// Sign codes `sign(zᵀw_j)` of items `idx` of a modality read as side `side`.
    pub fn encode_modality(&self, m: &Modality, side: Side, idx: &[usize]) -> Result<BinaryCodes> {
        sign_codes(&(&self.cca_features(m, side, idx)? * &self.hyperplanes))
    }

    /// Writes a model file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut blocks = self.cca.blocks("cca.");
        blocks.push(("hyperplanes".into(), mat_block(&self.hyperplanes)));
        save_model(
            path,
            "lsh",
            serde_json::json!({
                "bits": self.config.bits,
                "reg": self.config.reg,
                "cca_dims": self.cca.out_dim(),
                "seed": self.config.seed,
                "dims": self.cca.dims(),
            }),
            &blocks,
        )
    }

    /// Builds the model from a file written by [`Lsh::save`].
    pub fn from_file(path: &Path, file: &mut ModelFile) -> Result<Self> {
        check_method(path, file, "lsh")?;
        let c: usize = config_field(path, file, "cca_dims")?;
        let config = LshConfig {
            bits: config_field(path, file, "bits")?,
            reg: config_field(path, file, "reg")?,
            cca_dims: Some(c),
            seed: config_field(path, file, "seed")?,
        };
        let dims: [usize; 2] = config_field(path, file, "dims")?;
        Ok(Lsh {
            cca: ViewMaps::from_file(path, file, "cca.", dims, c)?,
            hyperplanes: take_mat(path, file, "hyperplanes", c, config.bits)?,
            config,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::methods::testdata::{check_planted_recovery, planted_two_views};

    #[test]
    fn deterministic_per_seed() {
        let ds = planted_two_views(200, 8, 12, 10, 3);
        let all: Vec<usize> = (0..200).collect();
        let cfg = |seed| LshConfig {
            bits: 32,
            cca_dims: Some(8),
            seed,
            ..LshConfig::default()
        };
        let a = Lsh::fit(&ds, &all, cfg(1)).unwrap();
        let b = Lsh::fit(&ds, &all, cfg(1)).unwrap();
        let c = Lsh::fit(&ds, &all, cfg(2)).unwrap();
        let ea = a.encode_modality(&ds.a, Side::A, &all).unwrap();
        assert_eq!(
            ea.as_words(),
            b.encode_modality(&ds.a, Side::A, &all).unwrap().as_words()
        );
        assert_ne!(
            ea.as_words(),
            c.encode_modality(&ds.a, Side::A, &all).unwrap().as_words()
        );
        assert!(
            Lsh::fit(
                &ds,
                &all,
                LshConfig {
                    cca_dims: Some(11),
                    ..cfg(1)
                }
            )
            .is_err()
        );
        assert!(
            Lsh::fit(
                &ds,
                &all,
                LshConfig {
                    cca_dims: Some(0),
                    ..cfg(1)
                }
            )
            .is_err()
        );
    }

    #[test]
    fn bit_agreement_matches_one_minus_angle_over_pi() {
        // 2048 hyperplanes: each pair's agreement rate has standard error ≤ 0.011.
        let ds = planted_two_views(300, 8, 12, 10, 5);
        let all: Vec<usize> = (0..300).collect();
        let m = Lsh::fit(
            &ds,
            &all,
            LshConfig {
                bits: 2048,
                cca_dims: Some(8),
                seed: 9,
                ..LshConfig::default()
            },
        )
        .unwrap();
        let za = m.cca_features(&ds.a, Side::A, &all).unwrap();
        let zb = m.cca_features(&ds.b, Side::B, &all).unwrap();
        let ca = m.encode_modality(&ds.a, Side::A, &all).unwrap();
        let cb = m.encode_modality(&ds.b, Side::B, &all).unwrap();
        let mut rng = Rng::new(77);
        let mut sq_err = 0.0;
        let pairs = 400;
        for p in 0..pairs {
            // Mix cross-view pairs (small angles) and random pairs (any angle).
            let i = rng.below(300);
            let j = if p % 2 == 0 { i } else { rng.below(300) };
            let dot: f64 = (0..8).map(|k| za[(i, k)] * zb[(j, k)]).sum();
            let nu: f64 = (0..8).map(|k| za[(i, k)].powi(2)).sum::<f64>().sqrt();
            let nv: f64 = (0..8).map(|k| zb[(j, k)].powi(2)).sum::<f64>().sqrt();
            let theta = (dot / (nu * nv)).clamp(-1.0, 1.0).acos();
            let expected = 1.0 - theta / std::f64::consts::PI;
            let diff: u32 = ca
                .row(i)
                .unwrap()
                .iter()
                .zip(cb.row(j).unwrap())
                .map(|(x, y)| (x ^ y).count_ones())
                .sum();
            let agree = 1.0 - diff as f64 / 2048.0;
            assert!(
                (agree - expected).abs() < 0.06,
                "pair ({i},{j}): agreement {agree}, 1 − θ/π = {expected}"
            );
            sq_err += (agree - expected).powi(2);
        }
        let rms = (sq_err / pairs as f64).sqrt();
        assert!(rms < 0.02, "rms deviation {rms}");
    }

    #[test]
    fn recovers_planted_pairs_and_round_trips() {
        let ds = planted_two_views(600, 16, 24, 20, 9);
        let train: Vec<usize> = (0..400).collect();
        let test: Vec<usize> = (400..600).collect();
        let m = Lsh::fit(
            &ds,
            &train,
            LshConfig {
                bits: 16,
                ..LshConfig::default()
            },
        )
        .unwrap();
        let ca = m.encode_modality(&ds.a, Side::A, &test).unwrap();
        let cb = m.encode_modality(&ds.b, Side::B, &test).unwrap();
        check_planted_recovery(&ca, &cb);
        let p = std::env::temp_dir().join(format!("crosscode-lsh-{}.model", std::process::id()));
        m.save(&p).unwrap();
        let back = crate::train::methods::load_any(&p).unwrap();
        assert_eq!(back.method(), "lsh");
        assert_eq!(
            back.encode_modality(&ds.b, Side::B, &test)
                .unwrap()
                .as_words(),
            cb.as_words()
        );
        assert_eq!(
            back.encode_modality(&ds.a, Side::A, &test)
                .unwrap()
                .as_words(),
            ca.as_words()
        );
        std::fs::remove_file(p).unwrap();
    }
}
