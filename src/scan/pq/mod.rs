//! PQ lookup-table scans: exact asymmetric distance (ADC) and the 4-bit fast scan.
//!
//! Per query, [`AdcTable`] holds the `M × K` f32 costs of every codeword (squared L2
//! distance, or the negated inner product, so that smaller is always better inside the
//! scans). A code's cost is the sum of its `M` table entries.
//!
//! - [`adc`]: exact ADC over rows of codes (8-bit: several rows a step, table rows read
//!   straight by code byte, no gathers; 4-bit: nibble access), with a scalar reference.
//! - [`group`]: exact 8-bit ADC for eight queries at once over query-interleaved
//!   tables (one vector load and add per code byte), used by batched searches.
//! - [`fastscan`]: 4-bit codes re-laid in blocks of 32 rows so one in-register shuffle
//!   (`vpshufb`) looks up 32 codes in a u8-quantised table; the shortlist it keeps is
//!   re-ranked with exact ADC costs.
//! - [`search`]: k-nearest searches, batched queries, and multi-column (HCQ coarse +
//!   fine) weighted scoring.
//!
//! Kernels are chosen like the Hamming ones: [`PqKernel::process_default`] is detected
//! once per process (`CROSSCODE_PQ_KERNEL` = `scalar`, `portable`, `avx2` or `avx512`
//! overrides it) and every search takes an explicit kernel too. The AVX-512 kernel
//! (F + BW + VL) is the 4-bit fast scan with 512-bit shuffles; its 8-bit ADC is the
//! AVX2 one.

pub mod adc;
pub mod fastscan;
pub mod group;
pub mod search;
pub mod table;
pub mod topk;
#[cfg(target_arch = "x86_64")]
mod x86_avx2;
#[cfg(target_arch = "x86_64")]
mod x86_avx512;

use std::sync::OnceLock;

use crate::error::Result;
use crate::scan::dispatch::{self, KernelFamily};

pub use fastscan::FastScanCodes;
pub use search::{
    PqColumn, PqSearchOptions, fast_scan_knn, fast_scan_knn_batch, fast_scan_knn_where,
    multi_column_knn, multi_column_knn_where, pq_knn, pq_knn_batch, pq_knn_where,
};
pub use table::{AdcTable, QuantizedTable};
pub use topk::ScoredNeighbor;

/// One implementation of the PQ scans.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PqKernel {
    /// One row and one table entry at a time: the reference.
    Scalar,
    /// Several rows a step, unrolled, no target features (any CPU).
    Portable,
    /// AVX2: `vpshufb` fast scan; the 8-bit scan is the portable loop compiled for AVX2.
    Avx2,
    /// AVX-512 F + BW + VL (and BMI2): 512-bit `vpshufb` fast scan, two pairs of
    /// sub-quantizers per lookup; the 8-bit scans are the AVX2 ones.
    Avx512,
}

impl PqKernel {
    /// All kernels, slowest first.
    pub const ALL: [PqKernel; 4] = [
        PqKernel::Scalar,
        PqKernel::Portable,
        PqKernel::Avx2,
        PqKernel::Avx512,
    ];

    /// The kernel's lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            PqKernel::Scalar => "scalar",
            PqKernel::Portable => "portable",
            PqKernel::Avx2 => "avx2",
            PqKernel::Avx512 => "avx512",
        }
    }

    /// Parses a name as [`PqKernel::name`] writes it.
    pub fn from_name(name: &str) -> Result<Self> {
        dispatch::from_name(name)
    }

    /// Whether this CPU can run the kernel.
    pub fn is_available(self) -> bool {
        match self {
            PqKernel::Scalar | PqKernel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            PqKernel::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            PqKernel::Avx512 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("bmi2")
            }
            #[cfg(not(target_arch = "x86_64"))]
            PqKernel::Avx2 | PqKernel::Avx512 => false,
        }
    }

    /// The kernels this CPU can run, slowest first.
    pub fn available() -> Vec<PqKernel> {
        dispatch::available()
    }

    /// The fastest kernel this CPU can run.
    pub fn detect() -> PqKernel {
        dispatch::detect()
    }

    /// Returns `self` if this CPU can run it, else [`Error::KernelUnavailable`](crate::Error::KernelUnavailable).
    pub fn check(self) -> Result<Self> {
        dispatch::check(self)
    }

    /// `CROSSCODE_PQ_KERNEL` if set, else the detected best; worked out once per process.
    pub fn process_default() -> Result<PqKernel> {
        static CHOSEN: OnceLock<std::result::Result<PqKernel, String>> = OnceLock::new();
        dispatch::process_default(&CHOSEN)
    }
}

impl KernelFamily for PqKernel {
    const ALL: &'static [Self] = &PqKernel::ALL;
    const NAMES: &'static str = "scalar, portable, avx2, avx512";
    const ENV_VAR: &'static str = "CROSSCODE_PQ_KERNEL";
    fn name(self) -> &'static str {
        PqKernel::name(self)
    }
    fn is_available(self) -> bool {
        PqKernel::is_available(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in PqKernel::ALL {
            assert_eq!(PqKernel::from_name(k.name()).unwrap(), k);
        }
        assert!(PqKernel::from_name("neon").is_err());
        assert!(PqKernel::detect().is_available());
    }
}
