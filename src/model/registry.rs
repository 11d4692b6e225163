//! Stored models: [`ModelRecord`] and its save / load / list / drop.
//!
//! A model is a named object of the store's [`Keyspace::Model`] keyspace (key: its name; value:
//! `(MODEL_RECORD_VERSION, ModelRecord)` through the store's codec). Every write is one atomic
//! write set with its audit entry (op `model`).

use super::{Model, ModelError, Result};
use crate::store::{self, Keyspace, Saved, Store, StoreError, WriteSet};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the stored encoding of a [`ModelRecord`]: 2 adds `version` and `lineage`
/// (version-1 values are still read: version 1, no lineage).
pub const MODEL_RECORD_VERSION: u32 = 2;

/// Longest model name accepted.
pub const MAX_NAME_LEN: usize = 128;

/// A trained model with everything needed to reproduce and audit it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    /// Model name (see [`validate_name`]).
    pub name: String,
    /// Model kind (`random_forest`, `boosted_trees`, `mean`).
    pub kind: String,
    /// Hyperparameters, canonical ([`Params::to_map`](super::Params::to_map)).
    pub params: BTreeMap<String, String>,
    /// Feature set name and version the model was trained on (e.g. `hop-v1@2`).
    pub feature_set: String,
    /// Feature names, in column order.
    pub feature_names: Vec<String>,
    /// Fingerprint of the split whose training partition was used ("" when none).
    pub split_fingerprint: String,
    /// Ids of the training rows.
    pub train_ids: Vec<String>,
    /// The fitted model ([`Model::to_bytes`]).
    pub blob: Vec<u8>,
    /// Named scores (e.g. `test_mae`, `cv_mae`, `test_r2`).
    pub metrics: BTreeMap<String, f64>,
    /// Free-form log lines of training (tuning table, timings, ...).
    pub training_log: Vec<String>,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// Version of the model under its base name: 1 when first trained, +1 per `RETRAIN`. The
    /// latest version is stored under the base name (`rf`), earlier ones under `rf@1`, ...
    pub version: u32,
    /// What the model learned from (None for models trained before hopdb recorded it).
    pub lineage: Option<super::lineage::Lineage>,
}

/// A model record as stored with format version 1 (before versions and lineage): the fields
/// of [`ModelRecord`] up to `created_at`, in order (bincode writes a struct as the tuple of its
/// fields, so the tuple reads the old values).
pub type ModelRecordV1 = (
    String,
    String,
    BTreeMap<String, String>,
    String,
    Vec<String>,
    String,
    Vec<String>,
    Vec<u8>,
    BTreeMap<String, f64>,
    Vec<String>,
    String,
);

impl ModelRecord {
    /// A record read in format version 1: version 1, no lineage.
    pub fn from_v1(v: ModelRecordV1) -> ModelRecord {
        let (name, kind, params, feature_set, feature_names, split_fingerprint, train_ids, blob, metrics, training_log, created_at) = v;
        ModelRecord { name, kind, params, feature_set, feature_names, split_fingerprint, train_ids, blob, metrics, training_log, created_at, version: 1, lineage: None }
    }
}

/// Split a model reference `rf@2` into its base name and version (`None`: the latest).
pub fn parse_ref(name: &str) -> (&str, Option<u32>) {
    match name.rsplit_once('@') {
        Some((base, v)) => match v.parse::<u32>() {
            Ok(n) => (base, Some(n)),
            Err(_) => (name, None),
        },
        None => (name, None),
    }
}

impl ModelRecord {
    /// The base name (`rf` for `rf@1`).
    pub fn base_name(&self) -> &str {
        parse_ref(&self.name).0
    }

    /// A record for a fitted model: kind, params, feature names and blob from `model`,
    /// creation time now, no metrics or log yet.
    pub fn from_model(name: &str, model: &Model, feature_set: &str, split_fingerprint: &str, train_ids: Vec<String>) -> Result<ModelRecord> {
        Ok(ModelRecord {
            name: name.to_string(),
            kind: model.kind().as_str().to_string(),
            params: model.params().to_map(),
            feature_set: feature_set.to_string(),
            feature_names: model.feature_names().to_vec(),
            split_fingerprint: split_fingerprint.to_string(),
            train_ids,
            blob: model.to_bytes()?,
            metrics: BTreeMap::new(),
            training_log: Vec::new(),
            created_at: crate::record::now(),
            version: 1,
            lineage: None,
        })
    }

    /// Decode the fitted model.
    pub fn model(&self) -> Result<Model> {
        Model::from_bytes(&self.blob)
    }
}

/// Kind of graph-network records (their blob is a `model::gnn::GnnBlob`, not a [`Model`]).
pub const GNN_KIND: &str = "gnn";

#[cfg(feature = "gnn")]
fn check_gnn_blob(rec: &ModelRecord) -> Result<()> {
    super::gnn::GnnBlob::from_bytes(&rec.blob).map(|_| ()).map_err(|e| ModelError::Decode(format!("model '{}': {e}", rec.name)))
}

#[cfg(not(feature = "gnn"))]
fn check_gnn_blob(rec: &ModelRecord) -> Result<()> {
    Err(ModelError::Decode(format!("model '{}' is a graph network: this hopdb was built without the `gnn` feature", rec.name)))
}

/// Check a model name: 1 to [`MAX_NAME_LEN`] ASCII letters, digits, `_`, `-`, `.`, starting
/// with a letter or digit.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if name.is_empty() || name.len() > MAX_NAME_LEN || !name.chars().all(ok) || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(ModelError::InvalidName(format!(
            "invalid model name '{name}': use 1 to {MAX_NAME_LEN} ASCII letters, digits, '_', '-' or '.', starting with a letter or digit"
        )));
    }
    Ok(())
}

/// The model stored under `key`, from its decoded value; a value that does not decode as
/// the current format is read again as format version 1. A value that decodes as neither,
/// or has another format version, is [`ModelError::Decode`].
fn checked(store: &Store, key: &str, stored: store::Result<(u32, ModelRecord)>) -> Result<ModelRecord> {
    let (ver, rec) = match stored {
        Ok(v) => v,
        Err(StoreError::Corrupt { msg, .. }) => match store.load_object::<(u32, ModelRecordV1)>(Keyspace::Model, &[key]) {
            Ok(Some((1, v1))) => return Ok(ModelRecord::from_v1(v1)),
            _ => return Err(ModelError::Decode(format!("stored model '{key}': {msg}"))),
        },
        Err(e) => return Err(e.into()),
    };
    if ver != MODEL_RECORD_VERSION {
        return Err(ModelError::Decode(format!("stored model '{key}' has format version {ver}, this hopdb reads {MODEL_RECORD_VERSION}")));
    }
    Ok(rec)
}

/// Save a model record under its name in one atomic write (op `model`). Errors when the
/// name is invalid, the blob does not decode, or a model of that name exists and `replace` is
/// false.
pub fn save(store: &Store, rec: &ModelRecord, replace: bool) -> Result<()> {
    validate_name(rec.base_name())?;
    check_blob(rec)?;
    let summary = |replacing: bool| {
        let verb = if replacing { "replace" } else { "save" };
        format!("{verb} model '{}': {} on {} rows x {} features ({})", rec.name, rec.kind, rec.train_ids.len(), rec.feature_names.len(), rec.feature_set)
    };
    match store.save_object(Keyspace::Model, &[&rec.name], &(MODEL_RECORD_VERSION, rec), replace, "model", summary)? {
        Saved::Exists => Err(ModelError::Exists(rec.name.clone())),
        Saved::Created | Saved::Replaced => Ok(()),
    }
}

/// The writes that make `new` the next version of the model stored under its base name: the
/// current version moves to `name@k`, and `new` (its `version` set to k + 1) takes the base
/// name. Returns the write set (op `model`; the caller adds what else moves with the model,
/// e.g. its predictions, and commits it), the record as it will be saved, and `name@k`.
pub fn next_version(store: &Store, mut new: ModelRecord) -> Result<(WriteSet, ModelRecord, String)> {
    let base = new.base_name().to_string();
    validate_name(&base)?;
    check_blob(&new)?;
    let old = load(store, &base)?;
    let old_key = format!("{base}@{}", old.version);
    let mut moved = old.clone();
    moved.name = old_key.clone();
    new.name = base.clone();
    new.version = old.version + 1;
    let mut ws = WriteSet::new("model", format!("retrain model '{base}': version {} (version {} kept as '{old_key}')", new.version, old.version));
    ws.put_object(Keyspace::Model, &[&old_key], &(MODEL_RECORD_VERSION, &moved));
    ws.put_object(Keyspace::Model, &[&base], &(MODEL_RECORD_VERSION, &new));
    Ok((ws, new, old_key))
}

/// Check that a record's blob decodes as its kind.
fn check_blob(rec: &ModelRecord) -> Result<()> {
    if rec.kind == GNN_KIND {
        check_gnn_blob(rec)?;
    } else {
        let model = rec.model()?;
        if model.kind().as_str() != rec.kind {
            return Err(ModelError::Decode(format!("record kind '{}' does not match its blob ({})", rec.kind, model.kind())));
        }
    }
    Ok(())
}

/// Load a model record by name: `rf` (the latest version) or `rf@k` (version k, the latest
/// included); [`ModelError::NotFound`] when there is none.
pub fn load(store: &Store, name: &str) -> Result<ModelRecord> {
    let raw = |key: &str| -> Result<Option<ModelRecord>> {
        match store.load_object(Keyspace::Model, &[key]) {
            Ok(None) => Ok(None),
            Ok(Some(v)) => checked(store, key, Ok(v)).map(Some),
            Err(e) => checked(store, key, Err(e)).map(Some),
        }
    };
    if let Some(rec) = raw(name)? {
        return Ok(rec);
    }
    if let (base, Some(k)) = parse_ref(name) {
        if let Some(rec) = raw(base)? {
            if rec.version == k {
                return Ok(rec);
            }
        }
    }
    Err(ModelError::NotFound(name.to_string()))
}

/// True when a model of that name exists (`rf@k` included, as [`load`] resolves it).
pub fn exists(store: &Store, name: &str) -> Result<bool> {
    if store.has_object(Keyspace::Model, &[name])? {
        return Ok(true);
    }
    match parse_ref(name) {
        (base, Some(_)) if store.has_object(Keyspace::Model, &[base])? => Ok(load(store, name).is_ok()),
        _ => Ok(false),
    }
}

/// Names of the stored models, in name order (reads no blob).
pub fn names(store: &Store) -> Result<Vec<String>> {
    Ok(store.object_names(Keyspace::Model, &[])?)
}

/// Every stored model record, in name order.
pub fn list(store: &Store) -> Result<Vec<ModelRecord>> {
    store.list_objects(Keyspace::Model, &[])?.into_iter().map(|(name, v)| checked(store, &name, v)).collect()
}

/// Delete a stored model in one atomic write (op `model`); [`ModelError::NotFound`] when
/// there is none.
pub fn drop(store: &Store, name: &str) -> Result<()> {
    if !store.remove_object(Keyspace::Model, &[name], "model", format!("drop model '{name}'"))? {
        return Err(ModelError::NotFound(name.to_string()));
    }
    Ok(())
}
