//! Losses, each returning its value and the gradients with respect to its inputs.
//!
//! * [`info_nce`]: symmetric InfoNCE over the cosine similarities of paired rows.
//! * [`quantization_loss`]: mean squared distance to the sign, the sign held constant.
//! * [`sign_ste`] / [`sign_ste_backward`]: the straight-through sign.
//! * [`similarity_mse`]: MSE reconstruction of a target similarity matrix.

use crate::error::{Error, Result};
use crate::train::backend::Backend;
use crate::train::float::Float;
use crate::train::layers::norm::{l2_backward, l2_forward};
use crate::train::tensor::Tensor;

fn same_shape<F: Float>(what: &'static str, a: &Tensor<F>, b: &Tensor<F>) -> Result<()> {
    if a.shape() != b.shape() {
        return Err(Error::DimensionMismatch {
            what,
            expected: a.numel(),
            found: b.numel(),
        });
    }
    Ok(())
}

/// A loss value with the gradients for its two inputs.
#[derive(Clone, Debug)]
pub struct PairLoss<F> {
    /// The loss.
    pub loss: F,
    /// Gradient for the first input.
    pub du: Tensor<F>,
    /// Gradient for the second input.
    pub dv: Tensor<F>,
}

/// Symmetric InfoNCE: with `M_ij = cos(u_i, v_j)/τ`,
/// `L = 1/(2B) Σ_i [−log softmax_j(M_i·)_i − log softmax_j(M_·i)_i]`.
///
/// The paper's equations (7) and (12) print the ratio without the `−log`; the contrastive
/// loss it cites is the negative log-likelihood, which is what is implemented.
pub fn info_nce<F: Float>(
    be: &dyn Backend<F>,
    u: &Tensor<F>,
    v: &Tensor<F>,
    tau: F,
) -> Result<PairLoss<F>> {
    same_shape("InfoNCE inputs", u, v)?;
    let b = u.rows();
    if b == 0 {
        return Err(Error::InvalidArgument {
            name: "batch",
            reason: "InfoNCE needs at least one pair".into(),
        });
    }
    if tau.to_f64() <= 0.0 {
        return Err(Error::InvalidArgument {
            name: "tau",
            reason: format!("temperature must be positive, got {tau:?}"),
        });
    }
    let (un, uc) = l2_forward(be, u);
    let (vn, vc) = l2_forward(be, v);
    let mut s = be.matmul(&un, false, &vn, true)?;
    s.data_mut().iter_mut().for_each(|x| *x /= tau);
    let pr = be.softmax_rows(&s, None)?;
    let st = transpose(&s);
    let pc = be.softmax_rows(&st, None)?;
    let mut loss = F::ZERO;
    let inv = F::ONE / F::from_f64(2.0 * b as f64);
    for i in 0..b {
        loss -= pr.data()[i * b + i].max(F::from_f64(1e-30)).ln();
        loss -= pc.data()[i * b + i].max(F::from_f64(1e-30)).ln();
    }
    loss *= inv;
    // dS = [(P_row − I) + (P_col − I)ᵀ] / (2B), then through the 1/τ scale.
    let pct = transpose(&pc);
    let mut ds = pr.clone();
    for i in 0..b {
        for j in 0..b {
            let eye = if i == j { F::ONE } else { F::ZERO };
            ds.data_mut()[i * b + j] =
                (pr.data()[i * b + j] - eye + pct.data()[i * b + j] - eye) * inv / tau;
        }
    }
    let dun = be.matmul(&ds, false, &vn, false)?;
    let dvn = be.matmul(&ds, true, &un, false)?;
    Ok(PairLoss {
        loss,
        du: l2_backward(be, &uc, &dun)?,
        dv: l2_backward(be, &vc, &dvn)?,
    })
}

/// The transpose of a matrix view.
pub fn transpose<F: Float>(x: &Tensor<F>) -> Tensor<F> {
    let (r, c) = (x.rows(), x.cols());
    let mut out = vec![F::ZERO; r * c];
    for i in 0..r {
        for j in 0..c {
            out[j * r + i] = x.data()[i * c + j];
        }
    }
    Tensor::from_vec(&[c, r], out).unwrap_or_else(|_| Tensor::zeros(&[c, r]))
}

/// The sign used for codes: `+1` when `x > 0`, else `−1` (matches `BinaryCodes::from_signs`).
pub fn sign<F: Float>(x: F) -> F {
    if x > F::ZERO { F::ONE } else { -F::ONE }
}

/// Quantisation loss `mean((sgn(h) − h)²)` with the sign treated as a constant;
/// returns the loss and `dh = 2(h − sgn(h))/numel`.
pub fn quantization_loss<F: Float>(h: &Tensor<F>) -> Result<(F, Tensor<F>)> {
    let n = h.numel();
    if n == 0 {
        return Err(Error::InvalidArgument {
            name: "h",
            reason: "quantization loss of an empty tensor".into(),
        });
    }
    let nf = F::from_f64(n as f64);
    let mut dh = h.clone();
    let mut loss = F::ZERO;
    for g in dh.data_mut() {
        let d = *g - sign(*g);
        loss += d * d;
        *g = F::from_f64(2.0) * d / nf;
    }
    Ok((loss / nf, dh))
}

/// Straight-through sign: the forward value is `sgn(h)` …
pub fn sign_ste<F: Float>(h: &Tensor<F>) -> Tensor<F> {
    let mut b = h.clone();
    b.data_mut().iter_mut().for_each(|x| *x = sign(*x));
    b
}

/// … and the backward pass is the identity (`b = h + sg(sgn(h) − h)`).
pub fn sign_ste_backward<F: Float>(db: &Tensor<F>) -> Tensor<F> {
    db.clone()
}

/// Similarity reconstruction `L = mean((scale·U·Vᵀ − S)²)` over the `B_u × B_v` entries.
pub fn similarity_mse<F: Float>(
    be: &dyn Backend<F>,
    u: &Tensor<F>,
    v: &Tensor<F>,
    target: &Tensor<F>,
    scale: F,
) -> Result<PairLoss<F>> {
    if u.cols() != v.cols() {
        return Err(Error::DimensionMismatch {
            what: "similarity MSE features",
            expected: u.cols(),
            found: v.cols(),
        });
    }
    let (bu, bv) = (u.rows(), v.rows());
    if target.numel() != bu * bv || bu * bv == 0 {
        return Err(Error::LengthMismatch {
            what: "similarity MSE target",
            expected: bu * bv,
            found: target.numel(),
        });
    }
    let mut m = be.matmul(u, false, v, true)?;
    let nf = F::from_f64((bu * bv) as f64);
    let mut loss = F::ZERO;
    for (x, t) in m.data_mut().iter_mut().zip(target.data()) {
        let d = scale * *x - *t;
        loss += d * d;
        *x = F::from_f64(2.0) * d * scale / nf;
    }
    Ok(PairLoss {
        loss: loss / nf,
        du: be.matmul(&m, false, v, false)?,
        dv: be.matmul(&m, true, u, false)?,
    })
}
