//! Exhaustive Hamming search over a [`BinaryView`]: k nearest, range, and batches.
//!
//! Single queries are split into row chunks scanned in parallel (rayon) and merged.
//! Batches are split by query across threads; each thread walks the database in blocks
//! small enough to stay in the core's L2 cache and runs every one of its queries over a
//! block before moving on, so each code is fetched from memory once per thread, not
//! once per query.
//!
//! Results are sorted by (distance, row), ties going to the smaller row, so they are the
//! same whatever the kernel or thread count. `k = 0`, an empty database and an empty
//! batch give empty results; `k` larger than the database gives every row.

use rayon::prelude::*;

use crate::code::BinaryView;
use crate::error::{Error, Result};
use crate::scan::hamming::{DistanceSink, HammingKernel, PreparedBlock};
use crate::scan::topk::{Neighbor, TopK, WithinRadius, merge_sorted};

/// Rows below which a single-query scan is not split across threads.
const MIN_ROWS_PER_TASK: usize = 32 * 1024;
/// Bytes of codes per block in batched scans: with its nibble-split copy (twice the
/// size) it stays in the L2 cache.
const BATCH_BLOCK_BYTES: usize = 128 * 1024;

/// Queries per thread from which batched scans re-lay out each block (see
/// `PreparedBlock`).
const MIN_QUERIES_TO_PREPARE: usize = 8;

/// How a search runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct SearchOptions {
    /// Kernel to use; `None` takes [`HammingKernel::process_default`].
    pub kernel: Option<HammingKernel>,
    /// Run on one thread even inside a multi-threaded rayon pool.
    pub single_threaded: bool,
}

impl SearchOptions {
    /// Options forcing one kernel.
    pub fn with_kernel(kernel: HammingKernel) -> Self {
        SearchOptions {
            kernel: Some(kernel),
            ..Self::default()
        }
    }

    fn kernel(&self) -> Result<HammingKernel> {
        match self.kernel {
            Some(k) => k.check(),
            None => HammingKernel::process_default(),
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

/// Views searched as one database: rows are numbered as if the views were concatenated
/// in order (an index's segments, for example). Rows are offered to sinks in increasing
/// order across views, so results tie-break by this concatenated row number.
#[derive(Clone, Debug)]
pub struct Chain<'a> {
    bits: usize,
    parts: Vec<BinaryView<'a>>,
    /// First row of each part, then the total.
    starts: Vec<usize>,
}

impl<'a> Chain<'a> {
    /// Chains `parts`, each of codes of `bits` bits.
    pub fn new(bits: usize, parts: Vec<BinaryView<'a>>) -> Result<Self> {
        let mut starts = Vec::with_capacity(parts.len() + 1);
        let mut total = 0usize;
        for part in &parts {
            if part.bits() != bits {
                return Err(Error::DimensionMismatch {
                    what: "code bits of a chained view",
                    expected: bits,
                    found: part.bits(),
                });
            }
            starts.push(total);
            total += part.len();
        }
        starts.push(total);
        Ok(Chain {
            bits,
            parts,
            starts,
        })
    }

    /// Code length.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// Rows over all parts.
    pub fn len(&self) -> usize {
        self.starts.last().copied().unwrap_or(0)
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The part holding chained row `row` and the row's number within it.
    pub fn locate(&self, row: usize) -> Option<(usize, usize)> {
        if row >= self.len() {
            return None;
        }
        // The last part starting at or before `row` (parts may be empty).
        let part = self.starts.partition_point(|&s| s <= row) - 1;
        Some((part, row - self.starts[part]))
    }

    fn words_per_code(&self) -> usize {
        self.bits.div_ceil(64)
    }

    /// The parts' pieces of rows `start..end`: (view, first local row, end local row,
    /// chained number of the first row).
    fn pieces(
        &self,
        start: usize,
        end: usize,
    ) -> impl Iterator<Item = (&BinaryView<'a>, usize, usize, usize)> + '_ {
        self.parts
            .iter()
            .zip(&self.starts)
            .filter_map(move |(view, &base)| {
                let (lo, hi) = (start.max(base), end.min(base + view.len()));
                (lo < hi).then_some((view, lo - base, hi - base, lo))
            })
    }
}

impl<'a> From<BinaryView<'a>> for Chain<'a> {
    fn from(view: BinaryView<'a>) -> Self {
        Chain {
            bits: view.bits(),
            starts: vec![0, view.len()],
            parts: vec![view],
        }
    }
}

/// Which rows a search may return, by chained row number (deleted rows, a filter of
/// allowed ids). Asked only for rows that would otherwise enter the results.
pub type RowFilter<'f> = &'f (dyn Fn(usize) -> bool + Sync);

/// Forwards to `inner` the offered rows that `keep` accepts.
struct Kept<'f, S> {
    inner: S,
    keep: Option<RowFilter<'f>>,
}

impl<S: DistanceSink> DistanceSink for Kept<'_, S> {
    #[inline]
    fn bound(&self) -> u32 {
        self.inner.bound()
    }

    #[inline]
    fn offer(&mut self, row: usize, distance: u32) {
        if distance < self.inner.bound() && self.keep.is_none_or(|keep| keep(row)) {
            self.inner.offer(row, distance);
        }
    }
}

fn check_query(words_per_code: usize, query: &[u64]) -> Result<()> {
    if query.len() != words_per_code {
        return Err(Error::DimensionMismatch {
            what: "query words (bits / 64, rounded up)",
            expected: words_per_code,
            found: query.len(),
        });
    }
    Ok(())
}

fn check_batch(bits: usize, queries: &BinaryView<'_>) -> Result<()> {
    if queries.bits() != bits {
        return Err(Error::DimensionMismatch {
            what: "query code bits",
            expected: bits,
            found: queries.bits(),
        });
    }
    Ok(())
}

/// Row ranges for a parallel scan of `n` rows.
fn row_chunks(n: usize, threads: usize) -> Vec<(usize, usize)> {
    let tasks = (n / MIN_ROWS_PER_TASK).clamp(1, threads.max(1) * 4);
    let per = n.div_ceil(tasks).max(1);
    (0..n).step_by(per).map(|s| (s, (s + per).min(n))).collect()
}

/// Scans chained rows `start..end` of `db` into `sink`, in row order.
fn scan_rows<S: DistanceSink>(
    kernel: HammingKernel,
    db: &Chain<'_>,
    query: &[u64],
    start: usize,
    end: usize,
    sink: &mut S,
) {
    let w = db.words_per_code();
    for (view, lo, hi, first) in db.pieces(start, end) {
        kernel.scan(query, &view.as_words()[lo * w..hi * w], first, sink);
    }
}

/// The `k` rows of `db` nearest to `query` (a row of `db.words_per_code()` words).
pub fn knn(
    db: BinaryView<'_>,
    query: &[u64],
    k: usize,
    options: &SearchOptions,
) -> Result<Vec<Neighbor>> {
    knn_chain(&Chain::from(db), query, k, None, options)
}

/// [`knn`] over chained views, returning only rows `keep` accepts.
pub fn knn_chain(
    db: &Chain<'_>,
    query: &[u64],
    k: usize,
    keep: Option<RowFilter<'_>>,
    options: &SearchOptions,
) -> Result<Vec<Neighbor>> {
    check_query(db.words_per_code(), query)?;
    let kernel = options.kernel()?;
    let max_d = db.bits() as u32;
    if k == 0 || db.is_empty() {
        return Ok(Vec::new());
    }
    let scan = |(s, e): (usize, usize)| {
        let mut top = Kept {
            inner: TopK::new(k, max_d),
            keep,
        };
        scan_rows(kernel, db, query, s, e, &mut top);
        top.inner.into_sorted()
    };
    let chunks = row_chunks(db.len(), options.threads());
    if chunks.len() == 1 {
        return Ok(scan(chunks[0]));
    }
    let parts = chunks.into_par_iter().map(scan).collect();
    Ok(merge_sorted(parts, k))
}

/// The `k` nearest rows of `db` for every query in `queries`.
pub fn knn_batch(
    db: BinaryView<'_>,
    queries: BinaryView<'_>,
    k: usize,
    options: &SearchOptions,
) -> Result<Vec<Vec<Neighbor>>> {
    knn_batch_chain(&Chain::from(db), queries, k, None, options)
}

/// [`knn_batch`] over chained views, returning only rows `keep` accepts.
pub fn knn_batch_chain(
    db: &Chain<'_>,
    queries: BinaryView<'_>,
    k: usize,
    keep: Option<RowFilter<'_>>,
    options: &SearchOptions,
) -> Result<Vec<Vec<Neighbor>>> {
    check_batch(db.bits(), &queries)?;
    let kernel = options.kernel()?;
    let threads = options.threads();
    let nq = queries.len();
    if nq < threads {
        // Few queries: parallelism comes from splitting the rows of each scan.
        return (0..nq)
            .map(|i| knn_chain(db, queries.row(i).unwrap_or_default(), k, keep, options))
            .collect();
    }
    let max_d = db.bits() as u32;
    let w = db.words_per_code();
    let block_rows = (BATCH_BLOCK_BYTES / (8 * w)).max(16);
    let per_task = nq.div_ceil(threads);
    let bits = db.bits();
    let scan_group = |group: &[u64]| -> Vec<Vec<Neighbor>> {
        let mut tops: Vec<Kept<TopK>> = (0..group.len() / w)
            .map(|_| Kept {
                inner: TopK::new(k, max_d),
                keep,
            })
            .collect();
        // Re-laying out a block costs about two scans of it: worth it for many queries.
        let mut prepared = PreparedBlock::for_kernel(kernel, bits)
            .filter(|_| tops.len() >= MIN_QUERIES_TO_PREPARE);
        let mut query_data = Vec::new();
        let query_bytes = prepared.as_ref().map_or(0, |b| b.query_bytes(bits));
        if let Some(block) = &prepared {
            for q in group.chunks_exact(w) {
                block.prepare_query(q, bits, &mut query_data);
            }
        }
        let step = prepared.as_ref().map_or(block_rows, |b| b.block_rows(bits));
        if k > 0 {
            for (view, _, n, base) in db.pieces(0, db.len()) {
                for start in (0..n).step_by(step) {
                    let end = (start + step).min(n);
                    let mut direct_from = start;
                    if let Some(block) = &mut prepared {
                        block.fill(&view.as_words()[start * w..end * w], w, bits);
                        direct_from = start + block.rows();
                        for (i, (q, top)) in group.chunks_exact(w).zip(tops.iter_mut()).enumerate()
                        {
                            let data = &query_data[i * query_bytes..(i + 1) * query_bytes];
                            block.scan(kernel, q, data, base + start, top);
                        }
                    }
                    let direct = &view.as_words()[direct_from * w..end * w];
                    for (q, top) in group.chunks_exact(w).zip(&mut tops) {
                        kernel.scan(q, direct, base + direct_from, top);
                    }
                }
            }
        }
        tops.into_iter().map(|t| t.inner.into_sorted()).collect()
    };
    let words = queries.as_words();
    if threads == 1 {
        return Ok(scan_group(words));
    }
    let groups: Vec<Vec<Vec<Neighbor>>> = words.par_chunks(per_task * w).map(scan_group).collect();
    Ok(groups.into_iter().flatten().collect())
}

/// Every row of `db` within Hamming distance `radius` of `query`, nearest first.
pub fn range(
    db: BinaryView<'_>,
    query: &[u64],
    radius: u32,
    options: &SearchOptions,
) -> Result<Vec<Neighbor>> {
    range_chain(&Chain::from(db), query, radius, None, options)
}

/// [`range`] over chained views, returning only rows `keep` accepts.
pub fn range_chain(
    db: &Chain<'_>,
    query: &[u64],
    radius: u32,
    keep: Option<RowFilter<'_>>,
    options: &SearchOptions,
) -> Result<Vec<Neighbor>> {
    check_query(db.words_per_code(), query)?;
    let kernel = options.kernel()?;
    let parts: Vec<Vec<Neighbor>> = row_chunks(db.len(), options.threads())
        .into_par_iter()
        .map(|(s, e)| {
            let mut within = Kept {
                inner: WithinRadius::new(radius),
                keep,
            };
            scan_rows(kernel, db, query, s, e, &mut within);
            within.inner.found
        })
        .collect();
    // Chunks come back in row order, so a stable sort by distance breaks ties by row.
    let mut all: Vec<Neighbor> = parts.into_iter().flatten().collect();
    all.sort_by_key(|n| n.distance);
    Ok(all)
}

/// [`range`] for every query in `queries`.
pub fn range_batch(
    db: BinaryView<'_>,
    queries: BinaryView<'_>,
    radius: u32,
    options: &SearchOptions,
) -> Result<Vec<Vec<Neighbor>>> {
    range_batch_chain(&Chain::from(db), queries, radius, None, options)
}

/// [`range_batch`] over chained views, returning only rows `keep` accepts.
pub fn range_batch_chain(
    db: &Chain<'_>,
    queries: BinaryView<'_>,
    radius: u32,
    keep: Option<RowFilter<'_>>,
    options: &SearchOptions,
) -> Result<Vec<Vec<Neighbor>>> {
    check_batch(db.bits(), &queries)?;
    options.kernel()?;
    let single = SearchOptions {
        single_threaded: true,
        ..*options
    };
    let one = |q: &[u64]| range_chain(db, q, radius, keep, &single);
    let w = db.words_per_code();
    if options.threads() == 1 {
        queries.as_words().chunks_exact(w).map(one).collect()
    } else {
        queries.as_words().par_chunks_exact(w).map(one).collect()
    }
}

/// Hamming distance from `query` to every row of `db`, in row order (for evaluation).
pub fn all_distances(
    db: BinaryView<'_>,
    query: &[u64],
    options: &SearchOptions,
) -> Result<Vec<u32>> {
    check_query(db.words_per_code(), query)?;
    let kernel = options.kernel()?;
    struct Every(Vec<u32>);
    impl DistanceSink for Every {
        fn bound(&self) -> u32 {
            u32::MAX
        }
        fn offer(&mut self, _row: usize, distance: u32) {
            self.0.push(distance);
        }
    }
    let mut every = Every(Vec::with_capacity(db.len()));
    kernel.scan(query, db.as_words(), 0, &mut every);
    Ok(every.0)
}
