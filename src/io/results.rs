//! Writing search results: `.npy` matrices of ids and distances (or PQ scores), and
//! JSON lines.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};
use crate::index::{Hit, PqHit};
use crate::io::npy::write_npy;

/// Id written where a query has fewer than `k` results.
pub const MISSING_ID: u64 = u64::MAX;
/// Distance written where a query has fewer than `k` results.
pub const MISSING_DISTANCE: u32 = u32::MAX;

/// Writes `(queries, k)` matrices: `uint64` ids to `ids_path`, `uint32` distances to
/// `distances_path`; rows with fewer than `k` hits are padded with [`MISSING_ID`] and
/// [`MISSING_DISTANCE`].
pub fn write_results_npy(
    ids_path: &Path,
    distances_path: &Path,
    results: &[Vec<Hit>],
    k: usize,
) -> Result<()> {
    let mut ids = vec![MISSING_ID; results.len() * k];
    let mut dists = vec![MISSING_DISTANCE; results.len() * k];
    for (q, hits) in results.iter().enumerate() {
        for (j, h) in hits.iter().take(k).enumerate() {
            ids[q * k + j] = h.id;
            dists[q * k + j] = h.distance;
        }
    }
    write_npy(ids_path, &[results.len(), k], &ids)?;
    write_npy(distances_path, &[results.len(), k], &dists)
}

/// Writes one JSON object per query: `{"query":0,"ids":[..],"distances":[..]}`.
pub fn write_results_jsonl(out: &mut impl Write, path: &Path, results: &[Vec<Hit>]) -> Result<()> {
    for (q, hits) in results.iter().enumerate() {
        let ids: Vec<u64> = hits.iter().map(|h| h.id).collect();
        let distances: Vec<u32> = hits.iter().map(|h| h.distance).collect();
        let line = serde_json::json!({"query": q, "ids": ids, "distances": distances});
        writeln!(out, "{line}").map_err(|e| Error::io(path, e))?;
    }
    out.flush().map_err(|e| Error::io(path, e))
}

/// Score written where a PQ query has fewer than `k` results.
pub const MISSING_SCORE: f32 = f32::NAN;

/// Writes `(queries, k)` matrices of PQ results: `uint64` ids to `ids_path`, `float32`
/// scores to `scores_path`; rows with fewer than `k` hits are padded with
/// [`MISSING_ID`] and [`MISSING_SCORE`] (NaN).
pub fn write_pq_results_npy(
    ids_path: &Path,
    scores_path: &Path,
    results: &[Vec<PqHit>],
    k: usize,
) -> Result<()> {
    let mut ids = vec![MISSING_ID; results.len() * k];
    let mut scores = vec![MISSING_SCORE; results.len() * k];
    for (q, hits) in results.iter().enumerate() {
        for (j, h) in hits.iter().take(k).enumerate() {
            ids[q * k + j] = h.id;
            scores[q * k + j] = h.score;
        }
    }
    write_npy(ids_path, &[results.len(), k], &ids)?;
    write_npy(scores_path, &[results.len(), k], &scores)
}

/// Writes one JSON object per PQ query: `{"query":0,"ids":[..],"scores":[..]}`.
pub fn write_pq_results_jsonl(
    out: &mut impl Write,
    path: &Path,
    results: &[Vec<PqHit>],
) -> Result<()> {
    for (q, hits) in results.iter().enumerate() {
        let ids: Vec<u64> = hits.iter().map(|h| h.id).collect();
        let scores: Vec<f32> = hits.iter().map(|h| h.score).collect();
        let line = serde_json::json!({"query": q, "ids": ids, "scores": scores});
        writeln!(out, "{line}").map_err(|e| Error::io(path, e))?;
    }
    out.flush().map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_and_npy_layout() {
        let results = vec![
            vec![Hit { id: 4, distance: 1 }, Hit { id: 2, distance: 3 }],
            vec![Hit { id: 9, distance: 0 }],
        ];
        let mut out = Vec::new();
        write_results_jsonl(&mut out, Path::new("-"), &results).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"distances\":[1,3],\"ids\":[4,2],\"query\":0}\n{\"distances\":[0],\"ids\":[9],\"query\":1}\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("i.npy"), dir.path().join("d.npy"));
        write_results_npy(&a, &b, &results, 2).unwrap();
        let bytes = std::fs::read(&a).unwrap();
        assert_eq!(bytes.len(), 128 + 4 * 8);
        let header = String::from_utf8_lossy(&bytes[10..128]);
        assert!(
            header.contains("'descr': '<u8'") && header.contains("'shape': (2, 2)"),
            "{header}"
        );
        let tail: Vec<u64> = bytes[128..]
            .chunks(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(tail, vec![4, 2, 9, MISSING_ID]);
        // The ids file parses back through npyz (an independent reader).
        let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
        assert_eq!(npy.shape(), &[2, 2]);
        assert_eq!(npy.into_vec::<u64>().unwrap(), vec![4, 2, 9, MISSING_ID]);
    }
}
