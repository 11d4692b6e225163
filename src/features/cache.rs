//! Descriptor vectors cached in the store.
//!
//! Each vector is a named object of the store's [`Keyspace::Features`] keyspace, keyed by
//! (set name, decimal set version, record id); its value (through the store's codec) is a
//! `CachedRow`: a sha256 of the hop's inputs (set name, version and column names, record
//! id, host id, ion, initial and final site bits) and the `Vec<f64>` of the set's columns. A
//! vector is reused only when the hash matches, so bumping the set's version or changing a
//! record's hop (host, ion or sites) recomputes it; Em and metadata are not inputs and do not
//! invalidate. Newly computed vectors are written in one atomic commit (op `features`).

use super::{compute_records, FeatureError, FeatureMatrix, FeatureSet};
use crate::record::HopRecord;
use crate::store::{Keyspace, Store, StoreError, WriteSet};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Stored value of one cached vector.
#[derive(Serialize, Deserialize)]
struct CachedRow {
    /// sha256 of the inputs, hex.
    input_hash: String,
    /// The set's columns.
    values: Vec<f64>,
}

/// What [`cached_matrix_report`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheReport {
    /// Rows taken from the cache.
    pub hits: usize,
    /// Rows computed (missing, stale or undecodable) and written back.
    pub computed: usize,
}

/// True when the store holds a cached vector of `set` for the record `id` (valid or not: the
/// input hash is checked only when it is used).
pub fn is_cached(store: &Store, set: &FeatureSet, id: &str) -> Result<bool, StoreError> {
    store.has_object(Keyspace::Features, &[&set.name, &set.version.to_string(), id])
}

/// The cached vector of `set` for `r`, when there is one whose input hash is `hash` and whose
/// values fit the set; a value that does not decode counts as none (it is recomputed).
fn cached_row(store: &Store, set: &FeatureSet, r: &HopRecord, hash: &str) -> Result<Option<Vec<f64>>, StoreError> {
    let row = match store.load_object::<CachedRow>(Keyspace::Features, &[&set.name, &set.version.to_string(), &r.id]) {
        Ok(row) => row,
        Err(StoreError::Corrupt { .. }) => None,
        Err(e) => return Err(e),
    };
    Ok(row.filter(|c| c.input_hash == hash && c.values.len() == set.names.len() && c.values.iter().all(|x| x.is_finite())).map(|c| c.values))
}

/// sha256 (hex) of a hop's inputs under `set`: set name, version and column names, record id,
/// host id, ion, initial and final site bits (what a cached vector depends on).
pub fn input_hash(set: &FeatureSet, r: &HopRecord) -> String {
    let mut h = Sha256::new();
    h.update(set.name.as_bytes());
    h.update([0]);
    h.update(set.version.to_le_bytes());
    for n in &set.names {
        h.update(n.as_bytes());
        h.update([0]);
    }
    h.update(r.id.as_bytes());
    h.update([0]);
    h.update(r.host.0.as_bytes());
    h.update([0, r.ion.z()]);
    for x in r.initial.iter().chain(r.final_site.iter()) {
        h.update(x.to_bits().to_le_bytes());
    }
    hex::encode(h.finalize())
}

/// Descriptors of `set` for the records `ids`, reusing vectors cached in the store and
/// caching the ones it computes (see the module docs for keys and invalidation).
pub fn cached_matrix(store: &Store, ids: &[String], set: &FeatureSet) -> Result<FeatureMatrix, FeatureError> {
    Ok(cached_matrix_report(store, ids, set)?.0)
}

/// [`cached_matrix`], also saying how many rows came from the cache.
pub fn cached_matrix_report(store: &Store, ids: &[String], set: &FeatureSet) -> Result<(FeatureMatrix, CacheReport), FeatureError> {
    set.validate()?;
    if set.has_linked() {
        // The descriptors are cached; the linked barriers are read afresh (they change
        // whenever a lower-fidelity record is added or removed).
        let (fm, report) = cached_matrix_report(store, ids, &set.descriptor_part())?;
        let cols = set.columns()?;
        let rows = fm
            .rows
            .into_par_iter()
            .zip(ids.par_iter())
            .map(|(mut row, id)| {
                let r = store.record(id)?;
                row.extend(super::linked_values(store, set, &cols, &r)?);
                Ok(row)
            })
            .collect::<Result<Vec<_>, FeatureError>>()?;
        return Ok((FeatureMatrix { ids: ids.to_vec(), names: set.names.clone(), rows }, report));
    }
    // (record, hash, cached row if valid)
    let looked: Vec<(HopRecord, String, Option<Vec<f64>>)> = ids
        .par_iter()
        .map(|id| {
            let r = store.record(id)?;
            let hash = input_hash(set, &r);
            let hit = cached_row(store, set, &r, &hash)?;
            Ok((r, hash, hit))
        })
        .collect::<Result<_, FeatureError>>()?;
    let miss: Vec<usize> = (0..looked.len()).filter(|&i| looked[i].2.is_none()).collect();
    let miss_records: Vec<HopRecord> = miss.iter().map(|&i| looked[i].0.clone()).collect();
    let fresh = compute_records(store, &miss_records, set)?;
    let report = CacheReport { hits: looked.len() - miss.len(), computed: miss.len() };
    if !fresh.is_empty() {
        let mut ws = WriteSet::new("features", format!("cached {} descriptor vectors of feature set {} v{}", fresh.len(), set.name, set.version));
        let version = set.version.to_string();
        for (&i, values) in miss.iter().zip(&fresh) {
            let (r, hash, _) = &looked[i];
            ws.put_object(Keyspace::Features, &[&set.name, &version, &r.id], &CachedRow { input_hash: hash.clone(), values: values.clone() });
        }
        ws.records = fresh.len() as u64;
        store.commit(ws)?;
    }
    let mut fresh = fresh.into_iter();
    let rows = looked.into_iter().map(|(_, _, hit)| hit.unwrap_or_else(|| fresh.next().expect("one fresh row per miss"))).collect();
    Ok((FeatureMatrix { ids: ids.to_vec(), names: set.names.clone(), rows }, report))
}
