//! The generic curator format: a manifest (CSV or JSON lines) of hops, each given by the
//! structure files of its initial and final states.
//!
//! # Manifest reference
//!
//! A manifest lists one hop per row (CSV, with a header line) or per line (JSON lines: one
//! JSON object per line, blank lines ignored). The format is chosen by the extension:
//! `.csv` is CSV; `.jsonl`, `.ndjson` and `.json` are JSON lines; anything else is JSON lines
//! when its first non-blank character is `{`, else CSV.
//!
//! | column | required | meaning |
//! |---|---|---|
//! | `id` | yes | record id within the dataset; the record's id is `<dataset>:<id>` |
//! | `ion` | yes | the migrating ion, an element symbol (`Li`, `Mg`, ...) |
//! | `initial` | yes | structure file of the full initial state (host + ion at its initial site) |
//! | `final` | yes | structure file of the full final state (host + ion at its final site) |
//! | `em` | yes | migration barrier in eV, a non-negative number |
//! | `xc` | no | exchange-correlation functional (`GGA`, `GGA+U`, `SCAN`, ...) |
//! | `doi` | no | DOI of the source |
//! | `citation` | no | human-readable citation |
//! | `notes` | no | free-text curator notes |
//! | `class` | no | structural class as published (mapped to a structural group by the store's class mapping) |
//! | `sys_name` | no | system name as published |
//! | `path` | no | path label as published (e.g. `PATH 1`) |
//! | `state` | no | `charged`, `discharged` or `intermediate` |
//! | `fidelity` | no | `dft` (default), `bvse`, `mlip` or `experiment` |
//! | `code` | no | code used (`VASP`, ...) |
//!
//! Empty cells (CSV) and `null` or missing keys (JSON lines) mean "not given". In JSON lines
//! `em` may be a number or a string holding one. Columns or keys not in this table are an error
//! (so that a misspelt column is not silently dropped).
//!
//! Structure paths are relative to the manifest's folder (absolute paths are allowed). Files
//! ending in `.cif` are read as CIF (P1 or with symmetry operations); files named `POSCAR*`,
//! `CONTCAR*`, `*.vasp` or `*.poscar` as VASP 5 POSCAR (see [`crate::structure::io`]). The two
//! structures must have the same lattice (within 0.1 A per vector) and the same atoms, in any
//! order, except the one `ion` atom that moves by more than 0.1 A: that atom's two positions
//! are the hop's endpoints and every other atom is the host.
//!
//! Example (CSV):
//!
//! ```text
//! id,ion,initial,final,em,xc,doi,citation,notes,class,sys_name,path,state,fidelity,code
//! lif-1,Li,lif/initial.cif,lif/final.cif,0.62,GGA,10.0000/example,"Doe et al. (2024)",,ROCKSALT,LiF,PATH 1,discharged,dft,VASP
//! ```
//!
//! Example (JSON lines):
//!
//! ```text
//! {"id": "lif-1", "ion": "Li", "initial": "lif/POSCAR_ini", "final": "lif/POSCAR_fin", "em": 0.62, "xc": "GGA"}
//! ```
//!
//! Provenance: a manifest record's source file is the manifest's file name and its sha256 the
//! manifest's; a record added from two files directly ([`candidate_from_files`]) has source file
//! `<initial>,<final>` (file names) and the sha256 of the two files' bytes concatenated.

use super::{finish_record, Candidate, ImportError, Rejection};
use crate::element::Element;
use crate::record::{record_id, Fidelity, HopRecord, IntercalationState, Material, Method, Provenance, StructureId};
use crate::structure::io::read_structure;
use crate::structure::Structure;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Default dataset name for curated records.
pub const DEFAULT_DATASET: &str = "curated";

/// The manifest's columns, in documentation order.
pub const COLUMNS: [&str; 15] =
    ["id", "ion", "initial", "final", "em", "xc", "doi", "citation", "notes", "class", "sys_name", "path", "state", "fidelity", "code"];

/// Options for the generic importer.
#[derive(Clone, Debug)]
pub struct GenericOptions {
    /// Dataset name used in record ids and provenance (default `curated`).
    pub dataset: String,
    /// Dataset version recorded in provenance.
    pub dataset_version: String,
    /// Class label -> structural group mapping (usually the store's); unmapped labels map to
    /// themselves, upper-cased.
    pub class_groups: BTreeMap<String, String>,
}

impl Default for GenericOptions {
    fn default() -> Self {
        GenericOptions { dataset: DEFAULT_DATASET.into(), dataset_version: String::new(), class_groups: BTreeMap::new() }
    }
}

/// Metadata of one curated hop (everything in a manifest row except the ion, the files and Em).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GenericMeta {
    /// Record id within the dataset.
    pub id: String,
    /// Exchange-correlation functional.
    pub xc: Option<String>,
    /// DOI.
    pub doi: Option<String>,
    /// Citation.
    pub citation: Option<String>,
    /// Curator notes.
    pub notes: Option<String>,
    /// Structural class as published.
    pub class: Option<String>,
    /// System name as published.
    pub sys_name: Option<String>,
    /// Path label as published.
    pub path: Option<String>,
    /// Intercalation state.
    pub state: Option<IntercalationState>,
    /// Fidelity (None: dft).
    pub fidelity: Option<Fidelity>,
    /// Code.
    pub code: Option<String>,
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| p.display().to_string())
}

/// Build a candidate from the structure files of a hop's initial and final states (used by
/// `hopdb add` and by [`read_manifest`]). The hop is derived with
/// [`super::hop_from_endpoints`] (tolerance 0.1 A); errors name the file or field.
pub fn candidate_from_files(initial: &Path, final_: &Path, ion: Element, em: f64, meta: &GenericMeta, opts: &GenericOptions) -> Result<Candidate, String> {
    check_meta(meta, em)?;
    let read = |p: &Path, field: &str| -> Result<_, String> {
        if !p.is_file() {
            return Err(format!("field {field}: no such file '{}'", p.display()));
        }
        read_structure(p).map_err(|e| format!("field {field}: {e}"))
    };
    let ini = read(initial, "initial")?;
    let fin = read(final_, "final")?;
    let mut h = Sha256::new();
    for p in [initial, final_] {
        h.update(std::fs::read(p).map_err(|e| format!("cannot read '{}': {e}", p.display()))?);
    }
    let source = StructureSource {
        file: format!("{},{}", file_name(initial), file_name(final_)),
        sha256: hex::encode(h.finalize()),
        importer: "generic-files",
        origin: format!("{} -> {}", initial.display(), final_.display()),
    };
    candidate_from_structures(&ini, &fin, ion, em, meta, opts, source)
}

/// Where the structures of [`candidate_from_structures`] came from, for provenance and messages.
#[derive(Clone, Debug)]
pub struct StructureSource {
    /// `provenance.source_file` (e.g. `a.cif,b.cif`).
    pub file: String,
    /// `provenance.source_sha256` of the source bytes.
    pub sha256: String,
    /// `provenance.importer`.
    pub importer: &'static str,
    /// The candidate's origin in messages.
    pub origin: String,
}

impl StructureSource {
    /// The source of structures handed over in memory (e.g. `ase.Atoms` from Python): the
    /// sha256 is taken over both structures' canonical encodings, so the same structures give
    /// the same provenance (and [`StructureSource::content_id`]) on every machine.
    pub fn in_memory(initial: &Structure, final_: &Structure, what: &str, importer: &'static str) -> StructureSource {
        let mut h = Sha256::new();
        for s in [initial, final_] {
            h.update(bincode::serialize(s).expect("structures encode"));
        }
        StructureSource { file: what.to_string(), sha256: hex::encode(h.finalize()), importer, origin: what.to_string() }
    }

    /// A record id derived from the content: `<formula without spaces>-<first 12 hex digits of the sha256>`.
    pub fn content_id(&self, initial: &Structure) -> String {
        format!("{}-{}", initial.formula().replace(' ', ""), &self.sha256[..12.min(self.sha256.len())])
    }
}

fn check_meta(meta: &GenericMeta, em: f64) -> Result<(), String> {
    if meta.id.trim().is_empty() {
        return Err("field id: missing or empty".into());
    }
    if !em.is_finite() {
        return Err(format!("field em: not a finite number ({em})"));
    }
    if em < 0.0 {
        return Err(format!("field em: negative barrier {em} eV"));
    }
    Ok(())
}

/// Build a candidate from the initial and final structures of a hop (what
/// [`candidate_from_files`] does once the files are read; also used for structures handed over
/// in memory). The hop is derived with [`super::hop_from_endpoints`] (tolerance 0.1 A).
pub fn candidate_from_structures(
    ini: &Structure,
    fin: &Structure,
    ion: Element,
    em: f64,
    meta: &GenericMeta,
    opts: &GenericOptions,
    source: StructureSource,
) -> Result<Candidate, String> {
    check_meta(meta, em)?;
    let hop = super::hop_from_endpoints(ini, fin, Some(ion), 0.1).map_err(|e| format!("initial/final: {e}"))?;
    let id = meta.id.trim();
    let group = meta.class.as_deref().map(|c| crate::record::classes::group_for(&opts.class_groups, c));
    let mut r = HopRecord {
        id: record_id(&opts.dataset, id),
        ion: hop.ion,
        host: StructureId(String::new()),
        host_natoms: 0,
        elements: vec![],
        volume: 0.0,
        hop_length: 0.0,
        initial: hop.initial,
        final_site: hop.final_site,
        images: vec![],
        em,
        fidelity: meta.fidelity.unwrap_or(Fidelity::Dft),
        method: Method { xc: meta.xc.clone(), code: meta.code.clone(), n_images: None, climbing_image: None, converged: None },
        material: Material {
            formula: String::new(),
            composition: None,
            class_label: meta.class.clone(),
            group,
            crystal_system: None,
            space_group: None,
            sys_name: meta.sys_name.clone(),
            path_label: meta.path.clone(),
            state: meta.state,
        },
        provenance: Provenance {
            dataset: opts.dataset.clone(),
            dataset_version: opts.dataset_version.clone(),
            source_file: source.file,
            source_sha256: source.sha256,
            source_record_id: id.to_string(),
            citation: meta.citation.clone(),
            doi: meta.doi.clone(),
            bibtex: None,
            importer: source.importer.into(),
            hopdb_version: crate::HOPDB_VERSION.to_string(),
            imported_at: crate::record::now(),
            notes: meta.notes.clone(),
        },
        partition: None,
        flags: vec![],
        parent: None,
        extra: BTreeMap::new(),
        revisions: vec![],
    };
    finish_record(&mut r, &hop.host);
    Ok(Candidate { record: r, host: hop.host, origin: source.origin })
}

/// One manifest row as text fields (absent or empty fields are not in the map).
type Row = BTreeMap<String, String>;

/// A row with its 1-based line number, or why it could not be read.
type NumberedRow = (usize, Result<Row, String>);

/// Turn one manifest row into a candidate.
fn candidate_from_row(row: &Row, base: &Path, opts: &GenericOptions) -> Result<Candidate, String> {
    let get = |k: &str| row.get(k).map(|s| s.trim()).filter(|s| !s.is_empty());
    let need = |k: &str| get(k).ok_or_else(|| format!("field {k}: missing or empty"));
    let id = need("id")?;
    let ion_s = need("ion")?;
    let ion = Element::from_symbol(ion_s).map_err(|_| format!("field ion: unknown element '{ion_s}'"))?;
    let em_s = need("em")?;
    let em = em_s.parse::<f64>().map_err(|_| format!("field em: not a number ('{em_s}')"))?;
    let state = match get("state") {
        None => None,
        Some(s) => Some(IntercalationState::parse(s).ok_or_else(|| format!("field state: {} is not charged, discharged or intermediate", crate::input::quote(s)))?),
    };
    let fidelity = match get("fidelity") {
        None => None,
        Some(s) => Some(Fidelity::parse(s).ok_or_else(|| format!("field fidelity: {} is not dft, bvse, mlip or experiment", crate::input::quote(s)))?),
    };
    let s = |k: &str| get(k).map(str::to_string);
    let meta = GenericMeta {
        id: id.to_string(),
        xc: s("xc"),
        doi: s("doi"),
        citation: s("citation"),
        notes: s("notes"),
        class: s("class"),
        sys_name: s("sys_name"),
        path: s("path"),
        state,
        fidelity,
        code: s("code"),
    };
    let resolve = |p: &str| -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };
    let ini = resolve(need("initial")?);
    let fin = resolve(need("final")?);
    candidate_from_files(&ini, &fin, ion, em, &meta, opts)
}

/// Manifest syntax, from the file name or its first character.
fn is_jsonl(file: &Path, text: &str) -> bool {
    let lower = file_name(file).to_ascii_lowercase();
    if lower.ends_with(".csv") {
        false
    } else if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") || lower.ends_with(".json") {
        true
    } else {
        text.trim_start().starts_with('{')
    }
}

/// Rows of a CSV manifest with their 1-based line numbers.
fn csv_rows(file: &Path, text: &str) -> Result<Vec<NumberedRow>, ImportError> {
    let malformed = |msg: String| ImportError::Malformed { file: file.to_path_buf(), msg };
    let mut rdr = csv::ReaderBuilder::new().flexible(false).from_reader(text.as_bytes());
    let headers: Vec<String> = rdr.headers().map_err(|e| malformed(format!("line 1: {e}")))?.iter().map(|h| h.trim().to_string()).collect();
    for h in &headers {
        if !COLUMNS.contains(&h.as_str()) {
            return Err(malformed(format!("line 1: unknown column {} (known columns: {})", crate::input::quote(h), COLUMNS.join(", "))));
        }
    }
    for need in ["id", "ion", "initial", "final", "em"] {
        if !headers.iter().any(|h| h == need) {
            return Err(malformed(format!("line 1: missing required column '{need}'")));
        }
    }
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map(|p| p.line().to_string()).unwrap_or_else(|| "?".into());
            malformed(format!("line {line}: {e}"))
        })?;
        let line = rec.position().map(|p| p.line() as usize).unwrap_or(0);
        if rec.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let row: Row = headers.iter().cloned().zip(rec.iter().map(str::to_string)).collect();
        out.push((line, Ok(row)));
    }
    Ok(out)
}

/// Rows of a JSON-lines manifest with their 1-based line numbers.
fn jsonl_rows(text: &str) -> Vec<NumberedRow> {
    let mut out = Vec::new();
    for (k, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let res = (|| -> Result<Row, String> {
            let v = super::parse_json_lenient(line).map_err(|e| format!("malformed JSON: {e}"))?;
            let obj = v.as_object().ok_or("expected a JSON object")?;
            let mut row = Row::new();
            for (key, val) in obj {
                if !COLUMNS.contains(&key.as_str()) {
                    return Err(format!("unknown field '{key}' (known fields: {})", COLUMNS.join(", ")));
                }
                let s = match val {
                    Value::Null => continue,
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => return Err(format!("field {key}: expected a string or a number")),
                };
                row.insert(key.clone(), s);
            }
            Ok(row)
        })();
        out.push((k + 1, res));
    }
    out
}

/// Read a manifest (CSV or JSON lines) into candidates and per-record rejections (all of
/// [`stream_manifest`], collected). A manifest that cannot be read at all (bad header, unknown
/// column, broken CSV) is [`ImportError::Malformed`]; a bad row is a [`Rejection`] naming the
/// line, id and field.
pub fn read_manifest(file: &Path, opts: &GenericOptions) -> Result<(Vec<Candidate>, Vec<Rejection>), ImportError> {
    let mut cands = Vec::new();
    let mut rej = Vec::new();
    for item in stream_manifest(file, opts)? {
        match item? {
            Ok(c) => cands.push(c),
            Err(r) => rej.push(r),
        }
    }
    Ok((cands, rej))
}

/// A manifest as a stream: its rows are read at once (a line each), the structure files they
/// name are read one row at a time as the stream is consumed, so memory holds one hop's
/// structures, not every host of the manifest.
pub fn stream_manifest(file: &Path, opts: &GenericOptions) -> Result<impl Iterator<Item = Result<super::ReadItem, ImportError>>, ImportError> {
    let (bytes, sha) = super::read_with_sha(file)?;
    let text = crate::input::utf8_text(bytes).map_err(|msg| ImportError::Malformed { file: file.to_path_buf(), msg })?;
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let rows = if is_jsonl(file, &text) { jsonl_rows(&text) } else { csv_rows(file, &text)? };
    drop(text);
    if rows.is_empty() {
        return Err(ImportError::Malformed { file: file.to_path_buf(), msg: "the manifest lists no hops".into() });
    }
    let (file, opts) = (file.to_path_buf(), opts.clone());
    Ok(rows.into_iter().map(move |(line, row)| {
        let id = row.as_ref().ok().and_then(|r| r.get("id")).map(|s| s.trim()).filter(|s| !s.is_empty());
        let origin = match id {
            Some(id) => format!("{}, line {line} ({id})", file.display()),
            None => format!("{}, line {line}", file.display()),
        };
        Ok(match row.and_then(|r| candidate_from_row(&r, &base, &opts)) {
            Ok(mut c) => {
                c.origin = origin;
                c.record.provenance.source_file = file_name(&file);
                c.record.provenance.source_sha256 = sha.clone();
                c.record.provenance.importer = "generic-manifest".into();
                Ok(c)
            }
            Err(reason) => Err(Rejection { origin, reason }),
        })
    }))
}
