//! crosscode: learned compact codes for cross-modal retrieval.
//!
//! The crate trains hashing and quantization models on paired features of two modalities,
//! keeps the codes they produce in memory-mapped segment files, and searches them:
//! binary codes by Hamming distance, PQ codes by lookup tables.
//!
//! Data flows one way: `io` → [`code`] → `store` → `index` → [`scan`].
//! [`train`] fits the models that produce codes (tensors, layers with explicit backward
//! passes, losses, optimisers, data sets, methods); [`eval`] scores search results.
//!
//! ```
//! use crosscode::{BinaryCodes, SearchOptions, knn};
//!
//! // Three 16-bit codes, given as ±1 signs (x > 0 is a one bit).
//! let mut signs = vec![-1.0f32; 48];
//! signs[16..20].fill(1.0); // row 1: four bits set
//! signs[32] = 1.0; // row 2: one bit set
//! let db = BinaryCodes::from_signs(16, &signs)?;
//! let query = BinaryCodes::from_signs(16, &[-1.0; 16])?;
//! let hits = knn(db.view(), query.row(0).unwrap(), 2, &SearchOptions::default())?;
//! assert_eq!(hits.iter().map(|n| (n.row, n.distance)).collect::<Vec<_>>(), [(0, 0), (2, 1)]);
//! # Ok::<(), crosscode::Error>(())
//! ```

pub mod code;
pub mod error;
pub mod eval;
pub mod index;
pub mod io;
pub mod rng;
pub mod scan;
pub mod store;
pub mod train;

pub use code::{BinaryCodes, BinaryView, PqCodebooks, PqCodes, PqMetric, PqView};
pub use error::{Error, Result};
pub use index::{Hit, Index, PqHit};
pub use scan::pq::{
    FastScanCodes, PqColumn, PqKernel, PqSearchOptions, ScoredNeighbor, fast_scan_knn,
    fast_scan_knn_batch, multi_column_knn, pq_knn, pq_knn_batch,
};
pub use scan::{HammingKernel, Neighbor, SearchOptions, knn, knn_batch, range, range_batch};
pub use store::{Schema, Segment};

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
