//! `crosscode build`: bulk build from code files — binary codes, or PQ codes with
//! their codebooks (`--pq`).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crosscode::code::PqMetric;
use crosscode::error::{Error, Result};
use crosscode::index::Index;
use crosscode::io::{CodeReader, IdReader, PqCodeReader, read_codebooks_npy};
use crosscode::store::Schema;
use crosscode::store::manifest::MANIFEST_FILE;

pub(crate) const EXAMPLES: &str = "Examples:
  crosscode build idx --codes codes.npy                  # uint8 (n, bits/8): packed codes, ids 0..n
  crosscode build idx --codes signs.npy --ids ids.npy    # float32/int8 (n, bits): packed by sign
  crosscode build idx --codes codes.bin --bits 64        # raw packed codes, 8 bytes a row
  crosscode build idx --codes more.npy --append          # add to an existing index, ids after the largest
  crosscode build pqidx --pq books.npy --codes pq.npy    # PQ: float32 (M, K, dsub) codebooks, uint8 (n, M) codes
  crosscode build pqidx --pq books.npy --codes pq4.npy --nbits 4 --metric ip   # 4-bit: uint8 (n, M/2), low nibble first
  crosscode build pqidx --codes more.npy --append        # PQ append: the index's codebooks decode the codes

The file is read in chunks of --chunk-rows rows; each chunk becomes one committed
segment, so files larger than memory work and an interrupted build keeps the chunks
committed so far. Run `crosscode compact` afterwards to merge them. A PQ index keeps its
codebooks (K = 16 codewords for 4-bit codes, 256 for 8-bit) beside its segments; search
it with float32 queries (nq, M·dsub).";

/// Metric of a PQ index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MetricArg {
    /// Inner product: larger is better.
    Ip,
    /// Squared Euclidean distance: smaller is better.
    L2,
}

impl From<MetricArg> for PqMetric {
    fn from(m: MetricArg) -> PqMetric {
        match m {
            MetricArg::Ip => PqMetric::InnerProduct,
            MetricArg::L2 => PqMetric::SquaredL2,
        }
    }
}

/// Arguments of `crosscode build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Index directory (created unless --append).
    pub index: PathBuf,
    /// Code file: .npy (uint8 packed, int8 or float32 signs) or raw packed bytes; with
    /// --pq (or appending to a PQ index), uint8 (n, M) or, for 4-bit codes, (n, M/2).
    #[arg(long)]
    pub codes: PathBuf,
    /// Ids: a 1-D .npy of uint64 or int64, one per code. Default: consecutive numbers.
    #[arg(long)]
    pub ids: Option<PathBuf>,
    /// First implicit id (default 0, or one past the largest live id with --append).
    #[arg(long)]
    pub first_id: Option<u64>,
    /// Code length in bits (required for raw files, checked for .npy). Binary codes only.
    #[arg(long, conflicts_with = "pq")]
    pub bits: Option<usize>,
    /// Build a PQ index with these codebooks: .npy float32 (M, K, dsub), K = 16 or 256.
    #[arg(long, value_name = "CODEBOOKS.npy")]
    pub pq: Option<PathBuf>,
    /// PQ metric (default l2; checked against the index with --append).
    #[arg(long, value_enum)]
    pub metric: Option<MetricArg>,
    /// PQ bits per code, 4 or 8 (checked against the codebooks' K).
    #[arg(long, value_parser = clap::value_parser!(u8).range(4..=8))]
    pub nbits: Option<u8>,
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
        let exists = self.index.join(MANIFEST_FILE).exists();
        match (exists, self.append) {
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
            _ => {}
        }
        let existing = if exists {
            Some(Index::open_writer(&self.index)?)
        } else {
            None
        };
        if self.pq.is_some() || existing.as_ref().is_some_and(Index::is_pq) {
            return self.run_pq(existing);
        }
        if self.metric.is_some() || self.nbits.is_some() {
            return Err(Error::InvalidArgument {
                name: "metric",
                reason: "--metric and --nbits describe PQ codes; give --pq CODEBOOKS.npy"
                    .to_string(),
            });
        }
        let mut codes = CodeReader::open(&self.codes, self.bits)?;
        let mut index = match existing {
            Some(index) => index,
            None => Index::create(&self.index, Schema::binary(codes.bits())?)?,
        };
        let mut ids = self.id_reader(&index, codes.rows())?;
        let bar = self.progress(codes.rows());
        let start = std::time::Instant::now();
        let mut built = 0u64;
        while let Some(chunk) = codes.next_chunk(self.chunk_rows)? {
            let chunk_ids = ids.next_ids(chunk.len())?;
            index.append(&chunk_ids, chunk.view())?;
            built += chunk.len() as u64;
            bar.set_position(built);
        }
        bar.finish_and_clear();
        let what = format!("codes of {} bits", codes.bits());
        self.report(&index, built, &what, start);
        Ok(())
    }

    /// `build --pq`, or an append to a PQ index.
    fn run_pq(&self, existing: Option<Index>) -> Result<()> {
        if let Some(n) = self.nbits.filter(|&n| n != 4 && n != 8) {
            return Err(Error::InvalidPqBits { nbits: n });
        }
        let given = match &self.pq {
            Some(p) => Some(read_codebooks_npy(p, self.nbits)?),
            None => None,
        };
        let metric = self.metric.map(PqMetric::from);
        if let Some(index) = &existing {
            let mismatch = |expected: String, found: String| Error::SchemaMismatch {
                path: self.index.clone(),
                expected,
                found,
            };
            let Some(books) = index.pq_codebooks() else {
                return Err(mismatch(
                    "a single-column PQ index for --pq (several PQ columns are built with \
                     the library: Index::append_pq_columns)"
                        .to_string(),
                    index.schema().describe(),
                ));
            };
            if given.as_ref().is_some_and(|g| g != books) {
                return Err(mismatch(
                    "the index's codebooks (an index keeps the codebooks it was built with)"
                        .to_string(),
                    format!(
                        "other codebooks in {}",
                        self.pq
                            .as_deref()
                            .unwrap_or(std::path::Path::new("?"))
                            .display()
                    ),
                ));
            }
            if let Some(m) = metric.filter(|&m| Some(m) != index.pq_metric()) {
                return Err(mismatch(
                    format!("--metric {}", index.pq_metric().map_or("?", PqMetric::name)),
                    format!("--metric {}", m.name()),
                ));
            }
            if let Some(n) = self.nbits.filter(|&n| n != books.nbits()) {
                return Err(mismatch(
                    format!("--nbits {}", books.nbits()),
                    format!("--nbits {n}"),
                ));
            }
        }
        let (m, nbits) = match (&existing, &given) {
            (Some(index), _) => index
                .pq_codebooks()
                .map(|b| (b.m(), b.nbits()))
                .unwrap_or_default(),
            (None, Some(b)) => (b.m(), b.nbits()),
            (None, None) => {
                return Err(Error::InvalidArgument {
                    name: "pq",
                    reason: "a new PQ index needs --pq CODEBOOKS.npy".to_string(),
                });
            }
        };
        let mut codes = PqCodeReader::open_npy(&self.codes, m, nbits)?;
        let mut index = match (existing, given) {
            (Some(index), _) => index,
            (None, Some(books)) => {
                let metric = metric.unwrap_or(PqMetric::SquaredL2);
                Index::create_pq(&self.index, Schema::pq(m, nbits, metric)?, books)?
            }
            (None, None) => unreachable_pq()?,
        };
        let mut ids = self.id_reader(&index, codes.rows())?;
        let bar = self.progress(codes.rows());
        let start = std::time::Instant::now();
        let mut built = 0u64;
        while let Some(chunk) = codes.next_chunk(self.chunk_rows)? {
            let chunk_ids = ids.next_ids(chunk.len())?;
            index.append_pq(&chunk_ids, chunk.view())?;
            built += chunk.len() as u64;
            bar.set_position(built);
        }
        bar.finish_and_clear();
        let metric = index.pq_metric().map_or("?", PqMetric::name);
        let what = format!("PQ codes (M={m}, {nbits}-bit, {metric})");
        self.report(&index, built, &what, start);
        Ok(())
    }

    fn id_reader(&self, index: &Index, rows: u64) -> Result<IdReader> {
        let ids = match &self.ids {
            Some(p) => IdReader::open_npy(p)?,
            None => {
                let start = self
                    .first_id
                    .unwrap_or_else(|| index.live_ids().last().map_or(0, |&m| m.saturating_add(1)));
                IdReader::implicit(start, rows)
            }
        };
        if ids.remaining() != rows {
            return Err(Error::LengthMismatch {
                what: "ids (one per code)",
                expected: rows as usize,
                found: ids.remaining() as usize,
            });
        }
        Ok(ids)
    }

    fn progress(&self, rows: u64) -> indicatif::ProgressBar {
        let bar = if self.quiet {
            indicatif::ProgressBar::hidden()
        } else {
            indicatif::ProgressBar::new(rows)
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} codes ({per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    }

    fn report(&self, index: &Index, built: u64, what: &str, start: std::time::Instant) {
        let secs = start.elapsed().as_secs_f64();
        println!(
            "built {built} {what} into {} in {secs:.2} s ({:.0} codes/s); {} live rows in {} segments",
            self.index.display(),
            built as f64 / secs.max(1e-9),
            index.len(),
            index.manifest().segments.len()
        );
    }
}

/// The `(no index, no codebooks)` case is refused before the codes are opened.
fn unreachable_pq() -> Result<Index> {
    Err(Error::InvalidArgument {
        name: "pq",
        reason: "a new PQ index needs --pq CODEBOOKS.npy".to_string(),
    })
}
