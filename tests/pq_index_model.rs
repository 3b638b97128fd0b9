//! Model-based test of a PQ `Index`: random sequences of appends (codes and float
//! vectors), deletes, compactions, reopenings and searches, checked against a map of live
//! rows scored by brute force on their decoded vectors.
//!
//! Codewords and queries are small integers, so every score is exact in f32 whatever
//! the summation order and ties are frequent: results must match the reference exactly,
//! ties by smaller id. 4-bit searches run with a re-rank shortlist larger than the index,
//! which makes the fast scan exact (its recall at the default shortlist is tested in
//! `tests/pq_properties.rs`).

use std::collections::BTreeMap;

use crosscode::rng::Rng;
use crosscode::{Index, PqCodebooks, PqCodes, PqHit, PqMetric, PqSearchOptions, Schema};
use proptest::prelude::*;
use roaring::RoaringTreemap;

const M: usize = 4;
const DSUB: usize = 2;

fn books(nbits: u8, seed: u64) -> PqCodebooks {
    let mut rng = Rng::new(seed);
    let len = M * (1 << nbits) * DSUB;
    let data = (0..len).map(|_| rng.below(7) as f32 - 3.0).collect();
    PqCodebooks::new(M, nbits, DSUB, data).unwrap()
}

/// Codes of one row, one value per sub-quantizer.
type Row = Vec<u8>;

fn pack(rows: &[Row], nbits: u8) -> PqCodes {
    let mut bytes = Vec::new();
    for r in rows {
        if nbits == 8 {
            bytes.extend_from_slice(r);
        } else {
            bytes.extend(r.chunks(2).map(|p| p[0] | (p[1] << 4)));
        }
    }
    PqCodes::new(M, nbits, bytes).unwrap()
}

fn score(books: &PqCodebooks, metric: PqMetric, row: &Row, q: &[f32]) -> f32 {
    let mut s = 0.0f64;
    for (sub, &c) in row.iter().enumerate() {
        let w = books.codeword(sub, c as usize).unwrap();
        for (a, b) in w.iter().zip(&q[sub * DSUB..]) {
            s += match metric {
                PqMetric::InnerProduct => f64::from(*a) * f64::from(*b),
                PqMetric::SquaredL2 => (f64::from(*a) - f64::from(*b)).powi(2),
            };
        }
    }
    s as f32
}

fn brute(
    books: &PqCodebooks,
    metric: PqMetric,
    live: &BTreeMap<u64, Row>,
    q: &[f32],
    k: usize,
    allowed: Option<&RoaringTreemap>,
) -> Vec<(u64, f32)> {
    let mut all: Vec<(u64, f32)> = live
        .iter()
        .filter(|(id, _)| allowed.is_none_or(|a| a.contains(**id)))
        .map(|(&id, r)| (id, score(books, metric, r, q)))
        .collect();
    all.sort_by(|a, b| {
        let s = match metric {
            PqMetric::SquaredL2 => a.1.partial_cmp(&b.1).unwrap(),
            PqMetric::InnerProduct => b.1.partial_cmp(&a.1).unwrap(),
        };
        s.then(a.0.cmp(&b.0))
    });
    all.truncate(k);
    all
}

fn pairs(hits: &[PqHit]) -> Vec<(u64, f32)> {
    hits.iter().map(|h| (h.id, h.score)).collect()
}

fn exact_options(index: &mut Index) {
    index.set_pq_search_options(PqSearchOptions {
        rerank_factor: 1 << 20,
        ..PqSearchOptions::default()
    });
}

fn check_searches(
    index: &Index,
    books: &PqCodebooks,
    metric: PqMetric,
    live: &BTreeMap<u64, Row>,
    rng: &mut Rng,
) {
    let nq = 3;
    let queries: Vec<f32> = (0..nq * M * DSUB)
        .map(|_| rng.below(7) as f32 - 3.0)
        .collect();
    let k = 1 + rng.below(12);
    let allowed: RoaringTreemap = (0..1000u64).filter(|_| rng.below(2) == 0).collect();
    let batch = index.search_pq_batch(&queries, k, None).unwrap();
    let batch_f = index.search_pq_batch(&queries, k, Some(&allowed)).unwrap();
    for (qi, q) in queries.chunks_exact(M * DSUB).enumerate() {
        let want = brute(books, metric, live, q, k, None);
        assert_eq!(pairs(&index.search_pq(q, k).unwrap()), want, "single");
        assert_eq!(pairs(&batch[qi]), want, "batch");
        let want_f = brute(books, metric, live, q, k, Some(&allowed));
        assert_eq!(
            pairs(&index.search_pq_filtered(q, k, &allowed).unwrap()),
            want_f,
            "filtered"
        );
        assert_eq!(pairs(&batch_f[qi]), want_f, "filtered batch");
    }
}

fn run_model(nbits: u8, metric: PqMetric, seed: u64, steps: usize) {
    let dir = tempfile::tempdir().unwrap();
    let books = books(nbits, seed);
    let mut index = Index::create_pq(
        dir.path(),
        Schema::pq(M, nbits, metric).unwrap(),
        books.clone(),
    )
    .unwrap();
    exact_options(&mut index);
    let mut live: BTreeMap<u64, Row> = BTreeMap::new();
    let mut rng = Rng::new(seed ^ 0x5eed);
    let k_codes = 1usize << nbits;
    for _ in 0..steps {
        match rng.below(10) {
            0..=3 => {
                // Append a batch of new ids in random order (codes or float vectors).
                // Ids come from 0..1000 and a batch never asks for more than are free.
                let n = (1 + rng.below(40)).min(1000 - live.len());
                let mut ids = Vec::new();
                while ids.len() < n {
                    let id = rng.below(1000) as u64;
                    if !live.contains_key(&id) && !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                let rows: Vec<Row> = (0..n)
                    .map(|_| (0..M).map(|_| rng.below(k_codes) as u8).collect())
                    .collect();
                if rng.below(3) == 0 {
                    // Decoded vectors encode back to their own codes unless two
                    // codewords tie; the model takes whatever the index stored.
                    let codes = pack(&rows, nbits);
                    let vectors = books.decode(codes.view()).unwrap();
                    index.append_vectors(&ids, &vectors).unwrap();
                    for &id in &ids {
                        let stored = index.get_pq(id).unwrap();
                        let row: Row = (0..M)
                            .map(|s| {
                                if nbits == 8 {
                                    stored[s]
                                } else {
                                    (stored[s / 2] >> (4 * (s % 2))) & 15
                                }
                            })
                            .collect();
                        live.insert(id, row);
                    }
                } else {
                    index.append_pq(&ids, pack(&rows, nbits).view()).unwrap();
                    for (id, r) in ids.iter().zip(rows) {
                        live.insert(*id, r);
                    }
                }
                // A live id appended again is refused and changes nothing.
                if let Some(&id) = live.keys().next() {
                    let one = pack(&[vec![0; M]], nbits);
                    assert!(index.append_pq(&[id], one.view()).is_err());
                }
            }
            4..=5 if !live.is_empty() => {
                let ids: Vec<u64> = live.keys().copied().filter(|_| rng.below(4) == 0).collect();
                assert_eq!(index.delete(&ids).unwrap(), ids.len() as u64);
                for id in ids {
                    live.remove(&id);
                }
            }
            6 => {
                index.compact().unwrap();
                assert!(index.manifest().segments.len() <= 1);
            }
            7 => {
                drop(index);
                index = Index::open_writer(dir.path()).unwrap();
                exact_options(&mut index);
                assert_eq!(index.pq_codebooks(), Some(&books));
            }
            _ => check_searches(&index, &books, metric, &live, &mut rng),
        }
        assert_eq!(index.len(), live.len() as u64);
        assert_eq!(index.live_ids(), live.keys().copied().collect::<Vec<_>>());
    }
    check_searches(&index, &books, metric, &live, &mut rng);
    index.verify().unwrap();
    let mut reader = Index::open(dir.path()).unwrap();
    exact_options(&mut reader);
    check_searches(&reader, &books, metric, &live, &mut rng);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn pq_index_matches_the_model(
        seed in 0u64..1_000_000,
        nbits in prop::sample::select(vec![4u8, 8]),
        ip in any::<bool>(),
    ) {
        let metric = if ip { PqMetric::InnerProduct } else { PqMetric::SquaredL2 };
        run_model(nbits, metric, seed, 40);
    }
}

#[test]
fn binary_and_pq_entry_points_refuse_the_other_kind() {
    let dir = tempfile::tempdir().unwrap();
    let b = books(8, 1);
    let mut pq = Index::create_pq(
        dir.path().join("pq"),
        Schema::pq(M, 8, PqMetric::SquaredL2).unwrap(),
        b.clone(),
    )
    .unwrap();
    assert!(matches!(
        pq.search(&[0], 1),
        Err(crosscode::Error::SchemaMismatch { .. })
    ));
    let codes = crosscode::BinaryCodes::random(64, 2, 1).unwrap();
    assert!(pq.append(&[1, 2], codes.view()).is_err());
    assert!(matches!(
        pq.search_pq(&[0.0; 3], 1),
        Err(crosscode::Error::DimensionMismatch { .. })
    ));
    let mut nan = vec![0.0f32; M * DSUB];
    nan[3] = f32::NAN;
    assert!(matches!(
        pq.search_pq(&nan, 1),
        Err(crosscode::Error::NonFinite { .. })
    ));
    let wrong_m = PqCodes::new(M + 2, 8, vec![0; M + 2]).unwrap();
    assert!(pq.append_pq(&[1], wrong_m.view()).is_err());
    assert!(
        Index::create_pq(
            dir.path().join("other"),
            Schema::pq(M + 2, 8, PqMetric::SquaredL2).unwrap(),
            b,
        )
        .is_err()
    );
    let mut bin = Index::create(dir.path().join("bin"), Schema::binary(64).unwrap()).unwrap();
    bin.append(&[1, 2], codes.view()).unwrap();
    assert!(matches!(
        bin.search_pq(&[0.0; M * DSUB], 1),
        Err(crosscode::Error::SchemaMismatch { .. })
    ));
    assert!(bin.append_vectors(&[3], &[0.0; M * DSUB]).is_err());
    assert!(
        Index::create(
            dir.path().join("x"),
            Schema::pq(M, 8, PqMetric::SquaredL2).unwrap()
        )
        .is_err()
    );
}

#[test]
fn corrupt_pq_segment_and_codebooks_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let b = books(8, 3);
    let mut index = Index::create_pq(
        dir.path(),
        Schema::pq(M, 8, PqMetric::InnerProduct).unwrap(),
        b,
    )
    .unwrap();
    let rows: Vec<Row> = (0..50u8).map(|i| vec![i, i + 1, i + 2, i + 3]).collect();
    index
        .append_pq(&(0..50).collect::<Vec<_>>(), pack(&rows, 8).view())
        .unwrap();
    let seg = dir.path().join(&index.manifest().segments[0].file);
    drop(index);
    Index::open(dir.path()).unwrap().verify().unwrap();
    // A flipped code byte: the segment still opens (no pass over the data), verify names it.
    let good = std::fs::read(&seg).unwrap();
    let col = crosscode::Segment::open(&seg).unwrap().columns()[0].block;
    let mut bad = good.clone();
    bad[col.offset + 17] ^= 0x04;
    std::fs::write(&seg, &bad).unwrap();
    let err = Index::open(dir.path()).unwrap().verify().unwrap_err();
    assert!(
        matches!(&err, crosscode::Error::ChecksumMismatch { block, .. } if block == "column 0"),
        "{err}"
    );
    std::fs::write(&seg, &good).unwrap();
    // A flipped codebook byte fails at open.
    let books_file = dir.path().join("pqbooks-0.ccb");
    let mut bytes = std::fs::read(&books_file).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&books_file, &bytes).unwrap();
    assert!(matches!(
        Index::open(dir.path()),
        Err(crosscode::Error::ChecksumMismatch { .. })
    ));
}
