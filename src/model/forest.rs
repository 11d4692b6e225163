//! Random forest backend: smartcore's `RandomForestRegressor`, fitted as independently seeded
//! sub-forests of [`FOREST_CHUNK_TREES`] trees (in parallel) and averaged tree-weighted.

use super::{guard, ForestParams, ModelError, Result, FOREST_CHUNK_TREES};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use smartcore::ensemble::random_forest_regressor::{RandomForestRegressor, RandomForestRegressorParameters};
use smartcore::linalg::basic::matrix::DenseMatrix;

type Rf = RandomForestRegressor<f64, f64, DenseMatrix<f64>, Vec<f64>>;

const BACKEND: &str = "smartcore random forest";

/// A fitted forest: `(trees, sub-forest)` pairs.
#[derive(Serialize, Deserialize)]
pub(crate) struct Forest {
    chunks: Vec<(usize, Rf)>,
}

/// SplitMix64 step: a well-mixed seed for sub-forest `chunk` of a forest seeded `seed`.
fn chunk_seed(seed: u64, chunk: u64) -> u64 {
    let mut z = seed.wrapping_add(chunk.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn matrix(cm: &[f64], n: usize, p: usize) -> Result<DenseMatrix<f64>> {
    DenseMatrix::new(n, p, cm.to_vec(), true).map_err(|e| ModelError::Backend { backend: BACKEND, msg: e.to_string() })
}

impl Forest {
    /// Fit on column-major `cm` (`n` rows, `p` columns) and transformed targets `y`.
    pub fn fit(cm: &[f64], n: usize, p: usize, y: &[f64], fp: &ForestParams, seed: u64, parallel: bool) -> Result<Forest> {
        let x = matrix(cm, n, p)?;
        let y = y.to_vec();
        let sizes: Vec<usize> = (0..fp.trees.div_ceil(FOREST_CHUNK_TREES)).map(|c| FOREST_CHUNK_TREES.min(fp.trees - c * FOREST_CHUNK_TREES)).collect();
        let mtry = fp.mtry.resolve(p);
        let fit_chunk = |(c, &trees): (usize, &usize)| -> Result<(usize, Rf)> {
            let mut params = RandomForestRegressorParameters::default()
                .with_n_trees(trees)
                .with_min_samples_leaf(fp.min_samples_leaf)
                .with_min_samples_split(fp.min_samples_split)
                .with_m(mtry)
                .with_seed(chunk_seed(seed, c as u64));
            if let Some(d) = fp.max_depth {
                params = params.with_max_depth(d);
            }
            let rf = guard(BACKEND, || Rf::fit(&x, &y, params).map_err(|e| ModelError::Backend { backend: BACKEND, msg: e.to_string() }))?;
            Ok((trees, rf))
        };
        let chunks = if parallel {
            sizes.par_iter().enumerate().map(fit_chunk).collect::<Result<Vec<_>>>()?
        } else {
            sizes.iter().enumerate().map(fit_chunk).collect::<Result<Vec<_>>>()?
        };
        Ok(Forest { chunks })
    }

    /// Predictions (fitting scale) for column-major `cm` of `n` rows, `p` columns.
    pub fn predict(&self, cm: &[f64], n: usize, p: usize) -> Result<Vec<f64>> {
        let x = matrix(cm, n, p)?;
        let total: usize = self.chunks.iter().map(|c| c.0).sum();
        let mut out = vec![0.0; n];
        for (trees, rf) in &self.chunks {
            let pred = guard(BACKEND, || rf.predict(&x).map_err(|e| ModelError::Backend { backend: BACKEND, msg: e.to_string() }))?;
            if pred.len() != n {
                return Err(ModelError::Backend { backend: BACKEND, msg: format!("{} predictions for {n} rows", pred.len()) });
            }
            let w = *trees as f64 / total as f64;
            for (o, v) in out.iter_mut().zip(pred) {
                *o += w * v;
            }
        }
        Ok(out)
    }

    /// Impurity importances, tree-weighted mean of the sub-forests' (each sums to 1).
    pub fn importances(&self, p: usize) -> Vec<f64> {
        let total: usize = self.chunks.iter().map(|c| c.0).sum();
        let mut out = vec![0.0; p];
        for (trees, rf) in &self.chunks {
            if let Ok(Ok(imp)) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rf.compute_feature_importances())) {
                let w = *trees as f64 / total as f64;
                for (o, v) in out.iter_mut().zip(imp) {
                    *o += w * v;
                }
            }
        }
        out
    }

    /// bincode of the sub-forests.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        bincode::serialize(self).map_err(|e| ModelError::Decode(format!("cannot encode forest: {e}")))
    }

    /// Inverse of [`Forest::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> Result<Forest> {
        let f: Forest = bincode::deserialize(b).map_err(|e| ModelError::Decode(format!("forest: {e}")))?;
        if f.chunks.is_empty() {
            return Err(ModelError::Decode("forest has no trees".into()));
        }
        Ok(f)
    }
}
