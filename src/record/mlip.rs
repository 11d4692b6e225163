//! Record-level vocabulary of the MLIP fidelity: ids, labels and the derived record of a hop
//! (see the `mlip` module for storing and comparing them).

use super::{Fidelity, HopRecord, Method, Provenance};
use std::collections::BTreeMap;

/// Dataset name (id prefix) of computed MLIP records.
pub const DATASET: &str = "mlip";
/// Model name of the published devi2025 MLIP barriers.
pub const PUBLISHED_MODEL: &str = "mace-mp-0";
/// Protocol of devi2025's MACE-RELAX column (endpoints relaxed, then NEB; the paper's SI).
pub const DEVI_RELAX: &str = "devi2025-relax";
/// Protocol of devi2025's MACE-NO-RELAX column (NEB on the unrelaxed endpoints).
pub const DEVI_NO_RELAX: &str = "devi2025-norelax";
/// The label of a model and protocol: `<model>/<protocol>` (the records' `method.code`).
pub fn label(model: &str, protocol: &str) -> String {
    format!("{model}/{protocol}")
}

/// Id of the MLIP record of `parent` computed with `model` and `protocol`.
pub fn record_id(parent: &str, model: &str, protocol: &str) -> String {
    format!("{DATASET}:{parent}@{}", label(model, protocol))
}

/// Id of the MLIP record of `parent` under a label `<model>/<protocol>`.
pub fn record_id_for_label(parent: &str, label: &str) -> String {
    format!("{DATASET}:{parent}@{label}")
}

/// An MLIP record for `parent` with barrier `em`: the parent's hop, host and material, no
/// partition, no flags, `parent` linked, `method.code` the label.
pub fn derived_record(parent: &HopRecord, em: f64, model: &str, protocol: &str, method: Method, provenance: Provenance, extra: BTreeMap<String, f64>) -> HopRecord {
    HopRecord {
        id: record_id(&parent.id, model, protocol),
        host: parent.host.clone(),
        host_natoms: parent.host_natoms,
        elements: parent.elements.clone(),
        volume: parent.volume,
        hop_length: parent.hop_length,
        material: parent.material.clone(),
        method: Method { code: Some(label(model, protocol)), ..method },
        provenance,
        parent: Some(parent.id.clone()),
        extra,
        ..HopRecord::new("", parent.ion, parent.initial, parent.final_site, em, Fidelity::Mlip)
    }
}

