//! Segment parsing on arbitrary bytes: open must return a typed error or a segment whose
//! every view is in bounds; verify must not panic either. Each input is tried as is and
//! with its header CRC recomputed, so the checks behind the header CRC are reached too.
#![no_main]

use crosscode::store::Segment;
use crosscode::store::segment::reseal_header;
use libfuzzer_sys::fuzz_target;

fn check(data: &[u8]) {
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
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut sealed = data.to_vec();
    if reseal_header(&mut sealed) {
        check(&sealed);
    }
});
