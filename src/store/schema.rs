//! The index schema: a list of named columns, each with a [`ColumnKind`].
//!
//! The same kind enum describes a column in the manifest (as JSON) and in a segment header
//! (as a numeric tag plus four `u32` parameters), so new kinds — PQ columns — are added by
//! one enum variant and one tag, without changing either file layout.

use serde::{Deserialize, Serialize};

use crate::code::binary::words_for_bits;
use crate::error::{Error, Result};

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
}

/// Segment-header tag of [`ColumnKind::Binary`].
const TAG_BINARY: u32 = 1;

impl ColumnKind {
    /// The numeric tag and parameters written in a segment header.
    pub fn encode(&self) -> (u32, [u32; 4]) {
        match *self {
            ColumnKind::Binary { bits } => (TAG_BINARY, [bits, 0, 0, 0]),
        }
    }

    /// Reads a tag and parameters back; `None` for an unknown tag or invalid parameters.
    pub fn decode(tag: u32, params: [u32; 4]) -> Option<ColumnKind> {
        match (tag, params) {
            (TAG_BINARY, [bits, 0, 0, 0]) => {
                let kind = ColumnKind::Binary { bits };
                kind.validate().ok().map(|()| kind)
            }
            _ => None,
        }
    }

    /// Checks the parameters (code length in range).
    pub fn validate(&self) -> Result<()> {
        match *self {
            ColumnKind::Binary { bits } => words_for_bits(bits as usize).map(|_| ()),
        }
    }

    /// Bytes one row takes in a segment (binary rows are padded to whole `u64` words).
    pub fn row_bytes(&self) -> usize {
        match *self {
            ColumnKind::Binary { bits } => (bits as usize).div_ceil(64) * 8,
        }
    }

    /// Human-readable description, for errors and `info`.
    pub fn describe(&self) -> String {
        match *self {
            ColumnKind::Binary { bits } => format!("binary {bits} bits"),
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
        }
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
