//! Reading and writing user files: code matrices and ids from `.npy` and raw packed
//! `.bin` files, PQ codebooks, codes and float queries from `.npy` ([`pq`]), read in chunks so inputs larger than memory stream through; search
//! results written as `.npy` or JSON lines; vector files (fvecs/bvecs/ivecs).

pub mod codes;
pub mod npy;
pub mod pq;
pub mod results;
pub mod vecs;

pub use codes::{CodeFormat, CodeReader, IdReader};
pub use pq::{PqCodeReader, read_codebooks_npy, read_floats_npy};
pub use results::{
    write_pq_results_jsonl, write_pq_results_npy, write_results_jsonl, write_results_npy,
};
