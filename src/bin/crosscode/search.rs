//! `crosscode search`: k nearest or range search for a file of query codes, or (PQ
//! index) k nearest for a file of float queries.

use std::path::PathBuf;

use clap::Args;
use roaring::RoaringTreemap;

use crosscode::error::{Error, Result};
use crosscode::index::{Hit, Index};
use crosscode::io::npy::{NpyDtype, open_npy};
use crosscode::io::{
    CodeReader, IdReader, read_floats_npy, write_pq_results_jsonl, write_pq_results_npy,
    write_results_jsonl, write_results_npy,
};
use crosscode::scan::pq::{PqKernel, PqSearchOptions};
use crosscode::scan::{HammingKernel, SearchOptions};

pub(crate) const EXAMPLES: &str = "Examples:
  crosscode search idx --queries q.npy -k 10                   # JSON lines on stdout
  crosscode search idx --queries q.npy -k 100 --out-npy res    # res.ids.npy, res.distances.npy
  crosscode search idx --queries q.bin --bits 64 --radius 2 --out hits.jsonl
  crosscode search idx --queries q.npy -k 10 --allow-ids subset.npy
  crosscode search pqidx --queries qf.npy -k 10                # PQ index: float32 (nq, M·dsub) queries
  crosscode search pqidx --queries qf.npy -k 100 --out-npy res # res.ids.npy, res.scores.npy (float32)
  crosscode search hcqidx --queries qf.npy -k 10 --weights 1,0.25,0.25  # per-column weights

Each output line is {\"query\": i, \"ids\": [...], \"distances\": [...]}, nearest first,
ties broken by smaller id. In .npy output, missing results are id 2^64-1, distance 2^32-1.
A PQ index writes \"scores\" instead: squared L2 distances (smallest first) or inner
products (largest first), as the index's metric says; missing scores are NaN. 4-bit PQ
indexes use the fast scan and re-rank a shortlist of k × --rerank-factor rows exactly.";

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
    /// Kernel: Hamming (scalar, portable, popcnt, avx2, avx512) or, for a PQ index,
    /// PQ (scalar, portable, avx2, avx512); default: the fastest.
    #[arg(long)]
    pub kernel: Option<String>,
    /// PQ 4-bit fast scan: rows re-ranked exactly per query = k × this.
    #[arg(long, default_value_t = 4)]
    pub rerank_factor: usize,
    /// PQ index: weight of each column's score, comma-separated, one per column (HCQ:
    /// coarse first); default 1 for the first column and 1/L for each of the L others.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub weights: Option<Vec<f32>>,
}

impl SearchArgs {
    /// Runs the search.
    pub fn run(self) -> Result<()> {
        let mut index = Index::open(&self.index)?;
        if index.is_pq() {
            return self.run_pq(index);
        }
        if self.weights.is_some() {
            return Err(Error::SchemaMismatch {
                path: self.index.clone(),
                expected: "a PQ index for --weights (per-column PQ score weights)".to_string(),
                found: index.schema().describe(),
            });
        }
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

    /// Search of a PQ index with float queries.
    fn run_pq(self, mut index: Index) -> Result<()> {
        let dim = index.pq_dim().unwrap_or(0);
        let describe = index.schema().describe();
        let mismatch = |found: String| Error::SchemaMismatch {
            path: self.queries.clone(),
            expected: format!("float32 queries (nq, {dim}) for the PQ index ({describe})"),
            found,
        };
        if self.radius.is_some() {
            return Err(mismatch(
                "--radius (range search is for binary indexes; give -k)".to_string(),
            ));
        }
        if self.bits.is_some() {
            return Err(mismatch("--bits (binary query codes)".to_string()));
        }
        let is_npy = self
            .queries
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
        if !is_npy {
            return Err(mismatch("a file that is not .npy".to_string()));
        }
        let dtype = open_npy(&self.queries)?.dtype;
        if dtype != NpyDtype::F32 {
            return Err(mismatch(format!(
                "{dtype:?} queries (binary codes are for binary indexes)"
            )));
        }
        let mut options = PqSearchOptions {
            rerank_factor: self.rerank_factor.max(1),
            ..PqSearchOptions::default()
        };
        if let Some(name) = &self.kernel {
            options.kernel = Some(PqKernel::from_name(name)?);
        }
        index.set_pq_search_options(options);
        let (_, queries) = read_floats_npy(&self.queries, Some(dim))?;
        let allowed = match &self.allow_ids {
            Some(p) => {
                let mut ids = IdReader::open_npy(p)?;
                let n = ids.remaining() as usize;
                Some(ids.next_ids(n)?.into_iter().collect::<RoaringTreemap>())
            }
            None => None,
        };
        let k = self.k.unwrap_or(0);
        let results = index.search_pq_columns_batch(
            &queries,
            k,
            self.weights.as_deref(),
            allowed.as_ref(),
        )?;
        if let Some(prefix) = &self.out_npy {
            let with = |suffix: &str| {
                let mut s = prefix.clone().into_os_string();
                s.push(suffix);
                PathBuf::from(s)
            };
            return write_pq_results_npy(&with(".ids.npy"), &with(".scores.npy"), &results, k);
        }
        match &self.out {
            Some(path) => {
                let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
                write_pq_results_jsonl(&mut std::io::BufWriter::new(file), path, &results)
            }
            None => write_pq_results_jsonl(
                &mut std::io::stdout().lock(),
                std::path::Path::new("<stdout>"),
                &results,
            ),
        }
    }
}
