//! Reading and writing user files: vector files (fvecs/bvecs/ivecs).

pub mod vecs;
