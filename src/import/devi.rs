//! Importer for the literature DFT-NEB dataset of Devi et al. (2025) and for any file in its
//! formats: band JSON (`band_*.json`: the first five atoms are the migrating ion at the
//! initial site, three linear images and the final site; the host follows), endpoint JSON
//! (`atoms_ini` / `atoms_fin`), enriched from `tabulation.csv` (XC functional, crystal system,
//! space group, path label, composition, MACE-MP-0 barriers). The directory importer also
//! stores the tabulated MACE-MP-0 NEB barriers as `mlip` records linked to their DFT hops
//! (`mlip:devi2025:<sys_name>@mace-mp-0/devi2025-relax` and `...-norelax`; see `record::mlip`).

use super::{finish_record, json_number, parse_json_lenient, Candidate, ImportError, Rejection};
use crate::element::Element;
use crate::record::{mlip, record_id, Fidelity, HopRecord, Material, Method, Provenance, SourcePartition, StructureId};
use crate::structure::{self, Lattice, Structure, Vec3};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Dataset name used in record ids and provenance.
pub const DATASET: &str = "devi2025";
/// Dataset version recorded in provenance.
pub const DATASET_VERSION: &str = "2025 (Sci. Data 12, 1922)";
/// Citation recorded on every record of the dataset.
pub const CITATION: &str = "R. Devi, A. Balasubramanian, K. T. Butler, G. Sai Gautam, \"A literature-derived dataset of migration barriers for quantifying ionic transport in battery materials\", Scientific Data 12, 1922 (2025); R. Devi, K. T. Butler, G. Sai Gautam, \"Leveraging transfer learning for accurate estimation of ionic migration barriers in solids\", npj Comput. Mater. (2025), arXiv:2508.06436";

/// One row of `tabulation.csv`.
#[derive(Clone, Debug, Default)]
pub struct TabulationRow {
    /// CLASS.
    pub class: String,
    /// COMPOSITION.
    pub composition: String,
    /// XC.
    pub xc: String,
    /// CRYSTAL SYSTEM.
    pub crystal_system: String,
    /// SPACE GROUP.
    pub space_group: String,
    /// PATH INFO.
    pub path: String,
    /// MIGRATION BARRIER(eV).
    pub em: Option<f64>,
    /// MACE-RELAX.
    pub mace_relax: Option<f64>,
    /// MACE-NO-RELAX.
    pub mace_no_relax: Option<f64>,
}

/// The delimiter of a CSV file judged from its header line: `,`, `;` or a tab, whichever occurs
/// most (a comma when none does).
pub fn sniff_delimiter(header_line: &str) -> u8 {
    [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|d| (header_line.bytes().filter(|b| b == d).count(), *d == b','))
        .unwrap_or(b',')
}

/// Read `tabulation.csv` keyed by sys_name. The delimiter may be `,`, `;` or a tab (judged from
/// the header); a UTF-8 byte-order mark is accepted. A numeric cell that is not a number is an
/// error naming its row and column (an empty cell is a missing value).
pub fn read_tabulation(path: &Path) -> Result<HashMap<String, TabulationRow>, ImportError> {
    let malformed = |msg: String| ImportError::Malformed { file: path.to_path_buf(), msg };
    let text = crate::input::read_text(path).map_err(malformed)?;
    let delimiter = sniff_delimiter(text.lines().next().unwrap_or(""));
    let mut rdr = csv::ReaderBuilder::new().delimiter(delimiter).from_reader(text.as_bytes());
    let headers = rdr.headers().map_err(|e| malformed(format!("line 1: {e}")))?.clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let need = |name: &str| {
        col(name).ok_or_else(|| {
            let shown: Vec<String> = headers.iter().take(12).map(crate::input::quote).collect();
            let more = if headers.len() > 12 { format!(" and {} more", headers.len() - 12) } else { String::new() };
            let delim = match delimiter {
                b',' => "','".to_string(),
                b'\t' => "a tab".to_string(),
                d => format!("'{}'", d as char),
            };
            malformed(format!(
                "line 1: missing column '{name}' (read the header with delimiter {delim} as {} column(s): {}{more})",
                headers.len(),
                shown.join(", ")
            ))
        })
    };
    let (c_class, c_comp, c_xc, c_cs, c_sg, c_path, c_sys, c_em) = (
        need("CLASS")?,
        need("COMPOSITION")?,
        need("XC")?,
        need("CRYSTAL SYSTEM")?,
        need("SPACE GROUP")?,
        need("PATH INFO")?,
        need("sys_name")?,
        need("MIGRATION BARRIER(eV)")?,
    );
    let (c_mr, c_mn) = (col("MACE-RELAX"), col("MACE-NO-RELAX"));
    let mut out = HashMap::new();
    for (n, row) in rdr.records().enumerate() {
        let line = n + 2;
        let row = row.map_err(|e| malformed(format!("line {line}: {e}")))?;
        let get = |c: usize| row.get(c).unwrap_or("").trim().to_string();
        let num = |c: Option<usize>| -> Result<Option<f64>, ImportError> {
            let Some(c) = c else { return Ok(None) };
            let cell = row.get(c).unwrap_or("").trim();
            if cell.is_empty() {
                return Ok(None);
            }
            match cell.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(Some(x)),
                _ => Err(malformed(format!("line {line}, column '{}': {} is not a number", headers.get(c).unwrap_or("?").trim(), crate::input::quote(cell)))),
            }
        };
        let sys = get(c_sys);
        if sys.is_empty() {
            return Err(malformed(format!("line {line}: empty sys_name")));
        }
        let r = TabulationRow {
            class: get(c_class),
            composition: get(c_comp),
            xc: get(c_xc),
            crystal_system: get(c_cs),
            space_group: get(c_sg),
            path: get(c_path),
            em: num(Some(c_em))?,
            mace_relax: num(c_mr)?,
            mace_no_relax: num(c_mn)?,
        };
        if out.insert(sys.clone(), r).is_some() {
            return Err(malformed(format!("line {line}: sys_name {} appears twice", crate::input::quote(&sys))));
        }
    }
    Ok(out)
}

/// Parse a JARVIS-style atoms object (`lattice_mat`, `coords`, `elements`, `cartesian`).
pub fn jarvis_structure(v: &Value, field: &str) -> Result<Structure, String> {
    let obj = v.as_object().ok_or_else(|| format!("field {field}: expected an object"))?;
    let lat = obj.get("lattice_mat").ok_or_else(|| format!("field {field}.lattice_mat: missing"))?;
    let matrix = vec3_array(lat, &format!("{field}.lattice_mat"))?;
    if matrix.len() != 3 {
        return Err(format!("field {field}.lattice_mat: expected 3 rows, found {}", matrix.len()));
    }
    let lattice = Lattice::new([matrix[0], matrix[1], matrix[2]]).map_err(|e| format!("field {field}.lattice_mat: {e}"))?;
    let coords = vec3_array(obj.get("coords").ok_or_else(|| format!("field {field}.coords: missing"))?, &format!("{field}.coords"))?;
    let els = obj
        .get("elements")
        .and_then(|e| e.as_array())
        .ok_or_else(|| format!("field {field}.elements: missing or not a list"))?;
    let mut species = Vec::with_capacity(els.len());
    for (i, e) in els.iter().enumerate() {
        let s = e.as_str().ok_or_else(|| format!("field {field}.elements[{i}]: not a string"))?;
        species.push(Element::from_symbol(s).map_err(|_| format!("field {field}.elements[{i}]: unknown element {}", crate::input::quote(s)))?);
    }
    if species.len() != coords.len() {
        return Err(format!("field {field}: {} elements but {} coords", species.len(), coords.len()));
    }
    let cartesian = obj.get("cartesian").and_then(|c| c.as_bool()).unwrap_or(false);
    let s = if cartesian {
        Structure::from_cartesian(lattice, species, &coords)
    } else {
        Structure::new(lattice, species, coords)
    };
    s.map_err(|e| format!("field {field}: {e}"))
}

fn vec3_array(v: &Value, field: &str) -> Result<Vec<Vec3>, String> {
    let rows = v.as_array().ok_or_else(|| format!("field {field}: expected a list of 3-vectors"))?;
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            let a = r.as_array().filter(|a| a.len() == 3).ok_or_else(|| format!("field {field}[{i}]: expected 3 numbers"))?;
            let mut out = [0.0; 3];
            for (k, x) in a.iter().enumerate() {
                out[k] = json_number(x).filter(|x| x.is_finite()).ok_or_else(|| format!("field {field}[{i}][{k}]: not a finite number"))?;
            }
            Ok(out)
        })
        .collect()
}

/// Split a band structure into (ion, host, initial, final) and check that the three middle
/// images lie on the straight line between the endpoints.
pub fn split_band(band: &Structure) -> Result<(Element, Structure, Vec3, Vec3), String> {
    const N: usize = crate::record::BAND_POINTS;
    if band.len() <= N {
        return Err(format!("band structure has {} atoms; expected the 5 band atoms plus a host", band.len()));
    }
    let ion = band.species[0];
    if let Some(k) = (1..N).find(|&k| band.species[k] != ion) {
        return Err(format!(
            "mobile ion missing from the band: atom {k} is {} but atom 0 is {ion} (the first five atoms must be the migrating ion)",
            band.species[k]
        ));
    }
    let lat = &band.lattice;
    let initial = band.frac[0];
    // Unwrap step by step: consecutive band points are a quarter hop apart, so each step's
    // minimum image is the step the source meant, even when the hop is not the shortest image.
    let mut final_site = initial;
    for k in 1..N {
        let step = lat.to_frac(lat.min_image_vector(band.frac[k - 1], band.frac[k]));
        final_site = structure::add(final_site, step);
    }
    for k in 1..N - 1 {
        let expect = structure::lerp(initial, final_site, k as f64 / (N - 1) as f64);
        let off = lat.min_image_distance(expect, band.frac[k]);
        if off > super::BAND_LINEARITY_TOLERANCE {
            return Err(format!("band not linear: image {k} is {off:.3} A from the straight line between the endpoints"));
        }
    }
    let host = Structure { lattice: lat.clone(), species: band.species[N..].to_vec(), frac: band.frac[N..].to_vec() };
    Ok((ion, host, initial, final_site))
}

/// Context shared by the records of one import.
pub struct DeviContext<'a> {
    /// Tabulation rows by sys_name (may be empty).
    pub tabulation: &'a HashMap<String, TabulationRow>,
    /// Class label -> group mapping from the store.
    pub class_groups: &'a BTreeMap<String, String>,
    /// Dataset name for ids and provenance.
    pub dataset: &'a str,
    /// Import time.
    pub imported_at: String,
}

/// The record of a DeVI JSON object, without its structures: barrier, class and group,
/// tabulated metadata, flags and provenance. Returns it with its `sys_name`.
fn base_record(
    ctx: &DeviContext,
    obj: &serde_json::Map<String, Value>,
    file: &Path,
    sha: &str,
    importer: &str,
    partition: Option<SourcePartition>,
) -> Result<(HopRecord, String), String> {
    let sys = obj.get("sys_name").and_then(|v| v.as_str()).map(str::trim).filter(|s| !s.is_empty()).ok_or("field sys_name: missing or empty")?;
    let em = match obj.get("target") {
        None | Some(Value::Null) => return Err("field target: missing barrier".into()),
        Some(v) => json_number(v).ok_or_else(|| format!("field target: not a number ({v})"))?,
    };
    let class = obj.get("class").and_then(|v| v.as_str()).map(|s| s.trim().to_string());
    let tab = ctx.tabulation.get(sys);
    let opt = |s: Option<&String>| s.filter(|x| !x.is_empty()).cloned();
    let extra = extra_values(tab, obj);
    let flags = tabulation_flags(ctx, tab, em);
    let group = class.as_deref().map(|c| crate::record::classes::group_for(ctx.class_groups, c));
    let r = HopRecord {
        id: record_id(ctx.dataset, sys),
        ion: Element::from_z(1).expect("H exists"),
        host: StructureId(String::new()),
        host_natoms: 0,
        elements: vec![],
        volume: 0.0,
        hop_length: 0.0,
        initial: [0.0; 3],
        final_site: [0.0; 3],
        images: vec![],
        em,
        fidelity: Fidelity::Dft,
        method: Method { xc: opt(tab.map(|t| &t.xc)), code: None, n_images: None, climbing_image: None, converged: None },
        material: Material {
            formula: String::new(),
            composition: opt(tab.map(|t| &t.composition)),
            class_label: class,
            group,
            crystal_system: opt(tab.map(|t| &t.crystal_system)),
            space_group: opt(tab.map(|t| &t.space_group)),
            sys_name: Some(sys.to_string()),
            path_label: opt(tab.map(|t| &t.path)),
            state: None,
        },
        provenance: provenance(ctx, file, sha, sys, importer),
        partition,
        flags,
        parent: None,
        extra,
        revisions: vec![],
    };
    Ok((r, sys.to_string()))
}

/// The record's extra values: the tabulated MACE barriers (relaxed and not) and the JARVIS
/// id, where present.
fn extra_values(tab: Option<&TabulationRow>, obj: &serde_json::Map<String, Value>) -> BTreeMap<String, f64> {
    let mut extra = BTreeMap::new();
    if let Some(t) = tab {
        if let Some(x) = t.mace_relax {
            extra.insert("mace_relax_em".to_string(), x);
        }
        if let Some(x) = t.mace_no_relax {
            extra.insert("mace_no_relax_em".to_string(), x);
        }
    }
    if let Some(j) = obj.get("jid").and_then(json_number) {
        extra.insert("jid".to_string(), j);
    }
    extra
}

/// Flags from the tabulation, when one was given: the record is not in it, or its barrier
/// `em` differs from the tabulated one.
fn tabulation_flags(ctx: &DeviContext, tab: Option<&TabulationRow>, em: f64) -> Vec<String> {
    let mut flags = Vec::new();
    if !ctx.tabulation.is_empty() {
        match tab {
            None => flags.push("not-in-tabulation".to_string()),
            Some(t) => {
                if t.em.map_or(true, |x| (x - em).abs() > 1e-6) {
                    flags.push("em-differs-from-tabulation".to_string());
                }
            }
        }
    }
    flags
}

/// The provenance of record `sys` of the dataset read from `file`.
fn provenance(ctx: &DeviContext, file: &Path, sha: &str, sys: &str, importer: &str) -> Provenance {
    Provenance {
        dataset: ctx.dataset.to_string(),
        dataset_version: DATASET_VERSION.to_string(),
        source_file: file.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
        source_sha256: sha.to_string(),
        source_record_id: sys.to_string(),
        citation: Some(CITATION.to_string()),
        doi: None,
        bibtex: None,
        importer: importer.to_string(),
        hopdb_version: crate::HOPDB_VERSION.to_string(),
        imported_at: ctx.imported_at.clone(),
        notes: None,
    }
}

fn records_array(file: &Path) -> Result<(Vec<Value>, String), ImportError> {
    let (bytes, sha) = super::read_with_sha(file)?;
    let text = crate::input::utf8_text(bytes).map_err(|msg| ImportError::Malformed { file: file.to_path_buf(), msg })?;
    let v = parse_json_lenient(&text).map_err(|e| ImportError::Malformed { file: file.to_path_buf(), msg: format!("malformed JSON: {e}") })?;
    match v {
        Value::Array(a) => Ok((a, sha)),
        _ => Err(ImportError::Malformed { file: file.to_path_buf(), msg: "expected a JSON list of records".into() }),
    }
}

fn origin(file: &Path, i: usize, obj: Option<&serde_json::Map<String, Value>>) -> String {
    let name = obj.and_then(|o| o.get("sys_name")).and_then(|v| v.as_str()).map(|s| format!(" ({s})")).unwrap_or_default();
    format!("{}, record {i}{name}", file.display())
}

/// Read a band JSON file into candidates and per-record rejections.
pub fn read_band_file(ctx: &DeviContext, file: &Path, partition: Option<SourcePartition>) -> Result<(Vec<Candidate>, Vec<Rejection>), ImportError> {
    let (recs, sha) = records_array(file)?;
    let mut cands = Vec::with_capacity(recs.len());
    let mut rej = Vec::new();
    for (i, v) in recs.iter().enumerate() {
        let obj = v.as_object();
        let org = origin(file, i, obj);
        let res = (|| -> Result<Candidate, String> {
            let obj = obj.ok_or("expected a JSON object")?;
            let (mut r, _) = base_record(ctx, obj, file, &sha, "devi-band-json", partition)?;
            let band = jarvis_structure(obj.get("atoms").ok_or("field atoms: missing")?, "atoms")?;
            let (ion, host, initial, final_site) = split_band(&band)?;
            r.ion = ion;
            r.initial = initial;
            r.final_site = final_site;
            finish_record(&mut r, &host);
            Ok(Candidate { record: r, host, origin: org.clone() })
        })();
        match res {
            Ok(c) => cands.push(c),
            Err(reason) => rej.push(Rejection { origin: org, reason }),
        }
    }
    Ok((cands, rej))
}

/// Read an endpoint JSON file (`atoms_ini`, `atoms_fin`) into candidates.
pub fn read_endpoints_file(ctx: &DeviContext, file: &Path, partition: Option<SourcePartition>) -> Result<(Vec<Candidate>, Vec<Rejection>), ImportError> {
    let (recs, sha) = records_array(file)?;
    let mut cands = Vec::with_capacity(recs.len());
    let mut rej = Vec::new();
    for (i, v) in recs.iter().enumerate() {
        let obj = v.as_object();
        let org = origin(file, i, obj);
        let res = (|| -> Result<Candidate, String> {
            let obj = obj.ok_or("expected a JSON object")?;
            let (mut r, _) = base_record(ctx, obj, file, &sha, "devi-endpoints-json", partition)?;
            let ini = jarvis_structure(obj.get("atoms_ini").ok_or("field atoms_ini: missing")?, "atoms_ini")?;
            let fin = jarvis_structure(obj.get("atoms_fin").ok_or("field atoms_fin: missing")?, "atoms_fin")?;
            let hop = super::hop_from_endpoints(&ini, &fin, None, 0.1)?;
            r.ion = hop.ion;
            r.initial = hop.initial;
            r.final_site = hop.final_site;
            finish_record(&mut r, &hop.host);
            Ok(Candidate { record: r, host: hop.host, origin: org.clone() })
        })();
        match res {
            Ok(c) => cands.push(c),
            Err(reason) => rej.push(Rejection { origin: org, reason }),
        }
    }
    Ok((cands, rej))
}

/// The published MLIP record of a devi2025 hop: `protocol` is [`mlip::DEVI_RELAX`] or
/// [`mlip::DEVI_NO_RELAX`], `provenance` the parent's with the tabulation as source file.
/// `None` for a value that is not a plausible barrier (negative, non-finite, or above
/// [`super::MAX_PLAUSIBLE_EM`]: nine MACE-NO-RELAX values of 28 to 86 eV, diverged calculations).
fn published_mlip_record(parent: &HopRecord, em: f64, protocol: &str, provenance: Provenance) -> Option<HopRecord> {
    if !em.is_finite() || em < 0.0 || em > super::MAX_PLAUSIBLE_EM {
        return None;
    }
    let relaxed = protocol == mlip::DEVI_RELAX;
    let notes = format!(
        "MACE-MP-0 NEB barrier as published in devi2025's tabulation.csv ({}); ASE NEB, {} (the paper's SI, Section S4 and Table S4)",
        if relaxed { "MACE-RELAX" } else { "MACE-NO-RELAX" },
        if relaxed { "endpoints relaxed with MACE-MP-0 first" } else { "endpoints not relaxed" }
    );
    let method = crate::record::Method { xc: None, code: None, n_images: None, climbing_image: None, converged: Some(true) };
    Some(mlip::derived_record(parent, em, mlip::PUBLISHED_MODEL, protocol, method, Provenance { notes: Some(notes), ..provenance }, Default::default()))
}


/// The published MLIP candidates of the DFT candidates `parents`: one per tabulated
/// MACE-RELAX and MACE-NO-RELAX value (`None` where a value is missing or implausible).
fn published_mlip_candidates(parents: &[Candidate], tabulation: &HashMap<String, TabulationRow>, tab_file: &Path, tab_sha: &str) -> Vec<Candidate> {
    let mut out = Vec::new();
    for c in parents {
        let Some(sys) = c.record.material.sys_name.as_deref() else { continue };
        let Some(t) = tabulation.get(sys) else { continue };
        for (value, protocol, column) in [(t.mace_relax, mlip::DEVI_RELAX, "MACE-RELAX"), (t.mace_no_relax, mlip::DEVI_NO_RELAX, "MACE-NO-RELAX")] {
            let Some(em) = value else { continue };
            let provenance = Provenance {
                source_file: tab_file.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
                source_sha256: tab_sha.to_string(),
                source_record_id: format!("{sys}:{column}"),
                importer: "devi-tabulation".to_string(),
                ..c.record.provenance.clone()
            };
            if let Some(record) = published_mlip_record(&c.record, em, protocol, provenance) {
                out.push(Candidate { record, host: c.host.clone(), origin: format!("{}, row {sys}, column {column}", tab_file.display()) });
            }
        }
    }
    out
}

/// Read the whole dataset directory: `band_train.json` (partition train), `band_test.json`
/// (partition test), `tabulation.csv` for enrichment, and `endpoints_test.json` as a
/// cross-check of the test hops (a test hop whose endpoints disagree with its band is
/// flagged `endpoints-differ-from-band`; endpoint records with no band become records).
pub fn read_dir(dir: &Path, class_groups: &BTreeMap<String, String>) -> Result<(Vec<Candidate>, Vec<Rejection>), ImportError> {
    read_dir_with(dir, class_groups, true)
}

/// [`read_dir`], with the published MLIP records (`mlip` true) or the DFT hops only.
pub fn read_dir_with(dir: &Path, class_groups: &BTreeMap<String, String>, mlip: bool) -> Result<(Vec<Candidate>, Vec<Rejection>), ImportError> {
    let need = |name: &str| {
        let p = dir.join(name);
        if p.is_file() {
            Ok(p)
        } else {
            Err(ImportError::Malformed { file: p, msg: "missing (expected the devi2025 dataset layout: band_train.json, band_test.json, tabulation.csv)".into() })
        }
    };
    let tab_path = need("tabulation.csv")?;
    let tabulation = read_tabulation(&tab_path)?;
    let ctx = DeviContext { tabulation: &tabulation, class_groups, dataset: DATASET, imported_at: crate::record::now() };
    let (mut cands, mut rej) = read_band_file(&ctx, &need("band_train.json")?, Some(SourcePartition::Train))?;
    let (c2, r2) = read_band_file(&ctx, &need("band_test.json")?, Some(SourcePartition::Test))?;
    cands.extend(c2);
    rej.extend(r2);
    let ep = dir.join("endpoints_test.json");
    if ep.is_file() {
        let (ecands, erej) = read_endpoints_file(&ctx, &ep, Some(SourcePartition::Test))?;
        // An endpoint record that cannot be read fails the cross-check of its band record.
        for r in erej {
            let hit = cands.iter_mut().find(|c| r.origin.ends_with(&format!("({})", c.record.material.sys_name.clone().unwrap_or_default())));
            match hit {
                Some(c) => c.record.flags.push("endpoints-unreadable".to_string()),
                None => rej.push(r),
            }
        }
        let by_id: HashMap<String, usize> = cands.iter().enumerate().map(|(i, c)| (c.record.id.clone(), i)).collect();
        for e in ecands {
            match by_id.get(&e.record.id) {
                Some(&i) => {
                    // The endpoint file holds separately relaxed structures: compare the ion's
                    // sites (either direction) within 0.5 A.
                    let b = &mut cands[i];
                    let lat = &b.host.lattice;
                    let d = |x, y| lat.min_image_distance(x, y);
                    let (br, er) = (&b.record, &e.record);
                    let fwd = d(br.initial, er.initial).max(d(br.final_site, er.final_site));
                    let bwd = d(br.initial, er.final_site).max(d(br.final_site, er.initial));
                    let off = fwd.min(bwd);
                    let differs = br.ion != er.ion || off > 0.5;
                    b.record.extra.insert("endpoints_offset_a".to_string(), off);
                    if differs {
                        b.record.flags.push("endpoints-differ-from-band".to_string());
                    }
                }
                None => cands.push(e),
            }
        }
    }
    if !mlip {
        return Ok((cands, rej));
    }
    // The published MACE-MP-0 barriers, as mlip records linked to their DFT hops.
    let tab_sha = super::litraj::file_sha256(&tab_path)?;
    let mlip = published_mlip_candidates(&cands, &tabulation, &tab_path, &tab_sha);
    cands.extend(mlip);
    Ok((cands, rej))
}
