//! Model-based test of a multi-column PQ `Index` (HCQ: one coarse and L fine columns):
//! random schemas of 2-4 PQ columns (mixed 4/8 bits, different `M` and `dsub`, one
//! query dimension), random sequences of appends (codes per column, or float vectors
//! each column encodes), deletes, compactions and reopenings, and searches checked
//! against a map of live rows scored by brute force.
//!
//! The reference is exact: codewords and queries are small integers, so every column's
//! score is an integer `s_c`, and weights are `n_c / 60` for integers `n_c`, so a row's
//! weighted score is `T / 60` with `T = Σ n_c · s_c` computed in `i64`. Distinct totals
//! differ by at least 1/60, far more than the index's f32 rounding (at most a few 1e-4
//! here), so the comparison can be exact on `T`:
//! - weights whose every `n_c` is 15, 30, 60 or 120 (times ±1) keep the index's f32
//!   arithmetic exact, and results must equal the reference bit for bit, ties by id;
//! - other weights (1/3, …): every hit's score is within `TOL` of its `T / 60`, the
//!   hits' `T`s are exactly the best `T`s of the reference, ids are distinct, live and
//!   allowed, and the index's own order holds (score, then smaller id on equal scores).

use std::collections::BTreeMap;

use crosscode::rng::Rng;
use crosscode::{Error, Index, PqCodebooks, PqCodes, PqHit, PqMetric, PqView, Schema};
use proptest::prelude::*;
use roaring::RoaringTreemap;

/// Query dimension shared by every column.
const DIM: usize = 8;
/// Ids come from `0..IDS`.
const IDS: u64 = 300;
/// Largest f32 rounding error accepted on a weighted score (scores stay below ~1100).
const TOL: f64 = 4e-3;

/// One column of a random schema.
#[derive(Clone, Debug)]
struct ColumnSpec {
    m: usize,
    nbits: u8,
    books: PqCodebooks,
}

impl ColumnSpec {
    fn dsub(&self) -> usize {
        DIM / self.m
    }
}

/// Codes of one row: per column, one code per sub-quantizer.
type Row = Vec<Vec<u8>>;

fn random_columns(rng: &mut Rng) -> Vec<ColumnSpec> {
    let n = 2 + rng.below(3);
    (0..n)
        .map(|_| {
            // (M, nbits) with M · dsub = DIM; 4-bit codes need an even M.
            let shapes = [(1, 8), (2, 4), (2, 8), (4, 4), (4, 8), (8, 4), (8, 8)];
            let (m, nbits) = shapes[rng.below(shapes.len())];
            let len = m * (1 << nbits) * (DIM / m);
            let data = (0..len).map(|_| rng.below(5) as f32 - 2.0).collect();
            let books = PqCodebooks::new(m, nbits, DIM / m, data).unwrap();
            ColumnSpec { m, nbits, books }
        })
        .collect()
}

fn pack(codes: &[&[u8]], m: usize, nbits: u8) -> PqCodes {
    let mut bytes = Vec::new();
    for r in codes {
        assert_eq!(r.len(), m);
        if nbits == 8 {
            bytes.extend_from_slice(r);
        } else {
            bytes.extend(r.chunks(2).map(|p| p[0] | (p[1] << 4)));
        }
    }
    PqCodes::new(m, nbits, bytes).unwrap()
}

fn unpack(bytes: &[u8], m: usize, nbits: u8) -> Vec<u8> {
    (0..m)
        .map(|s| {
            if nbits == 8 {
                bytes[s]
            } else {
                (bytes[s / 2] >> (4 * (s % 2))) & 15
            }
        })
        .collect()
}

/// Exact integer score of one column's codes against an integer query.
fn column_score(col: &ColumnSpec, codes: &[u8], q: &[i64], metric: PqMetric) -> i64 {
    let dsub = col.dsub();
    let mut s = 0i64;
    for (sub, &c) in codes.iter().enumerate() {
        let word = col.books.codeword(sub, c as usize).unwrap();
        for (w, &x) in word.iter().zip(&q[sub * dsub..(sub + 1) * dsub]) {
            let w = *w as i64;
            s += match metric {
                PqMetric::InnerProduct => w * x,
                PqMetric::SquaredL2 => (w - x) * (w - x),
            };
        }
    }
    s
}

/// `T = Σ n_c · s_c` of every live, allowed row, best first, ties by id.
fn reference(
    cols: &[ColumnSpec],
    metric: PqMetric,
    live: &BTreeMap<u64, Row>,
    q: &[i64],
    numerators: &[i64],
    allowed: Option<&RoaringTreemap>,
) -> Vec<(u64, i64)> {
    let mut all: Vec<(u64, i64)> = live
        .iter()
        .filter(|(id, _)| allowed.is_none_or(|a| a.contains(**id)))
        .map(|(&id, row)| {
            let t = (cols.iter().zip(row).zip(numerators))
                .map(|((c, codes), &n)| n * column_score(c, codes, q, metric))
                .sum();
            (id, t)
        })
        .collect();
    all.sort_by(|a, b| {
        let by_t = match metric {
            PqMetric::SquaredL2 => a.1.cmp(&b.1),
            PqMetric::InnerProduct => b.1.cmp(&a.1),
        };
        by_t.then(a.0.cmp(&b.0))
    });
    all
}

fn exact_numerators(numerators: &[i64]) -> bool {
    numerators
        .iter()
        .all(|n| [15, 30, 60, 120].contains(&n.abs()))
}

/// Checks `hits` against the full sorted reference `want` for top `k`.
fn check_hits(
    hits: &[PqHit],
    want: &[(u64, i64)],
    k: usize,
    metric: PqMetric,
    exact: bool,
    what: &str,
) {
    let n = k.min(want.len());
    if exact {
        let expected: Vec<(u64, f32)> = want[..n]
            .iter()
            .map(|&(id, t)| (id, (t as f64 / 60.0) as f32))
            .collect();
        let got: Vec<(u64, f32)> = hits.iter().map(|h| (h.id, h.score)).collect();
        assert_eq!(got, expected, "{what}: exact weights");
        return;
    }
    assert_eq!(hits.len(), n, "{what}: hit count");
    let t_of: BTreeMap<u64, i64> = want.iter().copied().collect();
    let mut seen = std::collections::BTreeSet::new();
    for h in hits {
        assert!(seen.insert(h.id), "{what}: id {} twice", h.id);
        let t = *t_of
            .get(&h.id)
            .unwrap_or_else(|| panic!("{what}: id {} is not live and allowed", h.id));
        let err = (f64::from(h.score) - t as f64 / 60.0).abs();
        assert!(
            err <= TOL,
            "{what}: id {} score {} vs {}/60",
            h.id,
            h.score,
            t
        );
    }
    let got_t: Vec<i64> = hits.iter().map(|h| t_of[&h.id]).collect();
    let want_t: Vec<i64> = want[..n].iter().map(|p| p.1).collect();
    assert_eq!(got_t, want_t, "{what}: the best totals");
    for w in hits.windows(2) {
        let ordered = match metric {
            PqMetric::SquaredL2 => w[0].score < w[1].score,
            PqMetric::InnerProduct => w[0].score > w[1].score,
        };
        assert!(
            ordered || (w[0].score == w[1].score && w[0].id < w[1].id),
            "{what}: {:?} before {:?}",
            w[0],
            w[1]
        );
    }
}

/// The weights of one search: `None` (the defaults) or explicit ones, with the
/// numerators `n_c` (weight `n_c / 60`) the reference uses.
fn random_weights(rng: &mut Rng, columns: usize) -> (Option<Vec<f32>>, Vec<i64>) {
    let l = (columns - 1) as i64;
    let defaults: Vec<i64> = (0..columns)
        .map(|c| if c == 0 { 60 } else { 60 / l })
        .collect();
    match rng.below(3) {
        0 => (None, defaults),
        1 => {
            let choices = [15, 30, 60, 120, -30];
            let n: Vec<i64> = (0..columns)
                .map(|_| choices[rng.below(choices.len())])
                .collect();
            (Some(n.iter().map(|&n| n as f32 / 60.0).collect()), n)
        }
        _ => {
            let choices = [20, 40, 45, 12, 90, -20, 1];
            let n: Vec<i64> = (0..columns)
                .map(|_| choices[rng.below(choices.len())])
                .collect();
            (Some(n.iter().map(|&n| n as f32 / 60.0).collect()), n)
        }
    }
}

fn check_searches(
    index: &Index,
    cols: &[ColumnSpec],
    metric: PqMetric,
    live: &BTreeMap<u64, Row>,
    rng: &mut Rng,
) {
    let nq = 3;
    let q_int: Vec<i64> = (0..nq * DIM).map(|_| rng.below(5) as i64 - 2).collect();
    let queries: Vec<f32> = q_int.iter().map(|&x| x as f32).collect();
    let k = [0, 1, 5, 17, 1000][rng.below(5)];
    let allowed: RoaringTreemap = (0..IDS).filter(|_| rng.below(2) == 0).collect();
    let (weights, numerators) = random_weights(rng, cols.len());
    let exact = exact_numerators(&numerators);
    let w = weights.as_deref();
    let batch = index.search_pq_columns_batch(&queries, k, w, None).unwrap();
    let batch_f = index
        .search_pq_columns_batch(&queries, k, w, Some(&allowed))
        .unwrap();
    assert_eq!(batch.len(), nq);
    assert_eq!(batch_f.len(), nq);
    if weights.is_none() {
        // The one-column entry points of a multi-column index use the default weights.
        assert_eq!(index.search_pq_batch(&queries, k, None).unwrap(), batch);
        let plain_f = index.search_pq_batch(&queries, k, Some(&allowed)).unwrap();
        assert_eq!(plain_f, batch_f);
        let q0 = &queries[..DIM];
        let one_f = index.search_pq_filtered(q0, k, &allowed).unwrap();
        assert_eq!(one_f, batch_f[0]);
    }
    for (qi, q) in queries.chunks_exact(DIM).enumerate() {
        let qi_int = &q_int[qi * DIM..(qi + 1) * DIM];
        let want = reference(cols, metric, live, qi_int, &numerators, None);
        let single = index.search_pq_columns(q, k, w).unwrap();
        check_hits(&single, &want, k, metric, exact, "single");
        assert_eq!(batch[qi], single, "batch = single");
        if weights.is_none() {
            assert_eq!(index.search_pq(q, k).unwrap(), single, "search_pq defaults");
        }
        let want_f = reference(cols, metric, live, qi_int, &numerators, Some(&allowed));
        let filtered = index.search_pq_columns_filtered(q, k, w, &allowed).unwrap();
        check_hits(&filtered, &want_f, k, metric, exact, "filtered");
        assert_eq!(batch_f[qi], filtered, "filtered batch = filtered single");
    }
}

fn check_rows(index: &Index, cols: &[ColumnSpec], live: &BTreeMap<u64, Row>) {
    assert_eq!(index.len(), live.len() as u64);
    assert_eq!(index.live_ids(), live.keys().copied().collect::<Vec<_>>());
    for (id, row) in live {
        for (c, (col, codes)) in cols.iter().zip(row).enumerate() {
            let stored = index.get_pq_column(*id, c).unwrap();
            assert_eq!(
                &unpack(stored, col.m, col.nbits),
                codes,
                "id {id} column {c}"
            );
        }
    }
    assert!(index.get_pq_column(IDS + 1, 0).is_none());
}

fn fresh_ids(rng: &mut Rng, live: &BTreeMap<u64, Row>) -> Vec<u64> {
    let n = (1 + rng.below(30)).min(IDS as usize - live.len());
    let mut ids = Vec::new();
    while ids.len() < n {
        let id = rng.below(IDS as usize) as u64;
        if !live.contains_key(&id) && !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

fn run_model(metric: PqMetric, seed: u64, steps: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(seed);
    let cols = random_columns(&mut rng);
    let names: Vec<String> = (0..cols.len())
        .map(|c| {
            if c == 0 {
                "coarse".into()
            } else {
                format!("fine{c}")
            }
        })
        .collect();
    let spec: Vec<(&str, usize, u8)> = (names.iter().zip(&cols))
        .map(|(n, c)| (n.as_str(), c.m, c.nbits))
        .collect();
    let schema = Schema::pq_columns(&spec, metric).unwrap();
    let books: Vec<PqCodebooks> = cols.iter().map(|c| c.books.clone()).collect();
    let mut index = Index::create_pq_columns(dir.path(), schema, books.clone()).unwrap();
    assert!(index.is_pq());
    assert_eq!(index.pq_metric(), Some(metric));
    let mut live: BTreeMap<u64, Row> = BTreeMap::new();
    // A read-only snapshot that follows the writer's commits with `refresh`.
    let mut snapshot = Index::open(dir.path()).unwrap();
    for _ in 0..steps {
        match rng.below(10) {
            0..=2 => {
                // Codes for every column, ids in random order.
                let ids = fresh_ids(&mut rng, &live);
                let rows: Vec<Row> = (0..ids.len())
                    .map(|_| {
                        (cols.iter())
                            .map(|c| (0..c.m).map(|_| rng.below(1 << c.nbits) as u8).collect())
                            .collect()
                    })
                    .collect();
                let codes: Vec<PqCodes> = (cols.iter().enumerate())
                    .map(|(c, col)| {
                        let per_row: Vec<&[u8]> = rows.iter().map(|r| r[c].as_slice()).collect();
                        pack(&per_row, col.m, col.nbits)
                    })
                    .collect();
                let views: Vec<PqView<'_>> = codes.iter().map(PqCodes::view).collect();
                // One column short is refused and changes nothing.
                assert!(matches!(
                    index.append_pq_columns(&ids, &views[1..]),
                    Err(Error::LengthMismatch { .. })
                ));
                index.append_pq_columns(&ids, &views).unwrap();
                for (id, r) in ids.iter().zip(rows) {
                    live.insert(*id, r);
                }
            }
            3 => {
                // Float vectors: each column encodes the same vector with its codebooks.
                let ids = fresh_ids(&mut rng, &live);
                let vectors: Vec<f32> = (0..ids.len() * DIM)
                    .map(|_| rng.below(9) as f32 * 0.5 - 2.0)
                    .collect();
                index.append_vectors(&ids, &vectors).unwrap();
                for (i, &id) in ids.iter().enumerate() {
                    let v = &vectors[i * DIM..(i + 1) * DIM];
                    let row: Row = (cols.iter())
                        .map(|c| {
                            let one = c.books.encode(v, metric).unwrap();
                            unpack(one.view().row(0).unwrap(), c.m, c.nbits)
                        })
                        .collect();
                    live.insert(id, row);
                }
            }
            4..=5 if !live.is_empty() => {
                let ids: Vec<u64> = live.keys().copied().filter(|_| rng.below(3) == 0).collect();
                assert_eq!(index.delete(&ids).unwrap(), ids.len() as u64);
                for id in ids {
                    live.remove(&id);
                }
            }
            6 => {
                index.compact().unwrap();
                assert!(index.manifest().segments.len() <= 1);
                assert!(
                    index
                        .manifest()
                        .segments
                        .iter()
                        .all(|s| s.tombstones.is_none())
                );
            }
            7 => {
                drop(index);
                index = Index::open_writer(dir.path()).unwrap();
                let reopened: Vec<&PqCodebooks> = index.pq_column_codebooks();
                assert_eq!(reopened, books.iter().collect::<Vec<_>>());
            }
            8 => {
                snapshot.refresh().unwrap();
                assert_eq!(snapshot.generation(), index.generation());
                check_rows(&snapshot, &cols, &live);
                check_searches(&snapshot, &cols, metric, &live, &mut rng);
            }
            _ => check_searches(&index, &cols, metric, &live, &mut rng),
        }
        // A live id appended again is refused and changes nothing.
        if let Some(&id) = live.keys().next() {
            let codes: Vec<PqCodes> = (cols.iter())
                .map(|c| pack(&[&vec![0; c.m]], c.m, c.nbits))
                .collect();
            let views: Vec<PqView<'_>> = codes.iter().map(PqCodes::view).collect();
            assert!(matches!(
                index.append_pq_columns(&[id], &views),
                Err(Error::DuplicateId { .. })
            ));
        }
        check_rows(&index, &cols, &live);
    }
    check_searches(&index, &cols, metric, &live, &mut rng);
    index.verify().unwrap();
    let reader = Index::open(dir.path()).unwrap();
    check_rows(&reader, &cols, &live);
    check_searches(&reader, &cols, metric, &live, &mut rng);
    reader.verify().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn multi_column_l2_index_matches_the_model(seed in 0u64..1_000_000) {
        run_model(PqMetric::SquaredL2, seed, 40);
    }

    #[test]
    fn multi_column_ip_index_matches_the_model(seed in 0u64..1_000_000) {
        run_model(PqMetric::InnerProduct, seed, 40);
    }
}

/// Integer codebooks of `m` sub-quantizers of `dsub` dimensions.
fn int_books(m: usize, nbits: u8, dsub: usize, seed: u64) -> PqCodebooks {
    let mut rng = Rng::new(seed);
    let len = m * (1 << nbits) * dsub;
    PqCodebooks::new(
        m,
        nbits,
        dsub,
        (0..len).map(|_| rng.below(5) as f32 - 2.0).collect(),
    )
    .unwrap()
}

/// A 3-column HCQ-like index (coarse 8-bit M=2, fine 4-bit M=4, fine 8-bit M=8) with 20
/// rows appended.
fn hcq_index(dir: &std::path::Path, metric: PqMetric) -> (Index, Vec<PqCodebooks>) {
    let schema =
        Schema::pq_columns(&[("coarse", 2, 8), ("f1", 4, 4), ("f2", 8, 8)], metric).unwrap();
    let books = vec![
        int_books(2, 8, 4, 1),
        int_books(4, 4, 2, 2),
        int_books(8, 8, 1, 3),
    ];
    let mut index = Index::create_pq_columns(dir, schema, books.clone()).unwrap();
    let mut rng = Rng::new(9);
    let vectors: Vec<f32> = (0..20 * DIM).map(|_| rng.below(5) as f32 - 2.0).collect();
    index
        .append_vectors(&(100..120).collect::<Vec<_>>(), &vectors)
        .unwrap();
    (index, books)
}

#[test]
fn creation_errors_name_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let l2 = PqMetric::SquaredL2;
    let schema = Schema::pq_columns(&[("coarse", 2, 8), ("f1", 4, 4), ("f2", 8, 8)], l2).unwrap();
    let good = vec![
        int_books(2, 8, 4, 1),
        int_books(4, 4, 2, 2),
        int_books(8, 8, 1, 3),
    ];
    // Two codebook sets for three columns.
    let err = Index::create_pq_columns(dir.path().join("a"), schema.clone(), good[..2].to_vec())
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::LengthMismatch {
                expected: 3,
                found: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        Index::open(dir.path().join("a")).is_err(),
        "nothing was created"
    );
    // Column f2 with another query dimension (M = 8, dsub = 2: 16, not 8).
    let mut wide = good.clone();
    wide[2] = int_books(8, 8, 2, 3);
    let err = Index::create_pq_columns(dir.path().join("b"), schema.clone(), wide).unwrap_err();
    match &err {
        Error::ColumnMismatch { column, what, .. } => {
            assert_eq!(column, "f2");
            assert!(what.contains("dimension"), "{err}");
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("16"), "{err}");
    // Codebooks of another M than their column.
    let mut swapped = good.clone();
    swapped.swap(1, 2);
    let err = Index::create_pq_columns(dir.path().join("c"), schema.clone(), swapped).unwrap_err();
    assert!(
        matches!(&err, Error::ColumnMismatch { column, what, .. }
            if column == "f1" && what.contains("shape")),
        "{err}"
    );
    // Columns of different metrics.
    let mut mixed = schema.clone();
    if let crosscode::store::schema::ColumnKind::Pq { metric, .. } = &mut mixed.columns[1].kind {
        *metric = PqMetric::InnerProduct;
    }
    let err = Index::create_pq_columns(dir.path().join("d"), mixed, good.clone()).unwrap_err();
    assert!(
        matches!(&err, Error::ColumnMismatch { column, what, .. }
            if column == "f1" && what.contains("metric")),
        "{err}"
    );
    // A binary column among PQ ones.
    let mut with_binary = schema.clone();
    with_binary.columns[2].kind = crosscode::store::schema::ColumnKind::Binary { bits: 64 };
    assert!(matches!(
        Index::create_pq_columns(dir.path().join("e"), with_binary, good.clone()),
        Err(Error::SchemaMismatch { .. })
    ));
    // A repeated column name, and create_pq with several columns.
    assert!(Schema::pq_columns(&[("x", 2, 8), ("x", 4, 4)], l2).is_err());
    assert!(Schema::pq_columns(&[("x", 3, 4)], l2).is_err());
    assert!(matches!(
        Index::create_pq(dir.path().join("f"), schema, good[0].clone()),
        Err(Error::SchemaMismatch { .. })
    ));
}

#[test]
fn append_and_search_errors_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut index, books) = hcq_index(dir.path(), PqMetric::InnerProduct);
    let before = index.manifest().clone();
    let codes: Vec<PqCodes> = books
        .iter()
        .map(|b| PqCodes::new(b.m(), b.nbits(), vec![1; 2 * b.code_row_bytes()]).unwrap())
        .collect();
    let views: Vec<PqView<'_>> = codes.iter().map(PqCodes::view).collect();
    // Wrong column counts.
    for n in [0, 1, 2, 4] {
        let many: Vec<PqView<'_>> = views.iter().cycle().take(n).copied().collect();
        let err = index.append_pq_columns(&[1, 2], &many).unwrap_err();
        assert!(
            matches!(err, Error::LengthMismatch { expected: 3, found, .. } if found == n),
            "{err}"
        );
    }
    // Codes of column f1's shape given for f2.
    let mut wrong = views.clone();
    wrong[2] = views[1];
    let err = index.append_pq_columns(&[1, 2], &wrong).unwrap_err();
    assert!(
        matches!(&err, Error::ColumnMismatch { column, .. } if column == "f2"),
        "{err}"
    );
    // A column with one row for two ids.
    let short = PqCodes::new(4, 4, vec![0; 2]).unwrap();
    let mut ragged = views.clone();
    ragged[1] = short.view();
    let err = index.append_pq_columns(&[1, 2], &ragged).unwrap_err();
    assert!(
        matches!(&err, Error::ColumnMismatch { column, what, .. }
            if column == "f1" && what.contains("rows")),
        "{err}"
    );
    // Ids already live, repeated, or of the wrong count.
    assert!(matches!(
        index.append_pq_columns(&[100, 1], &views),
        Err(Error::DuplicateId { id: 100, .. })
    ));
    assert!(matches!(
        index.append_pq_columns(&[5, 5], &views),
        Err(Error::DuplicateId { id: 5, .. })
    ));
    assert!(index.append_pq_columns(&[5], &views).is_err());
    assert!(index.append_vectors(&[1, 2], &[0.0; DIM]).is_err());
    assert!(index.append_vectors(&[1], &[0.0; DIM + 1]).is_err());
    // The one-column entry point is refused with a pointer to the right one.
    let err = index.append_pq(&[1, 2], views[0]).unwrap_err();
    assert!(err.to_string().contains("append_pq_columns"), "{err}");
    assert_eq!(index.manifest(), &before);
    assert_eq!(index.len(), 20);

    // Weights of the wrong length or not finite, on every search entry point.
    let q = [1.0f32; DIM];
    let allowed: RoaringTreemap = (100..110).collect();
    for bad in [&[1.0f32, 0.5][..], &[1.0; 4], &[]] {
        let err = index.search_pq_columns(&q, 3, Some(bad)).unwrap_err();
        assert!(
            matches!(err, Error::LengthMismatch { expected: 3, .. }),
            "{err}"
        );
        assert!(
            index
                .search_pq_columns_filtered(&q, 3, Some(bad), &allowed)
                .is_err()
        );
        assert!(
            index
                .search_pq_columns_batch(&q, 3, Some(bad), None)
                .is_err()
        );
    }
    for v in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let bad = [1.0, v, 0.5];
        let err = index.search_pq_columns(&q, 3, Some(&bad)).unwrap_err();
        assert!(matches!(err, Error::NonFinite { col: 1, .. }), "{err}");
        assert!(matches!(
            index.search_pq_columns_filtered(&q, 3, Some(&bad), &allowed),
            Err(Error::NonFinite { .. })
        ));
        assert!(matches!(
            index.search_pq_columns_batch(&q, 3, Some(&bad), Some(&allowed)),
            Err(Error::NonFinite { .. })
        ));
    }
    // Queries of the wrong dimension or with a NaN.
    assert!(matches!(
        index.search_pq_columns(&q[..DIM - 1], 3, None),
        Err(Error::DimensionMismatch { .. })
    ));
    assert!(matches!(
        index.search_pq(&[1.0; 2 * DIM], 3),
        Err(Error::DimensionMismatch { .. })
    ));
    assert!(matches!(
        index.search_pq_columns_batch(&[1.0; DIM + 1], 3, None, None),
        Err(Error::DimensionMismatch { .. })
    ));
    let mut nan = q;
    nan[4] = f32::NAN;
    assert!(matches!(
        index.search_pq_columns(&nan, 3, None),
        Err(Error::NonFinite { .. })
    ));
    // Binary entry points refuse a PQ index; binary indexes refuse PQ columns.
    assert!(matches!(
        index.search(&[0], 1),
        Err(Error::SchemaMismatch { .. })
    ));
    let mut bin = Index::create(dir.path().join("bin"), Schema::binary(64).unwrap()).unwrap();
    assert!(matches!(
        bin.append_pq_columns(&[1, 2], &views),
        Err(Error::SchemaMismatch { .. })
    ));
    assert!(matches!(
        bin.search_pq_columns(&q, 1, None),
        Err(Error::SchemaMismatch { .. })
    ));
    assert!(bin.pq_column_codebooks().is_empty());
}

#[test]
fn default_weights_are_coarse_plus_mean_of_fine() {
    let dir = tempfile::tempdir().unwrap();
    let (index, _) = hcq_index(dir.path(), PqMetric::SquaredL2);
    assert_eq!(index.pq_default_weights(), [1.0, 0.5, 0.5]);
    assert_eq!(
        crosscode::index::multi::default_column_weights(4),
        [1.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0]
    );
    let q = [2.0, -1.0, 0.0, 1.0, 2.0, -2.0, 1.0, 0.0];
    let all = index.search_pq_columns(&q, 100, None).unwrap();
    let explicit = index
        .search_pq_columns(&q, 100, Some(&[1.0, 0.5, 0.5]))
        .unwrap();
    assert_eq!(all, explicit);
    assert_eq!(all.len(), 20);
    // Each column alone (weight 1 on it, 0 elsewhere) recombined by hand.
    let alone: Vec<BTreeMap<u64, f32>> = (0..3)
        .map(|c| {
            let mut w = [0.0f32; 3];
            w[c] = 1.0;
            let hits = index.search_pq_columns(&q, 100, Some(&w)).unwrap();
            hits.iter().map(|h| (h.id, h.score)).collect()
        })
        .collect();
    for h in &all {
        let by_hand = alone[0][&h.id] + (alone[1][&h.id] + alone[2][&h.id]) / 2.0;
        assert_eq!(h.score, by_hand, "id {}", h.id);
    }
}

#[test]
fn single_column_indexes_keep_their_path_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let books = int_books(4, 4, 2, 5);
    let schema = Schema::pq(4, 4, PqMetric::SquaredL2).unwrap();
    let mut plain =
        Index::create_pq(dir.path().join("plain"), schema.clone(), books.clone()).unwrap();
    let mut via =
        Index::create_pq_columns(dir.path().join("via"), schema, vec![books.clone()]).unwrap();
    let mut rng = Rng::new(3);
    let codes = PqCodes::new(4, 4, (0..60).map(|_| rng.next_u64() as u8).collect()).unwrap();
    let ids: Vec<u64> = (0..30).rev().collect();
    plain.append_pq(&ids, codes.view()).unwrap();
    via.append_pq_columns(&ids, &[codes.view()]).unwrap();
    assert!(matches!(
        via.append_pq_columns(&[50], &[codes.view(), codes.view()]),
        Err(Error::LengthMismatch {
            expected: 1,
            found: 2,
            ..
        })
    ));
    plain.delete(&[3, 7]).unwrap();
    via.delete(&[3, 7]).unwrap();
    for name in ["manifest.json", "pqbooks-0.ccb", "seg-00000001.ccs"] {
        let a = std::fs::read(dir.path().join("plain").join(name)).unwrap();
        let b = std::fs::read(dir.path().join("via").join(name)).unwrap();
        assert_eq!(a, b, "{name}");
    }
    assert_eq!(via.pq_codebooks(), Some(&books));
    assert_eq!(via.pq_column_codebooks(), [&books]);
    // Weight 1 is the plain search (fast scan); other weights scale every score.
    let q = [1.0, 0.0, -1.0, 2.0, 0.0, 0.0, 1.0, -2.0];
    let base = via.search_pq(&q, 10).unwrap();
    assert_eq!(via.search_pq_columns(&q, 10, None).unwrap(), base);
    assert_eq!(via.search_pq_columns(&q, 10, Some(&[1.0])).unwrap(), base);
    let doubled = via.search_pq_columns(&q, 10, Some(&[2.0])).unwrap();
    let want: Vec<(u64, f32)> = base.iter().map(|h| (h.id, 2.0 * h.score)).collect();
    assert_eq!(
        doubled.iter().map(|h| (h.id, h.score)).collect::<Vec<_>>(),
        want
    );
    // A negative weight on a distance ranks the farthest rows first.
    let far = via.search_pq_columns(&q, 28, Some(&[-1.0])).unwrap();
    let near = via.search_pq(&q, 28).unwrap();
    assert_eq!(far.len(), 28);
    assert_eq!(far[0].score, -near[27].score);
    // Smallest weighted distance first: -d ascending.
    assert!(
        far.windows(2)
            .all(|w| w[0].score < w[1].score || (w[0].score == w[1].score && w[0].id < w[1].id))
    );
    assert!(matches!(
        via.search_pq_columns(&q, 10, Some(&[1.0, 1.0])),
        Err(Error::LengthMismatch { .. })
    ));
}

#[test]
fn multi_column_corruption_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (index, books) = hcq_index(dir.path(), PqMetric::SquaredL2);
    let seg = dir.path().join(&index.manifest().segments[0].file);
    drop(index);
    let reader = Index::open(dir.path()).unwrap();
    reader.verify().unwrap();
    assert_eq!(
        reader.pq_column_codebooks(),
        books.iter().collect::<Vec<_>>()
    );
    drop(reader);
    let good = std::fs::read(&seg).unwrap();
    let block = crosscode::Segment::open(&seg).unwrap().columns()[2].block;
    let mut bad = good.clone();
    bad[block.offset + 3] ^= 0x20;
    std::fs::write(&seg, &bad).unwrap();
    let err = Index::open(dir.path()).unwrap().verify().unwrap_err();
    assert!(
        matches!(&err, Error::ChecksumMismatch { block, .. } if block == "column 2"),
        "{err}"
    );
    std::fs::write(&seg, &good).unwrap();
    // A flipped byte in the second column's codebook file fails at open.
    let file = dir.path().join("pqbooks-1.ccb");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[80] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
    assert!(matches!(
        Index::open(dir.path()),
        Err(Error::ChecksumMismatch { .. })
    ));
}
