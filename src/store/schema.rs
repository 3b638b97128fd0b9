//! The index schema: a list of named columns, each with a [`ColumnKind`].
//!
//! The same kind enum describes a column in the manifest (as JSON) and in a segment header
//! (as a numeric tag plus four `u32` parameters), so new kinds — PQ columns — are added by
//! one enum variant and one tag, without changing either file layout.
//!
//! A PQ column ([`ColumnKind::Pq`]) stores `M` codes a row (`M` bytes at 8 bits, `M/2`
//! at 4 bits, low nibble first); its codebooks live beside the segments in one file per
//! column ([`crate::store::codebooks`]) that the manifest names, since every segment's
//! codes are scored against the same tables.

use serde::{Deserialize, Serialize};

use crate::code::binary::words_for_bits;
use crate::code::pq::{PqMetric, code_row_bytes};
use crate::error::{Error, Result};

/// Most sub-quantizers a PQ column may have.
pub const MAX_PQ_M: u32 = 4096;

/// What one column stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ColumnKind {
    /// Packed binary codes of `bits` bits, each row padded to whole `u64` words.
    Binary {
        /// Code length in bits (a multiple of 8 in 8..=4096).
        bits: u32,
    },
    /// Product-quantization codes: `m` sub-quantizers of `nbits` bits (4 or 8), scored
    /// with `metric` against the column's codebooks.
    Pq {
        /// Sub-quantizers `M` (1..=4096; even for 4-bit codes, which pack two a byte).
        m: u32,
        /// Bits per code: 4 or 8.
        nbits: u32,
        /// How queries are scored.
        metric: PqMetric,
    },
}

/// Segment-header tag of [`ColumnKind::Binary`].
const TAG_BINARY: u32 = 1;
/// Segment-header tag of [`ColumnKind::Pq`].
const TAG_PQ: u32 = 2;

fn metric_code(metric: PqMetric) -> u32 {
    match metric {
        PqMetric::InnerProduct => 0,
        PqMetric::SquaredL2 => 1,
    }
}

impl ColumnKind {
    /// The numeric tag and parameters written in a segment header.
    pub fn encode(&self) -> (u32, [u32; 4]) {
        match *self {
            ColumnKind::Binary { bits } => (TAG_BINARY, [bits, 0, 0, 0]),
            ColumnKind::Pq { m, nbits, metric } => (TAG_PQ, [m, nbits, metric_code(metric), 0]),
        }
    }

    /// Reads a tag and parameters back; `None` for an unknown tag or invalid parameters.
    pub fn decode(tag: u32, params: [u32; 4]) -> Option<ColumnKind> {
        match (tag, params) {
            (TAG_BINARY, [bits, 0, 0, 0]) => {
                let kind = ColumnKind::Binary { bits };
                kind.validate().ok().map(|()| kind)
            }
            (TAG_PQ, [m, nbits, metric, 0]) => {
                let metric = match metric {
                    0 => PqMetric::InnerProduct,
                    1 => PqMetric::SquaredL2,
                    _ => return None,
                };
                let kind = ColumnKind::Pq { m, nbits, metric };
                kind.validate().ok().map(|()| kind)
            }
            _ => None,
        }
    }

    /// Checks the parameters (code length in range; PQ: `nbits` 4 or 8, `M` in
    /// 1..=4096 and even for 4-bit codes).
    pub fn validate(&self) -> Result<()> {
        match *self {
            ColumnKind::Binary { bits } => words_for_bits(bits as usize).map(|_| ()),
            ColumnKind::Pq { m, nbits, .. } => {
                if nbits != 4 && nbits != 8 {
                    return Err(Error::InvalidPqBits {
                        nbits: u8::try_from(nbits).unwrap_or(u8::MAX),
                    });
                }
                if m == 0 || m > MAX_PQ_M || (nbits == 4 && m % 2 == 1) {
                    return Err(Error::InvalidArgument {
                        name: "m",
                        reason: format!(
                            "a PQ column has 1..={MAX_PQ_M} sub-quantizers, an even number \
                             for 4-bit codes (two a byte); got {m} at {nbits} bits"
                        ),
                    });
                }
                Ok(())
            }
        }
    }

    /// Bytes one row takes in a segment (binary rows are padded to whole `u64` words; PQ
    /// rows are `M` or `M/2` bytes, unpadded).
    pub fn row_bytes(&self) -> usize {
        match *self {
            ColumnKind::Binary { bits } => (bits as usize).div_ceil(64) * 8,
            ColumnKind::Pq { m, nbits, .. } => code_row_bytes(m as usize, nbits as u8),
        }
    }

    /// Whether the column's block is read as `u64` words (and so must be 8-byte sized).
    pub fn is_word_block(&self) -> bool {
        matches!(self, ColumnKind::Binary { .. })
    }

    /// Human-readable description, for errors and `info`.
    pub fn describe(&self) -> String {
        match *self {
            ColumnKind::Binary { bits } => format!("binary {bits} bits"),
            ColumnKind::Pq { m, nbits, metric } => {
                format!("pq M={m} nbits={nbits} metric={}", metric.name())
            }
        }
    }
}

/// One named column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Column name (unique within the schema).
    pub name: String,
    /// What it stores.
    pub kind: ColumnKind,
}

/// The columns every record of an index has.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    /// Columns in storage order.
    pub columns: Vec<Column>,
}

impl Schema {
    /// A single binary column named `code` — the common case.
    pub fn binary(bits: usize) -> Result<Schema> {
        words_for_bits(bits)?;
        Ok(Schema {
            columns: vec![Column {
                name: "code".to_string(),
                kind: ColumnKind::Binary { bits: bits as u32 },
            }],
        })
    }

    /// A single PQ column named `code`.
    pub fn pq(m: usize, nbits: u8, metric: PqMetric) -> Result<Schema> {
        let kind = ColumnKind::Pq {
            m: u32::try_from(m).unwrap_or(u32::MAX),
            nbits: u32::from(nbits),
            metric,
        };
        kind.validate()?;
        Ok(Schema {
            columns: vec![Column {
                name: "code".to_string(),
                kind,
            }],
        })
    }

    /// PQ columns `(name, M, nbits)` in this order (the first is HCQ's coarse level),
    /// all scored with `metric`.
    ///
    /// Errors: no column, a repeated or empty name, `nbits` not 4 or 8, `M` out of
    /// range (or odd at 4 bits).
    pub fn pq_columns(columns: &[(&str, usize, u8)], metric: PqMetric) -> Result<Schema> {
        let schema = Schema {
            columns: columns
                .iter()
                .map(|&(name, m, nbits)| Column {
                    name: name.to_string(),
                    kind: ColumnKind::Pq {
                        m: u32::try_from(m).unwrap_or(u32::MAX),
                        nbits: u32::from(nbits),
                        metric,
                    },
                })
                .collect(),
        };
        schema.validate()?;
        Ok(schema)
    }

    /// Checks every column and that names are unique and non-empty.
    pub fn validate(&self) -> Result<()> {
        if self.columns.is_empty() {
            return Err(Error::InvalidArgument {
                name: "schema",
                reason: "a schema needs at least one column".to_string(),
            });
        }
        for (i, c) in self.columns.iter().enumerate() {
            c.kind.validate()?;
            if c.name.is_empty() || self.columns[..i].iter().any(|o| o.name == c.name) {
                return Err(Error::InvalidArgument {
                    name: "schema",
                    reason: format!("column name {:?} is empty or repeated", c.name),
                });
            }
        }
        Ok(())
    }

    /// The code length of the first column when it is binary.
    pub fn binary_bits(&self) -> Option<usize> {
        match self.columns.first()?.kind {
            ColumnKind::Binary { bits } => Some(bits as usize),
            ColumnKind::Pq { .. } => None,
        }
    }

    /// Whether any column holds PQ codes.
    pub fn has_pq(&self) -> bool {
        self.columns
            .iter()
            .any(|c| matches!(c.kind, ColumnKind::Pq { .. }))
    }

    /// Human-readable description, for errors and `info`.
    pub fn describe(&self) -> String {
        self.columns
            .iter()
            .map(|c| format!("{}: {}", c.name, c.kind.describe()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
