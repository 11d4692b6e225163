//! The hop record: one migration hop of a mobile ion in a host structure, with its barrier,
//! method, material metadata, provenance, data-quality flags and revision history.
//!
//! A record does not embed its host structure: hosts are content-addressed
//! ([`StructureId`]) and shared between records (a BVSE corpus has many hops per host), so
//! metadata scans never decode atoms. The derived views (band, initial, final, centroid)
//! take the host as an argument.


pub mod classes;
pub mod mlip;

use crate::element::Element;
use crate::table::Value;
use crate::structure::{lerp, norm, Structure, Vec3};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;

/// Content address of a host structure: sha256 over its canonical encoding, hex.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StructureId(pub String);

impl StructureId {
    /// The id of a structure: sha256 of its bincode encoding (lattice, species, coordinates).
    pub fn of(s: &Structure) -> Self {
        let bytes = bincode::serialize(s).expect("structure encodes");
        StructureId(hex::encode(Sha256::digest(&bytes)))
    }
}

impl fmt::Display for StructureId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How the barrier was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Fidelity {
    /// Density-functional theory (usually NEB).
    Dft,
    /// Bond-valence site energy.
    Bvse,
    /// Machine-learned interatomic potential.
    Mlip,
    /// Measured.
    Experiment,
}

impl Fidelity {
    /// All fidelities, in index order.
    pub const ALL: [Fidelity; 4] = [Fidelity::Dft, Fidelity::Bvse, Fidelity::Mlip, Fidelity::Experiment];

    /// Lower-case name used in queries and files.
    pub fn as_str(self) -> &'static str {
        match self {
            Fidelity::Dft => "dft",
            Fidelity::Bvse => "bvse",
            Fidelity::Mlip => "mlip",
            Fidelity::Experiment => "experiment",
        }
    }

    /// Parse a fidelity name (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Fidelity::ALL.into_iter().find(|f| f.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl fmt::Display for Fidelity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Intercalation state of the host, where the source says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IntercalationState {
    /// Fully (or nearly) de-intercalated.
    Charged,
    /// Fully intercalated.
    Discharged,
    /// Partial content.
    Intermediate,
}

impl IntercalationState {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            IntercalationState::Charged => "charged",
            IntercalationState::Discharged => "discharged",
            IntercalationState::Intermediate => "intermediate",
        }
    }

    /// Parse (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "charged" => Some(IntercalationState::Charged),
            "discharged" => Some(IntercalationState::Discharged),
            "intermediate" => Some(IntercalationState::Intermediate),
            _ => None,
        }
    }
}

/// The train/test partition a source dataset assigned to the record, kept so that the
/// published split can be reproduced exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SourcePartition {
    /// The source's training partition.
    Train,
    /// The source's test partition.
    Test,
}

impl SourcePartition {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            SourcePartition::Train => "train",
            SourcePartition::Test => "test",
        }
    }
}

/// How the barrier was computed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Method {
    /// Exchange-correlation functional (GGA, GGA+U, SCAN, LDA, ...).
    pub xc: Option<String>,
    /// Code (VASP, hopdb-bvse, ...).
    pub code: Option<String>,
    /// Number of NEB images.
    pub n_images: Option<u32>,
    /// Whether a climbing image was used.
    pub climbing_image: Option<bool>,
    /// Whether the calculation converged (None: unknown / not reported).
    pub converged: Option<bool>,
}

/// What the material is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Material {
    /// Formula of the full structure with the ion at the initial site, e.g. `"Li67 P32 S112"`.
    pub formula: String,
    /// Composition as published (e.g. `"LiCoO2"`).
    pub composition: Option<String>,
    /// Structural class exactly as published (e.g. `"SPINELS"`).
    pub class_label: Option<String>,
    /// Normalised structural group (via the store's class mapping, e.g. `"SPINEL"`).
    pub group: Option<String>,
    /// Crystal system.
    pub crystal_system: Option<String>,
    /// Space group symbol.
    pub space_group: Option<String>,
    /// System name as published (unique within a source).
    pub sys_name: Option<String>,
    /// Path label as published (e.g. `"PATH 1"`).
    pub path_label: Option<String>,
    /// Intercalation state where known.
    pub state: Option<IntercalationState>,
}

/// Where the record came from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// Source dataset name (e.g. `devi2025`).
    pub dataset: String,
    /// Version of the source dataset.
    pub dataset_version: String,
    /// Source file name (as given to the importer).
    pub source_file: String,
    /// sha256 of the source file, hex.
    pub source_sha256: String,
    /// Record id within the source (e.g. sys_name or edge id).
    pub source_record_id: String,
    /// Human-readable citation.
    pub citation: Option<String>,
    /// DOI.
    pub doi: Option<String>,
    /// BibTeX entry.
    pub bibtex: Option<String>,
    /// Importer that created the record (e.g. `devi-json`).
    pub importer: String,
    /// hopdb version that imported it.
    pub hopdb_version: String,
    /// RFC 3339 time of import.
    pub imported_at: String,
    /// Free-text notes from the curator.
    pub notes: Option<String>,
}

/// One edit of a record: nothing is silently overwritten.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Revision {
    /// RFC 3339 time of the edit.
    pub at: String,
    /// Field that changed.
    pub field: String,
    /// Previous value, as text.
    pub old: String,
    /// New value, as text.
    pub new: String,
    /// Why.
    pub reason: String,
}

/// One migration hop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HopRecord {
    /// Stable id, `<dataset>:<source record id>`.
    pub id: String,
    /// The migrating ion.
    pub ion: Element,
    /// Content address of the host structure (everything except the migrating ion).
    pub host: StructureId,
    /// Number of atoms in the host.
    pub host_natoms: u32,
    /// Distinct elements of host + ion, sorted by Z.
    pub elements: Vec<Element>,
    /// Cell volume of the host in A^3.
    pub volume: f64,
    /// Length of the straight hop in Angstrom.
    pub hop_length: f64,
    /// Initial site of the ion, fractional coordinates of the host cell.
    pub initial: Vec3,
    /// Final site, fractional and unwrapped: the hop is the straight segment initial -> final.
    pub final_site: Vec3,
    /// Intermediate NEB images of the ion (fractional), when the source gives them.
    pub images: Vec<Vec3>,
    /// Migration barrier in eV.
    pub em: f64,
    /// How Em was obtained.
    pub fidelity: Fidelity,
    /// Method details.
    pub method: Method,
    /// Material metadata.
    pub material: Material,
    /// Provenance.
    pub provenance: Provenance,
    /// Partition assigned by the source dataset.
    pub partition: Option<SourcePartition>,
    /// Data-quality flags (e.g. `band-near-host-atom`), queryable and fixable by curators.
    pub flags: Vec<String>,
    /// Parent record or structure id for derived records (e.g. a BVSE hop's DFT parent).
    pub parent: Option<String>,
    /// Numeric annotations from the source (e.g. `mace_relax_em`).
    pub extra: BTreeMap<String, f64>,
    /// Edit history, oldest first.
    pub revisions: Vec<Revision>,
}

/// Symbol of the centroid marker atom in LiTraj's layout (not an element).
pub const CENTROID_SYMBOL: &str = "X";

/// Number of points in the band view: initial, three linear images, final (the paper's MODEL-3).
pub const BAND_POINTS: usize = 5;

impl HopRecord {
    /// A record of a hop with its barrier and nothing else: no metadata, method, provenance,
    /// flags or revisions, and the host-derived fields (`host`, `host_natoms`, `elements`,
    /// `volume`, `hop_length`) empty until `import::finish_record` fills them from the host.
    /// Fill the rest with struct-update syntax: `HopRecord { material, ..HopRecord::new(...) }`.
    pub fn new(id: impl Into<String>, ion: Element, initial: Vec3, final_site: Vec3, em: f64, fidelity: Fidelity) -> HopRecord {
        HopRecord {
            id: id.into(),
            ion,
            host: StructureId(String::new()),
            host_natoms: 0,
            elements: vec![],
            volume: 0.0,
            hop_length: 0.0,
            initial,
            final_site,
            images: vec![],
            em,
            fidelity,
            method: Method::default(),
            material: Material::default(),
            provenance: Provenance::default(),
            partition: None,
            flags: vec![],
            parent: None,
            extra: BTreeMap::new(),
            revisions: vec![],
        }
    }

    /// Hop length in Angstrom (host lattice).
    pub fn compute_hop_length(&self, host: &Structure) -> f64 {
        norm(host.lattice.to_cart(crate::structure::sub(self.final_site, self.initial)))
    }

    /// Fractional positions of the ion along the linear band: initial, 3 images, final.
    pub fn band_positions(&self) -> [Vec3; BAND_POINTS] {
        let mut out = [[0.0; 3]; BAND_POINTS];
        for (k, p) in out.iter_mut().enumerate() {
            *p = lerp(self.initial, self.final_site, k as f64 / (BAND_POINTS - 1) as f64);
        }
        out
    }

    /// The centroid (midpoint) of the hop, fractional: LiTraj's `X` atom.
    pub fn centroid(&self) -> Vec3 {
        lerp(self.initial, self.final_site, 0.5)
    }

    /// Band structure: the five ion positions first, then the host (the paper's input layout).
    pub fn band_structure(&self, host: &Structure) -> Structure {
        self.with_ion_at(host, &self.band_positions())
    }

    /// Host plus the ion at its initial site.
    pub fn initial_structure(&self, host: &Structure) -> Structure {
        self.with_ion_at(host, &[self.initial])
    }

    /// Host plus the ion at its final site.
    pub fn final_structure(&self, host: &Structure) -> Structure {
        self.with_ion_at(host, &[self.final_site])
    }

    fn with_ion_at(&self, host: &Structure, sites: &[Vec3]) -> Structure {
        let mut species = vec![self.ion; sites.len()];
        species.extend_from_slice(&host.species);
        let mut frac = sites.to_vec();
        frac.extend_from_slice(&host.frac);
        Structure { lattice: host.lattice.clone(), species, frac }
    }

    /// LiTraj's centroid frame of the hop, as `hopdb export xyz` writes it: the host, the ion
    /// at its initial and at its final site, then the marker [`CENTROID_SYMBOL`] (`X`, no
    /// element) at the midpoint. Element symbols and fractional coordinates in the host
    /// lattice (the Python package's `atoms(id, "centroid")`).
    pub fn litraj_centroid_sites(&self, host: &Structure) -> (Vec<String>, Vec<Vec3>) {
        let mut symbols: Vec<String> = host.species.iter().map(|e| e.symbol().to_string()).collect();
        let mut frac = host.frac.clone();
        for (sym, p) in [(self.ion.symbol(), self.initial), (self.ion.symbol(), self.final_site), (CENTROID_SYMBOL, self.centroid())] {
            symbols.push(sym.to_string());
            frac.push(p);
        }
        (symbols, frac)
    }

    /// The structural group if set, else the class label as published.
    pub fn group_or_class(&self) -> Option<&str> {
        self.material.group.as_deref().or(self.material.class_label.as_deref())
    }
}

/// Which structure of a hop a consumer sees: the paper's band input, an endpoint, or the
/// midpoint of the hop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HopView {
    /// The five ion positions along the straight band, then the host.
    Band,
    /// Host plus the ion at its initial site (the default).
    #[default]
    Initial,
    /// Host plus the ion at its final site.
    Final,
    /// Host plus the ion at the midpoint of the hop (LiTraj's centroid).
    Centroid,
}

impl HopView {
    /// Every view.
    pub const ALL: &'static [HopView] = &[HopView::Band, HopView::Initial, HopView::Final, HopView::Centroid];

    /// The lower-case name (`band`, `initial`, `final`, `centroid`).
    pub fn as_str(self) -> &'static str {
        match self {
            HopView::Band => "band",
            HopView::Initial => "initial",
            HopView::Final => "final",
            HopView::Centroid => "centroid",
        }
    }

    /// The view called `s` (case-insensitive).
    pub fn parse(s: &str) -> Option<HopView> {
        HopView::ALL.iter().copied().find(|v| v.as_str().eq_ignore_ascii_case(s))
    }

    /// The structure of `r` (whose host is `host`) in this view.
    pub fn structure(self, r: &HopRecord, host: &Structure) -> Structure {
        match self {
            HopView::Band => r.band_structure(host),
            HopView::Initial => r.initial_structure(host),
            HopView::Final => r.final_structure(host),
            HopView::Centroid => r.with_ion_at(host, &[r.centroid()]),
        }
    }
}

/// Id of the BVSE record `bvse compute` derives from record `parent` (default recipe).
pub fn bvse_record_id(parent: &str) -> String {
    format!("hopdb-bvse:{parent}")
}

/// Build a record id from a dataset name and a source record id.
pub fn record_id(dataset: &str, source_record_id: &str) -> String {
    format!("{dataset}:{source_record_id}")
}

/// A change a curator can make to a record with `hopdb edit`.
#[derive(Clone, Debug, PartialEq)]
pub enum Edit {
    /// New barrier in eV.
    Em(f64),
    /// New XC functional.
    Xc(String),
    /// New intercalation state.
    State(IntercalationState),
    /// New DOI.
    Doi(String),
    /// New notes.
    Notes(String),
    /// Add a data-quality flag.
    AddFlag(String),
    /// Remove a data-quality flag.
    RemoveFlag(String),
}

impl HopRecord {
    /// Apply an edit, appending a [`Revision`] with the reason. Fails (changing nothing) when
    /// the new value is invalid or equal to the old one.
    pub fn apply_edit(&mut self, edit: &Edit, reason: &str, at: &str) -> Result<(), String> {
        if reason.trim().is_empty() {
            return Err("an edit needs a reason (--reason)".into());
        }
        let opt = |o: &Option<String>| o.clone().unwrap_or_default();
        let (field, old, new) = match edit {
            Edit::Em(x) => {
                if !x.is_finite() || *x < 0.0 {
                    return Err(format!("em must be a finite, non-negative number of eV, got {x}"));
                }
                let old = self.em;
                self.em = *x;
                ("em", old.to_string(), x.to_string())
            }
            Edit::Xc(s) => {
                let old = opt(&self.method.xc);
                self.method.xc = Some(s.clone());
                ("xc", old, s.clone())
            }
            Edit::State(s) => {
                let old = self.material.state.map(|x| x.as_str().to_string()).unwrap_or_default();
                self.material.state = Some(*s);
                ("state", old, s.as_str().to_string())
            }
            Edit::Doi(s) => {
                let old = opt(&self.provenance.doi);
                self.provenance.doi = Some(s.clone());
                ("doi", old, s.clone())
            }
            Edit::Notes(s) => {
                let old = opt(&self.provenance.notes);
                self.provenance.notes = Some(s.clone());
                ("notes", old, s.clone())
            }
            Edit::AddFlag(f) => {
                if self.flags.contains(f) {
                    return Err(format!("record already has flag '{f}'"));
                }
                let old = self.flags.join(",");
                self.flags.push(f.clone());
                ("flags", old, self.flags.join(","))
            }
            Edit::RemoveFlag(f) => {
                let before = self.flags.len();
                let old = self.flags.join(",");
                self.flags.retain(|x| x != f);
                if self.flags.len() == before {
                    return Err(format!("record has no flag '{f}'"));
                }
                ("flags", old, self.flags.join(","))
            }
        };
        if old == new {
            return Err(format!("{field} is already '{new}'"));
        }
        self.revisions.push(Revision { at: at.to_string(), field: field.to_string(), old, new, reason: reason.to_string() });
        Ok(())
    }
}

impl HopRecord {
    /// The `(symbol, count)` composition of the hop's cell (host plus the mobile ion) read
    /// from `material.formula`; `None` when the formula is missing or malformed.
    pub fn composition(&self) -> Option<Vec<(String, u64)>> {
        crate::optimade::parse_composition(&self.material.formula)
    }

    /// The value of a queryable field (the names of `query::fields`), `None` for an unknown
    /// name, [`Value::Null`] when the record has no value.
    pub fn field(&self, name: &str) -> Option<Value> {
        self.field_in(name, &std::cell::OnceCell::new())
    }

    /// The values of several fields of this record, in order (`None` for an unknown name):
    /// [`HopRecord::field`] for each, with the formula parsed once for all the OPTIMADE fields.
    pub fn fields<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Vec<Option<Value>> {
        let composition = std::cell::OnceCell::new();
        names.into_iter().map(|name| self.field_in(name, &composition)).collect()
    }

    /// [`HopRecord::field`], with the parsed composition shared through `composition`.
    fn field_in(&self, name: &str, composition: &std::cell::OnceCell<Option<Vec<(String, u64)>>>) -> Option<Value> {
        let comp = || composition.get_or_init(|| self.composition()).as_ref();
        let s = |x: &str| Value::Str(x.to_string());
        let o = |x: &Option<String>| x.as_ref().map_or(Value::Null, |v| Value::Str(v.clone()));
        Some(match name {
            "id" => s(&self.id),
            "sys_name" => o(&self.material.sys_name),
            "formula" => s(&self.material.formula),
            "composition" => o(&self.material.composition),
            "ion" => s(self.ion.symbol()),
            "em" => Value::Num(self.em),
            "fidelity" => s(self.fidelity.as_str()),
            "xc" => o(&self.method.xc),
            "code" => o(&self.method.code),
            "class" => o(&self.material.class_label),
            "group" => o(&self.material.group),
            "crystal_system" => o(&self.material.crystal_system),
            "space_group" => o(&self.material.space_group),
            "path" => o(&self.material.path_label),
            "state" => self.material.state.map_or(Value::Null, |x| s(x.as_str())),
            "source" => s(&self.provenance.dataset),
            "source_file" => s(&self.provenance.source_file),
            "source_record" => s(&self.provenance.source_record_id),
            "partition" => self.partition.map_or(Value::Null, |p| s(p.as_str())),
            "natoms" => Value::Int(self.host_natoms as i64 + 1),
            "nelements" => Value::Int(self.elements.len() as i64),
            "elements" => Value::List(self.elements.iter().map(|e| e.symbol().to_string()).collect()),
            "hop_length" => Value::Num(self.hop_length),
            "volume" => Value::Num(self.volume),
            "citation" => o(&self.provenance.citation),
            "doi" => o(&self.provenance.doi),
            "flags" => Value::List(self.flags.clone()),
            "parent" => o(&self.parent),
            "converged" => self.method.converged.map_or(Value::Null, Value::Bool),
            "imported_at" => s(&self.provenance.imported_at),
            "revisions" => Value::Int(self.revisions.len() as i64),
            "nsites" => Value::Int(self.host_natoms as i64 + 1),
            "chemical_formula_reduced" => comp().map_or(Value::Null, |c| Value::Str(crate::optimade::formula_reduced(c))),
            "chemical_formula_anonymous" => comp().map_or(Value::Null, |c| Value::Str(crate::optimade::formula_anonymous(c))),
            "elements_ratios" => comp().map_or(Value::Null, |c| {
                let symbols: Vec<&str> = self.elements.iter().map(|e| e.symbol()).collect();
                Value::NumList(crate::optimade::elements_ratios(c, &symbols))
            }),
            _ => return None,
        })
    }
}

/// The current time, RFC 3339 in UTC to the second: the time stamp of provenance, audit
/// entries and model records.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
