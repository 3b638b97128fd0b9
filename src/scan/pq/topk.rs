//! Top-k selection: over float costs (smaller is better), and the fast scan's shortlist
//! over small integer sums.
//!
//! [`CostTopK`] keeps a buffer of candidates below a bound. Scans compare each cost with
//! the bound (one compare per row) and offer only what passes; when the buffer fills, a
//! selection (`select_nth_unstable`) keeps the k best and lowers the bound to the k-th
//! cost. Rows are offered in increasing order and the test is strict, so among equal
//! costs the smaller row wins.
//!
//! `Shortlist` selects the same rows as [`crate::scan::topk::TopK`] (the k smallest
//! sums, ties to the smaller row) but keeps its bound exact at every offer: a count of
//! the buffered rows per sum value says when `k` rows lie strictly below `bound − 1`,
//! and the bound drops at once, not at the next compaction. Fewer rows pass the scan's
//! bound test, and a compaction is a plain filter.

use crate::scan::hamming::DistanceSink;
use crate::scan::topk::Neighbor;

/// One PQ search result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoredNeighbor {
    /// Row number in the scanned codes.
    pub row: usize,
    /// Squared L2 distance (smaller is better) or inner product (larger is better).
    pub score: f32,
}

/// Bounded selection of the k rows of smallest cost.
#[derive(Debug, Clone)]
pub struct CostTopK {
    k: usize,
    bound: f32,
    capacity: usize,
    buf: Vec<(f32, usize)>,
}

impl CostTopK {
    /// Keeps the `k` rows of smallest cost.
    pub fn new(k: usize) -> Self {
        CostTopK {
            k,
            bound: if k == 0 {
                f32::NEG_INFINITY
            } else {
                f32::INFINITY
            },
            capacity: k + k.max(64),
            buf: Vec::new(),
        }
    }

    /// Rows with cost strictly below this are worth offering.
    #[inline]
    pub fn bound(&self) -> f32 {
        self.bound
    }

    /// Offers `row` at `cost`; ignored unless below the bound.
    #[inline]
    pub fn offer(&mut self, row: usize, cost: f32) {
        if cost < self.bound {
            self.buf.push((cost, row));
            if self.buf.len() >= self.capacity {
                self.compact();
            }
        }
    }

    fn compact(&mut self) {
        if self.buf.len() <= self.k {
            return;
        }
        let k = self.k;
        self.buf
            .select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        self.buf.truncate(k);
        self.bound = self
            .buf
            .iter()
            .map(|c| c.0)
            .fold(f32::NEG_INFINITY, f32::max);
    }

    /// The kept `(cost, row)` pairs, sorted by cost then row.
    pub fn into_sorted(mut self) -> Vec<(f32, usize)> {
        self.compact();
        self.buf
            .sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        self.buf
    }
}

/// The k rows of smallest integer sum, offered in increasing row order, with a bound
/// that is exact after every offer (see the module doc).
#[derive(Debug)]
pub(crate) struct Shortlist {
    k: usize,
    /// Rows at or above this sum are refused.
    bound: u32,
    /// Buffered rows with sum below `bound`.
    live: usize,
    /// `counts[d]`: buffered rows at sum `d`, valid for `d < bound`.
    counts: Vec<u32>,
    /// Offered rows in row order; some may since have fallen to or above the bound.
    buf: Vec<Neighbor>,
    /// The first rows at sum `bound` kept by a compaction that cut ties (they complete
    /// the k best; later rows at that sum lose to them).
    settled: Vec<Neighbor>,
    capacity: usize,
}

impl Shortlist {
    /// Selects the `k` smallest of sums at most `max_distance`.
    pub(crate) fn new(k: usize, max_distance: u32) -> Self {
        Shortlist {
            k,
            bound: if k == 0 { 0 } else { max_distance + 1 },
            live: 0,
            counts: if k == 0 {
                Vec::new()
            } else {
                vec![0; max_distance as usize + 1]
            },
            buf: Vec::new(),
            settled: Vec::new(),
            capacity: k.max(32).saturating_mul(2),
        }
    }

    /// Drops rows at or above the bound; if the live rows alone still fill the buffer
    /// (many ties at `bound − 1`), keeps the first of those ties that complete the k
    /// best, settles them, and lowers the bound past them.
    fn compact(&mut self) {
        let bound = self.bound;
        self.buf.retain(|n| n.distance < bound);
        debug_assert_eq!(self.buf.len(), self.live);
        if self.buf.len() < self.capacity / 2 {
            return;
        }
        // Here `live ≥ capacity / 2 ≥ k` and, as after every offer, fewer than k rows
        // lie below `bound − 1`: the k best end with rows at `bound − 1`.
        let tie = bound - 1;
        let below = self.live - self.counts[tie as usize] as usize;
        let mut wanted = self.k - below;
        self.settled.clear();
        let settled = &mut self.settled;
        self.buf.retain(|n| {
            if n.distance < tie {
                return true;
            }
            if wanted > 0 {
                wanted -= 1;
                settled.push(*n);
            }
            false
        });
        self.bound = tie;
        self.live = below;
    }

    /// The k best offered rows, unordered.
    fn into_best(self) -> Vec<Neighbor> {
        let bound = self.bound;
        let mut all: Vec<Neighbor> = self
            .buf
            .into_iter()
            .filter(|n| n.distance < bound)
            .chain(self.settled)
            .collect();
        if all.len() > self.k && self.k > 0 {
            all.select_nth_unstable_by_key(self.k - 1, |n| (n.distance, n.row));
        }
        all.truncate(self.k);
        all
    }

    /// The k best offered rows, sorted by (sum, row).
    pub(crate) fn into_sorted(self) -> Vec<Neighbor> {
        let mut all = self.into_best();
        all.sort_unstable_by_key(|n| (n.distance, n.row));
        all
    }

    /// The rows of the k best, in increasing row order (what a re-rank wants).
    pub(crate) fn into_rows(self) -> Vec<usize> {
        let mut rows: Vec<usize> = self.into_best().into_iter().map(|n| n.row).collect();
        rows.sort_unstable();
        rows
    }
}

impl DistanceSink for Shortlist {
    #[inline]
    fn bound(&self) -> u32 {
        self.bound
    }

    #[inline]
    fn offer(&mut self, row: usize, distance: u32) {
        if distance >= self.bound {
            return;
        }
        self.buf.push(Neighbor { row, distance });
        self.counts[distance as usize] += 1;
        self.live += 1;
        // `bound ≥ 1` here. While k rows lie strictly below `bound − 1`, no row at
        // `bound − 1` or above can be among the k best.
        while self.live - self.counts[self.bound as usize - 1] as usize >= self.k {
            self.live -= self.counts[self.bound as usize - 1] as usize;
            self.bound -= 1;
            self.settled.clear();
        }
        if self.buf.len() >= self.capacity {
            self.compact();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The k smallest by (sum, row), as [`crate::scan::topk::TopK`] selects them.
    fn brute(dists: &[u32], k: usize) -> Vec<Neighbor> {
        let mut all: Vec<Neighbor> = dists
            .iter()
            .enumerate()
            .map(|(row, &distance)| Neighbor { row, distance })
            .collect();
        all.sort_by_key(|n| (n.distance, n.row));
        all.truncate(k);
        all
    }

    #[test]
    fn shortlist_matches_the_counting_top_k() {
        let mut rng = crate::rng::Rng::new(9);
        for (n, max) in [
            (0usize, 5u32),
            (1, 0),
            (500, 0),
            (500, 3),
            (3000, 40),
            (5000, 4000),
        ] {
            // Random sums, and sums falling with the row (the bound drops often).
            let random: Vec<u32> = (0..n).map(|_| rng.below(max as usize + 1) as u32).collect();
            let falling: Vec<u32> = (0..n)
                .map(|i| max - (i as u32 * max) / n.max(1) as u32)
                .collect();
            for dists in [&random, &falling] {
                for k in [0, 1, 2, 7, 32, 64, 100, 400, 6000] {
                    let mut top = Shortlist::new(k, max);
                    for (row, &d) in dists.iter().enumerate() {
                        if d < top.bound() {
                            top.offer(row, d);
                        }
                        // A stale offer (passed under an older bound) is ignored.
                        if row % 97 == 0 && max >= top.bound() {
                            top.offer(row, max);
                        }
                    }
                    let want = brute(dists, k);
                    let mut rows: Vec<usize> = want.iter().map(|n| n.row).collect();
                    rows.sort_unstable();
                    assert_eq!(top.into_sorted(), want, "n {n} max {max} k {k}");
                    let mut again = Shortlist::new(k, max);
                    for (row, &d) in dists.iter().enumerate() {
                        again.offer(row, d);
                    }
                    assert_eq!(again.into_rows(), rows, "n {n} max {max} k {k}");
                }
            }
        }
    }

    #[test]
    fn keeps_the_k_smallest_with_ties_to_smaller_rows() {
        let costs: Vec<f32> = (0..1000).map(|i| ((i * 37) % 101) as f32 * 0.5).collect();
        for k in [0, 1, 5, 64, 200, 1000, 2000] {
            let mut top = CostTopK::new(k);
            for (row, &c) in costs.iter().enumerate() {
                top.offer(row, c);
            }
            let mut brute: Vec<(f32, usize)> = costs.iter().copied().zip(0..).collect();
            brute.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            brute.truncate(k);
            assert_eq!(top.into_sorted(), brute, "k = {k}");
        }
    }
}
