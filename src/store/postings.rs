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

/// Chunk rewrites per sled batch when a [`PostingSpill`] writes its operations.
const SPILL_BATCH_CHUNKS: usize = 64;

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

impl PostingOps {
    /// Whether there are no operations.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
}

/// The index operations of a large write (a staged import, or the rollback of one), held out
/// of sled until they are written all at once: in memory up to `limit` operations, then as
/// sorted run files in `dir`. [`PostingSpill::drain`] merges the runs (a later operation on an
/// entry wins) and writes them in entry order, `limit` operations per sled batch, so each
/// posting chunk is rewritten about once however large the write. Written piecemeal instead,
/// every flush of a write whose entries land all over a term (the `em` range index, any term
/// of records with random ids) would rewrite all of the term's chunks: quadratic in the
/// write's size (measured: a 1.2M-frame import wrote some 20 MB of sled log a second, ten
/// times its records' bytes).
///
/// Run file: entries of `term_len, term, entry_len, entry, present` (varint lengths, one byte
/// for present), sorted by (term, entry). The directory is the writer's own scratch space:
/// removed when the write finishes, and by the next open after a crash.
pub(super) struct PostingSpill {
    dir: std::path::PathBuf,
    held: PostingOps,
    runs: Vec<std::path::PathBuf>,
    limit: usize,
}

/// One operation read from a run: (term, entry, present).
type SpilledOp = (Vec<u8>, Vec<u8>, bool);

/// A run file being read back.
struct RunReader {
    input: std::io::BufReader<std::fs::File>,
    path: std::path::PathBuf,
}

impl RunReader {
    fn read_varint(&mut self) -> std::io::Result<Option<usize>> {
        use std::io::Read;
        let mut x = 0usize;
        for shift in (0..64).step_by(7) {
            let mut b = [0u8];
            if self.input.read(&mut b)? == 0 {
                return if shift == 0 { Ok(None) } else { Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "truncated run")) };
            }
            x |= ((b[0] & 0x7f) as usize) << shift;
            if b[0] & 0x80 == 0 {
                return Ok(Some(x));
            }
        }
        Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed run"))
    }

    fn read_op(&mut self) -> std::io::Result<Option<SpilledOp>> {
        use std::io::Read;
        let Some(tl) = self.read_varint()? else { return Ok(None) };
        let mut term = vec![0; tl];
        self.input.read_exact(&mut term)?;
        let el = self.read_varint()?.ok_or(std::io::ErrorKind::UnexpectedEof)?;
        let mut entry = vec![0; el + 1];
        self.input.read_exact(&mut entry)?;
        let present = entry.pop() == Some(1);
        Ok(Some((term, entry, present)))
    }

    fn next_op(&mut self) -> Result<Option<SpilledOp>> {
        self.read_op().map_err(|e| StoreError::Io { path: self.path.clone(), source: e })
    }
}

impl PostingSpill {
    /// An empty spill writing its runs in `dir` (created when the first run is written).
    pub fn new(dir: std::path::PathBuf, limit: usize) -> PostingSpill {
        PostingSpill { dir, held: PostingOps::default(), runs: Vec::new(), limit: limit.max(1) }
    }

    /// Add the operations of a later write (its operations win); spills a run when `limit`
    /// operations are held.
    pub fn add(&mut self, ops: PostingOps) -> Result<()> {
        self.held.merge(ops);
        if self.held.len() >= self.limit {
            self.spill()?;
        }
        Ok(())
    }

    /// Runs written so far.
    #[cfg(test)]
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    fn spill(&mut self) -> Result<()> {
        use std::io::Write;
        if self.held.is_empty() {
            return Ok(());
        }
        let io = |p: &std::path::Path| {
            let p = p.to_path_buf();
            move |e: std::io::Error| StoreError::Io { path: p, source: e }
        };
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let path = self.dir.join(format!("run-{:05}", self.runs.len()));
        let file = std::fs::File::create(&path).map_err(io(&path))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let mut buf = Vec::new();
        for (term, ops) in std::mem::take(&mut self.held).terms {
            for (entry, present) in ops {
                buf.clear();
                put_varint(&mut buf, term.len());
                buf.extend_from_slice(&term);
                put_varint(&mut buf, entry.len());
                buf.extend_from_slice(&entry);
                buf.push(present as u8);
                out.write_all(&buf).map_err(io(&path))?;
            }
        }
        out.flush().map_err(io(&path))?;
        self.runs.push(path);
        Ok(())
    }

    /// Write every operation into the store: the held ones alone in one batch when nothing was
    /// spilled; otherwise all runs merged, `limit` operations per batch, in entry order. Each
    /// batch is applied before the next is computed. The run directory is removed after.
    pub fn drain(mut self, store: &Store) -> Result<()> {
        if self.runs.is_empty() {
            return store.write_postings_batch(std::mem::take(&mut self.held));
        }
        self.spill()?;
        let mut readers = Vec::with_capacity(self.runs.len());
        for path in &self.runs {
            let file = std::fs::File::open(path).map_err(|e| StoreError::Io { path: path.clone(), source: e })?;
            readers.push(RunReader { input: std::io::BufReader::with_capacity(64 << 10, file), path: path.clone() });
        }
        // A min-heap of each run's next operation; among equal (term, entry) the later run
        // (higher index) pops last and wins.
        let mut heap = std::collections::BinaryHeap::new();
        for (k, r) in readers.iter_mut().enumerate() {
            if let Some((t, e, p)) = r.next_op()? {
                heap.push(std::cmp::Reverse((t, e, k, p)));
            }
        }
        let mut window = PostingOps::default();
        let mut held = 0usize;
        while let Some(std::cmp::Reverse((term, entry, k, present))) = heap.pop() {
            if let Some((t, e, p)) = readers[k].next_op()? {
                heap.push(std::cmp::Reverse((t, e, k, p)));
            }
            window.set(term, entry, present);
            held += 1;
            if held >= self.limit {
                store.write_postings_batch(std::mem::take(&mut window))?;
                held = 0;
            }
        }
        store.write_postings_batch(window)?;
        drop(readers);
        remove_spill_dir(&self.dir)
    }
}

/// Remove a spill directory (and its runs) if present.
pub(super) fn remove_spill_dir(dir: &std::path::Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::Io { path: dir.to_path_buf(), source: e }),
        _ => Ok(()),
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

/// The sorted entries `entries` after the sorted operations `ops` (present: in, absent: out),
/// in one pass.
fn merge_sorted(entries: Vec<Vec<u8>>, ops: &[(Vec<u8>, bool)]) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(entries.len() + ops.len());
    let mut it = entries.into_iter().peekable();
    for (e, present) in ops {
        while let Some(x) = it.next_if(|x| x < e) {
            out.push(x);
        }
        // A stored entry equal to `e` is replaced by the operation's verdict.
        let _stored = it.next_if(|x| x == e);
        if *present {
            out.push(e.clone());
        }
    }
    out.extend(it);
    out
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
        self.apply_postings_with(batch, ops, &mut |_| Ok(()))
    }

    /// [`Store::apply_postings`], calling `after_chunk` with the batch after each chunk's
    /// rewrite: it may apply the batch and start a new one (the chunks still to rewrite are
    /// found from the store as it is then, which is consistent, since a rewrite only changes
    /// keys below the next chunk's).
    fn apply_postings_with(&self, batch: &mut sled::Batch, ops: PostingOps, after_chunk: &mut dyn FnMut(&mut sled::Batch) -> Result<()>) -> Result<()> {
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
                let (entries, boundary) = match &chunk {
                    Some((k, v)) => {
                        let next = self.db.range::<&[u8], _>((Bound::Excluded(k.as_ref()), Bound::Unbounded)).keys().next().transpose().map_err(|e| self.sled_error(e))?;
                        let boundary = next.filter(|n| n.starts_with(&term)).map(|n| n[term.len()..].to_vec());
                        batch.remove(k.clone());
                        (decode_chunk(k, v)?, boundary)
                    }
                    None => (Vec::new(), None),
                };
                // The operations that fall in this chunk, merged with its entries (both sorted).
                let start = i;
                while i < ops.len() && boundary.as_ref().is_none_or(|b| ops[i].0 < *b) {
                    i += 1;
                }
                let entries = merge_sorted(entries, &ops[start..i]);
                for run in entries.chunks(CHUNK_ENTRIES) {
                    batch.insert(concat(&term, &run[0]), encode_chunk(run));
                }
                after_chunk(batch)?;
            }
        }
        Ok(())
    }

    /// Write index operations outside any write's batch (a staged write's held entries), in
    /// sled batches of [`SPILL_BATCH_CHUNKS`] chunk rewrites, then flush. Small batches bound
    /// sled's memory: it keeps every node version a batch makes until the batch is applied
    /// (measured: 491 MB of node copies for one 400k-operation batch).
    fn write_postings_batch(&self, ops: PostingOps) -> Result<()> {
        let mut batch = sled::Batch::default();
        let mut chunks = 0usize;
        self.apply_postings_with(&mut batch, ops, &mut |b| {
            chunks += 1;
            if chunks >= SPILL_BATCH_CHUNKS {
                self.db.apply_batch(std::mem::take(b)).map_err(|e| self.sled_error(e))?;
                chunks = 0;
            }
            Ok(())
        })?;
        self.db.apply_batch(batch).map_err(|e| self.sled_error(e))?;
        self.db.flush().map_err(|e| self.sled_error(e))?;
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

    /// Operations spilled in many runs, with later runs overriding earlier ones, drain to the
    /// same terms as a plain set, merged into entries already stored; the runs are removed.
    #[test]
    fn spilled_runs_merge_to_the_same_index() {
        use rand::{Rng, SeedableRng};
        let (d, s) = store();
        let terms: Vec<Vec<u8>> = (0..4).map(|t| format!("N\0f{t}\0").into_bytes()).collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let mut model: Vec<std::collections::BTreeSet<Vec<u8>>> = vec![Default::default(); terms.len()];
        // Some entries stored before.
        let mut ops = PostingOps::default();
        for _ in 0..500 {
            let (t, e) = (rng.gen_range(0..terms.len()), format!("e{:05}", rng.gen_range(0..5000)).into_bytes());
            ops.set(terms[t].clone(), e.clone(), true);
            model[t].insert(e);
        }
        apply(&s, ops);
        let dir = d.path().join("spill");
        let mut spill = PostingSpill::new(dir.clone(), 211);
        for _ in 0..40 {
            let mut ops = PostingOps::default();
            for _ in 0..rng.gen_range(1..120) {
                let (t, e) = (rng.gen_range(0..terms.len()), format!("e{:05}", rng.gen_range(0..5000)).into_bytes());
                let present = rng.gen_bool(0.7);
                ops.set(terms[t].clone(), e.clone(), present);
                if present {
                    model[t].insert(e);
                } else {
                    model[t].remove(&e);
                }
            }
            spill.add(ops).unwrap();
        }
        assert!(spill.runs() >= 5, "runs: {}", spill.runs());
        assert!(dir.is_dir());
        spill.drain(&s).unwrap();
        for (t, term) in terms.iter().enumerate() {
            assert_eq!(all(&s, term), model[t].iter().cloned().collect::<Vec<_>>(), "term {t}");
            check_chunks(&s, term);
        }
        assert!(!dir.exists(), "the runs are removed once written");
    }

    #[test]
    fn merge_sorted_applies_operations_in_one_pass() {
        let v = |xs: &[&str]| xs.iter().map(|x| x.as_bytes().to_vec()).collect::<Vec<_>>();
        let ops: Vec<(Vec<u8>, bool)> = vec![(b"a".to_vec(), true), (b"c".to_vec(), false), (b"d".to_vec(), true), (b"z".to_vec(), false)];
        assert_eq!(merge_sorted(v(&["b", "c", "d", "e"]), &ops), v(&["a", "b", "d", "e"]));
        assert_eq!(merge_sorted(Vec::new(), &ops), v(&["a", "d"]));
        assert_eq!(merge_sorted(v(&["c"]), &[]), v(&["c"]));
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
