//! Reading hopdb's own JSON-lines export (written by [`crate::export::export_jsonl`]): every
//! field of each record (id, provenance, flags, revisions) as exported, the host checked
//! against the record's content address, floats read back bit for bit.

use super::{Candidate, ImportError, Rejection};
use crate::record::{HopRecord, StructureId};
use crate::structure::{Lattice, Structure};
use serde::Deserialize;
use std::path::Path;

#[derive(Deserialize)]
struct LineOwned {
    record: HopRecord,
    host: Structure,
}

/// Parse one JSON-lines line into a candidate: the record exactly as exported, its host with the
/// lattice rebuilt. The host must match the record's content address.
pub fn candidate_from_jsonl_line(line: &str, origin: String) -> Result<Candidate, String> {
    let value = parse_json_exact(line).map_err(|e| format!("malformed JSON: {e}"))?;
    let v: LineOwned = serde_json::from_value(value).map_err(|e| format!("malformed record: {e}"))?;
    let lattice = Lattice::new(*v.host.lattice.matrix()).map_err(|e| format!("field host.lattice: {e}"))?;
    let host = Structure::new(lattice, v.host.species, v.host.frac).map_err(|e| format!("field host: {e}"))?;
    let sid = StructureId::of(&host);
    if sid != v.record.host {
        return Err(format!("field host: the structure's content address {sid} differs from the record's host id {}", v.record.host));
    }
    if v.record.host_natoms as usize != host.len() {
        return Err(format!("field host_natoms: {} but the host has {} atoms", v.record.host_natoms, host.len()));
    }
    Ok(Candidate { record: v.record, host, origin })
}

/// Read a JSON-lines export (see [`export_jsonl`]) into candidates and per-line rejections,
/// keeping every field of each record (id, provenance, flags, revisions) as exported.
pub fn read_jsonl(file: &Path) -> Result<(Vec<Candidate>, Vec<Rejection>), ImportError> {
    let (bytes, _sha) = super::read_with_sha(file)?;
    let text = crate::input::utf8_text(bytes).map_err(|msg| ImportError::Malformed { file: file.to_path_buf(), msg })?;
    let mut cands = Vec::new();
    let mut rej = Vec::new();
    for (k, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let id = parse_json_exact(line)
            .ok()
            .and_then(|v| v.get("record").and_then(|r| r.get("id")).and_then(|i| i.as_str()).map(str::to_string));
        let origin = match id {
            Some(id) => format!("{}, line {} ({id})", file.display(), k + 1),
            None => format!("{}, line {}", file.display(), k + 1),
        };
        match candidate_from_jsonl_line(line, origin.clone()) {
            Ok(c) => cands.push(c),
            Err(reason) => rej.push(Rejection { origin, reason }),
        }
    }
    if cands.is_empty() && rej.is_empty() {
        return Err(ImportError::Malformed { file: file.to_path_buf(), msg: "no records (empty file)".into() });
    }
    Ok((cands, rej))
}

/// Parse JSON text into a [`serde_json::Value`]; numbers read back bit for bit (serde_json's
/// `float_roundtrip` feature is on), so an exported float re-imports exactly.
pub fn parse_json_exact(text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}
