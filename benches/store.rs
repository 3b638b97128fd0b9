//! Storage benches: bulk build from .npy, index open time, and search through `Index`
//! against the raw scan over the same codes (the overhead the index adds).

use std::hint::black_box;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use crosscode::io::npy::write_npy;
use crosscode::io::{CodeReader, IdReader};
use crosscode::{BinaryCodes, Index, Schema, SearchOptions, knn, knn_batch};

const BITS: usize = 64;

fn build_from_npy(codes: &Path, dir: &Path, chunk: usize) -> Index {
    let mut reader = CodeReader::open(codes, None).unwrap();
    let mut ids = IdReader::implicit(0, reader.rows());
    let mut index = Index::create(dir, Schema::binary(reader.bits()).unwrap()).unwrap();
    while let Some(c) = reader.next_chunk(chunk).unwrap() {
        index
            .append(&ids.next_ids(c.len()).unwrap(), c.view())
            .unwrap();
    }
    index
}

fn bench_build(c: &mut Criterion) {
    let n = 500_000;
    let tmp = tempfile::tempdir().unwrap();
    let codes = BinaryCodes::random(BITS, n, 1).unwrap();
    let npy = tmp.path().join("codes.npy");
    write_npy(&npy, &[n, BITS / 8], &codes.to_packed()).unwrap();
    let mut g = c.benchmark_group("store_build");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function(BenchmarkId::new("npy_uint8_64bit", n), |b| {
        let mut round = 0;
        b.iter(|| {
            round += 1;
            let dir = tmp.path().join(format!("idx-{round}"));
            let index = build_from_npy(&npy, &dir, 1 << 20);
            black_box(index.len());
            drop(index);
            std::fs::remove_dir_all(&dir).unwrap();
        })
    });
    g.finish();
}

fn bench_open_and_search(c: &mut Criterion) {
    let n = 1_000_000;
    let tmp = tempfile::tempdir().unwrap();
    let codes = BinaryCodes::random(BITS, n, 2).unwrap();
    let ids: Vec<u64> = (0..n as u64).collect();
    // One segment, and the same rows over eight segments.
    let one = tmp.path().join("one");
    Index::create(&one, Schema::binary(BITS).unwrap())
        .unwrap()
        .append(&ids, codes.view())
        .unwrap();
    let eight = tmp.path().join("eight");
    {
        let mut index = Index::create(&eight, Schema::binary(BITS).unwrap()).unwrap();
        for s in 0..8 {
            let (a, b) = (s * n / 8, (s + 1) * n / 8);
            index
                .append(&ids[a..b], codes.view().slice(a, b).unwrap())
                .unwrap();
        }
    }
    let mut g = c.benchmark_group("store_open");
    g.sample_size(20);
    g.bench_function("1M_codes_1_segment", |b| {
        b.iter(|| black_box(Index::open(&one).unwrap()))
    });
    g.bench_function("1M_codes_8_segments", |b| {
        b.iter(|| black_box(Index::open(&eight).unwrap()))
    });
    g.finish();

    let opts = SearchOptions::default();
    let queries = BinaryCodes::random(BITS, 256, 3).unwrap();
    let q0 = queries.row(0).unwrap();
    let idx_one = Index::open(&one).unwrap();
    let idx_eight = Index::open(&eight).unwrap();
    let mut g = c.benchmark_group("store_search_1M_64bit_k10");
    g.sample_size(20);
    g.bench_function("raw_knn", |b| {
        b.iter(|| black_box(knn(codes.view(), q0, 10, &opts).unwrap()))
    });
    g.bench_function("index_1_segment", |b| {
        b.iter(|| black_box(idx_one.search(q0, 10).unwrap()))
    });
    g.bench_function("index_8_segments", |b| {
        b.iter(|| black_box(idx_eight.search(q0, 10).unwrap()))
    });
    g.throughput(Throughput::Elements(queries.len() as u64));
    g.bench_function("raw_knn_batch_256", |b| {
        b.iter(|| black_box(knn_batch(codes.view(), queries.view(), 10, &opts).unwrap()))
    });
    g.bench_function("index_batch_256_1_segment", |b| {
        b.iter(|| black_box(idx_one.search_batch(queries.view(), 10, None).unwrap()))
    });
    g.bench_function("index_batch_256_8_segments", |b| {
        b.iter(|| black_box(idx_eight.search_batch(queries.view(), 10, None).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench_build, bench_open_and_search);
criterion_main!(benches);
