//! Reading hopdb's own JSON-lines export (written by [`crate::export::export_jsonl`]): every
//! field of each record (id, provenance, flags, revisions) as exported, the host checked
//! against the record's content address, floats read back bit for bit.

use super::{Candidate, ImportError, ReadItem, Rejection};
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
/// keeping every field of each record (id, provenance, flags, revisions) as exported (all of
/// [`stream_jsonl`], collected).
pub fn read_jsonl(file: &Path) -> Result<(Vec<Candidate>, Vec<Rejection>), ImportError> {
    let mut cands = Vec::new();
    let mut rej = Vec::new();
    for item in stream_jsonl(file)? {
        match item? {
            Ok(c) => cands.push(c),
            Err(r) => rej.push(r),
        }
    }
    Ok((cands, rej))
}

/// Read a JSON-lines export line by line: one record in memory at a time. The stream ends
/// with [`ImportError::Malformed`] for text that is not UTF-8 (naming the line) and for a
/// file without records.
pub fn stream_jsonl(file: &Path) -> Result<JsonlStream, ImportError> {
    let f = std::fs::File::open(file).map_err(|e| ImportError::Malformed { file: file.to_path_buf(), msg: format!("cannot read: {e}") })?;
    Ok(JsonlStream { file: file.to_path_buf(), lines: crate::input::Lines::new(std::io::BufReader::with_capacity(1 << 20, f)), any: false, finished: false })
}

/// The candidates of a JSON-lines export, read line by line ([`stream_jsonl`]).
pub struct JsonlStream {
    file: std::path::PathBuf,
    lines: crate::input::Lines<std::io::BufReader<std::fs::File>>,
    any: bool,
    finished: bool,
}

impl Iterator for JsonlStream {
    type Item = Result<ReadItem, ImportError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        loop {
            let line = match self.lines.next_line() {
                Err(msg) => {
                    self.finished = true;
                    return Some(Err(ImportError::Malformed { file: self.file.clone(), msg }));
                }
                Ok(None) => {
                    self.finished = true;
                    if !self.any {
                        return Some(Err(ImportError::Malformed { file: self.file.clone(), msg: "no records (empty file)".into() }));
                    }
                    return None;
                }
                Ok(Some(l)) => l,
            };
            if line.trim().is_empty() {
                continue;
            }
            self.any = true;
            let k = self.lines.line();
            let id = parse_json_exact(&line)
                .ok()
                .and_then(|v| v.get("record").and_then(|r| r.get("id")).and_then(|i| i.as_str()).map(str::to_string));
            let origin = match id {
                Some(id) => format!("{}, line {k} ({id})", self.file.display()),
                None => format!("{}, line {k}", self.file.display()),
            };
            return Some(Ok(candidate_from_jsonl_line(&line, origin.clone()).map_err(|reason| Rejection { origin, reason })));
        }
    }
}

/// Parse JSON text into a [`serde_json::Value`]; numbers read back bit for bit (serde_json's
/// `float_roundtrip` feature is on), so an exported float re-imports exactly.
pub fn parse_json_exact(text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}
