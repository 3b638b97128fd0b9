//! `crosscode compact`: merge segments and drop deleted rows.

use std::path::PathBuf;

use clap::Args;

use crosscode::error::Result;
use crosscode::index::Index;

pub(crate) const EXAMPLES: &str = "Examples:
  crosscode compact idx

Writes every live row into one new segment and commits it; readers that opened the
index before keep searching their snapshot. Needs memory for a copy of the live codes.";

/// Arguments of `crosscode compact`.
#[derive(Debug, Args)]
pub struct CompactArgs {
    /// Index directory.
    pub index: PathBuf,
}

impl CompactArgs {
    /// Runs the compaction.
    pub fn run(self) -> Result<()> {
        let mut index = Index::open_writer(&self.index)?;
        let before = index.manifest().segments.len();
        index.compact()?;
        println!(
            "compacted {before} segments into {}; {} live rows",
            index.manifest().segments.len(),
            index.len()
        );
        Ok(())
    }
}
