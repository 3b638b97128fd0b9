//! Word-wise Hamming scan with `u64::count_ones`, unrolled for the common code lengths.
//! Compiled twice: for any target, and with the x86 `popcnt` feature enabled.

use super::DistanceSink;

/// Distance of every row of `codes` to `query` for a compile-time word count.
#[inline(always)]
fn scan_fixed<const W: usize, S: DistanceSink>(
    query: &[u64],
    codes: &[u64],
    first_row: usize,
    sink: &mut S,
) {
    let q: [u64; W] = query.try_into().expect("query has W words");
    let mut bound = sink.bound();
    for (i, row) in codes.chunks_exact(W).enumerate() {
        let mut d = 0;
        for w in 0..W {
            d += (row[w] ^ q[w]).count_ones();
        }
        if d < bound {
            sink.offer(first_row + i, d);
            bound = sink.bound();
        }
    }
}

/// Distance of every row for a run-time word count.
#[inline(always)]
fn scan_dynamic<S: DistanceSink>(query: &[u64], codes: &[u64], first_row: usize, sink: &mut S) {
    let mut bound = sink.bound();
    for (i, row) in codes.chunks_exact(query.len()).enumerate() {
        let d: u32 = row
            .iter()
            .zip(query)
            .map(|(a, b)| (a ^ b).count_ones())
            .sum();
        if d < bound {
            sink.offer(first_row + i, d);
            bound = sink.bound();
        }
    }
}

#[inline(always)]
fn scan_any<S: DistanceSink>(query: &[u64], codes: &[u64], first_row: usize, sink: &mut S) {
    match query.len() {
        1 => scan_fixed::<1, S>(query, codes, first_row, sink),
        2 => scan_fixed::<2, S>(query, codes, first_row, sink),
        3 => scan_fixed::<3, S>(query, codes, first_row, sink),
        4 => scan_fixed::<4, S>(query, codes, first_row, sink),
        8 => scan_fixed::<8, S>(query, codes, first_row, sink),
        _ => scan_dynamic(query, codes, first_row, sink),
    }
}

/// Portable scan, no target features.
pub(super) fn scan<S: DistanceSink>(query: &[u64], codes: &[u64], first_row: usize, sink: &mut S) {
    scan_any(query, codes, first_row, sink)
}

/// The same scan compiled with the `popcnt` instruction.
///
/// # Safety
/// The CPU must support `popcnt`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
pub(super) unsafe fn scan_popcnt<S: DistanceSink>(
    query: &[u64],
    codes: &[u64],
    first_row: usize,
    sink: &mut S,
) {
    scan_any(query, codes, first_row, sink)
}
