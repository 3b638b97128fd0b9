//! Multi-head self-attention with a padding mask, and the pre-norm transformer block.
//!
//! A [`SequenceBatch`] is a `(b, t, d)` tensor with the number of real tokens per item;
//! keys at positions `≥ length` are masked out of every softmax. Outputs at padded
//! positions are computed but meaningless; callers drop them (their gradient is zero).

use rayon::prelude::*;

use super::activation::{ActivationCache, activation_backward, activation_forward};
use super::linear::{Linear, LinearCache};
use super::norm::{LayerNorm, LayerNormCache};
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::train::backend::{Activation, Backend};
use crate::train::float::Float;
use crate::train::tensor::{Module, Param, Tensor};

/// A padded batch of sequences: `data` is `(b, t, d)`, `lengths[i] ≤ t` real tokens.
#[derive(Clone, Debug)]
pub struct SequenceBatch<F> {
    /// The tokens, `(b, t, d)`.
    pub data: Tensor<F>,
    /// Real tokens per item.
    pub lengths: Vec<usize>,
}

impl<F: Float> SequenceBatch<F> {
    /// Checks the shape and lengths.
    pub fn new(data: Tensor<F>, lengths: Vec<usize>) -> Result<Self> {
        let s = data.shape();
        if s.len() != 3 {
            return Err(Error::DimensionMismatch {
                what: "sequence batch rank",
                expected: 3,
                found: s.len(),
            });
        }
        if lengths.len() != s[0] {
            return Err(Error::DimensionMismatch {
                what: "sequence lengths",
                expected: s[0],
                found: lengths.len(),
            });
        }
        if let Some(&l) = lengths.iter().find(|&&l| l > s[1]) {
            return Err(Error::InvalidArgument {
                name: "lengths",
                reason: format!("length {l} exceeds the padded length {}", s[1]),
            });
        }
        Ok(SequenceBatch { data, lengths })
    }

    /// (batch, padded length, features).
    pub fn dims(&self) -> (usize, usize, usize) {
        let s = self.data.shape();
        (s[0], s[1], s[2])
    }
}

/// Multi-head self-attention: fused QKV projection, masked softmax, output projection.
#[derive(Clone, Debug)]
pub struct MultiHeadAttention<F> {
    /// `d → 3d` projection producing queries, keys and values.
    pub qkv: Linear<F>,
    /// `d → d` output projection.
    pub proj: Linear<F>,
    /// Number of heads (divides `d`).
    pub heads: usize,
}

/// What [`MultiHeadAttention::backward`] needs.
#[derive(Clone, Debug)]
pub struct AttentionCache<F> {
    qkv_cache: LinearCache<F>,
    qkv: Tensor<F>,
    probs: Vec<Tensor<F>>,
    proj_cache: LinearCache<F>,
    dims: (usize, usize, usize),
}

/// Copies head `h` of part `p` (0 = Q, 1 = K, 2 = V) of item `b` out of the fused QKV.
fn gather_head<F: Float>(
    qkv: &Tensor<F>,
    b: usize,
    t: usize,
    d: usize,
    dh: usize,
    p: usize,
    h: usize,
) -> Tensor<F> {
    let mut out = Vec::with_capacity(t * dh);
    for i in 0..t {
        let row = qkv.row(b * t + i);
        out.extend_from_slice(&row[p * d + h * dh..p * d + (h + 1) * dh]);
    }
    Tensor::from_vec(&[t, dh], out).unwrap_or_else(|_| Tensor::zeros(&[t, dh]))
}

impl<F: Float> MultiHeadAttention<F> {
    /// A layer over `d` features with `heads` heads.
    pub fn new(d: usize, heads: usize, rng: &mut Rng) -> Result<Self> {
        if heads == 0 || !d.is_multiple_of(heads) {
            return Err(Error::InvalidArgument {
                name: "heads",
                reason: format!("{heads} heads do not divide {d} features"),
            });
        }
        Ok(MultiHeadAttention {
            qkv: Linear::new(d, 3 * d, true, rng),
            proj: Linear::new(d, d, true, rng),
            heads,
        })
    }

    /// Attention over each sequence; returns `(b, t, d)`.
    pub fn forward(
        &self,
        be: &dyn Backend<F>,
        x: &SequenceBatch<F>,
    ) -> Result<(Tensor<F>, AttentionCache<F>)> {
        let (b, t, d) = x.dims();
        let dh = d / self.heads;
        let (qkv, qkv_cache) = self.qkv.forward(be, &x.data)?;
        let scale = F::from_f64(1.0 / (dh as f64).sqrt());
        let heads = self.heads;
        let parts: Vec<Result<(Tensor<F>, Tensor<F>)>> = (0..b * heads)
            .into_par_iter()
            .map(|bh| {
                let (bi, h) = (bh / heads, bh % heads);
                let q = gather_head(&qkv, bi, t, d, dh, 0, h);
                let k = gather_head(&qkv, bi, t, d, dh, 1, h);
                let v = gather_head(&qkv, bi, t, d, dh, 2, h);
                let mut s = be.matmul(&q, false, &k, true)?;
                s.data_mut().iter_mut().for_each(|e| *e *= scale);
                let len = x.lengths[bi];
                let mask: Vec<bool> = (0..t * t).map(|e| e % t < len).collect();
                let p = be.softmax_rows(&s, Some(&mask))?;
                let o = be.matmul(&p, false, &v, false)?;
                Ok((p, o))
            })
            .collect();
        let mut att = Tensor::zeros(&[b, t, d]);
        let mut probs = Vec::with_capacity(b * heads);
        for (bh, part) in parts.into_iter().enumerate() {
            let (p, o) = part?;
            let (bi, h) = (bh / heads, bh % heads);
            for i in 0..t {
                let dst =
                    &mut att.data_mut()[(bi * t + i) * d + h * dh..(bi * t + i) * d + (h + 1) * dh];
                dst.copy_from_slice(o.row(i));
            }
            probs.push(p);
        }
        let (y, proj_cache) = self.proj.forward(be, &att)?;
        Ok((
            y,
            AttentionCache {
                qkv_cache,
                qkv,
                probs,
                proj_cache,
                dims: (b, t, d),
            },
        ))
    }

    /// Accumulates parameter gradients and returns dx, `(b, t, d)`.
    pub fn backward(
        &mut self,
        be: &dyn Backend<F>,
        cache: &AttentionCache<F>,
        dy: &Tensor<F>,
    ) -> Result<Tensor<F>> {
        let (b, t, d) = cache.dims;
        let heads = self.heads;
        let dh = d / heads;
        let scale = F::from_f64(1.0 / (dh as f64).sqrt());
        let datt = self.proj.backward(be, &cache.proj_cache, dy)?;
        let qkv = &cache.qkv;
        let parts: Vec<Result<[Tensor<F>; 3]>> = (0..b * heads)
            .into_par_iter()
            .map(|bh| {
                let (bi, h) = (bh / heads, bh % heads);
                let q = gather_head(qkv, bi, t, d, dh, 0, h);
                let k = gather_head(qkv, bi, t, d, dh, 1, h);
                let v = gather_head(qkv, bi, t, d, dh, 2, h);
                let mut dout = Vec::with_capacity(t * dh);
                for i in 0..t {
                    dout.extend_from_slice(&datt.row(bi * t + i)[h * dh..(h + 1) * dh]);
                }
                let dout = Tensor::from_vec(&[t, dh], dout)?;
                let p = &cache.probs[bh];
                let dp = be.matmul(&dout, false, &v, true)?;
                let dv = be.matmul(p, true, &dout, false)?;
                let mut ds = be.softmax_rows_backward(p, &dp)?;
                ds.data_mut().iter_mut().for_each(|e| *e *= scale);
                let dq = be.matmul(&ds, false, &k, false)?;
                let dk = be.matmul(&ds, true, &q, false)?;
                Ok([dq, dk, dv])
            })
            .collect();
        let mut dqkv = Tensor::zeros(&[b, t, 3 * d]);
        for (bh, part) in parts.into_iter().enumerate() {
            let grads = part?;
            let (bi, h) = (bh / heads, bh % heads);
            for (pi, g) in grads.iter().enumerate() {
                for i in 0..t {
                    let base = (bi * t + i) * 3 * d + pi * d + h * dh;
                    dqkv.data_mut()[base..base + dh].copy_from_slice(g.row(i));
                }
            }
        }
        self.qkv.backward(be, &cache.qkv_cache, &dqkv)
    }
}

impl<F: Float> Module<F> for MultiHeadAttention<F> {
    fn visit_params(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<F>)) {
        self.qkv.visit_params(&format!("{prefix}qkv."), f);
        self.proj.visit_params(&format!("{prefix}proj."), f);
    }
}

/// Pre-norm transformer encoder block:
/// `h = x + MHSA(LN₁(x))`, `y = h + W₂·GELU(W₁·LN₂(h))`.
#[derive(Clone, Debug)]
pub struct TransformerBlock<F> {
    /// Norm before attention.
    pub ln1: LayerNorm<F>,
    /// Self-attention.
    pub attn: MultiHeadAttention<F>,
    /// Norm before the feed-forward network.
    pub ln2: LayerNorm<F>,
    /// Feed-forward expansion.
    pub fc1: Linear<F>,
    /// Feed-forward contraction.
    pub fc2: Linear<F>,
}

/// What [`TransformerBlock::backward`] needs.
#[derive(Clone, Debug)]
pub struct BlockCache<F> {
    ln1: LayerNormCache<F>,
    attn: AttentionCache<F>,
    ln2: LayerNormCache<F>,
    fc1: LinearCache<F>,
    act: ActivationCache<F>,
    fc2: LinearCache<F>,
}

impl<F: Float> TransformerBlock<F> {
    /// A block over `d` features, `heads` heads and a hidden width of `hidden`.
    pub fn new(d: usize, heads: usize, hidden: usize, rng: &mut Rng) -> Result<Self> {
        Ok(TransformerBlock {
            ln1: LayerNorm::new(d),
            attn: MultiHeadAttention::new(d, heads, rng)?,
            ln2: LayerNorm::new(d),
            fc1: Linear::new(d, hidden, true, rng),
            fc2: Linear::new(hidden, d, true, rng),
        })
    }

    /// Runs the block; returns `(b, t, d)`.
    pub fn forward(
        &self,
        be: &dyn Backend<F>,
        x: &SequenceBatch<F>,
    ) -> Result<(Tensor<F>, BlockCache<F>)> {
        let (n1, ln1) = self.ln1.forward(be, &x.data)?;
        let (a, attn) = self
            .attn
            .forward(be, &SequenceBatch::new(n1, x.lengths.clone())?)?;
        let mut h = x.data.clone();
        h.add_assign(&a)?;
        let (n2, ln2) = self.ln2.forward(be, &h)?;
        let (f1, fc1) = self.fc1.forward(be, &n2)?;
        let (g, act) = activation_forward(be, Activation::Gelu, F::ONE, &f1);
        let (f2, fc2) = self.fc2.forward(be, &g)?;
        h.add_assign(&f2)?;
        Ok((
            h,
            BlockCache {
                ln1,
                attn,
                ln2,
                fc1,
                act,
                fc2,
            },
        ))
    }

    /// Accumulates parameter gradients and returns dx.
    pub fn backward(
        &mut self,
        be: &dyn Backend<F>,
        cache: &BlockCache<F>,
        dy: &Tensor<F>,
    ) -> Result<Tensor<F>> {
        let dg = self.fc2.backward(be, &cache.fc2, dy)?;
        let df1 = activation_backward(be, &cache.act, &dg)?;
        let dn2 = self.fc1.backward(be, &cache.fc1, &df1)?;
        let mut dh = self.ln2.backward(be, &cache.ln2, &dn2)?;
        dh.add_assign(dy)?;
        let dn1 = self.attn.backward(be, &cache.attn, &dh)?;
        let mut dx = self.ln1.backward(be, &cache.ln1, &dn1)?;
        dx.add_assign(&dh)?;
        Ok(dx)
    }
}

impl<F: Float> Module<F> for TransformerBlock<F> {
    fn visit_params(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<F>)) {
        self.ln1.visit_params(&format!("{prefix}ln1."), f);
        self.attn.visit_params(&format!("{prefix}attn."), f);
        self.ln2.visit_params(&format!("{prefix}ln2."), f);
        self.fc1.visit_params(&format!("{prefix}fc1."), f);
        self.fc2.visit_params(&format!("{prefix}fc2."), f);
    }
}
