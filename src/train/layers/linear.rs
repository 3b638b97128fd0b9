//! Fully connected layer `y = x·W + b` over the last axis.

use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::train::backend::Backend;
use crate::train::float::Float;
use crate::train::tensor::{Module, Param, Tensor};

/// A linear map from `inputs` to `outputs` features; `W` is stored `(inputs, outputs)`.
#[derive(Clone, Debug)]
pub struct Linear<F> {
    /// Weight, `(inputs, outputs)`.
    pub weight: Param<F>,
    /// Bias, `(outputs,)`, absent for a bias-free layer.
    pub bias: Option<Param<F>>,
}

/// What [`Linear::backward`] needs: the input of the forward pass.
#[derive(Clone, Debug)]
pub struct LinearCache<F> {
    x: Tensor<F>,
}

impl<F: Float> Linear<F> {
    /// A layer with uniform `±1/√inputs` initialisation (PyTorch's default).
    pub fn new(inputs: usize, outputs: usize, bias: bool, rng: &mut Rng) -> Self {
        let bound = 1.0 / (inputs.max(1) as f64).sqrt();
        Linear {
            weight: Param::new(Tensor::uniform(&[inputs, outputs], bound, rng)),
            bias: bias.then(|| Param::new(Tensor::uniform(&[outputs], bound, rng))),
        }
    }

    /// Input features.
    pub fn inputs(&self) -> usize {
        self.weight.value.shape()[0]
    }

    /// Output features.
    pub fn outputs(&self) -> usize {
        self.weight.value.shape()[1]
    }

    /// `y = x·W + b`; `x` has shape `(.., inputs)`, `y` has shape `(.., outputs)`.
    pub fn forward(
        &self,
        be: &dyn Backend<F>,
        x: &Tensor<F>,
    ) -> Result<(Tensor<F>, LinearCache<F>)> {
        if x.cols() != self.inputs() {
            return Err(Error::DimensionMismatch {
                what: "linear layer input features",
                expected: self.inputs(),
                found: x.cols(),
            });
        }
        let mut y = be.matmul(x, false, &self.weight.value, false)?;
        if let Some(b) = &self.bias {
            be.add_row_bias(&mut y, &b.value)?;
        }
        let mut shape = x.shape().to_vec();
        if let Some(last) = shape.last_mut() {
            *last = self.outputs();
        }
        let y = y.reshape(&shape)?;
        Ok((y, LinearCache { x: x.clone() }))
    }

    /// Accumulates `dW += xᵀ·dy`, `db += Σ dy` and returns `dx = dy·Wᵀ`.
    pub fn backward(
        &mut self,
        be: &dyn Backend<F>,
        cache: &LinearCache<F>,
        dy: &Tensor<F>,
    ) -> Result<Tensor<F>> {
        be.matmul_acc(&cache.x, true, dy, false, &mut self.weight.grad)?;
        if let Some(b) = &mut self.bias {
            be.col_sum_acc(dy, &mut b.grad)?;
        }
        let dx = be.matmul(dy, false, &self.weight.value, true)?;
        dx.reshape(cache.x.shape())
    }
}

impl<F: Float> Module<F> for Linear<F> {
    fn visit_params(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<F>)) {
        f(&format!("{prefix}weight"), &mut self.weight);
        if let Some(b) = &mut self.bias {
            f(&format!("{prefix}bias"), b);
        }
    }
}
