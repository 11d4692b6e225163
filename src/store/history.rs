//! Data versions and record history: what the store held at an earlier version, and what
//! changed between two.
//!
//! The data version is the sequence number of the last audit entry ([`Store::version`]).
//! Every write that touches records keeps each one as it was before (keyspace `h`, key:
//! version then record id, value `Option<HopRecord>`, `None` for a record the write created),
//! so the state at version `v` is the current state with, for every record written after `v`,
//! the value kept by the first such write ([`Store::changes_after`]).
//!
//! Invariant: history keys sort by version first, so "what changed after `v`" reads only the
//! entries written after `v`: nothing when nothing changed, whatever the store's size.

use super::codec::decode;
use super::keyspace::{key, Keyspace};
use super::{AuditEntry, Result, Store, StoreError};
use crate::record::HopRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Meta name of the first data version whose state the history can rebuild (u64 BE): 0 for a
/// store created with history, the version before the upgrade for an upgraded one.
pub(super) const HISTORY_FROM_KEY: &str = "history_from";

/// A data version: the sequence number of a write's audit entry, and its time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataVersion {
    /// Sequence number: 0 for the store as created, one more per write.
    pub seq: u64,
    /// RFC 3339 time of the write.
    pub at: String,
}

impl std::fmt::Display for DataVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.seq, self.at)
    }
}

/// An earlier state of the store, as a user names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AsOf {
    /// A data version (sequence number).
    Version(u64),
    /// A time: RFC 3339 (`2026-12-06T15:00:00Z`), `YYYY-MM-DD HH:MM:SS` (UTC) or
    /// `YYYY-MM-DD` (midnight UTC); the state after the last write at or before it.
    Time(String),
}

impl std::fmt::Display for AsOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AsOf::Version(v) => write!(f, "{v}"),
            AsOf::Time(t) => write!(f, "'{}'", t.replace('\'', "''")),
        }
    }
}

/// How one record differs between two versions ([`Store::diff`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Change {
    /// Absent at the first version, present at the second.
    Added,
    /// Present at the first version, absent at the second.
    Removed,
    /// Present at both with different values: the fields that differ.
    Changed(Vec<FieldChange>),
}

/// One field of a changed record ([`Change::Changed`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldChange {
    /// Field name (as in HopQL; `structure` for the host, sites and images).
    pub field: String,
    /// Value at the first version, as text.
    pub old: String,
    /// Value at the second version, as text.
    pub new: String,
    /// The reason of the revision that made the change, when the record carries one.
    pub reason: Option<String>,
}

/// The history key of record `id` written at version `seq`.
pub(super) fn history_key(seq: u64, id: &str) -> Vec<u8> {
    key(Keyspace::History, &[&seq.to_be_bytes(), id.as_bytes()])
}

/// Parse a time as [`AsOf::Time`] accepts it, as UTC.
fn parse_time(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::{NaiveDate, NaiveDateTime, TimeZone, Utc};
    let t = text.trim();
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(t) {
        return Some(d.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, fmt) {
            return Some(Utc.from_utc_datetime(&n));
        }
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|n| Utc.from_utc_datetime(&n))
}

/// The HopQL fields [`Store::diff`] compares (the stored ones; derived fields such as
/// `natoms` or `volume` follow the structure).
const DIFF_FIELDS: &[&str] = &[
    "em", "fidelity", "ion", "sys_name", "formula", "composition", "xc", "code", "class", "group", "crystal_system", "space_group", "path",
    "state", "source", "source_file", "source_record", "partition", "flags", "parent", "converged", "citation", "doi",
];

/// A record's fields as (name, text) for [`Store::diff`]: [`DIFF_FIELDS`], the structure
/// (host, sites and images), the notes and the extra annotations.
fn field_texts(r: &HopRecord) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for name in DIFF_FIELDS {
        let text = match r.field(name) {
            Some(v) => v.to_string(),
            None => "NULL".to_string(),
        };
        out.insert(name.to_string(), text);
    }
    out.insert(
        "structure".into(),
        format!("host {} initial {:?} final {:?} images {}", r.host, r.initial, r.final_site, r.images.len()),
    );
    for (k, v) in &r.extra {
        out.insert(format!("extra.{k}"), v.to_string());
    }
    out.insert("notes".into(), r.provenance.notes.clone().unwrap_or_else(|| "NULL".into()));
    out
}

impl Store {
    /// The store's data version: its last write.
    pub fn version(&self) -> Result<DataVersion> {
        let last = self.db.scan_prefix(key(Keyspace::Audit, &[])).next_back().transpose().map_err(|e| self.sled_error(e))?;
        match last {
            Some((k, v)) => {
                let e: AuditEntry = decode(&k, &v)?;
                Ok(DataVersion { seq: e.seq, at: e.at })
            }
            None => Err(StoreError::Damaged { path: Some(self.path.clone()), detail: "its audit log is empty".into() }),
        }
    }

    /// The first data version whose state [`Store::changes_after`] can rebuild.
    pub fn history_from(&self) -> Result<u64> {
        let k = key(Keyspace::Meta, &[HISTORY_FROM_KEY.as_bytes()]);
        match self.db.get(&k).map_err(|e| self.sled_error(e))? {
            Some(v) => Ok(u64::from_be_bytes(v.as_ref().try_into().map_err(|_| StoreError::Corrupt { key: "m/history_from".into(), msg: format!("{} bytes", v.len()) })?)),
            None => Ok(0),
        }
    }

    /// The data version `as_of` names, checked: not after the current version, not before the
    /// history began; a time resolves to the last write at or before it.
    pub fn resolve_version(&self, as_of: &AsOf) -> Result<DataVersion> {
        let current = self.version()?;
        let from = self.history_from()?;
        let v = match as_of {
            AsOf::Version(v) => {
                if *v > current.seq {
                    return Err(StoreError::Invalid(format!("AS OF {v}: the store is at data version {current}; no later version exists")));
                }
                let at = self.entry_at_or_before(*v)?.map(|e| e.at).unwrap_or_default();
                DataVersion { seq: *v, at }
            }
            AsOf::Time(t) => {
                let when = parse_time(t).ok_or_else(|| {
                    StoreError::Invalid(format!("AS OF '{t}': not a time (use a data version, or e.g. '2026-12-06T15:00:00Z', '2026-12-06 15:00:00' or '2026-12-06', UTC)"))
                })?;
                let mut found = None;
                for e in self.audit_log()? {
                    match parse_time(&e.at) {
                        Some(at) if at <= when => found = Some(DataVersion { seq: e.seq, at: e.at }),
                        Some(_) => break,
                        None => {}
                    }
                }
                found.ok_or_else(|| StoreError::Invalid(format!("AS OF '{t}': the store did not exist yet (it was created at {})", self.first_write_time())))?
            }
        };
        if v.seq < from {
            return Err(StoreError::Invalid(format!(
                "AS OF {}: this store keeps record history from data version {from} on (it was upgraded from an older schema then); earlier states cannot be rebuilt",
                v.seq
            )));
        }
        Ok(v)
    }

    fn first_write_time(&self) -> String {
        self.audit_log().ok().and_then(|l| l.first().map(|e| e.at.clone())).unwrap_or_default()
    }

    /// The audit entry of the last write at or before version `seq`.
    fn entry_at_or_before(&self, seq: u64) -> Result<Option<AuditEntry>> {
        let end = key(Keyspace::Audit, &[&seq.to_be_bytes()]);
        let start = key(Keyspace::Audit, &[]);
        match self.db.range(start..=end).next_back().transpose().map_err(|e| self.sled_error(e))? {
            Some((k, v)) => Ok(Some(decode(&k, &v)?)),
            None => Ok(None),
        }
    }

    /// Every record written after version `v`, with its state at `v` (`None`: it did not
    /// exist then), in id order. Empty when nothing changed since `v`; reads only the history
    /// written after `v`.
    pub fn changes_after(&self, v: u64) -> Result<BTreeMap<String, Option<HopRecord>>> {
        self.changes_between(v, u64::MAX)
    }

    /// Every record written after version `a` and at or before version `b`, with its state at
    /// `a` (the value kept by the first such write).
    fn changes_between(&self, a: u64, b: u64) -> Result<BTreeMap<String, Option<HopRecord>>> {
        let mut out = BTreeMap::new();
        let Some(start) = a.checked_add(1) else { return Ok(out) };
        if start > b {
            return Ok(out);
        }
        let lo = key(Keyspace::History, &[&start.to_be_bytes()]);
        let hi = vec![Keyspace::History.byte() + 1];
        let plen = lo.len();
        for kv in self.db.range(lo..hi) {
            let (k, val) = kv.map_err(|e| self.sled_error(e))?;
            let seq = u64::from_be_bytes(k[2..10].try_into().map_err(|_| StoreError::Corrupt { key: String::from_utf8_lossy(&k).into_owned(), msg: "short history key".into() })?);
            if seq > b {
                break;
            }
            let id = String::from_utf8_lossy(&k[plen + 1..]).into_owned();
            if let std::collections::btree_map::Entry::Vacant(slot) = out.entry(id) {
                slot.insert(decode::<Option<HopRecord>>(&k, &val)?);
            }
        }
        Ok(out)
    }

    /// The record `id` as it was at version `v` (`None`: it did not exist then).
    pub fn record_as_of(&self, id: &str, v: u64) -> Result<Option<HopRecord>> {
        // The first write of `id` after `v` kept its state at `v`; a scan by version cannot
        // seek by id, so read the (usually few) history entries after `v`.
        match self.changes_after(v)?.remove(id) {
            Some(before) => Ok(before),
            None => self.get(id),
        }
    }

    /// The records that differ between versions `a` and `b` (`a < b`; either may be the
    /// current version), with how they differ, in id order. A record written and restored in
    /// between is not listed.
    pub fn diff(&self, a: u64, b: u64) -> Result<Vec<(String, Change)>> {
        let (a, b) = (a.min(b), a.max(b));
        let at_a = self.changes_between(a, b)?;
        let after_b = self.changes_after(b)?;
        let mut out = Vec::new();
        for (id, old) in at_a {
            let new = match after_b.get(&id) {
                Some(state) => state.clone(),
                None => self.get(&id)?,
            };
            match (old, new) {
                (None, None) => {}
                (None, Some(_)) => out.push((id, Change::Added)),
                (Some(_), None) => out.push((id, Change::Removed)),
                (Some(o), Some(n)) => {
                    let (fo, fnew) = (field_texts(&o), field_texts(&n));
                    let reasons: Vec<&crate::record::Revision> = n.revisions.iter().skip(o.revisions.len()).collect();
                    let mut fields = Vec::new();
                    for (name, ov) in &fo {
                        let nv = fnew.get(name).cloned().unwrap_or_else(|| "NULL".into());
                        if *ov != nv {
                            let reason = reasons.iter().rev().find(|r| r.field == *name).map(|r| r.reason.clone());
                            fields.push(FieldChange { field: name.clone(), old: ov.clone(), new: nv, reason });
                        }
                    }
                    for (name, nv) in &fnew {
                        if !fo.contains_key(name) {
                            let reason = reasons.iter().rev().find(|r| r.field == *name).map(|r| r.reason.clone());
                            fields.push(FieldChange { field: name.clone(), old: "NULL".into(), new: nv.clone(), reason });
                        }
                    }
                    if !fields.is_empty() {
                        out.push((id, Change::Changed(fields)));
                    }
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Edit;
    use crate::store::WriteSet;

    fn store_with(n: usize) -> (tempfile::TempDir, Store, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(dir.path().join("db")).unwrap();
        let mut ws = WriteSet::new("import", "synthetic");
        let mut ids = Vec::new();
        for c in crate::synthetic::bvse_like_corpus(n, 7) {
            ws.insert_record(&c.record, &c.host);
            ids.push(c.record.id.clone());
        }
        store.commit(ws).unwrap();
        (dir, store, ids)
    }

    #[test]
    fn versions_count_writes_across_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = Store::create(&path).unwrap();
        assert_eq!(store.version().unwrap().seq, 0, "the store as created is version 0");
        let v1 = store.commit(WriteSet::new("t", "one")).unwrap();
        assert_eq!(v1.seq, 1);
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.commit(WriteSet::new("t", "two")).unwrap().seq, 2, "no gap after a reopen");
        assert_eq!(store.audit_log().unwrap().iter().map(|e| e.seq).collect::<Vec<_>>(), [0, 1, 2]);
    }

    #[test]
    fn versions_rebuild_earlier_states_and_diff_them() {
        let (_d, store, ids) = store_with(4);
        let v_import = store.version().unwrap();
        assert!(store.changes_after(v_import.seq).unwrap().is_empty(), "nothing changed since the last write");
        let before = store.record(&ids[0]).unwrap();
        store.edit(&ids[0], &[Edit::Em(4.5), Edit::AddFlag("suspect".into())], "erratum").unwrap();
        let v_edit = store.version().unwrap().seq;
        assert!(v_edit > v_import.seq, "an edit advances the data version");
        // As of the import: the old value; the edited record is the only change.
        let ch = store.changes_after(v_import.seq).unwrap();
        assert_eq!(ch.len(), 1);
        assert_eq!(ch[&ids[0]].as_ref().unwrap().em, before.em);
        assert_eq!(store.record_as_of(&ids[0], v_import.seq).unwrap().unwrap().em, before.em);
        assert_eq!(store.record_as_of(&ids[0], v_edit).unwrap().unwrap().em, 4.5);
        // Before the import the records did not exist.
        assert_eq!(store.record_as_of(&ids[1], v_import.seq - 1).unwrap(), None);
        let d = store.diff(v_import.seq, v_edit).unwrap();
        assert_eq!(d.len(), 1);
        let Change::Changed(fields) = &d[0].1 else { panic!("{d:?}") };
        let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["em", "flags"], "{fields:?}");
        assert_eq!(fields[0].new, "4.5");
        assert_eq!(fields[0].reason.as_deref(), Some("erratum"));
        let all = store.diff(0, v_edit).unwrap();
        assert_eq!(all.len(), 4);
        assert!(all.iter().all(|(_, c)| *c == Change::Added));
        // Removal, and a time that resolves to a version.
        let host = store.structure(&before.host).unwrap();
        let cur = store.record(&ids[1]).unwrap();
        let mut ws = WriteSet::new("remove", "gone");
        ws.remove_record(&cur, &host);
        let v_rm = store.commit(ws).unwrap();
        assert_eq!(store.get(&ids[1]).unwrap(), None);
        assert_eq!(store.diff(v_edit, v_rm.seq).unwrap(), vec![(ids[1].clone(), Change::Removed)]);
        assert_eq!(store.record_as_of(&ids[1], v_edit).unwrap().unwrap(), cur);
        assert_eq!(store.resolve_version(&AsOf::Time(v_rm.at.clone())).unwrap().seq, v_rm.seq);
        assert_eq!(store.resolve_version(&AsOf::Time("2999-01-01".into())).unwrap().seq, v_rm.seq);
        let e = store.resolve_version(&AsOf::Time("1999-01-01".into())).unwrap_err().to_string();
        assert!(e.contains("did not exist yet"), "{e}");
        let e = store.resolve_version(&AsOf::Version(v_rm.seq + 100)).unwrap_err().to_string();
        assert!(e.contains("no later version"), "{e}");
        let e = store.resolve_version(&AsOf::Time("yesterday".into())).unwrap_err().to_string();
        assert!(e.contains("not a time"), "{e}");
    }
}
