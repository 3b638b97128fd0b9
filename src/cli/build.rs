//! `crosscode build`: bulk build from code files.

use std::path::PathBuf;

use clap::Args;

use crate::error::{Error, Result};
use crate::index::Index;
use crate::io::{CodeReader, IdReader};
use crate::store::Schema;
use crate::store::manifest::MANIFEST_FILE;

pub(crate) const EXAMPLES: &str = "Examples:
  crosscode build idx --codes codes.npy                  # uint8 (n, bits/8): packed codes, ids 0..n
  crosscode build idx --codes signs.npy --ids ids.npy    # float32/int8 (n, bits): packed by sign
  crosscode build idx --codes codes.bin --bits 64        # raw packed codes, 8 bytes a row
  crosscode build idx --codes more.npy --append          # add to an existing index, ids after the largest

The file is read in chunks of --chunk-rows rows; each chunk becomes one committed
segment, so files larger than memory work and an interrupted build keeps the chunks
committed so far. Run `crosscode compact` afterwards to merge them.";

/// Arguments of `crosscode build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Index directory (created unless --append).
    pub index: PathBuf,
    /// Code file: .npy (uint8 packed, int8 or float32 signs) or raw packed bytes.
    #[arg(long)]
    pub codes: PathBuf,
    /// Ids: a 1-D .npy of uint64 or int64, one per code. Default: consecutive numbers.
    #[arg(long)]
    pub ids: Option<PathBuf>,
    /// First implicit id (default 0, or one past the largest live id with --append).
    #[arg(long)]
    pub first_id: Option<u64>,
    /// Code length in bits (required for raw files, checked for .npy).
    #[arg(long)]
    pub bits: Option<usize>,
    /// Rows per chunk (and per segment).
    #[arg(long, default_value_t = 1 << 20)]
    pub chunk_rows: usize,
    /// Add to an existing index instead of creating one.
    #[arg(long)]
    pub append: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

impl BuildArgs {
    /// Runs the build.
    pub fn run(self) -> Result<()> {
        let mut codes = CodeReader::open(&self.codes, self.bits)?;
        let exists = self.index.join(MANIFEST_FILE).exists();
        let mut index = match (exists, self.append) {
            (true, true) => Index::open_writer(&self.index)?,
            (false, false) => Index::create(&self.index, Schema::binary(codes.bits())?)?,
            (true, false) => {
                return Err(Error::InvalidArgument {
                    name: "index",
                    reason: format!(
                        "{} already holds an index; pass --append to add to it",
                        self.index.display()
                    ),
                });
            }
            (false, true) => {
                return Err(Error::InvalidArgument {
                    name: "append",
                    reason: format!("{} holds no index to append to", self.index.display()),
                });
            }
        };
        let mut ids = match &self.ids {
            Some(p) => IdReader::open_npy(p)?,
            None => {
                let start = self
                    .first_id
                    .unwrap_or_else(|| index.live_ids().last().map_or(0, |&m| m.saturating_add(1)));
                IdReader::implicit(start, codes.rows())
            }
        };
        if ids.remaining() != codes.rows() {
            return Err(Error::LengthMismatch {
                what: "ids (one per code)",
                expected: codes.rows() as usize,
                found: ids.remaining() as usize,
            });
        }
        let bar = if self.quiet {
            indicatif::ProgressBar::hidden()
        } else {
            indicatif::ProgressBar::new(codes.rows())
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} codes ({per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let start = std::time::Instant::now();
        let mut built = 0u64;
        while let Some(chunk) = codes.next_chunk(self.chunk_rows)? {
            let chunk_ids = ids.next_ids(chunk.len())?;
            index.append(&chunk_ids, chunk.view())?;
            built += chunk.len() as u64;
            bar.set_position(built);
        }
        bar.finish_and_clear();
        let secs = start.elapsed().as_secs_f64();
        println!(
            "built {built} codes of {} bits into {} in {secs:.2} s ({:.0} codes/s); {} live rows in {} segments",
            codes.bits(),
            self.index.display(),
            built as f64 / secs.max(1e-9),
            index.len(),
            index.manifest().segments.len()
        );
        Ok(())
    }
}
