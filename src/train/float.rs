//! The scalar type of the training engine.
//!
//! Layers are written once over [`Float`], implemented for `f32` (training) and `f64`
//! (gradient checks by central finite differences). The trait carries the handful of math
//! functions the layers need and the dense matrix product, which goes to faer.

use std::fmt::Debug;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// A real floating-point scalar usable by the layers (`f32` or `f64`).
pub trait Float:
    Copy
    + Send
    + Sync
    + Debug
    + Default
    + PartialOrd
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
{
    /// Zero.
    const ZERO: Self;
    /// One.
    const ONE: Self;
    /// Converts from `f64` (rounding for `f32`).
    fn from_f64(x: f64) -> Self;
    /// Converts to `f64`.
    fn to_f64(self) -> f64;
    /// Converts from `f32`.
    fn from_f32(x: f32) -> Self;
    /// Converts to `f32` (rounding for `f64`).
    fn to_f32(self) -> f32;
    /// e^x.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// True when neither NaN nor infinite.
    fn is_finite(self) -> bool;
    /// The larger of two values.
    fn max(self, other: Self) -> Self {
        if self >= other { self } else { other }
    }
    /// Dense product `C = alpha · op(A) · op(B) (+ C when accumulate)`, row-major.
    ///
    /// `op(A)` is `m × k`: `A` is stored `m × k`, or `k × m` when `ta`; likewise `op(B)`
    /// is `k × n`, stored `n × k` when `tb`. Callers check the lengths.
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        m: usize,
        n: usize,
        k: usize,
        a: &[Self],
        ta: bool,
        b: &[Self],
        tb: bool,
        alpha: Self,
        c: &mut [Self],
        accumulate: bool,
        threads: usize,
    );
}

macro_rules! impl_float {
    ($t:ty) => {
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f32(x: f32) -> Self {
                x as $t
            }
            fn to_f32(self) -> f32 {
                self as f32
            }
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            fn gemm(
                m: usize,
                n: usize,
                k: usize,
                a: &[Self],
                ta: bool,
                b: &[Self],
                tb: bool,
                alpha: Self,
                c: &mut [Self],
                accumulate: bool,
                threads: usize,
            ) {
                use faer::{Accum, MatMut, MatRef, Par};
                if m == 0 || n == 0 {
                    return;
                }
                if k == 0 {
                    if !accumulate {
                        c.fill(0.0);
                    }
                    return;
                }
                let a = if ta {
                    MatRef::from_row_major_slice(a, k, m).transpose()
                } else {
                    MatRef::from_row_major_slice(a, m, k)
                };
                let b = if tb {
                    MatRef::from_row_major_slice(b, n, k).transpose()
                } else {
                    MatRef::from_row_major_slice(b, k, n)
                };
                let dst = MatMut::from_row_major_slice_mut(c, m, n);
                let accum = if accumulate {
                    Accum::Add
                } else {
                    Accum::Replace
                };
                // Small products are faster on one thread than paying rayon's fork cost.
                let par = if threads > 1 && m * n * k >= 1 << 18 {
                    Par::rayon(threads)
                } else {
                    Par::Seq
                };
                faer::linalg::matmul::matmul(dst, accum, a, b, alpha, par);
            }
        }
    };
}

impl_float!(f32);
impl_float!(f64);
