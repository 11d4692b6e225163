//! Gradient-boosting backend: forust-ml's `GradientBooster` with squared loss.

use super::{guard, BoostParams, ModelError, Result};
use forust_ml::gradientbooster::ImportanceMethod;
use forust_ml::objective::ObjectiveType;
use forust_ml::sampler::SampleMethod;
use forust_ml::{GradientBooster, Matrix};

const BACKEND: &str = "forust-ml gradient boosting";

fn backend(e: impl std::fmt::Display) -> ModelError {
    ModelError::Backend { backend: BACKEND, msg: e.to_string() }
}

/// A fitted booster.
pub(crate) struct Booster {
    inner: GradientBooster,
}

impl Booster {
    /// Fit on column-major `cm` (`n` rows, `p` columns) and transformed targets `y`.
    pub fn fit(cm: &[f64], n: usize, p: usize, y: &[f64], bp: &BoostParams, seed: u64, parallel: bool) -> Result<Booster> {
        let sample = if bp.subsample < 1.0 { SampleMethod::Random } else { SampleMethod::None };
        // forust-ml keeps floor(p * colsample) columns per tree: never let that reach 0.
        let colsample = if (p as f64 * bp.colsample).floor() < 1.0 { (1.5 / p as f64).min(1.0) } else { bp.colsample };
        let mut gb = GradientBooster::default()
            .set_objective_type(ObjectiveType::SquaredLoss)
            .set_iterations(bp.trees)
            .set_learning_rate(bp.learning_rate as f32)
            .set_max_depth(bp.max_depth)
            .set_min_leaf_weight(bp.min_leaf_weight as f32)
            .set_l2(bp.l2 as f32)
            .set_gamma(bp.gamma as f32)
            .set_subsample(bp.subsample as f32)
            .set_sample_method(sample)
            .set_colsample_bytree(colsample)
            .set_nbins(bp.nbins)
            .set_seed(seed)
            .set_parallel(parallel)
            .set_initialize_base_score(true);
        guard(BACKEND, || {
            let data = Matrix::new(cm, n, p);
            gb.fit_unweighted(&data, y, None).map_err(backend)
        })?;
        Ok(Booster { inner: gb })
    }

    /// Predictions (fitting scale) for column-major `cm` of `n` rows, `p` columns.
    pub fn predict(&self, cm: &[f64], n: usize, p: usize) -> Vec<f64> {
        let data = Matrix::new(cm, n, p);
        self.inner.predict(&data, self.inner.parallel)
    }

    /// Total-gain importances, normalised to sum to 1 (0 for features never split on).
    pub fn importances(&self, p: usize) -> Vec<f64> {
        let mut out = vec![0.0; p];
        for (j, v) in self.inner.calculate_feature_importance(ImportanceMethod::TotalGain, true) {
            if j < p && v.is_finite() {
                out[j] = v as f64;
            }
        }
        out
    }

    /// forust-ml's JSON dump of the booster.
    pub fn to_json(&self) -> Result<String> {
        self.inner.json_dump().map_err(|e| ModelError::Decode(format!("cannot encode booster: {e}")))
    }

    /// Inverse of [`Booster::to_json`].
    pub fn from_json(s: &str) -> Result<Booster> {
        let inner = guard(BACKEND, || GradientBooster::from_json(s).map_err(|e| ModelError::Decode(format!("booster: {e}"))))?;
        Ok(Booster { inner })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn parallel_and_serial_fits_agree() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for (n, p, depth) in [(400, 30, 4), (600, 80, 6)] {
            let cm: Vec<f64> = (0..n * p).map(|_| rng.gen_range(0.0..1.0)).collect();
            let y: Vec<f64> = (0..n).map(|i| (cm[i] * 6.0).sin() + cm[n + i] * cm[2 * n + i]).collect();
            let bp = BoostParams { max_depth: depth, colsample: 0.3, trees: 100, ..BoostParams::default() };
            let a = Booster::fit(&cm, n, p, &y, &bp, 3, true).unwrap().predict(&cm, n, p);
            let b = Booster::fit(&cm, n, p, &y, &bp, 3, false).unwrap().predict(&cm, n, p);
            let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
            assert_eq!(diff, 0.0, "n {n}, p {p}, depth {depth}");
        }
    }
}
