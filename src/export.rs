//! Exporting records: JSON lines (complete, re-importable), CSV (metadata only) and LiTraj-style
//! extended XYZ.
//!
//! - **JSON lines**: one object per record, `{"record": <HopRecord>, "host": <Structure>}`,
//!   with every field of the record (provenance, flags, revisions included). [`crate::import::jsonl::read_jsonl`]
//!   reads it back, so export then import into a fresh store reproduces the records exactly.
//! - **CSV**: the columns in [`CSV_COLUMNS`], one row per record; lists (flags) are joined with
//!   `;`. `natoms` counts the atoms of the initial structure (host + ion) and `hop_length` is in
//!   Angstrom.
//! - **Extended XYZ**: one frame per record, in the LiTraj centroid layout read by
//!   [`crate::import::litraj`]: the host atoms, the ion at its initial and at its final site,
//!   then the centroid `X`; Cartesian positions; the info line carries `Lattice`, `Properties`,
//!   `em`, `edge_id`, `material_id`, `id` and provenance keys.
//!
//! Submodules: [`parquet`] writes any query result as a Parquet file with typed columns;
//! [`split`] writes a split for other machine-learning stacks (ALIGNN's folder layout, one
//! extended XYZ file per partition).

pub mod parquet;
pub mod split;

use crate::record::{HopRecord, StructureId};
use crate::store::{Store, StoreError};
use crate::structure::{self, Structure};
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;

/// Columns of the CSV export, in order.
pub const CSV_COLUMNS: [&str; 20] = [
    "id",
    "sys_name",
    "ion",
    "em",
    "fidelity",
    "xc",
    "class",
    "group",
    "crystal_system",
    "space_group",
    "path",
    "partition",
    "source",
    "source_file",
    "source_sha256",
    "doi",
    "flags",
    "formula",
    "natoms",
    "hop_length",
];

/// Export failures.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the output failed.
    #[error("write error: {0}")]
    Io(#[from] std::io::Error),
    /// Encoding a value failed.
    #[error("encoding error: {0}")]
    Encode(String),
    /// The request cannot be exported in the asked layout (e.g. a split without the
    /// partitions a format needs).
    #[error("{0}")]
    Invalid(String),
    /// Writing a file failed.
    #[error("cannot write {path}: {source}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

#[derive(Serialize)]
struct LineRef<'a> {
    record: &'a HopRecord,
    host: &'a Structure,
}


/// Hosts read from the store, kept while consecutive records share them.
pub(crate) struct HostCache<'a> {
    store: &'a Store,
    map: HashMap<StructureId, Structure>,
}

impl<'a> HostCache<'a> {
    pub(crate) fn new(store: &'a Store) -> Self {
        HostCache { store, map: HashMap::new() }
    }

    pub(crate) fn get(&mut self, sid: &StructureId) -> Result<&Structure, StoreError> {
        if !self.map.contains_key(sid) {
            if self.map.len() >= 256 {
                self.map.clear();
            }
            let s = self.store.structure(sid)?;
            self.map.insert(sid.clone(), s);
        }
        Ok(&self.map[sid])
    }
}

/// One JSON-lines line (without the newline) for a record and its host.
pub fn jsonl_line(record: &HopRecord, host: &Structure) -> Result<String, ExportError> {
    serde_json::to_string(&LineRef { record, host }).map_err(|e| ExportError::Encode(format!("record '{}': {e}", record.id)))
}

/// Write the records `ids` as JSON lines (record plus its host inline). Returns the number of
/// records written.
pub fn export_jsonl(store: &Store, ids: impl IntoIterator<Item = String>, out: &mut dyn Write) -> Result<usize, ExportError> {
    let mut hosts = HostCache::new(store);
    let mut n = 0;
    for id in ids {
        let r = store.record(&id)?;
        let host = hosts.get(&r.host)?;
        writeln!(out, "{}", jsonl_line(&r, host)?)?;
        n += 1;
    }
    out.flush()?;
    Ok(n)
}

/// The CSV row of a record (see [`CSV_COLUMNS`]).
pub fn csv_row(r: &HopRecord) -> Vec<String> {
    let o = |s: &Option<String>| s.clone().unwrap_or_default();
    vec![
        r.id.clone(),
        o(&r.material.sys_name),
        r.ion.symbol().to_string(),
        r.em.to_string(),
        r.fidelity.as_str().to_string(),
        o(&r.method.xc),
        o(&r.material.class_label),
        o(&r.material.group),
        o(&r.material.crystal_system),
        o(&r.material.space_group),
        o(&r.material.path_label),
        r.partition.map(|p| p.as_str().to_string()).unwrap_or_default(),
        r.provenance.dataset.clone(),
        r.provenance.source_file.clone(),
        r.provenance.source_sha256.clone(),
        o(&r.provenance.doi),
        r.flags.join(";"),
        r.material.formula.clone(),
        (r.host_natoms + 1).to_string(),
        format!("{:.6}", r.hop_length),
    ]
}

/// Write the records `ids` as CSV with a header (metadata only, see [`CSV_COLUMNS`]). Returns
/// the number of records written.
pub fn export_csv(store: &Store, ids: impl IntoIterator<Item = String>, out: &mut dyn Write) -> Result<usize, ExportError> {
    let mut w = csv::Writer::from_writer(out);
    let csv_err = |e: csv::Error| ExportError::Encode(e.to_string());
    w.write_record(CSV_COLUMNS).map_err(csv_err)?;
    let mut n = 0;
    for id in ids {
        let r = store.record(&id)?;
        w.write_record(csv_row(&r)).map_err(csv_err)?;
        n += 1;
    }
    w.flush()?;
    Ok(n)
}

/// Quote a value for an extended-XYZ info line.
fn xyz_quote(s: &str) -> String {
    let esc = s.replace('\\', "\\\\").replace('"', "\\\"").replace(['\n', '\r'], " ");
    format!("\"{esc}\"")
}

/// The extended-XYZ frame of a record (LiTraj centroid layout, see the module docs), ending
/// with a newline.
pub fn xyz_frame(r: &HopRecord, host: &Structure) -> String {
    use std::fmt::Write as _;
    let m = host.lattice.matrix();
    let lat: Vec<String> = m.iter().flatten().map(|x| format!("{x:.10}")).collect();
    let mut info = format!("Lattice=\"{}\" Properties=species:S:1:pos:R:3 em={}", lat.join(" "), r.em);
    let edge = r.extra.get("edge_id").filter(|x| x.is_finite() && x.fract() == 0.0);
    match edge {
        Some(e) => {
            let _ = write!(info, " edge_id={}", *e as i64);
            if let Some(s) = &r.material.sys_name {
                let _ = write!(info, " material_id={}", xyz_quote(s));
            }
        }
        None => {
            let _ = write!(info, " edge_id={}", xyz_quote(&r.provenance.source_record_id));
        }
    }
    let _ = write!(info, " id={} ion={} fidelity={}", xyz_quote(&r.id), r.ion, r.fidelity);
    let opt = |info: &mut String, k: &str, v: &Option<String>| {
        if let Some(v) = v {
            let _ = write!(info, " {k}={}", xyz_quote(v));
        }
    };
    opt(&mut info, "sys_name", &r.material.sys_name);
    opt(&mut info, "xc", &r.method.xc);
    opt(&mut info, "code", &r.method.code);
    opt(&mut info, "class", &r.material.class_label);
    opt(&mut info, "space_group", &r.material.space_group);
    opt(&mut info, "crystal_system", &r.material.crystal_system);
    opt(&mut info, "path", &r.material.path_label);
    opt(&mut info, "composition", &r.material.composition);
    opt(&mut info, "doi", &r.provenance.doi);
    let p = &r.provenance;
    for (k, v) in [
        ("dataset", &p.dataset),
        ("dataset_version", &p.dataset_version),
        ("source_file", &p.source_file),
        ("source_sha256", &p.source_sha256),
        ("source_record_id", &p.source_record_id),
        ("importer", &p.importer),
        ("imported_at", &p.imported_at),
        ("hopdb_version", &p.hopdb_version),
    ] {
        if !v.is_empty() {
            let _ = write!(info, " {k}={}", xyz_quote(v));
        }
    }
    if !r.flags.is_empty() {
        let _ = write!(info, " flags={}", xyz_quote(&r.flags.join(";")));
    }
    info.push_str(" pbc=\"T T T\"");
    let mut out = String::new();
    let _ = writeln!(out, "{}", host.len() + 3);
    let _ = writeln!(out, "{info}");
    let atom = |out: &mut String, sym: &str, c: structure::Vec3| {
        let _ = writeln!(out, "{sym:<3} {:16.10} {:16.10} {:16.10}", c[0], c[1], c[2]);
    };
    for (e, f) in host.species.iter().zip(&host.frac) {
        atom(&mut out, e.symbol(), host.lattice.to_cart(*f));
    }
    atom(&mut out, r.ion.symbol(), host.lattice.to_cart(r.initial));
    atom(&mut out, r.ion.symbol(), host.lattice.to_cart(r.final_site));
    atom(&mut out, "X", host.lattice.to_cart(r.centroid()));
    out
}

/// Write the records `ids` as LiTraj-style extended XYZ, one frame per record. Returns the
/// number of records written.
pub fn export_xyz(store: &Store, ids: impl IntoIterator<Item = String>, out: &mut dyn Write) -> Result<usize, ExportError> {
    let mut hosts = HostCache::new(store);
    let mut n = 0;
    for id in ids {
        let r = store.record(&id)?;
        let host = hosts.get(&r.host)?;
        out.write_all(xyz_frame(&r, host).as_bytes())?;
        n += 1;
    }
    out.flush()?;
    Ok(n)
}

