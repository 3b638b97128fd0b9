//! PQ k-nearest search: exact ADC, 4-bit fast scan with re-ranking, batches, and
//! multi-column scoring.
//!
//! Single queries split their rows over rayon tasks and merge. Batches split the
//! queries over threads; each thread walks the codes in blocks that stay in the L2
//! cache and runs all its queries over a block before moving on, so codes come from
//! memory once per thread rather than once per query. Results are sorted best first
//! (smallest distance, or largest inner product), ties to the smaller row.
//!
//! The fast scan keeps a shortlist of `k × rerank_factor` rows by quantised sum, then
//! ranks the shortlist by exact ADC cost. Multi-column search (HCQ: one coarse and L
//! fine codes per row) sums each column's weighted costs per row; a single column with
//! weight 1 goes straight to the one-column scan.

use std::ops::Range;

use rayon::prelude::*;

use crate::code::pq::{PqCodebooks, PqMetric, PqView};
use crate::error::{Error, Result};
use crate::scan::pq::fastscan::{self, BLOCK_ROWS, FastScanCodes};
use crate::scan::pq::group::{self, GROUP, GroupTable, Lanes};
use crate::scan::pq::table::{AdcTable, QuantizedTable};
use crate::scan::pq::topk::{CostTopK, ScoredNeighbor, Shortlist};
use crate::scan::pq::{PqKernel, adc};

/// Rows whose costs are computed into one buffer before being offered.
const COST_BLOCK_ROWS: usize = 256;
/// Rows below which a single-query scan is not split across threads.
const MIN_ROWS_PER_TASK: usize = 32 * 1024;
/// Bytes of codes per block in batched scans.
const BATCH_BLOCK_BYTES: usize = 128 * 1024;
/// Bytes of fast-scan codes per step in batched scans (stays in the L2 cache).
const FAST_SCAN_STEP_BYTES: usize = 128 * 1024;

/// How a PQ search runs.
#[derive(Clone, Copy, Debug)]
pub struct PqSearchOptions {
    /// Kernel to use; `None` takes [`PqKernel::process_default`].
    pub kernel: Option<PqKernel>,
    /// Run on one thread even inside a multi-threaded rayon pool.
    pub single_threaded: bool,
    /// Fast scan: the shortlist re-ranked exactly holds `k × rerank_factor` rows.
    pub rerank_factor: usize,
}

impl Default for PqSearchOptions {
    fn default() -> Self {
        PqSearchOptions {
            kernel: None,
            single_threaded: false,
            rerank_factor: 4,
        }
    }
}

impl PqSearchOptions {
    /// Options forcing one kernel.
    pub fn with_kernel(kernel: PqKernel) -> Self {
        PqSearchOptions {
            kernel: Some(kernel),
            ..Self::default()
        }
    }

    fn kernel(&self) -> Result<PqKernel> {
        match self.kernel {
            Some(k) => k.check(),
            None => PqKernel::process_default(),
        }
    }

    fn threads(&self) -> usize {
        if self.single_threaded {
            1
        } else {
            rayon::current_num_threads()
        }
    }
}

fn finish(table_metric: PqMetric, top: CostTopK) -> Vec<ScoredNeighbor> {
    top.into_sorted()
        .into_iter()
        .map(|(cost, row)| ScoredNeighbor {
            row,
            score: match table_metric {
                PqMetric::SquaredL2 => cost,
                // `+ 0.0`: a zero inner product is reported as +0.0, not -0.0.
                PqMetric::InnerProduct => -cost + 0.0,
            },
        })
        .collect()
}

/// Offers the exact costs of rows `range` of `codes` to `top`.
fn scan_rows(
    kernel: PqKernel,
    table: &AdcTable,
    codes: PqView<'_>,
    range: Range<usize>,
    top: &mut CostTopK,
) {
    scan_rows_where(kernel, table, codes, range, top, &|_| true);
}

/// [`scan_rows`] offering only rows for which `keep(row)` holds; `keep` is asked only
/// about rows that beat the current bound.
#[inline(always)]
fn scan_rows_where<F: Fn(usize) -> bool>(
    kernel: PqKernel,
    table: &AdcTable,
    codes: PqView<'_>,
    range: Range<usize>,
    top: &mut CostTopK,
    keep: &F,
) {
    let mut buf = [0f32; COST_BLOCK_ROWS];
    let mut start = range.start;
    while start < range.end {
        let end = (start + COST_BLOCK_ROWS).min(range.end);
        let out = &mut buf[..end - start];
        adc::costs(kernel, table, codes.slice(start, end), out);
        let bound = top.bound();
        for (i, &c) in out.iter().enumerate() {
            if c < bound && keep(start + i) {
                top.offer(start + i, c);
            }
        }
        start = end;
    }
}

/// A shortlist sink that drops rows `keep` refuses (asked only for rows below the bound).
struct KeepSink<'a, F> {
    inner: Shortlist,
    keep: &'a F,
}

impl<F: Fn(usize) -> bool> crate::scan::hamming::DistanceSink for KeepSink<'_, F> {
    #[inline]
    fn bound(&self) -> u32 {
        self.inner.bound()
    }

    #[inline]
    fn offer(&mut self, row: usize, distance: u32) {
        if distance < self.inner.bound() && (self.keep)(row) {
            self.inner.offer(row, distance);
        }
    }
}

fn row_chunks(n: usize, threads: usize, granule: usize) -> Vec<Range<usize>> {
    let tasks = (n / MIN_ROWS_PER_TASK).clamp(1, threads.max(1) * 4);
    let per = n.div_ceil(tasks).div_ceil(granule).max(1) * granule;
    (0..n).step_by(per).map(|s| s..(s + per).min(n)).collect()
}

fn merge(metric: PqMetric, parts: Vec<CostTopK>, k: usize) -> Vec<ScoredNeighbor> {
    let mut all = CostTopK::new(k);
    let mut pairs: Vec<(f32, usize)> = parts.into_iter().flat_map(CostTopK::into_sorted).collect();
    pairs.sort_unstable_by_key(|p| p.1);
    for (c, r) in pairs {
        all.offer(r, c);
    }
    finish(metric, all)
}

fn check_queries(books: &PqCodebooks, queries: &[f32]) -> Result<usize> {
    if !queries.len().is_multiple_of(books.dim()) {
        return Err(Error::DimensionMismatch {
            what: "PQ query batch (length a multiple of dim)",
            expected: books.dim(),
            found: queries.len() % books.dim(),
        });
    }
    Ok(queries.len() / books.dim())
}

/// The `k` rows of `codes` best for `query` by exact ADC under `metric`.
///
/// Errors: codes not made with `books`' shape, a query of the wrong length or with a
/// non-finite value, an unavailable kernel.
pub fn pq_knn(
    books: &PqCodebooks,
    codes: PqView<'_>,
    query: &[f32],
    metric: PqMetric,
    k: usize,
    options: &PqSearchOptions,
) -> Result<Vec<ScoredNeighbor>> {
    pq_knn_where(books, codes, query, metric, k, options, |_| true)
}

/// [`pq_knn`] over the rows for which `keep(row)` holds (deleted rows and filters at
/// the index level). `keep` is asked only about rows that beat the current k-th cost.
pub fn pq_knn_where<F: Fn(usize) -> bool + Sync>(
    books: &PqCodebooks,
    codes: PqView<'_>,
    query: &[f32],
    metric: PqMetric,
    k: usize,
    options: &PqSearchOptions,
    keep: F,
) -> Result<Vec<ScoredNeighbor>> {
    books.check_codes(codes)?;
    let kernel = options.kernel()?;
    let table = AdcTable::new(books, query, metric, 1.0)?;
    if k == 0 || codes.is_empty() {
        return Ok(Vec::new());
    }
    let chunks = row_chunks(codes.len(), options.threads(), 1);
    let parts: Vec<CostTopK> = if chunks.len() == 1 {
        let mut top = CostTopK::new(k);
        scan_rows_where(kernel, &table, codes, 0..codes.len(), &mut top, &keep);
        vec![top]
    } else {
        chunks
            .into_par_iter()
            .map(|r| {
                let mut top = CostTopK::new(k);
                scan_rows_where(kernel, &table, codes, r, &mut top, &keep);
                top
            })
            .collect()
    };
    Ok(merge(metric, parts, k))
}

/// [`pq_knn`] for every query of `queries` (`nq × dim`, row-major).
pub fn pq_knn_batch(
    books: &PqCodebooks,
    codes: PqView<'_>,
    queries: &[f32],
    metric: PqMetric,
    k: usize,
    options: &PqSearchOptions,
) -> Result<Vec<Vec<ScoredNeighbor>>> {
    books.check_codes(codes)?;
    let kernel = options.kernel()?;
    let nq = check_queries(books, queries)?;
    let tables: Vec<AdcTable> = queries
        .chunks_exact(books.dim())
        .map(|q| AdcTable::new(books, q, metric, 1.0))
        .collect::<Result<_>>()?;
    if codes.nbits() == 8 && kernel != PqKernel::Scalar && books.m() > 0 {
        return Ok(grouped_8bit(kernel, &tables, codes, k, options.threads()));
    }
    let block_rows = (BATCH_BLOCK_BYTES / codes.row_bytes()).max(COST_BLOCK_ROWS);
    let scan_group = |group: &[AdcTable]| -> Vec<Vec<ScoredNeighbor>> {
        let mut tops: Vec<CostTopK> = group.iter().map(|_| CostTopK::new(k)).collect();
        if k > 0 {
            for start in (0..codes.len()).step_by(block_rows) {
                let end = (start + block_rows).min(codes.len());
                for (table, top) in group.iter().zip(&mut tops) {
                    scan_rows(kernel, table, codes, start..end, top);
                }
            }
        }
        tops.into_iter().map(|t| finish(metric, t)).collect()
    };
    let threads = options.threads();
    if threads == 1 || nq < 2 {
        return Ok(scan_group(&tables));
    }
    let per_task = nq.div_ceil(threads);
    let groups: Vec<Vec<Vec<ScoredNeighbor>>> =
        tables.par_chunks(per_task).map(scan_group).collect();
    Ok(groups.into_iter().flatten().collect())
}

/// Batched 8-bit ADC, eight queries per pass over the codes ([`group`]).
fn grouped_8bit(
    kernel: PqKernel,
    tables: &[AdcTable],
    codes: PqView<'_>,
    k: usize,
    threads: usize,
) -> Vec<Vec<ScoredNeighbor>> {
    let m = codes.m();
    let scan_one_group = |members: &[AdcTable]| -> Vec<Vec<ScoredNeighbor>> {
        let refs: Vec<&AdcTable> = members.iter().collect();
        let table = GroupTable::new(&refs);
        let mut tops: Vec<CostTopK> = members.iter().map(|_| CostTopK::new(k)).collect();
        if k > 0 {
            let mut bounds = [f32::NEG_INFINITY; GROUP];
            for (b, top) in bounds.iter_mut().zip(&tops) {
                *b = top.bound();
            }
            let mut out = vec![Lanes::default(); COST_BLOCK_ROWS];
            let bytes = codes.as_bytes();
            for start in (0..codes.len()).step_by(COST_BLOCK_ROWS) {
                let end = (start + COST_BLOCK_ROWS).min(codes.len());
                let out = &mut out[..end - start];
                group::costs(kernel, &table, &bytes[start * m..end * m], out);
                for (i, lanes) in out.iter().enumerate() {
                    for (q, top) in tops.iter_mut().enumerate() {
                        if lanes.0[q] < bounds[q] {
                            top.offer(start + i, lanes.0[q]);
                            bounds[q] = top.bound();
                        }
                    }
                }
            }
        }
        tops.into_iter()
            .zip(members)
            .map(|(t, table)| finish(table.metric(), t))
            .collect()
    };
    if threads == 1 || tables.len() <= GROUP {
        return tables.chunks(GROUP).flat_map(scan_one_group).collect();
    }
    let groups: Vec<Vec<Vec<ScoredNeighbor>>> =
        tables.par_chunks(GROUP).map(scan_one_group).collect();
    groups.into_iter().flatten().collect()
}

/// Re-ranks a shortlist (`rows`, in increasing order) by exact ADC cost. Costs are read
/// from the codes' row-major copy (prefetched some rows ahead), four rows at a time so
/// that their four chains of adds overlap; each row's sum still runs in sub-quantizer
/// order, as every other ADC sum does.
fn rerank(
    table: &AdcTable,
    codes: &FastScanCodes,
    rows: Vec<usize>,
    k: usize,
) -> Vec<ScoredNeighbor> {
    debug_assert!(rows.is_sorted());
    let (tables, _) = table.costs().as_chunks::<16>();
    let (full_pairs, odd) = (codes.m() / 2, codes.m() % 2 == 1);
    let mut top = CostTopK::new(k);
    // The rows are scattered over the codes: ask for them some rows ahead.
    const AHEAD: usize = 16;
    rows.iter().take(AHEAD).for_each(|&r| codes.prefetch_row(r));
    for (c, chunk) in rows.chunks(4).enumerate() {
        for &r in rows.iter().skip(4 * c + AHEAD).take(4) {
            codes.prefetch_row(r);
        }
        let bytes: [&[u8]; 4] = std::array::from_fn(|i| codes.row(chunk[i.min(chunk.len() - 1)]));
        let mut sums = [0.0f32; 4];
        for j in 0..full_pairs {
            let (even_sub, odd_sub) = (&tables[2 * j], &tables[2 * j + 1]);
            for (sum, b) in sums.iter_mut().zip(&bytes) {
                *sum += even_sub[(b[j] & 0x0f) as usize];
                *sum += odd_sub[(b[j] >> 4) as usize];
            }
        }
        if odd {
            for (sum, b) in sums.iter_mut().zip(&bytes) {
                *sum += tables[2 * full_pairs][(b[full_pairs] & 0x0f) as usize];
            }
        }
        for (&row, &sum) in chunk.iter().zip(&sums) {
            top.offer(row, sum);
        }
    }
    finish(table.metric(), top)
}

fn fast_scan_tables(
    books: &PqCodebooks,
    codes: &FastScanCodes,
    query: &[f32],
    metric: PqMetric,
) -> Result<(AdcTable, QuantizedTable)> {
    if books.nbits() != 4 || books.m() != codes.m() {
        return Err(Error::DimensionMismatch {
            what: "fast-scan codebooks (4-bit, same M as the codes)",
            expected: codes.m(),
            found: books.m(),
        });
    }
    let table = AdcTable::new(books, query, metric, 1.0)?;
    let quantized = QuantizedTable::new(&table)?;
    Ok((table, quantized))
}

/// The `k` best rows by the 4-bit fast scan: a shortlist of `k × rerank_factor` rows by
/// quantised cost, re-ranked by exact ADC cost.
pub fn fast_scan_knn(
    books: &PqCodebooks,
    codes: &FastScanCodes,
    query: &[f32],
    metric: PqMetric,
    k: usize,
    options: &PqSearchOptions,
) -> Result<Vec<ScoredNeighbor>> {
    fast_scan_knn_where(books, codes, query, metric, k, options, |_| true)
}

/// [`fast_scan_knn`] over the rows for which `keep(row)` holds: refused rows never
/// enter the shortlist. `keep` is asked only about rows below the shortlist's bound.
pub fn fast_scan_knn_where<F: Fn(usize) -> bool + Sync>(
    books: &PqCodebooks,
    codes: &FastScanCodes,
    query: &[f32],
    metric: PqMetric,
    k: usize,
    options: &PqSearchOptions,
    keep: F,
) -> Result<Vec<ScoredNeighbor>> {
    let kernel = options.kernel()?;
    let (table, quantized) = fast_scan_tables(books, codes, query, metric)?;
    if k == 0 || codes.is_empty() {
        return Ok(Vec::new());
    }
    let short = k.saturating_mul(options.rerank_factor.max(1));
    let blocks = codes.blocks();
    let chunks = row_chunks(blocks * BLOCK_ROWS, options.threads(), BLOCK_ROWS);
    let scan_part = |r: Range<usize>| {
        let mut top = KeepSink {
            inner: fastscan::shortlist_selector(codes, short),
            keep: &keep,
        };
        fastscan::scan(
            kernel,
            &quantized,
            codes,
            r.start / BLOCK_ROWS..r.end.div_ceil(BLOCK_ROWS).min(blocks),
            &mut top,
        );
        top.inner.into_sorted()
    };
    let mut rows: Vec<usize> = if chunks.len() == 1 {
        scan_part(0..blocks * BLOCK_ROWS)
            .into_iter()
            .map(|n| n.row)
            .collect()
    } else {
        let parts = chunks.into_par_iter().map(scan_part).collect();
        crate::scan::topk::merge_sorted(parts, short)
            .into_iter()
            .map(|n| n.row)
            .collect()
    };
    rows.sort_unstable();
    Ok(rerank(&table, codes, rows, k))
}

/// [`fast_scan_knn`] for every query of `queries` (`nq × dim`, row-major), the codes
/// walked in cache-sized blocks per group of queries.
pub fn fast_scan_knn_batch(
    books: &PqCodebooks,
    codes: &FastScanCodes,
    queries: &[f32],
    metric: PqMetric,
    k: usize,
    options: &PqSearchOptions,
) -> Result<Vec<Vec<ScoredNeighbor>>> {
    let kernel = options.kernel()?;
    check_queries(books, queries)?;
    let tables: Vec<(AdcTable, QuantizedTable)> = queries
        .chunks_exact(books.dim())
        .map(|q| fast_scan_tables(books, codes, q, metric))
        .collect::<Result<_>>()?;
    let short = k.saturating_mul(options.rerank_factor.max(1));
    let block_bytes = codes.pairs() * 32;
    let blocks_per_step = (FAST_SCAN_STEP_BYTES / block_bytes).max(1);
    let group_size = fastscan::scan_group_size(kernel);
    let scan_group = |group: &[(AdcTable, QuantizedTable)]| -> Vec<Vec<ScoredNeighbor>> {
        let mut tops: Vec<Shortlist> = group
            .iter()
            .map(|_| fastscan::shortlist_selector(codes, short))
            .collect();
        let quantized: Vec<&QuantizedTable> = group.iter().map(|(_, q)| q).collect();
        if k > 0 {
            for start in (0..codes.blocks()).step_by(blocks_per_step) {
                let end = (start + blocks_per_step).min(codes.blocks());
                for (qs, ts) in quantized
                    .chunks(group_size)
                    .zip(tops.chunks_mut(group_size))
                {
                    fastscan::scan_group(kernel, qs, codes, start..end, ts);
                }
            }
        }
        tops.into_iter()
            .zip(group)
            .map(|(top, (table, _))| {
                let rows = top.into_rows();
                rerank(table, codes, rows, k)
            })
            .collect()
    };
    let threads = options.threads();
    if threads == 1 || tables.len() < 2 {
        return Ok(scan_group(&tables));
    }
    let per_task = tables.len().div_ceil(threads);
    let groups: Vec<Vec<Vec<ScoredNeighbor>>> =
        tables.par_chunks(per_task).map(scan_group).collect();
    Ok(groups.into_iter().flatten().collect())
}

/// One PQ column of a multi-column search: its codebooks, its codes, and its weight.
#[derive(Clone, Copy, Debug)]
pub struct PqColumn<'a> {
    /// The column's codebooks.
    pub books: &'a PqCodebooks,
    /// The column's codes (every column has the same rows).
    pub codes: PqView<'a>,
    /// Weight of this column's score in the total.
    pub weight: f32,
}

/// The `k` rows best by `Σ weight_c · score_c(query_c, row)` over `columns` (HCQ: one
/// coarse column and L fine ones, weights 1 and 1/L). `queries[c]` is the query for
/// column `c` (often the same slice for all). One column of weight 1 costs what
/// [`pq_knn`] costs.
///
/// Errors: no columns, columns of different row counts, a query count other than the
/// column count, and every error of [`pq_knn`].
pub fn multi_column_knn(
    columns: &[PqColumn<'_>],
    queries: &[&[f32]],
    metric: PqMetric,
    k: usize,
    options: &PqSearchOptions,
) -> Result<Vec<ScoredNeighbor>> {
    multi_column_knn_where(columns, queries, metric, k, options, |_| true)
}

/// [`multi_column_knn`] over the rows for which `keep(row)` holds (deleted rows and
/// filters at the index level). `keep` is asked only about rows whose total beats the
/// current k-th cost.
pub fn multi_column_knn_where<F: Fn(usize) -> bool + Sync>(
    columns: &[PqColumn<'_>],
    queries: &[&[f32]],
    metric: PqMetric,
    k: usize,
    options: &PqSearchOptions,
    keep: F,
) -> Result<Vec<ScoredNeighbor>> {
    let Some(first) = columns.first() else {
        return Err(Error::InvalidArgument {
            name: "columns",
            reason: "a multi-column search needs at least one column".into(),
        });
    };
    if queries.len() != columns.len() {
        return Err(Error::DimensionMismatch {
            what: "multi-column queries (one per column)",
            expected: columns.len(),
            found: queries.len(),
        });
    }
    if columns.len() == 1 && first.weight == 1.0 {
        return pq_knn_where(
            first.books,
            first.codes,
            queries[0],
            metric,
            k,
            options,
            keep,
        );
    }
    let kernel = options.kernel()?;
    let n = first.codes.len();
    let mut tables = Vec::with_capacity(columns.len());
    for (col, q) in columns.iter().zip(queries) {
        col.books.check_codes(col.codes)?;
        if col.codes.len() != n {
            return Err(Error::DimensionMismatch {
                what: "multi-column rows (every column has the same rows)",
                expected: n,
                found: col.codes.len(),
            });
        }
        tables.push(AdcTable::new(col.books, q, metric, col.weight)?);
    }
    if k == 0 || n == 0 {
        return Ok(Vec::new());
    }
    let scan_part = |range: Range<usize>| {
        let mut top = CostTopK::new(k);
        let (mut total, mut part) = ([0f32; COST_BLOCK_ROWS], [0f32; COST_BLOCK_ROWS]);
        let mut start = range.start;
        while start < range.end {
            let end = (start + COST_BLOCK_ROWS).min(range.end);
            let len = end - start;
            adc::costs(
                kernel,
                &tables[0],
                columns[0].codes.slice(start, end),
                &mut total[..len],
            );
            for (table, col) in tables.iter().zip(columns).skip(1) {
                adc::costs(kernel, table, col.codes.slice(start, end), &mut part[..len]);
                total[..len]
                    .iter_mut()
                    .zip(&part[..len])
                    .for_each(|(t, p)| *t += p);
            }
            let bound = top.bound();
            for (i, &c) in total[..len].iter().enumerate() {
                if c < bound && keep(start + i) {
                    top.offer(start + i, c);
                }
            }
            start = end;
        }
        top
    };
    let chunks = row_chunks(n, options.threads(), 1);
    let parts: Vec<CostTopK> = if chunks.len() == 1 {
        vec![scan_part(0..n)]
    } else {
        chunks.into_par_iter().map(scan_part).collect()
    };
    Ok(merge(metric, parts, k))
}
