//! Screening: predict barriers for hops that are not in the store, from their two endpoint
//! structures. Each hop becomes a transient [`HopRecord`] and host exactly as an import
//! builds them ([`crate::import::record_from_endpoints`]: the mobile ion found by
//! [`crate::import::hop_from_endpoints`], the derived fields by
//! [`crate::import::finish_record`]), so its descriptors are those the same hop would have
//! if it were imported. Nothing is written to the store.

use super::{feature_set_of, WorkflowError, Result, GNN_KIND};
use crate::element::Element;
use crate::features;
use crate::model::{self, registry, ModelRecord};
use crate::record::HopRecord;
use crate::store::Store;
use crate::structure::Structure;
use rayon::prelude::*;

/// A hop to screen: the full initial and final structures (host plus the mobile ion at its
/// initial / final site) and, optionally, the mobile ion (inferred as the one atom that moves
/// when absent).
#[derive(Clone, Debug)]
pub struct NewHop {
    /// Host plus the ion at its initial site.
    pub initial: Structure,
    /// Host plus the ion at its final site (same cell).
    pub final_: Structure,
    /// The mobile ion, if known.
    pub ion: Option<Element>,
}

/// The transient record and host of each hop, in order; record ids are `new:1`, `new:2`, ....
/// An error names the hop (1-based) and what is wrong with its structures.
pub fn new_records(hops: &[NewHop]) -> Result<Vec<(HopRecord, Structure)>> {
    hops.iter()
        .enumerate()
        .map(|(i, h)| {
            crate::import::record_from_endpoints(&format!("new:{}", i + 1), &h.initial, &h.final_, h.ion)
                .map_err(|e| WorkflowError::Invalid(format!("hop {}: {e}", i + 1)))
        })
        .collect()
}

/// Predict Em (eV) with the stored model `model` for hops that are not in the store, in the
/// order given (tree models through their feature set; graph networks in builds with the
/// `gnn` feature).
pub fn predict_new(store: &Store, model: &str, hops: &[NewHop]) -> Result<Vec<f64>> {
    let rec = registry::load(store, model)?;
    let built = new_records(hops)?;
    predict_built(&rec, &built)
}

/// Predictions of `rec` for transient records with their hosts.
pub fn predict_built(rec: &ModelRecord, built: &[(HopRecord, Structure)]) -> Result<Vec<f64>> {
    if built.is_empty() {
        return Ok(Vec::new());
    }
    if rec.kind == GNN_KIND {
        return predict_gnn(rec, built);
    }
    let set = feature_set_of(rec)?;
    if set.has_linked() {
        let label = set.mlip_label.as_deref().unwrap_or(features::DEFAULT_MLIP_LABEL);
        return Err(WorkflowError::Invalid(format!(
            "model '{}' (feature set {}) reads each hop's MLIP barrier ({label}) and BVSE barrier, which a hop outside the store does not have: \
             add the hop (hopdb add), compute the missing fidelities (hopdb mlip compute --query ..., hopdb bvse compute --from ...), \
             then PREDICT {} FOR (SELECT * FROM hops WHERE id = '...')",
            rec.name,
            set.label(),
            rec.name
        )));
    }
    let rows: Vec<Vec<f64>> = built.par_iter().map(|(r, host)| features::compute_set(r, host, &set)).collect::<std::result::Result<_, _>>()?;
    let ids: Vec<String> = built.iter().map(|(r, _)| r.id.clone()).collect();
    Ok(model::predict_labeled(&rec.model()?, &rows, Some(&ids))?)
}

#[cfg(feature = "gnn")]
fn predict_gnn(rec: &ModelRecord, built: &[(HopRecord, Structure)]) -> Result<Vec<f64>> {
    let records: Vec<HopRecord> = built.iter().map(|(r, _)| r.clone()).collect();
    let hosts = built.iter().map(|(r, h)| (r.host.0.clone(), h.clone())).collect();
    crate::model::gnn::predict_with_hosts(rec, &records, &hosts).map_err(|e| WorkflowError::Invalid(e.to_string()))
}

#[cfg(not(feature = "gnn"))]
fn predict_gnn(rec: &ModelRecord, _built: &[(HopRecord, Structure)]) -> Result<Vec<f64>> {
    Err(WorkflowError::Invalid(format!("model '{}' is a graph network; this hopdb was built without the `gnn` feature (build with `make build`)", rec.name)))
}
