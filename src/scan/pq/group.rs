//! Exact 8-bit ADC for a group of eight queries at once.
//!
//! The eight queries' tables are interleaved as `[sub][code][query]`, so one code byte
//! selects eight costs that sit side by side: one 32-byte load and one vector add score
//! a row for all eight queries, with no gather. A group's table (`M × 256 × 8` f32,
//! 256 KiB at `M = 32`) stays in the L2 cache while the codes stream past it once for
//! all eight queries. Each row's sum runs over the sub-quantizers in order, so the costs
//! equal the scalar reference bit for bit.

use crate::scan::pq::PqKernel;
use crate::scan::pq::table::AdcTable;

/// Queries per group.
pub const GROUP: usize = 8;

/// Eight costs, 32-byte aligned so a vector load never splits a cache line.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(32))]
pub struct Lanes(pub [f32; GROUP]);

/// Interleaved costs of up to eight 8-bit tables: `lanes[sub · 256 + code].0[query]`.
/// Missing queries of a short group have zero costs and are ignored by the caller.
#[derive(Clone, Debug)]
pub struct GroupTable {
    m: usize,
    lanes: Vec<Lanes>,
}

impl GroupTable {
    /// Interleaves `tables` (1 to 8 tables of one `M`, `K = 256`).
    pub fn new(tables: &[&AdcTable]) -> Self {
        let m = tables.first().map_or(0, |t| t.m());
        let mut lanes = vec![Lanes::default(); m * 256];
        for (q, t) in tables.iter().take(GROUP).enumerate() {
            for (lane, &c) in lanes.iter_mut().zip(t.costs()) {
                lane.0[q] = c;
            }
        }
        GroupTable { m, lanes }
    }

    /// Sub-quantizers.
    pub fn m(&self) -> usize {
        self.m
    }
}

/// Portable kernel: `out[r]` = the eight costs of row `r` (`bytes` holds `out.len()`
/// rows of `m` codes).
fn costs_portable(table: &GroupTable, bytes: &[u8], out: &mut [Lanes]) {
    let m = table.m;
    for (row, o) in bytes.chunks_exact(m).zip(out.iter_mut()) {
        let mut acc = [0f32; GROUP];
        for (j, &c) in row.iter().enumerate() {
            let t = &table.lanes[j * 256 + c as usize].0;
            for q in 0..GROUP {
                acc[q] += t[q];
            }
        }
        o.0 = acc;
    }
}

/// Scalar reference: the same sums, one table entry at a time from the plain tables.
fn costs_scalar(table: &GroupTable, bytes: &[u8], out: &mut [Lanes]) {
    let m = table.m;
    for (row, o) in bytes.chunks_exact(m).zip(out.iter_mut()) {
        for q in 0..GROUP {
            let mut sum = 0f32;
            for (j, &c) in row.iter().enumerate() {
                sum += table.lanes[j * 256 + c as usize].0[q];
            }
            o.0[q] = sum;
        }
    }
}

/// `out[r]` = the eight costs of row `r` of `bytes` (8-bit codes, `table.m()` a row).
pub(crate) fn costs(kernel: PqKernel, table: &GroupTable, bytes: &[u8], out: &mut [Lanes]) {
    debug_assert_eq!(bytes.len(), out.len() * table.m);
    match kernel {
        PqKernel::Scalar => costs_scalar(table, bytes, out),
        #[cfg(target_arch = "x86_64")]
        PqKernel::Avx2 | PqKernel::Avx512 if kernel.is_available() && table.m > 0 => {
            // SAFETY: the CPU supports AVX2 (checked just above; the AVX-512 kernel's
            // check includes AVX2); `bytes` holds
            // `out.len()` rows of `m` codes and the table `m × 256` lanes.
            unsafe { super::x86_avx2::group_costs_8bit(&table.lanes, table.m, bytes, out) }
        }
        _ => costs_portable(table, bytes, out),
    }
}
