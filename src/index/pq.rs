//! PQ indexes: one column of PQ codes and its codebooks, searched with float queries.
//!
//! [`Index::create_pq`] writes the codebooks once (a checksummed file the manifest
//! names, see [`crate::store::codebooks`]); appends add segments of code rows, as for
//! binary codes, and deletes, compaction, snapshots and the writer lock are shared with
//! the binary path. A search builds the query's lookup table per segment scan and uses
//! the [`crate::scan::pq`] kernels: exact ADC for 8-bit codes, the 4-bit fast scan with
//! exact re-ranking of a `k × rerank_factor` shortlist for 4-bit codes. Segments store
//! 4-bit codes row by row (`M/2` bytes, low nibble first), so the fast scan's block
//! layout is built from the mapped rows on a segment's first 4-bit search and kept for
//! the life of the snapshot (as much memory again as the codes).
//!
//! Deleted rows and filters are checked only for rows that beat the current k-th score
//! (for the fast scan: before they enter the shortlist). Results are [`PqHit`]s, best
//! first — smallest squared L2 distance or largest inner product — ties to the smaller
//! id, across segments as within one.
//!
//! ```
//! use crosscode::{Index, PqCodebooks, PqMetric, Schema};
//!
//! let dir = tempfile::tempdir().unwrap();
//! // M = 2 sub-quantizers of K = 16 one-dimensional codewords 0, 1, …, 15.
//! let words: Vec<f32> = (0..2).flat_map(|_| (0..16).map(|c| c as f32)).collect();
//! let books = PqCodebooks::new(2, 4, 1, words)?;
//! let mut index = Index::create_pq(dir.path(), Schema::pq(2, 4, PqMetric::SquaredL2)?, books)?;
//! index.append_vectors(&[7, 8, 9], &[0.0, 0.0, 3.0, 4.0, 15.0, 15.0])?;
//! let hits = index.search_pq(&[3.0, 3.0], 2)?;
//! assert_eq!((hits[0].id, hits[0].score), (8, 1.0));
//! assert_eq!((hits[1].id, hits[1].score), (7, 18.0));
//! # Ok::<(), crosscode::Error>(())
//! ```

use std::path::Path;

use rayon::prelude::*;
use roaring::{RoaringBitmap, RoaringTreemap};

use super::{Index, LoadedSegment};
use crate::code::pq::{PqCodebooks, PqMetric, PqView, check_finite};
use crate::error::{Error, Result};
use crate::scan::SearchOptions;
use crate::scan::pq::{
    FastScanCodes, PqSearchOptions, ScoredNeighbor, fast_scan_knn, fast_scan_knn_batch,
    fast_scan_knn_where, pq_knn, pq_knn_batch, pq_knn_where,
};
use crate::store::codebooks::{codebook_name, read_codebooks, write_codebooks};
use crate::store::manifest::{MANIFEST_FILE, Manifest};
use crate::store::schema::{ColumnKind, Schema};
use crate::store::segment::ColumnData;

/// One PQ search result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PqHit {
    /// External id of the row.
    pub id: u64,
    /// Squared L2 distance (smaller is better) or inner product (larger is better)
    /// between the query and the row's decoded vector, as the index's metric says.
    pub score: f32,
}

/// What a PQ index keeps besides its segments.
#[derive(Debug)]
pub(crate) struct PqState {
    pub(super) books: PqCodebooks,
    pub(super) metric: PqMetric,
    pub(super) options: PqSearchOptions,
}

/// The single PQ column of `schema` as `(name, m, nbits, metric)`.
fn pq_column(dir: &Path, schema: &Schema) -> Result<(String, usize, u8, PqMetric)> {
    match schema.columns.as_slice() {
        [c] => match c.kind {
            ColumnKind::Pq { m, nbits, metric } => {
                Ok((c.name.clone(), m as usize, nbits as u8, metric))
            }
            _ => Err(not_one_pq_column(dir, schema)),
        },
        _ => Err(not_one_pq_column(dir, schema)),
    }
}

fn not_one_pq_column(dir: &Path, schema: &Schema) -> Error {
    Error::SchemaMismatch {
        path: dir.to_path_buf(),
        expected: "one PQ column (several: Index::create_pq_columns)".to_string(),
        found: schema.describe(),
    }
}

fn check_books_fit(dir: &Path, schema: &Schema, books: &PqCodebooks) -> Result<()> {
    let (_, m, nbits, _) = pq_column(dir, schema)?;
    if books.m() != m || books.nbits() != nbits {
        return Err(Error::SchemaMismatch {
            path: dir.to_path_buf(),
            expected: format!("codebooks of M={m}, nbits={nbits} (the schema's)"),
            found: format!("M={}, nbits={}", books.m(), books.nbits()),
        });
    }
    Ok(())
}

impl PqState {
    /// Reads the codebooks of the manifest's PQ column (CRC-checked).
    pub(crate) fn load(dir: &Path, manifest: &Manifest) -> Result<PqState> {
        let (name, _, _, metric) = pq_column(dir, &manifest.schema)?;
        let entry = manifest
            .codebook_entry(&name)
            .ok_or_else(|| Error::Corrupt {
                path: dir.join(MANIFEST_FILE),
                what: format!("codebook entry of column {name:?}"),
                expected: "one".to_string(),
                found: "none".to_string(),
            })?;
        let books = read_codebooks(dir, entry)?;
        check_books_fit(&dir.join(&entry.file), &manifest.schema, &books)?;
        Ok(PqState {
            books,
            metric,
            options: PqSearchOptions::default(),
        })
    }

    /// Rows of code bytes as a view of this index's shape.
    pub(crate) fn view_of<'a>(&self, bytes: &'a [u8]) -> Result<PqView<'a>> {
        PqView::new(self.books.m(), self.books.nbits(), bytes)
    }

    /// A segment column of `view`'s rows.
    pub(crate) fn column<'a>(&self, view: PqView<'a>) -> ColumnData<'a> {
        ColumnData::Pq(view, self.metric)
    }

    /// Re-reads the codebook file and checks it still holds these codebooks.
    pub(crate) fn verify(&self, dir: &Path, manifest: &Manifest) -> Result<()> {
        let fresh = PqState::load(dir, manifest)?;
        if fresh.books != self.books {
            return Err(Error::Corrupt {
                path: dir.to_path_buf(),
                what: "codebook file".to_string(),
                expected: "the codebooks read at open".to_string(),
                found: "different codebooks".to_string(),
            });
        }
        Ok(())
    }
}

/// The number of `dim`-float queries in `queries`, all finite; `what` names the
/// expected shape in the error for a partial row.
pub(super) fn query_count(queries: &[f32], dim: usize, what: &'static str) -> Result<usize> {
    if !queries.len().is_multiple_of(dim) {
        return Err(Error::DimensionMismatch {
            what,
            expected: dim,
            found: queries.len() % dim,
        });
    }
    check_finite("PQ query", queries, dim)?;
    Ok(queries.len() / dim)
}

/// Orders hits best first under `metric`, ties to the smaller id.
fn hit_order(metric: PqMetric) -> impl Fn(&PqHit, &PqHit) -> std::cmp::Ordering {
    move |a, b| {
        let by_score = match metric {
            PqMetric::SquaredL2 => a.score.total_cmp(&b.score),
            PqMetric::InnerProduct => b.score.total_cmp(&a.score),
        };
        by_score.then(a.id.cmp(&b.id))
    }
}

pub(super) fn to_pq_hits(ids: &[u64], found: &[ScoredNeighbor]) -> Vec<PqHit> {
    found
        .iter()
        .map(|n| PqHit {
            id: ids.get(n.row).copied().unwrap_or(u64::MAX),
            score: n.score,
        })
        .collect()
}

pub(super) fn merge_pq_hits(parts: Vec<Vec<PqHit>>, metric: PqMetric, k: usize) -> Vec<PqHit> {
    let mut all: Vec<PqHit> = parts.into_iter().flatten().collect();
    all.sort_unstable_by(hit_order(metric));
    all.truncate(k);
    all
}

impl Index {
    /// Creates a new PQ index in `dir` (created if missing; must not hold an index yet)
    /// with `schema` (one PQ column, see [`Schema::pq`]) and its `codebooks`, and opens
    /// it for writing. The codebooks are written once, beside the segments.
    ///
    /// Errors: a schema that is not one PQ column, codebooks of another `M` or `nbits`,
    /// a directory that already holds an index, or another writer holding the lock.
    pub fn create_pq(
        dir: impl AsRef<Path>,
        schema: Schema,
        codebooks: PqCodebooks,
    ) -> Result<Index> {
        let dir = dir.as_ref();
        schema.validate()?;
        let (name, _, _, metric) = pq_column(dir, &schema)?;
        check_books_fit(dir, &schema, &codebooks)?;
        let lock = super::lock_new_dir(dir)?;
        let entry = write_codebooks(dir, &codebook_name(0), &name, &codebooks)?;
        let manifest = Manifest::new_with_codebooks(schema, vec![entry])?;
        manifest.store(dir)?;
        Ok(Index {
            dir: dir.to_path_buf(),
            manifest,
            segments: Vec::new(),
            bits: 0,
            pq: Some(PqState {
                books: codebooks,
                metric,
                options: PqSearchOptions::default(),
            }),
            multi: None,
            writer: Some(lock),
            options: SearchOptions::default(),
        })
    }

    fn pq_state(&self, what: &str) -> Result<&PqState> {
        self.pq.as_ref().ok_or_else(|| Error::SchemaMismatch {
            path: self.dir.clone(),
            expected: format!("a single-column PQ index for {what}"),
            found: format!(
                "{} ({})",
                self.manifest.schema.describe(),
                if self.multi.is_some() {
                    "several PQ columns: use append_pq_columns, or append_vectors"
                } else {
                    "binary indexes take binary codes and queries"
                }
            ),
        })
    }

    /// Whether this index holds PQ codes (one column or several).
    pub fn is_pq(&self) -> bool {
        self.pq.is_some() || self.multi.is_some()
    }

    /// The codebooks of a single-column PQ index (`None` for several columns: see
    /// [`Index::pq_column_codebooks`]).
    pub fn pq_codebooks(&self) -> Option<&PqCodebooks> {
        self.pq.as_ref().map(|s| &s.books)
    }

    /// The metric of a PQ index (shared by all its columns).
    pub fn pq_metric(&self) -> Option<PqMetric> {
        match (&self.pq, &self.multi) {
            (Some(s), _) => Some(s.metric),
            (None, Some(m)) => Some(m.metric()),
            (None, None) => None,
        }
    }

    /// Sets the kernel, threading and re-rank factor of PQ searches (no effect on a
    /// binary index).
    pub fn set_pq_search_options(&mut self, options: PqSearchOptions) {
        if let Some(s) = &mut self.pq {
            s.options = options;
        }
        if let Some(m) = &mut self.multi {
            m.set_options(options);
        }
    }

    /// The code bytes of live row `id` in a PQ index (its first column when there are
    /// several; see [`Index::get_pq_column`]).
    pub fn get_pq(&self, id: u64) -> Option<&[u8]> {
        let (s, row) = self.locate(id)?;
        self.segments[s].segment.pq(0).ok()?.row(row)
    }

    /// Appends rows `ids[i]` → `codes.row(i)` as one new segment and commits.
    ///
    /// Fails without changing anything on a binary index, codes of another `M` or
    /// `nbits`, lengths that differ, an id repeated in `ids`, or an id already live.
    pub fn append_pq(&mut self, ids: &[u64], codes: PqView<'_>) -> Result<()> {
        self.writer("append")?;
        let state = self.pq_state("PQ codes")?;
        state.books.check_codes(codes)?;
        let metric = state.metric;
        let Some((sorted_ids, order)) = super::order_append(ids, codes.len())? else {
            return Ok(());
        };
        let sorted_bytes: Option<Vec<u8>> = order.map(|order| {
            (order.iter())
                .flat_map(|&i| codes.row(i).unwrap_or_default())
                .copied()
                .collect()
        });
        self.check_new_ids(&sorted_ids)?;
        let view = match &sorted_bytes {
            Some(bytes) => PqView::new(codes.m(), codes.nbits(), bytes)?,
            None => codes,
        };
        self.append_segment(&sorted_ids, &[ColumnData::Pq(view, metric)])
    }

    /// Encodes `vectors` (`ids.len() × dim`, row-major) with the index's codebooks and
    /// metric ([`PqCodebooks::encode`]) and appends the codes as [`Index::append_pq`].
    ///
    /// In an index of several PQ columns, each row's vector is encoded with every
    /// column's codebooks ([`Index::append_pq_columns`]): HCQ codes the same embedding
    /// at each level.
    pub fn append_vectors(&mut self, ids: &[u64], vectors: &[f32]) -> Result<()> {
        if self.multi.is_some() {
            return self.append_vectors_columns(ids, vectors);
        }
        let state = self.pq_state("float vectors")?;
        let codes = state.books.encode(vectors, state.metric)?;
        self.append_pq(ids, codes.view())
    }

    /// The code rows of column `col` at `(id, segment, row)` of `rows`, back to back
    /// (compaction).
    pub(crate) fn gather_pq_rows(
        &self,
        rows: &[(u64, usize, usize)],
        col: usize,
    ) -> Result<Vec<u8>> {
        let views: Vec<PqView<'_>> = self
            .segments
            .iter()
            .map(|s| s.segment.pq(col))
            .collect::<Result<_>>()?;
        let row_bytes = views.first().map_or(0, |v| v.row_bytes());
        let mut bytes = Vec::with_capacity(rows.len() * row_bytes);
        for &(_, s, r) in rows {
            bytes.extend_from_slice(views[s].row(r).unwrap_or_default());
        }
        Ok(bytes)
    }

    /// The fast-scan layout of a 4-bit segment, built once.
    fn fast_codes<'a>(&self, seg: &'a LoadedSegment) -> Result<&'a FastScanCodes> {
        if let Some(f) = seg.fast.get() {
            return Ok(f);
        }
        let built = FastScanCodes::from_view(seg.segment.pq(0)?)?;
        // Another thread may have won the race; either copy is the same.
        let _ = seg.fast.set(built);
        seg.fast.get().ok_or_else(|| Error::InvalidArgument {
            name: "segment",
            reason: "fast-scan layout missing after it was set".to_string(),
        })
    }

    /// Checks a query batch: a whole number of `dim`-float rows, all finite.
    fn check_pq_queries(&self, queries: &[f32]) -> Result<usize> {
        let state = self.pq_state("float queries")?;
        query_count(
            queries,
            state.books.dim(),
            "PQ query floats (a multiple of the codebooks' dimension)",
        )
    }

    /// One segment, one query, as hits sorted best first.
    fn search_segment_pq(
        &self,
        seg: &LoadedSegment,
        query: &[f32],
        k: usize,
        allowed: Option<&RoaringTreemap>,
        opts: &PqSearchOptions,
    ) -> Result<Vec<PqHit>> {
        let state = self.pq_state("float queries")?;
        let (books, metric) = (&state.books, state.metric);
        let ids = seg.segment.ids();
        let deleted: Option<&RoaringBitmap> = (!seg.deleted.is_empty()).then_some(&seg.deleted);
        let masked = deleted.is_some() || allowed.is_some();
        let keep = |row: usize| {
            deleted.is_none_or(|d| !d.contains(row as u32))
                && allowed.is_none_or(|a| ids.get(row).is_some_and(|id| a.contains(*id)))
        };
        let found = if books.nbits() == 4 {
            let fast = self.fast_codes(seg)?;
            if masked {
                fast_scan_knn_where(books, fast, query, metric, k, opts, keep)?
            } else {
                fast_scan_knn(books, fast, query, metric, k, opts)?
            }
        } else {
            let codes = seg.segment.pq(0)?;
            if masked {
                pq_knn_where(books, codes, query, metric, k, opts, keep)?
            } else {
                pq_knn(books, codes, query, metric, k, opts)?
            }
        };
        Ok(to_pq_hits(ids, &found))
    }

    fn search_pq_one(
        &self,
        query: &[f32],
        k: usize,
        allowed: Option<&RoaringTreemap>,
    ) -> Result<Vec<PqHit>> {
        let nq = self.check_pq_queries(query)?;
        let state = self.pq_state("float queries")?;
        if nq != 1 {
            return Err(Error::DimensionMismatch {
                what: "PQ query floats (one query of the codebooks' dimension)",
                expected: state.books.dim(),
                found: query.len(),
            });
        }
        let (options, metric) = (state.options, state.metric);
        match self.segments.as_slice() {
            [] => Ok(Vec::new()),
            [one] => self.search_segment_pq(one, query, k, allowed, &options),
            many => {
                // As in the binary path: with at least as many segments as threads, one
                // task per segment.
                let per_segment = PqSearchOptions {
                    single_threaded: options.single_threaded
                        || many.len() >= rayon::current_num_threads(),
                    ..options
                };
                let one =
                    |s: &LoadedSegment| self.search_segment_pq(s, query, k, allowed, &per_segment);
                let parts: Vec<Vec<PqHit>> = if options.single_threaded {
                    many.iter().map(one).collect::<Result<_>>()?
                } else {
                    many.par_iter().map(one).collect::<Result<_>>()?
                };
                Ok(merge_pq_hits(parts, metric, k))
            }
        }
    }

    /// The `k` live rows best for `query` (`dim` floats) in a PQ index.
    ///
    /// Errors: a binary index, a query of the wrong length or with a non-finite value,
    /// an unavailable kernel.
    ///
    /// In an index of several PQ columns this is [`Index::search_pq_columns`] with the
    /// default weights.
    pub fn search_pq(&self, query: &[f32], k: usize) -> Result<Vec<PqHit>> {
        if self.multi.is_some() {
            return self.search_pq_columns(query, k, None);
        }
        self.search_pq_one(query, k, None)
    }

    /// [`Index::search_pq`] restricted to rows whose id is in `allowed`.
    pub fn search_pq_filtered(
        &self,
        query: &[f32],
        k: usize,
        allowed: &RoaringTreemap,
    ) -> Result<Vec<PqHit>> {
        if self.multi.is_some() {
            return self.search_pq_columns_filtered(query, k, None, allowed);
        }
        self.search_pq_one(query, k, Some(allowed))
    }

    /// [`Index::search_pq`] for every query of `queries` (`nq × dim`, row-major),
    /// optionally restricted to `allowed` ids. Without deletions or a filter each segment
    /// is scanned once for the whole batch (blocked batch kernels), then merged per query.
    /// (Several PQ columns: [`Index::search_pq_columns_batch`], default weights.)
    pub fn search_pq_batch(
        &self,
        queries: &[f32],
        k: usize,
        allowed: Option<&RoaringTreemap>,
    ) -> Result<Vec<Vec<PqHit>>> {
        if self.multi.is_some() {
            return self.search_pq_columns_batch(queries, k, None, allowed);
        }
        let nq = self.check_pq_queries(queries)?;
        let state = self.pq_state("float queries")?;
        let (books, metric, options) = (&state.books, state.metric, state.options);
        let masked = allowed.is_some() || self.segments.iter().any(|s| !s.deleted.is_empty());
        if !masked {
            let mut out: Vec<Vec<Vec<PqHit>>> = vec![Vec::new(); nq];
            for seg in &self.segments {
                let found = if books.nbits() == 4 {
                    let fast = self.fast_codes(seg)?;
                    fast_scan_knn_batch(books, fast, queries, metric, k, &options)?
                } else {
                    pq_knn_batch(books, seg.segment.pq(0)?, queries, metric, k, &options)?
                };
                let ids = seg.segment.ids();
                for (q, f) in found.iter().enumerate() {
                    out[q].push(to_pq_hits(ids, f));
                }
            }
            return Ok(out
                .into_iter()
                .map(|parts| match parts.len() {
                    1 => parts.into_iter().next().unwrap_or_default(),
                    _ => merge_pq_hits(parts, metric, k),
                })
                .collect());
        }
        let dim = books.dim();
        let one = |q: &[f32]| self.search_pq_one(q, k, allowed);
        if options.single_threaded {
            queries.chunks_exact(dim).map(one).collect()
        } else {
            queries.par_chunks_exact(dim).map(one).collect()
        }
    }
}
