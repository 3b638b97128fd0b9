//! PQ indexes of several columns: HCQ's one coarse and L fine codes per row, scored
//! as a weighted sum.
//!
//! The schema lists the PQ columns ([`Schema::pq_columns`]); they may differ in `M`,
//! `nbits` and `dsub`, but every column takes the same query (`M · dsub` is the same)
//! and scores it with the same metric. [`Index::create_pq_columns`] writes one codebook
//! file per column (the manifest names them by column); a segment holds one block of
//! codes per column, each with its CRC, row for row with the ids. Appends give every
//! column's codes for the same ids ([`Index::append_pq_columns`]), or float vectors that
//! each column's codebooks encode ([`Index::append_vectors`]). Deletes, compaction
//! (which rewrites every column), snapshots, `verify` and the writer lock are those of
//! every index.
//!
//! A search scores row `r` as `Σ_c w_c · score_c(query, r)`, where `score_c` is the
//! column's exact ADC score (squared L2 distance, or inner product) and the weights
//! default to 1 for the first (coarse) column and `1/L` for each of the `L` others, so
//! that the default is HCQ's `coarse + mean(fine)`. Explicit weights may be any finite
//! numbers. Rows are ranked best first (smallest weighted distance, largest weighted
//! inner product), ties to the smaller id, across segments as within one. Every column,
//! 4-bit ones included, is scored by exact ADC (no fast scan), so results do not depend
//! on a re-rank shortlist. Deleted rows and filters are checked only for rows whose
//! total beats the current k-th.
//!
//! Single-column PQ indexes keep their own path ([`super::pq`]): `search_pq_columns` on
//! one column with weight 1 is [`Index::search_pq`], and the plain `*_pq` searches of a
//! multi-column index use the default weights.
//!
//! ```
//! use crosscode::{Index, PqCodebooks, PqCodes, PqMetric, Schema};
//!
//! let dir = tempfile::tempdir().unwrap();
//! // Two-dimensional vectors. Coarse: M = 1 of 8 bits, codeword c is (c, c).
//! // Fine: M = 2 of 4 bits, codeword c of each sub-quantizer is c.
//! let coarse: Vec<f32> = (0..256).flat_map(|c| [c as f32, c as f32]).collect();
//! let fine: Vec<f32> = (0..2).flat_map(|_| (0..16).map(|c| c as f32)).collect();
//! let schema = Schema::pq_columns(&[("coarse", 1, 8), ("fine", 2, 4)], PqMetric::SquaredL2)?;
//! let books = vec![PqCodebooks::new(1, 8, 2, coarse)?, PqCodebooks::new(2, 4, 1, fine)?];
//! let mut index = Index::create_pq_columns(dir.path(), schema, books)?;
//! // Id 1: coarse (2, 2), fine (3, 1) (low nibble first); id 2: coarse (3, 3), fine (0, 0).
//! let coarse_codes = PqCodes::new(1, 8, vec![2, 3])?;
//! let fine_codes = PqCodes::new(2, 4, vec![0x13, 0x00])?;
//! index.append_pq_columns(&[1, 2], &[coarse_codes.view(), fine_codes.view()])?;
//! // Query (3, 3). Id 1: coarse 1 + 1 = 2, fine 0 + 4 = 4. Id 2: coarse 0, fine 9 + 9 = 18.
//! // Default weights (1 and 1/L, here L = 1): 2 + 4 = 6 and 0 + 18 = 18.
//! let hits = index.search_pq_columns(&[3.0, 3.0], 2, None)?;
//! assert_eq!((hits[0].id, hits[0].score, hits[1].id, hits[1].score), (1, 6.0, 2, 18.0));
//! // Weights 4 and 1/4: 4·2 + 4/4 = 9 and 0 + 18/4 = 4.5, so id 2 comes first.
//! let hits = index.search_pq_columns(&[3.0, 3.0], 2, Some(&[4.0, 0.25]))?;
//! assert_eq!((hits[0].id, hits[0].score, hits[1].id, hits[1].score), (2, 4.5, 1, 9.0));
//! # Ok::<(), crosscode::Error>(())
//! ```

use std::borrow::Cow;
use std::path::Path;

use rayon::prelude::*;
use roaring::{RoaringBitmap, RoaringTreemap};

use super::pq::{merge_pq_hits, query_count, to_pq_hits};
use super::{Index, LoadedSegment, PqHit};
use crate::code::pq::{PqCodebooks, PqCodes, PqMetric, PqView, check_finite};
use crate::error::{Error, Result};
use crate::scan::SearchOptions;
use crate::scan::pq::{PqColumn, PqSearchOptions, multi_column_knn, multi_column_knn_where};
use crate::store::codebooks::{codebook_name, read_codebooks, write_codebooks};
use crate::store::manifest::{MANIFEST_FILE, Manifest};
use crate::store::schema::{ColumnKind, Schema};
use crate::store::segment::ColumnData;

/// One PQ column of a schema: its name and shape.
struct PqColumnShape {
    name: String,
    m: usize,
    nbits: u8,
    metric: PqMetric,
}

/// What an index of several PQ columns keeps besides its segments.
#[derive(Debug)]
pub(crate) struct MultiPqState {
    /// Column names, in schema order.
    names: Vec<String>,
    /// One codebook set per column, in schema order.
    books: Vec<PqCodebooks>,
    metric: PqMetric,
    options: PqSearchOptions,
}

/// The default weights of `columns` PQ columns: 1 for the first, `1/L` for each of the
/// `L = columns - 1` others (HCQ's `coarse + mean(fine)`).
pub fn default_column_weights(columns: usize) -> Vec<f32> {
    let fine = columns.saturating_sub(1);
    (0..columns)
        .map(|c| if c == 0 { 1.0 } else { 1.0 / fine as f32 })
        .collect()
}

/// The PQ columns of `schema`, checking that every column is PQ and that all share the
/// first column's metric.
fn pq_columns(dir: &Path, schema: &Schema) -> Result<Vec<PqColumnShape>> {
    let mut out: Vec<PqColumnShape> = Vec::with_capacity(schema.columns.len());
    for c in &schema.columns {
        let ColumnKind::Pq { m, nbits, metric } = c.kind else {
            return Err(Error::SchemaMismatch {
                path: dir.to_path_buf(),
                expected: "PQ columns only (binary and PQ columns do not mix in one index)"
                    .to_string(),
                found: schema.describe(),
            });
        };
        if let Some(first) = out.first()
            && first.metric != metric
        {
            return Err(Error::ColumnMismatch {
                path: dir.to_path_buf(),
                column: c.name.clone(),
                what: "metric (every PQ column of an index scores with one metric)",
                expected: format!(
                    "{} (the metric of column {:?})",
                    first.metric.name(),
                    first.name
                ),
                found: metric.name().to_string(),
            });
        }
        out.push(PqColumnShape {
            name: c.name.clone(),
            m: m as usize,
            nbits: nbits as u8,
            metric,
        });
    }
    Ok(out)
}

/// Checks one codebook set per column, each of its column's `M` and `nbits`, all of the
/// first column's query dimension.
fn check_books_fit(dir: &Path, columns: &[PqColumnShape], books: &[PqCodebooks]) -> Result<()> {
    if books.len() != columns.len() {
        return Err(Error::LengthMismatch {
            what: "codebook sets (one per PQ column of the schema)",
            expected: columns.len(),
            found: books.len(),
        });
    }
    let (Some(first), Some(first_books)) = (columns.first(), books.first()) else {
        return Ok(());
    };
    for (c, b) in columns.iter().zip(books) {
        if b.m() != c.m || b.nbits() != c.nbits {
            return Err(Error::ColumnMismatch {
                path: dir.to_path_buf(),
                column: c.name.clone(),
                what: "codebook shape (the schema's M and nbits)",
                expected: format!("M={} nbits={}", c.m, c.nbits),
                found: format!("M={} nbits={}", b.m(), b.nbits()),
            });
        }
        if b.dim() != first_books.dim() {
            return Err(Error::ColumnMismatch {
                path: dir.to_path_buf(),
                column: c.name.clone(),
                what: "query dimension M·dsub (every PQ column takes the same query)",
                expected: format!(
                    "{} (column {:?}: M={} · dsub={})",
                    first_books.dim(),
                    first.name,
                    first_books.m(),
                    first_books.dsub()
                ),
                found: format!("{} (M={} · dsub={})", b.dim(), b.m(), b.dsub()),
            });
        }
    }
    Ok(())
}

impl MultiPqState {
    /// Reads the codebooks of every PQ column of the manifest (CRC-checked).
    pub(crate) fn load(dir: &Path, manifest: &Manifest) -> Result<MultiPqState> {
        let columns = pq_columns(dir, &manifest.schema)?;
        let mut books = Vec::with_capacity(columns.len());
        for c in &columns {
            let entry = manifest
                .codebook_entry(&c.name)
                .ok_or_else(|| Error::Corrupt {
                    path: dir.join(MANIFEST_FILE),
                    what: format!("codebook entry of column {:?}", c.name),
                    expected: "one".to_string(),
                    found: "none".to_string(),
                })?;
            books.push(read_codebooks(dir, entry)?);
        }
        check_books_fit(dir, &columns, &books)?;
        Ok(MultiPqState {
            metric: columns.first().map_or(PqMetric::SquaredL2, |c| c.metric),
            names: columns.into_iter().map(|c| c.name).collect(),
            books,
            options: PqSearchOptions::default(),
        })
    }

    /// Number of PQ columns.
    pub(crate) fn columns(&self) -> usize {
        self.books.len()
    }

    /// The metric all columns share.
    pub(crate) fn metric(&self) -> PqMetric {
        self.metric
    }

    pub(crate) fn set_options(&mut self, options: PqSearchOptions) {
        self.options = options;
    }

    /// A segment column of column `col` from its row bytes.
    pub(crate) fn column<'a>(&self, col: usize, bytes: &'a [u8]) -> Result<ColumnData<'a>> {
        let b = &self.books[col];
        Ok(ColumnData::Pq(
            PqView::new(b.m(), b.nbits(), bytes)?,
            self.metric,
        ))
    }

    /// Re-reads the codebook files and checks they still hold these codebooks.
    pub(crate) fn verify(&self, dir: &Path, manifest: &Manifest) -> Result<()> {
        let fresh = MultiPqState::load(dir, manifest)?;
        if let Some(c) = (0..self.columns()).find(|&c| fresh.books[c] != self.books[c]) {
            return Err(Error::Corrupt {
                path: dir.to_path_buf(),
                what: format!("codebook file of column {:?}", self.names[c]),
                expected: "the codebooks read at open".to_string(),
                found: "different codebooks".to_string(),
            });
        }
        Ok(())
    }
}

/// What a weighted search scores: the codebooks of every column, their weights
/// (checked), the shared metric, the index's PQ options.
struct Scored<'a, 'w> {
    books: Vec<&'a PqCodebooks>,
    weights: Cow<'w, [f32]>,
    metric: PqMetric,
    options: PqSearchOptions,
}

impl Index {
    /// Creates a new PQ index of one or more columns in `dir` (created if missing; must
    /// not hold an index yet) with `schema` (PQ columns only, see
    /// [`Schema::pq_columns`]) and one codebook set per column, in schema order, and
    /// opens it for writing. One column is [`Index::create_pq`], byte for byte.
    ///
    /// Errors: a column that is not PQ; columns of different metrics
    /// ([`Error::ColumnMismatch`]); a codebook count other than the column count
    /// ([`Error::LengthMismatch`]); codebooks of another `M` or `nbits` than their
    /// column, or of another query dimension (`M · dsub`) than the first column
    /// ([`Error::ColumnMismatch`]); a directory that already holds an index; another
    /// writer holding the lock.
    pub fn create_pq_columns(
        dir: impl AsRef<Path>,
        schema: Schema,
        codebooks: Vec<PqCodebooks>,
    ) -> Result<Index> {
        let dir = dir.as_ref();
        schema.validate()?;
        let columns = pq_columns(dir, &schema)?;
        check_books_fit(dir, &columns, &codebooks)?;
        if columns.len() == 1 {
            let books = codebooks.into_iter().next();
            return Self::create_pq(dir, schema, books.ok_or_else(|| no_column(dir))?);
        }
        let lock = super::lock_new_dir(dir)?;
        let entries = (columns.iter().zip(&codebooks).enumerate())
            .map(|(i, (c, b))| write_codebooks(dir, &codebook_name(i), &c.name, b))
            .collect::<Result<Vec<_>>>()?;
        let manifest = Manifest::new_with_codebooks(schema, entries)?;
        manifest.store(dir)?;
        let metric = columns.first().map_or(PqMetric::SquaredL2, |c| c.metric);
        Ok(Index {
            dir: dir.to_path_buf(),
            manifest,
            segments: Vec::new(),
            bits: 0,
            pq: None,
            multi: Some(MultiPqState {
                names: columns.into_iter().map(|c| c.name).collect(),
                books: codebooks,
                metric,
                options: PqSearchOptions::default(),
            }),
            writer: Some(lock),
            options: SearchOptions::default(),
        })
    }

    /// The codebooks of every PQ column, in schema order (one for a single-column PQ
    /// index, none for a binary one).
    pub fn pq_column_codebooks(&self) -> Vec<&PqCodebooks> {
        match (&self.pq, &self.multi) {
            (Some(s), _) => vec![&s.books],
            (None, Some(m)) => m.books.iter().collect(),
            (None, None) => Vec::new(),
        }
    }

    /// The query dimension of a PQ index (`M · dsub`, the same for every column).
    pub fn pq_dim(&self) -> Option<usize> {
        self.pq_column_codebooks().first().map(|b| b.dim())
    }

    /// The default weights of a PQ index's columns: 1 for the first, `1/L` for each of
    /// the `L` others (`[1.0]` for one column, empty for a binary index).
    pub fn pq_default_weights(&self) -> Vec<f32> {
        default_column_weights(self.pq_column_codebooks().len())
    }

    /// The code bytes of column `col` of live row `id` in a PQ index.
    pub fn get_pq_column(&self, id: u64, col: usize) -> Option<&[u8]> {
        if !self.is_pq() {
            return None;
        }
        let (s, row) = self.locate(id)?;
        self.segments[s].segment.pq(col).ok()?.row(row)
    }

    /// Appends rows `ids[i]` → `columns[c].row(i)` for every PQ column `c` (schema order)
    /// as one new segment and commits. One column is [`Index::append_pq`].
    ///
    /// Fails without changing anything on a binary index, a column count other than the
    /// schema's ([`Error::LengthMismatch`]), codes of another `M` or `nbits` than their
    /// column or a row count other than `ids.len()` ([`Error::ColumnMismatch`]), an id
    /// repeated in `ids`, or an id already live.
    pub fn append_pq_columns(&mut self, ids: &[u64], columns: &[PqView<'_>]) -> Result<()> {
        self.writer("append")?;
        let Some(state) = &self.multi else {
            if self.pq.is_some() {
                return match columns {
                    [one] => self.append_pq(ids, *one),
                    _ => Err(Error::LengthMismatch {
                        what: "code columns of an append (one per PQ column of the schema)",
                        expected: 1,
                        found: columns.len(),
                    }),
                };
            }
            return Err(self.not_pq("PQ code columns"));
        };
        if columns.len() != state.columns() {
            return Err(Error::LengthMismatch {
                what: "code columns of an append (one per PQ column of the schema)",
                expected: state.columns(),
                found: columns.len(),
            });
        }
        for ((codes, books), name) in columns.iter().zip(&state.books).zip(&state.names) {
            let mismatch = |what, expected, found| Error::ColumnMismatch {
                path: self.dir.clone(),
                column: name.clone(),
                what,
                expected,
                found,
            };
            if codes.m() != books.m() || codes.nbits() != books.nbits() {
                return Err(mismatch(
                    "codes' shape (the column's M and nbits)",
                    format!("M={} nbits={}", books.m(), books.nbits()),
                    format!("M={} nbits={}", codes.m(), codes.nbits()),
                ));
            }
            if codes.len() != ids.len() {
                return Err(mismatch(
                    "code rows (one per id)",
                    ids.len().to_string(),
                    codes.len().to_string(),
                ));
            }
        }
        let metric = state.metric;
        let Some((sorted_ids, order)) = super::order_append(ids, ids.len())? else {
            return Ok(());
        };
        self.check_new_ids(&sorted_ids)?;
        let sorted: Option<Vec<Vec<u8>>> = order.map(|order| {
            (columns.iter())
                .map(|codes| {
                    (order.iter())
                        .flat_map(|&i| codes.row(i).unwrap_or_default())
                        .copied()
                        .collect()
                })
                .collect()
        });
        let views: Vec<PqView<'_>> = match &sorted {
            Some(bytes) => (bytes.iter().zip(columns))
                .map(|(b, c)| PqView::new(c.m(), c.nbits(), b))
                .collect::<Result<_>>()?,
            None => columns.to_vec(),
        };
        let data: Vec<ColumnData<'_>> = views.iter().map(|v| ColumnData::Pq(*v, metric)).collect();
        self.append_segment(&sorted_ids, &data)
    }

    /// [`Index::append_vectors`] of a multi-column index: every column's codes of the
    /// same vectors.
    pub(crate) fn append_vectors_columns(&mut self, ids: &[u64], vectors: &[f32]) -> Result<()> {
        self.writer("append")?;
        let Some(state) = &self.multi else {
            return Err(self.not_pq("float vectors"));
        };
        let codes: Vec<PqCodes> = (state.books.iter())
            .map(|b| b.encode(vectors, state.metric))
            .collect::<Result<_>>()?;
        let rows = codes.first().map_or(0, PqCodes::len);
        if rows != ids.len() {
            return Err(Error::LengthMismatch {
                what: "vectors (one per id)",
                expected: ids.len(),
                found: rows,
            });
        }
        let views: Vec<PqView<'_>> = codes.iter().map(PqCodes::view).collect();
        self.append_pq_columns(ids, &views)
    }

    fn not_pq(&self, what: &str) -> Error {
        Error::SchemaMismatch {
            path: self.dir.clone(),
            expected: format!("a PQ index for {what}"),
            found: format!(
                "{} (binary indexes take binary codes and queries)",
                self.manifest.schema.describe()
            ),
        }
    }

    /// The columns a weighted search scores, with `weights` or the default ones,
    /// checked: one per column, all finite.
    fn scored<'w>(&self, weights: Option<&'w [f32]>) -> Result<Scored<'_, 'w>> {
        let (books, metric, options) = match (&self.pq, &self.multi) {
            (Some(s), _) => (vec![&s.books], s.metric, s.options),
            (None, Some(m)) => (m.books.iter().collect(), m.metric, m.options),
            (None, None) => return Err(self.not_pq("float queries")),
        };
        let weights = match weights {
            None => Cow::Owned(default_column_weights(books.len())),
            Some(w) if w.len() != books.len() => {
                return Err(Error::LengthMismatch {
                    what: "column weights (one per PQ column)",
                    expected: books.len(),
                    found: w.len(),
                });
            }
            Some(w) => {
                check_finite("column weights", w, w.len())?;
                Cow::Borrowed(w)
            }
        };
        Ok(Scored {
            books,
            weights,
            metric,
            options,
        })
    }

    /// Checks a query batch against the shared query dimension; returns the count.
    fn check_column_queries(&self, scored: &Scored<'_, '_>, queries: &[f32]) -> Result<usize> {
        query_count(
            queries,
            scored.books.first().map_or(1, |b| b.dim()),
            "PQ query floats (a multiple of the columns' query dimension)",
        )
    }

    /// One segment, one query, weighted over every column, as hits sorted best first.
    fn search_segment_columns(
        &self,
        seg: &LoadedSegment,
        scored: &Scored<'_, '_>,
        query: &[f32],
        k: usize,
        allowed: Option<&RoaringTreemap>,
        opts: &PqSearchOptions,
    ) -> Result<Vec<PqHit>> {
        let ids = seg.segment.ids();
        let columns: Vec<PqColumn<'_>> =
            (scored.books.iter().zip(scored.weights.iter()).enumerate())
                .map(|(c, (&books, &weight))| {
                    Ok(PqColumn {
                        books,
                        codes: seg.segment.pq(c)?,
                        weight,
                    })
                })
                .collect::<Result<_>>()?;
        let queries = vec![query; columns.len()];
        let deleted: Option<&RoaringBitmap> = (!seg.deleted.is_empty()).then_some(&seg.deleted);
        let found = if deleted.is_some() || allowed.is_some() {
            let keep = |row: usize| {
                deleted.is_none_or(|d| !d.contains(row as u32))
                    && allowed.is_none_or(|a| ids.get(row).is_some_and(|id| a.contains(*id)))
            };
            multi_column_knn_where(&columns, &queries, scored.metric, k, opts, keep)?
        } else {
            multi_column_knn(&columns, &queries, scored.metric, k, opts)?
        };
        Ok(to_pq_hits(ids, &found))
    }

    /// One query (already checked) over every segment.
    fn search_columns_one(
        &self,
        scored: &Scored<'_, '_>,
        query: &[f32],
        k: usize,
        allowed: Option<&RoaringTreemap>,
    ) -> Result<Vec<PqHit>> {
        let options = scored.options;
        let one = |s: &LoadedSegment, opts: &PqSearchOptions| {
            self.search_segment_columns(s, scored, query, k, allowed, opts)
        };
        match self.segments.as_slice() {
            [] => Ok(Vec::new()),
            [seg] => one(seg, &options),
            many => {
                // As in the one-column path: with at least as many segments as threads,
                // one task per segment.
                let per_segment = PqSearchOptions {
                    single_threaded: options.single_threaded
                        || many.len() >= rayon::current_num_threads(),
                    ..options
                };
                let parts: Vec<Vec<PqHit>> = if options.single_threaded {
                    many.iter()
                        .map(|s| one(s, &per_segment))
                        .collect::<Result<_>>()?
                } else {
                    (many.par_iter())
                        .map(|s| one(s, &per_segment))
                        .collect::<Result<_>>()?
                };
                Ok(merge_pq_hits(parts, scored.metric, k))
            }
        }
    }

    /// Whether a one-column index with these weights is a plain one-column search.
    fn is_plain_search(&self, weights: Option<&[f32]>) -> bool {
        self.pq.is_some() && weights.is_none_or(|w| w == [1.0])
    }

    fn search_columns(
        &self,
        query: &[f32],
        k: usize,
        weights: Option<&[f32]>,
        allowed: Option<&RoaringTreemap>,
    ) -> Result<Vec<PqHit>> {
        let scored = self.scored(weights)?;
        if self.check_column_queries(&scored, query)? != 1 {
            return Err(Error::DimensionMismatch {
                what: "PQ query floats (one query of the columns' dimension)",
                expected: scored.books.first().map_or(0, |b| b.dim()),
                found: query.len(),
            });
        }
        self.search_columns_one(&scored, query, k, allowed)
    }

    /// The `k` live rows best for `query` (`dim` floats) by `Σ_c weights[c] · score_c`
    /// over the PQ columns (`weights`: one per column, any finite values; `None` for the
    /// default 1 for the first column and `1/L` for each of the `L` others). Every
    /// column is scored by exact ADC, 4-bit ones too. On a single-column index, `None`
    /// or `[1.0]` is [`Index::search_pq`] (fast scan and all).
    ///
    /// Errors: a binary index, weights of the wrong length or not finite, a query of the
    /// wrong length or with a non-finite value, an unavailable kernel.
    pub fn search_pq_columns(
        &self,
        query: &[f32],
        k: usize,
        weights: Option<&[f32]>,
    ) -> Result<Vec<PqHit>> {
        if self.is_plain_search(weights) {
            return self.search_pq(query, k);
        }
        self.search_columns(query, k, weights, None)
    }

    /// [`Index::search_pq_columns`] restricted to rows whose id is in `allowed`.
    pub fn search_pq_columns_filtered(
        &self,
        query: &[f32],
        k: usize,
        weights: Option<&[f32]>,
        allowed: &RoaringTreemap,
    ) -> Result<Vec<PqHit>> {
        if self.is_plain_search(weights) {
            return self.search_pq_filtered(query, k, allowed);
        }
        self.search_columns(query, k, weights, Some(allowed))
    }

    /// [`Index::search_pq_columns`] for every query of `queries` (`nq × dim`,
    /// row-major), optionally restricted to `allowed` ids: the queries run in parallel,
    /// each as a single search would, so batch and single results are the same.
    pub fn search_pq_columns_batch(
        &self,
        queries: &[f32],
        k: usize,
        weights: Option<&[f32]>,
        allowed: Option<&RoaringTreemap>,
    ) -> Result<Vec<Vec<PqHit>>> {
        if self.is_plain_search(weights) {
            return self.search_pq_batch(queries, k, allowed);
        }
        let scored = self.scored(weights)?;
        self.check_column_queries(&scored, queries)?;
        let dim = scored.books.first().map_or(1, |b| b.dim());
        let one = |q: &[f32]| self.search_columns_one(&scored, q, k, allowed);
        if scored.options.single_threaded {
            queries.chunks_exact(dim).map(one).collect()
        } else {
            queries.par_chunks_exact(dim).map(one).collect()
        }
    }
}

fn no_column(dir: &Path) -> Error {
    Error::SchemaMismatch {
        path: dir.to_path_buf(),
        expected: "at least one PQ column".to_string(),
        found: "none".to_string(),
    }
}
