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
