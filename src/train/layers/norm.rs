//! Normalisation layers: layer norm, batch norm (train and eval behaviour), L2 rows.

use crate::error::{Error, Result};
use crate::train::backend::Backend;
use crate::train::float::Float;
use crate::train::tensor::{Module, Param, Tensor};

fn check_features(what: &'static str, expected: usize, x: &Tensor<impl Float>) -> Result<()> {
    if x.cols() != expected {
        return Err(Error::DimensionMismatch {
            what,
            expected,
            found: x.cols(),
        });
    }
    Ok(())
}

/// Layer normalisation over the last axis with a learned gain and shift.
#[derive(Clone, Debug)]
pub struct LayerNorm<F> {
    /// Gain γ, `(features,)`, initialised to one.
    pub gamma: Param<F>,
    /// Shift β, `(features,)`, initialised to zero.
    pub beta: Param<F>,
    /// Variance floor.
    pub eps: F,
}

/// What [`LayerNorm::backward`] needs.
#[derive(Clone, Debug)]
pub struct LayerNormCache<F> {
    xhat: Tensor<F>,
    rstd: Vec<F>,
}

impl<F: Float> LayerNorm<F> {
    /// γ = 1, β = 0, eps = 1e-5.
    pub fn new(features: usize) -> Self {
        LayerNorm {
            gamma: Param::new(Tensor::full(&[features], F::ONE)),
            beta: Param::new(Tensor::zeros(&[features])),
            eps: F::from_f64(1e-5),
        }
    }

    /// `y = γ ⊙ (x − μ)/σ + β` per row.
    pub fn forward(
        &self,
        be: &dyn Backend<F>,
        x: &Tensor<F>,
    ) -> Result<(Tensor<F>, LayerNormCache<F>)> {
        check_features("layer norm features", self.gamma.value.numel(), x)?;
        let (xhat, rstd) = be.row_normalize(x, self.eps);
        let y = be.affine_cols(&xhat, self.gamma.value.data(), self.beta.value.data())?;
        Ok((y, LayerNormCache { xhat, rstd }))
    }

    /// Accumulates dγ, dβ and returns dx.
    pub fn backward(
        &mut self,
        be: &dyn Backend<F>,
        cache: &LayerNormCache<F>,
        dy: &Tensor<F>,
    ) -> Result<Tensor<F>> {
        check_features("layer norm gradient", self.gamma.value.numel(), dy)?;
        let dxhat = be.affine_cols_backward(
            &cache.xhat,
            self.gamma.value.data(),
            dy,
            self.gamma.grad.data_mut(),
            self.beta.grad.data_mut(),
        )?;
        be.row_normalize_backward(&cache.xhat, &cache.rstd, &dxhat)
    }
}

impl<F: Float> Module<F> for LayerNorm<F> {
    fn visit_params(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<F>)) {
        f(&format!("{prefix}gamma"), &mut self.gamma);
        f(&format!("{prefix}beta"), &mut self.beta);
    }
}

/// Batch normalisation over the rows of a `(n, features)` matrix.
///
/// In training mode it normalises with the batch mean and biased variance and updates
/// running statistics (`running = (1 − momentum)·running + momentum·batch`, the running
/// variance takes the unbiased batch variance, as PyTorch does); in evaluation mode it
/// normalises with the running statistics and is a fixed affine map.
#[derive(Clone, Debug)]
pub struct BatchNorm<F> {
    /// Gain γ.
    pub gamma: Param<F>,
    /// Shift β.
    pub beta: Param<F>,
    /// Running mean (not trained by gradient).
    pub running_mean: Vec<F>,
    /// Running variance.
    pub running_var: Vec<F>,
    /// Weight of the newest batch in the running statistics.
    pub momentum: F,
    /// Variance floor.
    pub eps: F,
}

/// What [`BatchNorm::backward`] needs.
#[derive(Clone, Debug)]
pub struct BatchNormCache<F> {
    xhat: Tensor<F>,
    rstd: Vec<F>,
    train: bool,
}

impl<F: Float> BatchNorm<F> {
    /// γ = 1, β = 0, running mean 0 and variance 1, momentum 0.1, eps 1e-5.
    pub fn new(features: usize) -> Self {
        BatchNorm {
            gamma: Param::new(Tensor::full(&[features], F::ONE)),
            beta: Param::new(Tensor::zeros(&[features])),
            running_mean: vec![F::ZERO; features],
            running_var: vec![F::ONE; features],
            momentum: F::from_f64(0.1),
            eps: F::from_f64(1e-5),
        }
    }

    /// Normalises `x`; `train` selects batch statistics (and updates the running ones).
    pub fn forward(
        &mut self,
        be: &dyn Backend<F>,
        x: &Tensor<F>,
        train: bool,
    ) -> Result<(Tensor<F>, BatchNormCache<F>)> {
        let c = self.gamma.value.numel();
        check_features("batch norm features", c, x)?;
        let n = x.rows();
        let (mean, rstd) = if train {
            if n < 2 {
                return Err(Error::InvalidArgument {
                    name: "batch",
                    reason: format!("batch norm in training mode needs at least 2 rows, got {n}"),
                });
            }
            let (mean, var) = be.col_moments(x);
            let m = self.momentum;
            let unbias = F::from_f64(n as f64 / (n as f64 - 1.0));
            for j in 0..c {
                self.running_mean[j] = (F::ONE - m) * self.running_mean[j] + m * mean[j];
                self.running_var[j] = (F::ONE - m) * self.running_var[j] + m * var[j] * unbias;
            }
            let rstd: Vec<F> = var
                .iter()
                .map(|v| F::ONE / (*v + self.eps).sqrt())
                .collect();
            (mean, rstd)
        } else {
            let rstd: Vec<F> = self
                .running_var
                .iter()
                .map(|v| F::ONE / (*v + self.eps).sqrt())
                .collect();
            (self.running_mean.clone(), rstd)
        };
        let xhat = be.normalize_cols(x, &mean, &rstd)?;
        let y = be.affine_cols(&xhat, self.gamma.value.data(), self.beta.value.data())?;
        Ok((y, BatchNormCache { xhat, rstd, train }))
    }

    /// Accumulates dγ, dβ and returns dx (through the batch statistics in training mode).
    pub fn backward(
        &mut self,
        be: &dyn Backend<F>,
        cache: &BatchNormCache<F>,
        dy: &Tensor<F>,
    ) -> Result<Tensor<F>> {
        check_features("batch norm gradient", self.gamma.value.numel(), dy)?;
        let dxhat = be.affine_cols_backward(
            &cache.xhat,
            self.gamma.value.data(),
            dy,
            self.gamma.grad.data_mut(),
            self.beta.grad.data_mut(),
        )?;
        be.normalize_cols_backward(&cache.xhat, &cache.rstd, &dxhat, cache.train)
    }
}

impl<F: Float> Module<F> for BatchNorm<F> {
    fn visit_params(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<F>)) {
        f(&format!("{prefix}gamma"), &mut self.gamma);
        f(&format!("{prefix}beta"), &mut self.beta);
    }
}

/// What [`l2_backward`] needs.
#[derive(Clone, Debug)]
pub struct L2Cache<F> {
    y: Tensor<F>,
    norms: Vec<F>,
    eps: F,
}

/// Row L2 normalisation `y = x / max(‖x‖, 1e-12)` (rows over the last axis).
pub fn l2_forward<F: Float>(be: &dyn Backend<F>, x: &Tensor<F>) -> (Tensor<F>, L2Cache<F>) {
    let eps = F::from_f64(1e-12);
    let (y, norms) = be.l2_normalize_rows(x, eps);
    (y.clone(), L2Cache { y, norms, eps })
}

/// `dx` for [`l2_forward`].
pub fn l2_backward<F: Float>(
    be: &dyn Backend<F>,
    cache: &L2Cache<F>,
    dy: &Tensor<F>,
) -> Result<Tensor<F>> {
    let dx = be.l2_normalize_rows_backward(&cache.y, &cache.norms, cache.eps, dy)?;
    dx.reshape(dy.shape())
}
