//! Compaction: rewrite a store into fresh sled files and a fresh structure pack, keeping every
//! key and value.
//!
//! sled appends page versions to its log and reclaims the space of dead ones slowly, so a
//! store that took large import batches occupies several times its keys and values on disk
//! (`hopdb stats --storage` shows both). [`Store::compact`] copies every key and value, in key
//! order, into new files beside the old ones (`PATH/data.compact`), then swaps them in. Host
//! structures are copied into the new directory's pack, only those a key points at (bytes an
//! interrupted write left behind are dropped), and structures that older stores kept inline in
//! sled move into the pack.
//!
//! Invariant (crash safety): the old files are untouched until the copy is complete and
//! flushed and the marker `PATH/compact.ready` is written; from then on the swap is finished by
//! whoever opens the store next ([`recover`], run by [`Store::open`] under the store's lock).
//! So a crash leaves either the old store (copy unfinished: the copy is removed) or the new one
//! (marker written: the swap is completed), never a mixture.

use super::codec;
use super::keyspace::Keyspace;
use super::pack::{Pack, PackPointer};
use super::{sled_config_at, Result, Store, StoreError, WriteSet};
use std::path::Path;
use std::time::Instant;

/// Directory of the copy being written.
pub(super) const COMPACT_DIR: &str = "data.compact";
/// Directory of the old files during the swap.
pub(super) const OLD_DIR: &str = "data.old";
/// Marker: the copy is complete and flushed; the swap may proceed.
pub(super) const READY_MARKER: &str = "compact.ready";

/// Bytes of keys and values per batch while copying; each batch is flushed before the next,
/// so that sled's buffers of unwritten pages stay bounded.
const COPY_BATCH_BYTES: usize = 2 << 20;

/// sled's page cache for the copy (it is only written).
const COPY_CACHE_BYTES: u64 = 64 << 20;

/// What [`Store::compact`] did.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CompactReport {
    /// Keys copied.
    pub keys: u64,
    /// Bytes of keys and values copied.
    pub bytes: u64,
    /// Size of the store's files before.
    pub bytes_on_disk_before: u64,
    /// Size of the store's files after.
    pub bytes_on_disk_after: u64,
    /// Wall time (s).
    pub seconds: f64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

fn remove_dir_if_present(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(dir)(e)),
    }
}

/// Make the directory entries of `dir` durable (renames, new files).
fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir).and_then(|f| f.sync_all()).map_err(io(dir))
}

/// Finish or undo a compaction that a crash interrupted (see the module doc). Runs under the
/// store's lock, before sled opens the files.
pub(super) fn recover(dir: &Path) -> Result<()> {
    let marker = dir.join(READY_MARKER);
    let (data, copy, old) = (dir.join("data"), dir.join(COMPACT_DIR), dir.join(OLD_DIR));
    if marker.exists() {
        if copy.is_dir() {
            if data.is_dir() {
                std::fs::rename(&data, &old).map_err(io(&data))?;
            }
            std::fs::rename(&copy, &data).map_err(io(&copy))?;
            sync_dir(dir)?;
        }
        std::fs::remove_file(&marker).map_err(io(&marker))?;
        sync_dir(dir)?;
    }
    remove_dir_if_present(&copy)?;
    remove_dir_if_present(&old)
}

/// True when `dir` holds a store, or a compaction that [`recover`] completes into one.
pub(super) fn holds_store(dir: &Path) -> bool {
    dir.join("data").is_dir() || (dir.join(READY_MARKER).exists() && dir.join(COMPACT_DIR).is_dir())
}

impl Store {
    /// Rewrite the store into fresh files (every key and value, in key order), reclaiming the
    /// space sled's log keeps, and reopen it; an audit entry `compact` records the sizes.
    /// Crash-safe (see the module doc). Returns the reopened store and what was done.
    pub fn compact(self) -> Result<(Store, CompactReport)> {
        let t0 = Instant::now();
        let before = self.size_on_disk()?;
        let dir = self.path.clone();
        let copy_dir = dir.join(COMPACT_DIR);
        remove_dir_if_present(&copy_dir)?;
        let (mut keys, mut bytes) = (0u64, 0u64);
        {
            let copy = super::open_sled(&sled_config_at(&copy_dir).cache_capacity(COPY_CACHE_BYTES)).map_err(|e| StoreError::from(e).at(&dir))?;
            let copy_pack = Pack::open(&copy_dir).map_err(|e| e.at(&dir))?;
            // A dictionary for the records, trained on a sample of them.
            let dict = self.train_records_dictionary()?;
            let dict_id = dict.as_deref().and_then(codec::register_dictionary);
            let mut batch = sled::Batch::default();
            // Host structures of the batch: (key, body), appended to the copy's pack when the
            // batch is applied.
            let mut bodies: Vec<(sled::IVec, Vec<u8>)> = Vec::new();
            let mut pending = 0usize;
            for kv in self.db.iter() {
                let (k, v) = kv.map_err(|e| self.sled_error(e))?;
                keys += 1;
                if k.first() == Some(&Keyspace::Structure.byte()) {
                    let body = match PackPointer::decode(&v) {
                        Some(p) => self.pack.read(p, &super::codec::printable_key(&k)).map_err(|e| e.at(&dir))?,
                        None => v.to_vec(),
                    };
                    pending += k.len() + body.len();
                    bytes += (k.len() + body.len()) as u64;
                    bodies.push((k, body));
                } else if let Some(id) = dict_id.filter(|_| k.first() == Some(&Keyspace::Record.byte())) {
                    let v = codec::encode_bincode_with(&codec::raw_bincode(&k, &v)?, id);
                    pending += k.len() + v.len();
                    bytes += (k.len() + v.len()) as u64;
                    batch.insert(k, v);
                } else {
                    pending += k.len() + v.len();
                    bytes += (k.len() + v.len()) as u64;
                    batch.insert(k, v);
                }
                if pending >= COPY_BATCH_BYTES {
                    apply_copy_batch(&copy, &copy_pack, std::mem::take(&mut batch), std::mem::take(&mut bodies)).map_err(|e| e.at(&dir))?;
                    pending = 0;
                }
            }
            if let (Some(d), Some(_)) = (&dict, dict_id) {
                batch.insert(super::keyspace::key(Keyspace::Meta, &[super::RECORDS_DICT_KEY.as_bytes()]), d.as_slice());
            }
            apply_copy_batch(&copy, &copy_pack, batch, bodies).map_err(|e| e.at(&dir))?;
            // The pack before the marker: the copy is complete only with its structures.
            copy_pack.sync().map_err(|e| e.at(&dir))?;
        }
        let marker = dir.join(READY_MARKER);
        std::fs::File::create(&marker).and_then(|f| f.sync_all()).map_err(io(&marker))?;
        sync_dir(&dir)?;
        // Close the old files (the lock stays held), swap, reopen.
        let Store { path, db, _lock, .. } = self;
        drop(db);
        recover(&path)?;
        let db = super::open_sled(&sled_config_at(&path.join("data"))).map_err(|e| StoreError::from(e).at(&path))?;
        let store = Store::from_parts(path, db, _lock)?;
        let after = store.size_on_disk()?;
        let report = CompactReport { keys, bytes, bytes_on_disk_before: before, bytes_on_disk_after: after, seconds: t0.elapsed().as_secs_f64() };
        let mib = |b: u64| b as f64 / 1048576.0;
        store.commit(WriteSet::new(
            "compact",
            format!("rewrote {keys} keys ({:.1} MiB): files {:.1} MiB -> {:.1} MiB", mib(bytes), mib(before), mib(after)),
        ))?;
        Ok((store, report))
    }
}

/// Records sampled to train the records' dictionary.
const DICTIONARY_SAMPLES: usize = 4_000;

impl Store {
    /// A zstd dictionary trained on up to [`DICTIONARY_SAMPLES`] records spread over the store
    /// (their bincode); `None` for a store too small to learn from.
    fn train_records_dictionary(&self) -> Result<Option<Vec<u8>>> {
        let n = self.record_count_up_to(usize::MAX)?;
        if n < 1_000 {
            return Ok(None);
        }
        let step = (n / DICTIONARY_SAMPLES).max(1);
        let mut samples = Vec::with_capacity(DICTIONARY_SAMPLES + 1);
        for (i, kv) in self.db.scan_prefix([Keyspace::Record.byte()]).enumerate() {
            if i % step == 0 {
                let (k, v) = kv.map_err(|e| self.sled_error(e))?;
                samples.push(codec::raw_bincode(&k, &v)?);
            }
        }
        Ok(codec::train_dictionary(&samples))
    }
}

/// Apply one batch of a compaction's copy: the structures' bodies into the copy's pack (synced
/// once at the end of the copy), their pointers and the other keys into its sled files.
fn apply_copy_batch(copy: &sled::Db, pack: &Pack, mut batch: sled::Batch, bodies: Vec<(sled::IVec, Vec<u8>)>) -> Result<()> {
    let refs: Vec<&[u8]> = bodies.iter().map(|(_, b)| b.as_slice()).collect();
    for ((k, _), p) in bodies.iter().zip(pack.append_unsynced(&refs)?) {
        batch.insert(k.clone(), &p.encode()[..]);
    }
    copy.apply_batch(batch)?;
    copy.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key and value but the audit log's, host structures as their bodies (wherever
    /// they are kept).
    fn all_pairs(s: &Store) -> Vec<(Vec<u8>, Vec<u8>)> {
        s.db.iter()
            .map(|kv| kv.unwrap())
            .filter(|(k, _)| k[0] != b'a')
            .map(|(k, v)| {
                let v = match PackPointer::decode(&v) {
                    Some(p) if k[0] == Keyspace::Structure.byte() => s.pack.read(p, "s").unwrap(),
                    _ => v.to_vec(),
                };
                (k.to_vec(), v)
            })
            .collect()
    }

    /// A store of enough records gets a dictionary: its records are re-encoded with it (tag 3),
    /// decode to the same values, and take less room; a store reopened reads them.
    #[test]
    fn compaction_trains_a_dictionary_for_the_records() {
        let (dir, store) = store_with(1_200);
        let before: Vec<_> = store.records().map(|r| r.unwrap()).collect();
        let bytes = |s: &Store| s.db.scan_prefix([Keyspace::Record.byte()]).values().map(|v| v.unwrap().len()).sum::<usize>();
        let plain = bytes(&store);
        let (store, _) = store.compact().unwrap();
        let dict = store.db.get(super::super::keyspace::key(Keyspace::Meta, &[b"records_dict"])).unwrap().expect("a dictionary");
        assert!(dict.len() > 1_000);
        let tags: std::collections::BTreeSet<u8> = store.db.scan_prefix([Keyspace::Record.byte()]).values().map(|v| v.unwrap()[0]).collect();
        assert_eq!(tags, [3].into(), "every record compressed with the dictionary");
        let with_dict = bytes(&store);
        assert!(with_dict * 2 < plain, "{with_dict} bytes with the dictionary, {plain} without");
        assert_eq!(store.records().map(|r| r.unwrap()).collect::<Vec<_>>(), before);
        // Compacting again trains another dictionary and still reads every record.
        let (store, _) = store.compact().unwrap();
        assert_eq!(store.records().map(|r| r.unwrap()).collect::<Vec<_>>(), before);
        drop(store);
        let store = Store::open(dir.path().join("db")).unwrap();
        assert_eq!(store.records().map(|r| r.unwrap()).collect::<Vec<_>>(), before);
    }

    /// Bytes an interrupted write appended to the pack (no key points at them) are not copied.
    #[test]
    fn compaction_drops_pack_bytes_no_key_points_at() {
        let (_dir, store) = store_with(40);
        let len = store.pack.file_len();
        store.pack.append(&[&vec![7u8; 50_000]]).unwrap();
        assert_eq!(store.pack.file_len(), len + 50_008);
        let before = all_pairs(&store);
        let (store, _) = store.compact().unwrap();
        assert_eq!(all_pairs(&store), before);
        assert!(store.pack.file_len() <= len, "{} > {len}", store.pack.file_len());
    }

    fn store_with(n: usize) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(dir.path().join("db")).unwrap();
        for chunk in crate::synthetic::bvse_like_corpus(n, 7).chunks(50) {
            let mut ws = WriteSet::new("import", "synthetic");
            for c in chunk {
                ws.insert_record(&c.record, &c.host);
            }
            store.commit(ws).unwrap();
        }
        (dir, store)
    }

    #[test]
    fn compaction_keeps_every_key_and_value() {
        let (dir, store) = store_with(400);
        let before = all_pairs(&store);
        let v = store.version().unwrap().seq;
        let (store, rep) = store.compact().unwrap();
        assert_eq!(all_pairs(&store), before);
        assert_eq!(rep.keys as usize, before.len() + v as usize + 1, "every key, the audit log included");
        assert!(rep.bytes > 0 && rep.bytes_on_disk_after > 0, "{rep:?}");
        assert_eq!(store.version().unwrap().seq, v + 1);
        assert_eq!(store.audit_log().unwrap().last().unwrap().op, "compact");
        for leftover in [COMPACT_DIR, OLD_DIR, READY_MARKER] {
            assert!(!dir.path().join("db").join(leftover).exists(), "{leftover} left behind");
        }
        // The store reopens as it was.
        drop(store);
        let store = Store::open(dir.path().join("db")).unwrap();
        assert_eq!(all_pairs(&store), before);
    }

    #[test]
    fn a_crash_before_the_marker_keeps_the_old_store_and_after_it_the_new_one() {
        let (dir, store) = store_with(60);
        let path = dir.path().join("db");
        let before = all_pairs(&store);
        drop(store);
        // An unfinished copy (no marker): removed by the next open, the old store stays.
        std::fs::create_dir_all(path.join(COMPACT_DIR)).unwrap();
        std::fs::write(path.join(COMPACT_DIR).join("db"), b"half a copy").unwrap();
        let store = Store::open(&path).unwrap();
        assert_eq!(all_pairs(&store), before);
        assert!(!path.join(COMPACT_DIR).exists());
        drop(store);
        // A finished copy and its marker, old files not yet swapped: the open completes it.
        std::fs::create_dir_all(path.join(COMPACT_DIR)).unwrap();
        fs_extra_copy(&path.join("data"), &path.join(COMPACT_DIR));
        std::fs::File::create(path.join(READY_MARKER)).unwrap();
        std::fs::rename(path.join("data"), path.join(OLD_DIR)).unwrap();
        assert!(holds_store(&path));
        let store = Store::open(&path).unwrap();
        assert_eq!(all_pairs(&store), before);
        for leftover in [COMPACT_DIR, OLD_DIR, READY_MARKER] {
            assert!(!path.join(leftover).exists(), "{leftover} left behind");
        }
    }

    /// Copy the files of one directory into another (sled's data directory: flat files and
    /// one level of subdirectories); returns the names copied.
    fn fs_extra_copy(from: &Path, to: &Path) -> Vec<String> {
        let mut names = Vec::new();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let target = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                std::fs::create_dir_all(&target).unwrap();
                fs_extra_copy(&e.path(), &target);
            } else {
                std::fs::copy(e.path(), &target).unwrap();
            }
            names.push(e.file_name().to_string_lossy().into_owned());
        }
        names
    }
}
