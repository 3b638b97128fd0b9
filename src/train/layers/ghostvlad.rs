//! GhostVLAD: soft assignment of a set of vectors to `K + G` clusters and aggregation of
//! their residuals to the `K` real clusters.
//!
//! For an item with tokens `z_1..z_m` (a packed, variable-length set; no padding):
//! `a_k = softmax(BatchNorm(W·z_k))` over `K + G` clusters (BatchNorm over every token of
//! the batch), `r_n = Σ_k a_{k,n}(z_k − c_n)` for the `K` real clusters only (the `G`
//! ghost clusters absorb uninformative tokens and are dropped), then each `r_n` is L2
//! normalised (intra-normalisation) and the flattened `K·D` descriptor is L2 normalised.
//! The output keeps the `(b, K, D)` layout; cosine similarity between two items' cluster
//! `n` rows is unaffected by the final global normalisation.

use super::linear::{Linear, LinearCache};
use super::norm::{BatchNorm, BatchNormCache, L2Cache, l2_backward, l2_forward};
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::train::backend::Backend;
use crate::train::float::Float;
use crate::train::tensor::{Module, Param, Tensor};

/// GhostVLAD over `dim`-dimensional tokens with `clusters` real and `ghosts` ghost clusters.
#[derive(Clone, Debug)]
pub struct GhostVlad<F> {
    /// Assignment logits `dim → clusters + ghosts` (no bias: batch norm follows).
    pub assign: Linear<F>,
    /// Batch norm on the assignment logits.
    pub bn: BatchNorm<F>,
    /// Real cluster centroids, `(clusters, dim)`.
    pub centroids: Param<F>,
    /// Number of real clusters `K`.
    pub clusters: usize,
    /// Number of ghost clusters `G`.
    pub ghosts: usize,
}

/// What [`GhostVlad::backward`] needs.
#[derive(Clone, Debug)]
pub struct GhostVladCache<F> {
    z: Tensor<F>,
    offsets: Vec<usize>,
    assign: LinearCache<F>,
    bn: BatchNormCache<F>,
    a: Tensor<F>,
    intra: L2Cache<F>,
    global: L2Cache<F>,
}

impl<F: Float> GhostVlad<F> {
    /// A module with small random centroids.
    pub fn new(dim: usize, clusters: usize, ghosts: usize, rng: &mut Rng) -> Result<Self> {
        if clusters == 0 || dim == 0 {
            return Err(Error::InvalidArgument {
                name: "clusters",
                reason: format!(
                    "GhostVLAD needs clusters > 0 and dim > 0, got {clusters} and {dim}"
                ),
            });
        }
        Ok(GhostVlad {
            assign: Linear::new(dim, clusters + ghosts, false, rng),
            bn: BatchNorm::new(clusters + ghosts),
            centroids: Param::new(Tensor::randn(&[clusters, dim], 0.1, rng)),
            clusters,
            ghosts,
        })
    }

    /// Aggregates packed tokens `z` (`(n_tokens, dim)`); item `i` owns rows
    /// `offsets[i]..offsets[i+1]`. Returns `(items, clusters, dim)`.
    pub fn forward(
        &mut self,
        be: &dyn Backend<F>,
        z: &Tensor<F>,
        offsets: &[usize],
        train: bool,
    ) -> Result<(Tensor<F>, GhostVladCache<F>)> {
        let dim = self.centroids.value.cols();
        if z.cols() != dim {
            return Err(Error::DimensionMismatch {
                what: "GhostVLAD token features",
                expected: dim,
                found: z.cols(),
            });
        }
        if offsets.first() != Some(&0)
            || offsets.last() != Some(&z.rows())
            || offsets.windows(2).any(|w| w[0] > w[1])
        {
            return Err(Error::InvalidArgument {
                name: "offsets",
                reason: format!(
                    "item offsets must rise from 0 to the token count {}",
                    z.rows()
                ),
            });
        }
        let (logits, assign) = self.assign.forward(be, z)?;
        let (normed, bn) = self.bn.forward(be, &logits, train)?;
        let a = be.softmax_rows(&normed, None)?;
        let items = offsets.len() - 1;
        let k = self.clusters;
        let r = be.vlad_aggregate(&a, z, &self.centroids.value, offsets)?;
        let (intra_out, intra) = l2_forward(be, &r);
        let flat = intra_out.reshape(&[items, k * dim])?;
        let (g, global) = l2_forward(be, &flat);
        let y = g.reshape(&[items, k, dim])?;
        Ok((
            y,
            GhostVladCache {
                z: z.clone(),
                offsets: offsets.to_vec(),
                assign,
                bn,
                a,
                intra,
                global,
            },
        ))
    }

    /// Accumulates parameter gradients and returns the gradient for the packed tokens.
    pub fn backward(
        &mut self,
        be: &dyn Backend<F>,
        cache: &GhostVladCache<F>,
        dy: &Tensor<F>,
    ) -> Result<Tensor<F>> {
        let dim = self.centroids.value.cols();
        let k = self.clusters;
        let items = cache.offsets.len() - 1;
        let dflat = dy.clone().reshape(&[items, k * dim])?;
        let dintra = l2_backward(be, &cache.global, &dflat)?.reshape(&[items * k, dim])?;
        let dr = l2_backward(be, &cache.intra, &dintra)?;
        let a = &cache.a;
        let (da, dz, dc) =
            be.vlad_aggregate_backward(a, &cache.z, &self.centroids.value, &cache.offsets, &dr)?;
        self.centroids.grad.add_assign(&dc)?;
        let dnormed = be.softmax_rows_backward(a, &da)?;
        let dlogits = self.bn.backward(be, &cache.bn, &dnormed)?;
        let mut dz_total = self.assign.backward(be, &cache.assign, &dlogits)?;
        dz_total.add_assign(&dz)?;
        Ok(dz_total)
    }
}

impl<F: Float> Module<F> for GhostVlad<F> {
    fn visit_params(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<F>)) {
        self.assign.visit_params(&format!("{prefix}assign."), f);
        self.bn.visit_params(&format!("{prefix}bn."), f);
        f(&format!("{prefix}centroids"), &mut self.centroids);
    }
}
