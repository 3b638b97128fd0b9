//! Cross-modal hashing methods and baselines, one file each.
//!
//! Every method fits on a [`PairedDataset`](super::data::PairedDataset) restricted to the
//! training items of a split, encodes either modality to [`BinaryCodes`]
//! and saves to / loads from a model file ([`super::model_file`]).

pub mod cca;
pub mod hugginghash;
pub mod srch;

use serde::{Deserialize, Serialize};

use std::path::Path;

use crate::code::BinaryCodes;
use crate::error::{Error, Result};
use crate::train::data::Modality;
use crate::train::model_file::load_model;
use crate::train::tensor::Tensor;

pub use cca::CcaHash;
pub use hugginghash::{EpochLog, HuggingHash, HuggingHashConfig, TrainLog};
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

impl HashingMethod for Srch {
    fn method(&self) -> &'static str {
        "srch"
    }
    fn bits(&self) -> usize {
        self.config.bits
    }
    fn encode_modality(&self, m: &Modality, side: Side, idx: &[usize]) -> Result<BinaryCodes> {
        Srch::encode_modality(self, m, side, idx)
    }
    fn save(&self, path: &Path) -> Result<()> {
        Srch::save(self, path)
    }
}

/// Loads any method's model file, dispatching on the method name it records.
pub fn load_any(path: &Path) -> Result<Box<dyn HashingMethod>> {
    let mut file = load_model(path)?;
    match file.method.as_str() {
        "hugginghash" => Ok(Box::new(HuggingHash::from_file(path, &mut file)?)),
        "cca" => Ok(Box::new(CcaHash::from_file(path, &mut file)?)),
        "srch" => Ok(Box::new(Srch::from_file(path, &mut file)?)),
        other => Err(Error::Format {
            path: path.into(),
            reason: format!("unknown method `{other}`"),
        }),
    }
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
