//! Every Hamming kernel and every search entry point against brute force on random
//! codes: lengths 8..=4096 bits (not only powers of two), 0 to a few thousand rows,
//! duplicates and ties.

use crosscode::code::BinaryCodes;
use crosscode::rng::Rng;
use crosscode::scan::hamming::reference_distance;
use crosscode::scan::{self, Chain, HammingKernel, Neighbor, RowFilter, SearchOptions};
use proptest::prelude::*;

/// Random codes; with `pool > 0`, rows are copies of `pool` random codes with a few bits
/// flipped, so exact duplicates and equal distances are common.
fn codes(bits: usize, n: usize, pool: usize, seed: u64) -> BinaryCodes {
    let base = BinaryCodes::random(bits, n.max(1), seed).unwrap();
    if pool == 0 {
        return BinaryCodes::random(bits, n, seed).unwrap();
    }
    let mut rng = Rng::new(seed ^ 0xabcd);
    let mut signs = Vec::with_capacity(n * bits);
    let pool_signs = base.to_signs();
    for _ in 0..n {
        let p = rng.below(pool.min(base.len()));
        let mut row = pool_signs[p * bits..(p + 1) * bits].to_vec();
        for _ in 0..rng.below(3) {
            let b = rng.below(bits);
            row[b] = -row[b];
        }
        signs.extend(row);
    }
    BinaryCodes::from_signs(bits, &signs).unwrap()
}

fn brute_sorted(db: &BinaryCodes, query: &[u64]) -> Vec<Neighbor> {
    let mut all: Vec<Neighbor> = (0..db.len())
        .map(|row| Neighbor {
            row,
            distance: reference_distance(query, db.row(row).unwrap()),
        })
        .collect();
    all.sort_by_key(|n| (n.distance, n.row));
    all
}

fn fast_kernels() -> Vec<HammingKernel> {
    let all = HammingKernel::available();
    for k in HammingKernel::ALL {
        if !all.contains(&k) {
            eprintln!("skipping kernel {}: not supported by this CPU", k.name());
        }
    }
    all
}

fn bits_strategy() -> impl Strategy<Value = usize> {
    prop_oneof![
        (1usize..=17).prop_map(|b| b * 8),
        (1usize..=512).prop_map(|b| b * 8),
        Just(4096usize),
        Just(64usize),
        Just(256usize),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_kernel_gives_reference_distances(
        bits in bits_strategy(), n in 0usize..600, pool in 0usize..4, seed in any::<u64>(),
    ) {
        let db = codes(bits, n, pool, seed);
        let q = codes(bits, 1, 0, seed ^ 1);
        let query = q.row(0).unwrap();
        let expect: Vec<u32> = (0..n).map(|r| reference_distance(query, db.row(r).unwrap())).collect();
        for kernel in fast_kernels() {
            let got = scan::all_distances(db.view(), query, &SearchOptions::with_kernel(kernel)).unwrap();
            prop_assert_eq!(&got, &expect, "kernel {:?}", kernel);
        }
    }

    #[test]
    fn knn_matches_brute_force(
        bits in bits_strategy(), n in 0usize..3000, k in 0usize..150, pool in 0usize..4,
        seed in any::<u64>(),
    ) {
        let db = codes(bits, n, pool, seed);
        let q = codes(bits, 1, pool, seed);
        let query = q.row(0).unwrap();
        let mut expect = brute_sorted(&db, query);
        expect.truncate(k);
        for kernel in fast_kernels() {
            for single_threaded in [false, true] {
                let opts = SearchOptions { kernel: Some(kernel), single_threaded };
                let got = scan::knn(db.view(), query, k, &opts).unwrap();
                prop_assert_eq!(&got, &expect, "kernel {:?}", kernel);
            }
        }
    }

    #[test]
    fn knn_batch_matches_brute_force(
        bits in bits_strategy(), n in 0usize..1500, nq in 0usize..24, k in 0usize..40,
        pool in 0usize..3, seed in any::<u64>(),
    ) {
        let db = codes(bits, n, pool, seed);
        let qs = codes(bits, nq, pool, seed ^ 7);
        let expect: Vec<Vec<Neighbor>> = (0..nq)
            .map(|i| {
                let mut e = brute_sorted(&db, qs.row(i).unwrap());
                e.truncate(k);
                e
            })
            .collect();
        for kernel in fast_kernels() {
            for single_threaded in [false, true] {
                let opts = SearchOptions { kernel: Some(kernel), single_threaded };
                let got = scan::knn_batch(db.view(), qs.view(), k, &opts).unwrap();
                prop_assert_eq!(&got, &expect, "kernel {:?}", kernel);
            }
        }
    }

    #[test]
    fn range_matches_brute_force(
        bits in bits_strategy(), n in 0usize..2000, nq in 1usize..4, radius in 0u32..80,
        pool in 0usize..4, seed in any::<u64>(),
    ) {
        let db = codes(bits, n, pool, seed);
        let qs = codes(bits, nq, pool, seed ^ 3);
        // Radii near the typical distance (bits / 2) make the test bite for long codes.
        let radius = radius + (bits as u32 / 2).saturating_sub(40) * (seed % 2) as u32;
        let expect: Vec<Vec<Neighbor>> = (0..nq)
            .map(|i| {
                brute_sorted(&db, qs.row(i).unwrap())
                    .into_iter()
                    .filter(|n| n.distance <= radius)
                    .collect()
            })
            .collect();
        for kernel in fast_kernels() {
            let opts = SearchOptions::with_kernel(kernel);
            let got = scan::range_batch(db.view(), qs.view(), radius, &opts).unwrap();
            prop_assert_eq!(&got, &expect, "kernel {:?}", kernel);
        }
    }
}

/// Views of `db` cut at sorted `cuts` (empty parts allowed), chained.
fn chain_at<'a>(db: &'a BinaryCodes, cuts: &[usize]) -> Chain<'a> {
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (db.len() + 1)).collect();
    bounds.push(0);
    bounds.push(db.len());
    bounds.sort_unstable();
    let parts = bounds
        .windows(2)
        .map(|w| db.view().slice(w[0], w[1]).unwrap())
        .collect();
    Chain::new(db.bits(), parts).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Chained views with a row filter give what brute force gives over the kept rows
    /// of the concatenation.
    #[test]
    fn chained_filtered_searches_match_brute_force(
        bits in bits_strategy(), n in 0usize..2500, nq in 0usize..12, k in 0usize..40,
        cuts in proptest::collection::vec(any::<usize>(), 0..5), drop_every in 0usize..4,
        radius in 0u32..60, pool in 0usize..3, seed in any::<u64>(),
    ) {
        let db = codes(bits, n, pool, seed);
        let qs = codes(bits, nq, pool, seed ^ 11);
        let chain = chain_at(&db, &cuts);
        prop_assert_eq!(chain.len(), n);
        let keep_row = |row: usize| drop_every == 0 || !row.is_multiple_of(drop_every + 1);
        let keep: Option<RowFilter> = (drop_every > 0).then_some(&keep_row as RowFilter);
        let kept = |q: &[u64]| -> Vec<Neighbor> {
            brute_sorted(&db, q).into_iter().filter(|n| keep_row(n.row)).collect()
        };
        for kernel in fast_kernels() {
            for single_threaded in [false, true] {
                let opts = SearchOptions { kernel: Some(kernel), single_threaded };
                let batch = scan::knn_batch_chain(&chain, qs.view(), k, keep, &opts).unwrap();
                prop_assert_eq!(batch.len(), nq);
                for (i, got) in batch.iter().enumerate() {
                    let q = qs.row(i).unwrap();
                    let mut expect = kept(q);
                    let within: Vec<Neighbor> =
                        expect.iter().copied().filter(|n| n.distance <= radius).collect();
                    expect.truncate(k);
                    prop_assert_eq!(got, &expect, "batch, kernel {:?}", kernel);
                    let one = scan::knn_chain(&chain, q, k, keep, &opts).unwrap();
                    prop_assert_eq!(&one, &expect, "single, kernel {:?}", kernel);
                    let r = scan::range_chain(&chain, q, radius, keep, &opts).unwrap();
                    prop_assert_eq!(&r, &within, "range, kernel {:?}", kernel);
                }
            }
        }
    }
}

/// Large enough to be split into row chunks and merged, with 8-bit codes: nearly every
/// distance is tied with thousands of others.
#[test]
fn chunked_parallel_knn_breaks_ties_by_row() {
    let db = codes(8, 150_000, 0, 42);
    let q = codes(8, 1, 0, 43);
    let query = q.row(0).unwrap();
    let expect = brute_sorted(&db, query);
    for kernel in fast_kernels() {
        for k in [1, 10, 1000] {
            let got = scan::knn(db.view(), query, k, &SearchOptions::with_kernel(kernel)).unwrap();
            assert_eq!(got, expect[..k], "kernel {kernel:?} k {k}");
        }
        let r = scan::range(db.view(), query, 2, &SearchOptions::with_kernel(kernel)).unwrap();
        let e: Vec<Neighbor> = expect.iter().copied().filter(|n| n.distance <= 2).collect();
        assert_eq!(r, e, "kernel {kernel:?}");
    }
}

#[test]
fn degenerate_requests_are_empty_or_errors() {
    let db = codes(64, 10, 0, 1);
    let q = codes(64, 1, 0, 2);
    let opts = SearchOptions::default();
    assert!(
        scan::knn(db.view(), q.row(0).unwrap(), 0, &opts)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        scan::knn(db.view(), q.row(0).unwrap(), 50, &opts)
            .unwrap()
            .len(),
        10
    );
    let empty = BinaryCodes::empty(64).unwrap();
    assert!(
        scan::knn(empty.view(), q.row(0).unwrap(), 5, &opts)
            .unwrap()
            .is_empty()
    );
    assert!(
        scan::knn_batch(db.view(), empty.view(), 5, &opts)
            .unwrap()
            .is_empty()
    );
    assert!(
        scan::range(empty.view(), q.row(0).unwrap(), 3, &opts)
            .unwrap()
            .is_empty()
    );
    // Wrong query length, wrong bits: typed errors.
    assert!(matches!(
        scan::knn(db.view(), &[0, 0], 1, &opts),
        Err(crosscode::Error::DimensionMismatch {
            expected: 1,
            found: 2,
            ..
        })
    ));
    let q128 = codes(128, 2, 0, 3);
    assert!(scan::knn_batch(db.view(), q128.view(), 1, &opts).is_err());
    // A kernel the CPU lacks is an error, not undefined behaviour.
    for k in HammingKernel::ALL {
        let r = scan::knn(
            db.view(),
            q.row(0).unwrap(),
            1,
            &SearchOptions::with_kernel(k),
        );
        assert_eq!(r.is_ok(), k.is_available());
    }
}
