//! Top-k selection over small integer distances.
//!
//! [`TopK`] is a [`DistanceSink`]: it keeps a buffer of candidates in row order and a
//! bound (the k-th best distance so far). Kernels reject rows at or above the bound with
//! one compare, so few rows ever reach the buffer. When the buffer fills, a counting pass
//! over the distances below the bound finds the k-th distance `t`, keeps every row below
//! `t` and the first rows at `t`, and lowers the bound to `t`: later rows at distance `t`
//! have larger row numbers and lose the tie. No comparison heap is touched per row.

use crate::scan::hamming::DistanceSink;

/// One search result: a row and its distance (or score) to the query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Neighbor {
    /// Row number in the scanned codes (or external id, at the index level).
    pub row: usize,
    /// Hamming distance to the query.
    pub distance: u32,
}

/// Bounded selection of the k nearest rows, offered in increasing row order.
#[derive(Debug)]
pub struct TopK {
    k: usize,
    bound: u32,
    capacity: usize,
    buf: Vec<Neighbor>,
    counts: Vec<u32>,
}

impl TopK {
    /// Selects the `k` nearest of rows whose distances are at most `max_distance`.
    pub fn new(k: usize, max_distance: u32) -> Self {
        TopK {
            k,
            bound: if k == 0 { 0 } else { max_distance + 1 },
            capacity: k + k.max(64),
            buf: Vec::new(),
            counts: Vec::new(),
        }
    }

    /// Keeps the k best of the buffer and lowers the bound to the k-th distance.
    fn compact(&mut self) {
        let k = self.k;
        if self.buf.len() <= k {
            return;
        }
        // Offered rows are below the bound; rows kept by the last compaction may sit at it.
        self.counts.clear();
        self.counts.resize(self.bound as usize + 1, 0);
        for n in &self.buf {
            self.counts[n.distance as usize] += 1;
        }
        let (mut below, mut t) = (0usize, 0usize);
        while below + (self.counts[t] as usize) < k {
            below += self.counts[t] as usize;
            t += 1;
        }
        let t = t as u32;
        let mut ties_kept = k - below;
        self.buf.retain(|n| {
            n.distance < t
                || (n.distance == t && ties_kept > 0 && {
                    ties_kept -= 1;
                    true
                })
        });
        self.bound = t;
    }

    /// The k nearest offered rows, sorted by (distance, row).
    pub fn into_sorted(mut self) -> Vec<Neighbor> {
        self.compact();
        // Stable sort by distance keeps the row order among equal distances.
        self.buf.sort_by_key(|n| n.distance);
        self.buf
    }
}

impl DistanceSink for TopK {
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
        if self.buf.len() >= self.capacity {
            self.compact();
        }
    }
}

/// Collects every row below a fixed bound (range search).
#[derive(Debug)]
pub struct WithinRadius {
    bound: u32,
    /// Rows found so far, in the order offered.
    pub found: Vec<Neighbor>,
}

impl WithinRadius {
    /// Collects rows at distance `radius` or less.
    pub fn new(radius: u32) -> Self {
        WithinRadius {
            bound: radius.saturating_add(1),
            found: Vec::new(),
        }
    }
}

impl DistanceSink for WithinRadius {
    #[inline]
    fn bound(&self) -> u32 {
        self.bound
    }

    #[inline]
    fn offer(&mut self, row: usize, distance: u32) {
        if distance < self.bound {
            self.found.push(Neighbor { row, distance });
        }
    }
}

/// Merges sorted partial results (from row chunks) into the overall k best.
pub fn merge_sorted(parts: Vec<Vec<Neighbor>>, k: usize) -> Vec<Neighbor> {
    let mut all: Vec<Neighbor> = parts.into_iter().flatten().collect();
    all.sort_unstable_by_key(|n| (n.distance, n.row));
    all.truncate(k);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn ties_go_to_the_smaller_row_across_compactions() {
        // 500 rows, distances cycling 0..8: many ties, many compactions at k = 3.
        let dists: Vec<u32> = (0..500).map(|i| (i * 7 % 9) as u32).collect();
        for k in [0, 1, 3, 64, 65, 200, 500, 600] {
            let mut top = TopK::new(k, 8);
            for (row, &d) in dists.iter().enumerate() {
                if d < top.bound() {
                    top.offer(row, d);
                }
            }
            assert_eq!(top.into_sorted(), brute(&dists, k), "k = {k}");
        }
    }

    #[test]
    fn stale_offers_are_ignored() {
        let mut top = TopK::new(1, 10);
        top.offer(0, 2);
        for row in 1..200 {
            top.offer(row, 5);
        }
        assert_eq!(top.bound(), 2);
        top.offer(500, 7);
        assert_eq!(
            top.into_sorted(),
            vec![Neighbor {
                row: 0,
                distance: 2
            }]
        );
    }

    #[test]
    fn merge_keeps_global_order() {
        let a = vec![
            Neighbor {
                row: 5,
                distance: 1,
            },
            Neighbor {
                row: 6,
                distance: 3,
            },
        ];
        let b = vec![
            Neighbor {
                row: 1,
                distance: 1,
            },
            Neighbor {
                row: 2,
                distance: 2,
            },
        ];
        let m = merge_sorted(vec![a, b], 3);
        assert_eq!(m.iter().map(|n| n.row).collect::<Vec<_>>(), vec![1, 5, 2]);
    }
}
