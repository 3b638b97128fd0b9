//! Top-k selection over float costs (smaller is better).
//!
//! [`CostTopK`] keeps a buffer of candidates below a bound. Scans compare each cost with
//! the bound (one compare per row) and offer only what passes; when the buffer fills, a
//! selection (`select_nth_unstable`) keeps the k best and lowers the bound to the k-th
//! cost. Rows are offered in increasing order and the test is strict, so among equal
//! costs the smaller row wins.

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

#[cfg(test)]
mod tests {
    use super::*;

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
