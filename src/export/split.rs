//! Split exports for other machine-learning stacks (`EXPORT SPLIT s FORMAT alignn|extxyz`).
//!
//! - **ALIGNN** ([`export_alignn`]): the folder `train_alignn.py --root_dir` reads. `id_prop.csv`
//!   has one `filename,target` row per hop and no header (ALIGNN parses every row as data), the
//!   rows ordered train, then validation, then test; one POSCAR per hop in the chosen
//!   [`HopView`]; `config_hopdb.json` with `n_train`, `n_val`, `n_test` and
//!   `keep_data_order: true`. ALIGNN then takes the first `n_train` rows as its training set,
//!   the `n_val` rows before the last `n_test` as its validation set and the last `n_test` rows
//!   as its test set, which is exactly the hopdb split. ALIGNN's trainer evaluates the
//!   validation set every epoch, so the split must have a `val` partition
//!   (`CREATE SPLIT ... VALIDATION 10%`); `hopdb_ids.csv` maps each file back to its record id.
//! - **extended XYZ** ([`export_extxyz`]): one file `<partition>.extxyz` per partition, one
//!   LiTraj-style frame per hop ([`super::xyz_frame`]), which `ase.io.read(path, ':')` loads
//!   with `em` in each frame's info.

use super::{xyz_frame, ExportError, HostCache};
use crate::record::HopView;
use crate::split::Split;
use crate::store::Store;
use crate::table::{ResultTable, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The layout `EXPORT SPLIT ... FORMAT kind` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SplitExportFormat {
    /// The split as JSON (its partitions, parameters and fingerprint).
    Json,
    /// One `id,partition` row per hop.
    Csv,
    /// ALIGNN's `train_alignn.py` folder: `id_prop.csv`, one POSCAR per hop, a config fragment.
    Alignn,
    /// One LiTraj-style extended XYZ file per partition.
    Extxyz,
}

impl SplitExportFormat {
    /// Every format.
    pub const ALL: &'static [SplitExportFormat] = &[Self::Json, Self::Csv, Self::Alignn, Self::Extxyz];

    /// The lower-case keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Csv => "csv",
            Self::Alignn => "alignn",
            Self::Extxyz => "extxyz",
        }
    }

    /// The format called `s` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|f| f.as_str().eq_ignore_ascii_case(s))
    }
}

/// Name of ALIGNN's target file.
pub const ALIGNN_ID_PROP: &str = "id_prop.csv";
/// Name of the ALIGNN config fragment (keys of ALIGNN's `TrainingConfig` only).
pub const ALIGNN_CONFIG: &str = "config_hopdb.json";
/// Name of the file that maps each ALIGNN structure file to its hopdb record.
pub const ALIGNN_IDS: &str = "hopdb_ids.csv";

/// What an export wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitExport {
    /// The split exported.
    pub split: String,
    /// Its fingerprint.
    pub fingerprint: String,
    /// The layout.
    pub format: SplitExportFormat,
    /// The structure view (ALIGNN; extended XYZ frames are always the LiTraj layout).
    pub view: HopView,
    /// The output folder.
    pub dir: PathBuf,
    /// Hops written per partition, in the order written.
    pub partitions: Vec<(String, usize)>,
}

impl SplitExport {
    /// One row per partition: `split, format, partition, hops, folder, fingerprint`.
    pub fn table(&self) -> ResultTable {
        let mut t = ResultTable::new(&["split", "format", "partition", "hops", "folder", "fingerprint"]);
        for (p, n) in &self.partitions {
            t.push(vec![
                Value::Str(self.split.clone()),
                Value::Str(self.format.as_str().to_string()),
                Value::Str(p.clone()),
                Value::Int(*n as i64),
                Value::Str(self.dir.display().to_string()),
                Value::Str(self.fingerprint.clone()),
            ]);
        }
        t
    }
}

/// Export `split` in `format` into the folder `dir` (created if missing). `view` is used by
/// ALIGNN only. JSON and CSV are single files written by [`crate::split`], not folders.
pub fn export(store: &Store, split: &Split, format: SplitExportFormat, view: HopView, dir: &Path) -> Result<SplitExport, ExportError> {
    match format {
        SplitExportFormat::Alignn => export_alignn(store, split, view, dir),
        SplitExportFormat::Extxyz => export_extxyz(store, split, dir),
        other => Err(ExportError::Invalid(format!("FORMAT {} writes one file, not a folder: use EXPORT SPLIT without FORMAT", other.as_str()))),
    }
}

fn create_dir(dir: &Path) -> Result<(), ExportError> {
    std::fs::create_dir_all(dir).map_err(|e| ExportError::File { path: dir.to_path_buf(), source: e })
}

fn write_file(path: &Path, text: &str) -> Result<(), ExportError> {
    std::fs::write(path, text).map_err(|e| ExportError::File { path: path.to_path_buf(), source: e })
}

/// The ALIGNN partitions of `split` in row order (train, val, test), checked.
fn alignn_partitions(split: &Split) -> Result<[(&'static str, &[String]); 3], ExportError> {
    let known = ["train", "val", "test"];
    if let Some(other) = split.partitions.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(ExportError::Invalid(format!(
            "split '{}' has a partition '{other}': ALIGNN's layout holds train, validation and test only (export a k-fold split's folds with FORMAT extxyz)",
            split.name
        )));
    }
    for p in known {
        if split.partition(p).is_empty() {
            let hint = if p == "val" {
                format!(": ALIGNN's trainer evaluates a validation set every epoch (n_val >= 1); cut one with e.g. CREATE SPLIT {}_val FROM PARTITION VALIDATION 10%", split.name)
            } else {
                String::new()
            };
            return Err(ExportError::Invalid(format!("split '{}' has no '{p}' partition{hint}", split.name)));
        }
    }
    Ok(known.map(|p| (p, split.partition(p))))
}

/// A file name for a record id: characters other than letters, digits, `.`, `_` and `-`
/// become `_` (ids hold `:`), with the `.vasp` extension.
pub fn alignn_file_name(id: &str) -> String {
    let stem: String = id.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect();
    format!("{stem}.vasp")
}

/// ALIGNN's `train_alignn.py` folder for `split` (see the module docs).
pub fn export_alignn(store: &Store, split: &Split, view: HopView, dir: &Path) -> Result<SplitExport, ExportError> {
    let parts = alignn_partitions(split)?;
    create_dir(dir)?;
    let mut hosts = HostCache::new(store);
    let (mut id_prop, mut ids) = (String::new(), String::from("filename,id,partition\n"));
    let mut names = BTreeSet::new();
    for (p, members) in parts {
        for id in members {
            let name = alignn_file_name(id);
            if !names.insert(name.clone()) {
                return Err(ExportError::Invalid(format!("two record ids map to the file name {name}; rename one of them")));
            }
            let r = store.record(id)?;
            let s = view.structure(&r, hosts.get(&r.host)?);
            write_file(&dir.join(&name), &crate::structure::io::write_poscar(&s, &format!("{} {} view", r.id, view.as_str())))?;
            id_prop.push_str(&format!("{name},{}\n", r.em));
            ids.push_str(&format!("{name},{},{p}\n", csv_field(id)));
        }
    }
    let config = serde_json::json!({
        "n_train": parts[0].1.len(),
        "n_val": parts[1].1.len(),
        "n_test": parts[2].1.len(),
        "keep_data_order": true,
    });
    write_file(&dir.join(ALIGNN_ID_PROP), &id_prop)?;
    write_file(&dir.join(ALIGNN_IDS), &ids)?;
    write_file(&dir.join(ALIGNN_CONFIG), &(serde_json::to_string_pretty(&config).expect("json encodes") + "\n"))?;
    Ok(SplitExport {
        split: split.name.clone(),
        fingerprint: split.fingerprint.clone(),
        format: SplitExportFormat::Alignn,
        view,
        dir: dir.to_path_buf(),
        partitions: parts.iter().map(|(p, m)| (p.to_string(), m.len())).collect(),
    })
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// One `<partition>.extxyz` file per partition of `split` in `dir`, frames in partition order.
pub fn export_extxyz(store: &Store, split: &Split, dir: &Path) -> Result<SplitExport, ExportError> {
    create_dir(dir)?;
    let mut hosts = HostCache::new(store);
    let mut partitions = Vec::new();
    for (p, members) in &split.partitions {
        if !p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
            return Err(ExportError::Invalid(format!("partition name '{p}' cannot be a file name")));
        }
        let mut text = String::new();
        for id in members {
            let r = store.record(id)?;
            text.push_str(&xyz_frame(&r, hosts.get(&r.host)?));
        }
        write_file(&dir.join(format!("{p}.extxyz")), &text)?;
        partitions.push((p.clone(), members.len()));
    }
    Ok(SplitExport {
        split: split.name.clone(),
        fingerprint: split.fingerprint.clone(),
        format: SplitExportFormat::Extxyz,
        view: HopView::Centroid,
        dir: dir.to_path_buf(),
        partitions,
    })
}
