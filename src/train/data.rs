//! Paired data sets of two modalities, seeded splits and mini-batches.
//!
//! Each modality carries a global vector per item (`(n, d)` f32), a token sequence per
//! item, or both. A sequence is either dense (`(n, T, d)` f32 with per-item lengths, or a
//! prefix mask turned into lengths) or token ids `(n, T)` into an embedding table
//! `(V+1, d)` whose row 0 is padding — the form `../shared/data/bible` ships, which keeps
//! 31k × 48 × 128 tokens out of memory until a batch needs them. Optional multi-hot labels
//! are used only by evaluation. Everything is validated on construction: row counts must
//! agree, values must be finite, ids and lengths in range; failures are typed errors.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::eval::Labels;
use crate::rng::Rng;
use crate::train::float::Float;
use crate::train::tensor::Tensor;

pub use crate::io::npy::{NpyArray, read_npy};

fn check_finite(path: &Path, what: &'static str, data: &[f32], cols: usize) -> Result<()> {
    match data.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(p) => Err(Error::NonFinite {
            what,
            row: p / cols.max(1),
            col: p % cols.max(1),
            value: data[p],
        })
        .map_err(|e| match e {
            Error::NonFinite { .. } => Error::Format {
                path: path.into(),
                reason: e.to_string(),
            },
            other => other,
        }),
    }
}

fn rank_error(path: &Path, expected: usize, shape: &[usize]) -> Error {
    Error::Format {
        path: path.into(),
        reason: format!("expected a {expected}-d array, found shape {shape:?}"),
    }
}

/// A token or frame sequence per item.
#[derive(Clone, Debug)]
pub enum Sequences {
    /// Dense `(n, T, d)` features and the real length of each item.
    Dense {
        /// `(n, T, d)`.
        data: Tensor<f32>,
        /// Real tokens per item (≤ T).
        lengths: Vec<usize>,
    },
    /// Token ids `(n, T)` into `table` (`(V+1, d)`, row 0 padding).
    Tokens {
        /// Ids, row-major `(n, T)`.
        ids: Vec<u32>,
        /// Padded length T.
        t: usize,
        /// Real tokens per item (≤ T).
        lengths: Vec<usize>,
        /// Embedding table.
        table: Tensor<f32>,
    },
}

impl Sequences {
    /// Dense sequences; lengths must not exceed T and features must be finite.
    pub fn dense(data: Tensor<f32>, lengths: Vec<usize>) -> Result<Self> {
        if data.shape().len() != 3 {
            return Err(Error::DimensionMismatch {
                what: "sequence rank",
                expected: 3,
                found: data.shape().len(),
            });
        }
        let (n, t) = (data.shape()[0], data.shape()[1]);
        check_lengths(n, t, &lengths)?;
        data.check_finite("sequence features")?;
        Ok(Sequences::Dense { data, lengths })
    }

    /// Dense sequences with a prefix mask `(n, T)` (non-zero = real token).
    pub fn dense_with_mask(data: Tensor<f32>, mask: &[u8]) -> Result<Self> {
        let s = data.shape().to_vec();
        if s.len() != 3 || mask.len() != s[0] * s[1] {
            return Err(Error::LengthMismatch {
                what: "sequence mask (n × T)",
                expected: s.first().copied().unwrap_or(0) * s.get(1).copied().unwrap_or(0),
                found: mask.len(),
            });
        }
        let mut lengths = Vec::with_capacity(s[0]);
        for (i, row) in mask.chunks(s[1].max(1)).enumerate() {
            let len = row.iter().take_while(|&&m| m != 0).count();
            if row[len..].iter().any(|&m| m != 0) {
                return Err(Error::InvalidArgument {
                    name: "mask",
                    reason: format!("row {i} is not a prefix mask (real tokens must come first)"),
                });
            }
            lengths.push(len);
        }
        Sequences::dense(data, lengths)
    }

    /// Token-id sequences over an embedding table.
    pub fn tokens(
        ids: Vec<u32>,
        t: usize,
        lengths: Vec<usize>,
        table: Tensor<f32>,
    ) -> Result<Self> {
        if t == 0 || !ids.len().is_multiple_of(t) {
            return Err(Error::LengthMismatch {
                what: "token ids (a multiple of T)",
                expected: ids.len() / t.max(1) * t.max(1),
                found: ids.len(),
            });
        }
        check_lengths(ids.len() / t, t, &lengths)?;
        let v = table.rows();
        if let Some(p) = ids.iter().position(|&i| i as usize >= v) {
            return Err(Error::InvalidArgument {
                name: "token ids",
                reason: format!(
                    "id {} at item {}, position {} is not below the table size {v}",
                    ids[p],
                    p / t,
                    p % t
                ),
            });
        }
        table.check_finite("embedding table")?;
        Ok(Sequences::Tokens {
            ids,
            t,
            lengths,
            table,
        })
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        match self {
            Sequences::Dense { lengths, .. } | Sequences::Tokens { lengths, .. } => lengths.len(),
        }
    }

    /// True when there are no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Feature dimension of a token.
    pub fn dim(&self) -> usize {
        match self {
            Sequences::Dense { data, .. } => data.cols(),
            Sequences::Tokens { table, .. } => table.cols(),
        }
    }

    /// Real tokens of each item.
    pub fn lengths(&self) -> &[usize] {
        match self {
            Sequences::Dense { lengths, .. } | Sequences::Tokens { lengths, .. } => lengths,
        }
    }

    /// The real tokens of items `idx`, packed: `(Σ lengths, d)` and item offsets.
    pub fn packed<F: Float>(&self, idx: &[usize]) -> Result<(Tensor<F>, Vec<usize>)> {
        let d = self.dim();
        let mut offsets = Vec::with_capacity(idx.len() + 1);
        offsets.push(0);
        let mut out = Vec::new();
        for &i in idx {
            if i >= self.len() {
                return Err(Error::InvalidArgument {
                    name: "index",
                    reason: format!("item {i} is past the {} items", self.len()),
                });
            }
            match self {
                Sequences::Dense { data, lengths } => {
                    let t = data.shape()[1];
                    for k in 0..lengths[i] {
                        out.extend(data.row(i * t + k).iter().map(|v| F::from_f32(*v)));
                    }
                }
                Sequences::Tokens {
                    ids,
                    t,
                    lengths,
                    table,
                } => {
                    for &id in &ids[i * t..i * t + lengths[i]] {
                        out.extend(table.row(id as usize).iter().map(|v| F::from_f32(*v)));
                    }
                }
            }
            offsets.push(out.len() / d.max(1));
        }
        let rows = out.len() / d.max(1);
        Ok((Tensor::from_vec(&[rows, d], out)?, offsets))
    }
}

fn check_lengths(n: usize, t: usize, lengths: &[usize]) -> Result<()> {
    if lengths.len() != n {
        return Err(Error::DimensionMismatch {
            what: "sequence lengths",
            expected: n,
            found: lengths.len(),
        });
    }
    if let Some(i) = lengths.iter().position(|&l| l > t) {
        return Err(Error::InvalidArgument {
            name: "lengths",
            reason: format!("item {i} has length {} > padded length {t}", lengths[i]),
        });
    }
    Ok(())
}

/// One modality: a global vector per item, a sequence per item, or both.
#[derive(Clone, Debug)]
pub struct Modality {
    /// A name for reports ("pix", "en").
    pub name: String,
    /// `(n, d)` global vectors.
    pub global: Option<Tensor<f32>>,
    /// Per-item sequences.
    pub sequence: Option<Sequences>,
}

impl Modality {
    /// Builds and validates a modality (at least one of the two inputs, same n).
    pub fn new(
        name: &str,
        global: Option<Tensor<f32>>,
        sequence: Option<Sequences>,
    ) -> Result<Self> {
        if let Some(g) = &global {
            if g.shape().len() != 2 {
                return Err(Error::DimensionMismatch {
                    what: "global vector rank",
                    expected: 2,
                    found: g.shape().len(),
                });
            }
            g.check_finite("global vectors")?;
        }
        match (&global, &sequence) {
            (None, None) => Err(Error::InvalidArgument {
                name: "modality",
                reason: format!("modality `{name}` has neither global vectors nor sequences"),
            }),
            (Some(g), Some(s)) if g.rows() != s.len() => Err(Error::DimensionMismatch {
                what: "items in global vectors and sequences",
                expected: g.rows(),
                found: s.len(),
            }),
            _ => Ok(Modality {
                name: name.to_string(),
                global,
                sequence,
            }),
        }
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        match (&self.global, &self.sequence) {
            (Some(g), _) => g.rows(),
            (None, Some(s)) => s.len(),
            (None, None) => 0,
        }
    }

    /// True when there are no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Global vectors of items `idx` as a `(|idx|, d)` tensor.
    pub fn gather_global<F: Float>(&self, idx: &[usize]) -> Result<Tensor<F>> {
        let g = self.global.as_ref().ok_or_else(|| Error::InvalidArgument {
            name: "modality",
            reason: format!("modality `{}` has no global vectors", self.name),
        })?;
        let d = g.cols();
        let mut out = Vec::with_capacity(idx.len() * d);
        for &i in idx {
            if i >= g.rows() {
                return Err(Error::InvalidArgument {
                    name: "index",
                    reason: format!("item {i} is past the {} items", g.rows()),
                });
            }
            out.extend(g.row(i).iter().map(|v| F::from_f32(*v)));
        }
        Tensor::from_vec(&[idx.len(), d], out)
    }

    /// Loads global vectors from an f32 `(n, d)` `.npy`.
    pub fn load_global(path: &Path) -> Result<Tensor<f32>> {
        let a = read_npy::<f32>(path)?;
        if a.shape.len() != 2 {
            return Err(rank_error(path, 2, &a.shape));
        }
        check_finite(path, "global vectors", &a.data, a.shape[1])?;
        Tensor::from_vec(&a.shape, a.data)
    }

    /// Loads dense sequences `(n, T, d)` with lengths `(n,)` (int32/int64) or all full.
    pub fn load_dense_sequences(path: &Path, lengths: Option<&Path>) -> Result<Sequences> {
        let a = read_npy::<f32>(path)?;
        if a.shape.len() != 3 {
            return Err(rank_error(path, 3, &a.shape));
        }
        check_finite(path, "sequence features", &a.data, a.shape[2])?;
        let lengths = match lengths {
            Some(p) => load_lengths(p)?,
            None => vec![a.shape[1]; a.shape[0]],
        };
        Sequences::dense(Tensor::from_vec(&a.shape, a.data)?, lengths)
    }

    /// Loads token sequences: ids `(n, T)` int32, table `(V+1, d)` f32, lengths `(n,)`.
    pub fn load_token_sequences(ids: &Path, table: &Path, lengths: &Path) -> Result<Sequences> {
        let i = read_npy::<i32>(ids)?;
        if i.shape.len() != 2 {
            return Err(rank_error(ids, 2, &i.shape));
        }
        let t = read_npy::<f32>(table)?;
        if t.shape.len() != 2 {
            return Err(rank_error(table, 2, &t.shape));
        }
        check_finite(table, "embedding table", &t.data, t.shape[1])?;
        if let Some(p) = i.data.iter().position(|&v| v < 0) {
            return Err(Error::Format {
                path: ids.into(),
                reason: format!("negative token id {} at flat index {p}", i.data[p]),
            });
        }
        let ids_u: Vec<u32> = i.data.iter().map(|&v| v as u32).collect();
        Sequences::tokens(
            ids_u,
            i.shape[1],
            load_lengths(lengths)?,
            Tensor::from_vec(&t.shape, t.data)?,
        )
    }
}

fn load_lengths(path: &Path) -> Result<Vec<usize>> {
    let to_usize = |v: i64| -> Result<usize> {
        usize::try_from(v).map_err(|_| Error::Format {
            path: path.into(),
            reason: format!("negative length {v}"),
        })
    };
    match read_npy::<i32>(path) {
        Ok(a) => a.data.iter().map(|&v| to_usize(v as i64)).collect(),
        Err(Error::Format { .. }) => read_npy::<i64>(path)?
            .data
            .into_iter()
            .map(to_usize)
            .collect(),
        Err(e) => Err(e),
    }
}

/// Loads multi-hot labels from a `u8` `(n, classes)` `.npy`.
pub fn load_labels(path: &Path) -> Result<Labels> {
    let a = read_npy::<u8>(path)?;
    if a.shape.len() != 2 {
        return Err(rank_error(path, 2, &a.shape));
    }
    Labels::new(a.shape[1], a.data)
}

/// Two aligned modalities: item `i` of `a` is paired with item `i` of `b`.
#[derive(Clone, Debug)]
pub struct PairedDataset {
    /// First modality (e.g. image, English).
    pub a: Modality,
    /// Second modality (e.g. text, Spanish).
    pub b: Modality,
    /// Optional multi-hot labels, evaluation only.
    pub labels: Option<Labels>,
}

impl PairedDataset {
    /// Checks that both modalities and the labels have the same number of items (> 0).
    pub fn new(a: Modality, b: Modality, labels: Option<Labels>) -> Result<Self> {
        if a.len() != b.len() {
            return Err(Error::DimensionMismatch {
                what: "items in the two modalities",
                expected: a.len(),
                found: b.len(),
            });
        }
        if a.is_empty() {
            return Err(Error::InvalidArgument {
                name: "dataset",
                reason: "a paired data set needs at least one item".into(),
            });
        }
        if let Some(l) = &labels
            && l.len() != a.len()
        {
            return Err(Error::DimensionMismatch {
                what: "label rows",
                expected: a.len(),
                found: l.len(),
            });
        }
        Ok(PairedDataset { a, b, labels })
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.a.len()
    }

    /// Always false for a constructed data set.
    pub fn is_empty(&self) -> bool {
        self.a.is_empty()
    }
}

/// A seeded split of item indices into train, query and database sets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    /// The seed that produced it.
    pub seed: u64,
    /// Items to train on (a subset of the database, or all of it).
    pub train: Vec<usize>,
    /// Held-out queries.
    pub query: Vec<usize>,
    /// Retrieval database (everything that is not a query).
    pub database: Vec<usize>,
}

impl Split {
    /// Shuffles `0..n` with `seed`; the first `queries` are queries, the rest the database;
    /// training uses the first `train` database items (all when `None`).
    pub fn random(n: usize, queries: usize, train: Option<usize>, seed: u64) -> Result<Self> {
        if queries == 0 || queries >= n {
            return Err(Error::InvalidArgument {
                name: "queries",
                reason: format!("need 0 < queries < items, got {queries} of {n}"),
            });
        }
        let mut idx: Vec<usize> = (0..n).collect();
        Rng::new(seed).shuffle(&mut idx);
        let database = idx[queries..].to_vec();
        let t = train.unwrap_or(database.len());
        if t == 0 || t > database.len() {
            return Err(Error::InvalidArgument {
                name: "train",
                reason: format!(
                    "need 0 < train ≤ {} database items, got {t}",
                    database.len()
                ),
            });
        }
        Ok(Split {
            seed,
            train: database[..t].to_vec(),
            query: idx[..queries].to_vec(),
            database,
        })
    }

    /// A split whose queries are also the database (paired held-out retrieval: query `i`
    /// of one modality should find item `i` of the other). `held_out` items are queries,
    /// and `train` (or all the rest) are for training.
    pub fn held_out(n: usize, held_out: usize, train: Option<usize>, seed: u64) -> Result<Self> {
        let mut s = Split::random(n, held_out, train, seed)?;
        s.database = s.query.clone();
        Ok(s)
    }

    /// Saves as JSON.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| Error::Format {
            path: path.into(),
            reason: e.to_string(),
        })?;
        std::fs::write(path, json).map_err(|e| Error::io(path, e))
    }

    /// Loads a split saved by [`Split::save`], checking indices against `n` items.
    pub fn load(path: &Path, n: usize) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let s: Split = serde_json::from_slice(&bytes).map_err(|e| Error::Format {
            path: PathBuf::from(path),
            reason: e.to_string(),
        })?;
        for (what, v) in [
            ("train", &s.train),
            ("query", &s.query),
            ("database", &s.database),
        ] {
            if let Some(&i) = v.iter().find(|&&i| i >= n) {
                return Err(Error::Format {
                    path: path.into(),
                    reason: format!("{what} index {i} is past the {n} items"),
                });
            }
        }
        Ok(s)
    }
}

/// Splits `items` into mini-batches of `batch` after a seeded shuffle; the last short
/// batch is dropped when `drop_last` (contrastive losses want full batches).
pub fn minibatches(
    items: &[usize],
    batch: usize,
    rng: &mut Rng,
    drop_last: bool,
) -> Vec<Vec<usize>> {
    let mut idx = items.to_vec();
    rng.shuffle(&mut idx);
    idx.chunks(batch.max(1))
        .filter(|c| !drop_last || c.len() == batch.max(1))
        .map(|c| c.to_vec())
        .collect()
}

/// `../shared/data` relative to the crate, when present (real-data tests skip otherwise).
pub fn shared_data_dir() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    p.is_dir().then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("crosscode-data-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    use crate::io::npy::write_npy;

    #[test]
    fn npy_round_trip_and_errors() {
        let d = tmp("npy");
        let p = d.join("a.npy");
        write_npy::<f32>(&p, &[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let g = Modality::load_global(&p).unwrap();
        assert_eq!(g.shape(), &[3, 2]);
        assert_eq!(g.row(2), &[5.0, 6.0]);
        // NaN → typed error naming the file.
        write_npy::<f32>(&p, &[2, 2], &[1.0, f32::NAN, 0.0, 0.0]).unwrap();
        let e = Modality::load_global(&p).unwrap_err();
        assert!(
            matches!(e, Error::Format { .. }) && e.to_string().contains("row 0, column 1"),
            "{e}"
        );
        // Wrong rank.
        write_npy::<f32>(&p, &[4], &[1.0; 4]).unwrap();
        assert!(matches!(
            Modality::load_global(&p),
            Err(Error::Format { .. })
        ));
        // Wrong dtype.
        write_npy::<u8>(&p, &[2, 2], &[1, 2, 3, 4]).unwrap();
        assert!(matches!(
            Modality::load_global(&p),
            Err(Error::Format { .. })
        ));
        // Fortran order.
        // The C-order header with its flag flipped in place ("False" -> "True ").
        let mut bytes = crate::io::npy::npy_header::<f32>(&[2, 2]);
        let at = bytes.windows(5).position(|w| w == b"False").unwrap();
        bytes[at..at + 5].copy_from_slice(b"True ");
        bytes.extend_from_slice(&[0u8; 16]);
        std::fs::write(&p, bytes).unwrap();
        let e = Modality::load_global(&p).unwrap_err().to_string();
        assert!(e.contains("Fortran"), "{e}");
        // Not a file at all.
        assert!(matches!(
            Modality::load_global(&d.join("missing.npy")),
            Err(Error::Io { .. })
        ));
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn sequences_pack_real_tokens_and_validate() {
        let table = Tensor::from_vec(&[3, 2], vec![0.0, 0.0, 1.0, 1.0, 2.0, 2.0]).unwrap();
        let s = Sequences::tokens(vec![1, 2, 0, 2, 0, 0], 3, vec![2, 1], table.clone()).unwrap();
        let (p, off) = s.packed::<f64>(&[1, 0]).unwrap();
        assert_eq!(off, [0, 1, 3]);
        assert_eq!(p.data(), &[2.0, 2.0, 1.0, 1.0, 2.0, 2.0]);
        assert!(Sequences::tokens(vec![1, 5, 0], 3, vec![2], table.clone()).is_err());
        assert!(Sequences::tokens(vec![1, 1, 0], 3, vec![4], table.clone()).is_err());
        let dense = Tensor::from_vec(&[2, 2, 1], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        let m = Sequences::dense_with_mask(dense.clone(), &[1, 0, 1, 1]).unwrap();
        assert_eq!(m.lengths(), &[1, 2]);
        assert!(Sequences::dense_with_mask(dense.clone(), &[0, 1, 1, 1]).is_err());
        let g = Tensor::zeros(&[3, 4]);
        assert!(
            Modality::new("x", Some(g), Some(m)).is_err(),
            "3 globals vs 2 sequences"
        );
        assert!(Modality::new("x", None, None).is_err());
    }

    #[test]
    fn dataset_and_split_checks() {
        let a = Modality::new("a", Some(Tensor::zeros(&[10, 3])), None).unwrap();
        let b = Modality::new("b", Some(Tensor::zeros(&[9, 3])), None).unwrap();
        assert!(matches!(
            PairedDataset::new(a.clone(), b, None),
            Err(Error::DimensionMismatch { .. })
        ));
        let mut bad = Tensor::zeros(&[10, 3]);
        bad.data_mut()[7] = f32::INFINITY;
        assert!(matches!(
            Modality::new("b", Some(bad), None),
            Err(Error::NonFinite { row: 2, col: 1, .. })
        ));
        let s = Split::random(10, 3, Some(5), 42).unwrap();
        assert_eq!((s.query.len(), s.database.len(), s.train.len()), (3, 7, 5));
        let mut all: Vec<usize> = s.query.iter().chain(&s.database).copied().collect();
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(s, Split::random(10, 3, Some(5), 42).unwrap());
        assert_ne!(s, Split::random(10, 3, Some(5), 43).unwrap());
        let d = tmp("split");
        let p = d.join("split.json");
        s.save(&p).unwrap();
        assert_eq!(Split::load(&p, 10).unwrap(), s);
        assert!(Split::load(&p, 5).is_err());
        assert!(Split::random(10, 10, None, 1).is_err());
        std::fs::remove_dir_all(d).unwrap();
        let h = Split::held_out(10, 4, Some(3), 7).unwrap();
        assert_eq!(h.query, h.database);
        assert!(h.train.iter().all(|t| !h.query.contains(t)) && h.train.len() == 3);
        let all_batches = minibatches(&(0..10).collect::<Vec<_>>(), 4, &mut Rng::new(1), false);
        assert_eq!(
            all_batches.iter().map(|b| b.len()).collect::<Vec<_>>(),
            [4, 4, 2]
        );
        let batches = minibatches(&(0..10).collect::<Vec<_>>(), 4, &mut Rng::new(1), true);
        assert_eq!(batches.len(), 2);
        assert!(batches.iter().all(|b| b.len() == 4));
    }

    #[test]
    fn real_data_loads() {
        let Some(dir) = shared_data_dir() else {
            eprintln!("skipping: ../shared/data not found");
            return;
        };
        let pix = Modality::load_global(&dir.join("mfeat/pix.npy")).unwrap();
        assert_eq!(pix.shape(), &[2000, 240]);
        let labels = load_labels(&dir.join("mfeat/labels.npy")).unwrap();
        assert_eq!((labels.len(), labels.classes()), (2000, 10));
        let b = dir.join("bible");
        let s = Modality::load_token_sequences(
            &b.join("en_token_ids.npy"),
            &b.join("en_term_vectors.npy"),
            &b.join("en_lengths.npy"),
        )
        .unwrap();
        assert_eq!((s.len(), s.dim()), (31084, 128));
        let (p, off) = s.packed::<f32>(&[0, 1]).unwrap();
        assert_eq!(off[2], s.lengths()[0] + s.lengths()[1]);
        assert_eq!(p.rows(), off[2]);
    }
}
