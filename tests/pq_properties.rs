//! Property tests of every PQ scan path against brute-force scoring of decoded vectors,
//! on awkward sizes (n not a multiple of 32, odd M, n = 0), plus the fast-scan recall
//! check against exact ADC.

use crosscode::code::pq::{PqCodebooks, PqCodes, PqMetric, code_row_bytes};
use crosscode::rng::Rng;
use crosscode::scan::pq::fastscan::{quantized_sums, quantized_sums_reference};
use crosscode::scan::pq::{
    AdcTable, FastScanCodes, PqColumn, PqKernel, PqSearchOptions, QuantizedTable, ScoredNeighbor,
    fast_scan_knn, fast_scan_knn_batch, multi_column_knn, pq_knn, pq_knn_batch,
};
use crosscode::train::{PqTrainConfig, train_pq};
use proptest::prelude::*;

fn random_books(m: usize, nbits: u8, dsub: usize, rng: &mut Rng) -> PqCodebooks {
    let len = m * (1 << nbits) * dsub;
    PqCodebooks::new(m, nbits, dsub, (0..len).map(|_| rng.normal()).collect()).unwrap()
}

fn random_codes(m: usize, nbits: u8, n: usize, rng: &mut Rng) -> PqCodes {
    let row = code_row_bytes(m, nbits);
    let bytes = (0..n * row)
        .map(|i| {
            let b = rng.next_u64() as u8;
            if nbits == 4 && m % 2 == 1 && i % row == row - 1 {
                b & 0x0f
            } else {
                b
            }
        })
        .collect();
    PqCodes::new(m, nbits, bytes).unwrap()
}

/// Exact score of every decoded row.
fn brute_scores(decoded: &[f32], query: &[f32], metric: PqMetric) -> Vec<f32> {
    decoded
        .chunks_exact(query.len())
        .map(|x| match metric {
            PqMetric::SquaredL2 => x.iter().zip(query).map(|(a, b)| (a - b) * (a - b)).sum(),
            PqMetric::InnerProduct => x.iter().zip(query).map(|(a, b)| a * b).sum(),
        })
        .collect()
}

/// `got` is a correct top-k of `exact` up to float rounding: right length, sorted best
/// first, each score the row's exact score, and no row left out that beats the worst
/// kept one by more than the tolerance.
fn check_top_k(got: &[ScoredNeighbor], exact: &[f32], k: usize, metric: PqMetric) {
    let tol = 1e-3 * (1.0 + exact.iter().fold(0.0f32, |a, b| a.max(b.abs())));
    assert_eq!(got.len(), k.min(exact.len()));
    let better = |a: f32, b: f32| metric.better(a, b);
    for w in got.windows(2) {
        assert!(
            !better(
                w[1].score,
                w[0].score
                    + if metric == PqMetric::InnerProduct {
                        tol
                    } else {
                        -tol
                    }
            ),
            "not sorted: {got:?}"
        );
    }
    for n in got {
        assert!(
            (n.score - exact[n.row]).abs() <= tol,
            "row {} score {} exact {}",
            n.row,
            n.score,
            exact[n.row]
        );
    }
    if let Some(worst) = got.last() {
        let kept: std::collections::HashSet<usize> = got.iter().map(|n| n.row).collect();
        for (row, &s) in exact.iter().enumerate() {
            if !kept.contains(&row) {
                let margin = match metric {
                    PqMetric::InnerProduct => s - worst.score,
                    PqMetric::SquaredL2 => worst.score - s,
                };
                assert!(margin <= tol, "row {row} ({s}) beats kept {worst:?}");
            }
        }
    }
}

fn metric_of(ip: bool) -> PqMetric {
    if ip {
        PqMetric::InnerProduct
    } else {
        PqMetric::SquaredL2
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn adc_scans_match_brute_force(
        m in 1usize..8, eight in any::<bool>(), dsub in 1usize..4, n in 0usize..150,
        k in 0usize..20, ip in any::<bool>(), nq in 1usize..12, seed in any::<u64>(),
    ) {
        let nbits = if eight { 8 } else { 4 };
        let metric = metric_of(ip);
        let mut rng = Rng::new(seed);
        let books = random_books(m, nbits, dsub, &mut rng);
        let codes = random_codes(m, nbits, n, &mut rng);
        let decoded = books.decode(codes.view()).unwrap();
        let queries: Vec<f32> = (0..nq * books.dim()).map(|_| rng.normal()).collect();
        for kernel in PqKernel::available() {
            let opts = PqSearchOptions { single_threaded: true, ..PqSearchOptions::with_kernel(kernel) };
            let batch = pq_knn_batch(&books, codes.view(), &queries, metric, k, &opts).unwrap();
            let parallel = pq_knn_batch(&books, codes.view(), &queries, metric, k, &PqSearchOptions::with_kernel(kernel)).unwrap();
            for (qi, q) in queries.chunks_exact(books.dim()).enumerate() {
                let exact = brute_scores(&decoded, q, metric);
                let single = pq_knn(&books, codes.view(), q, metric, k, &opts).unwrap();
                check_top_k(&single, &exact, k, metric);
                check_top_k(&batch[qi], &exact, k, metric);
                check_top_k(&parallel[qi], &exact, k, metric);
            }
        }
    }

    #[test]
    fn fast_scan_sums_equal_the_reference(
        m in 1usize..12, n in 0usize..200, ip in any::<bool>(), seed in any::<u64>(),
    ) {
        let mut rng = Rng::new(seed);
        let books = random_books(m, 4, 2, &mut rng);
        let codes = random_codes(m, 4, n, &mut rng);
        let fast = FastScanCodes::from_view(codes.view()).unwrap();
        for row in 0..n {
            for sub in 0..m {
                prop_assert_eq!(fast.code(row, sub), codes.view().code(row, sub));
            }
        }
        let q: Vec<f32> = (0..books.dim()).map(|_| rng.normal()).collect();
        let table = QuantizedTable::new(&AdcTable::new(&books, &q, metric_of(ip), 1.0).unwrap()).unwrap();
        let reference = quantized_sums_reference(&table, codes.view());
        for kernel in PqKernel::available() {
            prop_assert_eq!(&quantized_sums(kernel, &table, &fast).unwrap(), &reference, "{:?}", kernel);
        }
    }

    #[test]
    fn fast_scan_with_full_rerank_is_exact(
        m in 1usize..9, n in 0usize..130, k in 0usize..12, ip in any::<bool>(), nq in 1usize..10,
        seed in any::<u64>(),
    ) {
        let metric = metric_of(ip);
        let mut rng = Rng::new(seed);
        let books = random_books(m, 4, 3, &mut rng);
        let codes = random_codes(m, 4, n, &mut rng);
        let fast = FastScanCodes::from_view(codes.view()).unwrap();
        let decoded = books.decode(codes.view()).unwrap();
        let queries: Vec<f32> = (0..nq * books.dim()).map(|_| rng.normal()).collect();
        for kernel in PqKernel::available() {
            // A shortlist as long as the database re-ranks everything: exact.
            let opts = PqSearchOptions { rerank_factor: n.max(1), ..PqSearchOptions::with_kernel(kernel) };
            let batch = fast_scan_knn_batch(&books, &fast, &queries, metric, k, &opts).unwrap();
            for (qi, q) in queries.chunks_exact(books.dim()).enumerate() {
                let exact = brute_scores(&decoded, q, metric);
                let got = fast_scan_knn(&books, &fast, q, metric, k, &opts).unwrap();
                check_top_k(&got, &exact, k, metric);
                check_top_k(&batch[qi], &exact, k, metric);
            }
        }
    }

    #[test]
    fn multi_column_matches_weighted_brute_force(
        columns in 1usize..4, n in 0usize..90, k in 0usize..10, ip in any::<bool>(), seed in any::<u64>(),
    ) {
        let metric = metric_of(ip);
        let mut rng = Rng::new(seed);
        let dim = 6;
        let books: Vec<PqCodebooks> = (0..columns)
            .map(|c| if c % 2 == 0 { random_books(3, 8, 2, &mut rng) } else { random_books(2, 4, 3, &mut rng) })
            .collect();
        let codes: Vec<PqCodes> = books.iter().map(|b| random_codes(b.m(), b.nbits(), n, &mut rng)).collect();
        let weights: Vec<f32> = (0..columns).map(|c| if c == 0 { 1.0 } else { 0.5 + c as f32 }).collect();
        let queries: Vec<Vec<f32>> = (0..columns).map(|_| (0..dim).map(|_| rng.normal()).collect()).collect();
        let mut exact = vec![0f32; n];
        for c in 0..columns {
            let s = brute_scores(&books[c].decode(codes[c].view()).unwrap(), &queries[c], metric);
            exact.iter_mut().zip(s).for_each(|(e, s)| *e += weights[c] * s);
        }
        let cols: Vec<PqColumn> = (0..columns)
            .map(|c| PqColumn { books: &books[c], codes: codes[c].view(), weight: weights[c] })
            .collect();
        let qrefs: Vec<&[f32]> = queries.iter().map(|q| q.as_slice()).collect();
        for kernel in PqKernel::available() {
            let got = multi_column_knn(&cols, &qrefs, metric, k, &PqSearchOptions::with_kernel(kernel)).unwrap();
            check_top_k(&got, &exact, k, metric);
        }
    }
}

/// Every kernel, saying once which ones this CPU cannot run (their checks are skipped).
fn kernels() -> Vec<PqKernel> {
    for k in PqKernel::ALL {
        if !k.is_available() {
            eprintln!(
                "skipping the {} PQ kernel: this CPU lacks its features",
                k.name()
            );
        }
    }
    PqKernel::available()
}

#[test]
fn fast_scan_sums_across_the_pass_limits() {
    // M around 256 (AVX2: 128 pairs in u16) and 512 (AVX-512: 256 pairs a pass), odd
    // and even, rows not a multiple of the 32-row block; a query far from codeword 0
    // of every sub-quantizer so the sums are large.
    let mut rng = Rng::new(23);
    for m in [255usize, 256, 257, 258, 511, 512, 513, 514, 515] {
        for n in [1usize, 31, 70] {
            let books = random_books(m, 4, 1, &mut rng);
            let codes = random_codes(m, 4, n, &mut rng);
            let fast = FastScanCodes::from_view(codes.view()).unwrap();
            let q: Vec<f32> = (0..m).map(|_| 3.0 * rng.normal()).collect();
            let table =
                QuantizedTable::new(&AdcTable::new(&books, &q, PqMetric::SquaredL2, 1.0).unwrap())
                    .unwrap();
            let reference = quantized_sums_reference(&table, codes.view());
            for kernel in kernels() {
                assert_eq!(
                    quantized_sums(kernel, &table, &fast).unwrap(),
                    reference,
                    "{kernel:?} m {m} n {n}"
                );
            }
        }
    }
}

#[test]
fn batched_fast_scan_groups_agree_across_kernels() {
    // 8-query groups (AVX-512), 4-query groups (AVX2), and a remainder, with a short
    // shortlist so that its selection (ties included: few distinct codes) matters.
    let mut rng = Rng::new(29);
    for (m, n, nq) in [(7usize, 1000usize, 19usize), (64, 777, 11), (33, 300, 9)] {
        let books = random_books(m, 4, 2, &mut rng);
        let codes = random_codes(m, 4, n, &mut rng);
        let fast = FastScanCodes::from_view(codes.view()).unwrap();
        let queries: Vec<f32> = (0..nq * books.dim()).map(|_| rng.normal()).collect();
        for k in [1usize, 10, 40] {
            let run = |kernel| {
                let opts = PqSearchOptions {
                    single_threaded: true,
                    rerank_factor: 2,
                    ..PqSearchOptions::with_kernel(kernel)
                };
                let batch =
                    fast_scan_knn_batch(&books, &fast, &queries, PqMetric::SquaredL2, k, &opts)
                        .unwrap();
                let single: Vec<Vec<ScoredNeighbor>> = queries
                    .chunks_exact(books.dim())
                    .map(|q| {
                        fast_scan_knn(&books, &fast, q, PqMetric::SquaredL2, k, &opts).unwrap()
                    })
                    .collect();
                (batch, single)
            };
            let (want, want_single) = run(PqKernel::Scalar);
            assert_eq!(want, want_single);
            for kernel in kernels() {
                let (batch, single) = run(kernel);
                assert_eq!(batch, want, "{kernel:?} m {m} n {n} k {k}");
                assert_eq!(single, want, "{kernel:?} m {m} n {n} k {k}");
            }
        }
    }
}

#[test]
fn huge_k_returns_every_row() {
    let mut rng = Rng::new(31);
    let books = random_books(5, 4, 2, &mut rng);
    let codes = random_codes(5, 4, 77, &mut rng);
    let fast = FastScanCodes::from_view(codes.view()).unwrap();
    let q: Vec<f32> = (0..books.dim()).map(|_| rng.normal()).collect();
    for kernel in kernels() {
        let opts = PqSearchOptions::with_kernel(kernel);
        for k in [usize::MAX / 2, usize::MAX] {
            let got = fast_scan_knn(&books, &fast, &q, PqMetric::SquaredL2, k, &opts).unwrap();
            assert_eq!(got.len(), 77, "{kernel:?} k {k}");
            let batch =
                fast_scan_knn_batch(&books, &fast, &q, PqMetric::SquaredL2, k, &opts).unwrap();
            assert_eq!(batch[0].len(), 77, "{kernel:?} k {k}");
        }
    }
}

#[test]
fn many_sub_quantizers_take_the_wide_fast_scan_path() {
    // M = 1201: more than 128 pairs, and sums past u16: in every sub-quantizer codeword
    // 0 sits on the query and the other fifteen far away, so most entries quantise
    // to the largest value.
    let mut rng = Rng::new(5);
    let data: Vec<f32> = (0..1201 * 16)
        .map(|i| {
            if i % 16 == 0 {
                0.0
            } else {
                10.0 + 0.1 * rng.normal()
            }
        })
        .collect();
    let books = PqCodebooks::new(1201, 4, 1, data).unwrap();
    let codes = random_codes(1201, 4, 70, &mut rng);
    let fast = FastScanCodes::from_view(codes.view()).unwrap();
    let q = vec![0.0f32; 1201];
    let table =
        QuantizedTable::new(&AdcTable::new(&books, &q, PqMetric::SquaredL2, 1.0).unwrap()).unwrap();
    let reference = quantized_sums_reference(&table, codes.view());
    assert!(reference.iter().any(|&s| s > 65535));
    for kernel in kernels() {
        assert_eq!(
            quantized_sums(kernel, &table, &fast).unwrap(),
            reference,
            "{kernel:?}"
        );
    }
}

#[test]
fn fast_scan_rerank_reaches_recall_at_10_against_exact_adc() {
    // Clustered 32-d data, 4-bit PQ with M = 16 trained on it.
    let (n, dim, nq) = (20_000, 32, 50);
    let mut rng = Rng::new(17);
    let centres: Vec<f32> = (0..64 * dim).map(|_| 3.0 * rng.normal()).collect();
    let data: Vec<f32> = (0..n + nq)
        .flat_map(|i| {
            let c = (i * 7) % 64;
            (0..dim)
                .map(|j| centres[c * dim + j] + rng.normal())
                .collect::<Vec<_>>()
        })
        .collect();
    let (base, queries) = data.split_at(n * dim);
    let books = train_pq(
        base,
        dim,
        &PqTrainConfig {
            iterations: 8,
            ..PqTrainConfig::new(16, 4)
        },
    )
    .unwrap();
    let codes = books.encode(base, PqMetric::SquaredL2).unwrap();
    let fast = FastScanCodes::from_view(codes.view()).unwrap();
    for metric in [PqMetric::SquaredL2, PqMetric::InnerProduct] {
        let opts = PqSearchOptions::default();
        let exact = pq_knn_batch(&books, codes.view(), queries, metric, 10, &opts).unwrap();
        let got = fast_scan_knn_batch(&books, &fast, queries, metric, 10, &opts).unwrap();
        let mut hits = 0;
        for (e, g) in exact.iter().zip(&got) {
            let rows: std::collections::HashSet<usize> = g.iter().map(|n| n.row).collect();
            hits += e.iter().filter(|n| rows.contains(&n.row)).count();
        }
        let recall = hits as f64 / (10 * nq) as f64;
        assert!(recall >= 0.99, "{metric:?} recall@10 = {recall}");
    }
}
