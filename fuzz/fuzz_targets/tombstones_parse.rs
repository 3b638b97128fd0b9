//! Tombstone parsing on arbitrary bytes (the CRC check is bypassed by recomputing it).
#![no_main]

use std::path::Path;

use crosscode::store::manifest::TombstoneEntry;
use crosscode::store::tombstones::parse_tombstones;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let entry = TombstoneEntry {
        file: "t.del".to_string(),
        deleted: data.len() as u64 % 64,
        crc32: crc32(data),
    };
    if let Ok(b) = parse_tombstones(Path::new("t.del"), data, &entry, 1 << 20) {
        assert!(b.max().is_none_or(|m| m < 1 << 20));
    }
});

fn crc32(data: &[u8]) -> u32 {
    // Bitwise CRC-32 (IEEE), so the target needs no extra dependency.
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}
