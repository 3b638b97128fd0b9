//! Immutable segment files: a header, one 64-byte aligned block per column and one for the
//! external `u64` ids, each block with its own CRC32.
//!
//! Layout (all integers little-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | magic `XCCSEG\r\n` |
//! | 8..12 | format version (1) |
//! | 12..16 | column count `c` (1..=1024) |
//! | 16..24 | row count `n` |
//! | 24..32, 32..40, 40..44 | ids block: offset, length (`8n`), CRC32 |
//! | 44..48 | header CRC32 (over the whole header with these four bytes zeroed) |
//! | 48..56 | total file length |
//! | 56..64 | reserved, zero |
//! | 64 + 48i .. | column descriptor `i`: kind tag u32, four u32 parameters, block CRC32, offset u64, length u64, reserved u64 |
//!
//! The header is padded with zeros to a multiple of 64 bytes; blocks follow in column
//! order, then the ids, each starting on a 64-byte boundary with zero padding between.
//! A binary column's block is `n` rows of whole `u64` words; a PQ column's block is `n`
//! rows of `M` bytes (8-bit codes) or `M/2` bytes (4-bit, low nibble first), unpadded.
//! Rows are stored sorted by strictly increasing id, so the row order is the id order
//! (ties in search go to the smaller id for free, and an id is found by binary search).
//!
//! Opening maps the file (memmap2), checks the header (magic, version, header CRC, every
//! block inside the file and aligned, lengths matching the row count) and views the blocks
//! in place with `bytemuck::try_cast_slice`: no copy and no pass over the data. [`Segment::verify`]
//! is the explicit full check of every CRC, the zero padding and the id order.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::code::{BinaryView, PqView};
use crate::error::{Error, Result};
use crate::store::fsutil::atomic_write;
use crate::store::schema::ColumnKind;

/// The eight bytes every segment starts with.
pub const MAGIC: [u8; 8] = *b"XCCSEG\r\n";
/// The segment format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Alignment of the header length and of every block.
pub const BLOCK_ALIGN: usize = 64;
/// Most columns a segment may declare.
pub const MAX_COLUMNS: usize = 1024;

const FIXED_HEADER: usize = 64;
const DESCRIPTOR: usize = 48;
const HEADER_CRC_AT: usize = 44;

fn align_up(x: usize) -> usize {
    x.div_ceil(BLOCK_ALIGN) * BLOCK_ALIGN
}

fn header_len(columns: usize) -> usize {
    align_up(FIXED_HEADER + DESCRIPTOR * columns)
}

fn header_crc(header: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&header[..HEADER_CRC_AT]);
    h.update(&[0u8; 4]);
    h.update(&header[HEADER_CRC_AT + 4..]);
    h.finalize()
}

/// Recomputes the header CRC of a segment image in place, so that tests and fuzzers can
/// reach the checks behind it after editing header fields. Returns false (and changes
/// nothing) when the bytes are too short to hold the header their column count declares.
pub fn reseal_header(bytes: &mut [u8]) -> bool {
    if bytes.len() < FIXED_HEADER {
        return false;
    }
    let ncols = u32_at(bytes, 12) as usize;
    if ncols > MAX_COLUMNS || bytes.len() < header_len(ncols) {
        return false;
    }
    let hlen = header_len(ncols);
    let crc = header_crc(&bytes[..hlen]);
    bytes[HEADER_CRC_AT..HEADER_CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
    true
}

/// Column contents handed to the writer, one per schema column.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum ColumnData<'a> {
    /// Binary codes (row-padded words).
    Binary(BinaryView<'a>),
    /// PQ codes scored with a metric.
    Pq(PqView<'a>, crate::code::PqMetric),
}

impl ColumnData<'_> {
    fn kind(&self) -> ColumnKind {
        match self {
            ColumnData::Binary(v) => ColumnKind::Binary {
                bits: v.bits() as u32,
            },
            ColumnData::Pq(v, metric) => ColumnKind::Pq {
                m: v.m() as u32,
                nbits: u32::from(v.nbits()),
                metric: *metric,
            },
        }
    }

    fn rows(&self) -> usize {
        match self {
            ColumnData::Binary(v) => v.len(),
            ColumnData::Pq(v, _) => v.len(),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            ColumnData::Binary(v) => bytemuck::cast_slice(v.as_words()),
            ColumnData::Pq(v, _) => v.as_bytes(),
        }
    }
}

/// Where one block lies in the file, and its recorded CRC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockRef {
    /// Byte offset from the start of the file (a multiple of 64).
    pub offset: usize,
    /// Length in bytes.
    pub len: usize,
    /// CRC32 of the block's bytes.
    pub crc: u32,
}

/// Writes a segment file `dir/name` atomically (temp file, fsync, rename, directory fsync).
///
/// `ids` must be strictly increasing and every column must have `ids.len()` rows.
/// Returns the final path.
pub fn write_segment(
    dir: &Path,
    name: &str,
    ids: &[u64],
    columns: &[ColumnData<'_>],
) -> Result<PathBuf> {
    if cfg!(target_endian = "big") {
        return Err(Error::InvalidArgument {
            name: "target",
            reason: "segment files are little-endian; big-endian hosts are not supported"
                .to_string(),
        });
    }
    if columns.is_empty() || columns.len() > MAX_COLUMNS {
        return Err(Error::InvalidArgument {
            name: "columns",
            reason: format!(
                "a segment has 1..={MAX_COLUMNS} columns, got {}",
                columns.len()
            ),
        });
    }
    for c in columns {
        c.kind().validate()?;
        if c.rows() != ids.len() {
            return Err(Error::LengthMismatch {
                what: "segment column rows (one per id)",
                expected: ids.len(),
                found: c.rows(),
            });
        }
    }
    if let Some(w) = ids.windows(2).find(|w| w[0] >= w[1]) {
        return Err(Error::InvalidArgument {
            name: "ids",
            reason: format!(
                "segment ids must be strictly increasing, found {} then {}",
                w[0], w[1]
            ),
        });
    }
    let hlen = header_len(columns.len());
    // Lay out the blocks.
    let mut offset = hlen;
    let mut descs = Vec::with_capacity(columns.len());
    for c in columns {
        let bytes = c.bytes();
        descs.push((c.kind(), offset, bytes.len(), crc32fast::hash(bytes)));
        offset = align_up(offset + bytes.len());
    }
    let id_bytes: &[u8] = bytemuck::cast_slice(ids);
    let ids_ref = BlockRef {
        offset,
        len: id_bytes.len(),
        crc: crc32fast::hash(id_bytes),
    };
    let file_len = offset + id_bytes.len();

    let mut header = vec![0u8; hlen];
    header[0..8].copy_from_slice(&MAGIC);
    header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[12..16].copy_from_slice(&(columns.len() as u32).to_le_bytes());
    header[16..24].copy_from_slice(&(ids.len() as u64).to_le_bytes());
    header[24..32].copy_from_slice(&(ids_ref.offset as u64).to_le_bytes());
    header[32..40].copy_from_slice(&(ids_ref.len as u64).to_le_bytes());
    header[40..44].copy_from_slice(&ids_ref.crc.to_le_bytes());
    header[48..56].copy_from_slice(&(file_len as u64).to_le_bytes());
    for (i, (kind, off, len, crc)) in descs.iter().enumerate() {
        let d = &mut header[FIXED_HEADER + DESCRIPTOR * i..FIXED_HEADER + DESCRIPTOR * (i + 1)];
        let (tag, params) = kind.encode();
        d[0..4].copy_from_slice(&tag.to_le_bytes());
        for (j, p) in params.iter().enumerate() {
            d[4 + 4 * j..8 + 4 * j].copy_from_slice(&p.to_le_bytes());
        }
        d[20..24].copy_from_slice(&crc.to_le_bytes());
        d[24..32].copy_from_slice(&(*off as u64).to_le_bytes());
        d[32..40].copy_from_slice(&(*len as u64).to_le_bytes());
    }
    let crc = header_crc(&header);
    header[HEADER_CRC_AT..HEADER_CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());

    atomic_write(dir, name, |w| {
        w.write_all(&header)?;
        let mut pos = hlen;
        let zeros = [0u8; BLOCK_ALIGN];
        for (c, (_, off, _, _)) in columns.iter().zip(&descs) {
            w.write_all(&zeros[..off - pos])?;
            let bytes = c.bytes();
            w.write_all(bytes)?;
            pos = off + bytes.len();
        }
        w.write_all(&zeros[..ids_ref.offset - pos])?;
        w.write_all(id_bytes)?;
        Ok(())
    })
}

/// The bytes a segment is viewed from.
enum Backing {
    /// A read-only memory map of the file.
    Mapped(memmap2::Mmap),
    /// An in-memory copy (tests, fuzzing), 8-byte aligned, with its length in bytes.
    Heap(Vec<u64>, usize),
}

impl Backing {
    fn bytes(&self) -> &[u8] {
        match self {
            Backing::Mapped(m) => m,
            Backing::Heap(words, len) => {
                let all: &[u8] = bytemuck::cast_slice(words);
                &all[..*len]
            }
        }
    }
}

/// One parsed column descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentColumn {
    /// What the column stores.
    pub kind: ColumnKind,
    /// Where its block lies.
    pub block: BlockRef,
}

/// An open, immutable segment: views into a memory-mapped file.
pub struct Segment {
    path: PathBuf,
    backing: Backing,
    rows: usize,
    header_len: usize,
    columns: Vec<SegmentColumn>,
    ids: BlockRef,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("path", &self.path)
            .field("rows", &self.rows)
            .field("columns", &self.columns)
            .finish()
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

impl Segment {
    /// Opens and maps a segment file, checking its header but not its data CRCs.
    pub fn open(path: &Path) -> Result<Segment> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        if len < FIXED_HEADER as u64 {
            return Err(corrupt(
                path,
                "file length",
                format!("at least {FIXED_HEADER} bytes"),
                len,
            ));
        }
        // SAFETY: segment files are written once (temp file + rename) and never modified
        // in place; the store only ever removes them, which leaves an existing mapping
        // valid. Every view is bounds- and alignment-checked against the mapping below.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        Self::parse(path.to_path_buf(), Backing::Mapped(map))
    }

    /// Parses a segment held in memory (a copy is made to get 8-byte alignment).
    pub fn from_bytes(name: impl Into<PathBuf>, bytes: &[u8]) -> Result<Segment> {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
        Self::parse(name.into(), Backing::Heap(words, bytes.len()))
    }

    fn parse(path: PathBuf, backing: Backing) -> Result<Segment> {
        let b = backing.bytes();
        let p = path.as_path();
        if b.len() < FIXED_HEADER {
            return Err(corrupt(
                p,
                "file length",
                format!("at least {FIXED_HEADER} bytes"),
                b.len(),
            ));
        }
        if b[0..8] != MAGIC {
            return Err(corrupt(
                p,
                "magic",
                format!("{:?}", String::from_utf8_lossy(&MAGIC)),
                format!("{:?}", String::from_utf8_lossy(&b[0..8])),
            ));
        }
        let version = u32_at(b, 8);
        if version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                path,
                expected: FORMAT_VERSION,
                found: version,
            });
        }
        let ncols = u32_at(b, 12) as usize;
        if ncols == 0 || ncols > MAX_COLUMNS {
            return Err(corrupt(
                p,
                "column count",
                format!("1..={MAX_COLUMNS}"),
                ncols,
            ));
        }
        let hlen = header_len(ncols);
        if b.len() < hlen {
            return Err(corrupt(
                p,
                "file length (header)",
                format!("at least {hlen} bytes"),
                b.len(),
            ));
        }
        let header = &b[..hlen];
        let recorded = u32_at(header, HEADER_CRC_AT);
        let actual = header_crc(header);
        if recorded != actual {
            return Err(Error::ChecksumMismatch {
                path,
                block: "header".to_string(),
                expected: recorded,
                found: actual,
            });
        }
        let file_len = u64_at(header, 48);
        if file_len != b.len() as u64 {
            return Err(corrupt(p, "file length", file_len, b.len()));
        }
        if u64_at(header, 56) != 0 {
            return Err(corrupt(
                p,
                "reserved header bytes 56..64",
                0,
                u64_at(header, 56),
            ));
        }
        let rows_u64 = u64_at(header, 16);
        let rows = usize::try_from(rows_u64)
            .ok()
            .filter(|&r| r <= b.len() / 8)
            .ok_or_else(|| corrupt(p, "row count", "at most file length / 8", rows_u64))?;
        // Blocks must lie after the header, in order, aligned, without overlap.
        let mut next_free = hlen;
        let mut check_block =
            |what: &str, off: u64, len: u64, expected_len: usize| -> Result<BlockRef> {
                let off_us = usize::try_from(off).unwrap_or(usize::MAX);
                let len_us = usize::try_from(len).unwrap_or(usize::MAX);
                if !off_us.is_multiple_of(BLOCK_ALIGN) {
                    return Err(corrupt(
                        p,
                        &format!("{what} offset"),
                        "a multiple of 64",
                        off,
                    ));
                }
                if off_us < next_free {
                    return Err(corrupt(
                        p,
                        &format!("{what} offset"),
                        format!("at least {next_free} (after the previous block)"),
                        off,
                    ));
                }
                if len_us != expected_len {
                    return Err(corrupt(p, &format!("{what} length"), expected_len, len));
                }
                let end = off_us
                    .checked_add(len_us)
                    .filter(|&e| e <= b.len())
                    .ok_or_else(|| {
                        corrupt(
                            p,
                            &format!("{what} end"),
                            format!("at most {} (file length)", b.len()),
                            off.saturating_add(len),
                        )
                    })?;
                next_free = end;
                Ok(BlockRef {
                    offset: off_us,
                    len: len_us,
                    crc: 0,
                })
            };
        let mut columns = Vec::with_capacity(ncols);
        for i in 0..ncols {
            let d = &header[FIXED_HEADER + DESCRIPTOR * i..FIXED_HEADER + DESCRIPTOR * (i + 1)];
            let tag = u32_at(d, 0);
            let params = [u32_at(d, 4), u32_at(d, 8), u32_at(d, 12), u32_at(d, 16)];
            let kind = ColumnKind::decode(tag, params).ok_or_else(|| {
                corrupt(
                    p,
                    &format!("column {i} kind"),
                    "a known column kind (binary: tag 1, bits 8..=4096, multiple of 8; \
                     pq: tag 2, M, nbits 4 or 8, metric 0 or 1)",
                    format!("tag {tag}, parameters {params:?}"),
                )
            })?;
            if u64_at(d, 40) != 0 {
                return Err(corrupt(
                    p,
                    &format!("column {i} reserved bytes"),
                    0,
                    u64_at(d, 40),
                ));
            }
            let expected = rows
                .checked_mul(kind.row_bytes())
                .ok_or_else(|| corrupt(p, "row count", "rows * row bytes to fit", rows))?;
            let mut block = check_block(
                &format!("column {i}"),
                u64_at(d, 24),
                u64_at(d, 32),
                expected,
            )?;
            block.crc = u32_at(d, 20);
            columns.push(SegmentColumn { kind, block });
        }
        let mut ids = check_block("ids", u64_at(header, 24), u64_at(header, 32), rows * 8)?;
        ids.crc = u32_at(header, 40);
        if ids.offset + ids.len != b.len() {
            return Err(corrupt(p, "ids block end", b.len(), ids.offset + ids.len));
        }
        // Every word block must view as u64 words in place (always true for page-aligned
        // maps and 64-byte aligned offsets; checked so a violation is an error, not UB).
        // PQ blocks are read as bytes.
        let word_blocks = columns
            .iter()
            .filter(|c| c.kind.is_word_block())
            .map(|c| c.block);
        for blk in word_blocks.chain([ids]) {
            bytemuck::try_cast_slice::<u8, u64>(&b[blk.offset..blk.offset + blk.len]).map_err(
                |e| {
                    corrupt(
                        p,
                        "block alignment",
                        "8-byte aligned words",
                        format!("{e:?}"),
                    )
                },
            )?;
        }
        Ok(Segment {
            path,
            backing,
            rows,
            header_len: hlen,
            columns,
            ids,
        })
    }

    fn words(&self, blk: BlockRef) -> &[u64] {
        // Checked at open: in bounds and castable; the fallback is unreachable.
        self.backing
            .bytes()
            .get(blk.offset..blk.offset + blk.len)
            .and_then(|b| bytemuck::try_cast_slice(b).ok())
            .unwrap_or(&[])
    }

    /// The file this segment was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The column descriptors.
    pub fn columns(&self) -> &[SegmentColumn] {
        &self.columns
    }

    /// External ids, one per row, strictly increasing (checked by [`Segment::verify`]).
    pub fn ids(&self) -> &[u64] {
        self.words(self.ids)
    }

    /// Column `col` viewed as binary codes, in place.
    pub fn binary(&self, col: usize) -> Result<BinaryView<'_>> {
        let c = self
            .columns
            .get(col)
            .ok_or_else(|| Error::InvalidArgument {
                name: "col",
                reason: format!(
                    "segment {} has {} columns, asked for column {col}",
                    self.path.display(),
                    self.columns.len()
                ),
            })?;
        match c.kind {
            ColumnKind::Binary { bits } => BinaryView::new(bits as usize, self.words(c.block)),
            other => Err(Error::SchemaMismatch {
                path: self.path.clone(),
                expected: format!("a binary column {col}"),
                found: other.describe(),
            }),
        }
    }

    /// Column `col` viewed as PQ codes, in place (no pass over the data).
    pub fn pq(&self, col: usize) -> Result<PqView<'_>> {
        let c = self
            .columns
            .get(col)
            .ok_or_else(|| Error::InvalidArgument {
                name: "col",
                reason: format!(
                    "segment {} has {} columns, asked for column {col}",
                    self.path.display(),
                    self.columns.len()
                ),
            })?;
        match c.kind {
            ColumnKind::Pq { m, nbits, .. } => {
                let bytes = self
                    .backing
                    .bytes()
                    .get(c.block.offset..c.block.offset + c.block.len)
                    .unwrap_or(&[]);
                PqView::new(m as usize, nbits as u8, bytes)
            }
            other => Err(Error::SchemaMismatch {
                path: self.path.clone(),
                expected: format!("a PQ column {col}"),
                found: other.describe(),
            }),
        }
    }

    /// The row holding `id`, if any (binary search over the sorted ids).
    pub fn find(&self, id: u64) -> Option<usize> {
        self.ids().binary_search(&id).ok()
    }

    /// Size of the file in bytes.
    pub fn file_len(&self) -> usize {
        self.backing.bytes().len()
    }

    /// Full check: every block CRC, zero padding between blocks, and strictly increasing ids.
    pub fn verify(&self) -> Result<()> {
        let b = self.backing.bytes();
        let mut pos = self.header_len;
        let blocks = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("column {i}"), c.block))
            .chain([("ids".to_string(), self.ids)]);
        for (name, blk) in blocks {
            if let Some(at) = b[pos..blk.offset].iter().position(|&x| x != 0) {
                return Err(corrupt(
                    &self.path,
                    &format!("padding byte at offset {}", pos + at),
                    0,
                    b[pos + at],
                ));
            }
            let found = crc32fast::hash(&b[blk.offset..blk.offset + blk.len]);
            if found != blk.crc {
                return Err(Error::ChecksumMismatch {
                    path: self.path.clone(),
                    block: name,
                    expected: blk.crc,
                    found,
                });
            }
            pos = blk.offset + blk.len;
        }
        if let Some(i) = self.ids().windows(2).position(|w| w[0] >= w[1]) {
            return Err(corrupt(
                &self.path,
                &format!("ids at rows {i} and {}", i + 1),
                "strictly increasing",
                format!("{} then {}", self.ids()[i], self.ids()[i + 1]),
            ));
        }
        Ok(())
    }
}

fn corrupt(
    path: &Path,
    what: &str,
    expected: impl std::fmt::Display,
    found: impl std::fmt::Display,
) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        what: what.to_string(),
        expected: expected.to_string(),
        found: found.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::BinaryCodes;

    fn small_segment(dir: &Path) -> (PathBuf, BinaryCodes, Vec<u64>) {
        let codes = BinaryCodes::random(72, 5, 7).unwrap();
        let ids = vec![3, 10, 11, 40, 1 << 40];
        let path = write_segment(dir, "s.seg", &ids, &[ColumnData::Binary(codes.view())]).unwrap();
        (path, codes, ids)
    }

    #[test]
    fn round_trip_views_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let (path, codes, ids) = small_segment(dir.path());
        let seg = Segment::open(&path).unwrap();
        assert_eq!(seg.rows(), 5);
        assert_eq!(seg.ids(), &ids[..]);
        assert_eq!(seg.binary(0).unwrap().as_words(), codes.as_words());
        assert_eq!(seg.find(40), Some(3));
        assert_eq!(seg.find(41), None);
        seg.verify().unwrap();
        // Header 64 + 48 -> 128; codes 5 rows * 16 bytes = 80 at 128; ids at 256.
        assert_eq!(seg.columns()[0].block.offset, 128);
        assert_eq!(seg.file_len(), 256 + 40);
        assert!(
            dir.path().read_dir().unwrap().count() == 1,
            "temp file left behind"
        );
    }

    #[test]
    fn empty_segment_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let codes = BinaryCodes::empty(64).unwrap();
        let path = write_segment(
            dir.path(),
            "e.seg",
            &[],
            &[ColumnData::Binary(codes.view())],
        )
        .unwrap();
        let seg = Segment::open(&path).unwrap();
        assert_eq!(seg.rows(), 0);
        assert!(seg.binary(0).unwrap().is_empty());
        seg.verify().unwrap();
    }

    #[test]
    fn writer_rejects_unsorted_ids_and_ragged_columns() {
        let dir = tempfile::tempdir().unwrap();
        let codes = BinaryCodes::random(64, 3, 1).unwrap();
        let col = [ColumnData::Binary(codes.view())];
        assert!(write_segment(dir.path(), "a", &[1, 1, 2], &col).is_err());
        assert!(write_segment(dir.path(), "a", &[2, 1, 3], &col).is_err());
        assert!(write_segment(dir.path(), "a", &[1, 2], &col).is_err());
    }

    #[test]
    fn every_single_byte_flip_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _, _) = small_segment(dir.path());
        let good = std::fs::read(&path).unwrap();
        for at in 0..good.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[at] ^= flip;
                let result = Segment::from_bytes("flipped", &bad).and_then(|s| s.verify());
                assert!(
                    result.is_err(),
                    "flip {flip:#x} at byte {at} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn pq_columns_round_trip_and_every_byte_flip_is_reported() {
        use crate::code::{PqCodes, PqMetric};
        let dir = tempfile::tempdir().unwrap();
        // 8-bit M = 5 (5-byte rows, unpadded) and 4-bit M = 6 (3-byte rows).
        for (m, nbits, metric) in [(5, 8, PqMetric::SquaredL2), (6, 4, PqMetric::InnerProduct)] {
            let row = if nbits == 8 { m } else { m / 2 };
            let bytes: Vec<u8> = (0..7 * row).map(|i| (i * 37 + 11) as u8).collect();
            let codes = PqCodes::new(m, nbits, bytes).unwrap();
            let ids = [2, 3, 5, 7, 11, 13, 17];
            let name = format!("pq{nbits}.ccs");
            let path = write_segment(
                dir.path(),
                &name,
                &ids,
                &[ColumnData::Pq(codes.view(), metric)],
            )
            .unwrap();
            let seg = Segment::open(&path).unwrap();
            seg.verify().unwrap();
            assert_eq!(seg.pq(0).unwrap(), codes.view());
            assert_eq!(
                seg.columns()[0].kind,
                ColumnKind::Pq {
                    m: m as u32,
                    nbits: nbits as u32,
                    metric
                }
            );
            assert!(seg.binary(0).is_err());
            assert_eq!(seg.columns()[0].block.len, 7 * row);
            let good = std::fs::read(&path).unwrap();
            for at in 0..good.len() {
                let mut bad = good.clone();
                bad[at] ^= 0x10;
                let result = Segment::from_bytes("flipped", &bad).and_then(|s| s.verify());
                assert!(
                    result.is_err(),
                    "flip at byte {at} of {name} went unnoticed"
                );
            }
        }
        // An odd M at 4 bits is refused by the writer.
        let odd = PqCodes::new(3, 4, vec![0, 0]).unwrap();
        assert!(
            write_segment(
                dir.path(),
                "odd",
                &[1],
                &[ColumnData::Pq(odd.view(), PqMetric::SquaredL2)]
            )
            .is_err()
        );
    }

    #[test]
    fn several_pq_columns_round_trip_and_every_byte_flip_is_reported() {
        use crate::code::{PqCodes, PqMetric};
        let dir = tempfile::tempdir().unwrap();
        // HCQ-like rows: an 8-bit coarse column (M = 1) and fine columns of 4-bit M = 6
        // and 8-bit M = 5, all with the same ids.
        let ids = [4, 8, 15, 16, 23, 42];
        let columns: Vec<PqCodes> = [(1, 8), (6, 4), (5, 8)]
            .iter()
            .enumerate()
            .map(|(c, &(m, nbits))| {
                let row = if nbits == 8 { m } else { m / 2 };
                let bytes = (0..ids.len() * row).map(|i| (i * 29 + 7 * c + 3) as u8);
                PqCodes::new(m, nbits, bytes.collect()).unwrap()
            })
            .collect();
        let data: Vec<ColumnData<'_>> = columns
            .iter()
            .map(|c| ColumnData::Pq(c.view(), PqMetric::InnerProduct))
            .collect();
        let path = write_segment(dir.path(), "multi.ccs", &ids, &data).unwrap();
        let seg = Segment::open(&path).unwrap();
        seg.verify().unwrap();
        assert_eq!(seg.columns().len(), 3);
        assert_eq!(seg.ids(), &ids[..]);
        let mut end = 0;
        for (i, c) in columns.iter().enumerate() {
            assert_eq!(seg.pq(i).unwrap(), c.view(), "column {i}");
            let block = seg.columns()[i].block;
            assert_eq!(block.offset % BLOCK_ALIGN, 0);
            assert!(
                block.offset >= end,
                "column {i} overlaps the previous block"
            );
            end = block.offset + block.len;
        }
        assert!(seg.pq(3).is_err());
        let good = std::fs::read(&path).unwrap();
        for at in 0..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 0x08;
            let result = Segment::from_bytes("flipped", &bad).and_then(|s| s.verify());
            assert!(result.is_err(), "flip at byte {at} went unnoticed");
        }
        // A column with another row count is refused by the writer.
        let short = PqCodes::new(5, 8, vec![0; 5]).unwrap();
        let mut ragged = data.clone();
        ragged[2] = ColumnData::Pq(short.view(), PqMetric::InnerProduct);
        assert!(write_segment(dir.path(), "ragged", &ids, &ragged).is_err());
    }

    #[test]
    fn truncation_and_extension_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _, _) = small_segment(dir.path());
        let good = std::fs::read(&path).unwrap();
        for cut in 0..good.len() {
            assert!(
                Segment::from_bytes("cut", &good[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut longer = good.clone();
        longer.push(0);
        assert!(matches!(
            Segment::from_bytes("long", &longer),
            Err(Error::Corrupt { .. })
        ));
    }

    #[test]
    fn wrong_magic_and_version_are_typed() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _, _) = small_segment(dir.path());
        let good = std::fs::read(&path).unwrap();
        let mut bad = good.clone();
        bad[0] = b'Y';
        assert!(matches!(
            Segment::from_bytes("m", &bad),
            Err(Error::Corrupt { .. })
        ));
        let mut v2 = good.clone();
        v2[8] = 2;
        assert!(matches!(
            Segment::from_bytes("v", &v2),
            Err(Error::UnsupportedVersion {
                expected: 1,
                found: 2,
                ..
            })
        ));
    }

    #[test]
    fn misaligned_block_with_valid_crc_is_rejected() {
        // Rewrite the column offset to 136 (8-aligned, not 64-aligned) and fix the header CRC.
        let dir = tempfile::tempdir().unwrap();
        let (path, _, _) = small_segment(dir.path());
        let mut bad = std::fs::read(&path).unwrap();
        bad[FIXED_HEADER + 24..FIXED_HEADER + 32].copy_from_slice(&136u64.to_le_bytes());
        assert!(reseal_header(&mut bad));
        let err = Segment::from_bytes("a", &bad).unwrap_err();
        assert!(err.to_string().contains("multiple of 64"), "{err}");
    }
}
