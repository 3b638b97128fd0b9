//! The manifest: the index's single commit point.
//!
//! `manifest.json` lists the schema, the live segment files with their row counts and
//! tombstone files, and a generation number that grows by one per commit. It is replaced
//! atomically ([`atomic_write`]): a crash leaves the previous or the next manifest, and
//! files it does not name (segments or tombstones written for a commit that never
//! happened) are garbage, removed by the next writer.
//!
//! An index with PQ columns also names one codebook file per PQ column
//! ([`CodebookEntry`]) and is written as format 2, so that a build which knows only
//! binary columns reports an unsupported version instead of misreading it. Binary-only
//! manifests are written exactly as before (format 1, no `codebooks` field).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::codebooks::CodebookEntry;
use crate::store::fsutil::atomic_write;
use crate::store::schema::{ColumnKind, Schema};

/// File name of the manifest inside an index directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The manifest format version of binary-only indexes.
pub const MANIFEST_FORMAT: u32 = 1;
/// The manifest format version of indexes with PQ columns (and their codebook files).
pub const MANIFEST_FORMAT_PQ: u32 = 2;

/// A tombstone file: the deleted rows of one segment, as a portable roaring bitmap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TombstoneEntry {
    /// File name inside the index directory.
    pub file: String,
    /// Number of deleted rows (the bitmap's cardinality).
    pub deleted: u64,
    /// CRC32 of the file's bytes.
    pub crc32: u32,
}

/// One live segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentEntry {
    /// Segment file name inside the index directory.
    pub file: String,
    /// Rows in the segment file (deleted ones included).
    pub rows: u64,
    /// Deleted rows, if any.
    pub tombstones: Option<TombstoneEntry>,
}

/// The committed state of an index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Manifest format version ([`MANIFEST_FORMAT`]).
    pub format: u32,
    /// Commit counter: 0 for a new index, +1 per commit.
    pub generation: u64,
    /// Columns of every record.
    pub schema: Schema,
    /// Number used for the next segment file name (names are never reused).
    pub next_segment: u64,
    /// Live segments, oldest first.
    pub segments: Vec<SegmentEntry>,
    /// Codebook files, one per PQ column (absent for binary-only indexes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codebooks: Vec<CodebookEntry>,
}

/// Whether `name` is a plain file name (no separators, no `.`/`..`, not hidden).
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

impl Manifest {
    /// The manifest of a new, empty index. An index with PQ columns also needs its
    /// codebook files named ([`Manifest::new_with_codebooks`]).
    pub fn new(schema: Schema) -> Result<Manifest> {
        Self::new_with_codebooks(schema, Vec::new())
    }

    /// The manifest of a new, empty index whose PQ columns have codebook files.
    pub fn new_with_codebooks(schema: Schema, codebooks: Vec<CodebookEntry>) -> Result<Manifest> {
        schema.validate()?;
        let m = Manifest {
            format: Self::format_for(&schema),
            generation: 0,
            schema,
            next_segment: 1,
            segments: Vec::new(),
            codebooks,
        };
        m.check_codebooks(Path::new(MANIFEST_FILE))?;
        Ok(m)
    }

    /// The format a manifest of `schema` is written in.
    pub fn format_for(schema: &Schema) -> u32 {
        if schema.has_pq() {
            MANIFEST_FORMAT_PQ
        } else {
            MANIFEST_FORMAT
        }
    }

    /// Every PQ column has exactly one codebook entry, and no other column has one.
    fn check_codebooks(&self, path: &Path) -> Result<()> {
        for c in &self.schema.columns {
            let n = self.codebooks.iter().filter(|e| e.column == c.name).count();
            let want = usize::from(matches!(c.kind, ColumnKind::Pq { .. }));
            if n != want {
                return Err(Error::Corrupt {
                    path: path.to_path_buf(),
                    what: format!("codebook entries of column {:?}", c.name),
                    expected: want.to_string(),
                    found: n.to_string(),
                });
            }
        }
        if let Some(e) = self
            .codebooks
            .iter()
            .find(|e| !self.schema.columns.iter().any(|c| c.name == e.column))
        {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                what: "codebook entry".to_string(),
                expected: "a column of the schema".to_string(),
                found: format!("{:?}", e.column),
            });
        }
        Ok(())
    }

    /// The codebook entry of column `name`, if it has one.
    pub fn codebook_entry(&self, name: &str) -> Option<&CodebookEntry> {
        self.codebooks.iter().find(|e| e.column == name)
    }

    /// Parses and validates manifest bytes; `path` names the file in errors.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Manifest> {
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| Error::Corrupt {
            path: path.to_path_buf(),
            what: "manifest JSON".to_string(),
            expected: "a crosscode manifest".to_string(),
            found: e.to_string(),
        })?;
        if m.format != MANIFEST_FORMAT && m.format != MANIFEST_FORMAT_PQ {
            return Err(Error::UnsupportedVersion {
                path: path.to_path_buf(),
                expected: MANIFEST_FORMAT_PQ,
                found: m.format,
            });
        }
        m.schema.validate()?;
        let format = Self::format_for(&m.schema);
        if m.format != format {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                what: "manifest format".to_string(),
                expected: format!("{format} for schema {}", m.schema.describe()),
                found: m.format.to_string(),
            });
        }
        m.check_codebooks(path)?;
        let bad = |what: &str, expected: &str, found: String| Error::Corrupt {
            path: path.to_path_buf(),
            what: what.to_string(),
            expected: expected.to_string(),
            found,
        };
        let mut names: Vec<&str> = m.codebooks.iter().map(|e| e.file.as_str()).collect();
        for s in &m.segments {
            names.push(&s.file);
            if let Some(t) = &s.tombstones {
                names.push(&t.file);
                if t.deleted > s.rows {
                    return Err(bad(
                        "tombstone count",
                        &format!("at most the segment's {} rows", s.rows),
                        t.deleted.to_string(),
                    ));
                }
            }
            if s.rows > u64::from(u32::MAX) {
                return Err(bad("segment rows", "at most 2^32 - 1", s.rows.to_string()));
            }
        }
        for (i, n) in names.iter().enumerate() {
            if !is_plain_name(n) || *n == MANIFEST_FILE {
                return Err(bad("file name", "a plain file name", format!("{n:?}")));
            }
            if names[..i].contains(n) {
                return Err(bad(
                    "file name",
                    "each file named once",
                    format!("{n:?} twice"),
                ));
            }
        }
        Ok(m)
    }

    /// Reads `dir/manifest.json`.
    pub fn load(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST_FILE);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        Self::parse(&path, &bytes)
    }

    /// Commits this manifest: atomically replaces `dir/manifest.json`.
    pub fn store(&self, dir: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| Error::InvalidArgument {
            name: "manifest",
            reason: e.to_string(),
        })?;
        atomic_write(dir, MANIFEST_FILE, |w| std::io::Write::write_all(w, &json)).map(|_| ())
    }

    /// Every file this manifest refers to.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.codebooks
            .iter()
            .map(|e| e.file.as_str())
            .chain(self.segments.iter().flat_map(|s| {
                std::iter::once(s.file.as_str()).chain(s.tombstones.iter().map(|t| t.file.as_str()))
            }))
    }

    /// Live rows: segment rows minus deleted rows.
    pub fn live_rows(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| s.rows - s.tombstones.as_ref().map_or(0, |t| t.deleted))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_commits_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Manifest::new(Schema::binary(64).unwrap()).unwrap();
        m.store(dir.path()).unwrap();
        m.generation = 1;
        m.segments.push(SegmentEntry {
            file: "seg-000001.ccs".into(),
            rows: 10,
            tombstones: Some(TombstoneEntry {
                file: "tomb-000001-g1.roar".into(),
                deleted: 2,
                crc32: 5,
            }),
        });
        m.store(dir.path()).unwrap();
        assert_eq!(Manifest::load(dir.path()).unwrap(), m);
        assert_eq!(m.live_rows(), 8);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec![MANIFEST_FILE.to_string()]);
    }

    #[test]
    fn binary_manifests_keep_format_1_and_pq_manifests_name_their_codebooks() {
        // A manifest as the first release wrote it still parses, and is written back
        // byte for byte.
        let old = r#"{"format":1,"generation":3,"schema":{"columns":[{"name":"code","kind":{"binary":{"bits":64}}}]},"next_segment":2,"segments":[{"file":"seg-00000001.ccs","rows":5,"tombstones":null}]}"#;
        let m = Manifest::parse(Path::new("m"), old.as_bytes()).unwrap();
        assert_eq!(serde_json::to_string(&m).unwrap(), old);
        let schema = Schema::pq(8, 4, crate::code::PqMetric::InnerProduct).unwrap();
        assert!(
            Manifest::new(schema.clone()).is_err(),
            "PQ column without codebooks"
        );
        let entry = CodebookEntry {
            column: "code".into(),
            file: "pqbooks-0.ccb".into(),
            crc32: 7,
        };
        let pq = Manifest::new_with_codebooks(schema, vec![entry]).unwrap();
        assert_eq!(pq.format, MANIFEST_FORMAT_PQ);
        assert_eq!(pq.files().collect::<Vec<_>>(), ["pqbooks-0.ccb"]);
        let text = serde_json::to_string(&pq).unwrap();
        assert_eq!(
            Manifest::parse(Path::new("m"), text.as_bytes()).unwrap(),
            pq
        );
        for (from, to) in [
            ("\"format\":2", "\"format\":1"),
            ("\"format\":2", "\"format\":3"),
            ("\"column\":\"code\"", "\"column\":\"other\""),
            ("pqbooks-0.ccb", "../pqbooks"),
            ("\"nbits\":4", "\"nbits\":5"),
            ("\"m\":8", "\"m\":7"),
        ] {
            let bad = text.replace(from, to);
            assert_ne!(bad, text, "{from}");
            assert!(
                Manifest::parse(Path::new("m"), bad.as_bytes()).is_err(),
                "{to} accepted"
            );
        }
    }

    #[test]
    fn rejects_bad_names_versions_and_counts() {
        let good = Manifest {
            segments: vec![SegmentEntry {
                file: "seg-1.ccs".into(),
                rows: 3,
                tombstones: None,
            }],
            ..Manifest::new(Schema::binary(32).unwrap()).unwrap()
        };
        let p = Path::new("m.json");
        let text = serde_json::to_string(&good).unwrap();
        assert_eq!(Manifest::parse(p, text.as_bytes()).unwrap(), good);
        for (from, to) in [
            ("seg-1.ccs", "../etc/passwd"),
            ("seg-1.ccs", ".hidden"),
            ("seg-1.ccs", "manifest.json"),
            ("\"format\":1", "\"format\":2"),
            ("\"bits\":32", "\"bits\":33"),
            ("\"rows\":3", "\"rows\":-3"),
            (
                "\"tombstones\":null",
                "\"tombstones\":{\"file\":\"t\",\"deleted\":4,\"crc32\":0}",
            ),
            (
                "\"tombstones\":null",
                "\"tombstones\":{\"file\":\"seg-1.ccs\",\"deleted\":1,\"crc32\":0}",
            ),
            ("\"generation\":0", "\"generation\":0,\"extra\":1"),
        ] {
            let bad = text.replace(from, to);
            assert_ne!(bad, text, "{from}");
            assert!(Manifest::parse(p, bad.as_bytes()).is_err(), "{to} accepted");
        }
    }
}
