//! `crosscode info`: what an index holds.

use std::path::PathBuf;

use clap::Args;

use crate::error::Result;
use crate::index::Index;

pub(crate) const EXAMPLES: &str = "Examples:
  crosscode info idx
  crosscode info idx --json     # the committed manifest as JSON";

/// Arguments of `crosscode info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Index directory.
    pub index: PathBuf,
    /// Print the manifest as JSON.
    #[arg(long)]
    pub json: bool,
}

impl InfoArgs {
    /// Prints the report.
    pub fn run(self) -> Result<()> {
        let index = Index::open(&self.index)?;
        let m = index.manifest();
        if self.json {
            println!("{}", serde_json::to_string_pretty(m).unwrap_or_default());
            return Ok(());
        }
        println!("index:      {}", self.index.display());
        println!("generation: {}", m.generation);
        println!("schema:     {}", m.schema.describe());
        if let (Some(b), Some(entry)) = (index.pq_codebooks(), m.codebooks.first()) {
            println!(
                "codebooks:  {}  M {}  K {}  dsub {}  dim {}",
                entry.file,
                b.m(),
                b.k(),
                b.dsub(),
                b.dim()
            );
        }
        println!("live rows:  {}", index.len());
        println!("segments:   {}", m.segments.len());
        for s in &m.segments {
            let deleted = s.tombstones.as_ref().map_or(0, |t| t.deleted);
            println!("  {}  rows {}  deleted {}", s.file, s.rows, deleted);
        }
        Ok(())
    }
}
