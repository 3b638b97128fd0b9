//! HuggingHash: contrastive hashing from global (\[CLS\]) vectors, with GhostVLAD
//! fine-grained alignment over content tokens as an auxiliary task.
//!
//! Per modality, a trainable token encoder `e(x) = GELU(W_e·x + b_e)` stands in for the
//! paper's transformer: it is applied to the \[CLS\] input (the global vector) and to every
//! content token, so the fine alignment shapes the features the hash head reads — the
//! role the shared transformer plays in the paper. (With frozen, pre-extracted features
//! and no shared trainable layer, L_FA could not influence the codes at all.) The hash
//! head is `h = tanh(a·f(e(cls)))` with a linear `f`, the code `b = sgn(h)` with the
//! straight-through gradient; content tokens go through `z = y(e(tok))` into one
//! GhostVLAD shared by both modalities (N_c real clusters, one ghost, D-dimensional).
//!
//! Loss: `L_GA + λ·L_FA + γ·R_quant` with
//! * `L_GA` symmetric InfoNCE over `cos(b_i^a, b_j^b)/τ` (paper eq. 7);
//! * `L_FA` the mean over real clusters of the symmetric InfoNCE over the cluster-wise
//!   residual cosines (eq. 12);
//! * `R_quant = ½(mean((sgn(h^a) − h^a)²) + mean((sgn(h^b) − h^b)²))` (eq. 14), the sign
//!   held constant — with the straight-through form `b − h` literally has zero gradient,
//!   so the regulariser is read as pulling `h` towards its sign, as its purpose requires.
//!
//! Inputs are standardised with training statistics (global vectors and tokens
//! separately). When a modality lacks sequences, L_FA is switched off and the training log
//! says so. Paper defaults: λ = 0.2, γ = 1, a = 0.5, τ = 0.2, N_c = 7, D = 128.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{Side, Standardizer};
use crate::code::BinaryCodes;
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::train::backend::{Activation, Backend, CpuBackend};
use crate::train::data::{Modality, PairedDataset, minibatches};
use crate::train::layers::{GhostVlad, Linear, activation_backward, activation_forward};
use crate::train::loss::{info_nce, quantization_loss, sign_ste, sign_ste_backward};
use crate::train::model_file::{Block, ModelFile, load_model, save_model};
use crate::train::optim::{Adam, LrSchedule, Schedule};
use crate::train::tensor::{Module, Param, Tensor};

/// Hyper-parameters (defaults: the paper's where it gives them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HuggingHashConfig {
    /// Code length in bits.
    pub bits: usize,
    /// Width of the token encoder.
    pub hidden: usize,
    /// Dimension D of the fine-alignment latent space (paper: 128).
    pub latent: usize,
    /// Real GhostVLAD clusters N_c (paper: 7).
    pub clusters: usize,
    /// Ghost clusters (paper: 1, the centroid c_0).
    pub ghosts: usize,
    /// tanh scale a (paper: 0.5).
    pub a: f32,
    /// InfoNCE temperature τ (paper: 0.2).
    pub tau: f32,
    /// Weight λ of L_FA (paper: 0.2); 0 disables fine alignment.
    pub lambda: f32,
    /// Weight γ of R_quant (paper: 1).
    pub gamma: f32,
    /// Passes over the training items.
    pub epochs: usize,
    /// Pairs per mini-batch.
    pub batch_size: usize,
    /// Peak Adam learning rate (cosine decay after a one-epoch warm-up).
    pub lr: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// Seed of every random choice.
    pub seed: u64,
}

impl Default for HuggingHashConfig {
    fn default() -> Self {
        HuggingHashConfig {
            bits: 64,
            hidden: 512,
            latent: 128,
            clusters: 7,
            ghosts: 1,
            a: 0.5,
            tau: 0.2,
            lambda: 0.2,
            gamma: 1.0,
            epochs: 50,
            batch_size: 256,
            lr: 1e-3,
            weight_decay: 1e-4,
            seed: 0,
        }
    }
}

/// Loss components of one epoch (means over its batches).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    /// 0-based epoch.
    pub epoch: usize,
    /// Total loss.
    pub loss: f64,
    /// Global alignment L_GA.
    pub global: f64,
    /// Fine alignment L_FA (0 when off).
    pub fine: f64,
    /// Quantisation R_quant.
    pub quant: f64,
    /// Wall time of the epoch.
    pub seconds: f64,
}

/// What training did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainLog {
    /// Per-epoch losses.
    pub epochs: Vec<EpochLog>,
    /// Training pairs processed per second (forward + backward + update).
    pub pairs_per_second: f64,
    /// Whether L_FA was active.
    pub fine_alignment: bool,
    /// Messages for the user (for example why L_FA is off).
    pub notes: Vec<String>,
}

#[derive(Clone, Debug)]
struct Branch {
    global_norm: Standardizer,
    token_norm: Option<Standardizer>,
    encoder: Linear<f32>,
    head: Linear<f32>,
    token_proj: Option<Linear<f32>>,
}

impl Module<f32> for Branch {
    fn visit_params(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<f32>)) {
        self.encoder.visit_params(&format!("{prefix}encoder."), f);
        self.head.visit_params(&format!("{prefix}head."), f);
        if let Some(p) = &mut self.token_proj {
            p.visit_params(&format!("{prefix}token_proj."), f);
        }
    }
}

/// A HuggingHash model.
#[derive(Clone, Debug)]
pub struct HuggingHash {
    /// Its hyper-parameters.
    pub config: HuggingHashConfig,
    branches: [Branch; 2],
    vlad: Option<GhostVlad<f32>>,
}

impl Module<f32> for HuggingHash {
    fn visit_params(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<f32>)) {
        self.branches[0].visit_params(&format!("{prefix}a."), f);
        self.branches[1].visit_params(&format!("{prefix}b."), f);
        if let Some(v) = &mut self.vlad {
            v.visit_params(&format!("{prefix}vlad."), f);
        }
    }
}

fn modality(ds: &PairedDataset, side: Side) -> &Modality {
    if side == Side::A { &ds.a } else { &ds.b }
}

/// Per-branch forward state of one batch.
struct GlobalPass {
    enc: crate::train::layers::LinearCache<f32>,
    act: crate::train::layers::ActivationCache<f32>,
    head: crate::train::layers::LinearCache<f32>,
    tanh: crate::train::layers::ActivationCache<f32>,
    h: Tensor<f32>,
}

impl HuggingHash {
    fn check_config(c: &HuggingHashConfig) -> Result<()> {
        crate::code::binary::words_for_bits(c.bits)?;
        let bad = |name: &'static str, reason: String| Err(Error::InvalidArgument { name, reason });
        if c.hidden == 0 || c.latent == 0 || c.clusters == 0 {
            return bad(
                "config",
                "hidden, latent and clusters must be positive".into(),
            );
        }
        if c.a <= 0.0 || c.tau <= 0.0 || c.lambda < 0.0 || c.gamma < 0.0 {
            return bad(
                "config",
                format!(
                    "need a > 0, τ > 0, λ ≥ 0, γ ≥ 0; got a={} τ={} λ={} γ={}",
                    c.a, c.tau, c.lambda, c.gamma
                ),
            );
        }
        if c.batch_size < 2 || c.epochs == 0 {
            return bad("config", "batch_size ≥ 2 and epochs ≥ 1 required".into());
        }
        Ok(())
    }

    /// Fits a model on the `train` items of `ds`. `progress` is called after every epoch.
    pub fn fit(
        ds: &PairedDataset,
        train: &[usize],
        config: HuggingHashConfig,
        progress: &mut dyn FnMut(&EpochLog),
    ) -> Result<(Self, TrainLog)> {
        Self::check_config(&config)?;
        if train.len() < 2 {
            return Err(Error::InvalidArgument {
                name: "train",
                reason: format!("need at least 2 training pairs, got {}", train.len()),
            });
        }
        let mut log = TrainLog::default();
        let has_seq = ds.a.sequence.is_some() && ds.b.sequence.is_some();
        let fine = config.lambda > 0.0 && has_seq;
        if config.lambda > 0.0 && !has_seq {
            log.notes.push("L_FA off: fine alignment needs token sequences for both modalities, only global vectors were given".into());
        }
        if config.lambda == 0.0 {
            log.notes.push("L_FA off: λ = 0".into());
        }
        log.fine_alignment = fine;
        let mut rng = Rng::new(config.seed);
        let mut branches = Vec::with_capacity(2);
        for side in [Side::A, Side::B] {
            let m = modality(ds, side);
            let g: Tensor<f32> = m.gather_global(train)?;
            let d = g.cols();
            let global_norm = Standardizer::fit(&g)?;
            let (token_norm, token_proj) = if fine {
                let seq = m.sequence.as_ref().ok_or_else(|| Error::InvalidArgument {
                    name: "sequence",
                    reason: format!("modality `{}` has no sequences", m.name),
                })?;
                if seq.dim() != d {
                    return Err(Error::DimensionMismatch {
                        what: "token features (the token encoder is shared with the global vector)",
                        expected: d,
                        found: seq.dim(),
                    });
                }
                let sample: Vec<usize> = train.iter().copied().take(4096).collect();
                let (toks, _) = seq.packed::<f32>(&sample)?;
                if toks.rows() == 0 {
                    return Err(Error::InvalidArgument {
                        name: "sequence",
                        reason: format!(
                            "modality `{}` has no tokens in its training items",
                            m.name
                        ),
                    });
                }
                (
                    Some(Standardizer::fit(&toks)?),
                    Some(Linear::new(config.hidden, config.latent, true, &mut rng)),
                )
            } else {
                (None, None)
            };
            branches.push(Branch {
                global_norm,
                token_norm,
                encoder: Linear::new(d, config.hidden, true, &mut rng),
                head: Linear::new(config.hidden, config.bits, true, &mut rng),
                token_proj,
            });
        }
        let vlad = if fine {
            Some(GhostVlad::new(
                config.latent,
                config.clusters,
                config.ghosts,
                &mut rng,
            )?)
        } else {
            None
        };
        let b1 = branches.pop().ok_or(Error::InvalidArgument {
            name: "branches",
            reason: "internal".into(),
        })?;
        let b0 = branches.pop().ok_or(Error::InvalidArgument {
            name: "branches",
            reason: "internal".into(),
        })?;
        let mut model = HuggingHash {
            config: config.clone(),
            branches: [b0, b1],
            vlad,
        };
        let be = CpuBackend::default();
        let batch = config.batch_size.min(train.len());
        let steps_per_epoch = train.len() / batch;
        let sched = LrSchedule {
            base: config.lr,
            warmup: steps_per_epoch.min(100),
            kind: Schedule::Cosine {
                total: steps_per_epoch * config.epochs,
                min_factor: 0.01,
            },
        };
        let mut adam = Adam::new(config.weight_decay);
        let mut step = 0;
        let start = Instant::now();
        let mut pairs = 0usize;
        for epoch in 0..config.epochs {
            let t0 = Instant::now();
            let mut sums = [0f64; 4];
            let batches = minibatches(train, batch, &mut rng, true);
            for idx in &batches {
                let parts = model.train_step(&be, ds, idx)?;
                for (s, p) in sums.iter_mut().zip(parts) {
                    *s += p;
                }
                adam.step(&mut model, sched.at(step));
                step += 1;
                pairs += idx.len();
            }
            let nb = batches.len().max(1) as f64;
            let e = EpochLog {
                epoch,
                loss: sums[0] / nb,
                global: sums[1] / nb,
                fine: sums[2] / nb,
                quant: sums[3] / nb,
                seconds: t0.elapsed().as_secs_f64(),
            };
            if !e.loss.is_finite() {
                return Err(Error::NonFinite {
                    what: "training loss",
                    row: epoch,
                    col: 0,
                    value: e.loss as f32,
                });
            }
            progress(&e);
            log.epochs.push(e);
        }
        log.pairs_per_second = pairs as f64 / start.elapsed().as_secs_f64().max(1e-9);
        Ok((model, log))
    }

    fn global_forward(
        &self,
        be: &dyn Backend<f32>,
        side: usize,
        x: &Tensor<f32>,
    ) -> Result<GlobalPass> {
        let br = &self.branches[side];
        let (e, enc) = br.encoder.forward(be, x)?;
        let (g, act) = activation_forward(be, Activation::Gelu, 1.0, &e);
        let (p, head) = br.head.forward(be, &g)?;
        let (h, tanh) = activation_forward(be, Activation::Tanh, self.config.a, &p);
        Ok(GlobalPass {
            enc,
            act,
            head,
            tanh,
            h,
        })
    }

    /// One forward + backward on the batch `idx`; gradients accumulate in the parameters.
    /// Returns (total, L_GA, L_FA, R_quant).
    pub fn train_step(
        &mut self,
        be: &dyn Backend<f32>,
        ds: &PairedDataset,
        idx: &[usize],
    ) -> Result<[f64; 4]> {
        let c = self.config.clone();
        let mut passes = Vec::with_capacity(2);
        for side in [Side::A, Side::B] {
            let mut x: Tensor<f32> = modality(ds, side).gather_global(idx)?;
            self.branches[side.index()].global_norm.apply(&mut x)?;
            passes.push(self.global_forward(be, side.index(), &x)?);
        }
        let (ba, bb) = (sign_ste(&passes[0].h), sign_ste(&passes[1].h));
        let ga = info_nce(be, &ba, &bb, c.tau)?;
        let mut dh = [sign_ste_backward(&ga.du), sign_ste_backward(&ga.dv)];
        let mut quant = 0.0;
        for (s, d) in dh.iter_mut().enumerate() {
            let (q, dq) = quantization_loss(&passes[s].h)?;
            quant += 0.5 * q as f64;
            for (g, v) in d.data_mut().iter_mut().zip(dq.data()) {
                *g += 0.5 * c.gamma * v;
            }
        }
        // Fine alignment through the shared token encoder.
        let mut fine = 0.0;
        if self.vlad.is_some() {
            fine = self.fine_step(be, ds, idx)?;
        }
        for (s, d) in dh.iter().enumerate() {
            let pass = &passes[s];
            let br = &mut self.branches[s];
            let dp = activation_backward(be, &pass.tanh, d)?;
            let dg = br.head.backward(be, &pass.head, &dp)?;
            let de = activation_backward(be, &pass.act, &dg)?;
            br.encoder.backward(be, &pass.enc, &de)?;
        }
        let global = ga.loss as f64;
        Ok([
            global + c.lambda as f64 * fine + c.gamma as f64 * quant,
            global,
            fine,
            quant,
        ])
    }

    fn fine_step(
        &mut self,
        be: &dyn Backend<f32>,
        ds: &PairedDataset,
        idx: &[usize],
    ) -> Result<f64> {
        let c = self.config.clone();
        let (k, d) = (c.clusters, c.latent);
        let b = idx.len();
        let mut outs = Vec::with_capacity(2);
        for side in [Side::A, Side::B] {
            let s = side.index();
            let seq =
                modality(ds, side)
                    .sequence
                    .as_ref()
                    .ok_or_else(|| Error::InvalidArgument {
                        name: "sequence",
                        reason: "fine alignment needs sequences".into(),
                    })?;
            let (mut toks, offsets) = seq.packed::<f32>(idx)?;
            let br = &self.branches[s];
            if let Some(n) = &br.token_norm {
                n.apply(&mut toks)?;
            }
            let (e, enc) = br.encoder.forward(be, &toks)?;
            let (g, act) = activation_forward(be, Activation::Gelu, 1.0, &e);
            let proj = br
                .token_proj
                .as_ref()
                .ok_or_else(|| Error::InvalidArgument {
                    name: "token_proj",
                    reason: "model has no token projection".into(),
                })?;
            let (z, pc) = proj.forward(be, &g)?;
            let vlad = self.vlad.as_mut().ok_or_else(|| Error::InvalidArgument {
                name: "vlad",
                reason: "model has no GhostVLAD".into(),
            })?;
            if z.rows() < 2 {
                return Err(Error::InvalidArgument {
                    name: "batch",
                    reason: "fine alignment needs at least 2 content tokens per batch".into(),
                });
            }
            let (r, vc) = vlad.forward(be, &z, &offsets, true)?;
            outs.push((enc, act, pc, vc, r));
        }
        // Cluster-wise symmetric InfoNCE, averaged over the real clusters.
        let mut dr = [Tensor::zeros(&[b, k, d]), Tensor::zeros(&[b, k, d])];
        let mut loss = 0.0;
        let scale = 1.0 / k as f32;
        for n in 0..k {
            let slice = |r: &Tensor<f32>| {
                let mut v = Vec::with_capacity(b * d);
                for i in 0..b {
                    v.extend_from_slice(&r.data()[(i * k + n) * d..(i * k + n + 1) * d]);
                }
                Tensor::from_vec(&[b, d], v)
            };
            let l = info_nce(be, &slice(&outs[0].4)?, &slice(&outs[1].4)?, c.tau)?;
            loss += l.loss as f64 / k as f64;
            for (dst, g) in dr.iter_mut().zip([&l.du, &l.dv]) {
                for i in 0..b {
                    for j in 0..d {
                        dst.data_mut()[(i * k + n) * d + j] +=
                            c.lambda * scale * g.data()[i * d + j];
                    }
                }
            }
        }
        for (s, (enc, act, pc, vc, _)) in outs.iter().enumerate() {
            let vlad = self.vlad.as_mut().ok_or_else(|| Error::InvalidArgument {
                name: "vlad",
                reason: "model has no GhostVLAD".into(),
            })?;
            let dz = vlad.backward(be, vc, &dr[s])?;
            let br = &mut self.branches[s];
            let proj = br
                .token_proj
                .as_mut()
                .ok_or_else(|| Error::InvalidArgument {
                    name: "token_proj",
                    reason: "model has no token projection".into(),
                })?;
            let dg = proj.backward(be, pc, &dz)?;
            let de = activation_backward(be, act, &dg)?;
            br.encoder.backward(be, enc, &de)?;
        }
        Ok(loss)
    }

    /// Real-valued hash outputs `f(e(cls))` of items `idx` of one modality (sign = code).
    pub fn project(&self, ds: &PairedDataset, side: Side, idx: &[usize]) -> Result<Tensor<f32>> {
        self.project_modality(modality(ds, side), side, idx)
    }

    /// [`HuggingHash::project`] on a lone modality, read as side `side` of the model.
    pub fn project_modality(&self, m: &Modality, side: Side, idx: &[usize]) -> Result<Tensor<f32>> {
        let be = CpuBackend::default();
        let mut out = Vec::with_capacity(idx.len() * self.config.bits);
        for chunk in idx.chunks(4096) {
            let mut x: Tensor<f32> = m.gather_global(chunk)?;
            self.branches[side.index()].global_norm.apply(&mut x)?;
            let pass = self.global_forward(&be, side.index(), &x)?;
            out.extend_from_slice(pass.h.data());
        }
        Tensor::from_vec(&[idx.len(), self.config.bits], out)
    }

    /// Binary codes of items `idx` of one modality.
    pub fn encode(&self, ds: &PairedDataset, side: Side, idx: &[usize]) -> Result<BinaryCodes> {
        self.encode_modality(modality(ds, side), side, idx)
    }

    /// [`HuggingHash::encode`] on a lone modality, read as side `side` of the model.
    pub fn encode_modality(&self, m: &Modality, side: Side, idx: &[usize]) -> Result<BinaryCodes> {
        let h = self.project_modality(m, side, idx)?;
        h.check_finite("hash outputs")?;
        BinaryCodes::from_signs(self.config.bits, h.data())
    }

    fn blocks(&mut self) -> Vec<(String, Block)> {
        let mut out = Vec::new();
        self.visit_params("", &mut |name, p| {
            out.push((
                name.to_string(),
                Block {
                    shape: p.value.shape().to_vec(),
                    data: p.value.data().to_vec(),
                },
            ))
        });
        for (s, br) in self.branches.iter().enumerate() {
            let tag = ["a", "b"][s];
            let mut push = |name: String, v: &[f32]| {
                out.push((
                    name,
                    Block {
                        shape: vec![v.len()],
                        data: v.to_vec(),
                    },
                ))
            };
            push(format!("{tag}.global_mean"), &br.global_norm.mean);
            push(format!("{tag}.global_std"), &br.global_norm.std);
            if let Some(t) = &br.token_norm {
                push(format!("{tag}.token_mean"), &t.mean);
                push(format!("{tag}.token_std"), &t.std);
            }
        }
        if let Some(v) = &self.vlad {
            out.push((
                "vlad.bn.running_mean".into(),
                Block {
                    shape: vec![v.bn.running_mean.len()],
                    data: v.bn.running_mean.clone(),
                },
            ));
            out.push((
                "vlad.bn.running_var".into(),
                Block {
                    shape: vec![v.bn.running_var.len()],
                    data: v.bn.running_var.clone(),
                },
            ));
        }
        out
    }

    /// Saves the model (configuration, input dimensions and every parameter).
    pub fn save(&self, path: &Path) -> Result<()> {
        let dims: Vec<(usize, bool)> = self
            .branches
            .iter()
            .map(|b| (b.encoder.inputs(), b.token_proj.is_some()))
            .collect();
        let config = serde_json::json!({ "config": self.config, "dims": dims });
        save_model(path, "hugginghash", config, &self.clone().blocks())
    }

    /// Loads a model saved by [`HuggingHash::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let mut file = load_model(path)?;
        Self::from_file(path, &mut file)
    }

    /// Builds the model from an already-read model file.
    pub fn from_file(path: &Path, file: &mut ModelFile) -> Result<Self> {
        let bad = |reason: String| Error::Format {
            path: path.into(),
            reason,
        };
        if file.method != "hugginghash" {
            return Err(bad(format!("model is `{}`, not hugginghash", file.method)));
        }
        let config: HuggingHashConfig = serde_json::from_value(file.config["config"].clone())
            .map_err(|e| bad(e.to_string()))?;
        let dims: Vec<(usize, bool)> =
            serde_json::from_value(file.config["dims"].clone()).map_err(|e| bad(e.to_string()))?;
        if dims.len() != 2 {
            return Err(bad("expected two branches".into()));
        }
        Self::check_config(&config).map_err(|e| bad(e.to_string()))?;
        let mut rng = Rng::new(0);
        let mut branches = Vec::new();
        for (s, &(d, fine)) in dims.iter().enumerate() {
            let tag = ["a", "b"][s];
            let mut take =
                |name: &str, len: usize| file.take(path, &format!("{tag}.{name}"), &[len]);
            let global_norm = Standardizer {
                mean: take("global_mean", d)?,
                std: take("global_std", d)?,
            };
            let token_norm = if fine {
                Some(Standardizer {
                    mean: take("token_mean", d)?,
                    std: take("token_std", d)?,
                })
            } else {
                None
            };
            branches.push(Branch {
                global_norm,
                token_norm,
                encoder: Linear::new(d, config.hidden, true, &mut rng),
                head: Linear::new(config.hidden, config.bits, true, &mut rng),
                token_proj: fine.then(|| Linear::new(config.hidden, config.latent, true, &mut rng)),
            });
        }
        let fine = dims.iter().all(|d| d.1);
        let mut vlad = if fine {
            Some(GhostVlad::new(
                config.latent,
                config.clusters,
                config.ghosts,
                &mut rng,
            )?)
        } else {
            None
        };
        if let Some(v) = &mut vlad {
            let kg = config.clusters + config.ghosts;
            v.bn.running_mean = file.take(path, "vlad.bn.running_mean", &[kg])?;
            v.bn.running_var = file.take(path, "vlad.bn.running_var", &[kg])?;
        }
        let b1 = branches.pop().ok_or_else(|| bad("missing branch".into()))?;
        let b0 = branches.pop().ok_or_else(|| bad("missing branch".into()))?;
        let mut model = HuggingHash {
            config,
            branches: [b0, b1],
            vlad,
        };
        let mut err = None;
        model.visit_params("", &mut |name, p| {
            if err.is_some() {
                return;
            }
            match file.take(path, name, p.value.shape()) {
                Ok(data) => p.value.data_mut().copy_from_slice(&data),
                Err(e) => err = Some(e),
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
        Ok(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{Labels, evaluate_labels};
    use crate::train::data::Sequences;

    /// Two modalities from 4 classes: class prototype through a per-modality random map,
    /// plus noise; sequences are noisy copies of the global vector.
    fn toy(n: usize, seq: bool, seed: u64) -> (PairedDataset, Vec<usize>) {
        let mut rng = Rng::new(seed);
        let protos = Tensor::<f32>::randn(&[4, 6], 1.0, &mut rng);
        let classes: Vec<usize> = (0..n).map(|_| rng.below(4)).collect();
        let make = |d: usize, rng: &mut Rng| {
            let w = Tensor::<f32>::randn(&[6, d], 1.0, rng);
            let mut x = vec![0f32; n * d];
            for i in 0..n {
                for j in 0..d {
                    x[i * d + j] = (0..6)
                        .map(|k| protos.data()[classes[i] * 6 + k] * w.data()[k * d + j])
                        .sum::<f32>()
                        + 0.8 * rng.normal();
                }
            }
            let g = Tensor::from_vec(&[n, d], x.clone()).unwrap();
            let s = seq.then(|| {
                let t = 3;
                let mut data = vec![0f32; n * t * d];
                for i in 0..n {
                    for k in 0..t {
                        for j in 0..d {
                            data[(i * t + k) * d + j] = x[i * d + j] + 0.5 * rng.normal();
                        }
                    }
                }
                let lengths = (0..n).map(|i| 1 + i % 3).collect();
                Sequences::dense(Tensor::from_vec(&[n, t, d], data).unwrap(), lengths).unwrap()
            });
            Modality::new("m", Some(g), s).unwrap()
        };
        let a = make(10, &mut rng);
        let b = make(7, &mut rng);
        let labels = Labels::from_classes(4, &classes).unwrap();
        (PairedDataset::new(a, b, Some(labels)).unwrap(), classes)
    }

    fn small_config(bits: usize) -> HuggingHashConfig {
        HuggingHashConfig {
            bits,
            hidden: 32,
            latent: 16,
            clusters: 3,
            epochs: 15,
            batch_size: 32,
            lr: 3e-3,
            ..Default::default()
        }
    }

    #[test]
    fn learns_cross_modal_codes_and_round_trips_through_a_file() {
        let (ds, _) = toy(400, true, 1);
        let train: Vec<usize> = (0..300).collect();
        let query: Vec<usize> = (300..400).collect();
        let (model, log) = HuggingHash::fit(&ds, &train, small_config(16), &mut |_| {}).unwrap();
        assert!(log.fine_alignment && log.notes.is_empty());
        assert!(
            log.epochs.last().unwrap().loss < log.epochs[0].loss,
            "{:?}",
            log.epochs
        );
        assert!(log.epochs.iter().all(|e| e.fine > 0.0));
        let labels = ds.labels.as_ref().unwrap();
        let qa = model.encode(&ds, Side::A, &query).unwrap();
        let db = model.encode(&ds, Side::B, &train).unwrap();
        let r = evaluate_labels(
            qa.view(),
            db.view(),
            &labels.select(&query).unwrap(),
            &labels.select(&train).unwrap(),
            50,
        )
        .unwrap();
        // Chance mAP with 4 balanced classes is about 0.25.
        assert!(r.map_all > 0.6, "mAP {}", r.map_all);
        // Same seed, same model.
        let (again, _) = HuggingHash::fit(&ds, &train, small_config(16), &mut |_| {}).unwrap();
        assert_eq!(
            again.encode(&ds, Side::A, &query).unwrap().as_words(),
            qa.as_words()
        );
        let dir = std::env::temp_dir().join(format!("crosscode-hh-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("model.cc");
        model.save(&p).unwrap();
        let loaded = HuggingHash::load(&p).unwrap();
        assert_eq!(loaded.config, model.config);
        // A model file of another method is refused by name.
        crate::train::model_file::save_model(&dir.join("x.cc"), "cca", serde_json::json!({}), &[])
            .unwrap();
        let e = HuggingHash::load(&dir.join("x.cc")).unwrap_err();
        assert!(e.to_string().contains("not hugginghash"), "{e}");
        assert_eq!(
            loaded.encode(&ds, Side::A, &query).unwrap().as_words(),
            qa.as_words()
        );
        assert_eq!(
            loaded.project(&ds, Side::B, &query).unwrap(),
            model.project(&ds, Side::B, &query).unwrap()
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn global_only_turns_fine_alignment_off_and_says_so() {
        let (ds, _) = toy(120, false, 2);
        let train: Vec<usize> = (0..120).collect();
        let mut cfg = small_config(8);
        cfg.epochs = 2;
        let (_, log) = HuggingHash::fit(&ds, &train, cfg.clone(), &mut |_| {}).unwrap();
        assert!(!log.fine_alignment);
        assert!(log.notes[0].contains("L_FA off"), "{:?}", log.notes);
        assert!(log.epochs.iter().all(|e| e.fine == 0.0));
        cfg.bits = 12;
        assert!(matches!(
            HuggingHash::fit(&ds, &train, cfg.clone(), &mut |_| {}),
            Err(Error::InvalidBits { .. })
        ));
        cfg.bits = 8;
        cfg.tau = 0.0;
        assert!(HuggingHash::fit(&ds, &train, cfg, &mut |_| {}).is_err());
    }
}
