//! Reading and writing user files: code matrices and ids from `.npy` and raw packed
//! `.bin` files, read in chunks so inputs larger than memory stream through; search
//! results written as `.npy` or JSON lines; vector files (fvecs/bvecs/ivecs).

pub mod codes;
pub mod npy;
pub mod results;
pub mod vecs;

pub use codes::{CodeFormat, CodeReader, IdReader};
pub use results::{write_results_jsonl, write_results_npy};
