//! Model lineage: what a model learned from, and whether the store still holds it.
//!
//! A model records the data version it was trained at and a content hash of what it learned
//! from ([`Lineage`]). [`staleness`] compares its training hops with the store now, through
//! the record history written since that version: a model is *stale* when one of its
//! training hops was removed, or changed its label (`em`), fidelity, data-quality flags or
//! inputs (host structure, ion, sites, images) since. Metadata edits (notes, DOI, functional
//! name, group) do not make a model stale; an edit that was undone does not either.

use super::registry::ModelRecord;
use crate::features::{input_hash, FeatureSet};
use crate::record::HopRecord;
use crate::store::{self, Store};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Where a model came from: the data it learned and how to make it again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lineage {
    /// The store's data version when the training data was read.
    pub data_version: u64,
    /// Time of that version (RFC 3339).
    pub data_version_at: String,
    /// sha256 (hex) over the feature set, the split fingerprint, and every training hop's id,
    /// label and input hash ([`learned_hash`]).
    pub content_hash: String,
    /// Name of the split whose training partition was fitted ("" when none).
    pub split: String,
    /// For graph networks pre-trained on a query: that query (HopQL), re-run by `RETRAIN`.
    pub pretrain_query: Option<String>,
}

impl Lineage {
    /// The lineage of a model trained now on `records` (its training hops) with feature set
    /// label `feature_set`, split `split` (name and fingerprint).
    pub fn now(store: &Store, records: &[HopRecord], feature_set: &str, split: &str, split_fingerprint: &str) -> store::Result<Lineage> {
        let v = store.version()?;
        Ok(Lineage {
            data_version: v.seq,
            data_version_at: v.at,
            content_hash: learned_hash(records, feature_set, split_fingerprint),
            split: split.to_string(),
            pretrain_query: None,
        })
    }
}

/// The content hash of a training set: sha256 over the feature set label, the split
/// fingerprint and, for every hop in id order, its id, the bits of its label and the hash of
/// its inputs (host, ion, sites: [`input_hash`] under hop-v1).
pub fn learned_hash(records: &[HopRecord], feature_set: &str, split_fingerprint: &str) -> String {
    let set = FeatureSet::hop_v1();
    let mut sorted: Vec<&HopRecord> = records.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let mut h = Sha256::new();
    h.update(feature_set.as_bytes());
    h.update([0]);
    h.update(split_fingerprint.as_bytes());
    h.update([0]);
    for r in sorted {
        h.update(r.id.as_bytes());
        h.update([0]);
        h.update(r.em.to_bits().to_le_bytes());
        h.update(input_hash(&set, r).as_bytes());
    }
    hex::encode(h.finalize())
}

/// A training hop that differs from what the model learned.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HopChange {
    /// Record id.
    pub id: String,
    /// What changed (`removed`, `em 0.672 -> 4.5`, `flags '' -> 'suspect'`, ...).
    pub what: String,
}

/// How a model's training data changed since it was trained ([`staleness`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Staleness {
    /// The data version the model was trained at.
    pub trained_at: u64,
    /// The store's data version now.
    pub now: u64,
    /// Training hops that changed, in id order (empty: the model is fresh).
    pub changed: Vec<HopChange>,
}

impl Staleness {
    /// True when a training hop changed since the model was trained.
    pub fn is_stale(&self) -> bool {
        !self.changed.is_empty()
    }

    /// One line: "fresh", or how many training hops changed since which version, naming up
    /// to `max` of them with what changed.
    pub fn summary(&self, max: usize) -> String {
        if !self.is_stale() {
            return format!("fresh (trained at data version {}, now {})", self.trained_at, self.now);
        }
        let named: Vec<String> = self.changed.iter().take(max).map(|c| format!("{} ({})", c.id, c.what)).collect();
        let more = self.changed.len().saturating_sub(max);
        let tail = if more > 0 { format!(" and {more} more") } else { String::new() };
        format!(
            "stale: {} training hop(s) changed since data version {}: {}{tail}; RETRAIN it",
            self.changed.len(),
            self.trained_at,
            named.join(", ")
        )
    }
}

/// What changed between a training hop as learned (`old`) and as stored now (`new`), in the
/// fields a model depends on; `None` when nothing it depends on changed.
fn relevant_change(old: &HopRecord, new: Option<&HopRecord>) -> Option<String> {
    let Some(new) = new else { return Some("removed".into()) };
    let mut what = Vec::new();
    if old.em.to_bits() != new.em.to_bits() {
        what.push(format!("em {} -> {}", old.em, new.em));
    }
    if old.fidelity != new.fidelity {
        what.push(format!("fidelity {} -> {}", old.fidelity.as_str(), new.fidelity.as_str()));
    }
    if old.flags != new.flags {
        what.push(format!("flags '{}' -> '{}'", old.flags.join(","), new.flags.join(",")));
    }
    if old.host != new.host || old.ion != new.ion || old.initial != new.initial || old.final_site != new.final_site || old.images != new.images {
        what.push("structure".into());
    }
    (!what.is_empty()).then(|| what.join(", "))
}

/// Staleness when the history does not reach back to the training (a store upgraded since):
/// removed training hops by name, other changes through the content hash.
fn staleness_by_hash(store: &Store, rec: &ModelRecord, lin: &Lineage, now: u64) -> store::Result<Staleness> {
    let mut records = Vec::new();
    let mut changed = Vec::new();
    for id in &rec.train_ids {
        match store.get(id)? {
            Some(r) => records.push(r),
            None => changed.push(HopChange { id: id.clone(), what: "removed".into() }),
        }
    }
    if changed.is_empty() && learned_hash(&records, &rec.feature_set, &rec.split_fingerprint) != lin.content_hash {
        changed.push(HopChange { id: "(some)".into(), what: "the training data's content hash differs".into() });
    }
    Ok(Staleness { trained_at: lin.data_version, now, changed })
}

/// Whether `rec`'s training hops changed since it was trained; `None` for a model that has no
/// lineage (trained before hopdb recorded it).
pub fn staleness(store: &Store, rec: &ModelRecord) -> store::Result<Option<Staleness>> {
    let Some(lin) = &rec.lineage else { return Ok(None) };
    let now = store.version()?.seq;
    if lin.data_version < store.history_from()? {
        return Ok(Some(staleness_by_hash(store, rec, lin, now)?));
    }
    let changes = store.changes_after(lin.data_version)?;
    let mut changed = Vec::new();
    if !changes.is_empty() {
        for id in &rec.train_ids {
            let Some(before) = changes.get(id) else { continue };
            let current = store.get(id)?;
            let what = match before {
                Some(old) => relevant_change(old, current.as_ref()),
                None => Some("re-created".into()),
            };
            if let Some(what) = what {
                changed.push(HopChange { id: id.clone(), what });
            }
        }
    }
    changed.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Some(Staleness { trained_at: lin.data_version, now, changed }))
}
