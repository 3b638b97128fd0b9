//! `crosscode demo`: the search engine end to end on generated codes with planted
//! neighbours — batched kNN, a brute-force cross-check, range search, throughput.

use std::time::Instant;

use crosscode::rng::Rng;
use crosscode::scan::hamming::reference_distance;
use crosscode::{BinaryCodes, HammingKernel, SearchOptions, knn_batch, range_batch};

/// Example lines shown under `crosscode demo --help`.
pub(crate) const EXAMPLES: &str = "Examples:\n  crosscode demo\n  crosscode demo --bits 256 --n 500000 --queries 1000\n  crosscode demo --kernel portable";

/// Arguments of `crosscode demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Code length in bits (a multiple of 8, 8..=4096).
    #[arg(long, default_value_t = 64)]
    pub bits: usize,
    /// Database size.
    #[arg(long, default_value_t = 200_000)]
    pub n: usize,
    /// Number of queries.
    #[arg(long, default_value_t = 200)]
    pub queries: usize,
    /// Neighbours per query.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Seed for the generated data.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Force a Hamming kernel (scalar, portable, popcnt, avx2, avx512).
    #[arg(long)]
    pub kernel: Option<String>,
}

/// Planted neighbours per query, each a copy of the query with 0..=3 bits flipped.
const PLANTED: usize = 5;

impl DemoArgs {
    /// Runs the demo, printing its report to stdout.
    pub fn run(&self) -> Result<(), Box<dyn std::error::Error>> {
        let args = self;
        let kernel = match &args.kernel {
            Some(name) => HammingKernel::from_name(name)?.check()?,
            None => HammingKernel::process_default()?,
        };
        let options = SearchOptions::with_kernel(kernel);
        if args.n < args.queries * PLANTED {
            return Err(format!(
                "--n must be at least {} (queries x {PLANTED})",
                args.queries * PLANTED
            )
            .into());
        }
        println!(
            "crosscode demo: {} random {}-bit codes, {} queries with {PLANTED} planted neighbours each, k = {}, kernel {}",
            args.n,
            args.bits,
            args.queries,
            args.k,
            kernel.name()
        );
        let queries = BinaryCodes::random(args.bits, args.queries, args.seed)?;
        let mut signs = BinaryCodes::random(args.bits, args.n, args.seed + 1)?.to_signs();
        let query_signs = queries.to_signs();
        let mut rng = Rng::new(args.seed + 2);
        let mut rows: Vec<usize> = (0..args.n).collect();
        rng.shuffle(&mut rows);
        let mut planted = vec![Vec::new(); args.queries];
        for (i, &row) in rows.iter().take(args.queries * PLANTED).enumerate() {
            let q = i / PLANTED;
            let dst = &mut signs[row * args.bits..(row + 1) * args.bits];
            dst.copy_from_slice(&query_signs[q * args.bits..(q + 1) * args.bits]);
            for _ in 0..rng.below(4) {
                let b = rng.below(args.bits);
                dst[b] = -dst[b];
            }
            planted[q].push(row);
        }
        let db = BinaryCodes::from_signs(args.bits, &signs)?;

        let t = Instant::now();
        let results = knn_batch(db.view(), queries.view(), args.k, &options)?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "kNN: {:.1} ms for {} queries ({:.2e} codes/s on {} threads)",
            secs * 1e3,
            args.queries,
            (args.n * args.queries) as f64 / secs,
            rayon::current_num_threads()
        );
        let found = planted
            .iter()
            .zip(&results)
            .map(|(p, r)| {
                p.iter()
                    .filter(|row| r.iter().any(|n| n.row == **row))
                    .count()
            })
            .sum::<usize>();
        println!(
            "planted neighbours in the top {}: {found} of {} ({:.1}%)",
            args.k,
            planted.iter().map(Vec::len).sum::<usize>(),
            100.0 * found as f64 / (args.queries * PLANTED) as f64
        );
        if let Some(first) = results.first() {
            let shown: Vec<String> = first
                .iter()
                .take(8)
                .map(|n| format!("{}@{}", n.row, n.distance))
                .collect();
            println!("query 0 -> {}", shown.join(" "));
        }

        // Brute-force check of a few queries with the bit-by-bit reference.
        let checked = args.queries.min(5);
        for (q, got) in results.iter().enumerate().take(checked) {
            let query = queries.row(q).ok_or("query row")?;
            let mut all: Vec<(u32, usize)> = (0..db.len())
                .map(|r| (reference_distance(query, db.row(r).unwrap_or(&[])), r))
                .collect();
            all.sort_unstable();
            let expect: Vec<(u32, usize)> = all.into_iter().take(args.k).collect();
            let got: Vec<(u32, usize)> = got.iter().map(|n| (n.distance, n.row)).collect();
            if got != expect {
                return Err(format!("query {q}: search disagrees with brute force").into());
            }
        }
        println!("brute-force check: {checked} queries identical");

        let t = Instant::now();
        let within = range_batch(db.view(), queries.view(), 3, &options)?;
        println!(
            "range search (radius 3): {} hits in {:.1} ms",
            within.iter().map(Vec::len).sum::<usize>(),
            t.elapsed().as_secs_f64() * 1e3
        );
        Ok(())
    }
}
