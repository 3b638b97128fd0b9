//! Segment parsing on arbitrary bytes: open must return a typed error or a segment whose
//! every view is in bounds; verify must not panic either.
#![no_main]

use crosscode::store::Segment;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(seg) = Segment::from_bytes("fuzz.ccs", data) {
        let _ = seg.verify();
        let ids = seg.ids();
        assert_eq!(ids.len(), seg.rows());
        for col in 0..seg.columns().len() {
            if let Ok(view) = seg.binary(col) {
                assert_eq!(view.len(), seg.rows());
            }
        }
        if let Some(&id) = ids.first() {
            let _ = seg.find(id);
        }
    }
});
