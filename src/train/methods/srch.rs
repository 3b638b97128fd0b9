//! SRCH, Semantic-Rebased Cross-modal Hashing (Wang et al., IJCAI 2020), Algorithm 1.
//!
//! Shared training codes `B ∈ {±1}^{n×l}`, one orthonormal-row projection `W_g` per
//! modality, a continuous embedding `Z` and a semantic graph `S` on the union of the two
//! modalities' mutual-kNN graphs minimise (Eq. 9)
//!
//! ```text
//! Σ_g ‖W_g X_g − B‖² + ‖X_g − W_gᵀB‖²                                  (auto-encoder, Eq. 3)
//!   + λ Σ_g Σ_{(i,j)∈E_g} C_g(i,j) S_ij² ‖z_i − z_j‖²                      (semantic, Eq. 4)
//!   + α Σ_g Σ_{(i,j)∈E_g} C_g(i,j) (S_ij − 1)²                             (sparsity, Eq. 7)
//!   + β ‖Z − B‖²                                     (Eq. 5, ½‖Z − B‖² once per modality)
//! ```
//!
//! by alternating the closed-form steps W (Procrustes, Eq. 11), Z (sparse linear system,
//! Eq. 14), S (the *Rebase*, Eq. 15) and B (Eq. 17) until the relative change of the
//! objective is below a tolerance. Out-of-sample codes are `sign(W_g x)` (Eq. 18).
//!
//! **Normalisation** (the paper only says "normalized features"). The W-step (Eq. 10)
//! drops `‖W_g X_g‖²` as a constant and the B-step drops `‖W_gᵀB‖²`; both are constants
//! only when `W_g` is square orthogonal (the paper's `W_gᵀW_g = I` taken literally) or the
//! features are whitened. So each modality is centred and projected on principal
//! directions fitted on the training items, in one of two ways:
//! - default (`whiten: false`): the `l` leading principal directions, keeping their
//!   relative variances, scaled so that the mean variance per direction is 1 (the scale of
//!   the ±1 codes). `W_g` is then an `l × l` rotation, as in ITQ.
//! - `whiten: true`: all directions with a variance above `1e-9` of the largest (at most
//!   [`SrchConfig::whiten_dims`]), whitened to `X_gᵀX_g = n·I`; `W_g` is `l × d'` with
//!   orthonormal rows.
//!
//! Either way the Procrustes solution is the exact minimiser and the objective can never
//! increase. On mfeat pix↔fou the whitened variant is far worse (mAP about 0.2–0.35
//! against 0.6 at 32 bits): equal weight on every whitened direction lets the low-variance
//! noise directions of a 240-d view drive the codes. The kNN graphs use the original
//! features (the paper's "geometric prior in the original feature space"), by squared
//! Euclidean distance.
//!
//! **Steps.** With whitening, `W_g` is `l × d'` and what Eq. 11 (`W = Q Uᵀ`) produces, and
//! what the B-step needs, is orthonormal rows, `W_g W_gᵀ = I`. The Z-step solves
//! `(βI + λH) Zᵀ = β Bᵀ` with `H = Σ_g H_g` (Eq. 13) by Jacobi-preconditioned conjugate
//! gradients warm-started at the previous `Z`, on the CSR Laplacian: no dense `n × n`
//! matrix is ever formed, and since CG only ever lowers the quadratic it minimises, a
//! capped number of iterations still never raises the objective. The S-step is exact per
//! edge (an edge in both graphs carries `C_V + C_T` on both of its terms, which cancels).
//! The B-step is exact once `BBᵀ = nI` is dropped, as the paper does.

mod graph;

pub use graph::{EdgeList, UnionGraph, knn, mutual_knn_graph};

use std::path::Path;

use faer::{Mat, MatRef};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::code::BinaryCodes;
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::train::data::{Modality, PairedDataset};
use crate::train::methods::Side;
use crate::train::model_file::{Block, ModelFile, save_model};
use crate::train::tensor::Tensor;

/// Hyper-parameters of SRCH. [`Default`] holds the paper's values (α 1e-4, β 1e-3, λ 10,
/// k 10).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SrchConfig {
    /// Code length `l`.
    pub bits: usize,
    /// Neighbours per node of the mutual-kNN graphs.
    pub k: usize,
    /// Weight α of the sparsity term (Eq. 7).
    pub alpha: f64,
    /// Weight β of `‖Z − B‖²` (Eq. 5).
    pub beta: f64,
    /// Weight λ of the semantic term (Eq. 4).
    pub lambda: f64,
    /// Cap on outer iterations.
    pub max_iter: usize,
    /// Stop when `|L_prev − L| / L_prev` falls below this.
    pub tol: f64,
    /// Cap on conjugate-gradient iterations per Z-step.
    pub cg_max_iter: usize,
    /// Relative residual at which CG stops.
    pub cg_tol: f64,
    /// At most this many whitened principal directions per modality (`None`: all).
    pub whiten_dims: Option<usize>,
    /// `false`: instead of whitening, keep exactly `bits` principal directions with their
    /// own variances (scaled to unit mean variance), so that `W_g` is square orthogonal.
    pub whiten: bool,
    /// Seed of the random initial codes.
    pub seed: u64,
}

impl Default for SrchConfig {
    fn default() -> Self {
        SrchConfig {
            bits: 64,
            k: 10,
            alpha: 1e-4,
            beta: 1e-3,
            lambda: 10.0,
            max_iter: 50,
            tol: 1e-5,
            cg_max_iter: 100,
            cg_tol: 1e-6,
            whiten_dims: None,
            whiten: false,
            seed: 0,
        }
    }
}

/// The terms of the objective (Eq. 9) at one point of the optimisation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Objective {
    /// `Σ_g ‖W_g X_g − B‖²`.
    pub quantization: f64,
    /// `Σ_g ‖X_g − W_gᵀB‖²`.
    pub reconstruction: f64,
    /// `λ Σ c S² ‖z_i − z_j‖²`.
    pub semantic: f64,
    /// `α Σ c (S − 1)²`.
    pub sparsity: f64,
    /// `β ‖Z − B‖²`.
    pub code: f64,
}

impl Objective {
    /// The whole objective.
    pub fn total(&self) -> f64 {
        self.quantization + self.reconstruction + self.semantic + self.sparsity + self.code
    }
}

/// One outer iteration.
#[derive(Clone, Debug, Serialize)]
pub struct IterLog {
    /// 0-based iteration.
    pub iter: usize,
    /// Objective after the W-, Z-, S- and B-steps of this iteration.
    pub after_step: [f64; 4],
    /// Terms of the objective at the end of the iteration.
    pub terms: Objective,
    /// Conjugate-gradient iterations of the Z-step.
    pub cg_iters: usize,
    /// Training code bits changed by the B-step.
    pub bits_changed: usize,
    /// Mean `S` over the union graph's edges after the rebase.
    pub mean_s: f64,
    /// Wall time of the iteration, seconds.
    pub seconds: f64,
}

/// Training record of [`Srch::fit`].
#[derive(Clone, Debug, Serialize)]
pub struct SrchLog {
    /// Per-iteration record.
    pub iters: Vec<IterLog>,
    /// Whether the tolerance was reached before the iteration cap.
    pub converged: bool,
    /// Edges of the mutual-kNN graphs of A and B, and of their union.
    pub edges: [usize; 3],
    /// Whitened dimensions kept per modality.
    pub dims: [usize; 2],
    /// Seconds spent building the graphs.
    pub graph_seconds: f64,
}

/// A fitted SRCH model: per modality a mean and a `(d, bits)` projection (whitening
/// followed by `W_gᵀ`), the code being the sign of the projected centred input.
#[derive(Clone, Debug)]
pub struct Srch {
    /// Configuration it was trained with.
    pub config: SrchConfig,
    means: [Vec<f64>; 2],
    projections: [Mat<f64>; 2],
}

/// Centring and PCA whitening of one modality, fitted on the training rows.
struct Whitening {
    mean: Vec<f64>,
    /// `(d, d')`: principal directions over the square roots of their variances.
    map: Mat<f64>,
}

fn whiten(x: &Tensor<f32>, cap: Option<usize>, whitened: bool) -> Result<(Whitening, Mat<f64>)> {
    let (n, d) = (x.rows(), x.cols());
    let mut mean = vec![0.0f64; d];
    for r in x.data().chunks_exact(d.max(1)) {
        for (m, v) in mean.iter_mut().zip(r) {
            *m += *v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let xc = Mat::from_fn(n, d, |i, j| x.data()[i * d + j] as f64 - mean[j]);
    let cov = xc.transpose() * &xc * faer::Scale(1.0 / n as f64);
    let eig = cov
        .self_adjoint_eigen(faer::Side::Lower)
        .map_err(|_| Error::NoConvergence {
            what: "SRCH whitening eigendecomposition",
        })?;
    let (u, s) = (eig.U(), eig.S().column_vector());
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| s[b].total_cmp(&s[a]));
    let top = order.first().map_or(0.0, |&i| s[i]);
    let kept: Vec<usize> = order
        .into_iter()
        .filter(|&i| top > 0.0 && s[i] > 1e-9 * top)
        .take(cap.unwrap_or(usize::MAX))
        .collect();
    let mean_var = kept.iter().map(|&i| s[i]).sum::<f64>() / kept.len().max(1) as f64;
    let scale = |i: usize| {
        if whitened {
            1.0 / s[i].sqrt()
        } else {
            1.0 / mean_var.sqrt()
        }
    };
    let map = Mat::from_fn(d, kept.len(), |i, j| u[(i, kept[j])] * scale(kept[j]));
    let xw = &xc * &map;
    Ok((Whitening { mean, map }, xw))
}

fn svd_error(_: faer::linalg::svd::SvdError) -> Error {
    Error::NoConvergence {
        what: "SRCH W-step SVD",
    }
}

/// W-step (Eq. 10–11): the `(d', l)` matrix `W_gᵀ` with orthonormal columns maximising
/// `tr(W_g X_g Bᵀ)`, i.e. `U Qᵀ` from the thin SVD `X_g Bᵀ = U Σ Qᵀ` (`x` is `(n, d')`
/// with items as rows, `b` is `(n, l)`).
pub fn w_step(x: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Result<Mat<f64>> {
    let m = x.transpose() * b;
    let svd = m.thin_svd().map_err(svd_error)?;
    Ok(svd.U() * svd.V().transpose())
}

/// Z-step (Eq. 14): solves `(βI + λH) z = β b` column by column (rows of `z` are items,
/// `l` columns) by Jacobi-preconditioned CG from the given `z`, with `H` the Laplacian of
/// the union graph's weights `c·S²`. Returns the CG iterations used.
#[allow(clippy::too_many_arguments)]
pub fn z_step(
    g: &UnionGraph,
    beta: f64,
    lambda: f64,
    b: &[f64],
    z: &mut [f64],
    l: usize,
    max_iter: usize,
    tol: f64,
) -> usize {
    let n = g.n;
    let w = g.laplacian_weights();
    let diag: Vec<f64> = g
        .weighted_degrees(&w)
        .into_iter()
        .map(|dg| beta + lambda * dg)
        .collect();
    let mut r = vec![0.0; n * l];
    g.apply(&w, beta, lambda, z, l, &mut r);
    r.par_iter_mut()
        .zip(b)
        .for_each(|(rv, bv)| *rv = beta * bv - *rv);
    let col_dot = |a: &[f64], c: &[f64]| -> Vec<f64> {
        a.par_chunks(l.max(1) * 256)
            .zip(c.par_chunks(l.max(1) * 256))
            .map(|(a, c)| {
                let mut s = vec![0.0; l];
                for (ra, rc) in a.chunks_exact(l).zip(c.chunks_exact(l)) {
                    for ((sv, x), y) in s.iter_mut().zip(ra).zip(rc) {
                        *sv += x * y;
                    }
                }
                s
            })
            .reduce(
                || vec![0.0; l],
                |mut s, t| {
                    s.iter_mut().zip(&t).for_each(|(a, b)| *a += b);
                    s
                },
            )
    };
    let precondition = |r: &[f64], y: &mut [f64]| {
        y.par_chunks_mut(l)
            .zip(r.par_chunks(l))
            .zip(&diag)
            .for_each(|((y, r), dg)| y.iter_mut().zip(r).for_each(|(a, b)| *a = b / dg));
    };
    let bnorm: Vec<f64> = col_dot(b, b).iter().map(|v| beta * v.sqrt()).collect();
    let mut y = vec![0.0; n * l];
    precondition(&r, &mut y);
    let mut p = y.clone();
    let mut rz = col_dot(&r, &y);
    let mut done: Vec<bool> = col_dot(&r, &r)
        .iter()
        .zip(&bnorm)
        .map(|(rr, bn)| rr.sqrt() <= tol * bn.max(f64::MIN_POSITIVE))
        .collect();
    let mut q = vec![0.0; n * l];
    let mut iters = 0;
    while iters < max_iter && done.iter().any(|d| !d) {
        iters += 1;
        g.apply(&w, beta, lambda, &p, l, &mut q);
        let pq = col_dot(&p, &q);
        let step: Vec<f64> = (0..l)
            .map(|c| {
                if done[c] || pq[c] <= 0.0 {
                    0.0
                } else {
                    rz[c] / pq[c]
                }
            })
            .collect();
        z.par_chunks_mut(l)
            .zip(r.par_chunks_mut(l))
            .zip(p.par_chunks(l).zip(q.par_chunks(l)))
            .for_each(|((zr, rr), (pr, qr))| {
                for c in 0..l {
                    zr[c] += step[c] * pr[c];
                    rr[c] -= step[c] * qr[c];
                }
            });
        let rr = col_dot(&r, &r);
        for c in 0..l {
            if rr[c].sqrt() <= tol * bnorm[c].max(f64::MIN_POSITIVE) || step[c] == 0.0 {
                done[c] = true;
            }
        }
        precondition(&r, &mut y);
        let rz_new = col_dot(&r, &y);
        let mom: Vec<f64> = (0..l)
            .map(|c| if rz[c] > 0.0 { rz_new[c] / rz[c] } else { 0.0 })
            .collect();
        p.par_chunks_mut(l)
            .zip(y.par_chunks(l))
            .for_each(|(pr, yr)| {
                for c in 0..l {
                    pr[c] = yr[c] + mom[c] * pr[c];
                }
            });
        rz = rz_new;
    }
    iters
}

/// Squared distance between rows `i` and `j` of a row-major `(n, l)` matrix.
fn row_dist2(z: &[f64], l: usize, i: usize, j: usize) -> f64 {
    z[i * l..(i + 1) * l]
        .iter()
        .zip(&z[j * l..(j + 1) * l])
        .map(|(a, b)| (a - b) * (a - b))
        .sum()
}

/// S-step, the graph *Rebase* (Eq. 15): `S_ij = α / (α + λ‖z_i − z_j‖²)` on every edge.
pub fn s_step(g: &mut UnionGraph, z: &[f64], l: usize, alpha: f64, lambda: f64) {
    let edges = &g.edges;
    g.s.par_iter_mut().zip(edges).for_each(|(s, &(i, j))| {
        *s = alpha / (alpha + lambda * row_dist2(z, l, i as usize, j as usize));
    });
}

/// B-step (Eq. 17): `B = sign(βZ + 2 Σ_g W_g X_g)` with `proj[g] = X_g W_gᵀ`; zero goes to
/// −1, as in [`BinaryCodes::from_signs`].
pub fn b_step(beta: f64, z: &[f64], proj: &[Mat<f64>; 2]) -> Vec<f64> {
    let l = proj[0].ncols();
    (0..z.len())
        .map(|e| {
            let (i, c) = (e / l, e % l);
            let v = beta * z[e] + 2.0 * (proj[0][(i, c)] + proj[1][(i, c)]);
            if v > 0.0 { 1.0 } else { -1.0 }
        })
        .collect()
}

/// The training state of Algorithm 1 (all matrices have items as rows).
struct State<'a> {
    cfg: &'a SrchConfig,
    /// Whitened features `(n, d'_g)`.
    x: [Mat<f64>; 2],
    /// `W_gᵀ`, `(d'_g, l)`.
    wt: [Mat<f64>; 2],
    /// `X_g W_gᵀ`, `(n, l)`.
    proj: [Mat<f64>; 2],
    /// Codes, row-major `(n, l)`, ±1.
    b: Vec<f64>,
    /// Embedding, row-major `(n, l)`.
    z: Vec<f64>,
    graph: UnionGraph,
}

impl State<'_> {
    fn l(&self) -> usize {
        self.cfg.bits
    }

    fn b_mat(&self) -> MatRef<'_, f64> {
        MatRef::from_row_major_slice(&self.b, self.graph.n, self.l())
    }

    fn objective(&self) -> Objective {
        let (n, l) = (self.graph.n, self.l());
        let b = self.b_mat();
        let mut o = Objective::default();
        for g in 0..2 {
            o.quantization += (&self.proj[g] - b).squared_norm_l2();
            o.reconstruction += (&self.x[g] - b * self.wt[g].transpose()).squared_norm_l2();
        }
        let w = &self.graph;
        let (sem, spa) = w
            .edges
            .par_iter()
            .zip(&w.c)
            .zip(&w.s)
            .map(|((&(i, j), c), s)| {
                let d2 = row_dist2(&self.z, l, i as usize, j as usize);
                (c * s * s * d2, c * (s - 1.0) * (s - 1.0))
            })
            .reduce(|| (0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
        o.semantic = self.cfg.lambda * sem;
        o.sparsity = self.cfg.alpha * spa;
        o.code = self.cfg.beta
            * self
                .z
                .iter()
                .zip(&self.b)
                .map(|(z, b)| (z - b) * (z - b))
                .sum::<f64>();
        debug_assert_eq!(self.b.len(), n * l);
        o
    }

    fn w_step(&mut self) -> Result<()> {
        for g in 0..2 {
            self.wt[g] = w_step(self.x[g].as_ref(), self.b_mat())?;
            self.proj[g] = &self.x[g] * &self.wt[g];
        }
        Ok(())
    }
}

fn check_config(c: &SrchConfig) -> Result<()> {
    crate::code::binary::words_for_bits(c.bits)?;
    let bad = |name: &'static str, reason: String| Err(Error::InvalidArgument { name, reason });
    for (name, v) in [("alpha", c.alpha), ("beta", c.beta), ("lambda", c.lambda)] {
        if !(v.is_finite() && v > 0.0) {
            return bad(name, format!("must be finite and positive, got {v}"));
        }
    }
    if c.k == 0 {
        return bad("k", "the kNN graphs need k ≥ 1".into());
    }
    if c.max_iter == 0 {
        return bad("max_iter", "need at least one iteration".into());
    }
    if !(c.tol.is_finite() && c.tol >= 0.0 && c.cg_tol.is_finite() && c.cg_tol >= 0.0) {
        return bad("tol", "tolerances must be finite and ≥ 0".into());
    }
    Ok(())
}

impl Srch {
    /// Fits on the `train` items of `ds` (both modalities need global vectors); `progress`
    /// sees every iteration.
    pub fn fit(
        ds: &PairedDataset,
        train: &[usize],
        config: SrchConfig,
        progress: &mut dyn FnMut(&IterLog),
    ) -> Result<(Self, SrchLog)> {
        check_config(&config)?;
        let xa: Tensor<f32> = ds.a.gather_global(train)?;
        let xb: Tensor<f32> = ds.b.gather_global(train)?;
        Self::fit_features(&xa, &xb, config, progress)
    }

    /// Fits on paired feature matrices `(n, d_a)` and `(n, d_b)` (row i of each is pair i).
    pub fn fit_features(
        xa: &Tensor<f32>,
        xb: &Tensor<f32>,
        config: SrchConfig,
        progress: &mut dyn FnMut(&IterLog),
    ) -> Result<(Self, SrchLog)> {
        check_config(&config)?;
        for x in [xa, xb] {
            if x.shape().len() != 2 {
                return Err(Error::DimensionMismatch {
                    what: "SRCH feature rank",
                    expected: 2,
                    found: x.shape().len(),
                });
            }
            x.check_finite("SRCH training features")?;
        }
        let n = xa.rows();
        if xb.rows() != n {
            return Err(Error::DimensionMismatch {
                what: "SRCH training pairs (rows of B vs A)",
                expected: n,
                found: xb.rows(),
            });
        }
        if n < 2 {
            return Err(Error::InvalidArgument {
                name: "train",
                reason: format!("SRCH needs at least 2 training pairs, got {n}"),
            });
        }
        let l = config.bits;
        let t_graph = std::time::Instant::now();
        let k = config.k.min(n - 1);
        let graphs: Vec<EdgeList> = [xa, xb]
            .iter()
            .map(|x| mutual_knn_graph(&knn(x.data(), n, x.cols(), k), n, k))
            .collect();
        let graph = UnionGraph::new(&[
            (&graphs[0], graphs[0].weights()),
            (&graphs[1], graphs[1].weights()),
        ]);
        let graph_seconds = t_graph.elapsed().as_secs_f64();
        let cap = if config.whiten {
            config.whiten_dims
        } else {
            Some(l)
        };
        let (wa, xwa) = whiten(xa, cap, config.whiten)?;
        let (wb, xwb) = whiten(xb, cap, config.whiten)?;
        let dims = [xwa.ncols(), xwb.ncols()];
        if l > dims[0].min(dims[1]) {
            return Err(Error::InvalidArgument {
                name: "bits",
                reason: format!(
                    "SRCH's orthonormal projections give at most {} bits here \
                     (whitened dimensions {dims:?}), {l} requested",
                    dims[0].min(dims[1])
                ),
            });
        }
        let mut rng = Rng::new(config.seed);
        let b: Vec<f64> = (0..n * l)
            .map(|_| if rng.next_u64() >> 63 == 1 { 1.0 } else { -1.0 })
            .collect();
        let mut st = State {
            cfg: &config,
            wt: [Mat::zeros(dims[0], l), Mat::zeros(dims[1], l)],
            proj: [Mat::zeros(n, l), Mat::zeros(n, l)],
            x: [xwa, xwb],
            z: b.clone(),
            b,
            graph,
        };
        let mut log = SrchLog {
            iters: Vec::new(),
            converged: false,
            edges: [
                graphs[0].edges.len(),
                graphs[1].edges.len(),
                st.graph.edges.len(),
            ],
            dims,
            graph_seconds,
        };
        let mut prev = f64::INFINITY;
        for iter in 0..config.max_iter {
            let t0 = std::time::Instant::now();
            st.w_step()?;
            let after_w = st.objective().total();
            let cg_iters = z_step(
                &st.graph,
                config.beta,
                config.lambda,
                &st.b,
                &mut st.z,
                l,
                config.cg_max_iter,
                config.cg_tol,
            );
            let after_z = st.objective().total();
            s_step(&mut st.graph, &st.z, l, config.alpha, config.lambda);
            let after_s = st.objective().total();
            let nb = b_step(config.beta, &st.z, &st.proj);
            let bits_changed = nb.iter().zip(&st.b).filter(|(a, b)| a != b).count();
            st.b = nb;
            let terms = st.objective();
            let total = terms.total();
            let entry = IterLog {
                iter,
                after_step: [after_w, after_z, after_s, total],
                terms,
                cg_iters,
                bits_changed,
                mean_s: st.graph.s.iter().sum::<f64>() / st.graph.s.len().max(1) as f64,
                seconds: t0.elapsed().as_secs_f64(),
            };
            progress(&entry);
            log.iters.push(entry);
            if prev.is_finite() && (prev - total).abs() <= config.tol * prev.abs() {
                log.converged = true;
                break;
            }
            prev = total;
        }
        // The final W for the final B (Algorithm 1 ends after a B-step; one more W-step
        // only lowers the objective and makes the hash functions fit the codes).
        st.w_step()?;
        let f32_round = |v: f64| v as f32 as f64;
        let fold = |w: &Whitening, wt: &Mat<f64>| {
            let p = &w.map * wt;
            Mat::from_fn(p.nrows(), p.ncols(), |i, j| f32_round(p[(i, j)]))
        };
        let projections = [fold(&wa, &st.wt[0]), fold(&wb, &st.wt[1])];
        let means = [
            wa.mean.iter().map(|&v| f32_round(v)).collect(),
            wb.mean.iter().map(|&v| f32_round(v)).collect(),
        ];
        Ok((
            Srch {
                config,
                means,
                projections,
            },
            log,
        ))
    }

    /// Code length.
    pub fn bits(&self) -> usize {
        self.config.bits
    }

    /// Real-valued projections `W_g x` of items `idx` of `m`, read as side `side`.
    pub fn project_modality(&self, m: &Modality, side: Side, idx: &[usize]) -> Result<Tensor<f32>> {
        let x: Tensor<f32> = m.gather_global(idx)?;
        self.project_features(&x, side)
    }

    /// Real-valued projections of a feature matrix `(n, d_side)`.
    pub fn project_features(&self, x: &Tensor<f32>, side: Side) -> Result<Tensor<f32>> {
        let s = side.index();
        let p = &self.projections[s];
        if x.shape().len() != 2 || x.cols() != p.nrows() {
            return Err(Error::DimensionMismatch {
                what: "SRCH input features",
                expected: p.nrows(),
                found: x.shape().last().copied().unwrap_or(0),
            });
        }
        x.check_finite("SRCH input features")?;
        let (n, d) = (x.rows(), x.cols());
        let xm = Mat::from_fn(n, d, |r, c| x.data()[r * d + c] as f64 - self.means[s][c]);
        let y = &xm * p;
        let l = self.config.bits;
        let data = (0..n * l).map(|e| y[(e / l, e % l)] as f32).collect();
        Tensor::from_vec(&[n, l], data)
    }

    /// Out-of-sample codes `sign(W_g x)` (Eq. 18) of items `idx` of `m`, read as side `side`.
    pub fn encode_modality(&self, m: &Modality, side: Side, idx: &[usize]) -> Result<BinaryCodes> {
        let y = self.project_modality(m, side, idx)?;
        BinaryCodes::from_signs(self.config.bits, y.data())
    }

    /// Saves means, projections and configuration as a model file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut blocks = Vec::new();
        for (s, tag) in ["a", "b"].iter().enumerate() {
            let p = &self.projections[s];
            let (d, l) = (p.nrows(), p.ncols());
            blocks.push((
                format!("{tag}.mean"),
                Block {
                    shape: vec![d],
                    data: self.means[s].iter().map(|v| *v as f32).collect(),
                },
            ));
            blocks.push((
                format!("{tag}.projection"),
                Block {
                    shape: vec![d, l],
                    data: (0..d * l).map(|e| p[(e / l, e % l)] as f32).collect(),
                },
            ));
        }
        let dims = [self.projections[0].nrows(), self.projections[1].nrows()];
        save_model(
            path,
            "srch",
            serde_json::json!({"config": self.config, "dims": dims}),
            &blocks,
        )
    }

    /// Builds the model from a model file written by [`Srch::save`].
    pub fn from_file(path: &Path, file: &mut ModelFile) -> Result<Self> {
        let bad = |reason: String| Error::Format {
            path: path.into(),
            reason,
        };
        if file.method != "srch" {
            return Err(bad(format!("model is `{}`, not srch", file.method)));
        }
        let config: SrchConfig = serde_json::from_value(file.config["config"].clone())
            .map_err(|e| bad(format!("srch config: {e}")))?;
        crate::code::binary::words_for_bits(config.bits)?;
        let dims: [usize; 2] = serde_json::from_value(file.config["dims"].clone())
            .map_err(|e| bad(format!("srch dims: {e}")))?;
        let l = config.bits;
        let mut take = |tag: &str, d: usize| -> Result<(Vec<f64>, Mat<f64>)> {
            let m = file.take(path, &format!("{tag}.mean"), &[d])?;
            let p = file.take(path, &format!("{tag}.projection"), &[d, l])?;
            Ok((
                m.into_iter().map(f64::from).collect(),
                Mat::from_fn(d, l, |i, j| p[i * l + j] as f64),
            ))
        };
        let (ma, pa) = take("a", dims[0])?;
        let (mb, pb) = take("b", dims[1])?;
        Ok(Srch {
            config,
            means: [ma, mb],
            projections: [pa, pb],
        })
    }
}

#[cfg(test)]
mod tests;
