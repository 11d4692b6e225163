//! Posting chunks: the index entries of one term (an indexed field's value, or a range-indexed
//! field) kept as sorted runs of up to [`CHUNK_ENTRIES`] entries, one sled key per run, instead
//! of one sled key per entry.
//!
//! Why: sled spends about 130 bytes of file per key beyond the key itself (log frames, node
//! versions its cleaner has not reclaimed), and the indexes gave every record about 15 keys;
//! a run of 128 entries pays that once.
//!
//! Layout: a term is a key prefix (keyspace byte, field[, value], each followed by `\0`); an
//! entry is the bytes after it that the per-entry key had (a record id, or an order-preserving
//! 8-byte value, `\0`, the id). A chunk's key is the term followed by its first entry, so
//! chunks sort like their entries, and its value is the entry count (varint) followed by the
//! entries front-coded (varint bytes shared with the previous entry, varint length of the rest,
//! the rest).
//!
//! Invariant: the chunks of a term hold disjoint, increasing runs of entries (every entry of a
//! chunk sorts before the next chunk's key), no chunk is empty, and every chunk's key is its
//! term followed by its first entry. Writes collect set operations per term
//! ([`PostingOps`]) and [`Store::apply_postings`] turns them into chunk rewrites in the same
//! sled batch as the rest of the write, so index and records change together.

use super::{Result, Store, StoreError};
use std::collections::BTreeMap;
use std::ops::Bound;

/// Most entries a chunk holds; a longer run is split into chunks of this many (the last takes
/// the rest), so appends in entry order fill chunks.
pub(super) const CHUNK_ENTRIES: usize = 128;

/// Index changes of one write: per term, each entry to be present (`true`) or absent. The last
/// operation on an entry wins, as for keys in a batch.
#[derive(Default, Debug)]
pub(super) struct PostingOps {
    terms: BTreeMap<Vec<u8>, BTreeMap<Vec<u8>, bool>>,
}

impl PostingOps {
    /// Make `entry` present under `term` (or absent, when `present` is false).
    pub fn set(&mut self, term: Vec<u8>, entry: Vec<u8>, present: bool) {
        self.terms.entry(term).or_default().insert(entry, present);
    }

    /// Add the operations of a later write (its operations win).
    pub fn merge(&mut self, later: PostingOps) {
        for (term, ops) in later.terms {
            self.terms.entry(term).or_default().extend(ops);
        }
    }

    /// Number of (term, entry) operations.
    pub fn len(&self) -> usize {
        self.terms.values().map(BTreeMap::len).sum()
    }
}

fn put_varint(out: &mut Vec<u8>, mut x: usize) {
    while x >= 0x80 {
        out.push((x as u8 & 0x7f) | 0x80);
        x >>= 7;
    }
    out.push(x as u8);
}

fn get_varint(v: &[u8], at: &mut usize) -> Option<usize> {
    let mut x = 0usize;
    for shift in (0..64).step_by(7) {
        let b = *v.get(*at)?;
        *at += 1;
        x |= ((b & 0x7f) as usize) << shift;
        if b & 0x80 == 0 {
            return Some(x);
        }
    }
    None
}

/// A chunk's value.
pub(super) fn encode_chunk(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + entries.iter().map(|e| e.len() / 2 + 2).sum::<usize>());
    put_varint(&mut out, entries.len());
    let mut prev: &[u8] = &[];
    for e in entries {
        let shared = prev.iter().zip(e.iter()).take_while(|(a, b)| a == b).count();
        put_varint(&mut out, shared);
        put_varint(&mut out, e.len() - shared);
        out.extend_from_slice(&e[shared..]);
        prev = e;
    }
    out
}

fn corrupt(key: &[u8]) -> StoreError {
    StoreError::Corrupt { key: super::codec::printable_key(key), msg: "malformed index chunk".into() }
}

/// Call `f` with each entry of a chunk, in order, until it returns false.
pub(super) fn for_each_entry(key: &[u8], v: &[u8], mut f: impl FnMut(&[u8]) -> bool) -> Result<()> {
    let mut at = 0;
    let n = get_varint(v, &mut at).ok_or_else(|| corrupt(key))?;
    let mut cur: Vec<u8> = Vec::new();
    for _ in 0..n {
        let shared = get_varint(v, &mut at).ok_or_else(|| corrupt(key))?;
        let rest = get_varint(v, &mut at).ok_or_else(|| corrupt(key))?;
        if shared > cur.len() || at + rest > v.len() {
            return Err(corrupt(key));
        }
        cur.truncate(shared);
        cur.extend_from_slice(&v[at..at + rest]);
        at += rest;
        if !f(&cur) {
            break;
        }
    }
    Ok(())
}

/// The entries of a chunk.
pub(super) fn decode_chunk(key: &[u8], v: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for_each_entry(key, v, |e| {
        out.push(e.to_vec());
        true
    })?;
    Ok(out)
}

/// The number of entries of a chunk (its header only).
pub(super) fn chunk_len(key: &[u8], v: &[u8]) -> Result<usize> {
    get_varint(v, &mut 0).ok_or_else(|| corrupt(key))
}

fn concat(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(a.len() + b.len());
    k.extend_from_slice(a);
    k.extend_from_slice(b);
    k
}

impl Store {
    /// Turn a write's index operations into chunk rewrites in its batch (reading the chunks
    /// they touch as the store holds them now): run just before the batch is applied, under
    /// the commit order (one writer at a time).
    pub(super) fn apply_postings(&self, batch: &mut sled::Batch, ops: PostingOps) -> Result<()> {
        for (term, ops) in ops.terms {
            let ops: Vec<(Vec<u8>, bool)> = ops.into_iter().collect();
            let mut i = 0;
            while i < ops.len() {
                // The chunk the entry belongs to: the last one starting at or before it, or
                // the term's first chunk when it sorts before all of them.
                let probe = concat(&term, &ops[i].0);
                let before = self.db.range(term.clone()..=probe).next_back().transpose().map_err(|e| self.sled_error(e))?;
                let chunk = match before {
                    Some(kv) => Some(kv),
                    None => self.db.scan_prefix(&term).next().transpose().map_err(|e| self.sled_error(e))?,
                };
                let (mut entries, boundary) = match &chunk {
                    Some((k, v)) => {
                        let next = self.db.range::<&[u8], _>((Bound::Excluded(k.as_ref()), Bound::Unbounded)).keys().next().transpose().map_err(|e| self.sled_error(e))?;
                        let boundary = next.filter(|n| n.starts_with(&term)).map(|n| n[term.len()..].to_vec());
                        batch.remove(k.clone());
                        (decode_chunk(k, v)?, boundary)
                    }
                    None => (Vec::new(), None),
                };
                while i < ops.len() && boundary.as_ref().is_none_or(|b| ops[i].0 < *b) {
                    let (e, present) = &ops[i];
                    match (entries.binary_search(e), present) {
                        (Err(at), true) => entries.insert(at, e.clone()),
                        (Ok(at), false) => {
                            entries.remove(at);
                        }
                        _ => {}
                    }
                    i += 1;
                }
                for run in entries.chunks(CHUNK_ENTRIES) {
                    batch.insert(concat(&term, &run[0]), encode_chunk(run));
                }
            }
        }
        Ok(())
    }

    /// Call `f` with the entries of `term` within the bounds, in order, until it returns false
    /// or `limit` entries were passed to it; the flag is false when the limit cut it short.
    pub(super) fn scan_postings(&self, term: &[u8], lo: Bound<&[u8]>, hi: Bound<&[u8]>, limit: usize, mut f: impl FnMut(&[u8])) -> Result<bool> {
        // Start at the chunk that holds the lower bound (the last chunk starting at or before it).
        let start = match lo {
            Bound::Included(e) | Bound::Excluded(e) => {
                let probe = concat(term, e);
                let before = self.db.range(term.to_vec()..=probe).next_back().transpose().map_err(|e| self.sled_error(e))?;
                before.map(|(k, _)| k.to_vec()).unwrap_or_else(|| term.to_vec())
            }
            Bound::Unbounded => term.to_vec(),
        };
        let mut n = 0usize;
        let mut complete = true;
        for kv in self.db.range(start..) {
            let (k, v) = kv.map_err(|e| self.sled_error(e))?;
            if !k.starts_with(term) {
                break;
            }
            let mut past_end = false;
            for_each_entry(&k, &v, |e| {
                let below = match lo {
                    Bound::Included(l) => e < l,
                    Bound::Excluded(l) => e <= l,
                    Bound::Unbounded => false,
                };
                if below {
                    return true;
                }
                past_end = match hi {
                    Bound::Included(h) => e > h,
                    Bound::Excluded(h) => e >= h,
                    Bound::Unbounded => false,
                };
                if past_end {
                    return false;
                }
                if n >= limit {
                    complete = false;
                    return false;
                }
                f(e);
                n += 1;
                true
            })?;
            if past_end || !complete {
                break;
            }
        }
        Ok(complete)
    }

    /// Number of entries under `term` (chunk headers only), counted up to at least `limit`.
    pub(super) fn count_postings(&self, term: &[u8], limit: usize) -> Result<usize> {
        let mut n = 0;
        for kv in self.db.scan_prefix(term) {
            if n >= limit {
                break;
            }
            let (k, v) = kv.map_err(|e| self.sled_error(e))?;
            n += chunk_len(&k, &v)?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::create(dir.path().join("db")).unwrap();
        (dir, s)
    }

    fn apply(s: &Store, ops: PostingOps) {
        let mut batch = sled::Batch::default();
        s.apply_postings(&mut batch, ops).unwrap();
        s.db.apply_batch(batch).unwrap();
    }

    fn all(s: &Store, term: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        assert!(s.scan_postings(term, Bound::Unbounded, Bound::Unbounded, usize::MAX, |e| out.push(e.to_vec())).unwrap());
        out
    }

    /// The invariant of the module doc, checked over every chunk of a term.
    fn check_chunks(s: &Store, term: &[u8]) -> usize {
        let mut prev: Option<Vec<u8>> = None;
        let mut chunks = 0;
        for kv in s.db.scan_prefix(term) {
            let (k, v) = kv.unwrap();
            let entries = decode_chunk(&k, &v).unwrap();
            assert!(!entries.is_empty() && entries.len() <= CHUNK_ENTRIES);
            assert_eq!(&k[term.len()..], &entries[0][..], "a chunk's key is its first entry");
            for e in &entries {
                assert!(prev.as_ref().is_none_or(|p| p < e), "entries increase across chunks");
                prev = Some(e.clone());
            }
            chunks += 1;
        }
        chunks
    }

    #[test]
    fn chunks_round_trip_front_coded() {
        let entries: Vec<Vec<u8>> = ["a", "ab", "abc", "b", "ba", ""].iter().map(|s| s.as_bytes().to_vec()).collect();
        let v = encode_chunk(&entries);
        assert_eq!(decode_chunk(b"k", &v).unwrap(), entries);
        assert_eq!(chunk_len(b"k", &v).unwrap(), 6);
        assert!(decode_chunk(b"x\0k", &v[..v.len() - 1]).unwrap_err().to_string().contains("x/k"));
        let long: Vec<Vec<u8>> = (0..300).map(|i| format!("id-{i:06}").into_bytes()).collect();
        let v = encode_chunk(&long);
        assert!(v.len() < 300 * 5, "shared prefixes are stored once: {} bytes", v.len());
        assert_eq!(decode_chunk(b"k", &v).unwrap(), long);
    }

    /// Random inserts and removals in several writes keep a term equal to a plain set, with
    /// the chunk invariant, and bounded scans equal the set's range.
    #[test]
    fn random_writes_match_a_set() {
        use rand::{Rng, SeedableRng};
        let (_d, s) = store();
        let term = b"X\0ion\0Li\0".to_vec();
        let other = b"X\0ion\0Na\0".to_vec();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut model = std::collections::BTreeSet::new();
        for round in 0..30 {
            let mut ops = PostingOps::default();
            for _ in 0..rng.gen_range(1..400) {
                let e = format!("id{:05}", rng.gen_range(0..3000)).into_bytes();
                let present = round < 10 || rng.gen_bool(0.6);
                ops.set(term.clone(), e.clone(), present);
                if present {
                    model.insert(e);
                } else {
                    model.remove(&e);
                }
            }
            ops.set(other.clone(), b"zzz".to_vec(), round % 2 == 1);
            apply(&s, ops);
            assert_eq!(all(&s, &term), model.iter().cloned().collect::<Vec<_>>(), "round {round}");
            check_chunks(&s, &term);
            assert_eq!(s.count_postings(&term, usize::MAX).unwrap(), model.len());
        }
        assert_eq!(all(&s, &other), vec![b"zzz".to_vec()], "the neighbouring term is untouched");
        for (lo, hi) in [("id00500", "id01000"), ("id0", "id1"), ("id02999", "id9"), ("a", "b")] {
            let mut got = Vec::new();
            s.scan_postings(&term, Bound::Included(lo.as_bytes()), Bound::Excluded(hi.as_bytes()), usize::MAX, |e| got.push(e.to_vec())).unwrap();
            let want: Vec<Vec<u8>> = model.range(lo.as_bytes().to_vec()..hi.as_bytes().to_vec()).cloned().collect();
            assert_eq!(got, want, "{lo}..{hi}");
        }
        // A limit cuts the scan short and says so.
        let mut got = 0;
        assert!(!s.scan_postings(&term, Bound::Unbounded, Bound::Unbounded, 10, |_| got += 1).unwrap());
        assert_eq!(got, 10);
        // Removing everything leaves no chunk.
        let mut ops = PostingOps::default();
        for e in &model {
            ops.set(term.clone(), e.clone(), false);
        }
        apply(&s, ops);
        assert_eq!(check_chunks(&s, &term), 0);
    }

    #[test]
    fn appends_fill_chunks() {
        let (_d, s) = store();
        let term = b"X\0source\0synthetic\0".to_vec();
        for w in 0..10 {
            let mut ops = PostingOps::default();
            for i in 0..100 {
                ops.set(term.clone(), format!("r{:06}", w * 100 + i).into_bytes(), true);
            }
            apply(&s, ops);
        }
        assert_eq!(check_chunks(&s, &term), 1000_usize.div_ceil(CHUNK_ENTRIES), "appended runs fill their chunks");
    }
}
