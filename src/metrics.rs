//! Metrics for barrier predictions: regression errors, good/bad-conductor classification at a
//! barrier threshold, bootstrap standard errors and per-group error breakdowns.
//!
//! Every function takes the true and predicted barriers (eV) as two slices of equal length
//! and returns an [`EvalError`] for empty, mismatched or non-finite input instead of
//! panicking.
//!
//! # Classification convention
//!
//! A hop is a *good conductor* when its barrier is **strictly below** the threshold
//! ([`DEFAULT_THRESHOLD`] = 0.65 eV) and a *bad conductor* otherwise. "Positive" means good
//! conductor. The confusion matrix is `[[tp, fn], [fp, tn]]`: rows are the **true** class
//! (good, bad), columns the **predicted** class (good, bad):
//!
//! |              | predicted good | predicted bad |
//! |--------------|----------------|---------------|
//! | **true good** | `tp` = `confusion[0][0]` | `fn` = `confusion[0][1]` |
//! | **true bad**  | `fp` = `confusion[1][0]` | `tn` = `confusion[1][1]` |
//!
//! A precision or recall whose denominator is zero (no hop predicted / truly in that class)
//! is reported as 0.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Default good/bad conductor threshold on the barrier (eV): good when Em < 0.65 eV.
pub const DEFAULT_THRESHOLD: f64 = 0.65;

/// Default number of bootstrap resamples (as in the paper).
pub const DEFAULT_RESAMPLES: usize = 1000;

/// Errors of metric computation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// No values to evaluate.
    #[error("no values to evaluate")]
    Empty,
    /// The true and predicted vectors (or the keys) differ in length.
    #[error("length mismatch: {what} has {got} values, expected {expected}")]
    LengthMismatch {
        /// Which input is off.
        what: &'static str,
        /// Its length.
        got: usize,
        /// The expected length.
        expected: usize,
    },
    /// A value is NaN or infinite.
    #[error("{what}[{index}] is not finite ({value})")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// Position of the value.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A bad argument (threshold, resample count).
    #[error("{0}")]
    Invalid(String),
}

/// Result alias for metric computation.
pub type Result<T> = std::result::Result<T, EvalError>;

/// Regression errors of a set of predictions (eV unless the inputs are in other units).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Number of values.
    pub n: usize,
    /// Mean absolute error.
    pub mae: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// Coefficient of determination `1 - SS_res / SS_tot`. When the true values are all
    /// equal (`SS_tot = 0`) it is 1 for perfect predictions and 0 otherwise (scikit-learn's
    /// convention), so it is always finite.
    pub r2: f64,
    /// Largest absolute error.
    pub max_error: f64,
}

/// Good/bad conductor classification quality at a threshold (see the module docs for the
/// orientation of the confusion matrix).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    /// Threshold (eV): good conductor when Em < threshold.
    pub threshold: f64,
    /// Number of hops.
    pub n: usize,
    /// Fraction classified correctly.
    pub accuracy: f64,
    /// Of hops predicted good, the fraction truly good: `tp / (tp + fp)`.
    pub precision_good: f64,
    /// Of truly good hops, the fraction predicted good: `tp / (tp + fn)`.
    pub recall_good: f64,
    /// Of hops predicted bad, the fraction truly bad: `tn / (tn + fn)`.
    pub precision_bad: f64,
    /// Of truly bad hops, the fraction predicted bad: `tn / (tn + fp)`.
    pub recall_bad: f64,
    /// `[[tp, fn], [fp, tn]]`: rows true (good, bad), columns predicted (good, bad).
    pub confusion: [[usize; 2]; 2],
}

/// Bootstrap standard errors of the test-set statistics (sample standard deviation over the
/// resamples, `n - 1` denominator).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BootstrapErrors {
    /// Number of resamples drawn.
    pub n_resamples: usize,
    /// Seed of the resampling generator (ChaCha8).
    pub seed: u64,
    /// Threshold used for the accuracy (eV).
    pub threshold: f64,
    /// Standard error of the MAE.
    pub mae: f64,
    /// Standard error of the RMSE.
    pub rmse: f64,
    /// Standard error of R^2.
    pub r2: f64,
    /// Standard error of the classification accuracy at `threshold`.
    pub accuracy: f64,
}

fn check(y_true: &[f64], y_pred: &[f64]) -> Result<()> {
    if y_pred.len() != y_true.len() {
        return Err(EvalError::LengthMismatch { what: "y_pred", got: y_pred.len(), expected: y_true.len() });
    }
    if y_true.is_empty() {
        return Err(EvalError::Empty);
    }
    for (what, v) in [("y_true", y_true), ("y_pred", y_pred)] {
        if let Some((index, &value)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(EvalError::NonFinite { what, index, value });
        }
    }
    Ok(())
}

/// Metrics over the positions `idx` (already checked input).
fn metrics_at(y_true: &[f64], y_pred: &[f64], idx: impl Iterator<Item = usize> + Clone) -> Metrics {
    let n = idx.clone().count();
    let nf = n as f64;
    let mean = idx.clone().map(|i| y_true[i]).sum::<f64>() / nf;
    let (mut abs, mut sq, mut tot, mut max) = (0.0, 0.0, 0.0, 0.0f64);
    for i in idx {
        let e = y_pred[i] - y_true[i];
        abs += e.abs();
        sq += e * e;
        tot += (y_true[i] - mean) * (y_true[i] - mean);
        max = max.max(e.abs());
    }
    let r2 = if tot > 0.0 {
        1.0 - sq / tot
    } else if sq == 0.0 {
        1.0
    } else {
        0.0
    };
    Metrics { n, mae: abs / nf, rmse: (sq / nf).sqrt(), r2, max_error: max }
}

/// MAE, RMSE, R^2 and the largest absolute error of `y_pred` against `y_true`.
pub fn metrics(y_true: &[f64], y_pred: &[f64]) -> Result<Metrics> {
    check(y_true, y_pred)?;
    Ok(metrics_at(y_true, y_pred, 0..y_true.len()))
}

fn check_threshold(threshold: f64) -> Result<()> {
    if !threshold.is_finite() {
        return Err(EvalError::Invalid(format!("threshold must be finite, got {threshold}")));
    }
    Ok(())
}

fn confusion_at(y_true: &[f64], y_pred: &[f64], threshold: f64, idx: impl Iterator<Item = usize>) -> [[usize; 2]; 2] {
    let mut c = [[0usize; 2]; 2];
    for i in idx {
        let t = usize::from(y_true[i] >= threshold); // 0 = good, 1 = bad
        let p = usize::from(y_pred[i] >= threshold);
        c[t][p] += 1;
    }
    c
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Good/bad conductor classification at `threshold` (eV; good when Em < threshold), e.g.
/// [`DEFAULT_THRESHOLD`].
pub fn classify(y_true: &[f64], y_pred: &[f64], threshold: f64) -> Result<Classification> {
    check(y_true, y_pred)?;
    check_threshold(threshold)?;
    let c = confusion_at(y_true, y_pred, threshold, 0..y_true.len());
    let [[tp, fn_], [fp, tn]] = c;
    Ok(Classification {
        threshold,
        n: y_true.len(),
        accuracy: ratio(tp + tn, y_true.len()),
        precision_good: ratio(tp, tp + fp),
        recall_good: ratio(tp, tp + fn_),
        precision_bad: ratio(tn, tn + fn_),
        recall_bad: ratio(tn, tn + fp),
        confusion: c,
    })
}

// ---------------------------------------------------------------------------------------
// Summary statistics (the one copy: metrics, cross-validation, benchmarks and reports use these)
// ---------------------------------------------------------------------------------------

/// Arithmetic mean (NaN when empty).
pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Sample standard deviation (`n - 1` denominator); 0 for fewer than two values.
pub fn sample_std(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return 0.0;
    }
    let m = mean(v);
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

/// Mean and sample standard deviation ([`mean`], [`sample_std`]).
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    (mean(v), sample_std(v))
}

/// Median (the mean of the middle two for an even count; NaN when empty).
pub fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Bootstrap standard errors of MAE, RMSE, R^2 and accuracy (at [`DEFAULT_THRESHOLD`]):
/// `n_resamples` resamples of the test size drawn with replacement by a ChaCha8 generator
/// seeded with `seed` (same inputs and seed, same result). [`DEFAULT_RESAMPLES`] is the usual
/// count.
pub fn bootstrap(y_true: &[f64], y_pred: &[f64], n_resamples: usize, seed: u64) -> Result<BootstrapErrors> {
    bootstrap_at(y_true, y_pred, n_resamples, seed, DEFAULT_THRESHOLD)
}

/// [`bootstrap`] with the accuracy taken at `threshold` (eV).
pub fn bootstrap_at(y_true: &[f64], y_pred: &[f64], n_resamples: usize, seed: u64, threshold: f64) -> Result<BootstrapErrors> {
    check(y_true, y_pred)?;
    check_threshold(threshold)?;
    if n_resamples == 0 {
        return Err(EvalError::Invalid("the bootstrap needs at least one resample".into()));
    }
    let n = y_true.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut idx = vec![0usize; n];
    let (mut mae, mut rmse, mut r2, mut acc) =
        (Vec::with_capacity(n_resamples), Vec::with_capacity(n_resamples), Vec::with_capacity(n_resamples), Vec::with_capacity(n_resamples));
    for _ in 0..n_resamples {
        for slot in idx.iter_mut() {
            *slot = rng.gen_range(0..n);
        }
        let m = metrics_at(y_true, y_pred, idx.iter().copied());
        let c = confusion_at(y_true, y_pred, threshold, idx.iter().copied());
        mae.push(m.mae);
        rmse.push(m.rmse);
        r2.push(m.r2);
        acc.push(ratio(c[0][0] + c[1][1], n));
    }
    Ok(BootstrapErrors {
        n_resamples,
        seed,
        threshold,
        mae: sample_std(&mae),
        rmse: sample_std(&rmse),
        r2: sample_std(&r2),
        accuracy: sample_std(&acc),
    })
}

/// Errors broken down by a key per value (e.g. structural group or ion): one
/// `(key, n, mae)` per distinct key, in key order.
pub fn errors_by<K: AsRef<str>>(keys: &[K], y_true: &[f64], y_pred: &[f64]) -> Result<Vec<(String, usize, f64)>> {
    check(y_true, y_pred)?;
    if keys.len() != y_true.len() {
        return Err(EvalError::LengthMismatch { what: "keys", got: keys.len(), expected: y_true.len() });
    }
    let mut acc: BTreeMap<&str, (usize, f64)> = BTreeMap::new();
    for (i, k) in keys.iter().enumerate() {
        let e = acc.entry(k.as_ref()).or_default();
        e.0 += 1;
        e.1 += (y_pred[i] - y_true[i]).abs();
    }
    Ok(acc.into_iter().map(|(k, (n, s))| (k.to_string(), n, s / n as f64)).collect())
}

/// Pearson correlation (NaN when fewer than two points or a constant series).
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    if n < 2 {
        return f64::NAN;
    }
    let mx = x[..n].iter().sum::<f64>() / n as f64;
    let my = y[..n].iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for k in 0..n {
        let (dx, dy) = (x[k] - mx, y[k] - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    sxy / (sxx * syy).sqrt()
}

/// Ranks 1..n, ties given their average rank.
pub fn ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut k = 0;
    while k < idx.len() {
        let mut j = k;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[k]] {
            j += 1;
        }
        let avg = (k + j) as f64 / 2.0 + 1.0;
        for &t in &idx[k..=j] {
            r[t] = avg;
        }
        k = j + 1;
    }
    r
}

/// Spearman rank correlation: Pearson of the ranks.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&ranks(x), &ranks(y))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn regression_metrics_by_hand() {
        // errors: +0.1, -0.2, +0.3, 0.0
        let t = [0.2, 0.5, 1.0, 1.5];
        let p = [0.3, 0.3, 1.3, 1.5];
        let m = metrics(&t, &p).unwrap();
        assert_eq!(m.n, 4);
        assert!(close(m.mae, 0.6 / 4.0));
        // squares: 0.01 + 0.04 + 0.09 + 0 = 0.14
        assert!(close(m.rmse, (0.14f64 / 4.0).sqrt()));
        // mean 0.8; SS_tot = 0.36 + 0.09 + 0.04 + 0.49 = 0.98
        assert!(close(m.r2, 1.0 - 0.14 / 0.98));
        assert!(close(m.max_error, 0.3));
    }

    #[test]
    fn constant_truth_r2_convention() {
        assert_eq!(metrics(&[1.0, 1.0], &[1.0, 1.0]).unwrap().r2, 1.0);
        assert_eq!(metrics(&[1.0, 1.0], &[1.0, 2.0]).unwrap().r2, 0.0);
    }

    #[test]
    fn classification_by_hand() {
        // true:  good good good bad  bad  bad  (threshold 0.65; 0.65 itself is bad)
        // pred:  good bad  good good bad  bad
        let t = [0.1, 0.5, 0.64, 0.65, 1.0, 2.0];
        let p = [0.2, 0.9, 0.30, 0.60, 0.7, 0.66];
        let c = classify(&t, &p, DEFAULT_THRESHOLD).unwrap();
        assert_eq!(c.confusion, [[2, 1], [1, 2]]);
        assert!(close(c.accuracy, 4.0 / 6.0));
        assert!(close(c.precision_good, 2.0 / 3.0));
        assert!(close(c.recall_good, 2.0 / 3.0));
        assert!(close(c.precision_bad, 2.0 / 3.0));
        assert!(close(c.recall_bad, 2.0 / 3.0));
        // No predicted good at all: precision_good is 0 by convention.
        let c = classify(&[0.1, 1.0], &[1.0, 1.0], 0.65).unwrap();
        assert_eq!(c.confusion, [[0, 1], [0, 1]]);
        assert_eq!(c.precision_good, 0.0);
        assert_eq!(c.recall_bad, 1.0);
        assert!(close(c.precision_bad, 0.5));
    }

    #[test]
    fn bootstrap_is_seeded_and_sane() {
        let t: Vec<f64> = (0..40).map(|i| i as f64 * 0.05).collect();
        let p: Vec<f64> = t.iter().enumerate().map(|(i, x)| x + if i % 2 == 0 { 0.1 } else { -0.15 }).collect();
        let a = bootstrap(&t, &p, 200, 3).unwrap();
        let b = bootstrap(&t, &p, 200, 3).unwrap();
        let c = bootstrap(&t, &p, 200, 4).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.mae > 0.0 && a.mae < 0.05);
        // Constant error: every resample has the same MAE.
        let q: Vec<f64> = t.iter().map(|x| x + 0.2).collect();
        assert!(bootstrap(&t, &q, 50, 1).unwrap().mae < 1e-12);
    }

    #[test]
    fn grouped_errors() {
        let keys = ["b", "a", "b", "a", "c"];
        let t = [1.0, 1.0, 1.0, 1.0, 1.0];
        let p = [1.5, 0.9, 1.1, 1.3, 1.0];
        let e = errors_by(&keys, &t, &p).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!((e[0].0.as_str(), e[0].1), ("a", 2));
        assert!(close(e[0].2, 0.2));
        assert!(close(e[1].2, 0.3));
        assert!(close(e[2].2, 0.0));
    }

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(metrics(&[], &[]), Err(EvalError::Empty));
        assert!(matches!(metrics(&[1.0], &[1.0, 2.0]), Err(EvalError::LengthMismatch { .. })));
        assert!(matches!(metrics(&[1.0, f64::NAN], &[1.0, 2.0]), Err(EvalError::NonFinite { what: "y_true", index: 1, .. })));
        assert!(matches!(classify(&[1.0], &[1.0], f64::NAN), Err(EvalError::Invalid(_))));
        assert!(matches!(bootstrap(&[1.0], &[1.0], 0, 1), Err(EvalError::Invalid(_))));
        assert!(matches!(errors_by(&["a"], &[1.0, 2.0], &[1.0, 2.0]), Err(EvalError::LengthMismatch { what: "keys", .. })));
    }
}
