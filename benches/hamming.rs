//! Criterion benches of exhaustive Hamming kNN: 1M database codes of 64, 128 and 256
//! bits; 1 and 1000 queries; k = 10 and 100; one thread and all threads.
//!
//! `cargo bench --bench hamming` (add `-- 64/` etc. to filter). Set
//! `CROSSCODE_HAMMING_KERNEL` to bench a given kernel. The FAISS comparison lives in
//! `benches/compare/faiss_hamming.py`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use crosscode::{BinaryCodes, SearchOptions, knn_batch};

fn hamming_knn(c: &mut Criterion) {
    let n = 1_000_000;
    let all_threads = rayon::current_num_threads();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let all = rayon::ThreadPoolBuilder::new()
        .num_threads(all_threads)
        .build()
        .unwrap();
    for bits in [64, 128, 256] {
        let db = BinaryCodes::random(bits, n, 1).unwrap();
        let queries = BinaryCodes::random(bits, 1000, 2).unwrap();
        let mut group = c.benchmark_group(format!("hamming_knn/{bits}"));
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(3));
        for nq in [1usize, 1000] {
            let qs = queries.view().slice(0, nq).unwrap();
            group.throughput(Throughput::Elements((n * nq) as u64));
            for k in [10usize, 100] {
                for (label, pool) in [("1thread", &one), ("allthreads", &all)] {
                    let id = BenchmarkId::new(format!("nq{nq}/k{k}"), label);
                    group.bench_with_input(id, &k, |b, &k| {
                        b.iter(|| {
                            pool.install(|| {
                                black_box(
                                    knn_batch(db.view(), qs, k, &SearchOptions::default()).unwrap(),
                                )
                            })
                        })
                    });
                }
            }
        }
        group.finish();
    }
}

criterion_group!(benches, hamming_knn);
criterion_main!(benches);
