//! Ranking and per-query measures.
//!
//! Conventions (where the literature varies, chosen to match the papers' reference code):
//! * AP@K averages precision at the rank of each relevant item within the top K over the
//!   number of relevant items found in the top K; a query with none scores 0.
//! * Precision within radius r is the relevant fraction of the items at distance ≤ r; a
//!   query that retrieves nothing scores 0.
//! * Recall within radius r is the fraction of all relevant items found at distance ≤ r;
//!   a query with no relevant item in the database scores 0.

use serde::{Deserialize, Serialize};

use crate::code::BinaryView;
use crate::error::{Error, Result};
use crate::scan::{SearchOptions, all_distances};

/// Multi-hot labels, `n × classes`, row-major (non-zero = the item has the class).
#[derive(Clone, Debug, PartialEq)]
pub struct Labels {
    classes: usize,
    data: Vec<u8>,
}

impl Labels {
    /// Wraps a row-major multi-hot matrix.
    pub fn new(classes: usize, data: Vec<u8>) -> Result<Self> {
        if classes == 0 || !data.len().is_multiple_of(classes) {
            return Err(Error::LengthMismatch {
                what: "label matrix (a multiple of the class count)",
                expected: data.len() / classes.max(1) * classes.max(1),
                found: data.len(),
            });
        }
        Ok(Labels { classes, data })
    }

    /// Single-label items given as class indices.
    pub fn from_classes(classes: usize, ids: &[usize]) -> Result<Self> {
        let mut data = vec![0u8; ids.len() * classes];
        for (i, &c) in ids.iter().enumerate() {
            if c >= classes {
                return Err(Error::InvalidArgument {
                    name: "ids",
                    reason: format!("class {c} of item {i} is not below {classes}"),
                });
            }
            data[i * classes + c] = 1;
        }
        Labels::new(classes, data)
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.data.len() / self.classes
    }

    /// True when there are no items.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The rows `idx` in that order; an index past the end is an error.
    pub fn select(&self, idx: &[usize]) -> Result<Labels> {
        let mut data = Vec::with_capacity(idx.len() * self.classes);
        for &i in idx {
            if i >= self.len() {
                return Err(Error::InvalidArgument {
                    name: "index",
                    reason: format!("label row {i} is past the {} rows", self.len()),
                });
            }
            data.extend_from_slice(self.row(i));
        }
        Ok(Labels {
            classes: self.classes,
            data,
        })
    }

    /// Row `i`.
    ///
    /// # Panics
    /// When `i >= len()`; [`Labels::select`] is the checked way in.
    pub fn row(&self, i: usize) -> &[u8] {
        &self.data[i * self.classes..(i + 1) * self.classes]
    }

    /// True when items `i` of `self` and `j` of `other` share at least one label
    /// (both indices must be in range, as for [`Labels::row`]).
    pub fn shares(&self, i: usize, other: &Labels, j: usize) -> bool {
        self.row(i)
            .iter()
            .zip(other.row(j))
            .any(|(a, b)| *a != 0 && *b != 0)
    }
}

/// Database rows sorted by Hamming distance to `query`, ties by row; with the distances.
pub fn hamming_ranking(db: BinaryView<'_>, query: &[u64]) -> Result<(Vec<usize>, Vec<u32>)> {
    let dist = all_distances(db, query, &SearchOptions::default())?;
    let max = db.bits() + 1;
    // Counting sort: stable, so equal distances keep row order.
    let mut counts = vec![0usize; max + 1];
    for &d in &dist {
        counts[d as usize + 1] += 1;
    }
    for i in 1..counts.len() {
        counts[i] += counts[i - 1];
    }
    let mut order = vec![0usize; dist.len()];
    for (row, &d) in dist.iter().enumerate() {
        order[counts[d as usize]] = row;
        counts[d as usize] += 1;
    }
    Ok((order, dist))
}

/// AP over the first `k` ranks (`None` = all) of a relevance list in rank order.
pub fn average_precision(relevant: &[bool], k: Option<usize>) -> f64 {
    let k = k.unwrap_or(relevant.len()).min(relevant.len());
    let mut hits = 0usize;
    let mut sum = 0.0;
    for (i, &r) in relevant[..k].iter().enumerate() {
        if r {
            hits += 1;
            sum += hits as f64 / (i + 1) as f64;
        }
    }
    if hits == 0 { 0.0 } else { sum / hits as f64 }
}

/// Fraction of relevant items among the first `k` ranks (divided by `k`).
pub fn precision_at_k(relevant: &[bool], k: usize) -> f64 {
    if k == 0 {
        return 0.0;
    }
    relevant.iter().take(k).filter(|&&r| r).count() as f64 / k as f64
}

/// Precision and recall of the items within Hamming `radius` (see the module conventions).
pub fn radius_precision_recall(relevant_by_row: &[bool], dist: &[u32], radius: u32) -> (f64, f64) {
    let mut retrieved = 0usize;
    let mut hits = 0usize;
    for (&r, &d) in relevant_by_row.iter().zip(dist) {
        if d <= radius {
            retrieved += 1;
            hits += r as usize;
        }
    }
    let total = relevant_by_row.iter().filter(|&&r| r).count();
    let p = if retrieved == 0 {
        0.0
    } else {
        hits as f64 / retrieved as f64
    };
    let rc = if total == 0 {
        0.0
    } else {
        hits as f64 / total as f64
    };
    (p, rc)
}

/// One point of a precision–recall curve over Hamming radii.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrPoint {
    /// Hamming radius.
    pub radius: u32,
    /// Mean precision over queries.
    pub precision: f64,
    /// Mean recall over queries.
    pub recall: f64,
}

/// 1-based rank of `target` in `order`, if present.
pub fn rank_of(order: &[usize], target: usize) -> Option<usize> {
    order.iter().position(|&r| r == target).map(|p| p + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::BinaryCodes;

    #[test]
    fn average_precision_by_hand() {
        // Relevant at ranks 1, 3, 4 of 5: AP = (1/1 + 2/3 + 3/4) / 3.
        let rel = [true, false, true, true, false];
        let ap = (1.0 + 2.0 / 3.0 + 3.0 / 4.0) / 3.0;
        assert!((average_precision(&rel, None) - ap).abs() < 1e-12);
        // Top 3: relevant at 1 and 3 → (1 + 2/3) / 2.
        assert!((average_precision(&rel, Some(3)) - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        assert_eq!(average_precision(&[false, false], None), 0.0);
        assert_eq!(average_precision(&[false, true], Some(1)), 0.0);
        assert!((precision_at_k(&rel, 4) - 0.75).abs() < 1e-12);
        assert_eq!(precision_at_k(&rel, 0), 0.0);
    }

    #[test]
    fn ranking_breaks_ties_by_index_and_radius_measures() {
        // 8-bit codes with popcounts 3, 1, 1, 0, 3 against a zero query.
        let codes = BinaryCodes::from_packed(8, &[0b111, 0b1, 0b10, 0, 0b1_0101]).unwrap();
        let q = BinaryCodes::from_packed(8, &[0]).unwrap();
        let (order, dist) = hamming_ranking(codes.view(), q.row(0).unwrap()).unwrap();
        assert_eq!(order, [3, 1, 2, 0, 4]);
        assert_eq!(dist, [3, 1, 1, 0, 3]);
        let rel = [true, false, true, false, true];
        // Radius 2 retrieves rows 1, 2, 3 of which row 2 is relevant; 3 relevant in all.
        let (p, r) = radius_precision_recall(&rel, &dist, 2);
        assert!((p - 1.0 / 3.0).abs() < 1e-12 && (r - 1.0 / 3.0).abs() < 1e-12);
        let (p, r) = radius_precision_recall(&[false; 5], &dist, 0);
        assert_eq!((p, r), (0.0, 0.0));
        assert_eq!(rank_of(&order, 2), Some(3));
        let labels = Labels::new(3, vec![1, 0, 1, 0, 1, 0]).unwrap();
        assert!(labels.shares(0, &labels, 0) && !labels.shares(0, &labels, 1));
        assert!(Labels::new(3, vec![1, 0]).is_err());
        assert!(Labels::from_classes(2, &[0, 2]).is_err());
    }
}
