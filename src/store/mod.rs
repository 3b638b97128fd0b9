//! Persistence: immutable segment files, the manifest (the commit point), tombstones,
//! and the index directory with its writer lock.

pub mod fsutil;
pub mod schema;
pub mod segment;

pub use schema::{Column, ColumnKind, Schema};
pub use segment::{ColumnData, Segment};
