//! `crosscode delete`: delete rows by id.

use std::path::PathBuf;

use clap::Args;

use crosscode::error::{Error, Result};
use crosscode::index::Index;
use crosscode::io::IdReader;

pub(crate) const EXAMPLES: &str = "Examples:
  crosscode delete idx --id 17 --id 42
  crosscode delete idx --ids-file gone.npy     # 1-D uint64/int64

Every id must be live, or nothing is deleted. Deleted rows stop matching at once; their
space is reclaimed by `crosscode compact`.";

/// Arguments of `crosscode delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Index directory.
    pub index: PathBuf,
    /// An id to delete (repeatable).
    #[arg(long = "id")]
    pub id: Vec<u64>,
    /// A 1-D .npy of ids to delete.
    #[arg(long)]
    pub ids_file: Option<PathBuf>,
}

impl DeleteArgs {
    /// Runs the deletion.
    pub fn run(self) -> Result<()> {
        let mut ids = self.id.clone();
        if let Some(p) = &self.ids_file {
            let mut r = IdReader::open_npy(p)?;
            let n = r.remaining() as usize;
            ids.extend(r.next_ids(n)?);
        }
        if ids.is_empty() {
            return Err(Error::InvalidArgument {
                name: "id",
                reason: "give --id or --ids-file".to_string(),
            });
        }
        let mut index = Index::open_writer(&self.index)?;
        let n = index.delete(&ids)?;
        println!("deleted {n} rows; {} live rows remain", index.len());
        Ok(())
    }
}
