//! Pointwise activations `y = act(scale·x)` (tanh, ReLU, GELU).
//!
//! The scale lets HuggingHash's hash head `tanh(a·f(x))` use the same kernel.

use crate::error::Result;
use crate::train::backend::{Activation, Backend};
use crate::train::float::Float;
use crate::train::tensor::Tensor;

/// What [`activation_backward`] needs.
#[derive(Clone, Debug)]
pub struct ActivationCache<F> {
    act: Activation,
    scale: F,
    x: Tensor<F>,
}

/// `y = act(scale·x)`.
pub fn activation_forward<F: Float>(
    be: &dyn Backend<F>,
    act: Activation,
    scale: F,
    x: &Tensor<F>,
) -> (Tensor<F>, ActivationCache<F>) {
    let y = be.activation(act, scale, x);
    (
        y,
        ActivationCache {
            act,
            scale,
            x: x.clone(),
        },
    )
}

/// `dx` for [`activation_forward`].
pub fn activation_backward<F: Float>(
    be: &dyn Backend<F>,
    cache: &ActivationCache<F>,
    dy: &Tensor<F>,
) -> Result<Tensor<F>> {
    be.activation_backward(cache.act, cache.scale, &cache.x, dy)
}
