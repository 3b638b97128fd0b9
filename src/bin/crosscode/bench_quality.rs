//! `crosscode bench-quality`: retrieval quality of every method side by side.
//!
//! Trains each method named by [`fit_by_name`](crosscode::train::methods::fit_by_name) at each code length on two data sets laid
//! out like `../shared/data` and scores the held-out items with [`crosscode::eval`]:
//! * `mfeat/` (`pix.npy` ↔ `fou.npy`, `labels.npy`): a seeded random split into queries
//!   and database, training on the whole database; mAP@all in both directions with
//!   label-sharing relevance.
//! * `bible/` (`en.npy` ↔ `es.npy`, `book_labels.npy`; with `--bible-tokens` also the
//!   token files `{en,es}_{token_ids,term_vectors,lengths}.npy`, which HuggingHash uses for
//!   fine alignment): a seeded held-out set of pairs that serves as queries and database;
//!   R@1 and R@10 of the pair retrieval and mAP@all by book label, both directions.
//!
//! Fine alignment over the verse tokens multiplies HuggingHash's epoch cost about 17×
//! (measured on 29k pairs, 2 busy cores: about 170 s per epoch with tokens, 10 s
//! without), so by default the
//! grid trains it on the global vectors only, for `--hugginghash-epochs` epochs, and the
//! report says so.
//!
//! Writes `QUALITY.md` (the tables, with the command, the split seeds and sizes and the
//! training time per fit), `results.json` (every report) and one PR-curve SVG per data
//! set, code length and direction with one curve per method.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crosscode::error::{Error, Result};
use crosscode::eval::{LabelReport, PairReport, evaluate_labels, evaluate_pairs, pr_curve_svg};
use crosscode::train::data::{Modality, PairedDataset, Split, load_labels};
use crosscode::train::methods::{FitOptions, METHOD_NAMES, Side, fit_by_name_with};

/// Examples shown by `--help`.
pub const EXAMPLES: &str = "Examples:
  crosscode bench-quality --out quality
  crosscode bench-quality --methods cca,cca-itq --bits 32 --datasets mfeat --out q";

/// Arguments of `crosscode bench-quality`.
#[derive(Args, Debug, Clone)]
pub struct BenchQualityArgs {
    /// Folder holding `mfeat/` and `bible/` (file names as in ../shared/data).
    #[arg(long, default_value = "../shared/data")]
    pub data: PathBuf,
    /// Where to write QUALITY.md, results.json and the SVGs (created if missing).
    #[arg(long, default_value = "bench-quality")]
    pub out: PathBuf,
    /// Methods, comma separated (default: all of cca, cca-itq, cvh, lsh, srch,
    /// hugginghash).
    #[arg(long, value_delimiter = ',')]
    pub methods: Option<Vec<String>>,
    /// Code lengths, comma separated.
    #[arg(long, value_delimiter = ',', default_values_t = [16usize, 32, 64])]
    pub bits: Vec<usize>,
    /// Data sets, comma separated (mfeat, bible).
    #[arg(long, value_delimiter = ',', default_values_t = ["mfeat".to_string(), "bible".to_string()])]
    pub datasets: Vec<String>,
    /// Bible training pairs (default: all pairs that are not held out).
    #[arg(long)]
    pub bible_train: Option<usize>,
    /// Bible pairs held out as queries and database.
    #[arg(long, default_value_t = 2000)]
    pub bible_held_out: usize,
    /// mfeat items held out as queries (the rest is database and training set).
    #[arg(long, default_value_t = 200)]
    pub mfeat_queries: usize,
    /// HuggingHash epochs (its own default, 50, is too slow for this grid on a laptop).
    #[arg(long, default_value_t = 10)]
    pub hugginghash_epochs: usize,
    /// Load the bible token sequences, so that HuggingHash trains with fine alignment
    /// (about 17× slower per epoch).
    #[arg(long)]
    pub bible_tokens: bool,
    /// Seed of the splits and of every model.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// The protocol of one data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
enum Protocol {
    /// Queries against a disjoint database, label-sharing relevance.
    Labels,
    /// Held-out pairs as queries and database: pair retrieval and labels.
    PairsAndLabels,
}

struct Bench {
    name: &'static str,
    views: [&'static str; 2],
    ds: PairedDataset,
    split: Split,
    protocol: Protocol,
}

/// One (data set, method, bits) result.
#[derive(Debug, Serialize)]
struct Cell {
    dataset: &'static str,
    method: String,
    bits: usize,
    fit_seconds: f64,
    a_to_b: Option<LabelReport>,
    b_to_a: Option<LabelReport>,
    a_to_b_pairs: Option<PairReport>,
    b_to_a_pairs: Option<PairReport>,
    error: Option<String>,
}

#[derive(Serialize)]
struct SplitInfo {
    dataset: &'static str,
    seed: u64,
    train: usize,
    queries: usize,
    database: usize,
}

fn global(dir: &Path, name: &'static str, file: &str) -> Result<Modality> {
    Modality::new(name, Some(Modality::load_global(&dir.join(file))?), None)
}

fn load_mfeat(data: &Path, a: &BenchQualityArgs) -> Result<Bench> {
    let d = data.join("mfeat");
    let ds = PairedDataset::new(
        global(&d, "pix", "pix.npy")?,
        global(&d, "fou", "fou.npy")?,
        Some(load_labels(&d.join("labels.npy"))?),
    )?;
    let split = Split::random(ds.len(), a.mfeat_queries, None, a.seed)?;
    Ok(Bench {
        name: "mfeat",
        views: ["pix", "fou"],
        ds,
        split,
        protocol: Protocol::Labels,
    })
}

fn load_bible(data: &Path, a: &BenchQualityArgs) -> Result<Bench> {
    let d = data.join("bible");
    let view = |lang: &'static str| -> Result<Modality> {
        let g = Modality::load_global(&d.join(format!("{lang}.npy")))?;
        let files =
            ["token_ids", "term_vectors", "lengths"].map(|f| d.join(format!("{lang}_{f}.npy")));
        let seq = if a.bible_tokens {
            Some(Modality::load_token_sequences(
                &files[0], &files[1], &files[2],
            )?)
        } else {
            None
        };
        Modality::new(lang, Some(g), seq)
    };
    let ds = PairedDataset::new(
        view("en")?,
        view("es")?,
        Some(load_labels(&d.join("book_labels.npy"))?),
    )?;
    let split = Split::held_out(ds.len(), a.bible_held_out, a.bible_train, a.seed)?;
    Ok(Bench {
        name: "bible",
        views: ["en", "es"],
        ds,
        split,
        protocol: Protocol::PairsAndLabels,
    })
}

fn run_cell(b: &Bench, method: &str, bits: usize, a: &BenchQualityArgs) -> Result<Cell> {
    let options = FitOptions {
        epochs: Some(a.hugginghash_epochs),
    };
    let t0 = Instant::now();
    let model = fit_by_name_with(method, &b.ds, &b.split.train, bits, a.seed, &options)?;
    let fit_seconds = t0.elapsed().as_secs_f64();
    let (ds, s) = (&b.ds, &b.split);
    let qa = model.encode_modality(&ds.a, Side::A, &s.query)?;
    let qb = model.encode_modality(&ds.b, Side::B, &s.query)?;
    let (da, db) = if s.database == s.query {
        (qa.clone(), qb.clone())
    } else {
        (
            model.encode_modality(&ds.a, Side::A, &s.database)?,
            model.encode_modality(&ds.b, Side::B, &s.database)?,
        )
    };
    let mut cell = Cell {
        dataset: b.name,
        method: method.to_string(),
        bits,
        fit_seconds,
        a_to_b: None,
        b_to_a: None,
        a_to_b_pairs: None,
        b_to_a_pairs: None,
        error: None,
    };
    if let Some(l) = &ds.labels {
        let (ql, dl) = (l.select(&s.query)?, l.select(&s.database)?);
        cell.a_to_b = Some(evaluate_labels(qa.view(), db.view(), &ql, &dl, 100)?);
        cell.b_to_a = Some(evaluate_labels(qb.view(), da.view(), &ql, &dl, 100)?);
    }
    if b.protocol == Protocol::PairsAndLabels {
        let truth: Vec<usize> = (0..s.query.len()).collect();
        cell.a_to_b_pairs = Some(evaluate_pairs(qa.view(), db.view(), &truth)?);
        cell.b_to_a_pairs = Some(evaluate_pairs(qb.view(), da.view(), &truth)?);
    }
    Ok(cell)
}

fn command_line(a: &BenchQualityArgs, methods: &[String]) -> String {
    let join = |v: Vec<String>| v.join(",");
    let mut s = format!(
        "crosscode bench-quality --data {} --out {} --datasets {} --methods {} --bits {} \
         --mfeat-queries {} --bible-held-out {} --hugginghash-epochs {} --seed {}",
        a.data.display(),
        a.out.display(),
        a.datasets.join(","),
        methods.join(","),
        join(a.bits.iter().map(|b| b.to_string()).collect()),
        a.mfeat_queries,
        a.bible_held_out,
        a.hugginghash_epochs,
        a.seed
    );
    if let Some(t) = a.bible_train {
        s += &format!(" --bible-train {t}");
    }
    if a.bible_tokens {
        s += " --bible-tokens";
    }
    s
}

fn map(r: &Option<LabelReport>) -> String {
    r.as_ref()
        .map(|r| format!("{:.4}", r.map_all))
        .unwrap_or_else(|| "–".into())
}

fn recall(r: &Option<PairReport>, k: usize) -> String {
    r.as_ref()
        .map(|r| format!("{:.4}", if k == 1 { r.r_at_1 } else { r.r_at_10 }))
        .unwrap_or_else(|| "–".into())
}

fn markdown(
    benches: &[Bench],
    cells: &[Cell],
    command: &str,
    total: f64,
    a: &BenchQualityArgs,
) -> String {
    let mut s = String::from("# Retrieval quality of the hashing methods\n\n");
    s += &format!("Command: `{command}`\n\n");
    s += &format!(
        "Total wall time {total:.1} s ({} rayon threads). Training time is the wall time of \
         one fit (training set only; encoding and scoring excluded).\n\n",
        rayon::current_num_threads()
    );
    s += &format!(
        "Defaults of every method (`fit_by_name`), except HuggingHash: {} epochs{}.\n\n",
        a.hugginghash_epochs,
        if a.bible_tokens {
            ", with fine alignment over the bible verse tokens"
        } else {
            ", global vectors only (no fine alignment: mfeat has no sequences, and on bible \
             the tokens were not loaded, see `--bible-tokens`)"
        }
    );
    s += "Splits (seeded; `Split::random` for mfeat, `Split::held_out` for bible):\n\n";
    for b in benches {
        s += &format!(
            "- {}: seed {}, {} training items, {} queries, {} database items ({} ↔ {}, {} items in all)\n",
            b.name,
            b.split.seed,
            b.split.train.len(),
            b.split.query.len(),
            b.split.database.len(),
            b.views[0],
            b.views[1],
            b.ds.len()
        );
    }
    for b in benches {
        let [x, y] = b.views;
        s += &format!("\n## {}\n\n", b.name);
        match b.protocol {
            Protocol::Labels => {
                s += "mAP@all with label-sharing relevance, queries against the database.\n\n";
                s += &format!("| method | bits | mAP {x}→{y} | mAP {y}→{x} | train s |\n");
                s += "|---|---:|---:|---:|---:|\n";
            }
            Protocol::PairsAndLabels => {
                s += "Held-out pairs are both queries and database: R@K finds the query's own \
                      translation; mAP@all counts verses of the same book as relevant.\n\n";
                s += &format!(
                    "| method | bits | R@1 {x}→{y} | R@10 {x}→{y} | R@1 {y}→{x} | R@10 {y}→{x} \
                     | mAP {x}→{y} | mAP {y}→{x} | train s |\n"
                );
                s += "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
            }
        }
        for c in cells.iter().filter(|c| c.dataset == b.name) {
            if let Some(e) = &c.error {
                s += &format!(
                    "| {} | {} | failed: {} |\n",
                    c.method,
                    c.bits,
                    e.replace('|', "/")
                );
                continue;
            }
            s += &match b.protocol {
                Protocol::Labels => format!(
                    "| {} | {} | {} | {} | {:.2} |\n",
                    c.method,
                    c.bits,
                    map(&c.a_to_b),
                    map(&c.b_to_a),
                    c.fit_seconds
                ),
                Protocol::PairsAndLabels => format!(
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {:.2} |\n",
                    c.method,
                    c.bits,
                    recall(&c.a_to_b_pairs, 1),
                    recall(&c.a_to_b_pairs, 10),
                    recall(&c.b_to_a_pairs, 1),
                    recall(&c.b_to_a_pairs, 10),
                    map(&c.a_to_b),
                    map(&c.b_to_a),
                    c.fit_seconds
                ),
            };
        }
        s += &format!(
            "\nPR curves over Hamming radii: `pr-{}-<bits>-{x}-{y}.svg`, `pr-{}-<bits>-{y}-{x}.svg`.\n",
            b.name, b.name
        );
    }
    s
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

/// Runs `crosscode bench-quality`; returns the path of the Markdown report.
pub fn bench_quality(a: &BenchQualityArgs) -> Result<PathBuf> {
    let methods: Vec<String> = match &a.methods {
        Some(m) => m.iter().map(|s| s.trim().to_string()).collect(),
        None => METHOD_NAMES.iter().map(|s| s.to_string()).collect(),
    };
    if let Some(bad) = methods.iter().find(|m| !METHOD_NAMES.contains(&m.as_str())) {
        return Err(Error::UnknownMethod {
            name: bad.clone(),
            known: METHOD_NAMES.join(", "),
        });
    }
    for &b in &a.bits {
        crosscode::code::binary::words_for_bits(b)?;
    }
    let started = Instant::now();
    let mut benches = Vec::new();
    for d in &a.datasets {
        benches.push(match d.as_str() {
            "mfeat" => load_mfeat(&a.data, a)?,
            "bible" => load_bible(&a.data, a)?,
            other => {
                return Err(Error::InvalidArgument {
                    name: "datasets",
                    reason: format!("unknown data set `{other}` (known: mfeat, bible)"),
                });
            }
        });
    }
    std::fs::create_dir_all(&a.out).map_err(|e| Error::io(&a.out, e))?;
    let bar = ProgressBar::new((benches.len() * methods.len() * a.bits.len()) as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} [{elapsed_precise}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut cells = Vec::new();
    for b in &benches {
        for m in &methods {
            for &bits in &a.bits {
                bar.set_message(format!("{} {m} {bits} bits", b.name));
                let cell = run_cell(b, m, bits, a).unwrap_or_else(|e| Cell {
                    dataset: b.name,
                    method: m.clone(),
                    bits,
                    fit_seconds: 0.0,
                    a_to_b: None,
                    b_to_a: None,
                    a_to_b_pairs: None,
                    b_to_a_pairs: None,
                    error: Some(e.to_string()),
                });
                cells.push(cell);
                bar.inc(1);
            }
        }
    }
    bar.finish_and_clear();
    for b in &benches {
        let [x, y] = b.views;
        for &bits in &a.bits {
            for (dir, pick) in [(format!("{x}-{y}"), true), (format!("{y}-{x}"), false)] {
                let curves: Vec<(String, Vec<crosscode::eval::PrPoint>)> = cells
                    .iter()
                    .filter(|c| c.dataset == b.name && c.bits == bits)
                    .filter_map(|c| {
                        let r = if pick { &c.a_to_b } else { &c.b_to_a };
                        r.as_ref().map(|r| (c.method.clone(), r.pr_curve.clone()))
                    })
                    .collect();
                let title = format!("{} {bits} bits, {}", b.name, dir.replace('-', "→"));
                let path = a.out.join(format!("pr-{}-{bits}-{dir}.svg", b.name));
                write(&path, &pr_curve_svg(&title, &curves))?;
            }
        }
    }
    let total = started.elapsed().as_secs_f64();
    let command = command_line(a, &methods);
    let splits: Vec<SplitInfo> = benches
        .iter()
        .map(|b| SplitInfo {
            dataset: b.name,
            seed: b.split.seed,
            train: b.split.train.len(),
            queries: b.split.query.len(),
            database: b.split.database.len(),
        })
        .collect();
    let json = serde_json::json!({
        "command": command,
        "total_seconds": total,
        "splits": splits,
        "results": cells,
    });
    let jpath = a.out.join("results.json");
    write(
        &jpath,
        &(serde_json::to_string_pretty(&json).map_err(|e| Error::Format {
            path: jpath.clone(),
            reason: e.to_string(),
        })? + "\n"),
    )?;
    let md = a.out.join("QUALITY.md");
    write(&md, &markdown(&benches, &cells, &command, total, a))?;
    for c in cells.iter().filter(|c| c.error.is_some()) {
        eprintln!(
            "note: {} {} {} bits failed: {}",
            c.dataset,
            c.method,
            c.bits,
            c.error.as_deref().unwrap_or("")
        );
    }
    eprintln!("wrote {} in {total:.1}s", md.display());
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crosscode::io::npy::write_npy;
    use crosscode::rng::Rng;

    /// `n` items of `classes` classes (round robin): two views of a class-dependent
    /// latent plus item noise, through random maps to `da` and `db` dimensions.
    fn views(n: usize, classes: usize, da: usize, db: usize, rng: &mut Rng) -> [Vec<f32>; 3] {
        let latent = 6;
        let centres: Vec<f32> = (0..classes * latent).map(|_| 2.0 * rng.normal()).collect();
        let z: Vec<f32> = (0..n * latent)
            .map(|e| centres[(e / latent % classes) * latent + e % latent] + 0.5 * rng.normal())
            .collect();
        let mut map = |d: usize| {
            let w: Vec<f32> = (0..latent * d).map(|_| rng.normal()).collect();
            (0..n * d)
                .map(|e| {
                    let (i, j) = (e / d, e % d);
                    (0..latent)
                        .map(|k| z[i * latent + k] * w[k * d + j])
                        .sum::<f32>()
                        + 0.3 * rng.normal()
                })
                .collect::<Vec<f32>>()
        };
        let (a, b) = (map(da), map(db));
        let labels = (0..n * classes)
            .map(|e| f32::from(u8::from(e / classes % classes == e % classes)))
            .collect();
        [a, b, labels]
    }

    fn labels_u8(l: &[f32]) -> Vec<u8> {
        l.iter().map(|&v| v as u8).collect()
    }

    fn tiny_data(dir: &Path) {
        let mut rng = Rng::new(5);
        let n = 240;
        let m = dir.join("mfeat");
        std::fs::create_dir_all(&m).unwrap();
        let [a, b, l] = views(n, 4, 24, 20, &mut rng);
        write_npy::<f32>(&m.join("pix.npy"), &[n, 24], &a).unwrap();
        write_npy::<f32>(&m.join("fou.npy"), &[n, 20], &b).unwrap();
        write_npy::<u8>(&m.join("labels.npy"), &[n, 4], &labels_u8(&l)).unwrap();
        let bdir = dir.join("bible");
        std::fs::create_dir_all(&bdir).unwrap();
        let [a, b, l] = views(n, 3, 16, 16, &mut rng);
        write_npy::<f32>(&bdir.join("en.npy"), &[n, 16], &a).unwrap();
        write_npy::<f32>(&bdir.join("es.npy"), &[n, 16], &b).unwrap();
        write_npy::<u8>(&bdir.join("book_labels.npy"), &[n, 3], &labels_u8(&l)).unwrap();
        for lang in ["en", "es"] {
            let t = 6;
            let lengths: Vec<i32> = (0..n).map(|_| 1 + rng.below(t) as i32).collect();
            let ids: Vec<i32> = (0..n * t)
                .map(|e| {
                    if (e % t) < lengths[e / t] as usize {
                        1 + rng.below(30) as i32
                    } else {
                        0
                    }
                })
                .collect();
            let mut table: Vec<f32> = (0..31 * 16).map(|_| rng.normal()).collect();
            table[..16].iter_mut().for_each(|v| *v = 0.0);
            write_npy::<i32>(&bdir.join(format!("{lang}_token_ids.npy")), &[n, t], &ids).unwrap();
            write_npy::<i32>(&bdir.join(format!("{lang}_lengths.npy")), &[n], &lengths).unwrap();
            write_npy::<f32>(
                &bdir.join(format!("{lang}_term_vectors.npy")),
                &[31, 16],
                &table,
            )
            .unwrap();
        }
    }

    #[test]
    fn runs_end_to_end_on_a_tiny_data_set() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        tiny_data(&data);
        let args = BenchQualityArgs {
            data: data.clone(),
            out: tmp.path().join("out"),
            methods: None,
            bits: vec![8, 16],
            datasets: vec!["mfeat".into(), "bible".into()],
            bible_train: Some(150),
            bible_held_out: 40,
            mfeat_queries: 40,
            hugginghash_epochs: 2,
            bible_tokens: true,
            seed: 3,
        };
        let md_path = bench_quality(&args).unwrap();
        let md = std::fs::read_to_string(&md_path).unwrap();
        assert!(!md.contains("failed"), "{md}");
        assert!(md.contains("- mfeat: seed 3, 200 training items, 40 queries, 200 database"));
        assert!(md.contains("- bible: seed 3, 150 training items, 40 queries, 40 database"));
        for m in METHOD_NAMES {
            for bits in [8, 16] {
                let row = format!("| {m} | {bits} |");
                assert_eq!(
                    md.matches(&row).count(),
                    2,
                    "{row} once per data set:\n{md}"
                );
            }
        }
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(args.out.join("results.json")).unwrap()).unwrap();
        let results = json["results"].as_array().unwrap();
        assert_eq!(results.len(), 2 * METHOD_NAMES.len() * 2);
        // The pipeline is wired right: sign(CCA) finds the planted structure, far above
        // chance (mAP 0.25 with four balanced classes; R@10 = 10/40 for random codes).
        let find = |ds: &str, m: &str| {
            results
                .iter()
                .find(|r| r["dataset"] == ds && r["method"] == m && r["bits"] == 16)
                .unwrap()
        };
        let mfeat = find("mfeat", "cca");
        assert!(
            mfeat["a_to_b"]["map_all"].as_f64().unwrap() > 0.4,
            "{mfeat}"
        );
        assert!(
            mfeat["b_to_a"]["map_all"].as_f64().unwrap() > 0.4,
            "{mfeat}"
        );
        let bible = find("bible", "cca");
        assert!(
            bible["a_to_b_pairs"]["r_at_10"].as_f64().unwrap() > 0.5,
            "{bible}"
        );
        for (ds, dirs) in [
            ("mfeat", ["pix-fou", "fou-pix"]),
            ("bible", ["en-es", "es-en"]),
        ] {
            for bits in [8, 16] {
                for dir in dirs {
                    let p = args.out.join(format!("pr-{ds}-{bits}-{dir}.svg"));
                    let svg = std::fs::read_to_string(&p).unwrap();
                    assert!(svg.starts_with("<svg"), "{}", p.display());
                    for m in METHOD_NAMES {
                        assert!(svg.contains(&format!(">{m}<")), "{m} in {}", p.display());
                    }
                }
            }
        }
        let bad = BenchQualityArgs {
            methods: Some(vec!["cca".into(), "nope".into()]),
            ..args
        };
        assert!(matches!(
            bench_quality(&bad),
            Err(Error::UnknownMethod { name, .. }) if name == "nope"
        ));
    }
}
