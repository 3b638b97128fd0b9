//! A dense, contiguous, row-major tensor.
//!
//! [`Tensor`] owns its elements and its shape; the last axis is contiguous. Layers view
//! a tensor of shape `(.., d)` as a matrix of `numel / d` rows, so a sequence batch
//! `(b, t, d)` goes through a linear layer as `(b·t, d)` without copying. The storage is
//! host memory: a device backend keeps its own buffers and converts at its boundary.

use super::float::Float;
use crate::error::{Error, Result};
use crate::rng::Rng;

/// A dense row-major tensor of `F`.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor<F> {
    shape: Vec<usize>,
    data: Vec<F>,
}

impl<F: Float> Tensor<F> {
    /// A tensor of zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        Tensor {
            shape: shape.to_vec(),
            data: vec![F::ZERO; shape.iter().product()],
        }
    }

    /// A tensor filled with `value`.
    pub fn full(shape: &[usize], value: F) -> Self {
        Tensor {
            shape: shape.to_vec(),
            data: vec![value; shape.iter().product()],
        }
    }

    /// Wraps `data` with `shape`; the length must be the product of the shape.
    pub fn from_vec(shape: &[usize], data: Vec<F>) -> Result<Self> {
        let expected: usize = shape.iter().product();
        if expected != data.len() {
            return Err(Error::LengthMismatch {
                what: "tensor data",
                expected,
                found: data.len(),
            });
        }
        Ok(Tensor {
            shape: shape.to_vec(),
            data,
        })
    }

    /// Normal entries with standard deviation `std`, drawn from `rng`.
    pub fn randn(shape: &[usize], std: f64, rng: &mut Rng) -> Self {
        let n = shape.iter().product();
        let data = (0..n)
            .map(|_| F::from_f64(rng.normal() as f64 * std))
            .collect();
        Tensor {
            shape: shape.to_vec(),
            data,
        }
    }

    /// Uniform entries in `[-bound, bound)`.
    pub fn uniform(shape: &[usize], bound: f64, rng: &mut Rng) -> Self {
        let n = shape.iter().product();
        let data = (0..n)
            .map(|_| F::from_f64((rng.uniform() as f64 * 2.0 - 1.0) * bound))
            .collect();
        Tensor {
            shape: shape.to_vec(),
            data,
        }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// Size of the last axis (1 for a scalar).
    pub fn cols(&self) -> usize {
        self.shape.last().copied().unwrap_or(1)
    }

    /// Number of rows when viewed as a matrix over the last axis.
    pub fn rows(&self) -> usize {
        match self.cols() {
            0 => 0,
            c => self.data.len() / c,
        }
    }

    /// The elements, row-major.
    pub fn data(&self) -> &[F] {
        &self.data
    }

    /// The elements, mutable.
    pub fn data_mut(&mut self) -> &mut [F] {
        &mut self.data
    }

    /// Consumes the tensor, returning its elements.
    pub fn into_vec(self) -> Vec<F> {
        self.data
    }

    /// The same elements under another shape of equal size.
    pub fn reshape(mut self, shape: &[usize]) -> Result<Self> {
        let expected: usize = shape.iter().product();
        if expected != self.data.len() {
            return Err(Error::LengthMismatch {
                what: "tensor reshape",
                expected,
                found: self.data.len(),
            });
        }
        self.shape = shape.to_vec();
        Ok(self)
    }

    /// Row `i` of the matrix view.
    ///
    /// # Panics
    /// When `i >= rows()` (an internal indexing error, never reachable from user input).
    pub fn row(&self, i: usize) -> &[F] {
        let c = self.cols();
        &self.data[i * c..(i + 1) * c]
    }

    /// Sets every element to zero.
    pub fn fill_zero(&mut self) {
        self.data.fill(F::ZERO);
    }

    /// `self += other` elementwise (shapes must hold the same number of elements).
    pub fn add_assign(&mut self, other: &Tensor<F>) -> Result<()> {
        if other.data.len() != self.data.len() {
            return Err(Error::LengthMismatch {
                what: "tensor add",
                expected: self.data.len(),
                found: other.data.len(),
            });
        }
        for (a, b) in self.data.iter_mut().zip(&other.data) {
            *a += *b;
        }
        Ok(())
    }

    /// Converts every element to another float type.
    pub fn cast<G: Float>(&self) -> Tensor<G> {
        Tensor {
            shape: self.shape.clone(),
            data: self.data.iter().map(|x| G::from_f64(x.to_f64())).collect(),
        }
    }

    /// Checks that every element is finite, naming `what` in the error.
    pub fn check_finite(&self, what: &'static str) -> Result<()> {
        let c = self.cols().max(1);
        match self.data.iter().position(|x| !x.is_finite()) {
            None => Ok(()),
            Some(p) => Err(Error::NonFinite {
                what,
                row: p / c,
                col: p % c,
                value: self.data[p].to_f32(),
            }),
        }
    }
}

/// A trainable parameter: its value and the gradient accumulated by backward passes.
#[derive(Clone, Debug)]
pub struct Param<F> {
    /// The current value.
    pub value: Tensor<F>,
    /// The accumulated gradient (same shape); zeroed by the optimiser step.
    pub grad: Tensor<F>,
}

impl<F: Float> Param<F> {
    /// A parameter with a zero gradient.
    pub fn new(value: Tensor<F>) -> Self {
        let grad = Tensor::zeros(value.shape());
        Param { value, grad }
    }
}

/// Something that owns parameters: layers, heads, whole models.
pub trait Module<F: Float> {
    /// Calls `f` on every parameter with a stable, unique name, always in the same order.
    fn visit_params(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param<F>));

    /// Zeroes every gradient.
    fn zero_grad(&mut self) {
        self.visit_params("", &mut |_, p| p.grad.fill_zero());
    }
}
