//! Hamming distance kernels over packed binary codes.
//!
//! Every kernel scans a block of row-padded codes against one query and offers each row
//! whose distance is below the sink's current bound to a [`DistanceSink`] (a top-k
//! selector, a range collector). The bound is re-read as the scan goes, so a sink that
//! tightens it (top-k) makes the rest of the scan reject more rows with one compare.
//!
//! Kernels, from reference to fastest:
//! - [`HammingKernel::Scalar`]: bit-by-bit reference, independent of `count_ones`.
//! - [`HammingKernel::Portable`]: `u64::count_ones` on any target.
//! - [`HammingKernel::Popcnt`]: the same loop compiled for the x86 `popcnt` instruction.
//! - [`HammingKernel::Avx2`]: nibble-lookup popcount with `vpshufb`, 16 codes a step at
//!   64 bits, four codes a step for longer codes.
//! - [`HammingKernel::Avx512`]: `vpopcntq` (AVX-512 F, BW and VPOPCNTDQ), 32 rows a
//!   step compared with the bound at once.
//!
//! Batches of many queries scan blocks re-laid out once per block (`PreparedBlock`):
//! byte-sliced for AVX2 (nibble lookups), word-sliced for AVX-512 (`vpopcntq` with no
//! horizontal sums).
//!
//! The best kernel the CPU supports is detected once per process and cached; the
//! `CROSSCODE_HAMMING_KERNEL` environment variable (`scalar`, `portable`, `popcnt`, `avx2`,
//! `avx512`) overrides it, and every search takes an explicit kernel too, so tests and
//! benches cover each path. Dispatch is one `match` per scanned block, which lets every
//! kernel be monomorphised over the sink.

mod portable;
mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86_avx2;
#[cfg(target_arch = "x86_64")]
mod x86_avx512;

use std::sync::OnceLock;

use crate::error::Result;
use crate::scan::dispatch::{self, KernelFamily};

pub use scalar::distance as reference_distance;

/// Receives the rows a kernel finds closer than [`DistanceSink::bound`].
pub trait DistanceSink {
    /// Rows with distance strictly below this bound are offered. Kernels may re-read it
    /// after each offer; a sink must accept (and may ignore) offers made under an older,
    /// looser bound.
    fn bound(&self) -> u32;
    /// Offers row `row` (absolute row number) at distance `distance`.
    fn offer(&mut self, row: usize, distance: u32);
}

/// One implementation of the Hamming scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HammingKernel {
    /// Bit-by-bit reference.
    Scalar,
    /// `u64::count_ones`, no target features.
    Portable,
    /// `u64::count_ones` compiled with the x86 `popcnt` feature.
    Popcnt,
    /// AVX2 nibble-lookup popcount.
    Avx2,
    /// AVX-512 F + BW + VPOPCNTDQ.
    Avx512,
}

impl HammingKernel {
    /// All kernels, slowest first.
    pub const ALL: [HammingKernel; 5] = [
        HammingKernel::Scalar,
        HammingKernel::Portable,
        HammingKernel::Popcnt,
        HammingKernel::Avx2,
        HammingKernel::Avx512,
    ];

    /// The kernel's lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            HammingKernel::Scalar => "scalar",
            HammingKernel::Portable => "portable",
            HammingKernel::Popcnt => "popcnt",
            HammingKernel::Avx2 => "avx2",
            HammingKernel::Avx512 => "avx512",
        }
    }

    /// Parses a kernel name as [`HammingKernel::name`] writes it.
    pub fn from_name(name: &str) -> Result<Self> {
        dispatch::from_name(name)
    }

    /// Whether this CPU can run the kernel.
    pub fn is_available(self) -> bool {
        match self {
            HammingKernel::Scalar | HammingKernel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            HammingKernel::Popcnt => std::arch::is_x86_feature_detected!("popcnt"),
            #[cfg(target_arch = "x86_64")]
            HammingKernel::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            HammingKernel::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The kernels this CPU can run, slowest first.
    pub fn available() -> Vec<HammingKernel> {
        dispatch::available()
    }

    /// The fastest kernel this CPU can run.
    pub fn detect() -> HammingKernel {
        dispatch::detect()
    }

    /// Returns `self` if this CPU can run it, else [`Error::KernelUnavailable`](crate::Error::KernelUnavailable).
    pub fn check(self) -> Result<Self> {
        dispatch::check(self)
    }

    /// The process-wide default: `CROSSCODE_HAMMING_KERNEL` if set, else the detected
    /// best. Worked out once per process; an unknown or unavailable name in the variable
    /// is an error every time it is asked for.
    pub fn process_default() -> Result<HammingKernel> {
        static CHOSEN: OnceLock<std::result::Result<HammingKernel, String>> = OnceLock::new();
        dispatch::process_default(&CHOSEN)
    }

    /// Scans `codes` (rows of `query.len()` words, row `i` being absolute row
    /// `first_row + i`) against `query`, offering rows below the sink's bound.
    ///
    /// The caller guarantees `codes.len()` is a multiple of `query.len()`, `query` is
    /// non-empty, and the kernel [`is_available`](Self::is_available) (checked with a
    /// debug assertion; release builds fall back to the portable path if not).
    pub(crate) fn scan<S: DistanceSink>(
        self,
        query: &[u64],
        codes: &[u64],
        first_row: usize,
        sink: &mut S,
    ) {
        debug_assert!(!query.is_empty() && codes.len().is_multiple_of(query.len()));
        debug_assert!(self.is_available());
        match self {
            HammingKernel::Scalar => scalar::scan(query, codes, first_row, sink),
            #[cfg(target_arch = "x86_64")]
            HammingKernel::Popcnt if self.is_available() => {
                // SAFETY: the CPU supports popcnt (checked just above).
                unsafe { portable::scan_popcnt(query, codes, first_row, sink) }
            }
            #[cfg(target_arch = "x86_64")]
            HammingKernel::Avx2 if self.is_available() => {
                // SAFETY: the CPU supports AVX2 (checked just above).
                unsafe { x86_avx2::scan(query, codes, first_row, sink) }
            }
            #[cfg(target_arch = "x86_64")]
            HammingKernel::Avx512 if self.is_available() => {
                // SAFETY: the CPU supports AVX-512 F, BW and VPOPCNTDQ (checked just above).
                unsafe { x86_avx512::scan(query, codes, first_row, sink) }
            }
            _ => portable::scan(query, codes, first_row, sink),
        }
    }
}

/// Hands the rows flagged in `below` (bit `j`: row `first + j`, distance `dist[j]`) that
/// are still below the bound to the sink, in row order, re-reading the bound after each
/// offer. The rare path of every SIMD scan.
#[cold]
#[inline(never)]
pub(super) fn offer_flagged<S: DistanceSink>(
    dist: &[u32],
    mut below: u32,
    first: usize,
    bound: &mut u32,
    sink: &mut S,
) {
    if dist.len() < 32 {
        below &= (1u32 << dist.len()) - 1;
    }
    while below != 0 {
        let j = below.trailing_zeros() as usize;
        below &= below - 1;
        if dist[j] < *bound {
            sink.offer(first + j, dist[j]);
            *bound = sink.bound();
        }
    }
}

/// Transposes an 8 × 8 byte matrix held as eight little-endian words: afterwards byte
/// `r` of word `b` is what byte `b` of word `r` was. Three rounds of swapping
/// off-diagonal bytes, pairs of bytes, then halves.
#[inline]
fn transpose_bytes_8x8(x: &mut [u64; 8]) {
    for (shift, mask, pairs) in [
        (
            8,
            0x00ff_00ff_00ff_00ff_u64,
            [(0, 1), (2, 3), (4, 5), (6, 7)],
        ),
        (16, 0x0000_ffff_0000_ffff, [(0, 2), (1, 3), (4, 6), (5, 7)]),
        (32, 0x0000_0000_ffff_ffff, [(0, 4), (1, 5), (2, 6), (3, 7)]),
    ] {
        for (i, j) in pairs {
            let t = ((x[i] >> shift) ^ x[j]) & mask;
            x[j] ^= t;
            x[i] ^= t << shift;
        }
    }
}

/// Rows of `bytes_per_row` that fit in `budget` bytes of cache, at least 128 so that
/// per-block work is shared by enough rows, in whole groups of 32.
fn rows_in_budget(budget: usize, bytes_per_row: usize) -> usize {
    (budget / bytes_per_row.max(1)).max(128) / 32 * 32
}

/// 32 bytes aligned for whole-vector loads: one byte position of 32 rows, or a table.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(32))]
pub(crate) struct Lane32(pub(crate) [u8; 32]);

/// A block of codes re-laid out once so that many queries can scan it fast: rows in
/// groups of 32, and per group and byte position, the 32 rows' low nibbles then their
/// high nibbles. A query's nibble at each byte position picks one of 16 fixed lookup
/// tables (popcount of row nibble xor query nibble), so a scan is table lookups and adds,
/// one row per byte lane.
///
/// Used by batched searches with the AVX2 kernel, where the re-layout (about the cost of
/// two scans) is shared by many queries. The last `len() % 32` rows are not in the
/// block; callers scan them directly.
#[derive(Debug, Default)]
pub(crate) struct ByteSlicedBlock {
    words_per_code: usize,
    bytes_per_code: usize,
    groups: usize,
    lanes: Vec<Lane32>,
}

impl ByteSlicedBlock {
    /// Rows per block for codes of `bytes_per_code` bytes: the block (two bytes per code
    /// byte) fits in 24 KiB of the L1 cache, beside the 512 bytes of lookup tables; at
    /// least 128 rows so that per-block work is shared by enough rows.
    pub(crate) fn block_rows(bytes_per_code: usize) -> usize {
        rows_in_budget(24 * 1024, 2 * bytes_per_code)
    }

    /// Re-lays out `codes` (rows of `words_per_code` words, `bytes_per_code` of them
    /// meaningful) into this block.
    pub(crate) fn fill(&mut self, codes: &[u64], words_per_code: usize, bytes_per_code: usize) {
        let (w, p) = (words_per_code, bytes_per_code);
        self.words_per_code = w;
        self.bytes_per_code = p;
        self.groups = codes.len() / w.max(1) / 32;
        self.lanes.clear();
        self.lanes.resize(self.groups * 2 * p, Lane32::default());
        const LO: u64 = 0x0f0f_0f0f_0f0f_0f0f;
        for (g, out) in self.lanes.chunks_exact_mut(2 * p).enumerate() {
            // Eight rows by eight bytes at a time: transpose so that word `b` holds
            // byte `b` of the eight rows, then split nibbles eight rows per store.
            for s in 0..4 {
                let first = 32 * g + 8 * s;
                for j in 0..w {
                    let mut x: [u64; 8] = std::array::from_fn(|r| codes[(first + r) * w + j]);
                    transpose_bytes_8x8(&mut x);
                    for (b, word) in x.iter().enumerate().take(p.saturating_sub(8 * j)) {
                        let pos = 2 * (8 * j + b);
                        out[pos].0[8 * s..8 * s + 8].copy_from_slice(&(word & LO).to_le_bytes());
                        out[pos + 1].0[8 * s..8 * s + 8]
                            .copy_from_slice(&((word >> 4) & LO).to_le_bytes());
                    }
                }
            }
        }
    }

    /// Rows held (a multiple of 32).
    pub(crate) fn rows(&self) -> usize {
        32 * self.groups
    }

    /// Appends the lookup-table choice of `query` for this layout: the low then the high
    /// nibble of each of its first `bytes_per_code` bytes. Computed once per query and
    /// passed to every [`scan`](Self::scan) of that query.
    pub(crate) fn query_nibbles(query: &[u64], bytes_per_code: usize, out: &mut Vec<u8>) {
        for b in 0..bytes_per_code.min(8 * query.len()) {
            let byte = (query[b / 8] >> (8 * (b % 8))) as u8;
            out.push(byte & 0x0f);
            out.push(byte >> 4);
        }
    }

    /// Scans the block (rows numbered from `first_row`) against `query`, whose
    /// [`query_nibbles`](Self::query_nibbles) are `nibbles`.
    pub(crate) fn scan<S: DistanceSink>(
        &self,
        kernel: HammingKernel,
        query: &[u64],
        nibbles: &[u8],
        first_row: usize,
        sink: &mut S,
    ) {
        if query.len() != self.words_per_code || nibbles.len() != 2 * self.bytes_per_code {
            debug_assert!(false, "query length differs from the block's");
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if kernel == HammingKernel::Avx2 && kernel.is_available() && !nibbles.is_empty() {
            // SAFETY: AVX2 is available (checked). `nibbles` holds two entries per byte
            // position (checked) and `lanes` two per byte position per group, by
            // construction.
            unsafe { x86_avx2::scan_byte_sliced(nibbles, &self.lanes, first_row, sink) }
            return;
        }
        // No byte-sliced kernel for this CPU: undo the layout row by row.
        let (w, p) = (self.words_per_code, self.bytes_per_code);
        let mut row = vec![0u64; w];
        for (g, group) in self.lanes.chunks_exact(2 * p).enumerate() {
            for r in 0..32 {
                row.fill(0);
                for b in 0..p {
                    let byte = group[2 * b].0[r] | group[2 * b + 1].0[r] << 4;
                    row[b / 8] |= (byte as u64) << (8 * (b % 8));
                }
                portable::scan(query, &row, first_row + 32 * g + r, sink);
            }
        }
    }
}

/// A block of codes laid out as eight-row groups, word by word: group `g`, word `j` is
/// word `j` of rows `8g..8g+8` side by side. A kernel that loads one word of eight rows
/// into a vector adds their popcounts vertically and never sums across lanes.
///
/// Used by batched searches with the AVX-512 kernel for codes of more than one word (a
/// one-word row-major block is already in this layout). The last `len() % 8` rows are
/// not in the block; callers scan them directly.
#[derive(Debug, Default)]
pub(crate) struct WordSlicedBlock {
    words_per_code: usize,
    groups: usize,
    words: Vec<u64>,
}

impl WordSlicedBlock {
    /// Rows per block for codes of `words_per_code` words: the block fits in 32 KiB of
    /// the L1 cache; at least 128 rows.
    pub(crate) fn block_rows(words_per_code: usize) -> usize {
        rows_in_budget(32 * 1024, 8 * words_per_code)
    }

    /// Re-lays out `codes` (rows of `words_per_code` words) into this block.
    pub(crate) fn fill(&mut self, codes: &[u64], words_per_code: usize) {
        let w = words_per_code.max(1);
        self.words_per_code = w;
        self.groups = codes.len() / w / 8;
        self.words.clear();
        self.words.resize(self.groups * 8 * w, 0);
        for (out, rows) in self
            .words
            .chunks_exact_mut(8 * w)
            .zip(codes.chunks_exact(8 * w))
        {
            for (i, row) in rows.chunks_exact(w).enumerate() {
                for (j, &word) in row.iter().enumerate() {
                    out[8 * j + i] = word;
                }
            }
        }
    }

    /// Rows held (a multiple of 8).
    pub(crate) fn rows(&self) -> usize {
        8 * self.groups
    }

    /// Scans the block (rows numbered from `first_row`) against `query`.
    pub(crate) fn scan<S: DistanceSink>(
        &self,
        kernel: HammingKernel,
        query: &[u64],
        first_row: usize,
        sink: &mut S,
    ) {
        let w = self.words_per_code;
        if query.len() != w {
            debug_assert!(false, "query length differs from the block's");
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if kernel == HammingKernel::Avx512 && kernel.is_available() {
            // SAFETY: AVX-512 F, BW and VPOPCNTDQ are available (checked); `query` has
            // `w ≥ 1` words and `words` holds `8·w` words per group, by construction.
            unsafe { x86_avx512::scan_word_sliced(query, &self.words, first_row, sink) }
            return;
        }
        // No word-sliced kernel for this CPU: undo the layout row by row.
        let _ = kernel;
        let mut row = vec![0u64; w];
        for (g, group) in self.words.chunks_exact(8 * w).enumerate() {
            for i in 0..8 {
                for (j, word) in row.iter_mut().enumerate() {
                    *word = group[8 * j + i];
                }
                portable::scan(query, &row, first_row + 8 * g + i, sink);
            }
        }
    }
}

/// A block of database codes re-laid out once for the many queries of a batch, in the
/// layout the kernel scans fastest.
#[derive(Debug)]
pub(crate) enum PreparedBlock {
    /// Nibble lookups ([`HammingKernel::Avx2`]).
    ByteSliced(ByteSlicedBlock),
    /// Vertical popcounts ([`HammingKernel::Avx512`], codes of two words or more).
    WordSliced(WordSlicedBlock),
}

impl PreparedBlock {
    /// The layout `kernel` scans codes of `bits` bits in, or `None` when the kernel is
    /// as fast on rows as they are.
    pub(crate) fn for_kernel(kernel: HammingKernel, bits: usize) -> Option<PreparedBlock> {
        match kernel {
            HammingKernel::Avx2 => Some(PreparedBlock::ByteSliced(ByteSlicedBlock::default())),
            HammingKernel::Avx512 if bits > 64 => {
                Some(PreparedBlock::WordSliced(WordSlicedBlock::default()))
            }
            _ => None,
        }
    }

    /// Rows per block for codes of `bits` bits.
    pub(crate) fn block_rows(&self, bits: usize) -> usize {
        match self {
            PreparedBlock::ByteSliced(_) => ByteSlicedBlock::block_rows(bits / 8),
            PreparedBlock::WordSliced(_) => WordSlicedBlock::block_rows(bits.div_ceil(64)),
        }
    }

    /// Bytes of per-query data [`PreparedBlock::prepare_query`] appends.
    pub(crate) fn query_bytes(&self, bits: usize) -> usize {
        match self {
            PreparedBlock::ByteSliced(_) => 2 * (bits / 8),
            PreparedBlock::WordSliced(_) => 0,
        }
    }

    /// Appends what scans of `query` need, computed once per query.
    pub(crate) fn prepare_query(&self, query: &[u64], bits: usize, out: &mut Vec<u8>) {
        if let PreparedBlock::ByteSliced(_) = self {
            ByteSlicedBlock::query_nibbles(query, bits / 8, out);
        }
    }

    /// Re-lays out `codes` (rows of `words_per_code` words, `bits` bits each).
    pub(crate) fn fill(&mut self, codes: &[u64], words_per_code: usize, bits: usize) {
        match self {
            PreparedBlock::ByteSliced(b) => b.fill(codes, words_per_code, bits / 8),
            PreparedBlock::WordSliced(b) => b.fill(codes, words_per_code),
        }
    }

    /// Rows held; the rest of the filled rows are left for a direct scan.
    pub(crate) fn rows(&self) -> usize {
        match self {
            PreparedBlock::ByteSliced(b) => b.rows(),
            PreparedBlock::WordSliced(b) => b.rows(),
        }
    }

    /// Scans the block against `query`, whose [`prepare_query`](Self::prepare_query)
    /// output is `prepared`.
    pub(crate) fn scan<S: DistanceSink>(
        &self,
        kernel: HammingKernel,
        query: &[u64],
        prepared: &[u8],
        first_row: usize,
        sink: &mut S,
    ) {
        match self {
            PreparedBlock::ByteSliced(b) => b.scan(kernel, query, prepared, first_row, sink),
            PreparedBlock::WordSliced(b) => b.scan(kernel, query, first_row, sink),
        }
    }
}

impl KernelFamily for HammingKernel {
    const ALL: &'static [Self] = &HammingKernel::ALL;
    const NAMES: &'static str = "scalar, portable, popcnt, avx2, avx512";
    const ENV_VAR: &'static str = "CROSSCODE_HAMMING_KERNEL";
    fn name(self) -> &'static str {
        HammingKernel::name(self)
    }
    fn is_available(self) -> bool {
        HammingKernel::is_available(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    /// Collects every offered row, with the bound it was given.
    struct Collect {
        bound: u32,
        got: Vec<(usize, u32)>,
    }

    impl DistanceSink for Collect {
        fn bound(&self) -> u32 {
            self.bound
        }
        fn offer(&mut self, row: usize, distance: u32) {
            self.got.push((row, distance));
        }
    }

    #[test]
    fn names_round_trip_and_unknown_is_an_error() {
        for k in HammingKernel::ALL {
            assert_eq!(HammingKernel::from_name(k.name()).unwrap(), k);
        }
        assert!(matches!(
            HammingKernel::from_name("sse9"),
            Err(Error::UnknownKernel { .. })
        ));
        assert!(HammingKernel::Scalar.is_available());
        assert!(HammingKernel::detect().is_available());
    }

    #[test]
    fn byte_sliced_layout_is_rows_by_nibble() {
        // The definition, byte by byte: lane 2b of group g holds the low nibbles of
        // byte b of rows 32g..32g+32, lane 2b+1 their high nibbles.
        let mut rng = crate::rng::Rng::new(9);
        for bits in [8usize, 24, 64, 72, 136, 512] {
            let (w, p) = (bits.div_ceil(64), bits / 8);
            let codes = crate::code::BinaryCodes::random(bits, 32 * 3 + 5, rng.next_u64()).unwrap();
            let mut block = ByteSlicedBlock::default();
            block.fill(codes.as_words(), w, p);
            assert_eq!(block.lanes.len(), 3 * 2 * p);
            let bytes = codes.to_packed();
            for g in 0..3 {
                for b in 0..p {
                    for r in 0..32 {
                        let byte = bytes[(32 * g + r) * p + b];
                        assert_eq!(block.lanes[g * 2 * p + 2 * b].0[r], byte & 0x0f);
                        assert_eq!(block.lanes[g * 2 * p + 2 * b + 1].0[r], byte >> 4);
                    }
                }
            }
        }
    }

    #[test]
    fn byte_sliced_block_matches_reference() {
        let mut rng = crate::rng::Rng::new(5);
        for bits in [8usize, 64, 72, 128, 256, 1000, 4096] {
            // 1 to 17 groups (every tail of 4, 2 and 1 groups after the 8-group steps),
            // plus 7 rows left out.
            for groups in 1..=17 {
                let w = bits.div_ceil(64);
                let rows = 32 * groups + 7;
                let codes = crate::code::BinaryCodes::random(bits, rows, rng.next_u64()).unwrap();
                let queries = crate::code::BinaryCodes::random(bits, 2, rng.next_u64()).unwrap();
                let mut block = ByteSlicedBlock::default();
                block.fill(codes.as_words(), w, bits / 8);
                assert_eq!(block.rows(), 32 * groups);
                let mut nibbles = [Vec::new(), Vec::new()];
                let mut expect = [Vec::new(), Vec::new()];
                for q in 0..2 {
                    let query = queries.row(q).unwrap();
                    ByteSlicedBlock::query_nibbles(query, bits / 8, &mut nibbles[q]);
                    expect[q] = (0..32 * groups)
                        .map(|r| (100 + r, scalar::distance(query, codes.row(r).unwrap())))
                        .collect::<Vec<(usize, u32)>>();
                }
                let (q0, q1) = (queries.row(0).unwrap(), queries.row(1).unwrap());
                for kernel in [HammingKernel::Avx2, HammingKernel::Portable] {
                    if !kernel.is_available() {
                        continue;
                    }
                    let mut all = Collect {
                        bound: u32::MAX,
                        got: vec![],
                    };
                    block.scan(kernel, q0, &nibbles[0], 100, &mut all);
                    assert_eq!(all.got, expect[0], "bits {bits} kernel {kernel:?}");
                    // The first query unbounded, the second with a bound in the
                    // middle of the distribution (only rows below it).
                    let bound = bits as u32 / 2;
                    let mut first = Collect {
                        bound: u32::MAX,
                        got: vec![],
                    };
                    let mut second = Collect { bound, got: vec![] };
                    block.scan(kernel, q0, &nibbles[0], 100, &mut first);
                    block.scan(kernel, q1, &nibbles[1], 100, &mut second);
                    assert_eq!(
                        first.got, expect[0],
                        "bounded, bits {bits} kernel {kernel:?}"
                    );
                    let below: Vec<(usize, u32)> =
                        expect[1].iter().copied().filter(|e| e.1 < bound).collect();
                    assert_eq!(second.got, below, "bounded, bits {bits} kernel {kernel:?}");
                }
            }
        }
    }

    #[test]
    fn word_sliced_layout_is_groups_by_word() {
        let mut rng = crate::rng::Rng::new(11);
        for bits in [128usize, 136, 256, 520] {
            let w = bits.div_ceil(64);
            let codes = crate::code::BinaryCodes::random(bits, 8 * 3 + 5, rng.next_u64()).unwrap();
            let mut block = WordSlicedBlock::default();
            block.fill(codes.as_words(), w);
            assert_eq!(block.rows(), 24);
            for g in 0..3 {
                for j in 0..w {
                    for i in 0..8 {
                        let row = codes.row(8 * g + i).unwrap();
                        assert_eq!(block.words[(g * w + j) * 8 + i], row[j]);
                    }
                }
            }
        }
    }

    #[test]
    fn word_sliced_block_matches_reference() {
        let mut rng = crate::rng::Rng::new(13);
        // Word counts with and without a fixed-size kernel; 1 to 13 groups (every tail
        // of 32-row steps and single groups), plus 5 rows left out.
        for bits in [72usize, 128, 192, 256, 320, 512, 1000, 4096] {
            let w = bits.div_ceil(64);
            for groups in 1..=13 {
                let rows = 8 * groups + 5;
                let codes = crate::code::BinaryCodes::random(bits, rows, rng.next_u64()).unwrap();
                let query = crate::code::BinaryCodes::random(bits, 1, rng.next_u64()).unwrap();
                let query = query.row(0).unwrap();
                let mut block = WordSlicedBlock::default();
                block.fill(codes.as_words(), w);
                assert_eq!(block.rows(), 8 * groups);
                let expect: Vec<(usize, u32)> = (0..8 * groups)
                    .map(|r| (40 + r, scalar::distance(query, codes.row(r).unwrap())))
                    .collect();
                for kernel in [HammingKernel::Avx512, HammingKernel::Portable] {
                    if !kernel.is_available() {
                        continue;
                    }
                    let mut all = Collect {
                        bound: u32::MAX,
                        got: vec![],
                    };
                    block.scan(kernel, query, 40, &mut all);
                    assert_eq!(all.got, expect, "bits {bits} kernel {kernel:?}");
                    let bound = bits as u32 / 2;
                    let mut below = Collect { bound, got: vec![] };
                    block.scan(kernel, query, 40, &mut below);
                    let want: Vec<(usize, u32)> =
                        expect.iter().copied().filter(|e| e.1 < bound).collect();
                    assert_eq!(below.got, want, "bounded, bits {bits} kernel {kernel:?}");
                }
            }
        }
    }

    #[test]
    fn byte_sliced_block_at_maximum_distance() {
        // Rows complementary to the query: every byte position adds 8, the most the u8
        // accumulators must hold before they are flushed.
        for bits in [248usize, 256, 504, 512, 4096] {
            let w = bits.div_ceil(64);
            let ones = crate::code::BinaryCodes::from_signs(bits, &vec![1.0; bits * 64]).unwrap();
            let zero = vec![0u64; w];
            let mut block = ByteSlicedBlock::default();
            block.fill(ones.as_words(), w, bits / 8);
            let mut nibbles = Vec::new();
            ByteSlicedBlock::query_nibbles(&zero, bits / 8, &mut nibbles);
            for kernel in [HammingKernel::Avx2, HammingKernel::Portable] {
                if !kernel.is_available() {
                    continue;
                }
                let mut all = Collect {
                    bound: u32::MAX,
                    got: vec![],
                };
                block.scan(kernel, &zero, &nibbles, 0, &mut all);
                let expect: Vec<(usize, u32)> = (0..64).map(|r| (r, bits as u32)).collect();
                assert_eq!(all.got, expect, "bits {bits} kernel {kernel:?}");
            }
            let mut words = WordSlicedBlock::default();
            words.fill(ones.as_words(), w);
            for kernel in [HammingKernel::Avx512, HammingKernel::Portable] {
                if !kernel.is_available() {
                    continue;
                }
                let mut all = Collect {
                    bound: u32::MAX,
                    got: vec![],
                };
                words.scan(kernel, &zero, 0, &mut all);
                let expect: Vec<(usize, u32)> = (0..64).map(|r| (r, bits as u32)).collect();
                assert_eq!(
                    all.got, expect,
                    "word-sliced, bits {bits} kernel {kernel:?}"
                );
            }
            for kernel in HammingKernel::available() {
                let mut all = Collect {
                    bound: u32::MAX,
                    got: vec![],
                };
                kernel.scan(&zero, ones.as_words(), 0, &mut all);
                assert!(all.got.iter().all(|&(_, d)| d == bits as u32), "{kernel:?}");
                assert_eq!(all.got.len(), 64);
            }
        }
    }

    #[test]
    fn hand_computed_distances() {
        // 128-bit codes: query all zeros, rows with 0, 1, 64 and 128 bits set.
        let codes = [0u64, 0, 1, 0, u64::MAX, 0, u64::MAX, u64::MAX];
        for kernel in HammingKernel::available() {
            let mut sink = Collect {
                bound: u32::MAX,
                got: vec![],
            };
            kernel.scan(&[0, 0], &codes, 10, &mut sink);
            assert_eq!(
                sink.got,
                vec![(10, 0), (11, 1), (12, 64), (13, 128)],
                "{kernel:?}"
            );
            let mut below = Collect {
                bound: 64,
                got: vec![],
            };
            kernel.scan(&[0, 0], &codes, 0, &mut below);
            assert_eq!(below.got, vec![(0, 0), (1, 1)], "{kernel:?}");
        }
    }
}
