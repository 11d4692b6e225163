//! Stored models: [`ModelRecord`] and its save / load / list / drop.
//!
//! A model is a named object of the store's [`Keyspace::Model`] keyspace (key: its name; value:
//! `(MODEL_RECORD_VERSION, ModelRecord)` through the store's codec). Every write is one atomic
//! write set with its audit entry (op `model`).

use super::{Model, ModelError, Result};
use crate::store::{self, Keyspace, Saved, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the stored encoding of a [`ModelRecord`].
pub const MODEL_RECORD_VERSION: u32 = 1;

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
}

impl ModelRecord {
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

/// The model stored as `name`, from its decoded value: a value that does not decode or has
/// another format version is [`ModelError::Decode`].
fn checked(name: &str, stored: store::Result<(u32, ModelRecord)>) -> Result<ModelRecord> {
    let (ver, rec) = match stored {
        Ok(v) => v,
        Err(StoreError::Corrupt { msg, .. }) => return Err(ModelError::Decode(format!("stored model '{name}': {msg}"))),
        Err(e) => return Err(e.into()),
    };
    if ver != MODEL_RECORD_VERSION {
        return Err(ModelError::Decode(format!("stored model '{name}' has format version {ver}, this hopdb reads {MODEL_RECORD_VERSION}")));
    }
    Ok(rec)
}

/// Save a model record under its name in one atomic write (op `model`). Errors when the
/// name is invalid, the blob does not decode, or a model of that name exists and `replace` is
/// false.
pub fn save(store: &Store, rec: &ModelRecord, replace: bool) -> Result<()> {
    validate_name(&rec.name)?;
    if rec.kind == GNN_KIND {
        check_gnn_blob(rec)?;
    } else {
        let model = rec.model()?;
        if model.kind().as_str() != rec.kind {
            return Err(ModelError::Decode(format!("record kind '{}' does not match its blob ({})", rec.kind, model.kind())));
        }
    }
    let summary = |replacing: bool| {
        let verb = if replacing { "replace" } else { "save" };
        format!("{verb} model '{}': {} on {} rows x {} features ({})", rec.name, rec.kind, rec.train_ids.len(), rec.feature_names.len(), rec.feature_set)
    };
    match store.save_object(Keyspace::Model, &[&rec.name], &(MODEL_RECORD_VERSION, rec), replace, "model", summary)? {
        Saved::Exists => Err(ModelError::Exists(rec.name.clone())),
        Saved::Created | Saved::Replaced => Ok(()),
    }
}

/// Load a model record by name; [`ModelError::NotFound`] when there is none.
pub fn load(store: &Store, name: &str) -> Result<ModelRecord> {
    match store.load_object(Keyspace::Model, &[name]) {
        Ok(None) => Err(ModelError::NotFound(name.to_string())),
        Ok(Some(v)) => checked(name, Ok(v)),
        Err(e) => checked(name, Err(e)),
    }
}

/// True when a model of that name exists.
pub fn exists(store: &Store, name: &str) -> Result<bool> {
    Ok(store.has_object(Keyspace::Model, &[name])?)
}

/// Names of the stored models, in name order (reads no blob).
pub fn names(store: &Store) -> Result<Vec<String>> {
    Ok(store.object_names(Keyspace::Model, &[])?)
}

/// Every stored model record, in name order.
pub fn list(store: &Store) -> Result<Vec<ModelRecord>> {
    store.list_objects(Keyspace::Model, &[])?.into_iter().map(|(name, v)| checked(&name, v)).collect()
}

/// Delete a stored model in one atomic write (op `model`); [`ModelError::NotFound`] when
/// there is none.
pub fn drop(store: &Store, name: &str) -> Result<()> {
    if !store.remove_object(Keyspace::Model, &[name], "model", format!("drop model '{name}'"))? {
        return Err(ModelError::NotFound(name.to_string()));
    }
    Ok(())
}
