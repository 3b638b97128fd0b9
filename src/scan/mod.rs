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
pub use search::{
    Chain, RowFilter, SearchOptions, all_distances, knn, knn_batch, knn_batch_chain, knn_chain,
    range, range_batch, range_batch_chain, range_chain,
};
pub use topk::Neighbor;
