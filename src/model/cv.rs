//! Grouped k-fold cross-validation and grid-search tuning.
//!
//! Folds are assigned by group (the host structure): every row of a group lands in the same
//! fold, so a model is never scored on hops of a host it has seen. Assignment
//! ([`group_folds`]): the distinct groups, in key order, are shuffled by a ChaCha8 generator
//! seeded with `seed`, stably sorted by size (largest first), and each is placed in the fold
//! that has the fewest rows so far (lowest fold index on ties). Folds are balanced in rows,
//! deterministic in `seed`, and independent of the order of the rows.
//!
//! [`tune`] scores every point of a [`Grid`] on the same folds, in parallel over
//! (point, fold) pairs, using only the rows it is given (pass the training partition only).

use crate::metrics::mean_std;
use super::{fit_rows, predict_rows, validate, Kind, Labels, ModelError, Params, Result};
use crate::metrics::{self, Metrics};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Default number of folds.
pub const DEFAULT_FOLDS: usize = 5;

/// Fold index (0..k) of each row, grouping rows by `groups` (see the module docs).
/// Errors when k < 2, there are fewer distinct groups than k, or `groups` is empty.
pub fn group_folds<G: AsRef<str>>(groups: &[G], k: usize, seed: u64) -> Result<Vec<usize>> {
    if k < 2 {
        return Err(ModelError::Folds(format!("k must be at least 2, got {k}")));
    }
    if groups.is_empty() {
        return Err(ModelError::EmptyTrainingSet);
    }
    let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
    for g in groups {
        *sizes.entry(g.as_ref()).or_default() += 1;
    }
    if sizes.len() < k {
        return Err(ModelError::Folds(format!("{} distinct groups cannot fill {k} folds", sizes.len())));
    }
    let mut order: Vec<(&str, usize)> = sizes.into_iter().collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    order.sort_by_key(|g| std::cmp::Reverse(g.1));
    let mut load = vec![0usize; k];
    let mut fold_of: BTreeMap<&str, usize> = BTreeMap::new();
    for (g, n) in order {
        let f = (0..k).min_by_key(|&f| (load[f], f)).expect("k >= 2");
        load[f] += n;
        fold_of.insert(g, f);
    }
    Ok(groups.iter().map(|g| fold_of[g.as_ref()]).collect())
}

/// Out-of-fold evaluation of one setting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CvResult {
    /// Number of folds.
    pub k: usize,
    /// MAE (eV) of each fold's held-out rows.
    pub fold_maes: Vec<f64>,
    /// Mean of `fold_maes`.
    pub mean_mae: f64,
    /// Sample standard deviation of `fold_maes`.
    pub std_mae: f64,
    /// Out-of-fold prediction (eV) of every row, in input order.
    pub predictions: Vec<f64>,
    /// Fold of every row.
    pub folds: Vec<usize>,
    /// Metrics of all out-of-fold predictions pooled.
    pub pooled: Metrics,
}


/// Checked data and folds shared by [`cross_validate`] and [`tune`].
struct Prepared {
    p: usize,
    folds: Vec<usize>,
    /// (train rows, test rows) of each fold.
    splits: Vec<(Vec<usize>, Vec<usize>)>,
}

fn prepare(x: &[Vec<f64>], y: &[f64], groups: Option<&[String]>, k: usize, seed: u64, target: super::Target) -> Result<Prepared> {
    let p = validate(x, y, Labels::default(), target)?;
    let folds = match groups {
        Some(g) => {
            if g.len() != x.len() {
                return Err(ModelError::LengthMismatch { what: "groups".into(), got: g.len(), expected: x.len() });
            }
            group_folds(g, k, seed)?
        }
        None => {
            let own: Vec<String> = (0..x.len()).map(|i| i.to_string()).collect();
            group_folds(&own, k, seed)?
        }
    };
    let splits = (0..k)
        .map(|f| {
            let (test, train): (Vec<usize>, Vec<usize>) = (0..x.len()).partition(|&i| folds[i] == f);
            (train, test)
        })
        .collect();
    Ok(Prepared { p, folds, splits })
}

/// Fit on one fold's training rows and predict its held-out rows (eV). `parallel`: let the
/// fit itself use several threads (only worth it when there are fewer jobs than threads).
fn run_fold(x: &[Vec<f64>], y: &[f64], prep: &Prepared, fold: usize, params: &Params, parallel: bool) -> Result<Vec<f64>> {
    let (train, test) = &prep.splits[fold];
    let names: Vec<String> = (0..prep.p).map(super::default_feature_name).collect();
    let model = fit_rows(x, y, Some(train), prep.p, names, params, parallel)?;
    predict_rows(&model, x, Some(test), prep.p)
}

fn fold_mae(y: &[f64], rows: &[usize], pred: &[f64]) -> f64 {
    rows.iter().zip(pred).map(|(&i, p)| (p - y[i]).abs()).sum::<f64>() / rows.len() as f64
}

/// Grouped k-fold cross-validation of `params` on `x`, `y` (folds by `groups`, or one row
/// per group when `None`), in parallel over folds.
pub fn cross_validate(params: &Params, x: &[Vec<f64>], y: &[f64], groups: Option<&[String]>, k: usize, seed: u64) -> Result<CvResult> {
    let prep = prepare(x, y, groups, k, seed, params.target)?;
    let inner = k < rayon::current_num_threads();
    let preds: Vec<Vec<f64>> = (0..k).into_par_iter().map(|f| run_fold(x, y, &prep, f, params, inner)).collect::<Result<_>>()?;
    let mut predictions = vec![0.0; x.len()];
    let mut fold_maes = Vec::with_capacity(k);
    for (f, pred) in preds.iter().enumerate() {
        let test = &prep.splits[f].1;
        for (&i, &v) in test.iter().zip(pred) {
            predictions[i] = v;
        }
        fold_maes.push(fold_mae(y, test, pred));
    }
    let (mean_mae, std_mae) = mean_std(&fold_maes);
    let pooled = metrics::metrics(y, &predictions)?;
    Ok(CvResult { k, fold_maes, mean_mae, std_mae, predictions, folds: prep.folds, pooled })
}

/// A hyperparameter grid: settings shared by every point plus axes whose cartesian product
/// gives the points (first axis varies slowest).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    /// Settings applied to every point.
    pub fixed: BTreeMap<String, String>,
    /// `(key, candidate values)`, in search order.
    pub axes: Vec<(String, Vec<String>)>,
}

impl Grid {
    /// An empty grid (one point: the defaults).
    pub fn new() -> Grid {
        Grid::default()
    }

    /// Add a fixed setting.
    pub fn fixed(mut self, key: &str, value: &str) -> Grid {
        self.fixed.insert(key.to_string(), value.to_string());
        self
    }

    /// Add an axis.
    pub fn axis(mut self, key: &str, values: &[&str]) -> Grid {
        self.axes.push((key.to_string(), values.iter().map(|v| v.to_string()).collect()));
        self
    }

    /// A grid from a string map whose values are comma-separated candidate lists
    /// (`mtry = '0.2,0.33,0.5'`); single values become fixed settings. Axes are in key order.
    pub fn from_map(map: &BTreeMap<String, String>) -> Grid {
        let mut g = Grid::new();
        for (k, v) in map {
            let v = v.trim();
            let v = v.strip_prefix(['\'', '"']).and_then(|s| s.strip_suffix(['\'', '"'])).unwrap_or(v);
            let parts: Vec<&str> = v.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
            if parts.len() > 1 {
                g = g.axis(k, &parts);
            } else {
                g = g.fixed(k, v);
            }
        }
        g
    }

    /// The default search of a kind: what a TUNE explores when given no grid. Sized so that a
    /// 5-fold search on ~560 rows x ~140 features takes under a minute on 2 cores.
    ///
    /// * random forest (300 trees, other settings default): `mtry` in {0.1, 0.15, 0.25, 0.4}
    ///   x `min_samples_leaf` in {1, 2, 4} (12 points);
    /// * boosted trees (500 rounds, other settings default): `max_depth` in {4, 6, 8} x
    ///   `learning_rate` in {0.03, 0.06} x `colsample` in {0.2, 0.4} (12 points);
    /// * mean: the one point.
    pub fn default_for(kind: Kind) -> Grid {
        match kind {
            Kind::RandomForest => Grid::new().fixed("trees", "300").axis("mtry", &["0.1", "0.15", "0.25", "0.4"]).axis("min_samples_leaf", &["1", "2", "4"]),
            Kind::BoostedTrees => Grid::new()
                .fixed("trees", "500")
                .axis("max_depth", &["4", "6", "8"])
                .axis("learning_rate", &["0.03", "0.06"])
                .axis("colsample", &["0.2", "0.4"]),
            Kind::Mean => Grid::new(),
        }
    }

    /// Every point: `fixed` plus one value of each axis.
    pub fn points(&self) -> Vec<BTreeMap<String, String>> {
        let mut pts = vec![self.fixed.clone()];
        for (k, vals) in &self.axes {
            let mut next = Vec::with_capacity(pts.len() * vals.len());
            for p in &pts {
                for v in vals {
                    let mut q = p.clone();
                    q.insert(k.clone(), v.clone());
                    next.push(q);
                }
            }
            pts = next;
        }
        pts
    }
}

/// One grid point's cross-validation score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TuneRow {
    /// The point's settings as given (fixed settings and axis values).
    pub point: BTreeMap<String, String>,
    /// The resolved hyperparameters.
    pub params: Params,
    /// Mean held-out MAE (eV) over the folds.
    pub mean_mae: f64,
    /// Sample standard deviation of the fold MAEs.
    pub std_mae: f64,
    /// Held-out MAE of each fold.
    pub fold_maes: Vec<f64>,
}

/// Result of a grid search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TuneResult {
    /// Model kind searched.
    pub kind: Kind,
    /// Number of folds.
    pub k: usize,
    /// Seed of the fold assignment.
    pub seed: u64,
    /// The best setting (lowest mean CV MAE; the earlier grid point on ties).
    pub best: Params,
    /// Its mean CV MAE (eV).
    pub best_mae: f64,
    /// Every point, best first (ties keep grid order).
    pub table: Vec<TuneRow>,
}

/// Grid search by grouped k-fold cross-validation on `x`, `y` only (pass the training
/// partition; the test partition must not be seen): every point of `grid` (defaults of `kind`
/// overridden by the point) is scored by its mean held-out MAE over the same folds. Runs the
/// (point, fold) fits in parallel with rayon. Every point is parsed before anything is fitted,
/// so a bad grid fails fast.
pub fn tune(kind: Kind, x: &[Vec<f64>], y: &[f64], groups: Option<&[String]>, grid: &Grid, k: usize, seed: u64) -> Result<TuneResult> {
    let points = grid.points();
    let params: Vec<Params> = points.iter().map(|pt| Params::parse(kind, pt)).collect::<Result<_>>()?;
    let needs_log = params.iter().any(|p| p.target == super::Target::Log1p);
    let prep = prepare(x, y, groups, k, seed, if needs_log { super::Target::Log1p } else { super::Target::Identity })?;
    let jobs: Vec<(usize, usize)> = (0..params.len()).flat_map(|i| (0..k).map(move |f| (i, f))).collect();
    let inner = jobs.len() < rayon::current_num_threads();
    let task = crate::progress::start(&format!("TUNE {kind}: {} points x {k} folds", params.len()), jobs.len() as u64);
    let maes: Vec<f64> = jobs
        .par_iter()
        .map(|&(i, f)| {
            let pred = run_fold(x, y, &prep, f, &params[i], inner)?;
            task.inc(1);
            Ok(fold_mae(y, &prep.splits[f].1, &pred))
        })
        .collect::<Result<_>>()?;
    task.finish();
    let mut table: Vec<TuneRow> = points
        .into_iter()
        .zip(params)
        .enumerate()
        .map(|(i, (point, params))| {
            let fold_maes = maes[i * k..(i + 1) * k].to_vec();
            let (mean_mae, std_mae) = mean_std(&fold_maes);
            TuneRow { point, params, mean_mae, std_mae, fold_maes }
        })
        .collect();
    table.sort_by(|a, b| a.mean_mae.total_cmp(&b.mean_mae));
    let best = table[0].params.clone();
    let best_mae = table[0].mean_mae;
    Ok(TuneResult { kind, k, seed, best, best_mae, table })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_keep_groups_and_balance() {
        let groups: Vec<String> = (0..100).map(|i| format!("g{}", i % 17)).collect();
        let f = group_folds(&groups, 5, 9).unwrap();
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (g, &fold) in groups.iter().zip(&f) {
            assert_eq!(*seen.entry(g).or_insert(fold), fold);
        }
        let mut sizes = [0; 5];
        for &x in &f {
            sizes[x] += 1;
        }
        assert!(sizes.iter().all(|&s| (14..=26).contains(&s)), "{sizes:?}");
        assert_eq!(f, group_folds(&groups, 5, 9).unwrap());
        assert!(group_folds(&groups[..3], 5, 1).is_err());
        assert!(group_folds(&groups, 1, 1).is_err());
    }

    #[test]
    fn grid_points() {
        let g = Grid::new().fixed("trees", "10").axis("a", &["1", "2"]).axis("b", &["x", "y", "z"]);
        let pts = g.points();
        assert_eq!(pts.len(), 6);
        assert_eq!(pts[0]["a"], "1");
        assert_eq!(pts[0]["b"], "x");
        assert_eq!(pts[1]["b"], "y");
        assert!(pts.iter().all(|p| p["trees"] == "10"));
        let m: BTreeMap<String, String> = [("mtry".to_string(), "'0.2, 0.5'".to_string()), ("trees".to_string(), "50".to_string())].into_iter().collect();
        let g = Grid::from_map(&m);
        assert_eq!(g.axes, vec![("mtry".to_string(), vec!["0.2".to_string(), "0.5".to_string()])]);
        assert_eq!(g.fixed["trees"], "50");
    }
}
