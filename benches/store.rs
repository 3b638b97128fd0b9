//! Storage benches: bulk build from .npy, index open time, and search through `Index`
//! against the raw scan over the same codes (the overhead the index adds), for binary
//! codes and for PQ codes (8-bit ADC and the 4-bit fast scan), and for an HCQ-like
//! index of three PQ columns (one coarse, two fine) scored as a weighted sum.

use std::hint::black_box;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use crosscode::io::npy::write_npy;
use crosscode::io::{CodeReader, IdReader};
use crosscode::rng::Rng;
use crosscode::{
    BinaryCodes, FastScanCodes, Index, PqCodebooks, PqCodes, PqColumn, PqMetric, PqSearchOptions,
    PqView, Schema, SearchOptions, fast_scan_knn, knn, knn_batch, multi_column_knn, pq_knn,
};

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

/// 1M PQ codes of d = 256 (random codebooks and codes: the scan's cost does not depend
/// on the values), in one segment and in eight, searched through `Index` and raw.
fn bench_pq_search(c: &mut Criterion) {
    let n = 1_000_000;
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(9);
    for (m, nbits) in [(32usize, 8u8), (64, 4)] {
        let dsub = 256 / m;
        let data = (0..m * (1 << nbits) * dsub).map(|_| rng.normal()).collect();
        let books = PqCodebooks::new(m, nbits, dsub, data).unwrap();
        let row = books.code_row_bytes();
        let bytes: Vec<u8> = (0..n * row).map(|_| rng.next_u64() as u8).collect();
        let codes = PqCodes::new(m, nbits, bytes).unwrap();
        let ids: Vec<u64> = (0..n as u64).collect();
        let schema = Schema::pq(m, nbits, PqMetric::SquaredL2).unwrap();
        let one = tmp.path().join(format!("pq{nbits}-one"));
        Index::create_pq(&one, schema.clone(), books.clone())
            .unwrap()
            .append_pq(&ids, codes.view())
            .unwrap();
        let eight = tmp.path().join(format!("pq{nbits}-eight"));
        {
            let mut index = Index::create_pq(&eight, schema, books.clone()).unwrap();
            for s in 0..8 {
                let (a, b) = (s * n / 8, (s + 1) * n / 8);
                index
                    .append_pq(&ids[a..b], codes.view().slice(a, b))
                    .unwrap();
            }
        }
        let query: Vec<f32> = (0..256).map(|_| rng.normal()).collect();
        let opts = PqSearchOptions::default();
        let idx_one = Index::open(&one).unwrap();
        let idx_eight = Index::open(&eight).unwrap();
        // The first 4-bit search builds each segment's fast-scan layout; not timed.
        idx_one.search_pq(&query, 10).unwrap();
        idx_eight.search_pq(&query, 10).unwrap();
        let fast = (nbits == 4).then(|| FastScanCodes::from_view(codes.view()).unwrap());
        let mut g = c.benchmark_group(format!("store_search_pq_1M_d256_m{m}_nbits{nbits}_k10"));
        g.sample_size(20);
        g.bench_function("raw_scan", |b| {
            b.iter(|| match &fast {
                Some(f) => black_box(
                    fast_scan_knn(&books, f, &query, PqMetric::SquaredL2, 10, &opts).unwrap(),
                ),
                None => black_box(
                    pq_knn(&books, codes.view(), &query, PqMetric::SquaredL2, 10, &opts).unwrap(),
                ),
            })
        });
        g.bench_function("index_1_segment", |b| {
            b.iter(|| black_box(idx_one.search_pq(&query, 10).unwrap()))
        });
        g.bench_function("index_8_segments", |b| {
            b.iter(|| black_box(idx_eight.search_pq(&query, 10).unwrap()))
        });
        g.finish();
    }
}

/// 1M rows of d = 256 in three PQ columns (coarse 8-bit M = 32; fine 4-bit M = 64 and
/// 8-bit M = 32), default weights, through `Index` (one segment, eight) and raw.
fn bench_pq_multi_column_search(c: &mut Criterion) {
    let n = 1_000_000;
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(10);
    let shapes = [("coarse", 32usize, 8u8), ("fine1", 64, 4), ("fine2", 32, 8)];
    let books: Vec<PqCodebooks> = (shapes.iter())
        .map(|&(_, m, nbits)| {
            let dsub = 256 / m;
            let data = (0..m * (1 << nbits) * dsub).map(|_| rng.normal()).collect();
            PqCodebooks::new(m, nbits, dsub, data).unwrap()
        })
        .collect();
    let codes: Vec<PqCodes> = (books.iter())
        .map(|b| {
            let bytes = (0..n * b.code_row_bytes()).map(|_| rng.next_u64() as u8);
            PqCodes::new(b.m(), b.nbits(), bytes.collect()).unwrap()
        })
        .collect();
    let views: Vec<PqView<'_>> = codes.iter().map(PqCodes::view).collect();
    let ids: Vec<u64> = (0..n as u64).collect();
    let schema = Schema::pq_columns(&shapes, PqMetric::InnerProduct).unwrap();
    let one = tmp.path().join("hcq-one");
    Index::create_pq_columns(&one, schema.clone(), books.clone())
        .unwrap()
        .append_pq_columns(&ids, &views)
        .unwrap();
    let eight = tmp.path().join("hcq-eight");
    {
        let mut index = Index::create_pq_columns(&eight, schema, books.clone()).unwrap();
        for s in 0..8 {
            let (a, b) = (s * n / 8, (s + 1) * n / 8);
            let part: Vec<PqView<'_>> = views.iter().map(|v| v.slice(a, b)).collect();
            index.append_pq_columns(&ids[a..b], &part).unwrap();
        }
    }
    let query: Vec<f32> = (0..256).map(|_| rng.normal()).collect();
    let idx_one = Index::open(&one).unwrap();
    let idx_eight = Index::open(&eight).unwrap();
    let weights = idx_one.pq_default_weights();
    let columns: Vec<PqColumn<'_>> = (books.iter().zip(&views).zip(&weights))
        .map(|((books, &codes), &weight)| PqColumn {
            books,
            codes,
            weight,
        })
        .collect();
    let queries = vec![query.as_slice(); columns.len()];
    let opts = PqSearchOptions::default();
    let mut g = c.benchmark_group("store_search_pq_columns_1M_d256_hcq3_k10");
    g.sample_size(10);
    g.bench_function("raw_scan", |b| {
        b.iter(|| {
            black_box(
                multi_column_knn(&columns, &queries, PqMetric::InnerProduct, 10, &opts).unwrap(),
            )
        })
    });
    g.bench_function("index_1_segment", |b| {
        b.iter(|| black_box(idx_one.search_pq_columns(&query, 10, None).unwrap()))
    });
    g.bench_function("index_8_segments", |b| {
        b.iter(|| black_box(idx_eight.search_pq_columns(&query, 10, None).unwrap()))
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_build,
    bench_open_and_search,
    bench_pq_search,
    bench_pq_multi_column_search
);
criterion_main!(benches);
