//! `crosscode search`: k nearest or range search for a file of query codes.

use std::path::PathBuf;

use clap::Args;
use roaring::RoaringTreemap;

use crate::error::{Error, Result};
use crate::index::{Hit, Index};
use crate::io::{CodeReader, IdReader, write_results_jsonl, write_results_npy};
use crate::scan::{HammingKernel, SearchOptions};

pub(crate) const EXAMPLES: &str = "Examples:
  crosscode search idx --queries q.npy -k 10                   # JSON lines on stdout
  crosscode search idx --queries q.npy -k 100 --out-npy res    # res.ids.npy, res.distances.npy
  crosscode search idx --queries q.bin --bits 64 --radius 2 --out hits.jsonl
  crosscode search idx --queries q.npy -k 10 --allow-ids subset.npy

Each output line is {\"query\": i, \"ids\": [...], \"distances\": [...]}, nearest first,
ties broken by smaller id. In .npy output, missing results are id 2^64-1, distance 2^32-1.";

/// Arguments of `crosscode search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Index directory.
    pub index: PathBuf,
    /// Query codes, in any format `build` reads.
    #[arg(long)]
    pub queries: PathBuf,
    /// Code length in bits (required for raw query files).
    #[arg(long)]
    pub bits: Option<usize>,
    /// Number of nearest rows per query.
    #[arg(
        short,
        long,
        conflicts_with = "radius",
        required_unless_present = "radius"
    )]
    pub k: Option<usize>,
    /// Return every row within this Hamming distance instead.
    #[arg(long)]
    pub radius: Option<u32>,
    /// Only rows whose id is in this 1-D uint64/int64 .npy are returned.
    #[arg(long)]
    pub allow_ids: Option<PathBuf>,
    /// Write JSON lines to this file instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write PREFIX.ids.npy and PREFIX.distances.npy (k-nearest only).
    #[arg(long, conflicts_with_all = ["out", "radius"])]
    pub out_npy: Option<PathBuf>,
    /// Hamming kernel (scalar, portable, popcnt, avx2, avx512); default: the fastest.
    #[arg(long)]
    pub kernel: Option<String>,
}

impl SearchArgs {
    /// Runs the search.
    pub fn run(self) -> Result<()> {
        let mut index = Index::open(&self.index)?;
        if let Some(name) = &self.kernel {
            index.set_search_options(SearchOptions::with_kernel(HammingKernel::from_name(name)?));
        }
        let mut reader = CodeReader::open(&self.queries, self.bits)?;
        if reader.bits() != index.bits() {
            return Err(Error::SchemaMismatch {
                path: self.queries.clone(),
                expected: format!("{}-bit queries (the index's code length)", index.bits()),
                found: format!("{} bits", reader.bits()),
            });
        }
        let allowed = match &self.allow_ids {
            Some(p) => {
                let mut ids = IdReader::open_npy(p)?;
                let n = ids.remaining() as usize;
                Some(ids.next_ids(n)?.into_iter().collect::<RoaringTreemap>())
            }
            None => None,
        };
        let mut results: Vec<Vec<Hit>> = Vec::new();
        while let Some(queries) = reader.next_chunk(1 << 16)? {
            let found = match (self.k, self.radius) {
                (Some(k), _) => index.search_batch(queries.view(), k, allowed.as_ref())?,
                (None, Some(r)) => index.range_batch(queries.view(), r, allowed.as_ref())?,
                (None, None) => {
                    return Err(Error::InvalidArgument {
                        name: "k",
                        reason: "give -k or --radius".to_string(),
                    });
                }
            };
            results.extend(found);
        }
        if let Some(prefix) = &self.out_npy {
            let k = self.k.unwrap_or(0);
            let with = |suffix: &str| {
                let mut s = prefix.clone().into_os_string();
                s.push(suffix);
                PathBuf::from(s)
            };
            return write_results_npy(&with(".ids.npy"), &with(".distances.npy"), &results, k);
        }
        match &self.out {
            Some(path) => {
                let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
                write_results_jsonl(&mut std::io::BufWriter::new(file), path, &results)
            }
            None => write_results_jsonl(
                &mut std::io::stdout().lock(),
                std::path::Path::new("<stdout>"),
                &results,
            ),
        }
    }
}
