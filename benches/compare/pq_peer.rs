//! crosscode side of the FAISS PQ comparison (one thread).
//!
//! Reads the data that `benches/compare/faiss_pq.py DIR` wrote (train.npy, base.npy,
//! queries.npy, gt_N.npy), and prints, like the script: k-means and PQ training time on
//! 50k × 256-d, and for 8-bit ADC (M = 32) and the 4-bit fast scan (M = 64) the codes
//! scanned per second over 1000 queries at k = 10 and 100, with recall@10 against exact
//! float search.
//!
//! `cargo bench --bench pq_peer -- DIR [rerank_factor] [kmeans,pq8,pq4] [repeats]` (searches
//! are timed best of `repeats`, default 3, as the script's `--repeats`); without the data
//! directory (as in a plain `cargo bench`) it says so and exits.

use std::path::Path;
use std::time::Instant;

use crosscode::io::npy::read_npy;

use crosscode::code::pq::PqMetric;
use crosscode::scan::pq::{FastScanCodes, PqSearchOptions, fast_scan_knn_batch, pq_knn_batch};
use crosscode::train::{KMeansConfig, PqTrainConfig, kmeans, train_pq};

fn read_f32(path: &str) -> (usize, usize, Vec<f32>) {
    let a = read_npy::<f32>(Path::new(path)).unwrap_or_else(|e| panic!("{e}"));
    (a.shape[0], a.shape[1], a.data)
}

fn read_i64(path: &str) -> (usize, usize, Vec<i64>) {
    let a = read_npy::<i64>(Path::new(path)).unwrap_or_else(|e| panic!("{e}"));
    (a.shape[0], a.shape[1], a.data)
}

fn recall_at_10(
    found: &[Vec<crosscode::scan::pq::ScoredNeighbor>],
    gt: &[i64],
    gt_k: usize,
) -> f64 {
    let mut hits = 0;
    for (q, f) in found.iter().enumerate() {
        let truth = &gt[q * gt_k..q * gt_k + 10];
        hits += f
            .iter()
            .take(10)
            .filter(|n| truth.contains(&(n.row as i64)))
            .count();
    }
    hits as f64 / (10 * found.len()) as f64
}

fn main() {
    // `cargo bench` appends `--bench`; positional arguments are the rest.
    let args: Vec<String> = std::env::args().filter(|a| !a.starts_with("--")).collect();
    let dir = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "/tmp/crosscode_pq_data".into());
    let rerank: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(4);
    let parts = args
        .get(3)
        .cloned()
        .unwrap_or_else(|| "kmeans,pq8,pq4".into());
    let repeats: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(3);
    if !std::path::Path::new(&dir).join("train.npy").exists() {
        eprintln!("pq_peer: no data in {dir}; run benches/compare/faiss_pq.py {dir} first");
        return;
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global()
        .expect("one-thread pool");
    let (n_train, dim, train) = read_f32(&format!("{dir}/train.npy"));
    let (n_base, _, base) = read_f32(&format!("{dir}/base.npy"));
    let (n_query, _, queries) = read_f32(&format!("{dir}/queries.npy"));
    let (_, gt_k, gt) = read_i64(&format!("{dir}/gt_{n_base}.npy"));
    println!(
        "data: train {n_train}, base {n_base}, queries {n_query}, dim {dim}, rerank factor {rerank}"
    );

    if parts.contains("kmeans") {
        let t = Instant::now();
        let km = kmeans(
            &train,
            dim,
            &KMeansConfig {
                seed: 1,
                ..KMeansConfig::new(256)
            },
        )
        .expect("k-means");
        println!(
            "crosscode k-means {n_train} x {dim}-d k=256 {} it: {:.2} s",
            km.objective.len(),
            t.elapsed().as_secs_f64()
        );
    }

    let options = PqSearchOptions {
        single_threaded: true,
        rerank_factor: rerank,
        ..PqSearchOptions::default()
    };
    for (m, nbits) in [(32usize, 8u8), (64, 4)] {
        if !parts.contains(if nbits == 8 { "pq8" } else { "pq4" }) {
            continue;
        }
        let name = if nbits == 8 {
            "PQ(256,32,8) ADC"
        } else {
            "PQ(256,64,4) fast scan"
        };
        let t = Instant::now();
        let books = train_pq(
            &train,
            dim,
            &PqTrainConfig {
                seed: 1,
                ..PqTrainConfig::new(m, nbits)
            },
        )
        .expect("train");
        println!(
            "crosscode {name} train {n_train}: {:.2} s",
            t.elapsed().as_secs_f64()
        );
        let t = Instant::now();
        let codes = books.encode(&base, PqMetric::SquaredL2).expect("encode");
        let fast = (nbits == 4).then(|| FastScanCodes::from_view(codes.view()).expect("layout"));
        println!(
            "crosscode {name} encode {n_base}: {:.2} s",
            t.elapsed().as_secs_f64()
        );
        for k in [10usize, 100] {
            // Best of `repeats`, as the FAISS script times it (the machine is shared).
            let mut dt = f64::INFINITY;
            let mut found = Vec::new();
            for _ in 0..repeats.max(1) {
                let t = Instant::now();
                found = match &fast {
                    None => pq_knn_batch(
                        &books,
                        codes.view(),
                        &queries,
                        PqMetric::SquaredL2,
                        k,
                        &options,
                    ),
                    Some(f) => {
                        fast_scan_knn_batch(&books, f, &queries, PqMetric::SquaredL2, k, &options)
                    }
                }
                .expect("search");
                dt = dt.min(t.elapsed().as_secs_f64());
            }
            println!(
                "crosscode {name} k={k}: {dt:.2} s, {:.3} G codes/s, recall@10 vs exact float {:.4}",
                (n_base * n_query) as f64 / dt / 1e9,
                recall_at_10(&found, &gt, gt_k)
            );
        }
    }
}
