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
use crate::scan::hamming::{ByteSlicedBlock, DistanceSink, HammingKernel};
use crate::scan::topk::{Neighbor, TopK, WithinRadius, merge_sorted};

/// Rows below which a single-query scan is not split across threads.
const MIN_ROWS_PER_TASK: usize = 32 * 1024;
/// Bytes of codes per block in batched scans: with its nibble-split copy (twice the
/// size) it stays in the L2 cache.
const BATCH_BLOCK_BYTES: usize = 128 * 1024;

/// Queries per thread from which batched scans re-lay out each block (see
/// `ByteSlicedBlock`).
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

fn check_query(db: &BinaryView<'_>, query: &[u64]) -> Result<()> {
    if query.len() != db.words_per_code() {
        return Err(Error::DimensionMismatch {
            what: "query words (bits / 64, rounded up)",
            expected: db.words_per_code(),
            found: query.len(),
        });
    }
    Ok(())
}

fn check_batch(db: &BinaryView<'_>, queries: &BinaryView<'_>) -> Result<()> {
    if queries.bits() != db.bits() {
        return Err(Error::DimensionMismatch {
            what: "query code bits",
            expected: db.bits(),
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

/// Scans rows `start..end` of `db` into `sink`.
fn scan_rows<S: DistanceSink>(
    kernel: HammingKernel,
    db: &BinaryView<'_>,
    query: &[u64],
    start: usize,
    end: usize,
    sink: &mut S,
) {
    let w = db.words_per_code();
    kernel.scan(query, &db.as_words()[start * w..end * w], start, sink);
}

/// The `k` rows of `db` nearest to `query` (a row of `db.words_per_code()` words).
pub fn knn(
    db: BinaryView<'_>,
    query: &[u64],
    k: usize,
    options: &SearchOptions,
) -> Result<Vec<Neighbor>> {
    check_query(&db, query)?;
    let kernel = options.kernel()?;
    let max_d = db.bits() as u32;
    let chunks = row_chunks(db.len(), options.threads());
    if k == 0 || db.is_empty() {
        return Ok(Vec::new());
    }
    if chunks.len() == 1 {
        let mut top = TopK::new(k, max_d);
        scan_rows(kernel, &db, query, 0, db.len(), &mut top);
        return Ok(top.into_sorted());
    }
    let parts = chunks
        .into_par_iter()
        .map(|(s, e)| {
            let mut top = TopK::new(k, max_d);
            scan_rows(kernel, &db, query, s, e, &mut top);
            top.into_sorted()
        })
        .collect();
    Ok(merge_sorted(parts, k))
}

/// The `k` nearest rows of `db` for every query in `queries`.
pub fn knn_batch(
    db: BinaryView<'_>,
    queries: BinaryView<'_>,
    k: usize,
    options: &SearchOptions,
) -> Result<Vec<Vec<Neighbor>>> {
    check_batch(&db, &queries)?;
    let kernel = options.kernel()?;
    let threads = options.threads();
    let nq = queries.len();
    if nq < threads {
        // Few queries: parallelism comes from splitting the rows of each scan.
        return (0..nq)
            .map(|i| knn(db, queries.row(i).unwrap_or_default(), k, options))
            .collect();
    }
    let max_d = db.bits() as u32;
    let w = db.words_per_code();
    let block_rows = (BATCH_BLOCK_BYTES / (8 * w)).max(16);
    let sliced_block_rows = ByteSlicedBlock::block_rows(db.bits() / 8);
    let per_task = nq.div_ceil(threads);
    let scan_group = |group: &[u64]| -> Vec<Vec<Neighbor>> {
        let mut tops: Vec<TopK> = (0..group.len() / w).map(|_| TopK::new(k, max_d)).collect();
        // Re-laying out a block costs about two scans of it: worth it for many queries.
        let prepare = ByteSlicedBlock::supported(kernel) && tops.len() >= MIN_QUERIES_TO_PREPARE;
        let mut block = ByteSlicedBlock::default();
        let step = if prepare {
            sliced_block_rows
        } else {
            block_rows
        };
        if k > 0 {
            for start in (0..db.len()).step_by(step) {
                let end = (start + step).min(db.len());
                if prepare {
                    block.fill(&db.as_words()[start * w..end * w], w, db.bits() / 8);
                }
                let direct_from = if prepare { start + block.rows() } else { start };
                for (q, top) in group.chunks_exact(w).zip(&mut tops) {
                    if prepare {
                        block.scan(kernel, q, start, top);
                    }
                    scan_rows(kernel, &db, q, direct_from, end, top);
                }
            }
        }
        tops.into_iter().map(TopK::into_sorted).collect()
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
    check_query(&db, query)?;
    let kernel = options.kernel()?;
    let parts: Vec<Vec<Neighbor>> = row_chunks(db.len(), options.threads())
        .into_par_iter()
        .map(|(s, e)| {
            let mut within = WithinRadius::new(radius);
            scan_rows(kernel, &db, query, s, e, &mut within);
            within.found
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
    check_batch(&db, &queries)?;
    options.kernel()?;
    let single = SearchOptions {
        single_threaded: true,
        ..*options
    };
    let one = |q: &[u64]| range(db, q, radius, &single);
    if options.threads() == 1 {
        queries
            .as_words()
            .chunks_exact(db.words_per_code())
            .map(one)
            .collect()
    } else {
        queries
            .as_words()
            .par_chunks_exact(db.words_per_code())
            .map(one)
            .collect()
    }
}

/// Hamming distance from `query` to every row of `db`, in row order (for evaluation).
pub fn all_distances(
    db: BinaryView<'_>,
    query: &[u64],
    options: &SearchOptions,
) -> Result<Vec<u32>> {
    check_query(&db, query)?;
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
    scan_rows(kernel, &db, query, 0, db.len(), &mut every);
    Ok(every.0)
}
