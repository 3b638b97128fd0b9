//! Model files: a JSON header and checksummed little-endian f32 blocks.
//!
//! Layout: the 8-byte magic `CCMODEL1`, the header length (`u64` LE), the header (UTF-8
//! JSON: method name, method configuration, and for each block its name, shape, byte
//! offset past the header and CRC32), the header's CRC32 (`u32` LE), then the blocks
//! back to back. Loading verifies the magic, the header CRC, every block's length and
//! CRC, so a truncated or corrupted file is a typed error, never a wrong model.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"CCMODEL1";

/// One named f32 block.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    /// Shape of the block.
    pub shape: Vec<usize>,
    /// Elements, row-major.
    pub data: Vec<f32>,
}

#[derive(Serialize, Deserialize)]
struct BlockEntry {
    name: String,
    shape: Vec<usize>,
    offset: u64,
    crc32: u32,
}

#[derive(Serialize, Deserialize)]
struct Header {
    method: String,
    config: serde_json::Value,
    blocks: Vec<BlockEntry>,
}

/// A model read from disk: method name, its configuration, and its blocks by name.
#[derive(Clone, Debug)]
pub struct ModelFile {
    /// Method name (`"hugginghash"`, `"cca"`).
    pub method: String,
    /// Method configuration as JSON.
    pub config: serde_json::Value,
    /// The blocks.
    pub blocks: BTreeMap<String, Block>,
}

impl ModelFile {
    /// Removes and returns block `name`, checking its shape.
    pub fn take(&mut self, path: &Path, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let b = self.blocks.get(name).ok_or_else(|| Error::Format {
            path: path.into(),
            reason: format!("missing block `{name}`"),
        })?;
        if b.shape != shape {
            return Err(Error::Format {
                path: path.into(),
                reason: format!("block `{name}` has shape {:?}, expected {shape:?}", b.shape),
            });
        }
        Ok(self.blocks.remove(name).map(|b| b.data).unwrap_or_default())
    }
}

/// Writes a model file (temp file then rename, so a crash leaves the old file or the new).
pub fn save_model(
    path: &Path,
    method: &str,
    config: serde_json::Value,
    blocks: &[(String, Block)],
) -> Result<()> {
    let mut body = Vec::new();
    let mut entries = Vec::with_capacity(blocks.len());
    for (name, b) in blocks {
        let start = body.len();
        for v in &b.data {
            body.extend_from_slice(&v.to_le_bytes());
        }
        entries.push(BlockEntry {
            name: name.clone(),
            shape: b.shape.clone(),
            offset: start as u64,
            crc32: crc32fast::hash(&body[start..]),
        });
    }
    let header = serde_json::to_vec(&Header {
        method: method.to_string(),
        config,
        blocks: entries,
    })
    .map_err(|e| Error::Format {
        path: path.into(),
        reason: e.to_string(),
    })?;
    let mut out = Vec::with_capacity(24 + header.len() + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&crc32fast::hash(&header).to_le_bytes());
    out.extend_from_slice(&body);
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &out).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Reads and verifies a model file.
pub fn load_model(path: &Path) -> Result<ModelFile> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bad = |reason: String| Error::Format {
        path: path.into(),
        reason,
    };
    if bytes.len() < 20 || &bytes[..8] != MAGIC {
        return Err(bad("not a crosscode model file (bad magic)".into()));
    }
    let hlen = u64::from_le_bytes(bytes[8..16].try_into().unwrap_or([0; 8])) as usize;
    let hend = 16usize
        .checked_add(hlen)
        .filter(|&e| e + 4 <= bytes.len())
        .ok_or_else(|| bad(format!("header length {hlen} runs past the file end")))?;
    let header_bytes = &bytes[16..hend];
    let stored = u32::from_le_bytes(bytes[hend..hend + 4].try_into().unwrap_or([0; 4]));
    let found = crc32fast::hash(header_bytes);
    if stored != found {
        return Err(Error::ChecksumMismatch {
            path: path.into(),
            block: "header".into(),
            expected: stored,
            found,
        });
    }
    let header: Header = serde_json::from_slice(header_bytes).map_err(|e| bad(e.to_string()))?;
    let body = &bytes[hend + 4..];
    let mut blocks = BTreeMap::new();
    for e in header.blocks {
        let len = e
            .shape
            .iter()
            .try_fold(4usize, |a, &s| a.checked_mul(s))
            .ok_or_else(|| bad(format!("block `{}` shape overflows", e.name)))?;
        let start = e.offset as usize;
        let raw = start
            .checked_add(len)
            .and_then(|end| body.get(start..end))
            .ok_or_else(|| bad(format!("block `{}` is truncated", e.name)))?;
        let crc = crc32fast::hash(raw);
        if crc != e.crc32 {
            return Err(Error::ChecksumMismatch {
                path: path.into(),
                block: format!("block `{}`", e.name),
                expected: e.crc32,
                found: crc,
            });
        }
        let data = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        blocks.insert(
            e.name,
            Block {
                shape: e.shape,
                data,
            },
        );
    }
    Ok(ModelFile {
        method: header.method,
        config: header.config,
        blocks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption_is_detected() {
        let dir = std::env::temp_dir().join(format!("crosscode-model-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("m.bin");
        let blocks = vec![
            (
                "w".to_string(),
                Block {
                    shape: vec![2, 3],
                    data: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                },
            ),
            (
                "b".to_string(),
                Block {
                    shape: vec![1],
                    data: vec![-0.5],
                },
            ),
        ];
        save_model(&p, "toy", serde_json::json!({"bits": 16}), &blocks).unwrap();
        let mut m = load_model(&p).unwrap();
        assert_eq!(m.method, "toy");
        assert_eq!(m.config["bits"], 16);
        assert!(m.take(&p, "w", &[3, 2]).is_err());
        assert_eq!(m.take(&p, "w", &[2, 3]).unwrap(), blocks[0].1.data);
        assert!(m.take(&p, "w", &[2, 3]).is_err(), "taken once");
        // Flip one byte of the last block: checksum error naming the block.
        let mut bytes = std::fs::read(&p).unwrap();
        let n = bytes.len();
        bytes[n - 1] ^= 1;
        std::fs::write(&p, &bytes).unwrap();
        let e = load_model(&p).unwrap_err();
        assert!(
            matches!(&e, Error::ChecksumMismatch { block, .. } if block == "block `b`"),
            "{e}"
        );
        // Truncation and garbage.
        std::fs::write(&p, &bytes[..n - 2]).unwrap();
        assert!(matches!(load_model(&p), Err(Error::Format { .. })));
        std::fs::write(&p, b"hello").unwrap();
        assert!(matches!(load_model(&p), Err(Error::Format { .. })));
        bytes[20] ^= 0xff; // inside the header
        std::fs::write(&p, &bytes).unwrap();
        assert!(matches!(
            load_model(&p),
            Err(Error::ChecksumMismatch { .. })
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
