//! One entry point per import source, shared by the CLI (`hopdb import ...`, `hopdb add`) and
//! the Python package: read the source with its reader, then [`super::commit`] it with the
//! import options. Everything that decides what is read and how lives here, so every front end
//! applies the same all-or-nothing rules.

use super::generic::{self, GenericMeta, GenericOptions, StructureSource};
use super::{commit, devi, litraj, Candidate, ImportError, ImportOptions, ImportReport, ReadItem, Rejection};
use crate::element::Element;
use crate::record::{Fidelity, SourcePartition};
use crate::store::Store;
use crate::structure::Structure;
use std::path::PathBuf;

/// What to import.
#[derive(Clone, Debug)]
pub enum Source {
    /// The devi2025 dataset directory (`band_train.json`, `band_test.json`,
    /// `endpoints_test.json`, `tabulation.csv`).
    Devi {
        /// The directory.
        dir: PathBuf,
        /// Also store the tabulated MACE-MP-0 barriers as linked `mlip` records.
        mlip: bool,
    },
    /// One devi2025-style band JSON file.
    Band {
        /// The file.
        file: PathBuf,
        /// Dataset name for ids and provenance.
        dataset: String,
        /// Source partition to record.
        partition: Option<SourcePartition>,
        /// `tabulation.csv` to enrich from.
        tabulation: Option<PathBuf>,
    },
    /// One devi2025-style endpoint JSON file.
    Endpoints {
        /// The file.
        file: PathBuf,
        /// Dataset name for ids and provenance.
        dataset: String,
        /// Source partition to record.
        partition: Option<SourcePartition>,
        /// `tabulation.csv` to enrich from.
        tabulation: Option<PathBuf>,
    },
    /// LiTraj extended XYZ.
    Xyz {
        /// The file.
        file: PathBuf,
        /// Fidelity of the barriers.
        fidelity: Fidelity,
        /// Dataset name (default: by fidelity, see [`litraj::LitrajOptions::for_fidelity`]).
        dataset: Option<String>,
        /// Read consecutive frames with one `edge_id` as one NEB trajectory.
        trajectory: bool,
    },
    /// A curator manifest (CSV or JSON lines) of CIF/POSCAR files.
    Manifest {
        /// The manifest.
        file: PathBuf,
        /// Dataset name for ids and provenance.
        dataset: String,
    },
    /// hopdb's own JSON lines export.
    Jsonl {
        /// The file.
        file: PathBuf,
    },
}

/// Read a source into candidates and per-record rejections, with the audit-log summary of the
/// import.
pub fn read(store: &Store, source: &Source) -> Result<(Vec<Candidate>, Vec<Rejection>, String), ImportError> {
    let groups = store.class_groups()?;
    Ok(match source {
        Source::Devi { dir, mlip } => {
            let (c, e) = devi::read_dir_with(dir, &groups, *mlip)?;
            (c, e, format!("devi2025 from {}", dir.display()))
        }
        Source::Band { file, dataset, partition, tabulation } | Source::Endpoints { file, dataset, partition, tabulation } => {
            let tab = match tabulation {
                Some(p) => devi::read_tabulation(p)?,
                None => Default::default(),
            };
            let ctx = devi::DeviContext { tabulation: &tab, class_groups: &groups, dataset, imported_at: crate::record::now() };
            let (c, e) = if matches!(source, Source::Band { .. }) {
                devi::read_band_file(&ctx, file, *partition)?
            } else {
                devi::read_endpoints_file(&ctx, file, *partition)?
            };
            (c, e, format!("{dataset} from {}", file.display()))
        }
        Source::Xyz { file, fidelity, dataset, trajectory } => {
            let mut o = litraj::LitrajOptions::for_fidelity(*fidelity);
            if let Some(d) = dataset {
                o.dataset = d.clone();
            }
            o.trajectory = *trajectory;
            let (c, e) = litraj::read_xyz_file(file, &o)?;
            (c, e, format!("{} from {}", o.dataset, file.display()))
        }
        Source::Manifest { file, dataset } => {
            let o = GenericOptions { dataset: dataset.clone(), class_groups: groups, ..Default::default() };
            let (c, e) = generic::read_manifest(file, &o)?;
            (c, e, format!("{dataset} manifest {}", file.display()))
        }
        Source::Jsonl { file } => {
            let (c, e) = super::jsonl::read_jsonl(file)?;
            (c, e, format!("jsonl {}", file.display()))
        }
    })
}

/// The candidates of a source as a stream, with the audit-log summary of the import: extended
/// XYZ and JSON lines are read a record at a time (their files can be far larger than
/// memory), a manifest's structure files a row at a time; the devi2025 files (JSON arrays of
/// a few hundred hops) are read whole and then streamed.
pub fn stream(store: &Store, source: &Source) -> Result<(Box<dyn Iterator<Item = Result<ReadItem, ImportError>>>, String), ImportError> {
    match source {
        Source::Xyz { file, fidelity, dataset, trajectory } => {
            let mut o = litraj::LitrajOptions::for_fidelity(*fidelity);
            if let Some(d) = dataset {
                o.dataset = d.clone();
            }
            o.trajectory = *trajectory;
            let summary = format!("{} from {}", o.dataset, file.display());
            Ok((Box::new(litraj::stream_xyz_file(file, &o)?), summary))
        }
        Source::Jsonl { file } => Ok((Box::new(super::jsonl::stream_jsonl(file)?), format!("jsonl {}", file.display()))),
        Source::Manifest { file, dataset } => {
            let o = GenericOptions { dataset: dataset.clone(), class_groups: store.class_groups()?, ..Default::default() };
            Ok((Box::new(generic::stream_manifest(file, &o)?), format!("{dataset} manifest {}", file.display())))
        }
        _ => {
            let (cands, errs, summary) = read(store, source)?;
            let items = errs.into_iter().map(|r| Ok(Err(r))).chain(cands.into_iter().map(|c| Ok(Ok(c))));
            Ok((Box::new(items), summary))
        }
    }
}

/// Import a source: stream it into the store ([`super::commit_stream`]: all-or-nothing unless
/// `opts.skip_invalid`, memory bounded by one batch).
pub fn import(store: &Store, source: &Source, opts: &ImportOptions) -> Result<ImportReport, ImportError> {
    let (items, summary) = stream(store, source)?;
    super::commit_stream(store, items, opts, &summary)
}

/// The structures of one hop to add: files (`hopdb add`) or structures in memory (Python).
#[derive(Clone, Debug)]
pub enum HopStructures {
    /// CIF / POSCAR files of the initial and final states.
    Files {
        /// Initial state.
        initial: PathBuf,
        /// Final state.
        final_: PathBuf,
    },
    /// Structures handed over in memory.
    InMemory {
        /// Initial state.
        initial: Structure,
        /// Final state.
        final_: Structure,
        /// What they are, for provenance (`source_file`) and messages, e.g. `python:ase.Atoms`.
        what: String,
    },
}

/// One literature hop to add (`hopdb add`, `Database.add` in Python).
#[derive(Clone, Debug)]
pub struct NewRecord {
    /// The structures.
    pub structures: HopStructures,
    /// The mobile ion.
    pub ion: Element,
    /// Barrier in eV.
    pub em: f64,
    /// Metadata; an empty `id` is derived: from the file stems (`<initial>__<final>`) for
    /// files, from the content ([`StructureSource::content_id`]) for structures in memory.
    pub meta: GenericMeta,
    /// Dataset name.
    pub dataset: String,
}

/// What [`add`] did: the id added, or the stored record that already holds the same hop with
/// the same barrier.
#[derive(Clone, Debug, PartialEq)]
pub enum Added {
    /// Added under this id, with these data-quality flags.
    Added {
        /// The new record's id.
        id: String,
        /// Its data-quality flags.
        flags: Vec<String>,
    },
    /// Not added: the same hop with the same barrier is stored under this id.
    Duplicate(String),
}

/// Add one hop (validated and committed like any import: all-or-nothing, audit-logged).
pub fn add(store: &Store, new: NewRecord) -> Result<Added, ImportError> {
    let o = GenericOptions { dataset: new.dataset.clone(), class_groups: store.class_groups()?, ..Default::default() };
    let mut meta = new.meta;
    let (built, origin) = match &new.structures {
        HopStructures::Files { initial, final_ } => {
            if meta.id.trim().is_empty() {
                let stem = |p: &PathBuf| p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                meta.id = format!("{}__{}", stem(initial), stem(final_));
            }
            let origin = format!("{} -> {}", initial.display(), final_.display());
            (generic::candidate_from_files(initial, final_, new.ion, new.em, &meta, &o), origin)
        }
        HopStructures::InMemory { initial, final_, what } => {
            let src = StructureSource::in_memory(initial, final_, what, "generic-structures");
            if meta.id.trim().is_empty() {
                meta.id = src.content_id(initial);
            }
            let origin = src.origin.clone();
            (generic::candidate_from_structures(initial, final_, new.ion, new.em, &meta, &o, src), origin)
        }
    };
    let (cands, errs) = match built {
        Ok(c) => (vec![c], vec![]),
        Err(reason) => (vec![], vec![Rejection { origin, reason }]),
    };
    let report = commit(store, cands, errs, &ImportOptions::default(), &format!("add {}", meta.id))?;
    match (report.added.first(), report.duplicates.first()) {
        (Some(id), _) => Ok(Added::Added { id: id.clone(), flags: report.flagged.first().map(|(_, f)| f.clone()).unwrap_or_default() }),
        (None, Some((_, existing))) => Ok(Added::Duplicate(existing.clone())),
        // commit either adds the one valid candidate, reports it a duplicate, or fails.
        _ => Err(ImportError::Invalid(report.rejected)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejection_parts_split_file_record_field() {
        let r = Rejection { origin: "dir/band_train.json, record 3 (LiCoO2, x)".into(), reason: "field em: negative barrier -1 eV".into() };
        let p = r.parts();
        assert_eq!((p.file.as_str(), p.record.as_str(), p.field.as_str(), p.message.as_str()), ("dir/band_train.json", "record 3 (LiCoO2, x)", "em", "negative barrier -1 eV"));
        let r = Rejection { origin: "a.cif -> b.cif".into(), reason: "initial/final: no atom moves".into() };
        let p = r.parts();
        assert_eq!((p.file.as_str(), p.record.as_str(), p.field.as_str(), p.message.as_str()), ("", "a.cif -> b.cif", "", "initial/final: no atom moves"));
        let r = Rejection { origin: "x, y.xyz, frames 1-3 (lines 1-30)".into(), reason: "frame 2: bad".into() };
        assert_eq!(r.parts().file, "x, y.xyz");
        assert_eq!(r.parts().record, "frames 1-3 (lines 1-30)");
    }
}

#[cfg(test)]
mod endpoint_tests {
    use crate::structure::{Lattice, Structure};

    #[test]
    fn empty_endpoints_are_an_error_not_a_panic() {
        let l = Lattice::new([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 3.0]]).unwrap();
        let empty = Structure::new(l, vec![], vec![]).unwrap();
        let e = super::super::hop_from_endpoints(&empty, &empty, None, 0.1).unwrap_err();
        assert!(e.contains("0 atom(s)"), "{e}");
    }
}
