//! Persistence: immutable segment files, the manifest (the commit point), tombstones,
//! codebook files of PQ columns, and the index directory with its writer lock.

pub mod codebooks;
pub mod directory;
pub mod fsutil;
pub mod manifest;
pub mod schema;
pub mod segment;
pub mod tombstones;

pub use directory::WriterLock;
pub use manifest::Manifest;
pub use schema::{Column, ColumnKind, Schema};
pub use segment::{ColumnData, Segment};
