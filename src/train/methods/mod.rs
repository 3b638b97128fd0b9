//! Cross-modal hashing methods and baselines, one file each.
//!
//! Every method fits on a [`PairedDataset`](super::data::PairedDataset) restricted to the
//! training items of a split, encodes either modality to [`BinaryCodes`](crate::BinaryCodes)
//! and saves to / loads from a model file ([`super::model_file`]).

pub mod cca;
pub mod hugginghash;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::train::tensor::Tensor;

pub use cca::CcaHash;
pub use hugginghash::{HuggingHash, HuggingHashConfig, TrainLog};

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
