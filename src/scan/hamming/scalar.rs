//! Bit-by-bit reference Hamming distance: slow, obviously right, and independent of
//! `count_ones`, so every fast kernel is tested against it.

use super::DistanceSink;

/// Hamming distance between two equally long word slices, one bit at a time.
pub fn distance(a: &[u64], b: &[u64]) -> u32 {
    let mut d = 0;
    for (&x, &y) in a.iter().zip(b) {
        let mut v = x ^ y;
        for _ in 0..64 {
            d += (v & 1) as u32;
            v >>= 1;
        }
    }
    d
}

/// Reference scan: every row's distance, compared with the bound row by row.
pub(super) fn scan<S: DistanceSink>(query: &[u64], codes: &[u64], first_row: usize, sink: &mut S) {
    for (i, row) in codes.chunks_exact(query.len()).enumerate() {
        let d = distance(query, row);
        if d < sink.bound() {
            sink.offer(first_row + i, d);
        }
    }
}
