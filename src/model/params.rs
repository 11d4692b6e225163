//! Hyperparameters: typed per-kind settings, their defaults, and parsing from / printing to
//! string maps (`trees=500, mtry=0.33, target='log1p', ...`).

use super::{Kind, ModelError, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Transform applied to the target before fitting; predictions are mapped back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    /// Fit Em as is.
    Identity,
    /// Fit `ln(1 + Em)` and predict `exp(p) - 1`. Barriers are positive and right-skewed
    /// (0.0035 to 8.8 eV); the log compresses the few very high barriers so they do not
    /// dominate the squared-error splits. The back-transformed prediction estimates the
    /// conditional *median* rather than the mean (no bias correction is applied), which is
    /// what a mean-absolute-error metric rewards. Needs every target > -1.
    Log1p,
}

impl Target {
    /// Name used in parameter maps: `identity` or `log1p`.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Identity => "identity",
            Target::Log1p => "log1p",
        }
    }

    /// Parse `identity` (also `none`) or `log1p` (also `log`), case-insensitively.
    pub fn parse(s: &str) -> Option<Target> {
        match s.trim().to_ascii_lowercase().as_str() {
            "identity" | "none" | "id" => Some(Target::Identity),
            "log1p" | "log" => Some(Target::Log1p),
            _ => None,
        }
    }

    /// Map a target value to the fitting scale.
    pub fn forward(self, y: f64) -> f64 {
        match self {
            Target::Identity => y,
            Target::Log1p => y.ln_1p(),
        }
    }

    /// Map a prediction on the fitting scale back to Em.
    pub fn inverse(self, p: f64) -> f64 {
        match self {
            Target::Identity => p,
            Target::Log1p => p.exp_m1(),
        }
    }
}

/// Number of features tried at each random-forest split.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Mtry {
    /// A fraction of the features, in (0, 1], rounded to the nearest count (at least 1).
    Fraction(f64),
    /// A fixed count (capped at the number of features).
    Count(usize),
    /// `floor(sqrt(p))` (smartcore's default).
    Sqrt,
}

impl Mtry {
    /// The count for `p` features (1 ..= p).
    pub fn resolve(self, p: usize) -> usize {
        let m = match self {
            Mtry::Fraction(f) => (f * p as f64).round() as usize,
            Mtry::Count(c) => c,
            Mtry::Sqrt => (p as f64).sqrt().floor() as usize,
        };
        m.clamp(1, p.max(1))
    }
}

impl fmt::Display for Mtry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mtry::Fraction(x) => f.write_str(&fmt_fraction(*x)),
            Mtry::Count(c) => write!(f, "{c}"),
            Mtry::Sqrt => f.write_str("sqrt"),
        }
    }
}

/// Random-forest settings (smartcore `RandomForestRegressor`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForestParams {
    /// Number of trees (`trees`).
    pub trees: usize,
    /// Maximum tree depth (`max_depth`; `none` = unlimited).
    pub max_depth: Option<u16>,
    /// Minimum rows in a leaf (`min_samples_leaf`).
    pub min_samples_leaf: usize,
    /// Minimum rows to split a node (`min_samples_split`).
    pub min_samples_split: usize,
    /// Features tried per split (`mtry`).
    pub mtry: Mtry,
}

impl Default for ForestParams {
    /// 500 trees, unlimited depth, leaves of >= 1 row, `mtry` 0.15: the best region of a
    /// grouped 5-fold CV search on the devi2025 training partition (`hop-v1` descriptors;
    /// `mtry` 0.1 to 0.2 and leaves of 1 to 2 rows are within 0.003 eV of each other, larger
    /// `mtry` is slightly worse).
    fn default() -> Self {
        ForestParams { trees: 500, max_depth: None, min_samples_leaf: 1, min_samples_split: 2, mtry: Mtry::Fraction(0.15) }
    }
}

/// Gradient-boosting settings (forust-ml `GradientBooster`, squared loss).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoostParams {
    /// Boosting rounds (`trees`).
    pub trees: usize,
    /// Shrinkage of each tree (`learning_rate`).
    pub learning_rate: f64,
    /// Maximum tree depth (`max_depth`).
    pub max_depth: usize,
    /// Minimum hessian sum in a leaf; with squared loss, the minimum rows (`min_leaf_weight`).
    pub min_leaf_weight: f64,
    /// Fraction of rows sampled for each tree (`subsample`; 1 = no sampling).
    pub subsample: f64,
    /// Fraction of features sampled for each tree (`colsample`; at least one feature).
    pub colsample: f64,
    /// L2 penalty on leaf weights (`l2`).
    pub l2: f64,
    /// Minimum loss reduction to split (`gamma`).
    pub gamma: f64,
    /// Histogram bins per feature (`nbins`).
    pub nbins: u16,
}

impl Default for BoostParams {
    /// 500 rounds at learning rate 0.03, depth 6, leaves of >= 3 rows, 80 % of the rows and
    /// 20 % of the features per tree, L2 1, 32 bins: the best region of a grouped 5-fold CV
    /// search on the devi2025 training partition (`hop-v1` descriptors). The CV error is flat
    /// from 400 to 1000 rounds; 32 bins scored as well as 256 and fit about 3x faster.
    fn default() -> Self {
        BoostParams { trees: 500, learning_rate: 0.03, max_depth: 6, min_leaf_weight: 3.0, subsample: 0.8, colsample: 0.2, l2: 1.0, gamma: 0.0, nbins: 32 }
    }
}

/// Settings of one model kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Algo {
    /// Random forest.
    RandomForest(ForestParams),
    /// Gradient-boosted trees.
    BoostedTrees(BoostParams),
    /// Training-mean baseline (no settings).
    Mean,
}

/// Complete hyperparameters of a model: kind-specific settings, target transform and seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Target transform (`target`).
    pub target: Target,
    /// Seed of every random choice (`seed`).
    pub seed: u64,
    /// Kind-specific settings.
    pub algo: Algo,
}

/// Default seed.
pub const DEFAULT_SEED: u64 = 42;

/// Keys accepted for every kind.
const COMMON_KEYS: &[&str] = &["target", "seed"];
/// Random-forest keys (canonical names; aliases in [`canonical_key`]).
const FOREST_KEYS: &[&str] = &["trees", "max_depth", "min_samples_leaf", "min_samples_split", "mtry"];
/// Boosting keys.
const BOOST_KEYS: &[&str] = &["trees", "learning_rate", "max_depth", "min_leaf_weight", "subsample", "colsample", "l2", "gamma", "nbins"];

/// Canonical name of a key or alias (lower-cased).
fn canonical_key(kind: Kind, key: &str) -> String {
    let k = key.trim().to_ascii_lowercase();
    let c = match (kind, k.as_str()) {
        (_, "n_trees" | "n_estimators" | "iterations" | "num_trees") => "trees",
        (Kind::RandomForest, "max_features" | "m") => "mtry",
        (Kind::BoostedTrees, "eta" | "lr") => "learning_rate",
        (Kind::BoostedTrees, "min_child_weight") => "min_leaf_weight",
        (Kind::BoostedTrees, "colsample_bytree") => "colsample",
        (Kind::BoostedTrees, "lambda" | "reg_lambda") => "l2",
        (Kind::BoostedTrees, "max_bin" | "max_bins") => "nbins",
        _ => return k,
    };
    c.to_string()
}

/// Strip surrounding whitespace and one pair of matching quotes.
fn unquote(v: &str) -> &str {
    let v = v.trim();
    for q in ['\'', '"'] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return v[1..v.len() - 1].trim();
        }
    }
    v
}

/// A fraction printed so that it always reads back as a fraction (`1.0`, not `1`).
fn fmt_fraction(x: f64) -> String {
    let s = format!("{x}");
    if s.contains(['.', 'e', 'E']) || !x.is_finite() {
        s
    } else {
        format!("{s}.0")
    }
}

fn bad(key: &str, value: &str, msg: impl Into<String>) -> ModelError {
    ModelError::BadParam { key: key.to_string(), value: value.to_string(), msg: msg.into() }
}

fn parse_int<T: std::str::FromStr + PartialOrd + fmt::Display + Copy>(key: &str, v: &str, min: T, max: T) -> Result<T> {
    let x: T = v.parse().map_err(|_| bad(key, v, "expected a whole number"))?;
    if x < min || x > max {
        return Err(bad(key, v, format!("must be between {min} and {max}")));
    }
    Ok(x)
}

/// Parse a float in `[min, max]` (or `(min, max]` when `open_min`).
fn parse_float(key: &str, v: &str, min: f64, max: f64, open_min: bool) -> Result<f64> {
    let x: f64 = v.parse().map_err(|_| bad(key, v, "expected a number"))?;
    let low_ok = if open_min { x > min } else { x >= min };
    if !x.is_finite() || !low_ok || x > max {
        let lo = if open_min { "(" } else { "[" };
        let hi = if max.is_infinite() { "inf)".to_string() } else { format!("{max}]") };
        return Err(bad(key, v, format!("must be in {lo}{min}, {hi}")));
    }
    Ok(x)
}

fn parse_mtry(v: &str) -> Result<Mtry> {
    let l = v.to_ascii_lowercase();
    match l.as_str() {
        "sqrt" => return Ok(Mtry::Sqrt),
        "all" => return Ok(Mtry::Fraction(1.0)),
        _ => {}
    }
    if l.contains(['.', 'e']) {
        Ok(Mtry::Fraction(parse_float("mtry", v, 0.0, 1.0, true)?))
    } else {
        Ok(Mtry::Count(parse_int("mtry", v, 1usize, 1_000_000)?))
    }
}

impl Params {
    /// The default settings of a kind (target `log1p` for the tree models, `identity` for the
    /// mean baseline; seed [`DEFAULT_SEED`]).
    pub fn default_for(kind: Kind) -> Params {
        match kind {
            Kind::RandomForest => Params { target: Target::Log1p, seed: DEFAULT_SEED, algo: Algo::RandomForest(ForestParams::default()) },
            Kind::BoostedTrees => Params { target: Target::Log1p, seed: DEFAULT_SEED, algo: Algo::BoostedTrees(BoostParams::default()) },
            Kind::Mean => Params { target: Target::Identity, seed: DEFAULT_SEED, algo: Algo::Mean },
        }
    }

    /// The model kind these settings are for.
    pub fn kind(&self) -> Kind {
        match self.algo {
            Algo::RandomForest(_) => Kind::RandomForest,
            Algo::BoostedTrees(_) => Kind::BoostedTrees,
            Algo::Mean => Kind::Mean,
        }
    }

    /// Keys accepted for `kind` (canonical names).
    pub fn keys(kind: Kind) -> Vec<&'static str> {
        let own: &[&str] = match kind {
            Kind::RandomForest => FOREST_KEYS,
            Kind::BoostedTrees => BOOST_KEYS,
            Kind::Mean => &[],
        };
        own.iter().chain(COMMON_KEYS).copied().collect()
    }

    /// Parse settings for `kind` from a string map, starting from [`Params::default_for`].
    ///
    /// Keys are case-insensitive, with common aliases (`n_estimators`/`n_trees` for `trees`,
    /// `max_features` for `mtry`, `eta` for `learning_rate`, `colsample_bytree`, `lambda`,
    /// `min_child_weight`, `max_bin`). Values may be quoted (`target='log1p'`). A `kind` key is
    /// accepted when it names `kind`. Values:
    ///
    /// * `mtry`: a fraction with a decimal point (`0.33`, `1.0`), a count (`12`), `sqrt` or
    ///   `all`;
    /// * random-forest `max_depth`: a depth >= 1 or `none`;
    /// * `target`: `identity` or `log1p`; `seed`: an unsigned 64-bit integer.
    ///
    /// Unknown keys and out-of-range values are errors naming the key and value.
    pub fn parse(kind: Kind, map: &BTreeMap<String, String>) -> Result<Params> {
        let mut p = Params::default_for(kind);
        for (key, raw) in map {
            p.set(key, raw)?;
        }
        Ok(p)
    }

    /// Change one setting (same keys and values as [`Params::parse`]).
    pub fn set(&mut self, key: &str, raw: &str) -> Result<()> {
        let kind = self.kind();
        let k = canonical_key(kind, key);
        let v = unquote(raw);
        match k.as_str() {
            "kind" => {
                return match Kind::parse(v) {
                    Some(k2) if k2 == kind => Ok(()),
                    _ => Err(bad("kind", v, format!("these settings are for {kind}"))),
                };
            }
            "target" => {
                self.target = Target::parse(v).ok_or_else(|| bad("target", v, "expected 'identity' or 'log1p'"))?;
                return Ok(());
            }
            "seed" => {
                self.seed = v.parse().map_err(|_| bad("seed", v, "expected an unsigned 64-bit integer"))?;
                return Ok(());
            }
            _ => {}
        }
        let unknown = || ModelError::UnknownParam { kind, key: key.to_string(), known: Params::keys(kind).join(", ") };
        match &mut self.algo {
            Algo::RandomForest(f) => match k.as_str() {
                "trees" => f.trees = parse_int("trees", v, 1, 100_000)?,
                "max_depth" => {
                    f.max_depth = match v.to_ascii_lowercase().as_str() {
                        "none" | "unlimited" => None,
                        _ => Some(parse_int("max_depth", v, 1u16, u16::MAX)?),
                    }
                }
                "min_samples_leaf" => f.min_samples_leaf = parse_int("min_samples_leaf", v, 1, 1_000_000)?,
                "min_samples_split" => f.min_samples_split = parse_int("min_samples_split", v, 2, 1_000_000)?,
                "mtry" => f.mtry = parse_mtry(v)?,
                _ => return Err(unknown()),
            },
            Algo::BoostedTrees(b) => match k.as_str() {
                "trees" => b.trees = parse_int("trees", v, 1, 100_000)?,
                "learning_rate" => b.learning_rate = parse_float("learning_rate", v, 0.0, 1.0, true)?,
                "max_depth" => b.max_depth = parse_int("max_depth", v, 1, 30)?,
                "min_leaf_weight" => b.min_leaf_weight = parse_float("min_leaf_weight", v, 0.0, 1e9, false)?,
                "subsample" => b.subsample = parse_float("subsample", v, 0.0, 1.0, true)?,
                "colsample" => b.colsample = parse_float("colsample", v, 0.0, 1.0, true)?,
                "l2" => b.l2 = parse_float("l2", v, 0.0, f64::INFINITY, false)?,
                "gamma" => b.gamma = parse_float("gamma", v, 0.0, f64::INFINITY, false)?,
                "nbins" => b.nbins = parse_int("nbins", v, 2u16, 1024)?,
                _ => return Err(unknown()),
            },
            Algo::Mean => return Err(unknown()),
        }
        Ok(())
    }

    /// Every setting as a canonical string map; `Params::parse(kind, &p.to_map())` gives `p`
    /// back exactly. The kind itself is not included.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            m.insert(k.to_string(), v);
        };
        put("target", self.target.as_str().to_string());
        put("seed", self.seed.to_string());
        match &self.algo {
            Algo::RandomForest(f) => {
                put("trees", f.trees.to_string());
                put("max_depth", f.max_depth.map_or("none".to_string(), |d| d.to_string()));
                put("min_samples_leaf", f.min_samples_leaf.to_string());
                put("min_samples_split", f.min_samples_split.to_string());
                put("mtry", f.mtry.to_string());
            }
            Algo::BoostedTrees(b) => {
                put("trees", b.trees.to_string());
                put("learning_rate", format!("{}", b.learning_rate));
                put("max_depth", b.max_depth.to_string());
                put("min_leaf_weight", format!("{}", b.min_leaf_weight));
                put("subsample", format!("{}", b.subsample));
                put("colsample", format!("{}", b.colsample));
                put("l2", format!("{}", b.l2));
                put("gamma", format!("{}", b.gamma));
                put("nbins", b.nbins.to_string());
            }
            Algo::Mean => {}
        }
        m
    }
}

impl fmt::Display for Params {
    /// `kind(key=value, ...)` in key order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body: Vec<String> = self.to_map().into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        write!(f, "{}({})", self.kind(), body.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn parse_and_round_trip() {
        let p = Params::parse(
            Kind::RandomForest,
            &map(&[("trees", "300"), ("max_depth", "12"), ("min_samples_leaf", "2"), ("mtry", "0.33"), ("target", "'log1p'"), ("seed", "7")]),
        )
        .unwrap();
        let Algo::RandomForest(f) = &p.algo else { panic!("kind") };
        assert_eq!((f.trees, f.max_depth, f.min_samples_leaf, f.mtry), (300, Some(12), 2, Mtry::Fraction(0.33)));
        assert_eq!((p.target, p.seed), (Target::Log1p, 7));
        for kind in [Kind::RandomForest, Kind::BoostedTrees, Kind::Mean] {
            let d = Params::default_for(kind);
            assert_eq!(Params::parse(kind, &d.to_map()).unwrap(), d);
        }
        assert_eq!(Params::parse(Kind::RandomForest, &p.to_map()).unwrap(), p);
        let all = Params::parse(Kind::RandomForest, &map(&[("mtry", "1.0")])).unwrap();
        assert_eq!(Params::parse(Kind::RandomForest, &all.to_map()).unwrap(), all);
        let g = Params::parse(Kind::BoostedTrees, &map(&[("n_estimators", "50"), ("eta", "0.1"), ("subsample", "1")])).unwrap();
        let Algo::BoostedTrees(b) = &g.algo else { panic!("kind") };
        assert_eq!((b.trees, b.learning_rate, b.subsample), (50, 0.1, 1.0));
    }

    #[test]
    fn errors_name_key_and_value() {
        let e = Params::parse(Kind::RandomForest, &map(&[("learning_rate", "0.1")])).unwrap_err().to_string();
        assert!(e.contains("learning_rate") && e.contains("mtry"), "{e}");
        let e = Params::parse(Kind::RandomForest, &map(&[("mtry", "1.5")])).unwrap_err().to_string();
        assert!(e.contains("mtry") && e.contains("1.5"), "{e}");
        let e = Params::parse(Kind::BoostedTrees, &map(&[("trees", "ten")])).unwrap_err().to_string();
        assert!(e.contains("trees") && e.contains("ten"), "{e}");
        assert!(Params::parse(Kind::Mean, &map(&[("trees", "3")])).is_err());
        assert!(Params::parse(Kind::Mean, &map(&[("target", "cube")])).is_err());
        assert!(Params::parse(Kind::Mean, &map(&[("kind", "mean")])).is_ok());
        assert!(Params::parse(Kind::Mean, &map(&[("kind", "rf")])).is_err());
    }

    #[test]
    fn mtry_resolution() {
        assert_eq!(Mtry::Fraction(0.33).resolve(150), 50);
        assert_eq!(Mtry::Fraction(0.01).resolve(10), 1);
        assert_eq!(Mtry::Count(500).resolve(150), 150);
        assert_eq!(Mtry::Sqrt.resolve(150), 12);
    }
}
