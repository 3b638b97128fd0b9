//! `crosscode verify`: full checksum pass.

use std::path::PathBuf;

use clap::Args;

use crosscode::error::Result;
use crosscode::index::Index;

pub(crate) const EXAMPLES: &str = "Examples:
  crosscode verify idx && echo intact

Checks the header and block CRC32s and the padding of every segment, every tombstone
file's CRC, and that no id is live twice. Exits with status 1 and names the file and
block on the first problem.";

/// Arguments of `crosscode verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Index directory.
    pub index: PathBuf,
}

impl VerifyArgs {
    /// Runs the check.
    pub fn run(self) -> Result<()> {
        let index = Index::open(&self.index)?;
        index.verify()?;
        println!(
            "ok: {} segments, {} live rows, generation {}",
            index.manifest().segments.len(),
            index.len(),
            index.generation()
        );
        Ok(())
    }
}
