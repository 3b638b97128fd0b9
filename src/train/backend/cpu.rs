//! The CPU backend: faer for dense products, rayon for row-parallel kernels.
//!
//! Row kernels split the matrix into chunks of rows and run them on the rayon pool when
//! the tensor is large enough to pay for the fork; small tensors (gradient checks, tiny
//! batches) run on the calling thread.

use rayon::prelude::*;

use super::{Activation, Backend};
use crate::error::{Error, Result};
use crate::train::float::Float;
use crate::train::tensor::Tensor;

/// Below this many elements a kernel runs on the calling thread.
const PAR_MIN: usize = 1 << 14;

/// The CPU backend.
#[derive(Clone, Copy, Debug)]
pub struct CpuBackend {
    threads: usize,
}

impl Default for CpuBackend {
    fn default() -> Self {
        CpuBackend::new(rayon::current_num_threads())
    }
}

impl CpuBackend {
    /// A backend whose products use up to `threads` threads (at least one).
    pub fn new(threads: usize) -> Self {
        CpuBackend {
            threads: threads.max(1),
        }
    }
}

fn same_len<F>(what: &'static str, a: &Tensor<F>, b: &Tensor<F>) -> Result<()>
where
    F: Float,
{
    if a.numel() != b.numel() {
        return Err(Error::LengthMismatch {
            what,
            expected: a.numel(),
            found: b.numel(),
        });
    }
    Ok(())
}

/// Runs `f(row_index, row_in.., row_out)` over rows, in parallel when large.
/// [`map_rows`] with one output slot per row (`aux[i]` beside row `i`).
fn map_rows_with<F: Float, A: Send>(
    out: &mut [F],
    cols: usize,
    aux: &mut [A],
    par: bool,
    f: impl Fn(&mut [F], &mut A) + Sync + Send,
) {
    if cols == 0 {
        return;
    }
    if par {
        out.par_chunks_mut(cols)
            .zip(aux.par_iter_mut())
            .for_each(|(r, a)| f(r, a));
    } else {
        out.chunks_mut(cols)
            .zip(aux.iter_mut())
            .for_each(|(r, a)| f(r, a));
    }
}

fn map_rows<F: Float>(
    out: &mut [F],
    cols: usize,
    par: bool,
    f: impl Fn(usize, &mut [F]) + Sync + Send,
) {
    if cols == 0 {
        return;
    }
    if par {
        out.par_chunks_mut(cols)
            .enumerate()
            .for_each(|(i, r)| f(i, r));
    } else {
        out.chunks_mut(cols).enumerate().for_each(|(i, r)| f(i, r));
    }
}

fn act_fwd<F: Float>(act: Activation, x: F) -> F {
    match act {
        Activation::Tanh => x.tanh(),
        Activation::Relu => {
            if x > F::ZERO {
                x
            } else {
                F::ZERO
            }
        }
        Activation::Gelu => {
            let c = F::from_f64((2.0 / std::f64::consts::PI).sqrt());
            let k = F::from_f64(0.044715);
            let half = F::from_f64(0.5);
            half * x * (F::ONE + (c * (x + k * x * x * x)).tanh())
        }
    }
}

fn act_grad<F: Float>(act: Activation, x: F) -> F {
    match act {
        Activation::Tanh => {
            let t = x.tanh();
            F::ONE - t * t
        }
        Activation::Relu => {
            if x > F::ZERO {
                F::ONE
            } else {
                F::ZERO
            }
        }
        Activation::Gelu => {
            let c = F::from_f64((2.0 / std::f64::consts::PI).sqrt());
            let k = F::from_f64(0.044715);
            let half = F::from_f64(0.5);
            let u = c * (x + k * x * x * x);
            let t = u.tanh();
            let du = c * (F::ONE + F::from_f64(3.0) * k * x * x);
            half * (F::ONE + t) + half * x * (F::ONE - t * t) * du
        }
    }
}

impl<F: Float> Backend<F> for CpuBackend {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn matmul(&self, a: &Tensor<F>, ta: bool, b: &Tensor<F>, tb: bool) -> Result<Tensor<F>> {
        let (m, ka) = if ta {
            (a.cols(), a.rows())
        } else {
            (a.rows(), a.cols())
        };
        let (kb, n) = if tb {
            (b.cols(), b.rows())
        } else {
            (b.rows(), b.cols())
        };
        if ka != kb {
            return Err(Error::DimensionMismatch {
                what: "matmul inner dimension",
                expected: ka,
                found: kb,
            });
        }
        let mut c = Tensor::zeros(&[m, n]);
        F::gemm(
            m,
            n,
            ka,
            a.data(),
            ta,
            b.data(),
            tb,
            F::ONE,
            c.data_mut(),
            false,
            self.threads,
        );
        Ok(c)
    }

    fn matmul_acc(
        &self,
        a: &Tensor<F>,
        ta: bool,
        b: &Tensor<F>,
        tb: bool,
        c: &mut Tensor<F>,
    ) -> Result<()> {
        let (m, ka) = if ta {
            (a.cols(), a.rows())
        } else {
            (a.rows(), a.cols())
        };
        let (kb, n) = if tb {
            (b.cols(), b.rows())
        } else {
            (b.rows(), b.cols())
        };
        if ka != kb || c.numel() != m * n {
            return Err(Error::DimensionMismatch {
                what: "matmul_acc shapes",
                expected: m * n,
                found: if ka != kb { kb } else { c.numel() },
            });
        }
        F::gemm(
            m,
            n,
            ka,
            a.data(),
            ta,
            b.data(),
            tb,
            F::ONE,
            c.data_mut(),
            true,
            self.threads,
        );
        Ok(())
    }

    fn add_row_bias(&self, x: &mut Tensor<F>, bias: &Tensor<F>) -> Result<()> {
        let c = x.cols();
        if bias.numel() != c {
            return Err(Error::DimensionMismatch {
                what: "bias length",
                expected: c,
                found: bias.numel(),
            });
        }
        let par = x.numel() >= PAR_MIN;
        let b = bias.data();
        map_rows(x.data_mut(), c, par, |_, r| {
            for (v, bb) in r.iter_mut().zip(b) {
                *v += *bb;
            }
        });
        Ok(())
    }

    fn col_sum_acc(&self, x: &Tensor<F>, acc: &mut Tensor<F>) -> Result<()> {
        let c = x.cols();
        if acc.numel() != c {
            return Err(Error::DimensionMismatch {
                what: "column-sum length",
                expected: c,
                found: acc.numel(),
            });
        }
        let a = acc.data_mut();
        for r in x.data().chunks(c.max(1)) {
            for (s, v) in a.iter_mut().zip(r) {
                *s += *v;
            }
        }
        Ok(())
    }

    fn activation(&self, act: Activation, scale: F, x: &Tensor<F>) -> Tensor<F> {
        let mut y = x.clone();
        let f = |v: &mut F| *v = act_fwd(act, scale * *v);
        if y.numel() >= PAR_MIN {
            y.data_mut().par_iter_mut().for_each(f);
        } else {
            y.data_mut().iter_mut().for_each(f);
        }
        y
    }

    fn activation_backward(
        &self,
        act: Activation,
        scale: F,
        x: &Tensor<F>,
        dy: &Tensor<F>,
    ) -> Result<Tensor<F>> {
        same_len("activation backward", x, dy)?;
        let mut dx = dy.clone();
        let f = |(g, v): (&mut F, &F)| *g *= scale * act_grad(act, scale * *v);
        if dx.numel() >= PAR_MIN {
            dx.data_mut().par_iter_mut().zip(x.data()).for_each(f);
        } else {
            dx.data_mut().iter_mut().zip(x.data()).for_each(f);
        }
        Ok(dx)
    }

    fn softmax_rows(&self, x: &Tensor<F>, mask: Option<&[bool]>) -> Result<Tensor<F>> {
        let c = x.cols();
        if let Some(m) = mask
            && m.len() != x.numel()
        {
            return Err(Error::LengthMismatch {
                what: "softmax mask",
                expected: x.numel(),
                found: m.len(),
            });
        }
        let mut y = x.clone();
        let par = x.numel() >= PAR_MIN;
        map_rows(y.data_mut(), c, par, |i, r| {
            let keep = |j: usize| mask.is_none_or(|m| m[i * c + j]);
            let mut mx: Option<F> = None;
            for (j, v) in r.iter().enumerate() {
                if keep(j) {
                    mx = Some(mx.map_or(*v, |m: F| m.max(*v)));
                }
            }
            let Some(mx) = mx else {
                r.fill(F::ZERO);
                return;
            };
            let mut s = F::ZERO;
            for (j, v) in r.iter_mut().enumerate() {
                *v = if keep(j) { (*v - mx).exp() } else { F::ZERO };
                s += *v;
            }
            for v in r.iter_mut() {
                *v /= s;
            }
        });
        Ok(y)
    }

    fn softmax_rows_backward(&self, p: &Tensor<F>, dp: &Tensor<F>) -> Result<Tensor<F>> {
        same_len("softmax backward", p, dp)?;
        let c = p.cols();
        let mut dx = dp.clone();
        let pd = p.data();
        let par = p.numel() >= PAR_MIN;
        map_rows(dx.data_mut(), c, par, |i, r| {
            let pr = &pd[i * c..(i + 1) * c];
            let dot: F = pr.iter().zip(r.iter()).map(|(a, b)| *a * *b).sum();
            for (g, pv) in r.iter_mut().zip(pr) {
                *g = *pv * (*g - dot);
            }
        });
        Ok(dx)
    }

    fn row_normalize(&self, x: &Tensor<F>, eps: F) -> (Tensor<F>, Vec<F>) {
        let c = x.cols();
        let mut y = x.clone();
        let mut rstd = vec![F::ZERO; x.rows()];
        let n = F::from_f64(c as f64);
        let body = |r: &mut [F], rs: &mut F| {
            let mean = r.iter().copied().sum::<F>() / n;
            let var = r.iter().map(|v| (*v - mean) * (*v - mean)).sum::<F>() / n;
            let s = F::ONE / (var + eps).sqrt();
            for v in r.iter_mut() {
                *v = (*v - mean) * s;
            }
            *rs = s;
        };
        map_rows_with(y.data_mut(), c, &mut rstd, x.numel() >= PAR_MIN, body);
        (y, rstd)
    }

    fn row_normalize_backward(
        &self,
        xhat: &Tensor<F>,
        rstd: &[F],
        dxhat: &Tensor<F>,
    ) -> Result<Tensor<F>> {
        same_len("layer norm backward", xhat, dxhat)?;
        let c = xhat.cols();
        let n = F::from_f64(c as f64);
        let mut dx = dxhat.clone();
        let xh = xhat.data();
        let par = xhat.numel() >= PAR_MIN;
        map_rows(dx.data_mut(), c, par, |i, r| {
            let xr = &xh[i * c..(i + 1) * c];
            let mg = r.iter().copied().sum::<F>() / n;
            let mgx = r.iter().zip(xr).map(|(g, x)| *g * *x).sum::<F>() / n;
            for (g, x) in r.iter_mut().zip(xr) {
                *g = rstd[i] * (*g - mg - *x * mgx);
            }
        });
        Ok(dx)
    }

    fn col_moments(&self, x: &Tensor<F>) -> (Vec<F>, Vec<F>) {
        let c = x.cols();
        let rows = x.rows();
        let mut mean = vec![F::ZERO; c];
        let mut var = vec![F::ZERO; c];
        if rows == 0 {
            return (mean, var);
        }
        let n = F::from_f64(rows as f64);
        for r in x.data().chunks(c) {
            for (m, v) in mean.iter_mut().zip(r) {
                *m += *v;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        for r in x.data().chunks(c) {
            for ((s, v), m) in var.iter_mut().zip(r).zip(&mean) {
                *s += (*v - *m) * (*v - *m);
            }
        }
        var.iter_mut().for_each(|s| *s /= n);
        (mean, var)
    }

    fn l2_normalize_rows(&self, x: &Tensor<F>, eps: F) -> (Tensor<F>, Vec<F>) {
        let c = x.cols();
        let mut y = x.clone();
        let mut norms = vec![F::ZERO; x.rows()];
        if c > 0 {
            let body = |r: &mut [F], nn: &mut F| {
                let n = r.iter().map(|v| *v * *v).sum::<F>().sqrt().max(eps);
                r.iter_mut().for_each(|v| *v /= n);
                *nn = n;
            };
            map_rows_with(y.data_mut(), c, &mut norms, x.numel() >= PAR_MIN, body);
        }
        (y, norms)
    }

    fn l2_normalize_rows_backward(
        &self,
        y: &Tensor<F>,
        norms: &[F],
        eps: F,
        dy: &Tensor<F>,
    ) -> Result<Tensor<F>> {
        same_len("l2 normalise backward", y, dy)?;
        let c = y.cols();
        let mut dx = dy.clone();
        let yd = y.data();
        let par = y.numel() >= PAR_MIN;
        map_rows(dx.data_mut(), c, par, |i, r| {
            let yr = &yd[i * c..(i + 1) * c];
            let n = norms[i];
            if n <= eps {
                // Clamped norm: y = x / eps is linear in x.
                r.iter_mut().for_each(|g| *g /= n);
                return;
            }
            let dot: F = r.iter().zip(yr).map(|(g, v)| *g * *v).sum();
            for (g, v) in r.iter_mut().zip(yr) {
                *g = (*g - *v * dot) / n;
            }
        });
        Ok(dx)
    }

    fn affine_cols(&self, x: &Tensor<F>, gamma: &[F], beta: &[F]) -> Result<Tensor<F>> {
        let c = x.cols();
        check_cols("affine gain", c, gamma.len())?;
        check_cols("affine shift", c, beta.len())?;
        let mut y = x.clone();
        let par = x.numel() >= PAR_MIN;
        map_rows(y.data_mut(), c, par, |_, r| {
            for j in 0..r.len() {
                r[j] = r[j] * gamma[j] + beta[j];
            }
        });
        Ok(y)
    }

    fn affine_cols_backward(
        &self,
        x: &Tensor<F>,
        gamma: &[F],
        dy: &Tensor<F>,
        dgamma: &mut [F],
        dbeta: &mut [F],
    ) -> Result<Tensor<F>> {
        same_len("affine backward", x, dy)?;
        let c = x.cols();
        for (what, n) in [
            ("affine gain", gamma.len()),
            ("gain gradient", dgamma.len()),
            ("shift gradient", dbeta.len()),
        ] {
            check_cols(what, c, n)?;
        }
        let mut dx = dy.clone();
        for (r, xr) in dx
            .data_mut()
            .chunks_mut(c.max(1))
            .zip(x.data().chunks(c.max(1)))
        {
            for j in 0..r.len() {
                dgamma[j] += r[j] * xr[j];
                dbeta[j] += r[j];
                r[j] *= gamma[j];
            }
        }
        Ok(dx)
    }

    fn normalize_cols(&self, x: &Tensor<F>, mean: &[F], rstd: &[F]) -> Result<Tensor<F>> {
        let c = x.cols();
        check_cols("column means", c, mean.len())?;
        check_cols("column scales", c, rstd.len())?;
        let mut y = x.clone();
        let par = x.numel() >= PAR_MIN;
        map_rows(y.data_mut(), c, par, |_, r| {
            for j in 0..r.len() {
                r[j] = (r[j] - mean[j]) * rstd[j];
            }
        });
        Ok(y)
    }

    fn normalize_cols_backward(
        &self,
        xhat: &Tensor<F>,
        rstd: &[F],
        dxhat: &Tensor<F>,
        through_stats: bool,
    ) -> Result<Tensor<F>> {
        same_len("column normalisation backward", xhat, dxhat)?;
        let c = xhat.cols();
        check_cols("column scales", c, rstd.len())?;
        let n = F::from_f64(xhat.rows().max(1) as f64);
        let mut m1 = vec![F::ZERO; c];
        let mut m2 = vec![F::ZERO; c];
        if through_stats {
            for (g, x) in dxhat
                .data()
                .chunks(c.max(1))
                .zip(xhat.data().chunks(c.max(1)))
            {
                for j in 0..g.len() {
                    m1[j] += g[j] / n;
                    m2[j] += g[j] * x[j] / n;
                }
            }
        }
        let mut dx = dxhat.clone();
        let xh = xhat.data();
        let par = xhat.numel() >= PAR_MIN;
        map_rows(dx.data_mut(), c, par, |i, r| {
            let xr = &xh[i * c..(i + 1) * c];
            for j in 0..r.len() {
                r[j] = rstd[j] * (r[j] - m1[j] - xr[j] * m2[j]);
            }
        });
        Ok(dx)
    }

    fn vlad_aggregate(
        &self,
        a: &Tensor<F>,
        z: &Tensor<F>,
        centroids: &Tensor<F>,
        offsets: &[usize],
    ) -> Result<Tensor<F>> {
        let (k, dim, kg) = vlad_dims(a, z, centroids, offsets)?;
        let items = offsets.len() - 1;
        let c = centroids.data();
        let mut r = Tensor::zeros(&[items, k, dim]);
        r.data_mut()
            .par_chunks_mut((k * dim).max(1))
            .enumerate()
            .for_each(|(i, ri)| {
                for t in offsets[i]..offsets[i + 1] {
                    let zt = z.row(t);
                    let at = &a.data()[t * kg..t * kg + k];
                    for n in 0..k {
                        let w = at[n];
                        let rn = &mut ri[n * dim..(n + 1) * dim];
                        let cn = &c[n * dim..(n + 1) * dim];
                        for j in 0..dim {
                            rn[j] += w * (zt[j] - cn[j]);
                        }
                    }
                }
            });
        Ok(r)
    }

    fn vlad_aggregate_backward(
        &self,
        a: &Tensor<F>,
        z: &Tensor<F>,
        centroids: &Tensor<F>,
        offsets: &[usize],
        dr: &Tensor<F>,
    ) -> Result<(Tensor<F>, Tensor<F>, Tensor<F>)> {
        let (k, dim, kg) = vlad_dims(a, z, centroids, offsets)?;
        let items = offsets.len() - 1;
        if dr.numel() != items * k * dim {
            return Err(Error::LengthMismatch {
                what: "GhostVLAD residual gradient",
                expected: items * k * dim,
                found: dr.numel(),
            });
        }
        let c = centroids.data();
        let parts: Vec<(Vec<F>, Vec<F>, Vec<F>)> = (0..items)
            .into_par_iter()
            .map(|i| {
                let (s, e) = (offsets[i], offsets[i + 1]);
                let dri = &dr.data()[i * k * dim..(i + 1) * k * dim];
                let mut da = vec![F::ZERO; (e - s) * kg];
                let mut dz = vec![F::ZERO; (e - s) * dim];
                let mut dc = vec![F::ZERO; k * dim];
                for t in s..e {
                    let zt = z.row(t);
                    let at = &a.data()[t * kg..t * kg + k];
                    for n in 0..k {
                        let drn = &dri[n * dim..(n + 1) * dim];
                        let cn = &c[n * dim..(n + 1) * dim];
                        let mut acc = F::ZERO;
                        for j in 0..dim {
                            acc += drn[j] * (zt[j] - cn[j]);
                            dz[(t - s) * dim + j] += at[n] * drn[j];
                            dc[n * dim + j] -= at[n] * drn[j];
                        }
                        da[(t - s) * kg + n] = acc;
                    }
                }
                (da, dz, dc)
            })
            .collect();
        let mut da = Vec::with_capacity(z.rows() * kg);
        let mut dz = Vec::with_capacity(z.rows() * dim);
        let mut dc = Tensor::zeros(&[k, dim]);
        for (pa, pz, pc) in parts {
            da.extend_from_slice(&pa);
            dz.extend_from_slice(&pz);
            for (g, v) in dc.data_mut().iter_mut().zip(&pc) {
                *g += *v;
            }
        }
        Ok((
            Tensor::from_vec(&[z.rows(), kg], da)?,
            Tensor::from_vec(&[z.rows(), dim], dz)?,
            dc,
        ))
    }
}

fn check_cols(what: &'static str, expected: usize, found: usize) -> Result<()> {
    if expected != found {
        return Err(Error::DimensionMismatch {
            what,
            expected,
            found,
        });
    }
    Ok(())
}

/// Validates GhostVLAD aggregation inputs; returns (K, D, K + G).
fn vlad_dims<F: Float>(
    a: &Tensor<F>,
    z: &Tensor<F>,
    centroids: &Tensor<F>,
    offsets: &[usize],
) -> Result<(usize, usize, usize)> {
    let (k, dim, kg) = (centroids.rows(), centroids.cols(), a.cols());
    check_cols("GhostVLAD token features", dim, z.cols())?;
    check_cols("GhostVLAD assignment rows", z.rows(), a.rows())?;
    if kg < k {
        return Err(Error::DimensionMismatch {
            what: "GhostVLAD assignment columns (at least the real clusters)",
            expected: k,
            found: kg,
        });
    }
    if offsets.first() != Some(&0)
        || offsets.last() != Some(&z.rows())
        || offsets.windows(2).any(|w| w[0] > w[1])
    {
        return Err(Error::InvalidArgument {
            name: "offsets",
            reason: format!(
                "item offsets must rise from 0 to the token count {}",
                z.rows()
            ),
        });
    }
    Ok((k, dim, kg))
}
