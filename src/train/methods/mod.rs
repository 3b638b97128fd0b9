//! Cross-modal hashing methods and baselines, one file each.
//!
//! Every method fits on a [`PairedDataset`] restricted to the
//! training items of a split, encodes either modality to [`BinaryCodes`]
//! and saves to / loads from a model file ([`super::model_file`]).
//!
//! [`fit_by_name`] fits any of them with its default configuration, so that callers
//! (`crosscode bench-quality`) can iterate over [`METHOD_NAMES`].

pub mod cca;
pub mod cca_itq;
pub mod cvh;
pub mod hugginghash;
mod linear;
pub mod lsh;
pub mod srch;

use serde::{Deserialize, Serialize};

use std::path::Path;

use crate::code::BinaryCodes;
use crate::error::{Error, Result};
use crate::train::data::{Modality, PairedDataset};
use crate::train::model_file::load_model;
use crate::train::tensor::Tensor;

pub use cca::CcaHash;
pub use cca_itq::{CcaItq, CcaItqConfig};
pub use cvh::{Cvh, CvhConfig};
pub use hugginghash::{EpochLog, HuggingHash, HuggingHashConfig, TrainLog};
pub use lsh::{Lsh, LshConfig};
pub use srch::{Srch, SrchConfig, SrchLog};

/// Which modality of a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Side {
    /// The data set's first modality.
    A,
    /// The data set's second modality.
    B,
}

impl Side {
    /// 0 for A, 1 for B.
    pub fn index(self) -> usize {
        match self {
            Side::A => 0,
            Side::B => 1,
        }
    }
}

/// What every trained hashing method offers: codes for either modality, and persistence.
/// (Fitting takes method-specific configuration, so it is an inherent function.)
pub trait HashingMethod: Send + Sync {
    /// Method name as written in model files.
    fn method(&self) -> &'static str;
    /// Code length.
    fn bits(&self) -> usize;
    /// Codes of items `idx` of `m`, read as side `side` of the model.
    fn encode_modality(&self, m: &Modality, side: Side, idx: &[usize]) -> Result<BinaryCodes>;
    /// Writes a model file.
    fn save(&self, path: &Path) -> Result<()>;
}

impl HashingMethod for HuggingHash {
    fn method(&self) -> &'static str {
        "hugginghash"
    }
    fn bits(&self) -> usize {
        self.config.bits
    }
    fn encode_modality(&self, m: &Modality, side: Side, idx: &[usize]) -> Result<BinaryCodes> {
        HuggingHash::encode_modality(self, m, side, idx)
    }
    fn save(&self, path: &Path) -> Result<()> {
        HuggingHash::save(self, path)
    }
}

impl HashingMethod for CcaHash {
    fn method(&self) -> &'static str {
        "cca"
    }
    fn bits(&self) -> usize {
        self.bits
    }
    fn encode_modality(&self, m: &Modality, side: Side, idx: &[usize]) -> Result<BinaryCodes> {
        CcaHash::encode_modality(self, m, side, idx)
    }
    fn save(&self, path: &Path) -> Result<()> {
        CcaHash::save(self, path)
    }
}

macro_rules! hashing_method {
    ($ty:ty, $name:literal) => {
        impl HashingMethod for $ty {
            fn method(&self) -> &'static str {
                $name
            }
            fn bits(&self) -> usize {
                self.config.bits
            }
            fn encode_modality(
                &self,
                m: &Modality,
                side: Side,
                idx: &[usize],
            ) -> Result<BinaryCodes> {
                <$ty>::encode_modality(self, m, side, idx)
            }
            fn save(&self, path: &Path) -> Result<()> {
                <$ty>::save(self, path)
            }
        }
    };
}

hashing_method!(CcaItq, "cca-itq");
hashing_method!(Cvh, "cvh");
hashing_method!(Lsh, "lsh");
hashing_method!(Srch, "srch");

/// Loads any method's model file, dispatching on the method name it records.
pub fn load_any(path: &Path) -> Result<Box<dyn HashingMethod>> {
    let mut file = load_model(path)?;
    match file.method.as_str() {
        "hugginghash" => Ok(Box::new(HuggingHash::from_file(path, &mut file)?)),
        "cca" => Ok(Box::new(CcaHash::from_file(path, &mut file)?)),
        "cca-itq" => Ok(Box::new(CcaItq::from_file(path, &mut file)?)),
        "cvh" => Ok(Box::new(Cvh::from_file(path, &mut file)?)),
        "lsh" => Ok(Box::new(Lsh::from_file(path, &mut file)?)),
        "srch" => Ok(Box::new(Srch::from_file(path, &mut file)?)),
        other => Err(Error::Format {
            path: path.into(),
            reason: format!("unknown method `{other}`"),
        }),
    }
}

/// Names accepted by [`fit_by_name`], in the order reports list them.
pub const METHOD_NAMES: &[&str] = &["cca", "cca-itq", "cvh", "lsh", "srch", "hugginghash"];

/// Ridge of the CCA-based baselines' covariances, relative to the mean variance (the
/// default of `crosscode train --reg`).
pub const DEFAULT_REG: f64 = 1e-3;

/// Overrides of the default configurations used by [`fit_by_name_with`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FitOptions {
    /// Training epochs of the iterative deep methods (HuggingHash); `None`: their default.
    pub epochs: Option<usize>,
}

/// Fits method `name` (one of [`METHOD_NAMES`]) with its default configuration, `bits`
/// bits and `seed` for every random choice, on the `train` items of `ds`.
pub fn fit_by_name(
    name: &str,
    ds: &PairedDataset,
    train: &[usize],
    bits: usize,
    seed: u64,
) -> Result<Box<dyn HashingMethod>> {
    fit_by_name_with(name, ds, train, bits, seed, &FitOptions::default())
}

/// [`fit_by_name`] with some defaults overridden.
pub fn fit_by_name_with(
    name: &str,
    ds: &PairedDataset,
    train: &[usize],
    bits: usize,
    seed: u64,
    options: &FitOptions,
) -> Result<Box<dyn HashingMethod>> {
    Ok(match name {
        "cca" => Box::new(CcaHash::fit(ds, train, bits, DEFAULT_REG)?),
        "cca-itq" => Box::new(CcaItq::fit(
            ds,
            train,
            CcaItqConfig {
                bits,
                seed,
                ..CcaItqConfig::default()
            },
        )?),
        "cvh" => Box::new(Cvh::fit(
            ds,
            train,
            CvhConfig {
                bits,
                ..CvhConfig::default()
            },
        )?),
        "lsh" => Box::new(Lsh::fit(
            ds,
            train,
            LshConfig {
                bits,
                seed,
                ..LshConfig::default()
            },
        )?),
        "srch" => Box::new(
            Srch::fit(
                ds,
                train,
                SrchConfig {
                    bits,
                    seed,
                    ..SrchConfig::default()
                },
                &mut |_| {},
            )?
            .0,
        ),
        "hugginghash" => {
            let defaults = HuggingHashConfig::default();
            let cfg = HuggingHashConfig {
                bits,
                seed,
                epochs: options.epochs.unwrap_or(defaults.epochs),
                ..defaults
            };
            Box::new(HuggingHash::fit(ds, train, cfg, &mut |_| {})?.0)
        }
        other => {
            return Err(Error::UnknownMethod {
                name: other.to_string(),
                known: METHOD_NAMES.join(", "),
            });
        }
    })
}

/// Per-feature standardisation `(x − mean) / std` fitted on training rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer {
    /// Feature means.
    pub mean: Vec<f32>,
    /// Feature standard deviations (at least 1e-6; constant features get 1).
    pub std: Vec<f32>,
}

impl Standardizer {
    /// Fits on the rows of `x` (`(n, d)`, n ≥ 1).
    pub fn fit(x: &Tensor<f32>) -> Result<Self> {
        let (n, d) = (x.rows(), x.cols());
        if n == 0 {
            return Err(Error::InvalidArgument {
                name: "rows",
                reason: "cannot standardise zero rows".into(),
            });
        }
        let mut mean = vec![0f64; d];
        for r in x.data().chunks(d) {
            for (m, v) in mean.iter_mut().zip(r) {
                *m += *v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let mut var = vec![0f64; d];
        for r in x.data().chunks(d) {
            for ((s, v), m) in var.iter_mut().zip(r).zip(&mean) {
                *s += (*v as f64 - m).powi(2);
            }
        }
        let std = var
            .iter()
            .map(|s| {
                let sd = (s / n as f64).sqrt();
                if sd < 1e-6 { 1.0 } else { sd as f32 }
            })
            .collect();
        Ok(Standardizer {
            mean: mean.into_iter().map(|m| m as f32).collect(),
            std,
        })
    }

    /// Standardises `x` in place.
    pub fn apply(&self, x: &mut Tensor<f32>) -> Result<()> {
        if x.cols() != self.mean.len() {
            return Err(Error::DimensionMismatch {
                what: "standardised features",
                expected: self.mean.len(),
                found: x.cols(),
            });
        }
        let d = self.mean.len();
        for r in x.data_mut().chunks_mut(d.max(1)) {
            for ((v, m), s) in r.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = (*v - m) / s;
            }
        }
        Ok(())
    }
}

/// Planted two-view data shared by the methods' tests.
#[cfg(test)]
pub(crate) mod testdata {
    use crate::code::BinaryCodes;
    use crate::rng::Rng;
    use crate::train::data::{Modality, PairedDataset};
    use crate::train::tensor::Tensor;

    /// `n` pairs: a shared `latent`-d Gaussian seen through two random linear maps
    /// (to `da` and `db` dimensions), each view with its own offset and unit noise.
    pub(crate) fn planted_two_views(
        n: usize,
        latent: usize,
        da: usize,
        db: usize,
        seed: u64,
    ) -> PairedDataset {
        let mut rng = Rng::new(seed);
        let z: Vec<f32> = (0..n * latent).map(|_| rng.normal()).collect();
        let mut view = |d: usize| {
            let w: Vec<f32> = (0..latent * d).map(|_| rng.normal()).collect();
            let offset: Vec<f32> = (0..d).map(|_| 3.0 * rng.normal()).collect();
            let mut x = vec![0f32; n * d];
            for i in 0..n {
                for j in 0..d {
                    let s: f32 = (0..latent).map(|k| z[i * latent + k] * w[k * d + j]).sum();
                    x[i * d + j] = s + offset[j] + rng.normal();
                }
            }
            Tensor::from_vec(&[n, d], x).unwrap()
        };
        let (xa, xb) = (view(da), view(db));
        PairedDataset::new(
            Modality::new("a", Some(xa), None).unwrap(),
            Modality::new("b", Some(xb), None).unwrap(),
            None,
        )
        .unwrap()
    }

    fn distance(x: &[u64], y: &[u64]) -> u32 {
        x.iter().zip(y).map(|(a, b)| (a ^ b).count_ones()).sum()
    }

    /// Mean cross-view Hamming distance of paired items and of items paired with a
    /// random other item, as fractions of the code length.
    pub(crate) fn paired_and_unpaired(ca: &BinaryCodes, cb: &BinaryCodes) -> (f64, f64) {
        let (n, bits) = (ca.len(), ca.bits() as f64);
        let mut rng = Rng::new(1234);
        let (mut p, mut u) = (0.0, 0.0);
        for i in 0..n {
            let j = (i + 1 + rng.below(n - 1)) % n;
            let a = ca.row(i).unwrap();
            p += distance(a, cb.row(i).unwrap()) as f64;
            u += distance(a, cb.row(j).unwrap()) as f64;
        }
        (p / n as f64 / bits, u / n as f64 / bits)
    }

    /// Asserts that codes recovered the pairing: mean paired distance below a quarter of
    /// the bits, unpaired near half.
    pub(crate) fn check_planted_recovery(ca: &BinaryCodes, cb: &BinaryCodes) {
        let (p, u) = paired_and_unpaired(ca, cb);
        assert!(p < 0.25, "paired distance {p} of the bits");
        assert!((0.4..0.6).contains(&u), "unpaired distance {u} of the bits");
    }
}

#[cfg(test)]
mod tests {
    use super::testdata::{check_planted_recovery, planted_two_views};
    use super::*;

    #[test]
    fn every_baseline_by_name_recovers_planted_pairs_and_round_trips() {
        let ds = planted_two_views(600, 16, 24, 20, 17);
        let train: Vec<usize> = (0..400).collect();
        let test: Vec<usize> = (400..600).collect();
        let dir = std::env::temp_dir().join(format!("crosscode-by-name-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["cca", "cca-itq", "cvh", "lsh"] {
            let m = fit_by_name(name, &ds, &train, 16, 3).unwrap();
            assert_eq!((m.method(), m.bits()), (name, 16));
            let ca = m.encode_modality(&ds.a, Side::A, &test).unwrap();
            let cb = m.encode_modality(&ds.b, Side::B, &test).unwrap();
            check_planted_recovery(&ca, &cb);
            let p = dir.join(format!("{name}.model"));
            m.save(&p).unwrap();
            let back = load_any(&p).unwrap();
            assert_eq!(back.method(), name);
            assert_eq!(
                back.encode_modality(&ds.b, Side::B, &test)
                    .unwrap()
                    .as_words(),
                cb.as_words(),
                "{name}"
            );
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn unknown_method_name_lists_the_known_ones() {
        let ds = planted_two_views(20, 2, 3, 3, 1);
        let e = fit_by_name("itq", &ds, &[0, 1, 2], 8, 0).err().unwrap();
        assert!(matches!(&e, Error::UnknownMethod { name, .. } if name == "itq"));
        let msg = e.to_string();
        for n in METHOD_NAMES {
            assert!(msg.contains(n), "{msg}");
        }
    }
}
