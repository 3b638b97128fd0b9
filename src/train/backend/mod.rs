//! The seam between layers and the hardware that runs them.
//!
//! Layers never loop over tensor elements for the heavy work; they call the kernels of a
//! [`Backend`]: dense products, activations, row softmax, layer and batch normalisation
//! (statistics, standardisation, affine part), L2 normalisation, bias and column sums,
//! and GhostVLAD residual aggregation. (Still on the host: head gather/scatter in
//! attention and the `B × B` bookkeeping of the losses — small next to the products.) The CPU backend ([`cpu::CpuBackend`])
//! implements them with faer and rayon; a CUDA backend implements the same trait, so the
//! layer code stays as it is. Each kernel is small enough to be checked one by one
//! against the CPU reference.

pub mod cpu;

use super::float::Float;
use super::tensor::Tensor;
use crate::error::Result;

pub use cpu::CpuBackend;

/// Pointwise activation functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// Hyperbolic tangent.
    Tanh,
    /// max(0, x).
    Relu,
    /// GELU, tanh approximation `0.5x(1 + tanh(√(2/π)(x + 0.044715x³)))`.
    Gelu,
}

/// Kernels every backend provides. Matrices are row-major 2-D views over the last axis.
pub trait Backend<F: Float>: Send + Sync {
    /// A short name for logs ("cpu", "cuda").
    fn name(&self) -> &'static str;

    /// `op(A) · op(B)` for matrix views `A`, `B`; `ta`/`tb` transpose them.
    fn matmul(&self, a: &Tensor<F>, ta: bool, b: &Tensor<F>, tb: bool) -> Result<Tensor<F>>;

    /// `C += op(A) · op(B)`: gradient accumulation without a temporary.
    fn matmul_acc(
        &self,
        a: &Tensor<F>,
        ta: bool,
        b: &Tensor<F>,
        tb: bool,
        c: &mut Tensor<F>,
    ) -> Result<()>;

    /// Adds `bias` (length = columns) to every row of `x`.
    fn add_row_bias(&self, x: &mut Tensor<F>, bias: &Tensor<F>) -> Result<()>;

    /// `acc += column sums of x` (the bias gradient).
    fn col_sum_acc(&self, x: &Tensor<F>, acc: &mut Tensor<F>) -> Result<()>;

    /// `y = act(scale · x)`.
    fn activation(&self, act: Activation, scale: F, x: &Tensor<F>) -> Tensor<F>;

    /// Gradient of `act(scale · x)` with respect to `x`, given `dy`.
    fn activation_backward(
        &self,
        act: Activation,
        scale: F,
        x: &Tensor<F>,
        dy: &Tensor<F>,
    ) -> Result<Tensor<F>>;

    /// Row softmax of `x`; `mask` entries that are `false` get probability zero
    /// (a row fully masked gives all zeros).
    fn softmax_rows(&self, x: &Tensor<F>, mask: Option<&[bool]>) -> Result<Tensor<F>>;

    /// Backward of the row softmax given its output `p` and `dp`.
    fn softmax_rows_backward(&self, p: &Tensor<F>, dp: &Tensor<F>) -> Result<Tensor<F>>;

    /// Per-row normalisation `x̂ = (x − mean) / sqrt(var + eps)`; returns `x̂` and `1/σ` per row.
    fn row_normalize(&self, x: &Tensor<F>, eps: F) -> (Tensor<F>, Vec<F>);

    /// Backward of [`Backend::row_normalize`] given `x̂`, `1/σ` and `dx̂`.
    fn row_normalize_backward(
        &self,
        xhat: &Tensor<F>,
        rstd: &[F],
        dxhat: &Tensor<F>,
    ) -> Result<Tensor<F>>;

    /// Per-column mean and biased variance over the rows of `x`.
    fn col_moments(&self, x: &Tensor<F>) -> (Vec<F>, Vec<F>);

    /// Row L2 normalisation `y = x / max(‖x‖, eps)`; returns `y` and the clamped norms.
    fn l2_normalize_rows(&self, x: &Tensor<F>, eps: F) -> (Tensor<F>, Vec<F>);

    /// Backward of [`Backend::l2_normalize_rows`] given `y`, the norms and `dy`.
    fn l2_normalize_rows_backward(
        &self,
        y: &Tensor<F>,
        norms: &[F],
        eps: F,
        dy: &Tensor<F>,
    ) -> Result<Tensor<F>>;

    /// `y[i, j] = x[i, j]·γ[j] + β[j]` (the affine part of layer and batch norm).
    fn affine_cols(&self, x: &Tensor<F>, gamma: &[F], beta: &[F]) -> Result<Tensor<F>>;

    /// Backward of [`Backend::affine_cols`]: accumulates `dγ += Σ_i dy⊙x`, `dβ += Σ_i dy`
    /// and returns `dy⊙γ`.
    fn affine_cols_backward(
        &self,
        x: &Tensor<F>,
        gamma: &[F],
        dy: &Tensor<F>,
        dgamma: &mut [F],
        dbeta: &mut [F],
    ) -> Result<Tensor<F>>;

    /// Per-column standardisation `x̂[i, j] = (x[i, j] − mean[j])·rstd[j]`.
    fn normalize_cols(&self, x: &Tensor<F>, mean: &[F], rstd: &[F]) -> Result<Tensor<F>>;

    /// Backward of [`Backend::normalize_cols`]; when `through_stats` the mean and variance
    /// were the batch's own (batch norm in training mode) and the gradient flows through
    /// them: `dx = rstd·(dx̂ − mean_i(dx̂) − x̂·mean_i(dx̂⊙x̂))`; otherwise `dx = rstd·dx̂`.
    fn normalize_cols_backward(
        &self,
        xhat: &Tensor<F>,
        rstd: &[F],
        dxhat: &Tensor<F>,
        through_stats: bool,
    ) -> Result<Tensor<F>>;

    /// GhostVLAD residual aggregation: for item `i` (rows `offsets[i]..offsets[i+1]` of
    /// the packed tokens `z`) and real cluster `n < K` (`K` = rows of `centroids`),
    /// `r[i, n] = Σ_t a[t, n]·(z[t] − c[n])`. `a` has `K + G` columns; ghosts are ignored.
    /// Returns `(items, K, D)`.
    fn vlad_aggregate(
        &self,
        a: &Tensor<F>,
        z: &Tensor<F>,
        centroids: &Tensor<F>,
        offsets: &[usize],
    ) -> Result<Tensor<F>>;

    /// Backward of [`Backend::vlad_aggregate`] given `dr`: returns `(da, dz, dc)` with
    /// `da` zero in the ghost columns.
    fn vlad_aggregate_backward(
        &self,
        a: &Tensor<F>,
        z: &Tensor<F>,
        centroids: &Tensor<F>,
        offsets: &[usize],
        dr: &Tensor<F>,
    ) -> Result<(Tensor<F>, Tensor<F>, Tensor<F>)>;
}
