//! Code representations: what a code is, independent of where it is stored or how it is
//! searched.
//!
//! - [`binary`]: packed binary hash codes, FAISS `IndexBinary`-compatible bit order.
//! - [`pq`]: product-quantization codebooks and codes, encode and decode.

pub(crate) mod assign;
pub mod binary;
pub mod pq;

pub use binary::{BinaryCodes, BinaryView};
pub use pq::{PqCodebooks, PqCodes, PqMetric, PqView};
