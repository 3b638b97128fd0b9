//! PQ scan benches, one thread: 1M vectors of 256 dimensions, 1000 queries, k = 10 and
//! 100; 8-bit ADC with M = 32 and the 4-bit fast scan (with exact re-ranking) with
//! M = 64. Throughput is reported in codes (rows × queries) per second.
//!
//! `CROSSCODE_PQ_BENCH_ROWS` shrinks the database for a quick run.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crosscode::code::pq::PqMetric;
use crosscode::rng::Rng;
use crosscode::scan::pq::{FastScanCodes, PqSearchOptions, fast_scan_knn_batch, pq_knn_batch};
use crosscode::train::{PqTrainConfig, train_pq};

const DIM: usize = 256;
const QUERIES: usize = 1000;

const LATENT: usize = 32;

/// Vectors near a 32-d subspace: `z · basis + 0.1 noise` (as the FAISS script makes).
fn near_subspace(n: usize, basis: &[f32], rng: &mut Rng) -> Vec<f32> {
    let mut out = Vec::with_capacity(n * DIM);
    for _ in 0..n {
        let z: Vec<f32> = (0..LATENT).map(|_| rng.normal()).collect();
        out.extend((0..DIM).map(|j| {
            (0..LATENT).map(|t| z[t] * basis[t * DIM + j]).sum::<f32>() + 0.1 * rng.normal()
        }));
    }
    out
}

fn bench_pq(c: &mut Criterion) {
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global();
    let rows: usize = std::env::var("CROSSCODE_PQ_BENCH_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let mut rng = Rng::new(42);
    let scale = 1.0 / (LATENT as f32).sqrt();
    let basis: Vec<f32> = (0..LATENT * DIM).map(|_| scale * rng.normal()).collect();
    let train = near_subspace(20_000, &basis, &mut rng);
    let base = near_subspace(rows, &basis, &mut rng);
    let queries = near_subspace(QUERIES, &basis, &mut rng);
    let options = PqSearchOptions {
        single_threaded: true,
        ..PqSearchOptions::default()
    };

    let mut group = c.benchmark_group("pq_scan_1thread");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements((rows * QUERIES) as u64));

    let config = PqTrainConfig {
        iterations: 10,
        ..PqTrainConfig::new(32, 8)
    };
    let books8 = train_pq(&train, DIM, &config).expect("train 8-bit");
    let codes8 = books8
        .encode(&base, PqMetric::SquaredL2)
        .expect("encode 8-bit");
    for k in [10usize, 100] {
        group.bench_function(format!("adc_m32_nbits8_k{k}"), |b| {
            b.iter(|| {
                pq_knn_batch(
                    &books8,
                    codes8.view(),
                    black_box(&queries),
                    PqMetric::SquaredL2,
                    k,
                    &options,
                )
            })
        });
    }

    let config = PqTrainConfig {
        iterations: 10,
        ..PqTrainConfig::new(64, 4)
    };
    let books4 = train_pq(&train, DIM, &config).expect("train 4-bit");
    let codes4 = books4
        .encode(&base, PqMetric::SquaredL2)
        .expect("encode 4-bit");
    let fast = FastScanCodes::from_view(codes4.view()).expect("fast-scan layout");
    for k in [10usize, 100] {
        group.bench_function(format!("fastscan_m64_nbits4_k{k}"), |b| {
            b.iter(|| {
                fast_scan_knn_batch(
                    &books4,
                    &fast,
                    black_box(&queries),
                    PqMetric::SquaredL2,
                    k,
                    &options,
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_pq);
criterion_main!(benches);
