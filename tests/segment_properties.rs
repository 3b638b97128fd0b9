//! Segment files on random shapes: what is written reads back in place, and any change
//! to the bytes (flips at random positions, truncation) is reported by open or verify.

use crosscode::BinaryCodes;
use crosscode::store::Segment;
use crosscode::store::segment::{ColumnData, write_segment};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn round_trip_and_corruption(
        bits8 in 1usize..40,
        rows in 0usize..40,
        id_gaps in prop::collection::vec(1u64..1000, 40),
        seed in any::<u64>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let bits = bits8 * 8;
        let codes = BinaryCodes::random(bits, rows, seed).unwrap();
        let ids: Vec<u64> = id_gaps[..rows].iter().scan(0u64, |acc, g| { *acc += g; Some(*acc) }).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = write_segment(dir.path(), "p.ccs", &ids, &[ColumnData::Binary(codes.view())]).unwrap();
        let seg = Segment::open(&path).unwrap();
        seg.verify().unwrap();
        prop_assert_eq!(seg.ids(), &ids[..]);
        prop_assert_eq!(seg.binary(0).unwrap().as_words(), codes.as_words());
        let good = std::fs::read(&path).unwrap();
        prop_assert_eq!(good.len() % 8, 0);
        let mut bad = good.clone();
        for (at, x) in &flips {
            bad[at.index(good.len())] ^= x;
        }
        if bad != good {
            let r = Segment::from_bytes("bad", &bad).and_then(|s| s.verify());
            prop_assert!(r.is_err());
        }
        let cut = cut.index(good.len());
        prop_assert!(Segment::from_bytes("cut", &good[..cut]).is_err());
    }
}
