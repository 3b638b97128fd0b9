//! Code representations: what a code is, independent of where it is stored or how it is
//! searched.
//!
//! - [`binary`]: packed binary hash codes, FAISS `IndexBinary`-compatible bit order.

pub mod binary;

pub use binary::{BinaryCodes, BinaryView};
