//! What every family of interchangeable kernels shares (Hamming, PQ): parsing names,
//! checking the CPU, picking the fastest available, and the once-per-process default
//! that an environment variable may override.

use std::sync::OnceLock;

use crate::error::{Error, Result};

/// A family of kernels computing the same thing, listed slowest (reference) first.
pub trait KernelFamily: Copy + PartialEq + Send + Sync + 'static {
    /// Every kernel of the family, slowest first.
    const ALL: &'static [Self];
    /// Comma-separated names, for error messages.
    const NAMES: &'static str;
    /// The environment variable that forces a kernel for the whole process.
    const ENV_VAR: &'static str;
    /// The kernel's lower-case name.
    fn name(self) -> &'static str;
    /// Whether this CPU can run the kernel.
    fn is_available(self) -> bool;
}

/// The kernel called `name` (case and surrounding blanks ignored).
pub(crate) fn from_name<K: KernelFamily>(name: &str) -> Result<K> {
    let wanted = name.trim().to_ascii_lowercase();
    K::ALL
        .iter()
        .copied()
        .find(|k| k.name() == wanted)
        .ok_or_else(|| Error::UnknownKernel {
            name: name.to_string(),
            expected: K::NAMES,
        })
}

/// The kernels this CPU can run, slowest first.
pub(crate) fn available<K: KernelFamily>() -> Vec<K> {
    K::ALL
        .iter()
        .copied()
        .filter(|k| k.is_available())
        .collect()
}

/// The fastest kernel this CPU can run (the reference, first in `ALL`, always can).
pub(crate) fn detect<K: KernelFamily>() -> K {
    K::ALL
        .iter()
        .rev()
        .copied()
        .find(|k| k.is_available())
        .unwrap_or(K::ALL[0])
}

/// `kernel` if this CPU can run it, else [`Error::KernelUnavailable`].
pub(crate) fn check<K: KernelFamily>(kernel: K) -> Result<K> {
    if kernel.is_available() {
        return Ok(kernel);
    }
    Err(Error::KernelUnavailable {
        kernel: kernel.name(),
        available: available::<K>()
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// The process-wide default, worked out once into `cell`: the kernel named by
/// `K::ENV_VAR` if set, else [`detect`]. An unknown or unavailable name in the variable
/// is an error every time it is asked for.
pub(crate) fn process_default<K: KernelFamily>(
    cell: &'static OnceLock<std::result::Result<K, String>>,
) -> Result<K> {
    let chosen = cell.get_or_init(|| match std::env::var(K::ENV_VAR) {
        Ok(name) if !name.trim().is_empty() => from_name::<K>(&name)
            .and_then(check)
            .map_err(|e| e.to_string()),
        _ => Ok(detect::<K>()),
    });
    chosen.clone().map_err(|reason| Error::InvalidArgument {
        name: K::ENV_VAR,
        reason,
    })
}
