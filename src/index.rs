//! [`Index`]: an index directory of binary or PQ codes that a program opens, appends
//! to, deletes from, compacts and searches.
//!
//! An index holds one column: binary codes searched by Hamming distance (the methods in
//! this file), or PQ codes with their codebooks, searched with float queries by
//! lookup-table distance (the `*_pq` methods, in [`pq`]); or several PQ columns (HCQ's
//! coarse + fine codes) scored as a weighted sum (the `*_pq_columns` methods, in
//! [`multi`]).
//!
//! The state on disk is whatever `manifest.json` names (see [`crate::store`]); every
//! mutation writes new immutable files first and then commits a new manifest, so a crash
//! leaves the previous or the next state. An `Index` opened with [`Index::open`] is a
//! read-only snapshot: it keeps the segments it mapped even while a writer commits, and
//! [`Index::refresh`] moves it to the latest commit. [`Index::open_writer`] and
//! [`Index::create`] take the directory's writer lock; a second writer gets
//! [`Error::Locked`].
//!
//! **Ids.** Every row has an external `u64` id. An id is *live* when a segment holds it
//! in a row that is not deleted. The rule: at most one live row per id. `append` rejects
//! an id repeated in its batch or already live ([`Error::DuplicateId`]), and the whole
//! append is refused; an id may be appended again after it was deleted. `delete` takes
//! live ids only ([`Error::UnknownId`] otherwise, nothing deleted).
//!
//! **Search.** Segments whose id ranges follow one another are searched as one chain of
//! views ([`Chain`]) with the [`crate::scan`] kernels, split into row chunks in parallel,
//! one top-k bound carried across segments; deleted rows and a filter of allowed ids are
//! checked only for rows that beat the current distance bound. Results are
//! `(id, distance)` sorted by distance, ties by smaller id. Segments store rows sorted by
//! id, so within a chain the scan's row-order tie-break is the id order.
//!
//! ```
//! use crosscode::{BinaryCodes, Hit, Index, Schema};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let mut index = Index::create(dir.path(), Schema::binary(16)?)?;
//! // Ids 30, 10, 20 for codes with 0, 1 and 16 bits set.
//! let codes = BinaryCodes::from_packed(16, &[0, 0, 1, 0, 255, 255])?;
//! index.append(&[30, 10, 20], codes.view())?;
//! index.delete(&[30])?;
//! let reader = Index::open(dir.path())?;
//! let hits = reader.search(&[0], 2)?;
//! assert_eq!(hits, [Hit { id: 10, distance: 1 }, Hit { id: 20, distance: 16 }]);
//! # Ok::<(), crosscode::Error>(())
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use roaring::{RoaringBitmap, RoaringTreemap};

use crate::code::BinaryView;
use crate::error::{Error, Result};
use crate::scan::pq::FastScanCodes;
use crate::scan::{self, Chain, Neighbor, RowFilter, SearchOptions};
use crate::store::directory::WriterLock;
use crate::store::manifest::{MANIFEST_FILE, Manifest, SegmentEntry};
use crate::store::schema::{ColumnKind, Schema};
use crate::store::segment::{ColumnData, Segment, write_segment};
use crate::store::tombstones::{read_tombstones, tombstone_name, write_tombstones};

pub mod multi;
pub mod pq;

pub use pq::PqHit;

/// One search result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Hit {
    /// External id of the row.
    pub id: u64,
    /// Hamming distance to the query.
    pub distance: u32,
}

/// A mapped segment with its deleted rows.
struct LoadedSegment {
    segment: Segment,
    deleted: RoaringBitmap,
    /// 4-bit PQ codes re-laid for the fast scan, built on the first search that needs them.
    fast: OnceLock<FastScanCodes>,
}

impl LoadedSegment {
    fn new(segment: Segment, deleted: RoaringBitmap) -> Self {
        LoadedSegment {
            segment,
            deleted,
            fast: OnceLock::new(),
        }
    }

    fn view(&self) -> Result<BinaryView<'_>> {
        self.segment.binary(0)
    }

    fn id_range(&self) -> Option<(u64, u64)> {
        let ids = self.segment.ids();
        Some((*ids.first()?, *ids.last()?))
    }

    /// The row of `id` when it is live here.
    fn live_row(&self, id: u64) -> Option<usize> {
        let (lo, hi) = self.id_range()?;
        if id < lo || id > hi {
            return None;
        }
        let row = self.segment.find(id)?;
        (!self.deleted.contains(row as u32)).then_some(row)
    }
}

/// What one search asks for.
#[derive(Clone, Copy)]
enum Want {
    Nearest(usize),
    Within(u32),
}

/// An index directory opened for reading (a snapshot) or writing (holding the lock).
pub struct Index {
    dir: PathBuf,
    manifest: Manifest,
    segments: Vec<LoadedSegment>,
    bits: usize,
    /// Codebooks and options of a PQ index; `None` for a binary one.
    pq: Option<pq::PqState>,
    /// Codebooks and options of a PQ index of several columns; `None` otherwise.
    multi: Option<multi::MultiPqState>,
    writer: Option<WriterLock>,
    options: SearchOptions,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("dir", &self.dir)
            .field("generation", &self.manifest.generation)
            .field("segments", &self.segments.len())
            .field("writer", &self.writer.is_some())
            .finish()
    }
}

fn schema_bits(dir: &Path, schema: &Schema) -> Result<usize> {
    match (schema.columns.as_slice(), schema.binary_bits()) {
        ([_], Some(bits)) => Ok(bits),
        _ => Err(Error::SchemaMismatch {
            path: dir.to_path_buf(),
            expected: "one binary column (PQ indexes: Index::create_pq)".to_string(),
            found: schema.describe(),
        }),
    }
}

fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
}

fn load_segments(dir: &Path, manifest: &Manifest) -> Result<Vec<LoadedSegment>> {
    let schema_kinds: Vec<ColumnKind> = manifest.schema.columns.iter().map(|c| c.kind).collect();
    manifest
        .segments
        .iter()
        .map(|entry| {
            let path = dir.join(&entry.file);
            let segment = Segment::open(&path)?;
            let kinds: Vec<ColumnKind> = segment.columns().iter().map(|c| c.kind).collect();
            if kinds != schema_kinds {
                return Err(Error::SchemaMismatch {
                    path,
                    expected: manifest.schema.describe(),
                    found: format!("{kinds:?}"),
                });
            }
            if segment.rows() as u64 != entry.rows {
                return Err(Error::Corrupt {
                    path,
                    what: "row count".to_string(),
                    expected: format!("{} (from {MANIFEST_FILE})", entry.rows),
                    found: segment.rows().to_string(),
                });
            }
            let deleted = match &entry.tombstones {
                Some(t) => read_tombstones(dir, t, entry.rows)?,
                None => RoaringBitmap::new(),
            };
            for (c, kind) in schema_kinds.iter().enumerate() {
                match kind {
                    ColumnKind::Binary { .. } => segment.binary(c).map(|_| ())?,
                    _ => segment.pq(c).map(|_| ())?,
                }
            }
            Ok(LoadedSegment::new(segment, deleted))
        })
        .collect()
}

/// Reads the manifest and maps its files. A file removed by a concurrent commit between
/// the two steps makes it start over with the newer manifest.
fn load_snapshot(dir: &Path) -> Result<(Manifest, Vec<LoadedSegment>)> {
    let mut attempts = 0;
    loop {
        let manifest = Manifest::load(dir)?;
        match load_segments(dir, &manifest) {
            Ok(segments) => return Ok((manifest, segments)),
            Err(e) if is_not_found(&e) && attempts < 16 => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(attempts));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Creates `dir` if missing and takes its writer lock, refusing a directory that already
/// holds an index: the first step of every `create`.
fn lock_new_dir(dir: &Path) -> Result<WriterLock> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let lock = WriterLock::acquire(dir)?;
    if dir.join(MANIFEST_FILE).exists() {
        return Err(Error::InvalidArgument {
            name: "dir",
            reason: format!("{} already holds an index", dir.display()),
        });
    }
    Ok(lock)
}

impl Index {
    /// Creates a new index in `dir` (created if missing; must not hold an index yet) and
    /// opens it for writing. Today's indexes have one binary column.
    pub fn create(dir: impl AsRef<Path>, schema: Schema) -> Result<Index> {
        let dir = dir.as_ref();
        schema.validate()?;
        let bits = schema_bits(dir, &schema)?;
        let lock = lock_new_dir(dir)?;
        let manifest = Manifest::new(schema)?;
        manifest.store(dir)?;
        Ok(Index {
            dir: dir.to_path_buf(),
            manifest,
            segments: Vec::new(),
            bits,
            pq: None,
            multi: None,
            writer: Some(lock),
            options: SearchOptions::default(),
        })
    }

    /// Opens a read-only snapshot of the index in `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Index> {
        let dir = dir.as_ref();
        let (manifest, segments) = load_snapshot(dir)?;
        let (bits, pq, multi) = if !manifest.schema.has_pq() {
            (schema_bits(dir, &manifest.schema)?, None, None)
        } else if manifest.schema.columns.len() == 1 {
            (0, Some(pq::PqState::load(dir, &manifest)?), None)
        } else {
            (0, None, Some(multi::MultiPqState::load(dir, &manifest)?))
        };
        Ok(Index {
            dir: dir.to_path_buf(),
            manifest,
            segments,
            bits,
            pq,
            multi,
            writer: None,
            options: SearchOptions::default(),
        })
    }

    /// Opens the index in `dir` for writing: takes the writer lock (or fails with
    /// [`Error::Locked`]) and removes files left by commits that never happened.
    pub fn open_writer(dir: impl AsRef<Path>) -> Result<Index> {
        let dir = dir.as_ref();
        let lock = WriterLock::acquire(dir)?;
        let mut index = Self::open(dir)?;
        lock.collect_garbage(&index.manifest)?;
        index.writer = Some(lock);
        Ok(index)
    }

    /// Moves a snapshot to the latest commit; returns whether anything changed.
    pub fn refresh(&mut self) -> Result<bool> {
        let current = Manifest::load(&self.dir)?;
        if current.generation == self.manifest.generation {
            return Ok(false);
        }
        let (manifest, segments) = load_snapshot(&self.dir)?;
        self.manifest = manifest;
        self.segments = segments;
        Ok(true)
    }

    /// Sets the kernel and threading used by searches.
    pub fn set_search_options(&mut self, options: SearchOptions) {
        self.options = options;
    }

    /// The index directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The committed manifest this snapshot reflects.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Commit generation of this snapshot.
    pub fn generation(&self) -> u64 {
        self.manifest.generation
    }

    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.manifest.schema
    }

    /// Code length in bits (0 for a PQ index).
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// Number of live rows.
    pub fn len(&self) -> u64 {
        self.manifest.live_rows()
    }

    /// True when no row is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether this handle holds the writer lock.
    pub fn is_writer(&self) -> bool {
        self.writer.is_some()
    }

    /// Whether `id` is live.
    pub fn contains(&self, id: u64) -> bool {
        self.locate(id).is_some()
    }

    /// The code of live row `id` (row-padded words); `None` in a PQ index.
    pub fn get(&self, id: u64) -> Option<&[u64]> {
        let (s, row) = self.locate(id)?;
        self.segments[s].view().ok()?.row(row)
    }

    /// Every live id, ascending.
    pub fn live_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .segments
            .iter()
            .flat_map(|s| {
                s.segment
                    .ids()
                    .iter()
                    .enumerate()
                    .filter(|(r, _)| !s.deleted.contains(*r as u32))
                    .map(|(_, &id)| id)
            })
            .collect();
        ids.sort_unstable();
        ids
    }

    fn locate(&self, id: u64) -> Option<(usize, usize)> {
        self.segments
            .iter()
            .enumerate()
            .find_map(|(s, seg)| seg.live_row(id).map(|r| (s, r)))
    }

    fn writer(&self, operation: &'static str) -> Result<&WriterLock> {
        self.writer.as_ref().ok_or_else(|| Error::ReadOnly {
            path: self.dir.clone(),
            operation,
        })
    }

    /// Commits `next` (whose files are already written) and makes it this handle's state.
    fn commit(&mut self, next: Manifest, segments: Vec<LoadedSegment>) -> Result<()> {
        next.store(&self.dir)?;
        self.manifest = next;
        self.segments = segments;
        if let Some(lock) = &self.writer {
            lock.collect_garbage(&self.manifest)?;
        }
        Ok(())
    }

    /// Appends rows `ids[i]` → `codes.row(i)` as one new segment and commits.
    ///
    /// Fails without changing anything if the code length differs from the schema, the
    /// lengths differ, an id repeats in `ids`, or an id is already live.
    pub fn append(&mut self, ids: &[u64], codes: BinaryView<'_>) -> Result<()> {
        self.writer("append")?;
        self.binary_only("binary codes")?;
        if codes.bits() != self.bits {
            return Err(Error::SchemaMismatch {
                path: self.dir.clone(),
                expected: format!("binary {} bits", self.bits),
                found: format!("binary {} bits", codes.bits()),
            });
        }
        let Some((sorted_ids, order)) = order_append(ids, codes.len())? else {
            return Ok(());
        };
        let sorted_words: Option<Vec<u64>> = order.map(|order| {
            (order.iter())
                .flat_map(|&i| codes.row(i).unwrap_or_default())
                .copied()
                .collect()
        });
        self.check_new_ids(&sorted_ids)?;
        let view = match &sorted_words {
            Some(words) => BinaryView::new(self.bits, words)?,
            None => codes,
        };
        self.append_segment(&sorted_ids, &[ColumnData::Binary(view)])
    }

    /// Fails with [`Error::DuplicateId`] if an id of `sorted_ids` (ascending) repeats or
    /// is already live.
    fn check_new_ids(&self, sorted_ids: &[u64]) -> Result<()> {
        if let Some(w) = sorted_ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::DuplicateId {
                id: w[0],
                context: "repeated within one append".to_string(),
            });
        }
        let (Some(&lo), Some(&hi)) = (sorted_ids.first(), sorted_ids.last()) else {
            return Ok(());
        };
        for seg in &self.segments {
            let Some((slo, shi)) = seg.id_range() else {
                continue;
            };
            if shi < lo || slo > hi {
                continue;
            }
            if let Some(&id) = sorted_ids.iter().find(|&&id| seg.live_row(id).is_some()) {
                return Err(Error::DuplicateId {
                    id,
                    context: format!("already live in {}", seg.segment.path().display()),
                });
            }
        }
        Ok(())
    }

    /// Writes rows `sorted_ids` (ascending, checked) with `columns` (one per schema
    /// column) as a new segment and commits it; on a failed commit the handle goes back
    /// to the state on disk.
    fn append_segment(&mut self, sorted_ids: &[u64], columns: &[ColumnData<'_>]) -> Result<()> {
        let mut next = self.manifest.clone();
        let name = format!("seg-{:08}.ccs", next.next_segment);
        let path = write_segment(&self.dir, &name, sorted_ids, columns)?;
        let segment = Segment::open(&path)?;
        next.next_segment += 1;
        next.generation += 1;
        next.segments.push(SegmentEntry {
            file: name,
            rows: sorted_ids.len() as u64,
            tombstones: None,
        });
        let mut segments = std::mem::take(&mut self.segments);
        segments.push(LoadedSegment::new(segment, RoaringBitmap::new()));
        let result = self.commit(next, segments);
        if result.is_err() {
            // Back to the committed state on disk.
            let (manifest, segments) = load_snapshot(&self.dir)?;
            self.manifest = manifest;
            self.segments = segments;
        }
        result
    }

    /// Deletes the live rows with these ids and commits; returns how many were deleted.
    /// Repeats in `ids` count once. An id that is not live fails the whole call.
    pub fn delete(&mut self, ids: &[u64]) -> Result<u64> {
        self.writer("delete")?;
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut new_rows: BTreeMap<usize, RoaringBitmap> = BTreeMap::new();
        for &id in &ids {
            let (s, row) = self.locate(id).ok_or_else(|| Error::UnknownId {
                id,
                path: self.dir.clone(),
            })?;
            new_rows.entry(s).or_default().insert(row as u32);
        }
        if new_rows.is_empty() {
            return Ok(0);
        }
        let mut next = self.manifest.clone();
        next.generation += 1;
        let mut updated = Vec::new();
        for (&s, rows) in &new_rows {
            let deleted = &self.segments[s].deleted | rows;
            let entry = &mut next.segments[s];
            let name = tombstone_name(&entry.file, next.generation);
            entry.tombstones = Some(write_tombstones(&self.dir, &name, &deleted)?);
            updated.push((s, deleted));
        }
        next.store(&self.dir)?;
        self.manifest = next;
        for (s, deleted) in updated {
            self.segments[s].deleted = deleted;
        }
        if let Some(lock) = &self.writer {
            lock.collect_garbage(&self.manifest)?;
        }
        Ok(ids.len() as u64)
    }

    /// Rewrites all live rows into one segment (dropping deleted rows) and commits.
    /// Holds a copy of the live codes in memory while it runs.
    pub fn compact(&mut self) -> Result<()> {
        self.writer("compact")?;
        let has_deletions = self.segments.iter().any(|s| !s.deleted.is_empty());
        if self.segments.len() <= 1 && !has_deletions {
            return Ok(());
        }
        let mut rows: Vec<(u64, usize, usize)> = Vec::with_capacity(self.len() as usize);
        for (s, seg) in self.segments.iter().enumerate() {
            for (r, &id) in seg.segment.ids().iter().enumerate() {
                if !seg.deleted.contains(r as u32) {
                    rows.push((id, s, r));
                }
            }
        }
        if rows.len() > u32::MAX as usize {
            return Err(Error::InvalidArgument {
                name: "compact",
                reason: format!(
                    "{} live rows exceed one segment's limit of 2^32 - 1",
                    rows.len()
                ),
            });
        }
        rows.sort_unstable_by_key(|t| t.0);
        let mut next = self.manifest.clone();
        next.generation += 1;
        next.segments.clear();
        let mut segments = Vec::new();
        if !rows.is_empty() {
            let ids: Vec<u64> = rows.iter().map(|t| t.0).collect();
            let name = format!("seg-{:08}.ccs", next.next_segment);
            next.next_segment += 1;
            let path = match (&self.pq, &self.multi) {
                (Some(state), _) => {
                    let bytes = self.gather_pq_rows(&rows, 0)?;
                    let view = state.view_of(&bytes)?;
                    write_segment(&self.dir, &name, &ids, &[state.column(view)])?
                }
                (None, Some(state)) => {
                    // Every column, row for row in the same (id) order.
                    let bytes: Vec<Vec<u8>> = (0..state.columns())
                        .map(|c| self.gather_pq_rows(&rows, c))
                        .collect::<Result<_>>()?;
                    let columns: Vec<ColumnData<'_>> = (bytes.iter().enumerate())
                        .map(|(c, b)| state.column(c, b))
                        .collect::<Result<_>>()?;
                    write_segment(&self.dir, &name, &ids, &columns)?
                }
                (None, None) => {
                    let views: Vec<BinaryView<'_>> = self
                        .segments
                        .iter()
                        .map(|s| s.view())
                        .collect::<Result<_>>()?;
                    let mut words = Vec::with_capacity(rows.len() * views[0].words_per_code());
                    for &(_, s, r) in &rows {
                        words.extend_from_slice(views[s].row(r).unwrap_or_default());
                    }
                    let view = BinaryView::new(self.bits, &words)?;
                    write_segment(&self.dir, &name, &ids, &[ColumnData::Binary(view)])?
                }
            };
            segments.push(LoadedSegment::new(
                Segment::open(&path)?,
                RoaringBitmap::new(),
            ));
            next.segments.push(SegmentEntry {
                file: name,
                rows: ids.len() as u64,
                tombstones: None,
            });
        }
        self.commit(next, segments)
    }

    /// Checks every segment's CRCs and padding, every tombstone file, the codebook files
    /// of a PQ index, and that no id is live twice.
    pub fn verify(&self) -> Result<()> {
        for s in &self.segments {
            s.segment.verify()?;
        }
        if let Some(state) = &self.pq {
            state.verify(&self.dir, &self.manifest)?;
        }
        if let Some(state) = &self.multi {
            state.verify(&self.dir, &self.manifest)?;
        }
        // Tombstones were CRC-checked on load; check the duplicate-id rule.
        let ids = self.live_ids();
        if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::DuplicateId {
                id: w[0],
                context: format!("live in two segments of {}", self.dir.display()),
            });
        }
        Ok(())
    }

    /// Fails with [`Error::SchemaMismatch`] on a PQ index (`what` names the input).
    fn binary_only(&self, what: &str) -> Result<()> {
        if !self.is_pq() {
            return Ok(());
        }
        Err(Error::SchemaMismatch {
            path: self.dir.clone(),
            expected: format!("an index of binary codes for {what}"),
            found: format!(
                "{} (use the *_pq methods with float queries)",
                self.manifest.schema.describe()
            ),
        })
    }

    fn check_query(&self, query: &[u64]) -> Result<()> {
        self.binary_only("binary queries")?;
        let w = self.bits.div_ceil(64);
        if query.len() != w {
            return Err(Error::DimensionMismatch {
                what: "query words (bits / 64, rounded up)",
                expected: w,
                found: query.len(),
            });
        }
        Ok(())
    }

    /// Segments grouped into runs of ascending, disjoint id ranges: each run is searched
    /// as one [`Chain`], whose row order is then the id order, so one top-k (and one
    /// distance bound) serves the whole run. Appends with growing ids give one run.
    fn runs(&self) -> Vec<Vec<usize>> {
        let mut order: Vec<(u64, u64, usize)> = (self.segments.iter().enumerate())
            .filter_map(|(i, s)| s.id_range().map(|(lo, hi)| (lo, hi, i)))
            .collect();
        order.sort_unstable();
        let mut runs: Vec<(u64, Vec<usize>)> = Vec::new();
        for (lo, hi, i) in order {
            match runs.iter_mut().find(|(last, _)| *last < lo) {
                Some((last, run)) => {
                    *last = hi;
                    run.push(i);
                }
                None => runs.push((hi, vec![i])),
            }
        }
        runs.into_iter().map(|(_, run)| run).collect()
    }

    /// Searches every run with `scan_run(chain, filter)` and turns its rows into hits.
    /// The filter drops deleted rows and ids outside `allowed`; it is `None` when there is
    /// nothing to drop, which keeps the unfiltered scan as fast as a raw one.
    fn search_runs<T: AsRef<[Neighbor]>>(
        &self,
        allowed: Option<&RoaringTreemap>,
        scan_run: impl Fn(&Chain<'_>, Option<RowFilter<'_>>) -> Result<Vec<T>>,
    ) -> Result<Vec<Vec<Vec<Hit>>>> {
        let mut per_run = Vec::new();
        for run in self.runs() {
            let segments: Vec<&LoadedSegment> = run.iter().map(|&i| &self.segments[i]).collect();
            let views = segments.iter().map(|s| s.view()).collect::<Result<_>>()?;
            let chain = Chain::new(self.bits, views)?;
            let masked = allowed.is_some() || segments.iter().any(|s| !s.deleted.is_empty());
            let keep = |row: usize| {
                chain.locate(row).is_some_and(|(part, local)| {
                    let seg = segments[part];
                    !seg.deleted.contains(local as u32)
                        && allowed.is_none_or(|a| {
                            seg.segment
                                .ids()
                                .get(local)
                                .is_some_and(|id| a.contains(*id))
                        })
                })
            };
            let found = scan_run(&chain, masked.then_some(&keep as RowFilter))?;
            let to_hit = |n: &Neighbor| {
                let (part, local) = chain.locate(n.row).unwrap_or((0, usize::MAX));
                let id = segments[part].segment.ids().get(local);
                Hit {
                    id: id.copied().unwrap_or(u64::MAX),
                    distance: n.distance,
                }
            };
            per_run.push(
                found
                    .iter()
                    .map(|f| f.as_ref().iter().map(to_hit).collect())
                    .collect(),
            );
        }
        Ok(per_run)
    }

    fn search_one(
        &self,
        query: &[u64],
        want: Want,
        allowed: Option<&RoaringTreemap>,
    ) -> Result<Vec<Hit>> {
        self.check_query(query)?;
        let opts = &self.options;
        let per_run = self.search_runs(allowed, |chain, keep| {
            Ok(vec![match want {
                Want::Nearest(k) => scan::knn_chain(chain, query, k, keep, opts)?,
                Want::Within(r) => scan::range_chain(chain, query, r, keep, opts)?,
            }])
        })?;
        let parts = per_run.into_iter().flatten().collect();
        Ok(merge_hits(parts, want))
    }

    fn search_many(
        &self,
        queries: BinaryView<'_>,
        want: Want,
        allowed: Option<&RoaringTreemap>,
    ) -> Result<Vec<Vec<Hit>>> {
        self.binary_only("binary queries")?;
        if queries.bits() != self.bits {
            return Err(Error::DimensionMismatch {
                what: "query code bits",
                expected: self.bits,
                found: queries.bits(),
            });
        }
        let opts = &self.options;
        let mut per_run = self.search_runs(allowed, |chain, keep| match want {
            Want::Nearest(k) => scan::knn_batch_chain(chain, queries, k, keep, opts),
            Want::Within(r) => scan::range_batch_chain(chain, queries, r, keep, opts),
        })?;
        if per_run.len() <= 1 {
            return Ok(per_run
                .pop()
                .unwrap_or_else(|| vec![Vec::new(); queries.len()]));
        }
        let mut out: Vec<Vec<Vec<Hit>>> = vec![Vec::new(); queries.len()];
        for run in per_run {
            for (q, hits) in run.into_iter().enumerate() {
                out[q].push(hits);
            }
        }
        Ok(out
            .into_iter()
            .map(|parts| merge_hits(parts, want))
            .collect())
    }

    /// The `k` live rows nearest to `query` (`bits.div_ceil(64)` words).
    pub fn search(&self, query: &[u64], k: usize) -> Result<Vec<Hit>> {
        self.search_one(query, Want::Nearest(k), None)
    }

    /// [`Index::search`] restricted to rows whose id is in `allowed`.
    pub fn search_filtered(
        &self,
        query: &[u64],
        k: usize,
        allowed: &RoaringTreemap,
    ) -> Result<Vec<Hit>> {
        self.search_one(query, Want::Nearest(k), Some(allowed))
    }

    /// [`Index::search`] for every query, optionally restricted to `allowed` ids.
    pub fn search_batch(
        &self,
        queries: BinaryView<'_>,
        k: usize,
        allowed: Option<&RoaringTreemap>,
    ) -> Result<Vec<Vec<Hit>>> {
        self.search_many(queries, Want::Nearest(k), allowed)
    }

    /// Every live row within Hamming distance `radius` of `query`, nearest first.
    pub fn range(&self, query: &[u64], radius: u32) -> Result<Vec<Hit>> {
        self.search_one(query, Want::Within(radius), None)
    }

    /// [`Index::range`] restricted to rows whose id is in `allowed`.
    pub fn range_filtered(
        &self,
        query: &[u64],
        radius: u32,
        allowed: &RoaringTreemap,
    ) -> Result<Vec<Hit>> {
        self.search_one(query, Want::Within(radius), Some(allowed))
    }

    /// [`Index::range`] for every query, optionally restricted to `allowed` ids.
    pub fn range_batch(
        &self,
        queries: BinaryView<'_>,
        radius: u32,
        allowed: Option<&RoaringTreemap>,
    ) -> Result<Vec<Vec<Hit>>> {
        self.search_many(queries, Want::Within(radius), allowed)
    }
}

/// An append's ids ascending, and the row order that sorts them unless they already were.
type AppendOrder = (Vec<u64>, Option<Vec<usize>>);

/// Checks an append's ids against its `rows` and orders them: `None` when there is
/// nothing to append, else the ids ascending and, unless they already were, the row
/// order that sorts them (the caller reorders its codes by it).
fn order_append(ids: &[u64], rows: usize) -> Result<Option<AppendOrder>> {
    if ids.len() != rows {
        return Err(Error::LengthMismatch {
            what: "ids (one per code)",
            expected: rows,
            found: ids.len(),
        });
    }
    if ids.is_empty() {
        return Ok(None);
    }
    if ids.len() > u32::MAX as usize {
        return Err(Error::InvalidArgument {
            name: "ids",
            reason: format!("one append takes at most 2^32 - 1 rows, got {}", ids.len()),
        });
    }
    if ids.windows(2).all(|w| w[0] < w[1]) {
        return Ok(Some((ids.to_vec(), None)));
    }
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_unstable_by_key(|&i| ids[i]);
    Ok(Some((order.iter().map(|&i| ids[i]).collect(), Some(order))))
}

fn merge_hits(parts: Vec<Vec<Hit>>, want: Want) -> Vec<Hit> {
    let mut all: Vec<Hit> = parts.into_iter().flatten().collect();
    all.sort_unstable_by_key(|h| (h.distance, h.id));
    if let Want::Nearest(k) = want {
        all.truncate(k);
    }
    all
}
