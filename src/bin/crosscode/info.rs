//! `crosscode info`: what an index holds.

use std::path::PathBuf;

use clap::Args;

use crosscode::error::Result;
use crosscode::index::Index;

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
        // One line per PQ column, in schema order (the manifest names each file).
        let books = index.pq_column_codebooks();
        for (c, b) in m.schema.columns.iter().zip(&books) {
            let file = m.codebook_entry(&c.name).map_or("?", |e| e.file.as_str());
            let column = if books.len() > 1 {
                format!("  column {}", c.name)
            } else {
                String::new()
            };
            println!(
                "codebooks:  {file}{column}  M {}  K {}  dsub {}  dim {}",
                b.m(),
                b.k(),
                b.dsub(),
                b.dim()
            );
        }
        if books.len() > 1 {
            let weights: Vec<String> = (index.pq_default_weights().iter())
                .map(|w| format!("{w}"))
                .collect();
            println!("weights:    {} (default)", weights.join(" "));
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
