//! The secondary, range and composite indexes and the duplicate buckets: which entries a
//! record has, their keys, and the probes that read them (keys only, never values).
//!
//! Invariant: index entries are derived from a record alone ([`index_entries`],
//! [`range_index_entries`], [`composite_index_entries`], all of them as posting entries by
//! [`record_postings`]) and written or removed in the same batch as the record
//! ([`super::WriteSet::insert_record`], [`super::WriteSet::update_record`]), as posting chunks
//! (the `postings` submodule).

use super::keyspace::{key, prefix as scan_prefix, Keyspace, SEP};
use super::{Result, Store};
use crate::record::HopRecord;
use crate::structure::Structure;
use std::collections::BTreeMap;
use std::ops::Bound;

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

/// The entry of a value and record in a range or composite index: the order-preserving bytes
/// of the value, `\0`, the id.
fn ordered_entry(x: f64, id: &str) -> Vec<u8> {
    let mut e = Vec::with_capacity(9 + id.len());
    e.extend_from_slice(&encode_ordered(x));
    e.push(SEP);
    e.extend_from_slice(id.as_bytes());
    e
}

fn index_term(field: &str, value: &str) -> Vec<u8> {
    scan_prefix(Keyspace::Index, &[field.as_bytes(), value.as_bytes()])
}

fn range_term(field: &str) -> Vec<u8> {
    scan_prefix(Keyspace::RangeIndex, &[field.as_bytes()])
}

fn composite_term(field: &str, value: &str) -> Vec<u8> {
    scan_prefix(Keyspace::CompositeIndex, &[field.as_bytes(), value.as_bytes(), COMPOSITE_RANGE_FIELD.as_bytes()])
}

/// Every index entry of a record as (term, entry) of the posting chunks (the `postings`
/// submodule): secondary, range and composite.
pub(super) fn record_postings(r: &HopRecord) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::with_capacity(20);
    for (f, v) in index_entries(r) {
        out.push((index_term(f, &v), r.id.as_bytes().to_vec()));
    }
    for (f, x) in range_index_entries(r) {
        out.push((range_term(f), ordered_entry(x, &r.id)));
    }
    for (f, v) in composite_index_entries(r) {
        out.push((composite_term(f, &v), ordered_entry(r.em, &r.id)));
    }
    out
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

/// Fields that have a secondary index.
pub const INDEXED_FIELDS: &[&str] = &["fidelity", "ion", "source", "group", "class", "sys_name", "partition", "elements"];

/// Width (Angstrom) of the lattice-length bins of duplicate detection.
pub const DUP_BIN_WIDTH: f64 = 0.1;

/// Duplicate-detection bucket of a record: ion, host formula and the host's lattice lengths
/// binned by [`DUP_BIN_WIDTH`].
pub fn dup_bucket(r: &HopRecord, host: &Structure) -> Vec<u8> {
    dup_bucket_of(r, &host.formula(), host.lattice.lengths(), [0, 0, 0])
}

/// The buckets a duplicate of this record may sit in: those of every lattice-length bin
/// within `tol` (Angstrom) of this host's lengths, so the binning never hides a duplicate
/// whose lattice vectors each lie within `tol` of this host's (a length moves no more than
/// its vector: `|len(u) - len(v)| <= |u - v|`). With `tol` under half a bin width that is 8
/// buckets at most (or 12, 18, 27 where a length sits within a rounding margin of a second bin
/// edge), usually fewer.
pub fn dup_probe_buckets(r: &HopRecord, host: &Structure, tol: f64) -> Vec<Vec<u8>> {
    let l = host.lattice.lengths();
    // A margin for the rounding of the lengths' computation (f64, a few ulps).
    let reach = tol.max(0.0) + 1e-9;
    let bins = |x: f64| {
        let own = (x / DUP_BIN_WIDTH).floor() as i64;
        let lo = ((x - reach) / DUP_BIN_WIDTH).floor() as i64 - own;
        let hi = ((x + reach) / DUP_BIN_WIDTH).floor() as i64 - own;
        lo..=hi
    };
    let formula = host.formula();
    let mut out = Vec::new();
    for i in bins(l[0]) {
        for j in bins(l[1]) {
            for k in bins(l[2]) {
                out.push(dup_bucket_of(r, &formula, l, [i, j, k]));
            }
        }
    }
    out
}

/// The bucket of an ion, a host formula and lattice lengths, the bins shifted by `shift`.
fn dup_bucket_of(r: &HopRecord, formula: &str, l: [f64; 3], shift: [i64; 3]) -> Vec<u8> {
    let bin = |x: f64, s: i64| ((x / DUP_BIN_WIDTH).floor() as i64 + s).to_string();
    let (a, b, c) = (bin(l[0], shift[0]), bin(l[1], shift[1]), bin(l[2], shift[2]));
    key(Keyspace::DupBucket, &[r.ion.symbol().as_bytes(), formula.as_bytes(), a.as_bytes(), b.as_bytes(), c.as_bytes()])
}

/// The value of a duplicate-bucket entry: the host's lattice vectors as nine f32 (LE), so a
/// duplicate probe passes over hosts of another cell without reading their records or hosts
/// (a bucket of a common formula holds thousands of records).
pub fn dup_entry_value(host: &Structure) -> Vec<u8> {
    host.lattice.matrix().iter().flatten().flat_map(|x| (*x as f32).to_le_bytes()).collect()
}

/// Whether a duplicate-bucket entry's value may be a cell whose lattice vectors each lie
/// within `tol` of `lattice`'s (the test [`crate::import::same_hop`] starts with), with a
/// margin for the f32 rounding; an empty value (written before the values were) always may.
pub fn dup_entry_may_match(value: &[u8], lattice: &crate::structure::Lattice, tol: f64) -> bool {
    if value.len() != 36 {
        return true;
    }
    let m = lattice.matrix();
    let margin = 1e-4;
    (0..3).all(|i| {
        let d2: f64 = (0..3)
            .map(|j| {
                let at = 4 * (3 * i + j);
                let x = f32::from_le_bytes(value[at..at + 4].try_into().expect("4 bytes")) as f64;
                (x - m[i][j]).powi(2)
            })
            .sum();
        d2.sqrt() <= tol + margin
    })
}

/// The ids under one index term, in one buffer (no allocation per id).
#[derive(Clone, Debug, Default)]
pub struct IdKeys {
    bytes: Vec<u8>,
    /// End of each id in `bytes`.
    ends: Vec<usize>,
}

impl IdKeys {
    fn push(&mut self, id: &[u8]) {
        self.bytes.extend_from_slice(id);
        self.ends.push(self.bytes.len());
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The ids as bytes, in index order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(self.ends.iter().copied()).map(move |(a, b)| &self.bytes[a..b])
    }
}

/// The record id of a range or composite entry (after the value's 8 bytes and `\0`).
fn entry_id(e: &[u8]) -> &[u8] {
    e.get(9..).unwrap_or(&[])
}

impl Store {
    /// Number of records, counted only up to `limit` (the result is then `limit`): enough to
    /// decide "more than half the store" without reading a large store's index to its end.
    /// Counts the entries of the `fidelity` index (one per record, from the chunk headers),
    /// and remembers what it learnt until the next commit, so repeated queries in one process
    /// do not count again.
    pub fn record_count_up_to(&self, limit: usize) -> Result<usize> {
        {
            let hint = self.count_hint.lock().unwrap_or_else(|e| e.into_inner());
            if hint.1 || hint.0 >= limit {
                return Ok(hint.0.min(limit));
            }
        }
        let n = self.count_postings(&scan_prefix(Keyspace::Index, &[b"fidelity"]), limit)?.min(limit);
        let mut hint = self.count_hint.lock().unwrap_or_else(|e| e.into_inner());
        if n > hint.0 || n < limit {
            *hint = (n, n < limit);
        }
        Ok(n)
    }

    /// Ids of records whose indexed `field` equals `value` (in id order), reading at most
    /// `limit` index entries; the flag is false when the limit cut the read short.
    pub fn id_keys_where(&self, field: &str, value: &str, limit: usize) -> Result<(IdKeys, bool)> {
        let mut keys = IdKeys::default();
        let complete = self.scan_postings(&index_term(field, value), Bound::Unbounded, Bound::Unbounded, limit, |e| keys.push(e))?;
        Ok((keys, complete))
    }

    /// Ids of records whose range-indexed `field` lies within the bounds (in value order),
    /// reading at most `limit` index entries; the flag is false when the limit cut the read
    /// short.
    pub fn id_keys_in_range(&self, field: &str, lo: Bound<f64>, hi: Bound<f64>, limit: usize) -> Result<(IdKeys, bool)> {
        self.id_keys_between(&range_term(field), lo, hi, limit)
    }

    /// The ids of the entries of a range or composite `term` with values within the bounds,
    /// at most `limit` of them; the flag is false when the limit cut the read short.
    fn id_keys_between(&self, term: &[u8], lo: Bound<f64>, hi: Bound<f64>, limit: usize) -> Result<(IdKeys, bool)> {
        let mut keys = IdKeys::default();
        let (lo, hi) = entry_bounds(lo, hi);
        let complete = self.scan_postings(term, as_ref(&lo), as_ref(&hi), limit, |e| keys.push(entry_id(e)))?;
        Ok((keys, complete))
    }

    /// Ids of records whose indexed `field` equals `value`, in id order.
    pub fn ids_where(&self, field: &str, value: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        self.scan_postings(&index_term(field, value), Bound::Unbounded, Bound::Unbounded, usize::MAX, |e| out.push(String::from_utf8_lossy(e).into_owned()))?;
        Ok(out)
    }

    /// Number of records whose indexed `field` equals `value`: a count of index entries (chunk
    /// headers) that reads no record.
    pub fn index_count(&self, field: &str, value: &str) -> Result<usize> {
        self.count_postings(&index_term(field, value), usize::MAX)
    }

    /// Ids (in value order) of records whose range-indexed numeric `field` lies within the
    /// bounds.
    pub fn ids_in_range(&self, field: &str, lo: Bound<f64>, hi: Bound<f64>) -> Result<Vec<String>> {
        let (keys, _) = self.id_keys_in_range(field, lo, hi, usize::MAX)?;
        Ok(keys.iter().map(|id| String::from_utf8_lossy(id).into_owned()).collect())
    }

    /// Number of records whose range-indexed `field` lies within the bounds (reads the index
    /// only).
    pub fn count_in_range(&self, field: &str, lo: Bound<f64>, hi: Bound<f64>) -> Result<usize> {
        let (lo, hi) = entry_bounds(lo, hi);
        let mut n = 0;
        self.scan_postings(&range_term(field), as_ref(&lo), as_ref(&hi), usize::MAX, |_| n += 1)?;
        Ok(n)
    }

    /// Ids of records whose composite-indexed `field` equals `value` and whose `em` lies within
    /// the bounds (in `em` order), reading at most `limit` index entries; the flag is false
    /// when the limit cut the read short.
    pub fn id_keys_where_in_range(&self, field: &str, value: &str, lo: Bound<f64>, hi: Bound<f64>, limit: usize) -> Result<(IdKeys, bool)> {
        self.id_keys_between(&composite_term(field, value), lo, hi, limit)
    }

    /// Distinct values of an indexed field with their record counts (from the chunks' keys and
    /// headers).
    pub fn index_counts(&self, field: &str) -> Result<BTreeMap<String, usize>> {
        let prefix = scan_prefix(Keyspace::Index, &[field.as_bytes()]);
        let mut out = BTreeMap::new();
        for kv in self.db.scan_prefix(&prefix) {
            let (k, v) = kv.map_err(|e| self.sled_error(e))?;
            let rest = &k[prefix.len()..];
            let end = rest.iter().position(|&b| b == SEP).unwrap_or(rest.len());
            *out.entry(String::from_utf8_lossy(&rest[..end]).into_owned()).or_insert(0) += super::postings::chunk_len(&k, &v)?;
        }
        Ok(out)
    }

    /// The ids in a duplicate-detection bucket whose host cell may lie within `tol` of
    /// `lattice` ([`dup_entry_may_match`]); all of them when `near` is `None`.
    pub fn ids_in_bucket_near(&self, bucket: &[u8], near: Option<(&crate::structure::Lattice, f64)>) -> Result<Vec<String>> {
        let mut prefix = bucket.to_vec();
        prefix.push(SEP);
        let mut out = Vec::new();
        for kv in self.db.scan_prefix(&prefix) {
            let (k, v) = kv.map_err(|e| self.sled_error(e))?;
            if near.is_none_or(|(lattice, tol)| dup_entry_may_match(&v, lattice, tol)) {
                out.push(String::from_utf8_lossy(&k[prefix.len()..]).into_owned());
            }
        }
        Ok(out)
    }
}

/// Bounds on a value as bounds on range and composite entries (8 value bytes, `\0`, id):
/// every entry of a value `x` lies in `[x, x 0xff)`.
fn entry_bounds(lo: Bound<f64>, hi: Bound<f64>) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let past = |x: f64| {
        let mut k = encode_ordered(x).to_vec();
        k.push(0xff);
        k
    };
    let lo = match lo {
        Bound::Unbounded => Bound::Unbounded,
        Bound::Included(x) => Bound::Included(encode_ordered(x).to_vec()),
        Bound::Excluded(x) => Bound::Included(past(x)),
    };
    let hi = match hi {
        Bound::Unbounded => Bound::Unbounded,
        Bound::Included(x) => Bound::Excluded(past(x)),
        Bound::Excluded(x) => Bound::Excluded(encode_ordered(x).to_vec()),
    };
    (lo, hi)
}

fn as_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(v) => Bound::Included(v.as_slice()),
        Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structure::Lattice;

    #[test]
    fn a_dup_entry_value_passes_only_cells_within_the_tolerance() {
        let host = &crate::synthetic::bvse_like_corpus(1, 4)[0].host;
        let v = dup_entry_value(host);
        assert_eq!(v.len(), 36);
        let m = *host.lattice.matrix();
        let moved = |d: f64| {
            let mut m = m;
            m[1][0] += d;
            Lattice::new(m).unwrap()
        };
        assert!(dup_entry_may_match(&v, &host.lattice, 0.05));
        assert!(dup_entry_may_match(&v, &moved(0.049), 0.05));
        assert!(!dup_entry_may_match(&v, &moved(0.06), 0.05), "another cell is passed over");
        assert!(!dup_entry_may_match(&v, &moved(-0.2), 0.05));
        assert!(dup_entry_may_match(&[], &moved(3.0), 0.05), "an entry without a value is always read");
    }

    #[test]
    fn the_probed_buckets_hold_every_cell_within_the_tolerance() {
        use rand::{Rng, SeedableRng};
        let c = &crate::synthetic::bvse_like_corpus(1, 9)[0];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let tol = 0.05;
        let mut most = 0;
        for _ in 0..2000 {
            // A cell whose lengths sit anywhere in their bins, near edges included.
            let mut m = *c.host.lattice.matrix();
            for row in m.iter_mut() {
                let s = 1.0 + rng.gen_range(-0.02..0.02);
                for x in row.iter_mut() {
                    *x *= s;
                }
            }
            let mut a = c.host.clone();
            a.lattice = Lattice::new(m).unwrap();
            // A second cell: every vector moved by at most `tol`.
            let mut moved = m;
            for row in moved.iter_mut() {
                let d: [f64; 3] = [
                    rng.gen_range(-1.0..1.0),
                    rng.gen_range(-1.0..1.0),
                    rng.gen_range(-1.0..1.0),
                ];
                let n = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt().max(1e-12);
                let len = tol * rng.gen_range(0.0..=1.0f64).sqrt();
                for (x, dx) in row.iter_mut().zip(d) {
                    *x += dx / n * len * 0.999_999;
                }
            }
            let mut b = c.host.clone();
            b.lattice = Lattice::new(moved).unwrap();
            let probed = dup_probe_buckets(&c.record, &a, tol);
            most = most.max(probed.len());
            assert!(
                probed.contains(&dup_bucket(&c.record, &b)),
                "a cell within {tol} A was not probed: {m:?} vs {moved:?}"
            );
            assert!(
                probed.contains(&dup_bucket(&c.record, &a)),
                "its own bucket is probed"
            );
        }
        assert!(most <= 27, "{most} buckets");
        // Two bins a side at most where the tolerance is under half a bin.
        let probed = dup_probe_buckets(&c.record, &c.host, tol);
        assert!(
            probed.len() <= 8,
            "{} buckets for a tolerance under half a bin",
            probed.len()
        );
    }
}
