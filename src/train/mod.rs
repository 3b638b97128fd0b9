//! Training: tensors, the backend seam, layers with explicit backward passes, losses,
//! optimisers, paired data sets and the methods built from them; k-means and PQ/OPQ
//! codebook training ([`mod@kmeans`], [`mod@pq`]).
//!
//! Layers are generic over [`Float`] so that the same code trains in `f32` and is checked
//! against finite differences in `f64`.

pub mod backend;
pub mod data;
pub mod float;
pub mod kmeans;
pub mod layers;
pub mod loss;
pub mod methods;
pub mod model_file;
pub mod optim;
pub mod pq;
pub mod tensor;

#[cfg(test)]
mod gradcheck;

pub use backend::{Activation, Backend, CpuBackend};
pub use float::Float;
pub use kmeans::{KMeans, KMeansConfig, kmeans};
pub use pq::{OpqModel, PqTrainConfig, train_opq, train_pq};
pub use tensor::{Module, Param, Tensor};
