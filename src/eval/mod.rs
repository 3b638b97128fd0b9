//! Retrieval evaluation of binary codes.
//!
//! Queries are ranked against the database by Hamming distance, ties broken by database
//! index, and scored with the measures of the cross-modal hashing literature:
//! mAP@all and mAP@K with label-sharing relevance, precision@K, precision within Hamming
//! radius 2, precision–recall over Hamming radii ([`metrics`]); and for paired data
//! without labels, R@1/5/10 with median and mean rank. [`report`] gathers them into a
//! serialisable report and [`plot`] draws PR curves as SVG.

pub mod metrics;
pub mod plot;
pub mod report;

pub use metrics::{Labels, PrPoint, average_precision, hamming_ranking};
pub use plot::pr_curve_svg;
pub use report::{LabelReport, PairReport, evaluate_labels, evaluate_pairs};
