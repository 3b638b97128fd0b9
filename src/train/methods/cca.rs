//! sign(CCA): the classic linear baseline for cross-modal hashing.
//!
//! Regularised CCA on centred training pairs: `C_aa = XᵀX/n + r·I` (r = `reg` × mean
//! diagonal), `W_a = C_aa^{-1/2}` by symmetric eigendecomposition, the thin SVD of
//! `W_a C_ab W_b` gives the canonical directions, and the `bits` leading ones project each
//! modality; the code is the sign of the projection of the centred input.

use crate::code::BinaryCodes;
use crate::error::{Error, Result};
use std::path::Path;

use crate::train::data::{Modality, PairedDataset};
use crate::train::methods::Side;
use crate::train::model_file::{Block, ModelFile, save_model};
use crate::train::tensor::Tensor;
use faer::Mat;

/// A fitted sign(CCA) hash.
#[derive(Clone, Debug)]
pub struct CcaHash {
    /// Code length.
    pub bits: usize,
    means: [Vec<f64>; 2],
    /// `(d_side, bits)` projections.
    projections: [Mat<f64>; 2],
    /// Canonical correlations of the kept directions.
    pub correlations: Vec<f64>,
}

fn centered(x: &Tensor<f32>) -> (Mat<f64>, Vec<f64>) {
    let (n, d) = (x.rows(), x.cols());
    let mut mean = vec![0.0; d];
    for r in x.data().chunks(d) {
        for (m, v) in mean.iter_mut().zip(r) {
            *m += *v as f64 / n as f64;
        }
    }
    let m = Mat::from_fn(n, d, |i, j| x.data()[i * d + j] as f64 - mean[j]);
    (m, mean)
}

fn inv_sqrt(c: &Mat<f64>) -> Result<Mat<f64>> {
    let e = c
        .self_adjoint_eigen(faer::Side::Lower)
        .map_err(|e| Error::InvalidArgument {
            name: "covariance",
            reason: format!("eigendecomposition failed: {e:?}"),
        })?;
    let (u, s) = (e.U(), e.S().column_vector());
    let d = c.nrows();
    let scaled = Mat::from_fn(d, d, |i, j| u[(i, j)] / s[j].max(1e-12).sqrt());
    Ok(&scaled * u.transpose())
}

impl CcaHash {
    /// Fits on the `train` items; both modalities need global vectors.
    pub fn fit(ds: &PairedDataset, train: &[usize], bits: usize, reg: f64) -> Result<Self> {
        crate::code::binary::words_for_bits(bits)?;
        Self::fit_space(ds, train, bits, reg)
    }

    /// [`CcaHash::fit`] keeping `bits` canonical directions without requiring `bits` to
    /// be a code length: the CCA space of the baselines that build on it (LSH).
    pub(crate) fn fit_space(
        ds: &PairedDataset,
        train: &[usize],
        bits: usize,
        reg: f64,
    ) -> Result<Self> {
        let xa: Tensor<f32> = ds.a.gather_global(train)?;
        let xb: Tensor<f32> = ds.b.gather_global(train)?;
        let kmax = xa.cols().min(xb.cols());
        if bits > kmax {
            return Err(Error::InvalidArgument {
                name: "bits",
                reason: format!("CCA gives at most {kmax} directions here, {bits} requested"),
            });
        }
        if train.len() < 2 {
            return Err(Error::InvalidArgument {
                name: "train",
                reason: "CCA needs at least two training pairs".into(),
            });
        }
        let n = train.len() as f64;
        let (a, ma) = centered(&xa);
        let (b, mb) = centered(&xb);
        let cov = |x: &Mat<f64>, y: &Mat<f64>| {
            let c = x.transpose() * y;
            Mat::from_fn(c.nrows(), c.ncols(), |i, j| c[(i, j)] / n)
        };
        let ridge = |mut c: Mat<f64>| {
            let d = c.nrows();
            let mean_diag = (0..d).map(|i| c[(i, i)]).sum::<f64>() / d as f64;
            for i in 0..d {
                c[(i, i)] += reg * mean_diag + 1e-12;
            }
            c
        };
        let wa = inv_sqrt(&ridge(cov(&a, &a)))?;
        let wb = inv_sqrt(&ridge(cov(&b, &b)))?;
        let t = &(&wa * cov(&a, &b)) * &wb;
        let svd = t.thin_svd().map_err(|e| Error::InvalidArgument {
            name: "cross-covariance",
            reason: format!("SVD failed: {e:?}"),
        })?;
        let pa = &wa * svd.U().subcols(0, bits);
        let pb = &wb * svd.V().subcols(0, bits);
        let s = svd.S().column_vector();
        Ok(CcaHash {
            bits,
            means: [ma, mb],
            projections: [pa, pb],
            correlations: (0..bits).map(|i| s[i]).collect(),
        })
    }

    /// Training means and `(d_side, bits)` projections of both sides, for the baselines
    /// that build on the CCA space (CCA-ITQ, LSH).
    pub(crate) fn parts(&self) -> (&[Vec<f64>; 2], &[Mat<f64>; 2]) {
        (&self.means, &self.projections)
    }

    /// Real-valued projections of items `idx` of one side, `(|idx|, bits)`.
    pub fn project(&self, ds: &PairedDataset, side: Side, idx: &[usize]) -> Result<Tensor<f32>> {
        self.project_modality(if side == Side::A { &ds.a } else { &ds.b }, side, idx)
    }

    /// [`CcaHash::project`] on a lone modality, read as side `side` of the model.
    pub fn project_modality(&self, m: &Modality, side: Side, idx: &[usize]) -> Result<Tensor<f32>> {
        let x: Tensor<f32> = m.gather_global(idx)?;
        let i = side.index();
        let p = &self.projections[i];
        if x.cols() != p.nrows() {
            return Err(Error::DimensionMismatch {
                what: "CCA input features",
                expected: p.nrows(),
                found: x.cols(),
            });
        }
        let d = x.cols();
        let xm = Mat::from_fn(idx.len(), d, |r, c| {
            x.data()[r * d + c] as f64 - self.means[i][c]
        });
        let y = &xm * p;
        let data = (0..idx.len())
            .flat_map(|r| (0..self.bits).map(move |c| (r, c)))
            .map(|(r, c)| y[(r, c)] as f32)
            .collect();
        Tensor::from_vec(&[idx.len(), self.bits], data)
    }

    /// Sign codes of items `idx` of one side.
    pub fn encode(&self, ds: &PairedDataset, side: Side, idx: &[usize]) -> Result<BinaryCodes> {
        let y = self.project(ds, side, idx)?;
        BinaryCodes::from_signs(self.bits, y.data())
    }

    /// [`CcaHash::encode`] on a lone modality.
    pub fn encode_modality(&self, m: &Modality, side: Side, idx: &[usize]) -> Result<BinaryCodes> {
        let y = self.project_modality(m, side, idx)?;
        BinaryCodes::from_signs(self.bits, y.data())
    }

    /// Saves means and projections as a model file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut blocks = Vec::new();
        for (s, tag) in ["a", "b"].iter().enumerate() {
            let p = &self.projections[s];
            let (d, l) = (p.nrows(), p.ncols());
            blocks.push((
                format!("{tag}.mean"),
                Block {
                    shape: vec![d],
                    data: self.means[s].iter().map(|v| *v as f32).collect(),
                },
            ));
            blocks.push((
                format!("{tag}.projection"),
                Block {
                    shape: vec![d, l],
                    data: (0..d * l).map(|e| p[(e / l, e % l)] as f32).collect(),
                },
            ));
        }
        let dims = [self.projections[0].nrows(), self.projections[1].nrows()];
        save_model(
            path,
            "cca",
            serde_json::json!({"bits": self.bits, "dims": dims, "correlations": self.correlations}),
            &blocks,
        )
    }

    /// Builds the model from a model file written by [`CcaHash::save`].
    pub fn from_file(path: &Path, file: &mut ModelFile) -> Result<Self> {
        let bad = |reason: String| Error::Format {
            path: path.into(),
            reason,
        };
        if file.method != "cca" {
            return Err(bad(format!("model is `{}`, not cca", file.method)));
        }
        let bits: usize =
            serde_json::from_value(file.config["bits"].clone()).map_err(|e| bad(e.to_string()))?;
        let dims: [usize; 2] =
            serde_json::from_value(file.config["dims"].clone()).map_err(|e| bad(e.to_string()))?;
        let correlations: Vec<f64> = serde_json::from_value(file.config["correlations"].clone())
            .map_err(|e| bad(e.to_string()))?;
        let mut means = Vec::new();
        let mut projections = Vec::new();
        for (s, tag) in ["a", "b"].iter().enumerate() {
            let d = dims[s];
            means.push(
                file.take(path, &format!("{tag}.mean"), &[d])?
                    .into_iter()
                    .map(|v| v as f64)
                    .collect::<Vec<_>>(),
            );
            let p = file.take(path, &format!("{tag}.projection"), &[d, bits])?;
            projections.push(Mat::from_fn(d, bits, |i, j| p[i * bits + j] as f64));
        }
        let (pb, pa) = (projections.pop(), projections.pop());
        let (mb, ma) = (means.pop(), means.pop());
        match (pa, pb, ma, mb) {
            (Some(pa), Some(pb), Some(ma), Some(mb)) => Ok(CcaHash {
                bits,
                means: [ma, mb],
                projections: [pa, pb],
                correlations,
            }),
            _ => Err(bad("missing CCA blocks".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use crate::train::data::Modality;

    #[test]
    fn recovers_a_shared_latent_and_rejects_bad_bits() {
        // Two views of one 8-d latent through different random maps, plus noise.
        let mut rng = Rng::new(3);
        let n = 400;
        let z = Tensor::<f32>::randn(&[n, 8], 1.0, &mut rng);
        let view = |d: usize, rng: &mut Rng| {
            let w = Tensor::<f32>::randn(&[8, d], 1.0, rng);
            let mut x = vec![0f32; n * d];
            for i in 0..n {
                for j in 0..d {
                    x[i * d + j] = (0..8)
                        .map(|k| z.data()[i * 8 + k] * w.data()[k * d + j])
                        .sum::<f32>()
                        + 0.1 * rng.normal();
                }
            }
            Tensor::from_vec(&[n, d], x).unwrap()
        };
        let a = Modality::new("a", Some(view(12, &mut rng)), None).unwrap();
        let b = Modality::new("b", Some(view(10, &mut rng)), None).unwrap();
        let ds = PairedDataset::new(a, b, None).unwrap();
        let all: Vec<usize> = (0..n).collect();
        let cca = CcaHash::fit(&ds, &all, 8, 1e-4).unwrap();
        assert!(
            cca.correlations.iter().all(|&c| c > 0.95),
            "{:?}",
            cca.correlations
        );
        let ca = cca.encode(&ds, Side::A, &all).unwrap();
        let cb = cca.encode(&ds, Side::B, &all).unwrap();
        // Paired codes agree on most bits.
        let agree: u32 = (0..n)
            .map(|i| 8 - (ca.row(i).unwrap()[0] ^ cb.row(i).unwrap()[0]).count_ones())
            .sum();
        assert!(agree as f64 / (8 * n) as f64 > 0.9);
        assert!(CcaHash::fit(&ds, &all, 16, 1e-4).is_err());
        let p = std::env::temp_dir().join(format!("crosscode-cca-{}.model", std::process::id()));
        cca.save(&p).unwrap();
        let mut f = crate::train::model_file::load_model(&p).unwrap();
        let back = CcaHash::from_file(&p, &mut f).unwrap();
        assert_eq!(
            back.encode(&ds, Side::B, &all).unwrap().as_words(),
            cb.as_words()
        );
        std::fs::remove_file(p).unwrap();
        assert!(CcaHash::fit(&ds, &all, 7, 1e-4).is_err());
    }
}
