//! The universal-MLIP fidelity: migration barriers from a nudged elastic band run with a
//! machine-learned interatomic potential (CHGNet, MACE-MP-0, SevenNet, ...), stored as `mlip`
//! records linked to the hop they were computed for.
//!
//! An MLIP record is *derived*: it has the host, sites, ion and material of its parent hop,
//! `parent` set to the parent's id, no source partition, and the id
//! `mlip:<parent id>@<model>/<protocol>` ([`record_id`]); `method.code` is the *label*
//! `<model>/<protocol>` ([`label`]), so `WHERE code = 'chgnet/relax-ci-v1'` selects one model
//! and protocol. Two sources fill the fidelity:
//!
//! * published values: `import devi` stores the dataset's MACE-MP-0 NEB barriers
//!   ([`published_record`]; labels `mace-mp-0/devi2025-relax` and `mace-mp-0/devi2025-norelax`);
//! * computed values: the Python package's `hopdb.mlip` runs the NEB through any ASE calculator
//!   and hands each hop's outcome ([`MlipRun`]) to [`store_runs`]: a barrier becomes a record,
//!   a failed calculation a failure marker in the store's `e` keyspace, never a barrier.
//!
//! [`linked_barrier`] is how models read a hop's MLIP barrier (the `hop-v2` feature set), and
//! [`compare`] measures each label against the DFT barriers of the parents.

use crate::import::MAX_PLAUSIBLE_EM;
use crate::metrics::{pearson, spearman};
pub use crate::record::mlip::{derived_record, label, record_id, record_id_for_label, DATASET, DEVI_NO_RELAX, DEVI_RELAX, PUBLISHED_MODEL};
use crate::record::{Fidelity, HopRecord, Method, Provenance};
use crate::store::{Keyspace, Store, StoreError, WriteSet};
use crate::table::{ResultTable, Value};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Failure markers of MLIP calculations, by the record id the barrier would have had.
const FAILURES: Keyspace = Keyspace::MlipFailure;

/// Errors of the MLIP fidelity.
#[derive(Debug, thiserror::Error)]
pub enum MlipError {
    /// Reading or writing the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An outcome cannot be stored as it is (what and where).
    #[error("{0}")]
    Invalid(String),
}

/// Check a model or protocol name: non-empty, at most 64 characters of letters, digits and
/// `.-_+` (it becomes part of record ids and labels).
pub fn check_name(what: &str, name: &str) -> Result<(), MlipError> {
    let ok = !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c));
    if ok {
        Ok(())
    } else {
        Err(MlipError::Invalid(format!("{what} name {:?}: use 1 to 64 letters, digits or . _ - +", name)))
    }
}

/// What one NEB of `hopdb.mlip` gave for one hop: the model, protocol and device, and either a
/// barrier or a failure. The JSON form is what the Python package writes (one object per line
/// in a results file) and hands to [`store_runs`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MlipRun {
    /// Id of the stored hop the NEB was run for.
    pub parent: String,
    /// Model name (part of the record id), e.g. `chgnet`.
    pub model: String,
    /// Model and package version, e.g. `chgnet 0.4.2 (weights 0.3.0)`.
    pub version: String,
    /// `cpu` or `cuda`.
    pub device: String,
    /// Protocol name (part of the record id), e.g. `relax-ci-v1`.
    pub protocol: String,
    /// The protocol's settings in words.
    #[serde(default)]
    pub protocol_description: Option<String>,
    /// The result.
    pub outcome: NebOutcome,
}

/// The numbers of one NEB.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NebOutcome {
    /// Barrier (eV): highest band energy minus the initial endpoint's; `None` on failure.
    pub em: Option<f64>,
    /// Highest band energy minus the final endpoint's (eV).
    #[serde(default)]
    pub em_reverse: Option<f64>,
    /// Band energies relative to the initial endpoint (eV), endpoints included.
    #[serde(default)]
    pub energies: Vec<f64>,
    /// Largest NEB force at the end (eV/A).
    #[serde(default)]
    pub fmax: Option<f64>,
    /// Optimiser steps of the endpoint relaxations.
    #[serde(default)]
    pub relax_steps: u64,
    /// Band force evaluations.
    #[serde(default)]
    pub neb_steps: u64,
    /// Calculator calls.
    #[serde(default)]
    pub calls: u64,
    /// Wall seconds.
    #[serde(default)]
    pub seconds: f64,
    /// How far the ion moved when its initial endpoint relaxed (A).
    #[serde(default)]
    pub ion_shift_initial: Option<f64>,
    /// How far the ion moved when its final endpoint relaxed (A).
    #[serde(default)]
    pub ion_shift_final: Option<f64>,
    /// Failure reason (`calculator error`, `diverged`, `endpoint not relaxed`, `not converged`,
    /// `invalid input`); `None` for a barrier.
    #[serde(default)]
    pub failure: Option<String>,
    /// What happened, for a failure.
    #[serde(default)]
    pub message: Option<String>,
}

/// What [`store_runs`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StoreReport {
    /// New MLIP records.
    pub stored: usize,
    /// New failure markers, by reason.
    pub failed: BTreeMap<String, usize>,
    /// Outcomes whose record or failure was already stored (a resumed run).
    pub already: usize,
    /// Data version of the write (`None` when nothing was new).
    pub version: Option<u64>,
}

/// The failure remembered for MLIP record id `id`, as `(reason, message)`.
pub fn remembered_failure(store: &Store, id: &str) -> Result<Option<(String, String)>, StoreError> {
    store.load_object::<(String, String)>(FAILURES, &[id])
}

/// Whether `parent` already has a record or a remembered failure for `model` and `protocol`
/// (a resumed run skips it).
pub fn is_done(store: &Store, parent: &str, model: &str, protocol: &str) -> Result<bool, StoreError> {
    let id = record_id(parent, model, protocol);
    Ok(store.contains(&id)? || store.has_object(FAILURES, &[&id])?)
}

fn run_record(parent: &HopRecord, run: &MlipRun, em: f64) -> HopRecord {
    let o = &run.outcome;
    let mut extra = BTreeMap::new();
    let mut put = |k: &str, v: Option<f64>| {
        if let Some(v) = v.filter(|v| v.is_finite()) {
            extra.insert(k.to_string(), v);
        }
    };
    put("mlip_em_reverse", o.em_reverse);
    put("mlip_fmax", o.fmax);
    put("mlip_relax_steps", Some(o.relax_steps as f64));
    put("mlip_neb_steps", Some(o.neb_steps as f64));
    put("mlip_calls", Some(o.calls as f64));
    put("mlip_seconds", Some(o.seconds));
    put("mlip_ion_shift_initial", o.ion_shift_initial);
    put("mlip_ion_shift_final", o.ion_shift_final);
    for (k, e) in o.energies.iter().enumerate() {
        put(&format!("mlip_e{k:02}"), Some(*e));
    }
    let n_images = o.energies.len().saturating_sub(2) as u32;
    let method = Method { xc: None, code: None, n_images: (n_images > 0).then_some(n_images), climbing_image: Some(true), converged: Some(true) };
    let provenance = Provenance {
        dataset: DATASET.to_string(),
        dataset_version: run.version.clone(),
        source_file: format!("calculator:{}", run.model),
        source_sha256: String::new(),
        source_record_id: parent.id.clone(),
        citation: parent.provenance.citation.clone(),
        doi: parent.provenance.doi.clone(),
        bibtex: None,
        importer: "hopdb-mlip".to_string(),
        hopdb_version: crate::HOPDB_VERSION.to_string(),
        imported_at: crate::record::now(),
        notes: Some(format!(
            "model {} ({}) on {}; {}",
            run.model,
            run.version,
            run.device,
            run.protocol_description.clone().unwrap_or_else(|| format!("protocol {}", run.protocol))
        )),
    };
    derived_record(parent, em, &run.model, &run.protocol, method, provenance, extra)
}

/// Store the outcomes of MLIP calculations in one atomic write: a barrier becomes a record
/// (replacing a remembered failure of the same id), a failure becomes a failure marker.
/// Outcomes whose record or failure is already stored are counted, not written again.
/// Every outcome is checked first (parent stored and not itself derived, names valid, a
/// barrier finite, non-negative and at most [`MAX_PLAUSIBLE_EM`], a failure with a reason);
/// any error writes nothing.
pub fn store_runs(store: &Store, runs: &[MlipRun], summary: &str) -> Result<StoreReport, MlipError> {
    let mut rep = StoreReport::default();
    let mut ws = WriteSet::new("mlip", summary.to_string());
    let mut seen = std::collections::HashSet::new();
    let mut hosts = BTreeMap::new();
    for (k, run) in runs.iter().enumerate() {
        let at = || format!("outcome {} (parent {:?})", k + 1, run.parent);
        check_name("model", &run.model).map_err(|e| MlipError::Invalid(format!("{}: {e}", at())))?;
        check_name("protocol", &run.protocol).map_err(|e| MlipError::Invalid(format!("{}: {e}", at())))?;
        let parent = store.get(&run.parent)?.ok_or_else(|| MlipError::Invalid(format!("{}: no such record in the store", at())))?;
        if parent.parent.is_some() || matches!(parent.fidelity, Fidelity::Bvse | Fidelity::Mlip) {
            return Err(MlipError::Invalid(format!("{}: the parent is a derived {} record; compute MLIP barriers for original hops", at(), parent.fidelity)));
        }
        let id = record_id(&parent.id, &run.model, &run.protocol);
        if !seen.insert(id.clone()) {
            return Err(MlipError::Invalid(format!("{}: a second outcome for {id}", at())));
        }
        let o = &run.outcome;
        match (o.em, o.failure.as_deref()) {
            (Some(_), Some(f)) => return Err(MlipError::Invalid(format!("{}: both a barrier and a failure ({f})", at()))),
            (None, None) => return Err(MlipError::Invalid(format!("{}: neither a barrier nor a failure reason", at()))),
            (Some(em), None) if !em.is_finite() || em < 0.0 || em > MAX_PLAUSIBLE_EM => {
                return Err(MlipError::Invalid(format!("{}: barrier {em} eV is not a plausible barrier (0 to {MAX_PLAUSIBLE_EM} eV); store it as a failure", at())));
            }
            (Some(em), None) => {
                if store.contains(&id)? {
                    rep.already += 1;
                    continue;
                }
                if !hosts.contains_key(&parent.host) {
                    let h = store.structure(&parent.host)?;
                    hosts.insert(parent.host.clone(), h);
                }
                let r = run_record(&parent, run, em);
                ws.insert_record_on_stored_host(&r, &hosts[&parent.host]);
                ws.remove_object(FAILURES, &[&id]);
                rep.stored += 1;
            }
            (None, Some(reason)) => {
                if store.contains(&id)? || store.has_object(FAILURES, &[&id])? {
                    rep.already += 1;
                    continue;
                }
                let msg = o.message.clone().unwrap_or_default();
                ws.put_object(FAILURES, &[&id], &(reason.to_string(), msg));
                *rep.failed.entry(reason.to_string()).or_insert(0) += 1;
            }
        }
    }
    if rep.stored > 0 || !rep.failed.is_empty() {
        rep.version = Some(store.commit(ws)?.seq);
    }
    Ok(rep)
}

/// The barrier of `parent`'s MLIP record under `label` (`<model>/<protocol>`), if stored.
pub fn linked_barrier(store: &Store, parent: &str, label: &str) -> Result<Option<f64>, StoreError> {
    Ok(store.get(&record_id_for_label(parent, label))?.map(|r| r.em))
}

/// The labels (`<model>/<protocol>`) of the stored MLIP records, with their counts.
pub fn labels(store: &Store) -> Result<BTreeMap<String, usize>, StoreError> {
    let mut out = BTreeMap::new();
    for id in store.ids_where("fidelity", Fidelity::Mlip.as_str())? {
        let r = store.record(&id)?;
        *out.entry(r.method.code.unwrap_or_else(|| "(unlabelled)".into())).or_insert(0) += 1;
    }
    Ok(out)
}

/// Agreement of one label's barriers with their parents' (DFT) barriers over one subset.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CompareRow {
    /// `<model>/<protocol>`.
    pub label: String,
    /// Structural group (`all` for every hop).
    pub group: String,
    /// Parent hops of the label's records that the comparison covers (`SELECT` or all).
    pub hops: usize,
    /// Pairs (hops with a barrier of this label).
    pub n: usize,
    /// Hops remembered as failed with this label.
    pub failed: usize,
    /// Pearson correlation with the parent barriers.
    pub pearson: f64,
    /// Spearman rank correlation.
    pub spearman: f64,
    /// Mean absolute difference (eV).
    pub mae: f64,
    /// Mean signed difference, MLIP minus parent (eV).
    pub bias: f64,
}

/// The structural group a comparison row counts a hop under (`(none)` without one).
fn group_of(r: &HopRecord) -> String {
    r.material.group.clone().unwrap_or_else(|| "(none)".into())
}

/// Compare every MLIP label with the parents' barriers: one `all` row per label, then one
/// row per structural group. `parents` limits the comparison to those parent ids (e.g. the
/// 60 test hops); `None` takes every stored original (non-derived) DFT hop.
pub fn compare(store: &Store, parents: Option<&[String]>) -> Result<Vec<CompareRow>, MlipError> {
    let parents: Vec<HopRecord> = match parents {
        Some(ids) => ids.iter().map(|id| store.record(id)).collect::<Result<_, _>>()?,
        None => store.ids_where("fidelity", Fidelity::Dft.as_str())?.iter().map(|id| store.record(id)).collect::<Result<Vec<_>, _>>()?.into_iter().filter(|r| r.parent.is_none()).collect(),
    };
    let by_id: BTreeMap<&str, &HopRecord> = parents.iter().map(|r| (r.id.as_str(), r)).collect();
    // label -> group -> (pairs, failed)
    let mut acc: BTreeMap<String, BTreeMap<String, (Vec<(f64, f64)>, usize)>> = BTreeMap::new();
    for id in store.ids_where("fidelity", Fidelity::Mlip.as_str())? {
        let r = store.record(&id)?;
        let Some(p) = r.parent.as_deref().and_then(|p| by_id.get(p)) else { continue };
        let label = r.method.code.clone().unwrap_or_else(|| "(unlabelled)".into());
        let group = group_of(p);
        for g in ["all".to_string(), group] {
            acc.entry(label.clone()).or_default().entry(g).or_default().0.push((r.em, p.em));
        }
    }
    for (id, _) in store.list_objects::<(String, String)>(FAILURES, &[])? {
        let Some(rest) = id.strip_prefix(&format!("{DATASET}:")) else { continue };
        let Some((parent, label)) = rest.rsplit_once('@') else { continue };
        let Some(p) = by_id.get(parent) else { continue };
        let group = group_of(p);
        for g in ["all".to_string(), group] {
            acc.entry(label.to_string()).or_default().entry(g).or_default().1 += 1;
        }
    }
    let mut hops_by_group: BTreeMap<String, usize> = BTreeMap::new();
    for p in &parents {
        *hops_by_group.entry("all".into()).or_default() += 1;
        *hops_by_group.entry(group_of(p)).or_default() += 1;
    }
    let mut out = Vec::new();
    for (label, groups) in acc {
        let mut rows: Vec<CompareRow> = groups
            .into_iter()
            .map(|(group, (pairs, failed))| {
                let x: Vec<f64> = pairs.iter().map(|t| t.0).collect();
                let y: Vec<f64> = pairs.iter().map(|t| t.1).collect();
                let n = pairs.len();
                let mean = |f: &dyn Fn(&(f64, f64)) -> f64| if n == 0 { f64::NAN } else { pairs.iter().map(f).sum::<f64>() / n as f64 };
                CompareRow {
                    label: label.clone(),
                    hops: hops_by_group.get(&group).copied().unwrap_or(0),
                    group,
                    n,
                    failed,
                    pearson: pearson(&x, &y),
                    spearman: spearman(&x, &y),
                    mae: mean(&|t| (t.0 - t.1).abs()),
                    bias: mean(&|t| t.0 - t.1),
                }
            })
            .collect();
        rows.sort_by(|a, b| (a.group != "all").cmp(&(b.group != "all")).then(a.group.cmp(&b.group)));
        out.extend(rows);
    }
    Ok(out)
}

/// The comparison as a table.
pub fn compare_table(rows: &[CompareRow]) -> ResultTable {
    let mut t = ResultTable::new(&["label", "group", "hops", "n", "failed", "pearson", "spearman", "mae_ev", "bias_ev"]).titled("MLIP vs parent (DFT) barriers");
    for r in rows {
        t.push(vec![
            Value::Str(r.label.clone()),
            Value::Str(r.group.clone()),
            Value::Int(r.hops as i64),
            Value::Int(r.n as i64),
            Value::Int(r.failed as i64),
            Value::Num(r.pearson),
            Value::Num(r.spearman),
            Value::Num(r.mae),
            Value::Num(r.bias),
        ]);
    }
    t
}
