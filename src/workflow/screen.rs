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
/// `gnn` feature). A model whose feature set reads the hop's MLIP barrier needs
/// [`predict_new_with`].
pub fn predict_new(store: &Store, model: &str, hops: &[NewHop]) -> Result<Vec<f64>> {
    predict_new_with(store, model, hops, None)
}

/// [`predict_new`] with the hops' MLIP barriers of the model's MLIP label given (one per hop;
/// `None` for a hop whose NEB failed, which the model sees as missing, as it sees a stored hop
/// without one).
pub fn predict_new_with(store: &Store, model: &str, hops: &[NewHop], mlip: Option<&[Option<f64>]>) -> Result<Vec<f64>> {
    let rec = registry::load(store, model)?;
    let built = new_records(hops)?;
    let linked = linked_for_new(&rec, &built, mlip)?;
    predict_built_with(&rec, &built, &linked)
}

/// What a stored model reads of a hop besides its structures: the lower-fidelity barriers of
/// its feature set.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct LinkedNeeds {
    /// The MLIP label (`<model>/<protocol>`) whose barrier it reads, if any.
    pub mlip: Option<String>,
    /// Whether it reads the BVSE barrier (default recipe; screening computes it).
    pub bvse: bool,
}

/// The lower-fidelity barriers `rec` reads (none for a graph network).
pub fn linked_needs(rec: &ModelRecord) -> Result<LinkedNeeds> {
    if rec.kind == GNN_KIND {
        return Ok(LinkedNeeds::default());
    }
    let set = feature_set_of(rec)?;
    Ok(LinkedNeeds { mlip: set.reads_mlip().map(str::to_string), bvse: set.reads_bvse() })
}

/// The linked barriers of transient hops for `rec`: the MLIP barriers as given (an error that
/// names the fidelity when the model reads them and none are given), the BVSE barriers
/// computed here with the default recipe, as `bvse compute` does for stored hops (a hop whose
/// BVSE NEB fails has none, as a stored hop whose computation failed has no BVSE record).
pub fn linked_for_new(rec: &ModelRecord, built: &[(HopRecord, Structure)], mlip: Option<&[Option<f64>]>) -> Result<Vec<features::LinkedBarriers>> {
    let needs = linked_needs(rec)?;
    let mut out = vec![features::LinkedBarriers::default(); built.len()];
    match (&needs.mlip, mlip) {
        (None, Some(_)) => {
            return Err(WorkflowError::Invalid(format!("model '{}' reads no MLIP barrier (feature set {}): give none", rec.name, rec.feature_set)));
        }
        (Some(label), None) => {
            return Err(WorkflowError::Invalid(format!(
                "model '{}' (feature set {}) reads each hop's MLIP barrier ({label}), which a hop outside the store does not have: \
                 compute it with the same model and protocol (Python: db.predict(model, pairs, calculator=...)), give the values \
                 (Python: mlip_em=[...]; hopdb predict --mlip-em), or add the hop to the store (hopdb add, hopdb mlip compute)",
                rec.name, rec.feature_set
            )));
        }
        (Some(label), Some(values)) => {
            if values.len() != built.len() {
                return Err(WorkflowError::Invalid(format!("{} MLIP barriers for {} hops: give one per hop (None where its NEB failed)", values.len(), built.len())));
            }
            for (k, (v, o)) in values.iter().zip(&mut out).enumerate() {
                if let Some(x) = v {
                    if !x.is_finite() || *x < 0.0 {
                        return Err(WorkflowError::Invalid(format!("hop {}: MLIP barrier ({label}) {x} eV is not a barrier (it must be finite and at least 0)", k + 1)));
                    }
                }
                o.mlip = *v;
            }
        }
        (None, None) => {}
    }
    if needs.bvse {
        let bvse: Vec<Option<f64>> = built
            .par_iter()
            .map(|(r, host)| crate::bvse::corpus::compute_one(r, host, crate::bvse::Recipe::Hopdb).ok().map(|b| b.em).filter(|e| e.is_finite() && *e >= 0.0))
            .collect();
        let failed = bvse.iter().filter(|b| b.is_none()).count();
        if failed > 0 {
            crate::progress::notice(&format!("BVSE barrier: the NEB failed for {failed} of {} hops; the model sees them as missing", built.len()));
        }
        for (o, b) in out.iter_mut().zip(bvse) {
            o.bvse = b;
        }
    }
    Ok(out)
}

/// Predictions of `rec` for transient records with their hosts (BVSE barriers computed when
/// the model reads them; a model that reads MLIP barriers needs [`predict_built_with`]).
pub fn predict_built(rec: &ModelRecord, built: &[(HopRecord, Structure)]) -> Result<Vec<f64>> {
    let linked = linked_for_new(rec, built, None)?;
    predict_built_with(rec, built, &linked)
}

/// Predictions of `rec` for transient records with their hosts and linked barriers
/// ([`linked_for_new`]).
pub fn predict_built_with(rec: &ModelRecord, built: &[(HopRecord, Structure)], linked: &[features::LinkedBarriers]) -> Result<Vec<f64>> {
    if built.is_empty() {
        return Ok(Vec::new());
    }
    if rec.kind == GNN_KIND {
        return predict_gnn(rec, built);
    }
    if linked.len() != built.len() {
        return Err(WorkflowError::Invalid(format!("linked barriers for {} hops, {} hops given", linked.len(), built.len())));
    }
    let set = feature_set_of(rec)?;
    let rows: Vec<Vec<f64>> = built
        .par_iter()
        .zip(linked.par_iter())
        .map(|((r, host), l)| features::compute_set_with_linked(r, host, &set, *l))
        .collect::<std::result::Result<_, _>>()?;
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
