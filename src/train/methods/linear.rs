//! Per-view affine maps `y = (x − μ)·P`, the encoding step shared by the linear
//! baselines (CCA-ITQ, CVH, LSH): the means and maps of both views, applying them to a
//! modality's global vectors, sign codes, and their model-file blocks.
//!
//! Means and maps are rounded to f32 when built, so a model saved (as f32 blocks) and
//! loaded again computes bit-for-bit the same projections and codes.

use std::path::Path;

use faer::{Mat, MatRef};

use crate::code::BinaryCodes;
use crate::error::{Error, Result};
use crate::train::data::Modality;
use crate::train::methods::Side;
use crate::train::model_file::{Block, ModelFile};

/// Means `(d_side,)` and maps `(d_side, out)` of both views.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ViewMaps {
    means: [Vec<f64>; 2],
    maps: [Mat<f64>; 2],
}

fn round_f32(v: f64) -> f64 {
    v as f32 as f64
}

impl ViewMaps {
    /// Builds the maps (rounded to f32); both maps must have the same number of columns.
    pub(crate) fn new(means: [Vec<f64>; 2], maps: [Mat<f64>; 2]) -> Result<Self> {
        for s in 0..2 {
            if means[s].len() != maps[s].nrows() {
                return Err(Error::DimensionMismatch {
                    what: "projection mean vs map rows",
                    expected: maps[s].nrows(),
                    found: means[s].len(),
                });
            }
        }
        if maps[0].ncols() != maps[1].ncols() {
            return Err(Error::DimensionMismatch {
                what: "output columns of the two views' maps",
                expected: maps[0].ncols(),
                found: maps[1].ncols(),
            });
        }
        let means = means.map(|m| m.into_iter().map(round_f32).collect());
        let maps = maps.map(|p| Mat::from_fn(p.nrows(), p.ncols(), |i, j| round_f32(p[(i, j)])));
        Ok(ViewMaps { means, maps })
    }

    /// Input dimension of each view.
    pub(crate) fn dims(&self) -> [usize; 2] {
        [self.maps[0].nrows(), self.maps[1].nrows()]
    }

    /// Output dimension.
    pub(crate) fn out_dim(&self) -> usize {
        self.maps[0].ncols()
    }

    /// The map of one side.
    pub(crate) fn map(&self, side: Side) -> &Mat<f64> {
        &self.maps[side.index()]
    }

    /// `(x − μ)·P` for items `idx` of `m` read as side `side`: `(|idx|, out)`.
    pub(crate) fn apply(
        &self,
        m: &Modality,
        side: Side,
        idx: &[usize],
        what: &'static str,
    ) -> Result<Mat<f64>> {
        let x = m.gather_global::<f32>(idx)?;
        let s = side.index();
        let d = self.maps[s].nrows();
        if x.cols() != d {
            return Err(Error::DimensionMismatch {
                what,
                expected: d,
                found: x.cols(),
            });
        }
        let mean = &self.means[s];
        let xm = Mat::from_fn(idx.len(), d, |r, c| x.data()[r * d + c] as f64 - mean[c]);
        Ok(matmul_seq(xm.as_ref(), self.maps[s].as_ref()))
    }

    /// Model-file blocks `{prefix}{a,b}.mean` and `{prefix}{a,b}.map`.
    pub(crate) fn blocks(&self, prefix: &str) -> Vec<(String, Block)> {
        let mut out = Vec::new();
        for (s, tag) in ["a", "b"].iter().enumerate() {
            out.push((
                format!("{prefix}{tag}.mean"),
                Block {
                    shape: vec![self.means[s].len()],
                    data: self.means[s].iter().map(|v| *v as f32).collect(),
                },
            ));
            out.push((format!("{prefix}{tag}.map"), mat_block(&self.maps[s])));
        }
        out
    }

    /// Reads the blocks written by [`ViewMaps::blocks`], checking their shapes.
    pub(crate) fn from_file(
        path: &Path,
        file: &mut ModelFile,
        prefix: &str,
        dims: [usize; 2],
        out: usize,
    ) -> Result<Self> {
        let mut means = [Vec::new(), Vec::new()];
        let mut maps = [Mat::zeros(0, 0), Mat::zeros(0, 0)];
        for (s, tag) in ["a", "b"].iter().enumerate() {
            means[s] = file
                .take(path, &format!("{prefix}{tag}.mean"), &[dims[s]])?
                .into_iter()
                .map(f64::from)
                .collect();
            maps[s] = take_mat(path, file, &format!("{prefix}{tag}.map"), dims[s], out)?;
        }
        ViewMaps::new(means, maps)
    }
}

/// `a·b` on the calling thread. Tall-and-thin products such as `Bᵀ·V` (`c × 2n` times
/// `2n × c`) are memory bound; faer's rayon split of them ran up to 90× slower than this
/// on a loaded two-core machine (10 ms against 0.94 s for `n` = 29k, `c` = 32).
pub(crate) fn matmul_seq(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
    let mut out = Mat::zeros(a.nrows(), b.ncols());
    faer::linalg::matmul::matmul(
        out.as_mut(),
        faer::Accum::Replace,
        a,
        b,
        1.0,
        faer::Par::Seq,
    );
    out
}

/// A matrix as a row-major f32 block.
pub(crate) fn mat_block(p: &Mat<f64>) -> Block {
    let (r, c) = (p.nrows(), p.ncols());
    Block {
        shape: vec![r, c],
        data: (0..r * c).map(|e| p[(e / c, e % c)] as f32).collect(),
    }
}

/// Removes block `name` of shape `(rows, cols)` from `file` as a matrix.
pub(crate) fn take_mat(
    path: &Path,
    file: &mut ModelFile,
    name: &str,
    rows: usize,
    cols: usize,
) -> Result<Mat<f64>> {
    let v = file.take(path, name, &[rows, cols])?;
    Ok(Mat::from_fn(rows, cols, |i, j| v[i * cols + j] as f64))
}

/// Sign codes of the rows of `y` (`(n, bits)`): bit set where the value is > 0.
pub(crate) fn sign_codes(y: &Mat<f64>) -> Result<BinaryCodes> {
    let (n, bits) = (y.nrows(), y.ncols());
    let signs: Vec<f32> = (0..n * bits)
        .map(|e| {
            if y[(e / bits, e % bits)] > 0.0 {
                1.0
            } else {
                -1.0
            }
        })
        .collect();
    BinaryCodes::from_signs(bits, &signs)
}

/// Reads a JSON field of a model's configuration.
pub(crate) fn config_field<T: serde::de::DeserializeOwned>(
    path: &Path,
    file: &ModelFile,
    key: &str,
) -> Result<T> {
    serde_json::from_value(file.config[key].clone()).map_err(|e| Error::Format {
        path: path.into(),
        reason: format!("model configuration `{key}`: {e}"),
    })
}

/// Checks that a model file records method `expected`.
pub(crate) fn check_method(path: &Path, file: &ModelFile, expected: &str) -> Result<()> {
    if file.method == expected {
        Ok(())
    } else {
        Err(Error::Format {
            path: path.into(),
            reason: format!("model is `{}`, not {expected}", file.method),
        })
    }
}
