//! Index behaviour against an independent model: a map from live id to packed code,
//! searched by brute force with the bit-by-bit reference distance.

use std::collections::BTreeMap;

use crosscode::scan::hamming::reference_distance;
use crosscode::{BinaryCodes, Error, Hit, Index, Schema};
use proptest::prelude::*;
use roaring::RoaringTreemap;

/// Brute-force k nearest (or all within `radius`) of the model, sorted by (distance, id).
fn brute(
    model: &BTreeMap<u64, Vec<u64>>,
    q: &[u64],
    k: Option<usize>,
    radius: Option<u32>,
    allowed: Option<&RoaringTreemap>,
) -> Vec<Hit> {
    let mut all: Vec<Hit> = model
        .iter()
        .filter(|(id, _)| allowed.is_none_or(|a| a.contains(**id)))
        .map(|(&id, code)| Hit {
            id,
            distance: reference_distance(q, code),
        })
        .filter(|h| radius.is_none_or(|r| h.distance <= r))
        .collect();
    all.sort_by_key(|h| (h.distance, h.id));
    if let Some(k) = k {
        all.truncate(k);
    }
    all
}

#[derive(Debug, Clone)]
enum Op {
    Append { ids: Vec<u64>, seed: u64 },
    Delete { picks: Vec<usize> },
    Compact,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (prop::collection::vec(0u64..400, 0..60), any::<u64>())
            .prop_map(|(ids, seed)| Op::Append { ids, seed }),
        2 => prop::collection::vec(any::<usize>(), 0..20).prop_map(|picks| Op::Delete { picks }),
        1 => Just(Op::Compact),
    ]
}

fn check_all(index: &Index, model: &BTreeMap<u64, Vec<u64>>, bits: usize, seed: u64) {
    let queries = BinaryCodes::random(bits, 3, seed).unwrap();
    let allowed: RoaringTreemap = model.keys().copied().filter(|id| id % 3 != 0).collect();
    assert_eq!(index.live_ids(), model.keys().copied().collect::<Vec<_>>());
    for k in [0, 1, 7, 1000] {
        let batch = index.search_batch(queries.view(), k, None).unwrap();
        let fbatch = index
            .search_batch(queries.view(), k, Some(&allowed))
            .unwrap();
        for (i, q) in queries.as_words().chunks(bits.div_ceil(64)).enumerate() {
            let want = brute(model, q, Some(k), None, None);
            assert_eq!(index.search(q, k).unwrap(), want, "k={k}");
            assert_eq!(batch[i], want, "batch k={k}");
            let fwant = brute(model, q, Some(k), None, Some(&allowed));
            assert_eq!(index.search_filtered(q, k, &allowed).unwrap(), fwant);
            assert_eq!(fbatch[i], fwant);
        }
    }
    let r = bits as u32 / 2 - 2;
    let rb = index.range_batch(queries.view(), r, None).unwrap();
    for (i, q) in queries.as_words().chunks(bits.div_ceil(64)).enumerate() {
        let want = brute(model, q, None, Some(r), None);
        assert_eq!(index.range(q, r).unwrap(), want);
        assert_eq!(rb[i], want);
        let fwant = brute(model, q, None, Some(r), Some(&allowed));
        assert_eq!(index.range_filtered(q, r, &allowed).unwrap(), fwant);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn index_matches_model(ops in prop::collection::vec(op(), 1..12), bits_sel in 0usize..3) {
        let bits = [16, 64, 136][bits_sel];
        let dir = tempfile::tempdir().unwrap();
        let mut index = Index::create(dir.path(), Schema::binary(bits).unwrap()).unwrap();
        let mut model: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for (step, op) in ops.iter().enumerate() {
            match op {
                Op::Append { ids, seed } => {
                    let codes = BinaryCodes::random(bits, ids.len(), *seed).unwrap();
                    let mut seen = std::collections::HashSet::new();
                    let dup = ids.iter().any(|id| model.contains_key(id) || !seen.insert(*id));
                    let result = index.append(ids, codes.view());
                    if dup {
                        prop_assert!(matches!(result, Err(Error::DuplicateId { .. })), "{:?}", result);
                    } else {
                        result.unwrap();
                        for (i, id) in ids.iter().enumerate() {
                            model.insert(*id, codes.row(i).unwrap().to_vec());
                        }
                    }
                }
                Op::Delete { picks } => {
                    let live: Vec<u64> = model.keys().copied().collect();
                    if live.is_empty() {
                        let r = index.delete(&[7]);
                        prop_assert!(matches!(r, Err(Error::UnknownId { .. })), "{:?}", r);
                        continue;
                    }
                    let ids: Vec<u64> = picks.iter().map(|p| live[p % live.len()]).collect();
                    let distinct: std::collections::BTreeSet<u64> = ids.iter().copied().collect();
                    prop_assert_eq!(index.delete(&ids).unwrap(), distinct.len() as u64);
                    for id in distinct {
                        model.remove(&id);
                    }
                }
                Op::Compact => index.compact().unwrap(),
            }
            check_all(&index, &model, bits, step as u64);
        }
        index.verify().unwrap();
        drop(index);
        // Everything committed is there after reopening.
        let reopened = Index::open(dir.path()).unwrap();
        check_all(&reopened, &model, bits, 99);
        reopened.verify().unwrap();
    }
}

#[test]
fn one_writer_and_read_only_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Index::create(dir.path(), Schema::binary(64).unwrap()).unwrap();
    assert!(matches!(
        Index::open_writer(dir.path()),
        Err(Error::Locked { .. })
    ));
    let codes = BinaryCodes::random(64, 10, 1).unwrap();
    writer
        .append(&(0..10).collect::<Vec<_>>(), codes.view())
        .unwrap();
    let mut reader = Index::open(dir.path()).unwrap();
    assert!(matches!(reader.delete(&[1]), Err(Error::ReadOnly { .. })));
    let q = codes.row(3).unwrap();
    let before = reader.search(q, 3).unwrap();
    assert_eq!(before[0], Hit { id: 3, distance: 0 });
    // The writer deletes id 3 and compacts (removing the reader's segment file).
    writer.delete(&[3]).unwrap();
    writer.compact().unwrap();
    assert_ne!(writer.search(q, 3).unwrap()[0].id, 3);
    // The snapshot still answers from its mapped files.
    assert_eq!(reader.search(q, 3).unwrap(), before);
    assert!(reader.refresh().unwrap());
    assert_eq!(reader.search(q, 3).unwrap(), writer.search(q, 3).unwrap());
    assert_eq!(reader.len(), 9);
    // Appending 3 again after its deletion is allowed; appending a live id is not.
    writer
        .append(&[3], codes.view().slice(3, 4).unwrap())
        .unwrap();
    assert!(matches!(
        writer.append(&[4], codes.view().slice(4, 5).unwrap()),
        Err(Error::DuplicateId { id: 4, .. })
    ));
    let wrong_bits = BinaryCodes::random(128, 1, 2).unwrap();
    assert!(matches!(
        writer.append(&[100], wrong_bits.view()),
        Err(Error::SchemaMismatch { .. })
    ));
    drop(writer);
    Index::open_writer(dir.path()).unwrap();
}

#[test]
fn ties_go_to_the_smaller_id_across_segments() {
    // Identical codes under ids appended out of order over three segments.
    let dir = tempfile::tempdir().unwrap();
    let mut index = Index::create(dir.path(), Schema::binary(8).unwrap()).unwrap();
    let same = BinaryCodes::from_packed(8, &[0b1010_0000; 3]).unwrap();
    index.append(&[50, 7, 30], same.view()).unwrap();
    index.append(&[9, 100, 1], same.view()).unwrap();
    index.append(&[8, 2, 60], same.view()).unwrap();
    let q = [0u64];
    let ids: Vec<u64> = index.search(&q, 4).unwrap().iter().map(|h| h.id).collect();
    assert_eq!(ids, vec![1, 2, 7, 8]);
    assert!(index.search(&q, 4).unwrap().iter().all(|h| h.distance == 2));
}

#[test]
fn large_segment_with_deletions_and_filter_uses_parallel_chunks() {
    // 70_000 rows: above the size where masked scans split into parallel row chunks.
    let bits = 32;
    let n = 70_000u64;
    let dir = tempfile::tempdir().unwrap();
    let mut index = Index::create(dir.path(), Schema::binary(bits).unwrap()).unwrap();
    let codes = BinaryCodes::random(bits, n as usize, 5).unwrap();
    let ids: Vec<u64> = (0..n).map(|i| i * 3).collect();
    index.append(&ids, codes.view()).unwrap();
    let deleted: Vec<u64> = ids.iter().copied().filter(|id| id % 7 == 0).collect();
    index.delete(&deleted).unwrap();
    let mut model = BTreeMap::new();
    for (i, &id) in ids.iter().enumerate() {
        if id % 7 != 0 {
            model.insert(id, codes.row(i).unwrap().to_vec());
        }
    }
    let allowed: RoaringTreemap = ids.iter().copied().filter(|id| id % 2 == 0).collect();
    let queries = BinaryCodes::random(bits, 4, 6).unwrap();
    for q in queries.as_words().chunks(1) {
        assert_eq!(
            index.search(q, 25).unwrap(),
            brute(&model, q, Some(25), None, None)
        );
        assert_eq!(
            index.search_filtered(q, 25, &allowed).unwrap(),
            brute(&model, q, Some(25), None, Some(&allowed))
        );
        assert_eq!(
            index.range(q, 6).unwrap(),
            brute(&model, q, None, Some(6), None)
        );
    }
}
