//! `crosscode train`, `crosscode encode` and `crosscode eval`.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crosscode::code::BinaryCodes;
use crosscode::error::{Error, Result};
use crosscode::eval::{
    LabelReport, Labels, PairReport, evaluate_labels, evaluate_pairs, pr_curve_svg,
};
use crosscode::train::data::{Modality, PairedDataset, Sequences, Split, load_labels, read_npy};
use crosscode::train::methods::{
    CcaHash, CcaItq, CcaItqConfig, Cvh, CvhConfig, HashingMethod, HuggingHash, HuggingHashConfig,
    Lsh, LshConfig, Side, Srch, SrchConfig, SrchLog, TrainLog, load_any,
};

/// Methods `train` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
pub enum Method {
    /// HuggingHash (contrastive hash heads + GhostVLAD fine alignment).
    Hugginghash,
    /// sign(CCA) baseline.
    Cca,
    /// CCA followed by iterative quantisation (ITQ rotation of the CCA space).
    CcaItq,
    /// Cross-view hashing (Kumar & Udupa 2011).
    Cvh,
    /// Gaussian random hyperplanes (LSH) on the CCA space.
    Lsh,
    /// SRCH (Set-and-Rebase graph, closed-form alternating optimisation).
    Srch,
}

/// Hyper-parameters of `--method srch` (defaults: the paper's).
#[derive(Args, Debug, Clone)]
pub struct SrchArgs {
    /// SRCH α, weight of the graph-sparsity term.
    #[arg(long = "srch-alpha", default_value_t = SrchConfig::default().alpha)]
    pub srch_alpha: f64,
    /// SRCH β, weight of ‖Z − B‖².
    #[arg(long = "srch-beta", default_value_t = SrchConfig::default().beta)]
    pub srch_beta: f64,
    /// SRCH λ, weight of the graph-smoothness term.
    #[arg(long = "srch-lambda", default_value_t = SrchConfig::default().lambda)]
    pub srch_lambda: f64,
    /// SRCH k of the mutual-kNN graphs.
    #[arg(long = "srch-k", default_value_t = SrchConfig::default().k)]
    pub srch_k: usize,
    /// SRCH cap on outer iterations.
    #[arg(long = "srch-iters", default_value_t = SrchConfig::default().max_iter)]
    pub srch_iters: usize,
    /// SRCH cap on whitened dimensions per modality with --srch-whiten (default: all).
    #[arg(long = "srch-whiten-dims")]
    pub srch_whiten_dims: Option<usize>,
    /// SRCH: whiten all principal directions instead of keeping the `bits` leading ones.
    #[arg(long = "srch-whiten")]
    pub srch_whiten: bool,
}

/// Inputs of one modality.
#[derive(Args, Debug, Clone)]
pub struct ModalityArgs {
    /// Global vectors, f32 `(n, d)` .npy.
    #[arg(long)]
    pub global: Option<PathBuf>,
    /// Dense sequences, f32 `(n, T, d)` .npy.
    #[arg(long)]
    pub seq: Option<PathBuf>,
    /// Token ids `(n, T)` int32 .npy (with --table and --lengths).
    #[arg(long)]
    pub tokens: Option<PathBuf>,
    /// Embedding table `(V+1, d)` f32 .npy, row 0 padding.
    #[arg(long)]
    pub table: Option<PathBuf>,
    /// Sequence lengths `(n,)` int32/int64 .npy.
    #[arg(long)]
    pub lengths: Option<PathBuf>,
}

fn load_modality(name: &str, a: &ModalityArgs) -> Result<Modality> {
    let global = a.global.as_deref().map(Modality::load_global).transpose()?;
    let sequence: Option<Sequences> = match (&a.seq, &a.tokens, &a.table, &a.lengths) {
        (Some(s), None, None, l) => Some(Modality::load_dense_sequences(s, l.as_deref())?),
        (None, Some(t), Some(tab), Some(l)) => Some(Modality::load_token_sequences(t, tab, l)?),
        (None, None, None, None) => None,
        _ => {
            return Err(Error::InvalidArgument {
                name: "sequence",
                reason: format!(
                    "modality {name}: give --seq [--lengths], or --tokens with --table and --lengths"
                ),
            });
        }
    };
    Modality::new(name, global, sequence)
}

/// Arguments of `crosscode train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Method to train.
    #[arg(long, value_enum, default_value = "hugginghash")]
    pub method: Method,
    /// Global vectors of modality A.
    #[arg(long = "a-global")]
    pub a_global: Option<PathBuf>,
    /// Token ids of modality A.
    #[arg(long = "a-tokens")]
    pub a_tokens: Option<PathBuf>,
    /// Embedding table of modality A.
    #[arg(long = "a-table")]
    pub a_table: Option<PathBuf>,
    /// Sequence lengths of modality A.
    #[arg(long = "a-lengths")]
    pub a_lengths: Option<PathBuf>,
    /// Dense sequences of modality A.
    #[arg(long = "a-seq")]
    pub a_seq: Option<PathBuf>,
    /// Global vectors of modality B.
    #[arg(long = "b-global")]
    pub b_global: Option<PathBuf>,
    /// Token ids of modality B.
    #[arg(long = "b-tokens")]
    pub b_tokens: Option<PathBuf>,
    /// Embedding table of modality B.
    #[arg(long = "b-table")]
    pub b_table: Option<PathBuf>,
    /// Sequence lengths of modality B.
    #[arg(long = "b-lengths")]
    pub b_lengths: Option<PathBuf>,
    /// Dense sequences of modality B.
    #[arg(long = "b-seq")]
    pub b_seq: Option<PathBuf>,
    /// Multi-hot labels `(n, c)` u8 .npy (evaluation only).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// A split saved earlier (JSON); otherwise one is drawn and saved beside the model.
    #[arg(long)]
    pub split: Option<PathBuf>,
    /// Queries held out when drawing a split.
    #[arg(long, default_value_t = 500)]
    pub queries: usize,
    /// Training items when drawing a split (default: the whole database).
    #[arg(long)]
    pub train_items: Option<usize>,
    /// Paired protocol: the held-out queries are also the database (R@K).
    #[arg(long)]
    pub paired: bool,
    /// Code length.
    #[arg(long, default_value_t = 64)]
    pub bits: usize,
    /// Training epochs (HuggingHash).
    #[arg(long, default_value_t = 50)]
    pub epochs: usize,
    /// Mini-batch size (HuggingHash).
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Peak learning rate (HuggingHash).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Weight λ of fine alignment (HuggingHash; 0 turns it off).
    #[arg(long, default_value_t = 0.2)]
    pub lambda: f32,
    /// Token-encoder width (HuggingHash).
    #[arg(long, default_value_t = 512)]
    pub hidden: usize,
    /// ITQ iterations (cca-itq).
    #[arg(long, default_value_t = 50)]
    pub itq_iterations: usize,
    /// SRCH settings.
    #[command(flatten)]
    pub srch: SrchArgs,
    /// CCA ridge, relative to the mean variance (cca, cca-itq, cvh, lsh).
    #[arg(long, default_value_t = 1e-3)]
    pub reg: f64,
    /// Seed for the split and the model.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to write the model.
    #[arg(long)]
    pub model: PathBuf,
    /// Evaluate on the split and write this JSON report.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Also draw the PR curves (label protocol) to this SVG.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// K of mAP@K / P@K.
    #[arg(long, default_value_t = 100)]
    pub k: usize,
}

/// Report of `crosscode train --report`.
#[derive(Debug, Serialize)]
pub struct TrainReport {
    /// Method trained.
    pub method: Method,
    /// Code length.
    pub bits: usize,
    /// The split's seed and sizes.
    pub split: (u64, usize, usize, usize),
    /// HuggingHash training log.
    pub training: Option<TrainLog>,
    /// SRCH training log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub srch_training: Option<SrchLog>,
    /// Wall time of fitting, seconds.
    pub fit_seconds: f64,
    /// A→B with labels.
    pub a_to_b: Option<LabelReport>,
    /// B→A with labels.
    pub b_to_a: Option<LabelReport>,
    /// A→B paired.
    pub a_to_b_pairs: Option<PairReport>,
    /// B→A paired.
    pub b_to_a_pairs: Option<PairReport>,
}

fn write_json(path: &Path, v: &impl Serialize) -> Result<()> {
    let s = serde_json::to_string_pretty(v).map_err(|e| Error::Format {
        path: path.into(),
        reason: e.to_string(),
    })?;
    std::fs::write(path, s + "\n").map_err(|e| Error::io(path, e))
}

/// Runs `crosscode train`.
pub fn train(a: TrainArgs) -> Result<()> {
    let ma = load_modality(
        "A",
        &ModalityArgs {
            global: a.a_global.clone(),
            seq: a.a_seq.clone(),
            tokens: a.a_tokens.clone(),
            table: a.a_table.clone(),
            lengths: a.a_lengths.clone(),
        },
    )?;
    let mb = load_modality(
        "B",
        &ModalityArgs {
            global: a.b_global.clone(),
            seq: a.b_seq.clone(),
            tokens: a.b_tokens.clone(),
            table: a.b_table.clone(),
            lengths: a.b_lengths.clone(),
        },
    )?;
    let labels = a.labels.as_deref().map(load_labels).transpose()?;
    let ds = PairedDataset::new(ma, mb, labels)?;
    let split = match &a.split {
        Some(p) => Split::load(p, ds.len())?,
        None => {
            let s = if a.paired {
                Split::held_out(ds.len(), a.queries, a.train_items, a.seed)?
            } else {
                Split::random(ds.len(), a.queries, a.train_items, a.seed)?
            };
            s.save(&a.model.with_extension("split.json"))?;
            s
        }
    };
    let t0 = std::time::Instant::now();
    let mut srch_log = None;
    let (model, log) = match a.method {
        Method::Hugginghash => {
            let cfg = HuggingHashConfig {
                bits: a.bits,
                epochs: a.epochs,
                batch_size: a.batch_size,
                lr: a.lr,
                lambda: a.lambda,
                hidden: a.hidden,
                seed: a.seed,
                ..HuggingHashConfig::default()
            };
            let bar = ProgressBar::new(a.epochs as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} epochs {msg} [{elapsed_precise}]",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let (m, log) = HuggingHash::fit(&ds, &split.train, cfg, &mut |e| {
                bar.set_message(format!(
                    "loss {:.4} (GA {:.4} FA {:.4} Q {:.4})",
                    e.loss, e.global, e.fine, e.quant
                ));
                bar.inc(1);
            })?;
            bar.finish();
            for n in &log.notes {
                eprintln!("note: {n}");
            }
            m.save(&a.model)?;
            (Box::new(m) as Box<dyn HashingMethod>, Some(log))
        }
        Method::Cca => {
            let c = CcaHash::fit(&ds, &split.train, a.bits, a.reg)?;
            c.save(&a.model)?;
            (Box::new(c) as Box<dyn HashingMethod>, None)
        }
        Method::CcaItq => {
            let cfg = CcaItqConfig {
                bits: a.bits,
                reg: a.reg,
                iterations: a.itq_iterations,
                seed: a.seed,
            };
            let m = CcaItq::fit(&ds, &split.train, cfg)?;
            m.save(&a.model)?;
            (Box::new(m) as Box<dyn HashingMethod>, None)
        }
        Method::Cvh => {
            let m = Cvh::fit(
                &ds,
                &split.train,
                CvhConfig {
                    bits: a.bits,
                    reg: a.reg,
                },
            )?;
            m.save(&a.model)?;
            (Box::new(m) as Box<dyn HashingMethod>, None)
        }
        Method::Lsh => {
            let cfg = LshConfig {
                bits: a.bits,
                reg: a.reg,
                cca_dims: None,
                seed: a.seed,
            };
            let m = Lsh::fit(&ds, &split.train, cfg)?;
            m.save(&a.model)?;
            (Box::new(m) as Box<dyn HashingMethod>, None)
        }
        Method::Srch => {
            let (m, log) = train_srch(&ds, &split.train, &a)?;
            m.save(&a.model)?;
            srch_log = Some(log);
            (Box::new(m) as Box<dyn HashingMethod>, None)
        }
    };
    let fit_seconds = t0.elapsed().as_secs_f64();
    eprintln!(
        "trained {:?} in {fit_seconds:.1}s, model written to {}",
        a.method,
        a.model.display()
    );
    let Some(report_path) = &a.report else {
        return Ok(());
    };
    let qa = model.encode_modality(&ds.a, Side::A, &split.query)?;
    let qb = model.encode_modality(&ds.b, Side::B, &split.query)?;
    let da = model.encode_modality(&ds.a, Side::A, &split.database)?;
    let db = model.encode_modality(&ds.b, Side::B, &split.database)?;
    let mut report = TrainReport {
        method: a.method,
        bits: a.bits,
        split: (
            split.seed,
            split.train.len(),
            split.query.len(),
            split.database.len(),
        ),
        training: log,
        srch_training: srch_log,
        fit_seconds,
        a_to_b: None,
        b_to_a: None,
        a_to_b_pairs: None,
        b_to_a_pairs: None,
    };
    if let Some(l) = &ds.labels {
        let (ql, dl) = (l.select(&split.query)?, l.select(&split.database)?);
        report.a_to_b = Some(evaluate_labels(qa.view(), db.view(), &ql, &dl, a.k)?);
        report.b_to_a = Some(evaluate_labels(qb.view(), da.view(), &ql, &dl, a.k)?);
    }
    if split.query == split.database {
        let truth: Vec<usize> = (0..split.query.len()).collect();
        report.a_to_b_pairs = Some(evaluate_pairs(qa.view(), db.view(), &truth)?);
        report.b_to_a_pairs = Some(evaluate_pairs(qb.view(), da.view(), &truth)?);
    }
    if let (Some(svg), Some(ab), Some(ba)) = (&a.svg, &report.a_to_b, &report.b_to_a) {
        let doc = pr_curve_svg(
            &format!("{:?} {} bits", a.method, a.bits),
            &[
                ("A→B".into(), ab.pr_curve.clone()),
                ("B→A".into(), ba.pr_curve.clone()),
            ],
        );
        std::fs::write(svg, doc).map_err(|e| Error::io(svg, e))?;
    }
    write_json(report_path, &report)?;
    let fmt = |r: &Option<LabelReport>| {
        r.as_ref()
            .map(|r| format!("{:.4}", r.map_all))
            .unwrap_or("-".into())
    };
    let fmtp = |r: &Option<PairReport>| {
        r.as_ref()
            .map(|r| {
                format!(
                    "R@1 {:.4} R@10 {:.4} MdR {}",
                    r.r_at_1, r.r_at_10, r.median_rank
                )
            })
            .unwrap_or("-".into())
    };
    println!(
        "{:?} {} bits: mAP A→B {} B→A {} | A→B {} | B→A {}",
        a.method,
        a.bits,
        fmt(&report.a_to_b),
        fmt(&report.b_to_a),
        fmtp(&report.a_to_b_pairs),
        fmtp(&report.b_to_a_pairs)
    );
    Ok(())
}

fn train_srch(ds: &PairedDataset, train: &[usize], a: &TrainArgs) -> Result<(Srch, SrchLog)> {
    let s = &a.srch;
    let cfg = SrchConfig {
        bits: a.bits,
        k: s.srch_k,
        alpha: s.srch_alpha,
        beta: s.srch_beta,
        lambda: s.srch_lambda,
        max_iter: s.srch_iters,
        whiten_dims: s.srch_whiten_dims,
        whiten: s.srch_whiten,
        seed: a.seed,
        ..SrchConfig::default()
    };
    let bar = ProgressBar::new(cfg.max_iter as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} iterations {msg} [{elapsed_precise}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (m, log) = Srch::fit(ds, train, cfg, &mut |it| {
        bar.set_message(format!(
            "objective {:.6e}, {} bits changed, CG {}",
            it.after_step[3], it.bits_changed, it.cg_iters
        ));
        bar.inc(1);
    })?;
    bar.finish();
    eprintln!(
        "SRCH: {} iterations ({}), graph edges A {} B {} union {} built in {:.1}s",
        log.iters.len(),
        if log.converged {
            "converged"
        } else {
            "iteration cap"
        },
        log.edges[0],
        log.edges[1],
        log.edges[2],
        log.graph_seconds
    );
    Ok((m, log))
}

/// Arguments of `crosscode encode`.
#[derive(Args, Debug)]
pub struct EncodeArgs {
    /// Model file written by `train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Which modality of the model the features belong to.
    #[arg(long, value_parser = ["a", "b"])]
    pub side: String,
    /// The features.
    #[command(flatten)]
    pub input: ModalityArgs,
    /// Output `.npy` (u8, n × bits/8, FAISS bit order).
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `crosscode encode`.
pub fn encode(a: EncodeArgs) -> Result<()> {
    let m = load_modality(&a.side, &a.input)?;
    let side = if a.side == "a" { Side::A } else { Side::B };
    let model = load_any(&a.model)?;
    let idx: Vec<usize> = (0..m.len()).collect();
    let bar = ProgressBar::new(idx.len() as u64);
    let mut codes: Option<BinaryCodes> = None;
    for chunk in idx.chunks(8192) {
        let c = model.encode_modality(&m, side, chunk)?;
        match &mut codes {
            None => codes = Some(c),
            Some(all) => all.extend_from(c.view())?,
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish();
    let codes = codes.ok_or(Error::InvalidArgument {
        name: "input",
        reason: "no items to encode".into(),
    })?;
    crosscode::io::npy::write_npy::<u8>(
        &a.out,
        &[codes.len(), codes.bits() / 8],
        &codes.to_packed(),
    )?;
    eprintln!(
        "{} codes of {} bits written to {}",
        codes.len(),
        codes.bits(),
        a.out.display()
    );
    Ok(())
}

/// Arguments of `crosscode eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Query codes (u8 .npy, n × bits/8).
    #[arg(long)]
    pub queries: PathBuf,
    /// Database codes.
    #[arg(long)]
    pub database: PathBuf,
    /// Query labels (u8 multi-hot .npy); with --database-labels: mAP, P@K, PR.
    #[arg(long)]
    pub query_labels: Option<PathBuf>,
    /// Database labels.
    #[arg(long)]
    pub database_labels: Option<PathBuf>,
    /// Paired protocol: query i matches database row i (R@K, ranks).
    #[arg(long)]
    pub paired: bool,
    /// K of mAP@K / P@K.
    #[arg(long, default_value_t = 100)]
    pub k: usize,
    /// JSON report.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// PR-curve SVG (label protocol).
    #[arg(long)]
    pub svg: Option<PathBuf>,
}

fn load_codes(path: &Path) -> Result<BinaryCodes> {
    let a = read_npy::<u8>(path)?;
    if a.shape.len() != 2 {
        return Err(Error::Format {
            path: path.into(),
            reason: format!("codes must be 2-d, found shape {:?}", a.shape),
        });
    }
    BinaryCodes::from_packed(a.shape[1] * 8, &a.data)
}

/// Runs `crosscode eval`.
pub fn eval(a: EvalArgs) -> Result<()> {
    let q = load_codes(&a.queries)?;
    let d = load_codes(&a.database)?;
    let mut out = serde_json::Map::new();
    if let (Some(ql), Some(dl)) = (&a.query_labels, &a.database_labels) {
        let (ql, dl): (Labels, Labels) = (load_labels(ql)?, load_labels(dl)?);
        let r = evaluate_labels(q.view(), d.view(), &ql, &dl, a.k)?;
        println!(
            "mAP@all {:.4}  mAP@{} {:.4}  P@{} {:.4}  P(r≤2) {:.4}",
            r.map_all, a.k, r.map_at_k, a.k, r.precision_at_k, r.precision_radius2
        );
        if let Some(svg) = &a.svg {
            std::fs::write(
                svg,
                pr_curve_svg(
                    "PR over Hamming radii",
                    &[("queries".into(), r.pr_curve.clone())],
                ),
            )
            .map_err(|e| Error::io(svg, e))?;
        }
        out.insert(
            "labels".into(),
            serde_json::to_value(&r).unwrap_or_default(),
        );
    }
    if a.paired {
        let truth: Vec<usize> = (0..q.len()).collect();
        let r = evaluate_pairs(q.view(), d.view(), &truth)?;
        println!(
            "R@1 {:.4}  R@5 {:.4}  R@10 {:.4}  MdR {}  MnR {:.1}",
            r.r_at_1, r.r_at_5, r.r_at_10, r.median_rank, r.mean_rank
        );
        out.insert("pairs".into(), serde_json::to_value(&r).unwrap_or_default());
    }
    if out.is_empty() {
        return Err(Error::InvalidArgument {
            name: "protocol",
            reason: "give --query-labels with --database-labels, or --paired".into(),
        });
    }
    if let Some(p) = &a.report {
        write_json(p, &out)?;
    }
    Ok(())
}
