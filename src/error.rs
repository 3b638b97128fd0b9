//! The crate's one error type.
//!
//! Every fallible public function returns [`Result<T>`]. Each variant is a failure a
//! user can act on, and its message names what was expected and what was found.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in crosscode.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A binary code length that is not a multiple of 8 in `8..=4096`.
    #[error(
        "invalid code length: {bits} bits (binary codes need a multiple of 8 between 8 and 4096)"
    )]
    InvalidBits {
        /// The rejected number of bits.
        bits: usize,
    },

    /// A buffer or matrix whose length does not match the shape it was declared with.
    #[error("{what}: expected {expected} elements, found {found}")]
    LengthMismatch {
        /// What was being read or built.
        what: &'static str,
        /// The length the declared shape needs.
        expected: usize,
        /// The length actually given.
        found: usize,
    },

    /// Two inputs that must agree in a dimension do not.
    #[error("{what}: dimension mismatch, expected {expected}, found {found}")]
    DimensionMismatch {
        /// Which dimension disagreed.
        what: &'static str,
        /// The expected size.
        expected: usize,
        /// The size found.
        found: usize,
    },

    /// A NaN or infinite value where a finite number is required.
    #[error("{what}: non-finite value {value} at row {row}, column {col}")]
    NonFinite {
        /// What was being read.
        what: &'static str,
        /// Row of the offending value.
        row: usize,
        /// Column of the offending value.
        col: usize,
        /// The value itself (NaN or ±inf).
        value: f32,
    },

    /// An argument outside its documented domain.
    #[error("invalid argument `{name}`: {reason}")]
    InvalidArgument {
        /// The argument's name.
        name: &'static str,
        /// Why it was rejected.
        reason: String,
    },

    /// A PQ code width other than 4 or 8 bits.
    #[error("invalid PQ bits per code: {nbits} (expected 4 or 8)")]
    InvalidPqBits {
        /// The rejected number of bits.
        nbits: u8,
    },

    /// A linear-algebra routine (SVD) failed to converge.
    #[error("{what}: linear algebra failed to converge")]
    NoConvergence {
        /// Which computation failed.
        what: &'static str,
    },

    /// A SIMD kernel was requested that this CPU cannot run.
    #[error("kernel `{kernel}` is not available on this CPU (available: {available})")]
    KernelUnavailable {
        /// The requested kernel.
        kernel: &'static str,
        /// The kernels this CPU can run.
        available: String,
    },

    /// An unknown kernel name (for example in `CROSSCODE_HAMMING_KERNEL`).
    #[error("unknown kernel name `{name}` (expected one of: {expected})")]
    UnknownKernel {
        /// The name given.
        name: String,
        /// The accepted names.
        expected: &'static str,
    },

    /// An unknown training method name (for example in `bench-quality --methods`).
    #[error("unknown method `{name}` (known methods: {known})")]
    UnknownMethod {
        /// The name given.
        name: String,
        /// The accepted names, comma separated.
        known: String,
    },

    /// A file that is not what it claims to be: bad magic, a field out of range, a block
    /// past the end of the file, a misaligned block.
    #[error("corrupt {path}: {what}: expected {expected}, found {found}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Which field or block is wrong.
        what: String,
        /// What a valid file holds there.
        expected: String,
        /// What this file holds.
        found: String,
    },

    /// A block whose CRC32 does not match its bytes.
    #[error(
        "checksum mismatch in {path}, {block}: expected crc32 {expected:#010x}, found {found:#010x}"
    )]
    ChecksumMismatch {
        /// The file.
        path: PathBuf,
        /// Which block (header, ids, column name).
        block: String,
        /// The CRC recorded in the file.
        expected: u32,
        /// The CRC of the bytes present.
        found: u32,
    },

    /// A file written by a format version this build does not read.
    #[error("unsupported format version in {path}: expected {expected}, found {found}")]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version this build reads.
        expected: u32,
        /// The version in the file.
        found: u32,
    },

    /// Another process holds the index's writer lock.
    #[error(
        "index {path} is locked by another writer (lock file {path}/LOCK); only one writer at a time"
    )]
    Locked {
        /// The index directory.
        path: PathBuf,
    },

    /// A mutation was attempted on an index opened read-only.
    #[error("index {path} was opened read-only; open it with Index::open_writer to {operation}")]
    ReadOnly {
        /// The index directory.
        path: PathBuf,
        /// What was attempted.
        operation: &'static str,
    },

    /// An id that must be new is already live in the index (or repeated in one append).
    #[error("duplicate id {id}: {context}")]
    DuplicateId {
        /// The offending id.
        id: u64,
        /// Where it was already found.
        context: String,
    },

    /// An id that must be live is not in the index.
    #[error("unknown id {id}: not a live row of index {path}")]
    UnknownId {
        /// The missing id.
        id: u64,
        /// The index directory.
        path: PathBuf,
    },

    /// Codes whose shape or kind does not match the index schema.
    #[error("schema mismatch for {path}: expected {expected}, found {found}")]
    SchemaMismatch {
        /// The index directory or input file.
        path: PathBuf,
        /// The schema's column description.
        expected: String,
        /// What was given.
        found: String,
    },

    /// A column of a multi-column PQ index that disagrees with the schema or with the
    /// other columns: codebooks of another shape, another query dimension or metric than
    /// the first column, codes of another shape or row count.
    #[error("column {column:?} of {path}: {what}: expected {expected}, found {found}")]
    ColumnMismatch {
        /// The index directory.
        path: PathBuf,
        /// The column's name in the schema.
        column: String,
        /// What disagreed.
        what: &'static str,
        /// What the schema or the first column requires.
        expected: String,
        /// What was given.
        found: String,
    },

    /// An input file in a format or dtype that crosscode does not read.
    #[error("unsupported input {path}: expected {expected}, found {found}")]
    UnsupportedInput {
        /// The file.
        path: PathBuf,
        /// What is accepted.
        expected: String,
        /// What the file holds.
        found: String,
    },

    /// A file whose contents are not what its format requires (wrong dtype, rank or
    /// order in a `.npy`, a malformed model header, bad JSON).
    #[error("malformed file {path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// An operating-system I/O failure on a named file.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
