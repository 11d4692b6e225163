//! Staged writes: one logical write (a large import) applied in many bounded batches, and still
//! all-or-nothing.
//!
//! [`Store::begin_staged`] reserves the next data version `v` and writes the marker meta
//! `staging` (flushed) before anything else: `v`, an index-state byte and the structure pack's
//! length `L` at that moment. Each [`StagedWrite::apply`] is one sled batch of records and host
//! structures (their index entries are held and written in bulk, at the latest just before
//! publishing), with the history of the records it touches under version `v` (the first state
//! wins: the state before the whole staged write). The pack is append-only and no other write
//! runs meanwhile, so the host structures the staged write adds are exactly those whose pack
//! pointer lies at or past `L`. [`StagedWrite::publish`] writes the audit entry `v` in one batch:
//! that single write is the moment the staged write happens. The marker is removed after it.
//!
//! Invariant (crash safety): while the marker names `v`, either the audit entry `v` exists (the
//! write was published; only clean-up is left) or it does not, and then the history entries of
//! `v` and the pack length `L` describe everything the staged batches changed: [`recover`] (run
//! by [`Store::open`] under the store's lock, and by [`StagedWrite::abort`]) restores the index
//! (when the state byte says it was being written) and each record to its history state, then
//! removes the structure pointers at or past `L`, and removes the marker last. Each step is
//! idempotent and each recovery batch removes what it has undone, so a recovery that is itself
//! interrupted resumes where it stopped. Markers of an older hopdb (8 or 9 bytes, no `L`) name
//! the structures they added in staging entries (keyspace `t`: `v`, structure id), which the
//! recovery still reads. Only one process opens a store, so nothing of an unpublished write is
//! ever read by anyone but the writer.

use super::codec::{decode, encode};
use super::history::history_key;
use super::keyspace::{key, prefix, Keyspace};
use super::postings::{remove_spill_dir, PostingOps, PostingSpill};
use super::index::record_postings;
use super::{pack, AuditEntry, DataVersion, Result, Store, StoreError, WriteSet};
use crate::record::{now, HopRecord};

/// Meta name of the staging marker: the reserved data version (u64 BE), the index-state byte and
/// the structure pack's length when the write began (u64 BE).
pub(super) const STAGING_KEY: &str = "staging";

/// Entries undone per recovery batch.
const RECOVERY_BATCH: usize = 2_000;

/// A write applied in batches and published at once ([`Store::begin_staged`]). Dropped without
/// [`StagedWrite::publish`], it is rolled back (best effort; the next open finishes it).
pub struct StagedWrite<'s> {
    store: &'s Store,
    seq: u64,
    /// The pack's length when the write began: the structures it adds lie at or past it.
    pack_from: u64,
    op: String,
    summary: String,
    records: u64,
    finished: bool,
    /// Index operations of the batches applied so far, held out of sled (in memory, then in
    /// sorted runs on disk) and written all at once just before publishing: nothing reads an
    /// unpublished write's index, and each posting chunk is then rewritten about once
    /// ([`PostingSpill`]).
    postings: PostingSpill,
    /// Whether a batch applied so far held a record that existed before it (an update or a
    /// removal). Until one does, every record in the history is new to the write, so a new
    /// record's history entry (no prior state) can be written without looking for an earlier
    /// one: only a record removed earlier in the write could have a prior state to keep.
    saw_prior_state: bool,
}

/// Index operations held in memory (a staged write's, or a rollback's) before a sorted run is
/// spilled to disk, and per batch when they are written (about 100 bytes each in memory: some
/// 40 MB, covering some 20,000 records).
const STAGED_INDEX_OPS: usize = 400_000;

/// The store directory's scratch space for a staged write's index runs.
pub(super) const STAGED_INDEX_DIR: &str = "staging.index";

/// The store directory's scratch space for a rollback's index runs.
const ROLLBACK_INDEX_DIR: &str = "staging.rollback";

/// Staging-marker state byte: the staged write's index entries are all still held (none in
/// sled), so a rollback has no index entries to undo.
const INDEX_HELD: u8 = 0;

/// Staging-marker state byte: the index entries are being written (or a hopdb before the byte
/// existed wrote them batch by batch): a rollback must undo them.
const INDEX_WRITTEN: u8 = 1;

/// The staging marker's value.
#[derive(Debug, Clone, Copy, PartialEq)]
struct StagingMarker {
    /// The data version the staged write will have.
    seq: u64,
    /// [`INDEX_HELD`] or [`INDEX_WRITTEN`].
    index: u8,
    /// The structure pack's length when the write began; `None` in an older hopdb's marker,
    /// whose staging entries (keyspace `t`) name the structures it added instead.
    pack_from: Option<u64>,
}

impl StagingMarker {
    /// 17 bytes: version (u64 BE), index state, pack length (u64 BE); 9 bytes for an older
    /// hopdb's marker rewritten during its rollback (no length: it must never read as 0).
    fn encode(&self) -> Vec<u8> {
        let mut v = self.seq.to_be_bytes().to_vec();
        v.push(self.index);
        if let Some(from) = self.pack_from {
            v.extend_from_slice(&from.to_be_bytes());
        }
        v
    }

    /// Read a marker: 17 bytes, or an older hopdb's 9 (no pack length) or 8 (no state byte
    /// either: its index entries were written batch by batch, so they count as written).
    fn decode(v: &[u8]) -> Option<StagingMarker> {
        let seq = u64::from_be_bytes(v.get(..8)?.try_into().ok()?);
        match v.len() {
            8 => Some(StagingMarker { seq, index: INDEX_WRITTEN, pack_from: None }),
            9 | 17 if v[8] <= INDEX_WRITTEN => {
                let pack_from = if v.len() == 17 { Some(u64::from_be_bytes(v[9..17].try_into().ok()?)) } else { None };
                Some(StagingMarker { seq, index: v[8], pack_from })
            }
            _ => None,
        }
    }
}

impl Store {
    /// Begin a staged write for operation `op`: reserve the next data version and mark it as
    /// staging (flushed), so that a crash from here on is rolled back by the next open. Other
    /// writes ([`Store::commit`]) are refused until it is published or aborted.
    pub fn begin_staged(&self, op: &str, summary: impl Into<String>) -> Result<StagedWrite<'_>> {
        let mut active = self.staging.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = *active {
            return Err(StoreError::Invalid(format!("a staged write (data version {v}) is already in progress on this store")));
        }
        let seq = self.next_seq()?;
        remove_spill_dir(&self.path.join(STAGED_INDEX_DIR))?;
        let pack_from = self.pack.file_len();
        self.set_staging_marker(&StagingMarker { seq, index: INDEX_HELD, pack_from: Some(pack_from) })?;
        *active = Some(seq);
        let postings = PostingSpill::new(self.path.join(STAGED_INDEX_DIR), STAGED_INDEX_OPS);
        Ok(StagedWrite { store: self, seq, pack_from, op: op.to_string(), summary: summary.into(), records: 0, finished: false, postings, saw_prior_state: false })
    }

    /// The data version a write applied now would make: one more than the last audit entry's.
    pub(super) fn next_seq(&self) -> Result<u64> {
        let last = self.db.scan_prefix(key(Keyspace::Audit, &[])).keys().next_back().transpose().map_err(|e| self.sled_error(e))?;
        Ok(match last {
            Some(k) => u64::from_be_bytes(k[2..10].try_into().map_err(|_| StoreError::Corrupt { key: "a/...".into(), msg: "short audit key".into() })?) + 1,
            None => 0,
        })
    }

    /// Write (and flush) the staging marker.
    fn set_staging_marker(&self, m: &StagingMarker) -> Result<()> {
        self.db.insert(key(Keyspace::Meta, &[STAGING_KEY.as_bytes()]), m.encode()).map_err(|e| self.sled_error(e))?;
        self.db.flush().map_err(|e| self.sled_error(e))?;
        Ok(())
    }

    /// The data version of an unfinished staged write left in the store, if any.
    #[cfg(test)]
    pub(super) fn staging_marker(&self) -> Result<Option<u64>> {
        Ok(self.staging_state()?.map(|m| m.seq))
    }

    /// The staging marker left in the store, if any.
    fn staging_state(&self) -> Result<Option<StagingMarker>> {
        let k = key(Keyspace::Meta, &[STAGING_KEY.as_bytes()]);
        let Some(v) = self.db.get(&k).map_err(|e| self.sled_error(e))? else { return Ok(None) };
        StagingMarker::decode(&v).map(Some).ok_or_else(|| StoreError::Corrupt { key: "m/staging".into(), msg: format!("{} bytes", v.len()) })
    }

    /// Finish what an interrupted staged write left: clean up a published one, roll back an
    /// unpublished one (see the module doc). Returns the version found, with whether it had
    /// been published.
    pub(super) fn recover_staging(&self) -> Result<Option<(u64, bool)>> {
        // The index runs of a staged write that is no longer in progress are garbage.
        remove_spill_dir(&self.path.join(STAGED_INDEX_DIR))?;
        let Some(marker) = self.staging_state()? else { return Ok(None) };
        let seq = marker.seq;
        let published = self.db.contains_key(key(Keyspace::Audit, &[&seq.to_be_bytes()])).map_err(|e| self.sled_error(e))?;
        if !published {
            if marker.index == INDEX_WRITTEN {
                self.roll_back_index(seq)?;
                self.set_staging_marker(&StagingMarker { index: INDEX_HELD, ..marker })?;
            }
            self.roll_back_records(seq)?;
        }
        match marker.pack_from {
            Some(from) if !published => self.remove_structures_from(from)?,
            Some(_) => {}
            // An older hopdb's marker: its staging entries name the structures it added.
            None => self.clear_staging_entries(seq, !published)?,
        }
        self.db.remove(key(Keyspace::Meta, &[STAGING_KEY.as_bytes()])).map_err(|e| self.sled_error(e))?;
        self.db.flush().map_err(|e| self.sled_error(e))?;
        *self.count_hint.lock().unwrap_or_else(|e| e.into_inner()) = (0, false);
        Ok(Some((seq, published)))
    }

    /// Give the index entries of every record an unpublished staged write `seq` touched their
    /// state before the write (the current record's entries out, the history state's in), in
    /// entry order through a [`PostingSpill`]. Idempotent, so an interrupted rollback repeats
    /// it; the records themselves are restored after ([`Store::roll_back_records`]).
    fn roll_back_index(&self, seq: u64) -> Result<()> {
        let hp = prefix(Keyspace::History, &[&seq.to_be_bytes()]);
        let mut spill = PostingSpill::new(self.path.join(ROLLBACK_INDEX_DIR), STAGED_INDEX_OPS);
        for kv in self.db.scan_prefix(&hp) {
            let (k, v) = kv.map_err(|e| self.sled_error(e))?;
            let id = String::from_utf8_lossy(&k[hp.len()..]).into_owned();
            let before: Option<HopRecord> = decode(&k, &v)?;
            let mut ops = PostingOps::default();
            if let Some(cur) = self.get(&id)? {
                for (term, entry) in record_postings(&cur) {
                    ops.set(term, entry, false);
                }
            }
            for (term, entry) in before.iter().flat_map(record_postings) {
                ops.set(term, entry, true);
            }
            spill.add(ops)?;
        }
        spill.drain(self)
    }

    /// Restore every record an unpublished staged write `seq` touched to its history state,
    /// removing the history entries batch by batch with the records they restore. The index
    /// entries are already as before the write (never written, or [`Store::roll_back_index`]).
    fn roll_back_records(&self, seq: u64) -> Result<()> {
        let hp = prefix(Keyspace::History, &[&seq.to_be_bytes()]);
        loop {
            let mut ws = WriteSet::default();
            let mut n = 0;
            for kv in self.db.scan_prefix(&hp).take(RECOVERY_BATCH) {
                let (k, v) = kv.map_err(|e| self.sled_error(e))?;
                let id = String::from_utf8_lossy(&k[hp.len()..]).into_owned();
                let before: Option<HopRecord> = decode(&k, &v)?;
                let current = self.get(&id)?;
                match (current, before) {
                    (Some(cur), None) => {
                        let host = self.structure(&cur.host)?;
                        ws.remove_record(&cur, &host);
                    }
                    (Some(cur), Some(old)) => {
                        let host_cur = self.structure(&cur.host)?;
                        ws.remove_record(&cur, &host_cur);
                        let host_old = self.structure(&old.host)?;
                        ws.insert_record(&old, &host_old);
                    }
                    (None, Some(old)) => {
                        let host_old = self.structure(&old.host)?;
                        ws.insert_record(&old, &host_old);
                    }
                    (None, None) => {}
                }
                ws.batch.remove(k.to_vec());
                n += 1;
            }
            if n == 0 {
                return Ok(());
            }
            // Only the batch: a rollback keeps no history of its own, and its index operations
            // are done.
            let structures = std::mem::take(&mut ws.structures);
            self.pack_structures(&mut ws.batch, structures, false)?;
            self.db.apply_batch(ws.batch).map_err(|e| self.sled_error(e))?;
        }
    }

    /// Remove the pointers to host structures at or past pack offset `from` (a rollback: only the
    /// staged write that began at `from` had written them), batch by batch; idempotent. Their
    /// bytes stay in the pack, unnamed, until `hopdb compact`.
    fn remove_structures_from(&self, from: u64) -> Result<()> {
        let sp = prefix(Keyspace::Structure, &[]);
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for kv in self.db.scan_prefix(&sp) {
            let (k, v) = kv.map_err(|e| self.sled_error(e))?;
            if pack::PackPointer::decode(&v).is_some_and(|p| p.offset >= from) {
                batch.remove(k);
                n += 1;
                if n == RECOVERY_BATCH {
                    self.db.apply_batch(std::mem::take(&mut batch)).map_err(|e| self.sled_error(e))?;
                    n = 0;
                }
            }
        }
        if n > 0 {
            self.db.apply_batch(batch).map_err(|e| self.sled_error(e))?;
        }
        Ok(())
    }

    /// Remove the staging entries of `seq` (an older hopdb's staged write), and with them their
    /// structures when `drop_structures` (a rollback: only the staged write had written them).
    fn clear_staging_entries(&self, seq: u64, drop_structures: bool) -> Result<()> {
        let tp = prefix(Keyspace::Staging, &[&seq.to_be_bytes()]);
        loop {
            let mut batch = sled::Batch::default();
            let mut n = 0;
            for k in self.db.scan_prefix(&tp).keys().take(RECOVERY_BATCH) {
                let k = k.map_err(|e| self.sled_error(e))?;
                if drop_structures {
                    batch.remove(key(Keyspace::Structure, &[&k[tp.len()..]]));
                }
                batch.remove(k.to_vec());
                n += 1;
            }
            if n == 0 {
                return Ok(());
            }
            self.db.apply_batch(batch).map_err(|e| self.sled_error(e))?;
        }
    }
}

impl StagedWrite<'_> {
    /// The data version the write will have once published.
    pub fn version(&self) -> u64 {
        self.seq
    }

    /// Records written so far (for the audit count).
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Apply one batch of the staged write (not yet visible as a write: no audit entry). The
    /// write set's own op and summary are ignored; the staged write's are used at publish.
    pub fn apply(&mut self, ws: WriteSet) -> Result<()> {
        let store = self.store;
        let WriteSet { mut batch, records, history, structures, postings, .. } = ws;
        for (id, before) in &history {
            let hk = history_key(self.seq, id);
            // The first state wins: the state before the whole staged write. (A record with no
            // prior state, while no record of the write had one, has no earlier entry: see
            // `saw_prior_state`.)
            let may_have_entry = before.is_some() || self.saw_prior_state;
            if !may_have_entry || !store.db.contains_key(&hk).map_err(|e| store.sled_error(e))? {
                batch.insert(hk, encode(before));
            }
        }
        self.saw_prior_state |= history.iter().any(|(_, before)| before.is_some());
        // The structures it adds need no entry of their own: they lie past `pack_from`.
        store.pack_structures(&mut batch, structures, true)?;
        self.postings.add(postings)?;
        *store.count_hint.lock().unwrap_or_else(|e| e.into_inner()) = (0, false);
        store.db.apply_batch(batch).map_err(|e| store.sled_error(e))?;
        // Flushing each batch bounds what sled buffers in memory.
        store.db.flush().map_err(|e| store.sled_error(e))?;
        self.records += records;
        Ok(())
    }

    /// Write the index operations held (not yet published): the marker says so first, so that
    /// a rollback from here on undoes them.
    fn write_held_index(&mut self) -> Result<()> {
        self.store.set_staging_marker(&StagingMarker { seq: self.seq, index: INDEX_WRITTEN, pack_from: Some(self.pack_from) })?;
        let held = std::mem::replace(&mut self.postings, PostingSpill::new(self.store.path.join(STAGED_INDEX_DIR), STAGED_INDEX_OPS));
        held.drain(self.store)
    }

    /// Publish the staged write: its audit entry, in one atomic write, makes it the store's
    /// next data version; then the marker is removed.
    pub fn publish(mut self) -> Result<DataVersion> {
        let store = self.store;
        self.write_held_index()?;
        let entry = AuditEntry {
            seq: self.seq,
            at: now(),
            op: self.op.clone(),
            summary: self.summary.clone(),
            records: self.records,
            user: std::env::var("USER").ok(),
            hopdb_version: crate::HOPDB_VERSION.to_string(),
        };
        let _in_order = store.commit_lock.lock().unwrap_or_else(|e| e.into_inner());
        store.db.insert(key(Keyspace::Audit, &[&self.seq.to_be_bytes()]), encode(&entry)).map_err(|e| store.sled_error(e))?;
        store.db.flush().map_err(|e| store.sled_error(e))?;
        store.write_watermark(&entry);
        self.finished = true;
        *store.staging.lock().unwrap_or_else(|e| e.into_inner()) = None;
        store.recover_staging()?;
        Ok(DataVersion { seq: self.seq, at: entry.at })
    }

    /// Undo everything applied so far; the store is as it was before [`Store::begin_staged`].
    pub fn abort(mut self) -> Result<()> {
        self.finished = true;
        *self.store.staging.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.store.recover_staging().map(|_| ())
    }
}

impl Drop for StagedWrite<'_> {
    fn drop(&mut self) {
        if !self.finished {
            *self.store.staging.lock().unwrap_or_else(|e| e.into_inner()) = None;
            let _ = self.store.recover_staging();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::WriteSet;

    /// Every key and value of the store.
    fn snapshot(store: &Store) -> Vec<(Vec<u8>, Vec<u8>)> {
        store.db.iter().map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap()).collect()
    }

    /// A store with 20 synthetic records, and 90 more candidates for staged batches.
    fn setup() -> (tempfile::TempDir, std::path::PathBuf, Vec<crate::import::Candidate>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = Store::create(&path).unwrap();
        let mut all = crate::synthetic::bvse_like_corpus(110, 3);
        let rest = all.split_off(20);
        let mut ws = WriteSet::new("import", "first 20");
        for c in &all {
            ws.insert_record(&c.record, &c.host);
        }
        store.commit(ws).unwrap();
        (dir, path, rest)
    }

    /// Three batches of 30 new records, and an edit of stored record `r0` in the second batch.
    fn stage_batches(store: &Store, st: &mut StagedWrite<'_>, cands: &[crate::import::Candidate], r0: &str) {
        for (k, chunk) in cands.chunks(30).enumerate() {
            let mut ws = WriteSet::default();
            for c in chunk {
                ws.insert_record(&c.record, &c.host);
            }
            if k == 1 {
                let old = store.record(r0).unwrap();
                let mut new = old.clone();
                new.material.class_label = Some("STAGED".into());
                ws.update_record(&old, &new);
            }
            st.apply(ws).unwrap();
        }
    }

    #[test]
    fn an_unpublished_staged_write_is_rolled_back_by_the_next_open() {
        let (_dir, path, cands) = setup();
        let store = Store::open(&path).unwrap();
        let before = snapshot(&store);
        let r0 = store.records().next().unwrap().unwrap().id;
        let mut st = store.begin_staged("import", "staged").unwrap();
        stage_batches(&store, &mut st, &cands, &r0);
        assert_eq!(store.count(), 110, "the writer sees its own batches");
        assert!(store.commit(WriteSet::new("t", "x")).is_err(), "other writes wait for the staged write");
        // A crash: the staged write is neither published nor rolled back in this process.
        std::mem::forget(st);
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(snapshot(&store), before, "the store is exactly as before the staged write");
        assert_eq!(store.count(), 20);
        assert!(store.ids_where("class", "STAGED").unwrap().is_empty());
    }

    #[test]
    fn abort_and_drop_roll_back_in_process() {
        let (_dir, path, cands) = setup();
        let store = Store::open(&path).unwrap();
        let before = snapshot(&store);
        let r0 = store.records().next().unwrap().unwrap().id;
        let mut st = store.begin_staged("import", "staged").unwrap();
        stage_batches(&store, &mut st, &cands, &r0);
        st.abort().unwrap();
        assert_eq!(snapshot(&store), before);
        {
            let mut st = store.begin_staged("import", "dropped").unwrap();
            stage_batches(&store, &mut st, &cands, &r0);
        }
        assert_eq!(snapshot(&store), before, "a staged write dropped unpublished is undone");
        store.commit(WriteSet::new("t", "after")).unwrap();
    }

    #[test]
    fn a_record_removed_then_added_again_rolls_back_to_its_first_state() {
        let (_dir, path, cands) = setup();
        let store = Store::open(&path).unwrap();
        let before = snapshot(&store);
        let r0 = store.records().next().unwrap().unwrap();
        let host = store.structure(&r0.host).unwrap();
        for crash in [false, true] {
            let mut st = store
                .begin_staged("import", "remove, then add again")
                .unwrap();
            // Batch 1: new records only (no record of the write has a prior state yet).
            let mut ws = WriteSet::default();
            for c in &cands[..30] {
                ws.insert_record(&c.record, &c.host);
            }
            st.apply(ws).unwrap();
            // Batch 2: a stored record removed; batch 3: a record under its id added again.
            let mut ws = WriteSet::default();
            ws.remove_record(&r0, &host);
            st.apply(ws).unwrap();
            let mut again = r0.clone();
            again.em += 1.0;
            let mut ws = WriteSet::default();
            ws.insert_record(&again, &host);
            st.apply(ws).unwrap();
            assert_eq!(store.record(&r0.id).unwrap().em, r0.em + 1.0);
            if crash {
                std::mem::forget(st);
                drop(store);
                let store = Store::open(&path).unwrap();
                assert_eq!(
                    snapshot(&store),
                    before,
                    "the next open restores the record's first state"
                );
                return;
            }
            st.abort().unwrap();
            assert_eq!(
                snapshot(&store),
                before,
                "the rollback restores the record's first state"
            );
        }
    }

    #[test]
    fn publish_makes_one_version_with_history() {
        let (_dir, path, cands) = setup();
        let store = Store::open(&path).unwrap();
        let v0 = store.version().unwrap().seq;
        let r0 = store.records().next().unwrap().unwrap().id;
        let mut st = store.begin_staged("import", "staged").unwrap();
        assert_eq!(st.version(), v0 + 1);
        stage_batches(&store, &mut st, &cands, &r0);
        let v = st.publish().unwrap();
        assert_eq!(v.seq, v0 + 1);
        assert_eq!(store.count(), 110);
        assert_eq!(store.ids_where("class", "STAGED").unwrap(), vec![r0.clone()]);
        let log = store.audit_log().unwrap();
        assert_eq!(log.last().unwrap().records, 91, "90 inserts and one update in one audit entry");
        // The history holds the state before the whole write: the edited record as it was.
        let changes = store.changes_after(v0).unwrap();
        assert_eq!(changes.len(), 91);
        assert!(changes.get(&r0).unwrap().as_ref().is_some_and(|r| r.material.class_label.as_deref() != Some("STAGED")));
        assert_eq!(store.db.scan_prefix([Keyspace::Staging.byte()]).count(), 0, "no staging entries left");
        assert_eq!(store.staging_marker().unwrap(), None);
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.count(), 110, "a published write survives the next open");
        assert_eq!(store.commit(WriteSet::new("t", "next")).unwrap().seq, v0 + 2);
    }

    /// Every index entry (keyspace byte, term and entry): the index as a set, whatever its
    /// chunking.
    fn index_entries(store: &Store) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        for ks in [Keyspace::Index, Keyspace::RangeIndex, Keyspace::CompositeIndex] {
            for kv in store.db.scan_prefix([ks.byte()]) {
                let (k, v) = kv.unwrap();
                let entries = crate::store::postings::decode_chunk(&k, &v).unwrap();
                // The term: the chunk key without its first entry.
                let term = &k[..k.len() - entries[0].len()];
                out.extend(entries.iter().map(|e| (ks.byte(), [term, e.as_slice()].concat())));
            }
        }
        out.sort();
        out
    }

    /// A staged write whose index runs spill to disk (a tiny limit) publishes the same index
    /// as one write would, leaves no runs behind, and a crash while its index was being
    /// written rolls the index back too.
    #[test]
    fn spilled_index_runs_publish_the_same_index_and_roll_back() {
        let (_dir, path, cands) = setup();
        // The reference: the same 90 records and edit in one plain write.
        let reference = {
            let (_d2, p2, _) = setup();
            let store = Store::open(&p2).unwrap();
            let r0 = store.records().next().unwrap().unwrap().id;
            let mut ws = WriteSet::new("import", "one write");
            for c in &cands {
                ws.insert_record(&c.record, &c.host);
            }
            let old = store.record(&r0).unwrap();
            let mut new = old.clone();
            new.material.class_label = Some("STAGED".into());
            ws.update_record(&old, &new);
            store.commit(ws).unwrap();
            index_entries(&store)
        };
        let store = Store::open(&path).unwrap();
        let before = snapshot(&store);
        let r0 = store.records().next().unwrap().unwrap().id;
        let small = |store: &Store| PostingSpill::new(store.path.join(STAGED_INDEX_DIR), 97);
        let mut st = store.begin_staged("import", "staged").unwrap();
        st.postings = small(&store);
        stage_batches(&store, &mut st, &cands, &r0);
        assert_eq!(st.postings.runs(), 3, "one run per batch");
        assert!(path.join(STAGED_INDEX_DIR).is_dir());
        // A crash after half the index was written: the next open rolls everything back.
        let held = std::mem::replace(&mut st.postings, small(&store));
        store.set_staging_marker(&StagingMarker { seq: st.version(), index: INDEX_WRITTEN, pack_from: Some(st.pack_from) }).unwrap();
        let mut batch = sled::Batch::default();
        let mut half = PostingOps::default();
        for c in cands.iter().take(45) {
            for (t, e) in record_postings(&c.record) {
                half.set(t, e, true);
            }
        }
        store.apply_postings(&mut batch, half).unwrap();
        store.db.apply_batch(batch).unwrap();
        drop(held);
        std::mem::forget(st);
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(snapshot(&store), before, "index and records exactly as before");
        assert!(!path.join(STAGED_INDEX_DIR).exists() && !path.join(ROLLBACK_INDEX_DIR).exists());
        // Again, published.
        let mut st = store.begin_staged("import", "staged").unwrap();
        st.postings = small(&store);
        stage_batches(&store, &mut st, &cands, &r0);
        st.publish().unwrap();
        assert_eq!(index_entries(&store), reference, "the index equals one plain write's");
        assert!(!path.join(STAGED_INDEX_DIR).exists());
        assert_eq!(store.ids_where("class", "STAGED").unwrap(), vec![r0]);
    }

    /// A marker without the index-state byte (an older hopdb wrote the index batch by batch)
    /// is rolled back with its index entries.
    #[test]
    fn a_marker_from_an_older_hopdb_rolls_back_the_index_too() {
        let (_dir, path, cands) = setup();
        let store = Store::open(&path).unwrap();
        let before = snapshot(&store);
        let r0 = store.records().next().unwrap().unwrap().id;
        let mut st = store.begin_staged("import", "staged").unwrap();
        stage_batches(&store, &mut st, &cands, &r0);
        // What the older hopdb left: entries written, a staging entry per structure it added
        // (a version with no pack length in its marker), an 8-byte marker.
        let held = std::mem::replace(&mut st.postings, PostingSpill::new(store.path.join(STAGED_INDEX_DIR), 10));
        held.drain(&store).unwrap();
        add_staging_entries(&store, &st);
        store.db.insert(key(Keyspace::Meta, &[STAGING_KEY.as_bytes()]), &st.version().to_be_bytes()).unwrap();
        std::mem::forget(st);
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(snapshot(&store), before);
    }

    /// The `t` entries an older hopdb wrote for the structures a staged write added (those
    /// past its pack length).
    fn add_staging_entries(store: &Store, st: &StagedWrite<'_>) {
        for sid in structures_from(store, st.pack_from) {
            store.db.insert(key(Keyspace::Staging, &[&st.version().to_be_bytes(), sid.as_bytes()]), &[] as &[u8]).unwrap();
        }
    }

    /// Ids of the structures whose pack pointer lies at or past `from`.
    fn structures_from(store: &Store, from: u64) -> std::collections::BTreeSet<String> {
        let sp = prefix(Keyspace::Structure, &[]);
        store
            .db
            .scan_prefix(&sp)
            .map(|kv| kv.unwrap())
            .filter(|(_, v)| pack::PackPointer::decode(v).unwrap().offset >= from)
            .map(|(k, _)| String::from_utf8(k[sp.len()..].to_vec()).unwrap())
            .collect()
    }

    /// The structures a staged write adds are exactly those past the pack length in its marker,
    /// it writes no staging entries, and a 9-byte marker (an older hopdb: index state, no pack
    /// length) is rolled back through its staging entries.
    #[test]
    fn new_structures_are_found_by_the_pack_length() {
        let (_dir, path, cands) = setup();
        let store = Store::open(&path).unwrap();
        let before = snapshot(&store);
        let held: std::collections::BTreeSet<String> = store.structure_ids().unwrap().into_iter().map(|s| s.0).collect();
        let r0 = store.records().next().unwrap().unwrap().id;
        let mut st = store.begin_staged("import", "staged").unwrap();
        assert_eq!(st.pack_from, store.pack.file_len());
        let marker = store.staging_state().unwrap().unwrap();
        assert_eq!(marker, StagingMarker { seq: st.version(), index: INDEX_HELD, pack_from: Some(st.pack_from) });
        assert_eq!(StagingMarker::decode(&marker.encode()), Some(marker));
        stage_batches(&store, &mut st, &cands, &r0);
        let added: std::collections::BTreeSet<String> = cands.iter().map(|c| c.record.host.0.clone()).filter(|h| !held.contains(h)).collect();
        assert!(!added.is_empty());
        assert_eq!(structures_from(&store, st.pack_from), added);
        assert_eq!(store.db.scan_prefix([Keyspace::Staging.byte()]).count(), 0, "no staging entries");
        // A rollback interrupted after the records were restored, before the structures went:
        // the next open finishes it.
        std::mem::forget(st);
        store.roll_back_records(marker.seq).unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(snapshot(&store), before);
        // A 9-byte marker: the staging entries name the structures to drop.
        let mut st = store.begin_staged("import", "staged").unwrap();
        stage_batches(&store, &mut st, &cands, &r0);
        add_staging_entries(&store, &st);
        store.db.insert(key(Keyspace::Meta, &[STAGING_KEY.as_bytes()]), &marker.encode()[..9]).unwrap();
        std::mem::forget(st);
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(snapshot(&store), before);
        let old = StagingMarker { seq: 3, index: INDEX_HELD, pack_from: None };
        assert_eq!(StagingMarker::decode(&old.encode()), Some(old), "an older marker keeps having no pack length");
        assert!(StagingMarker::decode(&[0; 10]).is_none() && StagingMarker::decode(&[0, 0, 0, 0, 0, 0, 0, 0, 2]).is_none());
    }

    #[test]
    fn a_crash_after_the_audit_entry_keeps_the_write() {
        let (_dir, path, cands) = setup();
        let store = Store::open(&path).unwrap();
        let r0 = store.records().next().unwrap().unwrap().id;
        let mut st = store.begin_staged("import", "staged").unwrap();
        stage_batches(&store, &mut st, &cands, &r0);
        // The publishing writes land (the held index entries, the audit entry), then the
        // process dies before the clean-up.
        st.write_held_index().unwrap();
        let entry = AuditEntry { seq: st.version(), at: now(), op: "import".into(), summary: "s".into(), records: 91, user: None, hopdb_version: "t".into() };
        store.db.insert(key(Keyspace::Audit, &[&st.version().to_be_bytes()]), encode(&entry)).unwrap();
        std::mem::forget(st);
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.count(), 110);
        assert_eq!(store.ids_where("class", "STAGED").unwrap(), vec![r0]);
        assert_eq!(store.db.scan_prefix([Keyspace::Staging.byte()]).count(), 0);
        assert_eq!(store.staging_marker().unwrap(), None);
    }
}
