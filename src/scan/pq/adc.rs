//! Exact asymmetric-distance (ADC) costs of PQ code rows.
//!
//! The scans fill a cost per row for a block of rows; the search layer then offers the
//! block to a top-k (or adds it into a multi-column total). The 8-bit kernel walks four
//! rows at once with two partial sums each (eight independent add chains, enough to
//! keep both FP adders busy), reading `table[sub][code]` directly: the table row is a
//! `[f32; 256]` indexed by a `u8`, so no bounds check and no gather is needed.

use crate::code::pq::PqView;
use crate::scan::pq::PqKernel;
use crate::scan::pq::table::AdcTable;

/// Reference: `out[i]` = cost of row `i`, one entry at a time in sub-quantizer order.
/// `out.len()` must equal `codes.len()`.
pub fn costs_scalar(table: &AdcTable, codes: PqView<'_>, out: &mut [f32]) {
    let k = table.k();
    for (i, o) in out.iter_mut().enumerate().take(codes.len()) {
        let mut sum = 0.0f32;
        for sub in 0..codes.m() {
            sum += table.costs()[sub * k + codes.code(i, sub) as usize];
        }
        *o = sum;
    }
}

/// 8-bit codes, four rows a step, two partial sums per row.
#[inline(always)]
pub(crate) fn costs_8bit_unrolled(costs: &[f32], m: usize, bytes: &[u8], out: &mut [f32]) {
    let (tables, _) = costs.as_chunks::<256>();
    let tables = &tables[..m];
    let half = m / 2;
    let mut blocks = bytes.chunks_exact(4 * m);
    let mut outs = out.chunks_exact_mut(4);
    for (block, o) in blocks.by_ref().zip(outs.by_ref()) {
        let (r0, rest) = block.split_at(m);
        let (r1, rest) = rest.split_at(m);
        let (r2, r3) = rest.split_at(m);
        let (mut a0, mut a1, mut a2, mut a3) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
        let (mut b0, mut b1, mut b2, mut b3) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
        for j in 0..half {
            let (s, t) = (2 * j, 2 * j + 1);
            let (ts, tt) = (&tables[s], &tables[t]);
            a0 += ts[r0[s] as usize];
            a1 += ts[r1[s] as usize];
            a2 += ts[r2[s] as usize];
            a3 += ts[r3[s] as usize];
            b0 += tt[r0[t] as usize];
            b1 += tt[r1[t] as usize];
            b2 += tt[r2[t] as usize];
            b3 += tt[r3[t] as usize];
        }
        if m % 2 == 1 {
            let s = m - 1;
            let ts = &tables[s];
            a0 += ts[r0[s] as usize];
            a1 += ts[r1[s] as usize];
            a2 += ts[r2[s] as usize];
            a3 += ts[r3[s] as usize];
        }
        o[0] = a0 + b0;
        o[1] = a1 + b1;
        o[2] = a2 + b2;
        o[3] = a3 + b3;
    }
    for (row, o) in blocks
        .remainder()
        .chunks_exact(m)
        .zip(outs.into_remainder())
    {
        *o = tables.iter().zip(row).map(|(t, &c)| t[c as usize]).sum();
    }
}

/// 4-bit codes: two codes a byte, low nibble first.
#[inline(always)]
pub(crate) fn costs_4bit(costs: &[f32], m: usize, bytes: &[u8], out: &mut [f32]) {
    let (tables, _) = costs.as_chunks::<16>();
    let tables = &tables[..m];
    let row_bytes = m.div_ceil(2);
    for (row, o) in bytes.chunks_exact(row_bytes).zip(out.iter_mut()) {
        let (mut a, mut b) = (0.0f32, 0.0f32);
        for (pair, &byte) in tables.chunks(2).zip(row) {
            a += pair[0][(byte & 0x0f) as usize];
            if let Some(t) = pair.get(1) {
                b += t[(byte >> 4) as usize];
            }
        }
        *o = a + b;
    }
}

/// `out[i]` = cost of row `i` of `codes` (`out.len() == codes.len()`), with `kernel`.
pub(crate) fn costs(kernel: PqKernel, table: &AdcTable, codes: PqView<'_>, out: &mut [f32]) {
    debug_assert_eq!(out.len(), codes.len());
    match (kernel, codes.nbits()) {
        (PqKernel::Scalar, _) => costs_scalar(table, codes, out),
        #[cfg(target_arch = "x86_64")]
        (PqKernel::Avx2 | PqKernel::Avx512, 8) if kernel.is_available() => {
            // SAFETY: the CPU supports AVX2 (checked just above; the AVX-512 kernel's
            // check includes AVX2).
            unsafe { super::x86_avx2::costs_8bit(table.costs(), codes.m(), codes.as_bytes(), out) }
        }
        (_, 8) => costs_8bit_unrolled(table.costs(), codes.m(), codes.as_bytes(), out),
        _ => costs_4bit(table.costs(), codes.m(), codes.as_bytes(), out),
    }
}
