//! Training: models that produce codes.
//!
//! - [`kmeans`]: k-means and spherical k-means (k-means++ seeding, empty-cluster repair).
//! - [`pq`]: PQ codebook training and OPQ (PQ with a learned orthogonal rotation).

pub mod kmeans;
pub mod pq;

pub use kmeans::{KMeans, KMeansConfig, kmeans};
pub use pq::{OpqModel, PqTrainConfig, train_opq, train_pq};
