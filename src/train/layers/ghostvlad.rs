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

use rayon::prelude::*;

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
        let (k, kg) = (self.clusters, self.clusters + self.ghosts);
        let c = self.centroids.value.data();
        let mut r = Tensor::zeros(&[items, k, dim]);
        r.data_mut()
            .par_chunks_mut(k * dim)
            .enumerate()
            .for_each(|(i, ri)| {
                for t in offsets[i]..offsets[i + 1] {
                    let zt = z.row(t);
                    let at = &a.data()[t * kg..t * kg + k];
                    for n in 0..k {
                        let w = at[n];
                        let rn = &mut ri[n * dim..(n + 1) * dim];
                        let cn = &c[n * dim..(n + 1) * dim];
                        for j in 0..dim {
                            rn[j] += w * (zt[j] - cn[j]);
                        }
                    }
                }
            });
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
        let (k, kg) = (self.clusters, self.clusters + self.ghosts);
        let items = cache.offsets.len() - 1;
        let dflat = dy.clone().reshape(&[items, k * dim])?;
        let dintra = l2_backward(be, &cache.global, &dflat)?.reshape(&[items * k, dim])?;
        let dr = l2_backward(be, &cache.intra, &dintra)?;
        let z = &cache.z;
        let a = &cache.a;
        let c = self.centroids.value.data();
        // Per item: dA (tokens × K+G, ghosts zero), dZ from the residual term, dC share.
        let parts: Vec<(Vec<F>, Vec<F>, Vec<F>)> = (0..items)
            .into_par_iter()
            .map(|i| {
                let (s, e) = (cache.offsets[i], cache.offsets[i + 1]);
                let dri = &dr.data()[i * k * dim..(i + 1) * k * dim];
                let mut da = vec![F::ZERO; (e - s) * kg];
                let mut dz = vec![F::ZERO; (e - s) * dim];
                let mut dc = vec![F::ZERO; k * dim];
                for t in s..e {
                    let zt = z.row(t);
                    let at = &a.data()[t * kg..t * kg + k];
                    for n in 0..k {
                        let drn = &dri[n * dim..(n + 1) * dim];
                        let cn = &c[n * dim..(n + 1) * dim];
                        let mut acc = F::ZERO;
                        for j in 0..dim {
                            acc += drn[j] * (zt[j] - cn[j]);
                            dz[(t - s) * dim + j] += at[n] * drn[j];
                            dc[n * dim + j] -= at[n] * drn[j];
                        }
                        da[(t - s) * kg + n] = acc;
                    }
                }
                (da, dz, dc)
            })
            .collect();
        let mut da = Vec::with_capacity(z.rows() * kg);
        let mut dz = Vec::with_capacity(z.rows() * dim);
        for (pa, pz, pc) in parts {
            da.extend_from_slice(&pa);
            dz.extend_from_slice(&pz);
            for (g, v) in self.centroids.grad.data_mut().iter_mut().zip(&pc) {
                *g += *v;
            }
        }
        let da = Tensor::from_vec(&[z.rows(), kg], da)?;
        let dnormed = be.softmax_rows_backward(a, &da)?;
        let dlogits = self.bn.backward(be, &cache.bn, &dnormed)?;
        let mut dz_total = self.assign.backward(be, &cache.assign, &dlogits)?;
        dz_total.add_assign(&Tensor::from_vec(&[z.rows(), dim], dz)?)?;
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
