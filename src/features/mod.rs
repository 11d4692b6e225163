//! Hop descriptors for barrier models: a fixed, versioned list of cheap numeric features of a
//! migration hop (path geometry, electrostatics, host and composition statistics), computed
//! per record, in parallel over a store, and cached in the store's `f` keyspace.
//!
//! # Conventions
//!
//! * The *mobile ion* is `record.ion`; it is not part of the host. Host atoms of the same
//!   element are *same-species ions* (other intercalants); they are **not** framework.
//! * *Framework* = every other host atom. Framework atoms are *anions* when
//!   [`Element::is_anion`] (N, O, F, S, Cl, Se, Br, Te, I) and *cations* otherwise.
//! * The hop is the straight Cartesian segment from `initial` to `final_site` (fractional,
//!   unwrapped). It is sampled at [`PATH_SAMPLES`] = 41 equally spaced points `t = i / 40`;
//!   the five band points (initial, three linear images, final: `p0..p4`) are the samples at
//!   `t = 0, 1/4, 1/2, 3/4, 1`, and the midpoint is `t = 1/2`.
//! * Distances are minimum over all periodic images (exact, via
//!   [`PointLocator`](crate::structure::neighbors::PointLocator)), in Angstrom (A), and capped
//!   at [`DIST_CAP`] = 10 A.
//! * Radii: `r(X)` is the Shannon ionic radius of X ([`Element::ionic_radius`]), or its covalent
//!   radius where Shannon gives none. `r_ion` is the mobile ion's.
//! * Nominal charge `q(X)` ([`nominal_charge`]): the first listed common oxidation state of
//!   X; for anion formers the first *negative* one; 0 for elements with none (noble gases).
//! * The environment of a point is every host atom image within [`ENV_RADIUS`] = 7 A of it
//!   (one sorted neighbour query per sample point).
//! * Minima and maxima over the path are over the 41 samples (ties: the first, smallest `t`).
//!
//! # Fill values (undefined descriptors)
//!
//! Nothing is left NaN: every vector is checked finite and a non-finite value is an error
//! naming the record and the descriptor. Undefined values are filled as follows:
//!
//! * a nearest distance to a class of atoms the host does not contain (no anions, no cations
//!   other than the mobile species, no same-species ions): [`DIST_CAP`] (10 A), as if the
//!   nearest such atom were out of reach; windows without anions likewise use 10 A;
//! * the position `t` of a minimum that does not exist (distance filled everywhere): 0.5;
//! * the relaxed free distance `rbn_fw_min` is capped at 5.75 A (the disc cutoff below);
//! * ratios whose denominator is below 0.1 A use 0.1 A as the denominator;
//! * properties an element lacks (electronegativity of noble gases): the element is left out
//!   of that property's statistics; a statistic over no element is 0; the main-anion
//!   electronegativity of an anion-free host is 0 and its one-hot is `anion_is_other`;
//!   `vol_per_anion` of an anion-free host is the cell volume.
//!
//! # Descriptors of `hop-v1` (units)
//!
//! **Path geometry**
//!
//! * `hop_length` (A): length of the straight hop.
//! * `d_fw_p{k}`, `d_an_p{k}`, `d_cat_p{k}`, `d_same_p{k}` for k = 0..4 (A): distance from band
//!   point k to the nearest framework atom, anion, framework cation, same-species ion.
//! * `bn_fw_min` (A), `bn_fw_t` (fraction of the hop): the bottleneck, the minimum over the 41
//!   samples of the nearest-framework distance, and where it occurs; `bn_an_min`, `bn_an_t`: the
//!   same for anions.
//! * `bn_fw_ratio`, `bn_an_ratio` (1): bottleneck over the mean of the two endpoint values.
//! * `bn_k3_mean`, `bn_k4_mean` (A): mean distance of the 3 and 4 nearest framework atoms to the
//!   framework bottleneck point; `bn_k3_dist`, `bn_k4_dist` (A): distance of the 3rd and 4th;
//!   `bn_an_k3_mean`, `bn_an_k4_mean` (A): mean distance of the 3 and 4 nearest anions to the
//!   anion bottleneck point (about the radius of the anion ring the ion passes through).
//! * `bn_window` (A): the window radius, the minimum over the path of
//!   `min_j (d_j - r_j)` over anions j (distance to the anion's surface); `bn_window_t`: where;
//!   `bn_squeeze` (A) = `bn_window - r_ion` (negative: the ion must push the anions apart);
//!   `window_p0`, `window_p4` (A): the same quantity at the endpoints; `window_drop` (A): mean of
//!   the endpoint windows minus `bn_window`.
//! * `cn_p0`, `cn_mid`, `cn_p4` (count): anions j within `1.2 (r_ion + r_j)` of the initial site,
//!   the midpoint, the final site; `scn_p0`, `scn_mid`, `scn_p4`: smooth count
//!   `sum_j 1 / (1 + exp((d_j - 1.2 (r_ion + r_j)) / 0.1 A))`; `cn_path_min`, `scn_path_min`:
//!   minimum over the 41 samples; `cn_change`, `scn_change`: midpoint minus the mean of the
//!   endpoints; `cn_asym`, `scn_asym`: |final - initial|.
//! * `d_an_asym`, `d_fw_asym` (A): |final - initial| of the nearest anion / framework distance.
//! * `an_profile_mean`, `an_profile_std`, `fw_profile_mean` (A): mean and standard deviation
//!   of the nearest-anion distance, mean nearest-framework distance over the 41 samples
//!   (`bn_an_min` is the profile minimum).
//! * `crowd_fw`, `crowd_an` (count): distinct framework atoms / anions (periodic images
//!   counted separately) within 2.5 A of any path sample.
//! * `hop_over_d_an` (1): hop length over the mean endpoint nearest-anion distance.
//! * Bond-valence proxy: with `e_j = exp((R0_j - d_j) / 0.37 A)`, `R0_j = r_ion + r_j`, over
//!   anions within 7 A (d clamped to >= 0.5 A): `bv_p0`, `bv_mid`, `bv_p4` (valence units,
//!   `S = sum_j e_j`), `bv_path_min`, `bv_path_max`, `bv_mid_ratio` = S(mid) / mean endpoint S
//!   (1 when the endpoints have none); a Morse-type site energy `M = sum_j (e_j^2 - 2 e_j)`
//!   (dimensionless, bond depth 1): `morse_barrier` = max over the path of M minus M(initial),
//!   `morse_end_diff` = M(final) - M(initial).
//!
//! **Electrostatics** (crude point-charge proxies with nominal charges, no Ewald sum, no
//! neutrality, no polarisation: useful as relative numbers only)
//!
//! * `d_cat_path_min`, `d_same_path_min` (A): minimum over the path of the distance to the
//!   nearest framework cation / same-species ion.
//! * `es_fw_mid_minus_init` (e/A): `sum_j q_j / r_j` over framework atoms within 6 A at the
//!   midpoint minus the same at the initial site (`r` clamped to >= 0.5 A);
//!   `es_all_mid_minus_init`: the same including same-species ions.
//! * `es_wolf_barrier` (eV): `14.40 q_ion` times the maximum over the path of the Wolf-damped
//!   potential `sum_j q_j (erfc(0.25 r)/r - erfc(1.5)/6)` of all host atoms within 6 A, minus
//!   its initial value; `es_wolf_end_diff` (eV): final minus initial;
//!   `es_cat_barrier` (eV): the Wolf barrier from positively charged host atoms only.
//!
//! **softBV-like energy landscape** (a crude, parameter-free stand-in for BVSE: generic
//! parameters from radii and nominal charges, not the fitted softBV table). Energy of the
//! mobile ion at a point, eV, summed over host atoms within 7 A (d clamped to >= 0.5 A):
//! anions j contribute the Morse term `D0/2 ((exp(1.6 (Rmin_j - d)) - 1)^2 - 1)` with
//! `Rmin_j = 0.92 (r_ion + r_j)` and `D0 = 1 eV x |q_ion|`; positively charged atoms (framework
//! cations and same-species ions) contribute the screened Coulomb repulsion
//! `14.4 q_ion q_j / sqrt(n_ion n_j) erfc(d / s_j) / d`, `s_j = 0.74 (rcov_ion + rcov_j)`, `n` =
//! period (the softBV / `ions` functional form).
//!
//! * `bvse_lite_barrier` (eV): maximum over the straight path minus the initial value;
//!   `bvse_lite_span`: maximum minus minimum over the path; `bvse_lite_end_diff`: final minus
//!   initial.
//! * Relaxed path: at every sample the ion may move within a disc perpendicular to the hop
//!   (centre plus rings of 0.25, 0.5, 0.75, 1.0 and 1.25 A, 8 points each; interactions within
//!   5.75 A of the displaced point, pair energies tabulated). `rbvse_lite_barrier`,
//!   `rbvse_lite_span`, `rbvse_lite_end_diff` (eV): as above for the lowest energy on each
//!   disc (a one-shot string relaxation, not a NEB); `rbn_fw_min` (A): minimum over the path
//!   of the largest nearest-framework distance on the disc (the bottleneck of a path that may
//!   bend by up to 1.25 A); `rbn_fw_gain` (A) = `rbn_fw_min - bn_fw_min`.
//!
//! **Host** (the host plus the mobile ion at its initial site, `N = host atoms + 1`)
//!
//! * `n_atoms` (host atoms), `n_elements` (distinct elements of host + ion),
//!   `vol_per_atom` (A^3), `vol_per_anion` (A^3), `density` (g/cm^3),
//!   `ion_fraction` ((same-species ions + 1) / N), `anion_fraction`, `tm_fraction` (transition
//!   metals / N), `n_anion_species`, `packing_fraction` (sum of `4/3 pi r^3` over V).
//! * `anion_en`: Pauling electronegativity of the main (most numerous) anion;
//!   `anion_is_{O,S,Se,F,N,Cl,other}`: one-hot of the main anion.
//! * `ion_z`, `ion_charge` (e), `ion_radius` (A), `ion_mass` (g/mol), `ion_en`;
//!   `ion_is_{Li,Na,K,Mg,Ca,Zn,Al,Rb,Sr}`: one-hot.
//!
//! **Composition statistics** (Magpie-style, over host + ion, atom-fraction weights `f_i`):
//! `comp_{p}_{s}` for properties p = `en` (Pauling), `rcov` (A), `rion` (A), `mass` (g/mol),
//! `period`, `group`, `ox` (nominal charge) and statistics s = `mean` (`sum f_i x_i`), `min`,
//! `max`, `range`, `mad` (`sum f_i |x_i - mean|`).

mod cache;
mod chem;
mod geometry;

pub use geometry::LiteConstants;

pub use cache::{cached_matrix, cached_matrix_report, input_hash, is_cached, CacheReport};
pub use chem::{ionic_radius, nominal_charge};

use crate::record::{HopRecord, StructureId};
use crate::store::{Store, StoreError};
use crate::structure::Structure;
use crate::element::Element;
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// Number of points sampled along the straight hop (t = i / 40).
pub const PATH_SAMPLES: usize = 41;
/// Radius of the environment of a point (A).
pub const ENV_RADIUS: f64 = 7.0;
/// Cap of every distance descriptor and fill value of undefined distances (A).
pub const DIST_CAP: f64 = 10.0;
/// Name of the default feature set.
pub const HOP_V1: &str = "hop-v1";
/// Name of the multi-fidelity feature set: hop-v1's descriptors with literature constants,
/// plus the hop's linked lower-fidelity barriers ([`LINKED_COLUMNS`]).
pub const HOP_V2: &str = "hop-v2";
/// Version of `hop-v2` (see [`FeatureSet::hop_v2`]).
pub const HOP_V2_VERSION: u32 = 1;
/// The MLIP label (`<model>/<protocol>`) `hop-v2` reads unless told otherwise: devi2025's
/// published MACE-MP-0 NEB with relaxed endpoints.
pub const DEFAULT_MLIP_LABEL: &str = "mace-mp-0/devi2025-relax";
/// The linked lower-fidelity columns, in order: the barrier of the hop's MLIP record of the
/// set's label and whether it is missing, the barrier of its BVSE record (`bvse compute`,
/// default recipe) and whether it is missing.
pub const LINKED_COLUMNS: [&str; 4] = ["mlip_em", "mlip_missing", "bvse_em", "bvse_missing"];
/// The `mlip` setting of `hop-v2` without MLIP columns.
pub const NO_MLIP: &str = "none";
/// The value of a missing linked barrier (an impossible barrier; its `_missing` column is 1).
pub const MISSING_BARRIER: f64 = -1.0;

/// Errors of descriptor computation.
#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The host structure of a record could not be loaded.
    #[error("record '{id}': cannot load host structure {host}: {source}")]
    Host {
        /// Record id.
        id: String,
        /// Host structure id.
        host: StructureId,
        /// The store error.
        source: StoreError,
    },
    /// A record cannot be described (bad coordinates, empty host).
    #[error("record '{id}': {msg}")]
    Record {
        /// Record id.
        id: String,
        /// What is wrong.
        msg: String,
    },
    /// A descriptor came out NaN or infinite.
    #[error("record '{id}': descriptor '{name}' is not finite ({value})")]
    NonFinite {
        /// Record id.
        id: String,
        /// Descriptor name.
        name: String,
        /// The value.
        value: f64,
    },
    /// A feature set names a descriptor that does not exist, or is otherwise malformed.
    #[error("invalid feature set: {0}")]
    InvalidSet(String),
}

/// Version of the default set `hop-v1` (see [`FeatureSet::hop_v1`]).
pub const HOP_V1_VERSION: u32 = 2;

/// A named, versioned list of descriptor names (a subset of [`descriptor_names`], any order).
///
/// Bump `version` whenever the meaning of a descriptor changes: cached vectors are keyed on
/// name and version.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FeatureSet {
    /// Set name (e.g. `hop-v1`); must not contain a NUL byte.
    pub name: String,
    /// Version of the set's definition.
    pub version: u32,
    /// Descriptor names, in column order: hop-v1 descriptor names, then any of
    /// [`LINKED_COLUMNS`] (which need [`FeatureSet::mlip_label`]).
    pub names: Vec<String>,
    /// The constants of the softBV-like descriptors.
    #[serde(default)]
    pub lite: LiteChoice,
    /// The MLIP label (`<model>/<protocol>`) of the linked `mlip_*` columns.
    #[serde(default)]
    pub mlip_label: Option<String>,
}

/// Which constants the softBV-like descriptors of a set use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LiteChoice {
    /// [`LiteConstants::HOP_V1`] (chosen on all 619 hops, test hops included).
    #[default]
    HopV1,
    /// [`LiteConstants::LITERATURE`].
    Literature,
}

impl LiteChoice {
    /// The constants.
    pub fn constants(self) -> LiteConstants {
        match self {
            LiteChoice::HopV1 => LiteConstants::HOP_V1,
            LiteChoice::Literature => LiteConstants::LITERATURE,
        }
    }
}

/// Where a column of a feature set comes from.
#[derive(Clone, Copy, Debug)]
enum Column {
    /// Index into the canonical descriptor vector.
    Descriptor(usize),
    /// Index into [`LINKED_COLUMNS`].
    Linked(usize),
}

impl FeatureSet {
    /// A validated feature set: names must be known descriptors, without repeats.
    pub fn new(name: &str, version: u32, names: Vec<String>) -> Result<Self, FeatureError> {
        let set = FeatureSet { name: name.to_string(), version, names, lite: LiteChoice::HopV1, mlip_label: None };
        set.validate()?;
        Ok(set)
    }

    /// The default set `hop-v1`: every descriptor, in canonical order. Version 2: the
    /// bottleneck position along the path is the first point within a relative 1e-9 of the
    /// minimum (version 1 took the strict minimum, which rounding could move to the mirror
    /// point of a symmetric path), and every value is rounded to a 2^-30 grid
    /// ([`DESCRIPTOR_GRID_SCALE`]), so descriptors do not change when coordinates change by rounding.
    pub fn hop_v1() -> Self {
        FeatureSet { name: HOP_V1.to_string(), version: HOP_V1_VERSION, names: descriptor_names().to_vec(), lite: LiteChoice::HopV1, mlip_label: None }
    }

    /// The multi-fidelity set `hop-v2` (version 1): every hop-v1 descriptor, with the
    /// softBV-like constants fixed from the literature ([`LiteConstants::LITERATURE`]) rather
    /// than chosen on the barriers, then [`LINKED_COLUMNS`]: the barrier of the hop's own MLIP
    /// record of `mlip_label` and of its own BVSE record, [`MISSING_BARRIER`] with a 1 in the
    /// `_missing` column where the store has none. Never another hop's label.
    ///
    /// `mlip_label` [`NO_MLIP`] (`none`) leaves the MLIP columns out: the literature
    /// descriptors and the BVSE barrier only.
    pub fn hop_v2(mlip_label: &str) -> Self {
        let mut names = descriptor_names().to_vec();
        let skip = if mlip_label == NO_MLIP { 2 } else { 0 };
        names.extend(LINKED_COLUMNS[skip..].iter().map(|s| s.to_string()));
        FeatureSet { name: HOP_V2.to_string(), version: HOP_V2_VERSION, names, lite: LiteChoice::Literature, mlip_label: Some(mlip_label.to_string()) }
    }

    /// The set called `name` (`hop-v1` or `hop-v2`; `mlip` is hop-v2's MLIP label, default
    /// [`DEFAULT_MLIP_LABEL`]).
    pub fn named(name: &str, mlip: Option<&str>) -> Result<Self, FeatureError> {
        match name {
            HOP_V1 if mlip.is_some() => Err(FeatureError::InvalidSet("hop-v1 has no MLIP column; use features = 'hop-v2' with mlip".into())),
            HOP_V1 => Ok(FeatureSet::hop_v1()),
            HOP_V2 => {
                let label = mlip.unwrap_or(DEFAULT_MLIP_LABEL);
                let ok = label == NO_MLIP || label.split_once('/').is_some_and(|(m, p)| !m.is_empty() && !p.is_empty()) && !label.contains(['\0', '@']);
                if !ok {
                    return Err(FeatureError::InvalidSet(format!("mlip label {label:?}: expected <model>/<protocol>, e.g. {DEFAULT_MLIP_LABEL}")));
                }
                Ok(FeatureSet::hop_v2(label))
            }
            other => Err(FeatureError::InvalidSet(format!("unknown feature set {other:?} (hop-v1, hop-v2)"))),
        }
    }

    /// The label models record: `name@version`, with `[mlip=<label>]` for a set with MLIP
    /// columns.
    pub fn label(&self) -> String {
        match &self.mlip_label {
            Some(l) => format!("{}@{}[mlip={l}]", self.name, self.version),
            None => format!("{}@{}", self.name, self.version),
        }
    }

    /// The set a model's label names (the inverse of [`FeatureSet::label`]).
    pub fn from_label(label: &str) -> Result<Self, FeatureError> {
        let (head, mlip) = match label.split_once("[mlip=") {
            Some((h, rest)) => (h, Some(rest.strip_suffix(']').ok_or_else(|| FeatureError::InvalidSet(format!("malformed feature set label {label:?}")))?)),
            None => (label, None),
        };
        let (name, version) = head.split_once('@').ok_or_else(|| FeatureError::InvalidSet(format!("malformed feature set label {label:?}")))?;
        let set = FeatureSet::named(name, mlip)?;
        if version != set.version.to_string() {
            return Err(FeatureError::InvalidSet(format!("feature set {name} version {version}; this hopdb computes version {}", set.version)));
        }
        Ok(set)
    }

    /// The descriptor columns only (what the cache holds for the set).
    fn descriptor_part(&self) -> FeatureSet {
        FeatureSet { names: self.names.iter().filter(|n| !LINKED_COLUMNS.contains(&n.as_str())).cloned().collect(), ..self.clone() }
    }

    /// Whether the set has linked (lower-fidelity) columns.
    pub fn has_linked(&self) -> bool {
        self.names.iter().any(|n| LINKED_COLUMNS.contains(&n.as_str()))
    }

    /// The MLIP label (`<model>/<protocol>`) whose barriers the set reads, if it has MLIP
    /// columns.
    pub fn reads_mlip(&self) -> Option<&str> {
        let has = self.names.iter().any(|n| LINKED_COLUMNS[..2].contains(&n.as_str()));
        has.then(|| self.mlip_label.as_deref().unwrap_or(DEFAULT_MLIP_LABEL))
    }

    /// Whether the set reads the hop's BVSE barrier (default recipe).
    pub fn reads_bvse(&self) -> bool {
        self.names.iter().any(|n| LINKED_COLUMNS[2..].contains(&n.as_str()))
    }

    /// Check the name and that every descriptor exists once.
    pub fn validate(&self) -> Result<(), FeatureError> {
        if self.name.is_empty() || self.name.contains('\0') {
            return Err(FeatureError::InvalidSet(format!("set name {:?} must be non-empty and without NUL", self.name)));
        }
        if self.names.is_empty() {
            return Err(FeatureError::InvalidSet(format!("set '{}' names no descriptor", self.name)));
        }
        self.columns().map(|_| ())
    }

    /// Where each of the set's columns comes from.
    fn columns(&self) -> Result<Vec<Column>, FeatureError> {
        let index = descriptor_index();
        let mut seen = std::collections::HashSet::new();
        let mut linked_seen = false;
        self.names
            .iter()
            .map(|n| {
                if !seen.insert(n.as_str()) {
                    return Err(FeatureError::InvalidSet(format!("set '{}' names '{n}' twice", self.name)));
                }
                if let Some(k) = LINKED_COLUMNS.iter().position(|c| c == n) {
                    if k < 2 && self.mlip_label.is_none() {
                        return Err(FeatureError::InvalidSet(format!("set '{}': column '{n}' needs an MLIP label", self.name)));
                    }
                    linked_seen = true;
                    return Ok(Column::Linked(k));
                }
                if linked_seen {
                    return Err(FeatureError::InvalidSet(format!("set '{}': descriptor '{n}' after a linked column (linked columns come last)", self.name)));
                }
                index.get(n.as_str()).copied().map(Column::Descriptor).ok_or_else(|| FeatureError::InvalidSet(format!("set '{}': unknown descriptor '{n}'", self.name)))
            })
            .collect()
    }

    /// Pick this set's descriptor columns out of a full (canonical-order) descriptor vector
    /// (linked columns are appended by [`linked_values`]).
    fn select(&self, cols: &[Column], full: &[f64]) -> Vec<f64> {
        cols.iter().filter_map(|c| if let Column::Descriptor(i) = c { Some(full[*i]) } else { None }).collect()
    }
}

/// The linked columns of `set` for record `r`, in the set's order: looked up by id in the
/// store (the MLIP record `mlip:<id>@<label>`, the BVSE record `hopdb-bvse:<id>`); a record
/// that is not stored (a screened new hop) has none.
fn linked_values(store: &Store, set: &FeatureSet, cols: &[Column], r: &HopRecord) -> Result<Vec<f64>, FeatureError> {
    let mlip = match set.reads_mlip() {
        Some(label) => store.get(&crate::record::mlip::record_id_for_label(&r.id, label))?.map(|x| x.em),
        None => None,
    };
    let bvse = if set.reads_bvse() { store.get(&crate::record::bvse_record_id(&r.id))?.map(|x| x.em) } else { None };
    Ok(linked_columns(cols, LinkedBarriers { mlip, bvse }))
}

/// The lower-fidelity barriers of one hop that a set's linked columns read (`None`: missing).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LinkedBarriers {
    /// The barrier of the set's MLIP label (eV).
    pub mlip: Option<f64>,
    /// The BVSE barrier, default recipe (eV).
    pub bvse: Option<f64>,
}

/// The linked columns of `cols`, in order, from the barriers `b`.
fn linked_columns(cols: &[Column], b: LinkedBarriers) -> Vec<f64> {
    cols.iter()
        .filter_map(|c| if let Column::Linked(k) = c { Some(*k) } else { None })
        .map(|k| {
            let v = if k < 2 { b.mlip } else { b.bvse };
            if k % 2 == 0 {
                v.unwrap_or(MISSING_BARRIER)
            } else if v.is_none() {
                1.0
            } else {
                0.0
            }
        })
        .collect()
}

impl Default for FeatureSet {
    fn default() -> Self {
        FeatureSet::hop_v1()
    }
}

/// Descriptor vectors of several hops.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureMatrix {
    /// Record ids, one per row.
    pub ids: Vec<String>,
    /// Descriptor names, one per column.
    pub names: Vec<String>,
    /// One row per record, in `ids` order.
    pub rows: Vec<Vec<f64>>,
}

impl FeatureMatrix {
    /// Column index of a descriptor.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// One column by name.
    pub fn column(&self, name: &str) -> Option<Vec<f64>> {
        let c = self.column_index(name)?;
        Some(self.rows.iter().map(|r| r[c]).collect())
    }

    /// The row of a record id.
    pub fn row(&self, id: &str) -> Option<&[f64]> {
        self.ids.iter().position(|i| i == id).map(|k| self.rows[k].as_slice())
    }
}

/// Collects descriptor values in canonical order, with names when asked.
pub(crate) struct Row {
    pub values: Vec<f64>,
    pub names: Option<Vec<String>>,
}

impl Row {
    fn new(with_names: bool) -> Self {
        Row { values: Vec::with_capacity(160), names: with_names.then(Vec::new) }
    }

    /// Append one descriptor.
    pub fn push(&mut self, name: &str, v: f64) {
        self.values.push(v);
        if let Some(n) = self.names.as_mut() {
            n.push(name.to_string());
        }
    }
}

/// All descriptor names of `hop-v1`, in canonical order.
pub fn descriptor_names() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        // The names are produced by the same code as the values, on a tiny built-in hop
        // (one F atom in a 4 A cube, a Li hop), so they cannot drift apart.
        let el = |s: &str| Element::from_symbol(s).expect("known element");
        let lat = crate::structure::Lattice::new([[4.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 4.0]]).expect("cubic cell");
        let host = Structure { lattice: lat, species: vec![el("F")], frac: vec![[0.5, 0.0, 0.0]] };
        let ctx = geometry::HostContext::with_constants(&host, el("Li"), LiteConstants::HOP_V1);
        let mut row = Row::new(true);
        geometry::describe(&ctx, [0.0, 0.0, 0.0], [0.25, 0.25, 0.0], &mut row);
        row.names.expect("names requested")
    })
}

fn descriptor_index() -> &'static HashMap<&'static str, usize> {
    static INDEX: OnceLock<HashMap<&'static str, usize>> = OnceLock::new();
    INDEX.get_or_init(|| descriptor_names().iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect())
}

fn check_inputs(record: &HopRecord, host: &Structure) -> Result<(), FeatureError> {
    let bad = |msg: String| Err(FeatureError::Record { id: record.id.clone(), msg });
    if host.is_empty() {
        return bad("host structure has no atoms".into());
    }
    if !record.initial.iter().chain(record.final_site.iter()).all(|x| x.is_finite()) {
        return bad(format!("non-finite hop endpoints {:?} -> {:?}", record.initial, record.final_site));
    }
    Ok(())
}

fn check_finite(id: &str, values: &[f64]) -> Result<(), FeatureError> {
    if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(FeatureError::NonFinite { id: id.to_string(), name: descriptor_names()[i].clone(), value: *v });
    }
    Ok(())
}

fn compute_with(ctx: &geometry::HostContext, record: &HopRecord) -> Result<Vec<f64>, FeatureError> {
    let mut row = Row::new(false);
    geometry::describe(ctx, record.initial, record.final_site, &mut row);
    debug_assert_eq!(row.values.len(), descriptor_names().len());
    check_finite(&record.id, &row.values)?;
    let exact = exact_descriptors();
    Ok(row.values.into_iter().zip(exact).map(|(v, &keep)| if keep { v } else { snap(v) }).collect())
}

/// Every descriptor is rounded to a multiple of 2^-30 (about 9.3e-10, in the descriptor's own
/// unit: A, eV, counts): far below any physical meaning, far above rounding noise. A structure
/// passed through Cartesian coordinates (as `ase.Atoms` keep it) changes descriptors by
/// ~1e-15, and two hops of one host share values (the initial site's environment) up to such
/// noise; without the grid a tree's split at one of them, or a difference that is zero in
/// exact arithmetic (`morse_end_diff` on a symmetric hop) changing sign, flips a prediction.
/// A binary grid, so that values with few decimals (from coordinates written with few
/// decimals) do not fall on its midpoints, and the rounding is exact arithmetic.
pub const DESCRIPTOR_GRID_SCALE: f64 = (1u64 << 30) as f64;

/// Which descriptors are left off the grid: the bottleneck positions (`*_t`), a sample index
/// over the path length, which rounding cannot move and whose decimal values (0.175) read
/// better exact.
fn exact_descriptors() -> &'static [bool] {
    static EXACT: OnceLock<Vec<bool>> = OnceLock::new();
    EXACT.get_or_init(|| descriptor_names().iter().map(|n| n.ends_with("_t")).collect())
}

/// `v` on the grid of [`DESCRIPTOR_GRID_SCALE`], with `-0.0` as `0.0`.
fn snap(v: f64) -> f64 {
    let s = (v * DESCRIPTOR_GRID_SCALE).round() / DESCRIPTOR_GRID_SCALE;
    if s == 0.0 {
        0.0
    } else {
        s
    }
}

/// All `hop-v1` descriptors of one hop, in the order of [`descriptor_names`].
///
/// `host` must be the record's host structure (`store.structure(&record.host)`).
pub fn compute(record: &HopRecord, host: &Structure) -> Result<Vec<f64>, FeatureError> {
    compute_lite(record, host, LiteChoice::HopV1)
}

/// All descriptors of one hop with the softBV-like constants of `lite`.
fn compute_lite(record: &HopRecord, host: &Structure, lite: LiteChoice) -> Result<Vec<f64>, FeatureError> {
    check_inputs(record, host)?;
    let ctx = geometry::HostContext::with_constants(host, record.ion, lite.constants());
    compute_with(&ctx, record)
}

/// The descriptors of `set` for one hop, in the set's column order (a set with linked
/// columns needs the store: use [`compute_many_set`]).
pub fn compute_set(record: &HopRecord, host: &Structure, set: &FeatureSet) -> Result<Vec<f64>, FeatureError> {
    let cols = set.columns()?;
    if set.has_linked() {
        return Err(FeatureError::InvalidSet(format!("set '{}' has linked columns; compute it against a store", set.name)));
    }
    Ok(set.select(&cols, &compute_lite(record, host, set.lite)?))
}

/// The columns of `set` for one hop outside the store, its linked barriers given (a screened
/// new hop: the caller computed them, or found them missing), in the set's column order.
pub fn compute_set_with_linked(record: &HopRecord, host: &Structure, set: &FeatureSet, linked: LinkedBarriers) -> Result<Vec<f64>, FeatureError> {
    let cols = set.columns()?;
    let mut row = set.select(&cols, &compute_lite(record, host, set.lite)?);
    row.extend(linked_columns(&cols, linked));
    Ok(row)
}

/// `hop-v1` descriptors of the records `ids` (rows in `ids` order), in parallel; each
/// distinct host is loaded and indexed once.
pub fn compute_many(store: &Store, ids: &[String]) -> Result<FeatureMatrix, FeatureError> {
    compute_many_set(store, ids, &FeatureSet::hop_v1())
}

/// Like [`compute_many`] for the columns of `set`.
pub fn compute_many_set(store: &Store, ids: &[String], set: &FeatureSet) -> Result<FeatureMatrix, FeatureError> {
    set.validate()?;
    let records: Vec<HopRecord> = ids.par_iter().map(|id| store.record(id)).collect::<Result<_, _>>()?;
    let rows = compute_records(store, &records, set)?;
    Ok(FeatureMatrix { ids: ids.to_vec(), names: set.names.clone(), rows })
}

/// Descriptor rows of loaded records (parallel; hosts loaded once per distinct host and ion).
pub(crate) fn compute_records(store: &Store, records: &[HopRecord], set: &FeatureSet) -> Result<Vec<Vec<f64>>, FeatureError> {
    let cols = set.columns()?;
    let mut keys: Vec<(&StructureId, Element, &str)> = records.iter().map(|r| (&r.host, r.ion, r.id.as_str())).collect();
    keys.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    keys.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    let contexts: HashMap<(&StructureId, Element), Arc<geometry::HostContext>> = keys
        .par_iter()
        .map(|&(sid, ion, id)| {
            let host = store.structure(sid).map_err(|e| FeatureError::Host { id: id.to_string(), host: sid.clone(), source: e })?;
            if host.is_empty() {
                return Err(FeatureError::Record { id: id.to_string(), msg: "host structure has no atoms".into() });
            }
            Ok(((sid, ion), Arc::new(geometry::HostContext::with_constants(&host, ion, set.lite.constants()))))
        })
        .collect::<Result<_, FeatureError>>()?;
    records
        .par_iter()
        .map(|r| {
            if !r.initial.iter().chain(r.final_site.iter()).all(|x| x.is_finite()) {
                return Err(FeatureError::Record { id: r.id.clone(), msg: format!("non-finite hop endpoints {:?} -> {:?}", r.initial, r.final_site) });
            }
            let ctx = &contexts[&(&r.host, r.ion)];
            let mut row = set.select(&cols, &compute_with(ctx, r)?);
            row.extend(linked_values(store, set, &cols, r)?);
            Ok(row)
        })
        .collect()
}
