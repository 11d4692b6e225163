//! The secondary, range and composite indexes and the duplicate buckets: which entries a
//! record has, their keys, and the probes that read them (keys only, never values).
//!
//! Invariant: index entries are derived from a record alone ([`index_entries`],
//! [`range_index_entries`], [`composite_index_entries`]) and written or removed in the same
//! batch as the record ([`super::WriteSet::insert_record`], [`super::WriteSet::update_record`]).

use super::keyspace::{key, prefix as scan_prefix, Keyspace, SEP};
use super::{Result, Store};
use crate::record::HopRecord;
use crate::structure::Structure;
use std::collections::BTreeMap;

/// Index entries of a record: (field, value) pairs. Elements get one entry each.
pub fn index_entries(r: &HopRecord) -> Vec<(&'static str, String)> {
    let mut v = vec![
        ("fidelity", r.fidelity.as_str().to_string()),
        ("ion", r.ion.symbol().to_string()),
        ("source", r.provenance.dataset.clone()),
    ];
    if let Some(g) = &r.material.group {
        v.push(("group", g.clone()));
    }
    if let Some(c) = &r.material.class_label {
        v.push(("class", c.clone()));
    }
    if let Some(s) = &r.material.sys_name {
        v.push(("sys_name", s.clone()));
    }
    if let Some(p) = r.partition {
        v.push(("partition", p.as_str().to_string()));
    }
    for e in &r.elements {
        v.push(("elements", e.symbol().to_string()));
    }
    v
}

/// Numeric fields with a range index (prefix `n`): order-preserving keys, so `em < 0.3` or
/// `hop_length BETWEEN 2 AND 3` reads only the matching entries.
pub const RANGE_INDEXED_FIELDS: &[&str] = &["em", "hop_length"];

/// Range-index entries of a record: (field, value).
pub fn range_index_entries(r: &HopRecord) -> [(&'static str, f64); 2] {
    [("em", r.em), ("hop_length", r.hop_length)]
}

/// Order-preserving 8-byte encoding of a finite f64 (byte order = numeric order).
pub fn encode_ordered(x: f64) -> [u8; 8] {
    let bits = x.to_bits();
    let t = if bits >> 63 == 1 { !bits } else { bits ^ (1 << 63) };
    t.to_be_bytes()
}

pub(super) fn range_key(field: &str, x: f64, id: &str) -> Vec<u8> {
    key(Keyspace::RangeIndex, &[field.as_bytes(), &encode_ordered(x), id.as_bytes()])
}

/// Low-cardinality indexed fields that also have a composite index with [`COMPOSITE_RANGE_FIELD`]
/// (prefix `c`): `ion = 'Mg' AND em < 0.3` reads only the keys of the matching records, in `em`
/// order, instead of intersecting the `ion` and `em` indexes.
pub const COMPOSITE_FIELDS: &[&str] = &["fidelity", "ion", "source", "group", "partition"];

/// The numeric field of the composite indexes.
pub const COMPOSITE_RANGE_FIELD: &str = "em";

/// Composite-index entries of a record: (field, value), each paired with its `em`.
pub fn composite_index_entries(r: &HopRecord) -> Vec<(&'static str, String)> {
    index_entries(r).into_iter().filter(|(f, _)| COMPOSITE_FIELDS.contains(f)).collect()
}

pub(super) fn composite_key(field: &str, value: &str, x: f64, id: &str) -> Vec<u8> {
    key(Keyspace::CompositeIndex, &[field.as_bytes(), value.as_bytes(), COMPOSITE_RANGE_FIELD.as_bytes(), &encode_ordered(x), id.as_bytes()])
}

/// Fields that have a secondary index.
pub const INDEXED_FIELDS: &[&str] = &["fidelity", "ion", "source", "group", "class", "sys_name", "partition", "elements"];

pub(super) fn index_key(field: &str, value: &str, id: &str) -> Vec<u8> {
    key(Keyspace::Index, &[field.as_bytes(), value.as_bytes(), id.as_bytes()])
}

/// Width (Angstrom) of the lattice-length bins of duplicate detection.
pub const DUP_BIN_WIDTH: f64 = 0.1;

/// Duplicate-detection bucket of a record: ion, host formula and the host's lattice lengths
/// binned by [`DUP_BIN_WIDTH`].
pub fn dup_bucket(r: &HopRecord, host: &Structure) -> Vec<u8> {
    dup_bucket_at(r, host, [0, 0, 0])
}

/// The buckets a duplicate of this record may sit in: its own and the 26 neighbouring bins
/// (lattice lengths within one bin width), so the binning never hides a duplicate.
pub fn dup_neighbour_buckets(r: &HopRecord, host: &Structure) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(27);
    for i in -1..=1 {
        for j in -1..=1 {
            for k in -1..=1 {
                out.push(dup_bucket_at(r, host, [i, j, k]));
            }
        }
    }
    out
}

fn dup_bucket_at(r: &HopRecord, host: &Structure, shift: [i64; 3]) -> Vec<u8> {
    let l = host.lattice.lengths();
    let bin = |x: f64, s: i64| ((x / DUP_BIN_WIDTH).floor() as i64 + s).to_string();
    let (a, b, c) = (bin(l[0], shift[0]), bin(l[1], shift[1]), bin(l[2], shift[2]));
    key(Keyspace::DupBucket, &[r.ion.symbol().as_bytes(), host.formula().as_bytes(), a.as_bytes(), b.as_bytes(), c.as_bytes()])
}

/// The ids under one index term, kept as the raw index keys sled returned (no copy per id).
#[derive(Clone, Debug, Default)]
pub struct IdKeys {
    keys: Vec<sled::IVec>,
    /// Bytes before the id in each key.
    skip: usize,
}

impl IdKeys {
    /// Number of ids.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The ids as bytes, in index order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.keys.iter().map(move |k| &k[self.skip..])
    }
}

impl Store {
    /// Number of records, counted only up to `limit` (the result is then `limit`): enough to
    /// decide "more than half the store" without reading a large store's index to its end.
    /// Counts keys of the `fidelity` index (one small key per record), and remembers what it
    /// learnt until the next commit, so repeated queries in one process do not count again.
    pub fn record_count_up_to(&self, limit: usize) -> Result<usize> {
        {
            let hint = self.count_hint.lock().unwrap_or_else(|e| e.into_inner());
            if hint.1 || hint.0 >= limit {
                return Ok(hint.0.min(limit));
            }
        }
        let prefix = scan_prefix(Keyspace::Index, &[b"fidelity"]);
        let mut n = 0;
        for k in self.db.scan_prefix(&prefix).keys() {
            if n >= limit {
                break;
            }
            k.map_err(|e| self.sled_error(e))?;
            n += 1;
        }
        let mut hint = self.count_hint.lock().unwrap_or_else(|e| e.into_inner());
        if n > hint.0 || n < limit {
            *hint = (n, n < limit);
        }
        Ok(n)
    }

    /// Ids of records whose indexed `field` equals `value` (in id order, as raw keys), reading
    /// at most `limit` index keys; the flag is false when the limit cut the read short.
    pub fn id_keys_where(&self, field: &str, value: &str, limit: usize) -> Result<(IdKeys, bool)> {
        let prefix = scan_prefix(Keyspace::Index, &[field.as_bytes(), value.as_bytes()]);
        let mut keys = Vec::new();
        for k in self.db.scan_prefix(&prefix).keys() {
            if keys.len() >= limit {
                return Ok((IdKeys { keys, skip: prefix.len() }, false));
            }
            keys.push(k.map_err(|e| self.sled_error(e))?);
        }
        Ok((IdKeys { keys, skip: prefix.len() }, true))
    }

    /// Ids of records whose range-indexed `field` lies within the bounds (in value order, as
    /// raw keys), reading at most `limit` index keys; the flag is false when the limit cut the
    /// read short.
    pub fn id_keys_in_range(&self, field: &str, lo: std::ops::Bound<f64>, hi: std::ops::Bound<f64>, limit: usize) -> Result<(IdKeys, bool)> {
        self.id_keys_between(self.range_bounds(field, lo, hi), limit)
    }

    /// The keys in `[start, end)` as ids after `skip` bytes, at most `limit` of them; the flag
    /// is false when the limit cut the read short.
    fn id_keys_between(&self, (start, end, skip): (Vec<u8>, Vec<u8>, usize), limit: usize) -> Result<(IdKeys, bool)> {
        let mut keys = Vec::new();
        if start >= end {
            return Ok((IdKeys { keys, skip }, true));
        }
        for k in self.db.range(start..end).keys() {
            if keys.len() >= limit {
                return Ok((IdKeys { keys, skip }, false));
            }
            keys.push(k.map_err(|e| self.sled_error(e))?);
        }
        Ok((IdKeys { keys, skip }, true))
    }

    /// Ids of records whose indexed `field` equals `value`, in id order.
    pub fn ids_where(&self, field: &str, value: &str) -> Result<Vec<String>> {
        let prefix = scan_prefix(Keyspace::Index, &[field.as_bytes(), value.as_bytes()]);
        let mut out = Vec::new();
        for kv in self.db.scan_prefix(&prefix) {
            let (k, _) = kv.map_err(|e| self.sled_error(e))?;
            out.push(String::from_utf8_lossy(&k[prefix.len()..]).into_owned());
        }
        Ok(out)
    }

    /// Number of records whose indexed `field` equals `value`: a count of index keys that
    /// reads no record.
    pub fn index_count(&self, field: &str, value: &str) -> Result<usize> {
        let prefix = scan_prefix(Keyspace::Index, &[field.as_bytes(), value.as_bytes()]);
        let mut n = 0;
        for k in self.db.scan_prefix(&prefix).keys() {
            k.map_err(|e| self.sled_error(e))?;
            n += 1;
        }
        Ok(n)
    }

    /// Ids (in value order) of records whose range-indexed numeric `field` lies within the
    /// bounds.
    pub fn ids_in_range(&self, field: &str, lo: std::ops::Bound<f64>, hi: std::ops::Bound<f64>) -> Result<Vec<String>> {
        self.scan_range(field, lo, hi, true).map(|(ids, _)| ids)
    }

    /// Number of records whose range-indexed `field` lies within the bounds (reads keys only).
    pub fn count_in_range(&self, field: &str, lo: std::ops::Bound<f64>, hi: std::ops::Bound<f64>) -> Result<usize> {
        self.scan_range(field, lo, hi, false).map(|(_, n)| n)
    }

    /// Ids of records whose composite-indexed `field` equals `value` and whose `em` lies within
    /// the bounds (in `em` order, as raw keys), reading at most `limit` index keys; the flag is
    /// false when the limit cut the read short.
    pub fn id_keys_where_in_range(&self, field: &str, value: &str, lo: std::ops::Bound<f64>, hi: std::ops::Bound<f64>, limit: usize) -> Result<(IdKeys, bool)> {
        let prefix = scan_prefix(Keyspace::CompositeIndex, &[field.as_bytes(), value.as_bytes(), COMPOSITE_RANGE_FIELD.as_bytes()]);
        self.id_keys_between(ordered_bounds(prefix, lo, hi), limit)
    }

    /// Key range `[start, end)` of a range-index probe and the length of the key before the id.
    fn range_bounds(&self, field: &str, lo: std::ops::Bound<f64>, hi: std::ops::Bound<f64>) -> (Vec<u8>, Vec<u8>, usize) {
        let prefix = scan_prefix(Keyspace::RangeIndex, &[field.as_bytes()]);
        ordered_bounds(prefix, lo, hi)
    }

    fn scan_range(&self, field: &str, lo: std::ops::Bound<f64>, hi: std::ops::Bound<f64>, collect: bool) -> Result<(Vec<String>, usize)> {
        let (start, end, skip) = self.range_bounds(field, lo, hi);
        let mut ids = Vec::new();
        let mut n = 0;
        if start >= end {
            return Ok((ids, 0));
        }
        for kv in self.db.range(start..end) {
            let (k, _) = kv.map_err(|e| self.sled_error(e))?;
            n += 1;
            if collect {
                ids.push(String::from_utf8_lossy(&k[skip..]).into_owned());
            }
        }
        Ok((ids, n))
    }

    /// Distinct values of an indexed field with their record counts.
    pub fn index_counts(&self, field: &str) -> Result<BTreeMap<String, usize>> {
        let prefix = scan_prefix(Keyspace::Index, &[field.as_bytes()]);
        let mut out = BTreeMap::new();
        for kv in self.db.scan_prefix(&prefix) {
            let (k, _) = kv.map_err(|e| self.sled_error(e))?;
            let rest = &k[prefix.len()..];
            let end = rest.iter().position(|&b| b == SEP).unwrap_or(rest.len());
            *out.entry(String::from_utf8_lossy(&rest[..end]).into_owned()).or_insert(0) += 1;
        }
        Ok(out)
    }

    /// Ids of records in the duplicate-detection bucket of (ion, host formula).
    pub fn ids_in_bucket(&self, bucket: &[u8]) -> Result<Vec<String>> {
        let mut prefix = bucket.to_vec();
        prefix.push(SEP);
        let mut out = Vec::new();
        for kv in self.db.scan_prefix(&prefix) {
            let (k, _) = kv.map_err(|e| self.sled_error(e))?;
            out.push(String::from_utf8_lossy(&k[prefix.len()..]).into_owned());
        }
        Ok(out)
    }
}


/// Key range `[start, end)` over keys `prefix + 8 ordered value bytes + SEP + id` with the
/// value within the bounds, and the length of the key before the id.
fn ordered_bounds(prefix: Vec<u8>, lo: std::ops::Bound<f64>, hi: std::ops::Bound<f64>) -> (Vec<u8>, Vec<u8>, usize) {
    use std::ops::Bound::*;
    let at = |x: f64| {
        let mut k = prefix.clone();
        k.extend_from_slice(&encode_ordered(x));
        k
    };
    // Keys are prefix + 8 value bytes + SEP + id; 0xff after the value sorts past every id.
    let start = match lo {
        Unbounded => prefix.clone(),
        Included(x) => at(x),
        Excluded(x) => {
            let mut k = at(x);
            k.push(0xff);
            k
        }
    };
    let end = match hi {
        Unbounded => {
            let mut k = prefix.clone();
            k.extend_from_slice(&[0xff; 10]);
            k
        }
        Included(x) => {
            let mut k = at(x);
            k.push(0xff);
            k
        }
        Excluded(x) => at(x),
    };
    (start, end, prefix.len() + 9)
}
