//! Side-by-side Hamming kNN throughput: crosscode on packed code files, for the FAISS
//! comparison script `faiss_hamming.py` beside this file.
//!
//! `cargo bench --bench hamming_peer -- --dir D --bits B [--nq N] [--k K] [--threads T]
//! [--repeats R]` reads `D/db_B.u8` and `D/q_B.u8` (FAISS-layout packed codes), runs kNN
//! for the first N queries, and prints one JSON line per run with the median seconds and
//! codes/s. Without `--dir` it generates 1M random codes itself.

use std::time::Instant;

use crosscode::{BinaryCodes, SearchOptions, knn_batch};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let bits: usize = arg(&args, "--bits").map_or(Ok(64), |s| s.parse())?;
    let nq: usize = arg(&args, "--nq").map_or(Ok(1000), |s| s.parse())?;
    let k: usize = arg(&args, "--k").map_or(Ok(10), |s| s.parse())?;
    let threads: usize = arg(&args, "--threads").map_or(Ok(1), |s| s.parse())?;
    let repeats: usize = arg(&args, "--repeats").map_or(Ok(5), |s| s.parse())?;
    let (db, queries) = match arg(&args, "--dir") {
        Some(dir) => {
            let db = std::fs::read(format!("{dir}/db_{bits}.u8"))?;
            let q = std::fs::read(format!("{dir}/q_{bits}.u8"))?;
            (
                BinaryCodes::from_packed(bits, &db)?,
                BinaryCodes::from_packed(bits, &q)?,
            )
        }
        None => (
            BinaryCodes::random(bits, 1_000_000, 1)?,
            BinaryCodes::random(bits, nq, 2)?,
        ),
    };
    let queries = queries
        .view()
        .slice(0, nq.min(queries.len()))
        .ok_or("no queries")?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let options = SearchOptions::default();
    let mut times = Vec::new();
    let mut checksum = 0u64;
    let mut cpu_start = None;
    for i in 0..repeats + 1 {
        if i == 1 {
            cpu_start = process_cpu_seconds();
        }
        let t = Instant::now();
        let res = pool.install(|| knn_batch(db.view(), queries, k, &options))?;
        times.push(t.elapsed().as_secs_f64());
        checksum = res
            .iter()
            .flatten()
            .map(|n| n.row as u64 + n.distance as u64)
            .sum();
    }
    // CPU time per search (Linux): steadier than wall time on a shared machine.
    let cpu_per_search = match (cpu_start, process_cpu_seconds()) {
        (Some(a), Some(b)) if repeats > 0 => (b - a) / repeats as f64,
        _ => f64::NAN,
    };
    let median = median_after_warmup(times);
    // The memory reference: one pass reading every code word (xor-folded so it cannot be
    // skipped), on the same thread count.
    let mut read_times = Vec::new();
    for _ in 0..repeats + 1 {
        let t = Instant::now();
        let fold = pool.install(|| {
            use rayon::prelude::*;
            db.as_words()
                .par_chunks(1 << 16)
                .map(|c| c.iter().fold(0u64, |a, &w| a ^ w))
                .reduce(|| 0, |a, b| a ^ b)
        });
        read_times.push(t.elapsed().as_secs_f64());
        checksum ^= std::hint::black_box(fold) & 1;
    }
    let read = median_after_warmup(read_times);
    let kernel = crosscode::HammingKernel::process_default()?;
    println!(
        "{{\"engine\":\"crosscode\",\"kernel\":\"{}\",\"bits\":{bits},\"n\":{},\"nq\":{},\"k\":{k},\"threads\":{threads},\"median_s\":{median:.6},\"cpu_s_per_search\":{cpu_per_search:.6},\"codes_per_s\":{:.4e},\"read_once_s\":{read:.6},\"read_gb_per_s\":{:.2},\"checksum\":{checksum}}}",
        kernel.name(),
        db.len(),
        queries.len(),
        (db.len() * queries.len()) as f64 / median,
        (db.as_words().len() * 8) as f64 / read / 1e9
    );
    Ok(())
}

fn median_after_warmup(mut times: Vec<f64>) -> f64 {
    times.remove(0);
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// User + system CPU time of this process from `/proc/self/stat`, in seconds (assumes
/// the usual 100 clock ticks per second); `None` off Linux.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
