//! Manifest parsing on arbitrary bytes: a typed error or a manifest that passed validation.
#![no_main]

use std::path::Path;

use crosscode::store::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Manifest::parse(Path::new("manifest.json"), data) {
        let _ = m.live_rows();
        assert!(m.files().all(|f| !f.contains('/')));
    }
});
