//! AVX-512 Hamming scans with `vpopcntq` (AVX-512 F + BW + VPOPCNTDQ).
//!
//! Every scan works in steps of 32 rows: four groups of eight rows, each group reduced
//! to one vector of eight `u64` distances in row order, the four packed into 32 `u16`
//! lanes (`d0 | d1 << 16 | d2 << 32 | d3 << 48`) and compared with the bound by one
//! `vpcmpuw`. Only a step where some row passes (after the first steps, few) is stored
//! and offered, in row order. Distances are at most 4096, so `u16` lanes hold them.
//!
//! How a group's distances are formed depends on the layout:
//! - Row-major codes ([`scan`], single queries and batches of 64-bit codes): a row of
//!   `w` words fills `L` = 1, 2, 4 or 8 lanes (`w` = 1, 2, 4; other lengths accumulate
//!   their 512-bit chunks, the last one by masked load, into 8 lanes), so eight rows
//!   take `L` vectors after `vpopcntq`. They are folded pairwise — the sum of the even
//!   and the odd lanes of two vectors, two `vpermt2q` and an add — `log2 L` times.
//! - Word-sliced blocks ([`scan_word_sliced`], batches of longer codes): word `j` of
//!   eight rows side by side in one vector, so a group's distances are
//!   `Σ_j popcnt(V_j ^ broadcast(q_j))`, vertical adds only.
//!
//! Style: entry points carry `#[target_feature]`; helpers are `#[inline(always)]` so
//! that they inline into them, and their one safety condition is that they run inside
//! such an entry point.

use std::arch::x86_64::*;

use super::{DistanceSink, offer_flagged};

/// Rows per step.
const STEP_ROWS: usize = 32;

/// How far ahead (in words) row-major scans prefetch: single queries stream codes from
/// memory, and the hardware prefetcher alone leaves bandwidth unused.
const PREFETCH_WORDS: usize = 1024;

/// Even then odd lanes of the 16 lanes of two vectors (for `vpermt2q`).
///
/// # Safety
/// AVX-512 F must be enabled in the caller.
#[inline(always)]
unsafe fn fold_indices() -> (__m512i, __m512i) {
    // SAFETY: AVX-512 F is enabled (contract).
    unsafe {
        (
            _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14),
            _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15),
        )
    }
}

/// Sums each pair of neighbouring lanes of `a` then `b` (a pair belongs to one row):
/// lane `i` of the result is `x[2i] + x[2i + 1]` over the 16 lanes of `a, b`.
///
/// # Safety
/// AVX-512 F must be enabled in the caller.
#[inline(always)]
unsafe fn fold(a: __m512i, b: __m512i, (even, odd): (__m512i, __m512i)) -> __m512i {
    // SAFETY: AVX-512 F is enabled (contract).
    unsafe {
        _mm512_add_epi64(
            _mm512_permutex2var_epi64(a, even, b),
            _mm512_permutex2var_epi64(a, odd, b),
        )
    }
}

/// Four groups' distances in the 32 `u16` lanes of one vector: lane `4i + t` holds row
/// `i` of group `t`.
///
/// # Safety
/// AVX-512 F must be enabled in the caller; every lane of every input is below 2^16.
#[inline(always)]
unsafe fn pack4(d: [__m512i; 4]) -> __m512i {
    // SAFETY: AVX-512 F is enabled (contract).
    unsafe {
        // 0xFE: a | b | c.
        let three = _mm512_ternarylogic_epi64::<0xFE>(
            d[0],
            _mm512_slli_epi64::<16>(d[1]),
            _mm512_slli_epi64::<32>(d[2]),
        );
        _mm512_or_si512(three, _mm512_slli_epi64::<48>(d[3]))
    }
}

/// The bound as `u16` lanes (distances never exceed 4096, so a larger bound lets all pass).
///
/// # Safety
/// AVX-512 BW must be enabled in the caller.
#[inline(always)]
unsafe fn bound_lanes(bound: u32) -> __m512i {
    // SAFETY: AVX-512 BW is enabled (contract).
    unsafe { _mm512_set1_epi16(bound.min(u16::MAX as u32) as u16 as i16) }
}

/// Offers the rows of a 32-row step flagged in `lanes_below` (bit `4i + t`: row `8t + i`)
/// that are still below the bound, in row order. The rare path.
///
/// # Safety
/// AVX-512 F must be enabled in the caller.
#[cold]
#[inline(never)]
#[target_feature(enable = "avx512f")]
fn offer_step<S: DistanceSink>(
    packed: __m512i,
    mut lanes_below: u32,
    first: usize,
    bound: &mut u32,
    sink: &mut S,
) {
    let mut lanes = [0u16; 32];
    // SAFETY: `lanes` is 64 writable bytes; storeu needs no alignment.
    unsafe { _mm512_storeu_si512(lanes.as_mut_ptr().cast(), packed) };
    let dist: [u32; 32] = std::array::from_fn(|r| lanes[4 * (r % 8) + r / 8] as u32);
    let mut rows_below = 0u32;
    while lanes_below != 0 {
        let lane = lanes_below.trailing_zeros();
        lanes_below &= lanes_below - 1;
        rows_below |= 1 << (8 * (lane % 4) + lane / 4);
    }
    offer_flagged(&dist, rows_below, first, bound, sink);
}

/// Offers the rows of one eight-row group below the bound, in row order. The rare path.
///
/// # Safety
/// AVX-512 F must be enabled in the caller.
#[cold]
#[inline(never)]
#[target_feature(enable = "avx512f")]
fn offer_group<S: DistanceSink>(d: __m512i, first: usize, bound: &mut u32, sink: &mut S) {
    let mut lanes = [0u64; 8];
    // SAFETY: `lanes` is 64 writable bytes; storeu needs no alignment.
    unsafe { _mm512_storeu_si512(lanes.as_mut_ptr().cast(), d) };
    let dist = lanes.map(|d| d as u32);
    offer_flagged(&dist, u32::MAX, first, bound, sink);
}

/// Where a scan's eight-row groups come from.
trait Groups {
    /// Rows scanned.
    fn rows(&self) -> usize;
    /// Distances of rows `8g..8g + 8` in row order, one per `u64` lane.
    ///
    /// # Safety
    /// AVX-512 F, BW and VPOPCNTDQ must be enabled in the caller; `g < rows() / 8`.
    unsafe fn group(&self, g: usize) -> __m512i;
    /// Distance of row `r` (the last `rows() % 8` rows).
    fn row(&self, r: usize) -> u32;
}

/// Drives the 32-row steps, then eight-row groups, then single rows.
///
/// # Safety
/// AVX-512 F, BW and VPOPCNTDQ must be enabled in the caller.
#[inline(always)]
unsafe fn drive<G: Groups, S: DistanceSink>(src: &G, first_row: usize, sink: &mut S) {
    let rows = src.rows();
    let mut bound = sink.bound();
    // SAFETY (whole body): the features are enabled (contract); groups are asked for
    // below rows / 8 only.
    unsafe {
        let mut bound_v = bound_lanes(bound);
        let steps = rows / STEP_ROWS;
        for s in 0..steps {
            let g = 4 * s;
            let packed = pack4([
                src.group(g),
                src.group(g + 1),
                src.group(g + 2),
                src.group(g + 3),
            ]);
            let below = _mm512_cmplt_epu16_mask(packed, bound_v);
            if below != 0 {
                offer_step(packed, below, first_row + 32 * s, &mut bound, sink);
                bound_v = bound_lanes(bound);
            }
        }
        for g in 4 * steps..rows / 8 {
            let d = src.group(g);
            if _mm512_cmplt_epu64_mask(d, _mm512_set1_epi64(bound as i64)) != 0 {
                offer_group(d, first_row + 8 * g, &mut bound, sink);
            }
        }
    }
    for r in rows / 8 * 8..rows {
        let d = src.row(r);
        if d < bound {
            sink.offer(first_row + r, d);
            bound = sink.bound();
        }
    }
}

/// Scalar distance of row `r` of row-major `codes` (rows of `query.len()` words).
#[inline(always)]
fn row_distance(query: &[u64], codes: &[u64], r: usize) -> u32 {
    let w = query.len();
    codes[r * w..(r + 1) * w]
        .iter()
        .zip(query)
        .map(|(a, b)| (a ^ b).count_ones())
        .sum()
}

/// Scans row-major `codes` against `query`.
///
/// # Safety
/// The CPU must support AVX-512 F, BW and VPOPCNTDQ. `query` is non-empty and
/// `codes.len()` is a multiple of `query.len()` (the dispatcher guarantees both).
#[target_feature(enable = "avx512f,avx512bw,avx512vpopcntdq,popcnt")]
pub(super) unsafe fn scan<S: DistanceSink>(
    query: &[u64],
    codes: &[u64],
    first_row: usize,
    sink: &mut S,
) {
    // SAFETY: the features are enabled here; the shapes are the caller's contract.
    unsafe {
        match query.len() {
            1 => drive(&RowMajor::<1>::new(query, codes), first_row, sink),
            2 => drive(&RowMajor::<2>::new(query, codes), first_row, sink),
            4 => drive(&RowMajor::<4>::new(query, codes), first_row, sink),
            _ => drive(&RowMajorWide::new(query, codes), first_row, sink),
        }
    }
}

/// Row-major rows of `W` = 1, 2 or 4 words, `8 / W` rows to a vector.
struct RowMajor<'a, const W: usize> {
    query: &'a [u64],
    codes: &'a [u64],
    /// The query repeated over the vector (one copy per row it holds).
    q: __m512i,
    idx: (__m512i, __m512i),
}

impl<'a, const W: usize> RowMajor<'a, W> {
    /// # Safety
    /// AVX-512 F must be enabled in the caller; `query.len() == W`, `codes.len()` is a
    /// multiple of `W`.
    #[inline(always)]
    unsafe fn new(query: &'a [u64], codes: &'a [u64]) -> Self {
        debug_assert!(query.len() == W && 8 % W == 0);
        // SAFETY: AVX-512 F is enabled (contract); lanes index the query modulo W.
        unsafe {
            let lane = |i: usize| query[i % W] as i64;
            RowMajor {
                query,
                codes,
                q: _mm512_setr_epi64(
                    lane(0),
                    lane(1),
                    lane(2),
                    lane(3),
                    lane(4),
                    lane(5),
                    lane(6),
                    lane(7),
                ),
                idx: fold_indices(),
            }
        }
    }

    /// Popcounts of vector `i` of group `g` against the query.
    ///
    /// # Safety
    /// As [`Groups::group`], with `i < W`.
    #[inline(always)]
    unsafe fn counts(&self, g: usize, i: usize) -> __m512i {
        // SAFETY: words `8·W·g + 8·i .. + 8` lie inside `codes` for g < rows / 8, i < W.
        // A prefetch is a hint, never a dereference, and wrapping_add forms no
        // out-of-bounds reference.
        unsafe {
            let at = self.codes.as_ptr().add(8 * W * g + 8 * i);
            _mm_prefetch::<_MM_HINT_T0>(at.wrapping_add(PREFETCH_WORDS).cast());
            _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512(at.cast()), self.q))
        }
    }
}

impl<const W: usize> Groups for RowMajor<'_, W> {
    fn rows(&self) -> usize {
        self.codes.len() / W
    }

    #[inline(always)]
    unsafe fn group(&self, g: usize) -> __m512i {
        // SAFETY: the contract of `counts` is this function's.
        unsafe {
            match W {
                1 => self.counts(g, 0),
                2 => fold(self.counts(g, 0), self.counts(g, 1), self.idx),
                _ => fold(
                    fold(self.counts(g, 0), self.counts(g, 1), self.idx),
                    fold(self.counts(g, 2), self.counts(g, 3), self.idx),
                    self.idx,
                ),
            }
        }
    }

    fn row(&self, r: usize) -> u32 {
        row_distance(self.query, self.codes, r)
    }
}

/// Row-major rows of any length: each row's 512-bit chunks (the last 1-7 words by
/// masked load) accumulated into eight lanes, eight rows folded three times.
struct RowMajorWide<'a> {
    query: &'a [u64],
    codes: &'a [u64],
    full: usize,
    rem: usize,
    rem_mask: __mmask8,
    idx: (__m512i, __m512i),
}

impl<'a> RowMajorWide<'a> {
    /// # Safety
    /// AVX-512 F must be enabled in the caller; `query` is non-empty and `codes.len()`
    /// is a multiple of `query.len()`.
    #[inline(always)]
    unsafe fn new(query: &'a [u64], codes: &'a [u64]) -> Self {
        let w = query.len();
        RowMajorWide {
            query,
            codes,
            full: w / 8,
            rem: w % 8,
            rem_mask: ((1u16 << (w % 8)) - 1) as u8,
            // SAFETY: AVX-512 F is enabled (contract).
            idx: unsafe { fold_indices() },
        }
    }

    /// Row `r`'s popcounts in eight lanes.
    ///
    /// # Safety
    /// The features must be enabled in the caller; `r < rows()`.
    #[inline(always)]
    unsafe fn lanes(&self, r: usize) -> __m512i {
        let w = self.query.len();
        // SAFETY: the chunk loads stay inside row r's `w` words and the query's
        // (masked-out lanes are not read).
        unsafe {
            let row = self.codes.as_ptr().add(r * w);
            let qp = self.query.as_ptr();
            let mut acc = _mm512_setzero_si512();
            for c in 0..self.full {
                let x = _mm512_xor_si512(
                    _mm512_loadu_si512(row.add(8 * c).cast()),
                    _mm512_loadu_si512(qp.add(8 * c).cast()),
                );
                acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(x));
            }
            if self.rem != 0 {
                let x = _mm512_xor_si512(
                    _mm512_maskz_loadu_epi64(self.rem_mask, row.add(8 * self.full).cast()),
                    _mm512_maskz_loadu_epi64(self.rem_mask, qp.add(8 * self.full).cast()),
                );
                acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(x));
            }
            acc
        }
    }
}

impl Groups for RowMajorWide<'_> {
    fn rows(&self) -> usize {
        self.codes.len() / self.query.len()
    }

    #[inline(always)]
    unsafe fn group(&self, g: usize) -> __m512i {
        let (r, idx) = (8 * g, self.idx);
        // SAFETY: rows 8g..8g + 8 exist for g < rows / 8 (contract).
        unsafe {
            let a = fold(self.lanes(r), self.lanes(r + 1), idx);
            let b = fold(self.lanes(r + 2), self.lanes(r + 3), idx);
            let c = fold(self.lanes(r + 4), self.lanes(r + 5), idx);
            let d = fold(self.lanes(r + 6), self.lanes(r + 7), idx);
            fold(fold(a, b, idx), fold(c, d, idx), idx)
        }
    }

    fn row(&self, r: usize) -> u32 {
        row_distance(self.query, self.codes, r)
    }
}

/// Scans a word-sliced block (groups of eight rows; per group, word `j` of the eight
/// rows side by side, see [`super::WordSlicedBlock`]) against `query`.
///
/// # Safety
/// The CPU must support AVX-512 F, BW and VPOPCNTDQ; `query` is non-empty and
/// `words.len()` is a multiple of `8 · query.len()`.
#[target_feature(enable = "avx512f,avx512bw,avx512vpopcntdq,popcnt")]
pub(super) unsafe fn scan_word_sliced<S: DistanceSink>(
    query: &[u64],
    words: &[u64],
    first_row: usize,
    sink: &mut S,
) {
    // SAFETY: the features are enabled here; the shapes are the caller's contract.
    unsafe {
        match query.len() {
            2 => drive(&WordSliced::<2>::new(query, words), first_row, sink),
            3 => drive(&WordSliced::<3>::new(query, words), first_row, sink),
            4 => drive(&WordSliced::<4>::new(query, words), first_row, sink),
            8 => drive(&WordSliced::<8>::new(query, words), first_row, sink),
            _ => drive(&WordSlicedAny { query, words }, first_row, sink),
        }
    }
}

/// Word-sliced groups of `W` words a row, the query words broadcast once.
struct WordSliced<'a, const W: usize> {
    q: [__m512i; W],
    words: &'a [u64],
}

impl<'a, const W: usize> WordSliced<'a, W> {
    /// # Safety
    /// AVX-512 F must be enabled in the caller; `query.len() == W` and `words.len()` is
    /// a multiple of `8·W`.
    #[inline(always)]
    unsafe fn new(query: &[u64], words: &'a [u64]) -> Self {
        debug_assert!(query.len() == W);
        WordSliced {
            // SAFETY: AVX-512 F is enabled (contract).
            q: std::array::from_fn(|j| unsafe { _mm512_set1_epi64(query[j] as i64) }),
            words,
        }
    }
}

impl<const W: usize> Groups for WordSliced<'_, W> {
    fn rows(&self) -> usize {
        self.words.len() / W
    }

    #[inline(always)]
    unsafe fn group(&self, g: usize) -> __m512i {
        // SAFETY: group g's words `8·W·g .. 8·W·(g + 1)` lie inside the block for
        // g < rows / 8 (contract of `new` and `group`).
        unsafe {
            let at = self.words.as_ptr().add(8 * W * g);
            let mut acc =
                _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512(at.cast()), self.q[0]));
            for j in 1..W {
                let x = _mm512_xor_si512(_mm512_loadu_si512(at.add(8 * j).cast()), self.q[j]);
                acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(x));
            }
            acc
        }
    }

    fn row(&self, _r: usize) -> u32 {
        // Blocks hold whole groups only.
        0
    }
}

/// Word-sliced groups of any number of words a row.
struct WordSlicedAny<'a> {
    query: &'a [u64],
    words: &'a [u64],
}

impl Groups for WordSlicedAny<'_> {
    fn rows(&self) -> usize {
        self.words.len() / self.query.len()
    }

    #[inline(always)]
    unsafe fn group(&self, g: usize) -> __m512i {
        let w = self.query.len();
        // SAFETY: group g's words `8·w·g .. 8·w·(g + 1)` lie inside `words` for
        // g < rows / 8 (contract).
        unsafe {
            let at = self.words.as_ptr().add(8 * w * g);
            let mut acc = _mm512_setzero_si512();
            for (j, &qj) in self.query.iter().enumerate() {
                let x = _mm512_xor_si512(
                    _mm512_loadu_si512(at.add(8 * j).cast()),
                    _mm512_set1_epi64(qj as i64),
                );
                acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(x));
            }
            acc
        }
    }

    fn row(&self, _r: usize) -> u32 {
        // Blocks hold whole groups only.
        0
    }
}
