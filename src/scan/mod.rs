//! CPU hot paths: Hamming kernels, PQ lookup-table scans, top-k selection, and
//! exhaustive search over codes in memory. Nothing here knows about files.

pub mod argmin;
pub mod dispatch;
pub mod hamming;
pub mod pq;
pub mod search;
pub mod topk;

pub use hamming::{DistanceSink, HammingKernel};
pub use pq::{PqKernel, PqSearchOptions, ScoredNeighbor};
pub use search::{SearchOptions, all_distances, knn, knn_batch, range, range_batch};
pub use topk::Neighbor;
