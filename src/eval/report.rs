//! Whole-set evaluation: label-based and paired reports, serialisable as JSON.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::metrics::{
    Labels, PrPoint, average_precision, hamming_ranking, precision_at_k, radius_precision_recall,
    rank_of,
};
use crate::code::BinaryView;
use crate::error::{Error, Result};

/// Label-based retrieval quality of one query set against one database.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelReport {
    /// Number of queries.
    pub queries: usize,
    /// Database size.
    pub database: usize,
    /// Code length.
    pub bits: usize,
    /// mAP over the whole ranking.
    pub map_all: f64,
    /// The K of `map_at_k` and `precision_at_k`.
    pub k: usize,
    /// mAP over the top K.
    pub map_at_k: f64,
    /// Mean precision of the top K.
    pub precision_at_k: f64,
    /// Mean precision within Hamming radius 2.
    pub precision_radius2: f64,
    /// Precision and recall at every Hamming radius `0..=bits`.
    pub pr_curve: Vec<PrPoint>,
}

/// Paired retrieval quality: query `i`'s match is database row `truth[i]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairReport {
    /// Number of queries.
    pub queries: usize,
    /// Database size.
    pub database: usize,
    /// Fraction of queries whose match is ranked first.
    pub r_at_1: f64,
    /// … within the top 5.
    pub r_at_5: f64,
    /// … within the top 10.
    pub r_at_10: f64,
    /// Median 1-based rank of the match.
    pub median_rank: f64,
    /// Mean 1-based rank of the match.
    pub mean_rank: f64,
}

/// AP@all, AP@K, P@K, P within radius 2, and (precision, recall) at every radius.
type QueryScores = (f64, f64, f64, f64, Vec<(f64, f64)>);

fn check_bits(q: &BinaryView<'_>, db: &BinaryView<'_>) -> Result<()> {
    if q.bits() != db.bits() {
        return Err(Error::DimensionMismatch {
            what: "query and database code lengths",
            expected: db.bits(),
            found: q.bits(),
        });
    }
    if q.is_empty() || db.is_empty() {
        return Err(Error::InvalidArgument {
            name: "codes",
            reason: "evaluation needs at least one query and one database item".into(),
        });
    }
    Ok(())
}

/// Scores `queries` against `db` with label-sharing relevance.
pub fn evaluate_labels(
    queries: BinaryView<'_>,
    db: BinaryView<'_>,
    query_labels: &Labels,
    db_labels: &Labels,
    k: usize,
) -> Result<LabelReport> {
    check_bits(&queries, &db)?;
    for (what, codes, labels) in [
        ("query labels", queries.len(), query_labels),
        ("database labels", db.len(), db_labels),
    ] {
        if labels.len() != codes {
            return Err(Error::DimensionMismatch {
                what,
                expected: codes,
                found: labels.len(),
            });
        }
    }
    if query_labels.classes() != db_labels.classes() {
        return Err(Error::DimensionMismatch {
            what: "label classes",
            expected: db_labels.classes(),
            found: query_labels.classes(),
        });
    }
    let bits = db.bits();
    let per_query: Vec<Result<QueryScores>> = (0..queries.len())
        .into_par_iter()
        .map(|qi| {
            let q = queries.row(qi).ok_or(Error::InvalidArgument {
                name: "queries",
                reason: format!("row {qi} missing"),
            })?;
            let (order, dist) = hamming_ranking(db, q)?;
            let rel_by_row: Vec<bool> = (0..db.len())
                .map(|j| query_labels.shares(qi, db_labels, j))
                .collect();
            let rel_ranked: Vec<bool> = order.iter().map(|&j| rel_by_row[j]).collect();
            let curve = (0..=bits as u32)
                .map(|r| radius_precision_recall(&rel_by_row, &dist, r))
                .collect();
            Ok((
                average_precision(&rel_ranked, None),
                average_precision(&rel_ranked, Some(k)),
                precision_at_k(&rel_ranked, k),
                radius_precision_recall(&rel_by_row, &dist, 2).0,
                curve,
            ))
        })
        .collect();
    let nq = queries.len() as f64;
    let (mut a, mut b, mut c, mut d) = (0.0, 0.0, 0.0, 0.0);
    let mut curve = vec![(0.0, 0.0); bits + 1];
    for r in per_query {
        let (x, y, z, w, pr) = r?;
        a += x;
        b += y;
        c += z;
        d += w;
        for (acc, (p, rc)) in curve.iter_mut().zip(pr) {
            acc.0 += p;
            acc.1 += rc;
        }
    }
    Ok(LabelReport {
        queries: queries.len(),
        database: db.len(),
        bits,
        map_all: a / nq,
        k,
        map_at_k: b / nq,
        precision_at_k: c / nq,
        precision_radius2: d / nq,
        pr_curve: curve
            .into_iter()
            .enumerate()
            .map(|(r, (p, rc))| PrPoint {
                radius: r as u32,
                precision: p / nq,
                recall: rc / nq,
            })
            .collect(),
    })
}

/// Scores paired retrieval: the match of query `i` is database row `truth[i]`.
pub fn evaluate_pairs(
    queries: BinaryView<'_>,
    db: BinaryView<'_>,
    truth: &[usize],
) -> Result<PairReport> {
    check_bits(&queries, &db)?;
    if truth.len() != queries.len() {
        return Err(Error::DimensionMismatch {
            what: "ground-truth matches",
            expected: queries.len(),
            found: truth.len(),
        });
    }
    if let Some(&t) = truth.iter().find(|&&t| t >= db.len()) {
        return Err(Error::InvalidArgument {
            name: "truth",
            reason: format!("match {t} is past the database size {}", db.len()),
        });
    }
    let ranks: Vec<Result<usize>> = (0..queries.len())
        .into_par_iter()
        .map(|qi| {
            let q = queries.row(qi).ok_or(Error::InvalidArgument {
                name: "queries",
                reason: format!("row {qi} missing"),
            })?;
            let (order, _) = hamming_ranking(db, q)?;
            rank_of(&order, truth[qi]).ok_or(Error::InvalidArgument {
                name: "truth",
                reason: format!("match of query {qi} not ranked"),
            })
        })
        .collect();
    let mut ranks = ranks.into_iter().collect::<Result<Vec<_>>>()?;
    Ok(rank_summary(&mut ranks, db.len()))
}

/// R@1/5/10, median and mean rank from 1-based ranks.
pub fn rank_summary(ranks: &mut [usize], database: usize) -> PairReport {
    let n = ranks.len() as f64;
    let at = |k: usize| ranks.iter().filter(|&&r| r <= k).count() as f64 / n;
    let (r1, r5, r10) = (at(1), at(5), at(10));
    let mean = ranks.iter().sum::<usize>() as f64 / n;
    ranks.sort_unstable();
    let m = ranks.len();
    let median = if m % 2 == 1 {
        ranks[m / 2] as f64
    } else {
        (ranks[m / 2 - 1] + ranks[m / 2]) as f64 / 2.0
    };
    PairReport {
        queries: m,
        database,
        r_at_1: r1,
        r_at_5: r5,
        r_at_10: r10,
        median_rank: median,
        mean_rank: mean,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::BinaryCodes;

    #[test]
    fn label_report_by_hand() {
        // Database popcounts 0, 1, 2, 8; one zero query, so the ranking is 0, 1, 2, 3.
        let db = BinaryCodes::from_packed(8, &[0, 1, 3, 255]).unwrap();
        let q = BinaryCodes::from_packed(8, &[0]).unwrap();
        let dbl = Labels::from_classes(2, &[1, 0, 0, 0]).unwrap();
        let ql = Labels::from_classes(2, &[0]).unwrap();
        let r = evaluate_labels(q.view(), db.view(), &ql, &dbl, 2).unwrap();
        // Relevant at ranks 2, 3, 4: AP = (1/2 + 2/3 + 3/4) / 3.
        assert!((r.map_all - (0.5 + 2.0 / 3.0 + 0.75) / 3.0).abs() < 1e-12);
        assert!((r.map_at_k - 0.5).abs() < 1e-12); // top 2: one hit at rank 2
        assert!((r.precision_at_k - 0.5).abs() < 1e-12);
        // Radius 2 holds rows 0, 1, 2: two relevant.
        assert!((r.precision_radius2 - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(r.pr_curve.len(), 9);
        assert!((r.pr_curve[8].recall - 1.0).abs() < 1e-12);
        assert!((r.pr_curve[0].precision).abs() < 1e-12);
        let bad = Labels::from_classes(2, &[0, 1]).unwrap();
        assert!(evaluate_labels(q.view(), db.view(), &bad, &dbl, 2).is_err());
    }

    #[test]
    fn pair_report_by_hand() {
        let db = BinaryCodes::from_packed(8, &[0, 1, 3, 7]).unwrap();
        let q = BinaryCodes::from_packed(8, &[0, 7, 3]).unwrap();
        // Query 0 (zero) wants row 1 → rank 2; query 1 (7) wants row 3 → rank 1;
        // query 2 (3) wants row 0: distances 2,1,0,1 → order 2,1,3,0 → rank 4.
        let r = evaluate_pairs(q.view(), db.view(), &[1, 3, 0]).unwrap();
        assert!((r.r_at_1 - 1.0 / 3.0).abs() < 1e-12);
        assert!((r.r_at_5 - 1.0).abs() < 1e-12);
        assert_eq!(r.median_rank, 2.0);
        assert!((r.mean_rank - 7.0 / 3.0).abs() < 1e-12);
        assert!(evaluate_pairs(q.view(), db.view(), &[1, 9, 0]).is_err());
        let mut even = [4, 1, 3, 2];
        assert_eq!(rank_summary(&mut even, 4).median_rank, 2.5);
    }
}
