//! Hamming distance kernels over packed binary codes.
//!
//! Every kernel scans a block of row-padded codes against one query and offers each row
//! whose distance is below the sink's current bound to a [`DistanceSink`] (a top-k
//! selector, a range collector). The bound is re-read as the scan goes, so a sink that
//! tightens it (top-k) makes the rest of the scan reject more rows with one compare.
//!
//! Kernels, from reference to fastest:
//! - [`HammingKernel::Scalar`]: bit-by-bit reference, independent of `count_ones`.
//! - [`HammingKernel::Portable`]: `u64::count_ones` on any target.
//! - [`HammingKernel::Popcnt`]: the same loop compiled for the x86 `popcnt` instruction.
//! - [`HammingKernel::Avx2`]: nibble-lookup popcount with `vpshufb`, 16 codes a step at
//!   64 bits, four codes a step for longer codes.
//! - [`HammingKernel::Avx512`]: `vpopcntq` (AVX-512 VPOPCNTDQ).
//!
//! The best kernel the CPU supports is detected once per process and cached; the
//! `CROSSCODE_HAMMING_KERNEL` environment variable (`scalar`, `portable`, `popcnt`, `avx2`,
//! `avx512`) overrides it, and every search takes an explicit kernel too, so tests and
//! benches cover each path. Dispatch is one `match` per scanned block, which lets every
//! kernel be monomorphised over the sink.

mod portable;
mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86_avx2;
#[cfg(target_arch = "x86_64")]
mod x86_avx512;

use std::sync::OnceLock;

use crate::error::{Error, Result};

pub use scalar::distance as reference_distance;

/// Receives the rows a kernel finds closer than [`DistanceSink::bound`].
pub trait DistanceSink {
    /// Rows with distance strictly below this bound are offered. Kernels may re-read it
    /// after each offer; a sink must accept (and may ignore) offers made under an older,
    /// looser bound.
    fn bound(&self) -> u32;
    /// Offers row `row` (absolute row number) at distance `distance`.
    fn offer(&mut self, row: usize, distance: u32);
}

/// One implementation of the Hamming scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HammingKernel {
    /// Bit-by-bit reference.
    Scalar,
    /// `u64::count_ones`, no target features.
    Portable,
    /// `u64::count_ones` compiled with the x86 `popcnt` feature.
    Popcnt,
    /// AVX2 nibble-lookup popcount.
    Avx2,
    /// AVX-512 F + VPOPCNTDQ.
    Avx512,
}

const KERNEL_NAMES: &str = "scalar, portable, popcnt, avx2, avx512";

impl HammingKernel {
    /// All kernels, slowest first.
    pub const ALL: [HammingKernel; 5] = [
        HammingKernel::Scalar,
        HammingKernel::Portable,
        HammingKernel::Popcnt,
        HammingKernel::Avx2,
        HammingKernel::Avx512,
    ];

    /// The kernel's lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            HammingKernel::Scalar => "scalar",
            HammingKernel::Portable => "portable",
            HammingKernel::Popcnt => "popcnt",
            HammingKernel::Avx2 => "avx2",
            HammingKernel::Avx512 => "avx512",
        }
    }

    /// Parses a kernel name as [`HammingKernel::name`] writes it.
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == name.trim().to_ascii_lowercase())
            .ok_or_else(|| Error::UnknownKernel {
                name: name.to_string(),
                expected: KERNEL_NAMES,
            })
    }

    /// Whether this CPU can run the kernel.
    pub fn is_available(self) -> bool {
        match self {
            HammingKernel::Scalar | HammingKernel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            HammingKernel::Popcnt => std::arch::is_x86_feature_detected!("popcnt"),
            #[cfg(target_arch = "x86_64")]
            HammingKernel::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            HammingKernel::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The kernels this CPU can run, slowest first.
    pub fn available() -> Vec<HammingKernel> {
        Self::ALL.into_iter().filter(|k| k.is_available()).collect()
    }

    /// The fastest kernel this CPU can run.
    pub fn detect() -> HammingKernel {
        Self::ALL
            .into_iter()
            .rev()
            .find(|k| k.is_available())
            .unwrap_or(HammingKernel::Portable)
    }

    /// Returns `self` if this CPU can run it, else [`Error::KernelUnavailable`].
    pub fn check(self) -> Result<Self> {
        if self.is_available() {
            Ok(self)
        } else {
            Err(Error::KernelUnavailable {
                kernel: self.name(),
                available: Self::available()
                    .iter()
                    .map(|k| k.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        }
    }

    /// The process-wide default: `CROSSCODE_HAMMING_KERNEL` if set, else the detected
    /// best. Worked out once per process; an unknown or unavailable name in the variable
    /// is an error every time it is asked for.
    pub fn process_default() -> Result<HammingKernel> {
        static CHOSEN: OnceLock<std::result::Result<HammingKernel, String>> = OnceLock::new();
        let chosen = CHOSEN.get_or_init(|| match std::env::var("CROSSCODE_HAMMING_KERNEL") {
            Ok(name) if !name.trim().is_empty() => HammingKernel::from_name(&name)
                .and_then(HammingKernel::check)
                .map_err(|e| e.to_string()),
            _ => Ok(HammingKernel::detect()),
        });
        chosen.clone().map_err(|reason| Error::InvalidArgument {
            name: "CROSSCODE_HAMMING_KERNEL",
            reason,
        })
    }

    /// Scans `codes` (rows of `query.len()` words, row `i` being absolute row
    /// `first_row + i`) against `query`, offering rows below the sink's bound.
    ///
    /// The caller guarantees `codes.len()` is a multiple of `query.len()`, `query` is
    /// non-empty, and the kernel [`is_available`](Self::is_available) (checked with a
    /// debug assertion; release builds fall back to the portable path if not).
    pub(crate) fn scan<S: DistanceSink>(
        self,
        query: &[u64],
        codes: &[u64],
        first_row: usize,
        sink: &mut S,
    ) {
        debug_assert!(!query.is_empty() && codes.len().is_multiple_of(query.len()));
        debug_assert!(self.is_available());
        match self {
            HammingKernel::Scalar => scalar::scan(query, codes, first_row, sink),
            #[cfg(target_arch = "x86_64")]
            HammingKernel::Popcnt if self.is_available() => {
                // SAFETY: the CPU supports popcnt (checked just above).
                unsafe { portable::scan_popcnt(query, codes, first_row, sink) }
            }
            #[cfg(target_arch = "x86_64")]
            HammingKernel::Avx2 if self.is_available() => {
                // SAFETY: the CPU supports AVX2 (checked just above).
                unsafe { x86_avx2::scan(query, codes, first_row, sink) }
            }
            #[cfg(target_arch = "x86_64")]
            HammingKernel::Avx512 if self.is_available() => {
                // SAFETY: the CPU supports AVX-512 F and VPOPCNTDQ (checked just above).
                unsafe { x86_avx512::scan(query, codes, first_row, sink) }
            }
            _ => portable::scan(query, codes, first_row, sink),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects every offered row, with the bound it was given.
    struct Collect {
        bound: u32,
        got: Vec<(usize, u32)>,
    }

    impl DistanceSink for Collect {
        fn bound(&self) -> u32 {
            self.bound
        }
        fn offer(&mut self, row: usize, distance: u32) {
            self.got.push((row, distance));
        }
    }

    #[test]
    fn names_round_trip_and_unknown_is_an_error() {
        for k in HammingKernel::ALL {
            assert_eq!(HammingKernel::from_name(k.name()).unwrap(), k);
        }
        assert!(matches!(
            HammingKernel::from_name("sse9"),
            Err(Error::UnknownKernel { .. })
        ));
        assert!(HammingKernel::Scalar.is_available());
        assert!(HammingKernel::detect().is_available());
    }

    #[test]
    fn hand_computed_distances() {
        // 128-bit codes: query all zeros, rows with 0, 1, 64 and 128 bits set.
        let codes = [0u64, 0, 1, 0, u64::MAX, 0, u64::MAX, u64::MAX];
        for kernel in HammingKernel::available() {
            let mut sink = Collect {
                bound: u32::MAX,
                got: vec![],
            };
            kernel.scan(&[0, 0], &codes, 10, &mut sink);
            assert_eq!(
                sink.got,
                vec![(10, 0), (11, 1), (12, 64), (13, 128)],
                "{kernel:?}"
            );
            let mut below = Collect {
                bound: 64,
                got: vec![],
            };
            kernel.scan(&[0, 0], &codes, 0, &mut below);
            assert_eq!(below.got, vec![(0, 0), (1, 1)], "{kernel:?}");
        }
    }
}
