//! In-place upgrades of stores written with an older schema version, run by [`Store::open`].
//!
//! * 2 -> 3: the composite `(field, em)` index keys, derived from the records.
//! * 3 -> 4: the values of the object keyspaces ([`Keyspace::OBJECTS`]) re-encoded through the
//!   store's codec: plain bincode becomes the codec's tagged form of the same bincode, and a
//!   corpus failure's text `reason\nmessage` becomes the pair `(reason, message)`.
//!
//! * 4 -> 5: record history (keyspace `h`) starts: meta `history_from` is set to the store's
//!   data version before the upgrade (earlier versions cannot be rebuilt; later ones can).
//! * 5 -> 6: the indexes become posting chunks (keyspaces `X`, `N`, `C`), rebuilt from the
//!   records; the one-key-per-entry indexes (`x`, `n`, `c`, [`Keyspace::RETIRED`]) are removed.
//!   New host structures go to the structure pack; the inline ones stay readable (`hopdb
//!   compact` moves them into the pack). Older hopdb versions refuse the store from then on.
//!
//! A version-2 store gets all of them. The re-encoding, the new schema version and the audit
//! entry (op `upgrade`) are one atomic write; the posting chunks come before it in batches of
//! their own (after clearing what an interrupted upgrade left of them), so an interrupted
//! upgrade leaves the old version and is simply done again on the next open. The retired keys
//! go after it, in batches; what a crash leaves of them the next open removes
//! ([`Store::remove_retired_keys`]).

use super::codec::{encode, encode_bincode};
use super::index::record_postings;
use super::postings::PostingOps;
use super::keyspace::{prefix, Keyspace};
use super::{Result, Store, WriteSet, SCHEMA_VERSION, SCHEMA_VERSION_KEY};

/// The older schema versions [`Store::open`] upgrades in place.
pub(super) const UPGRADABLE: [u32; 4] = [2, 3, 4, 5];

/// Records per batch of the posting-chunk rebuild, and keys per batch of the retired keys' removal.
const CHUNK: usize = 20_000;

impl Store {
    /// Upgrade a store of schema version `found` (one of [`UPGRADABLE`]) to [`SCHEMA_VERSION`]
    /// (see the module doc).
    pub(super) fn upgrade(&self, found: u32) -> Result<()> {
        let mut steps = Vec::new();
        if found < 6 {
            let n = self.rebuild_postings()?;
            steps.push(format!("indexes of {n} records rebuilt as posting chunks"));
        }
        let mut ws = WriteSet::new("upgrade", String::new());
        if found < 4 {
            let n = self.reencode_objects(&mut ws)?;
            let spaces: Vec<String> = Keyspace::OBJECTS.iter().map(|k| (k.byte() as char).to_string()).collect();
            steps.push(format!("{n} values of keyspaces {} re-encoded through the store codec", spaces.join(", ")));
        }
        if found < 5 {
            let from = self.version()?.seq;
            ws.put_meta(super::history::HISTORY_FROM_KEY, from.to_be_bytes().to_vec());
            steps.push(format!("record history kept from data version {from} on"));
        }
        if found < 6 {
            steps.push("new host structures go to the structure pack (`hopdb compact` moves the stored ones there)".to_string());
        }
        ws.summary = format!("schema {found} -> {SCHEMA_VERSION}: {}", steps.join("; "));
        ws.put_meta(SCHEMA_VERSION_KEY, SCHEMA_VERSION.to_be_bytes().to_vec());
        self.commit(ws)?;
        self.remove_retired_keys()
    }

    /// Schema 5 -> 6: write the posting chunks of every record's index entries, in batches of
    /// their own (derived from the records alone), after removing whatever an interrupted
    /// upgrade left of them. Returns the number of records.
    fn rebuild_postings(&self) -> Result<u64> {
        for space in [Keyspace::Index, Keyspace::RangeIndex, Keyspace::CompositeIndex] {
            self.remove_keys_under(&[space.byte()])?;
        }
        let mut ops = PostingOps::default();
        let mut pending = 0usize;
        let mut n = 0u64;
        for rec in self.records() {
            let r = rec?;
            for (term, entry) in record_postings(&r) {
                ops.set(term, entry, true);
            }
            n += 1;
            pending += 1;
            if pending == CHUNK {
                self.apply_postings_now(std::mem::take(&mut ops))?;
                pending = 0;
            }
        }
        self.apply_postings_now(ops)?;
        Ok(n)
    }

    fn apply_postings_now(&self, ops: PostingOps) -> Result<()> {
        let mut batch = sled::Batch::default();
        self.apply_postings(&mut batch, ops)?;
        self.db.apply_batch(batch).map_err(|e| self.sled_error(e))?;
        self.db.flush().map_err(|e| self.sled_error(e))?;
        Ok(())
    }

    /// Remove the keys of the retired keyspaces ([`Keyspace::RETIRED`]) that an upgrade to
    /// schema 6 left (run after the upgrade, and by every open: a seek per byte when there are
    /// none).
    pub(super) fn remove_retired_keys(&self) -> Result<()> {
        for b in Keyspace::RETIRED {
            self.remove_keys_under(&[b])?;
        }
        Ok(())
    }

    /// Remove every key that starts with `prefix`, in batches.
    fn remove_keys_under(&self, prefix: &[u8]) -> Result<()> {
        loop {
            let mut batch = sled::Batch::default();
            let mut n = 0;
            for k in self.db.scan_prefix(prefix).keys().take(CHUNK) {
                batch.remove(k.map_err(|e| self.sled_error(e))?);
                n += 1;
            }
            if n == 0 {
                return Ok(());
            }
            self.db.apply_batch(batch).map_err(|e| self.sled_error(e))?;
            self.db.flush().map_err(|e| self.sled_error(e))?;
        }
    }

    /// Schema 3 -> 4: put the codec's form of every value of the object keyspaces into `ws`.
    /// Returns the number of values.
    fn reencode_objects(&self, ws: &mut WriteSet) -> Result<usize> {
        let mut n = 0;
        for space in Keyspace::OBJECTS {
            for kv in self.db.scan_prefix(prefix(space, &[])) {
                let (k, v) = kv.map_err(|e| self.sled_error(e))?;
                let new = if space == Keyspace::CorpusFailure {
                    let text = String::from_utf8_lossy(&v);
                    let (reason, message) = text.split_once('\n').unwrap_or((&text, ""));
                    encode(&(reason, message))
                } else {
                    encode_bincode(&v)
                };
                ws.batch.insert(k, new);
                n += 1;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::super::codec::decode;
    use super::super::keyspace::key;
    use super::*;
    use crate::bvse::corpus::{remembered_failure, remembered_failures, Failure, FailureReason};
    use crate::features::{cached_matrix_report, FeatureSet};
    use crate::model::registry::{self, ModelRecord, ModelRecordV1};
    use crate::workflow::{load_predictions, Prediction, PREDICTION_FORMAT_VERSION};
    use crate::split::{self, SplitV1};
    use std::collections::BTreeMap;

    /// A model record in format version 1 (name, kind, params, feature set, feature names,
    /// split fingerprint, train ids, blob, metrics, training log, created at).
    fn model_record() -> ModelRecordV1 {
        (
            "m1".into(),
            "mean".into(),
            BTreeMap::from([("target".to_string(), "em".to_string())]),
            "hop-v1@2".into(),
            vec!["a".into(), "b".into()],
            "abc".into(),
            vec!["x".into(); 40],
            (0..=255u8).cycle().take(600).collect(),
            BTreeMap::from([("test_mae".to_string(), 0.25)]),
            vec!["trained".into()],
            "2025-01-01T00:00:00Z".into(),
        )
    }

    fn prediction(id: &str, predicted: f64) -> Prediction {
        Prediction { id: id.into(), partition: "test".into(), split: "s1".into(), em: 0.5, predicted }
    }

    /// Rewrite `store` as a schema-3 store: the object keyspaces in their old encodings (plain
    /// bincode; text for corpus failures), written with raw puts.
    fn write_v3(store: &Store, split: &split::Split, ids: &[String]) {
        let put = |k: Vec<u8>, v: Vec<u8>| store.db.insert(k, v).unwrap();
        // The features cache, computed by this hopdb, back to plain bincode.
        for kv in store.db.scan_prefix(prefix(Keyspace::Features, &[])) {
            let (k, v) = kv.unwrap();
            let row: (String, Vec<f64>) = decode(&k, &v).unwrap();
            put(k.to_vec(), bincode::serialize(&row).unwrap());
        }
        // Splits and models in their format version 1 (before data versions and lineage).
        let v1: SplitV1 = (
            split.name.clone(),
            split.query.clone(),
            split.algorithm,
            split.params.clone(),
            split.seed,
            split.partitions.clone(),
            split.fingerprint.clone(),
            split.created_at.clone(),
        );
        put(key(Keyspace::Split, &[b"s1"]), bincode::serialize(&(1u32, v1)).unwrap());
        put(key(Keyspace::Model, &[b"m1"]), bincode::serialize(&(1u32, &model_record())).unwrap());
        for (id, p) in [(&ids[0], 0.4), (&ids[1], 0.6)] {
            put(key(Keyspace::Prediction, &[b"m1", id.as_bytes()]), bincode::serialize(&(PREDICTION_FORMAT_VERSION, &prediction(id, p))).unwrap());
        }
        put(key(Keyspace::CorpusFailure, &[b"bvse:x1"]), b"no anion\nthe structure has no anion".to_vec());
        put(key(Keyspace::Meta, &[b"schema_version"]), 3u32.to_be_bytes().to_vec());
        store.db.flush().unwrap();
    }

    #[test]
    fn a_schema_3_store_is_upgraded_in_place_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = Store::create(&path).unwrap();
        let mut ws = WriteSet::new("import", "synthetic");
        let mut ids = Vec::new();
        for c in crate::synthetic::bvse_like_corpus(3, 7) {
            ws.insert_record(&c.record, &c.host);
            ids.push(c.record.id.clone());
        }
        store.commit(ws).unwrap();
        let set = FeatureSet::hop_v1();
        let (features, _) = cached_matrix_report(&store, &ids, &set).unwrap();
        let split = split::from_ids(&ids[..2], &ids[2..]).unwrap().named("s1");
        write_v3(&store, &split, &ids);
        drop(store);

        let store = Store::open(&path).unwrap();
        let log = store.audit_log().unwrap();
        let last = log.last().unwrap();
        assert_eq!(last.op, "upgrade");
        let before_upgrade = log[log.len() - 2].seq;
        assert_eq!(
            last.summary,
            format!("schema 3 -> {SCHEMA_VERSION}: indexes of 3 records rebuilt as posting chunks; 8 values of keyspaces f, M, P, p, b, e re-encoded through the store codec; record history kept from data version {before_upgrade} on; new host structures go to the structure pack (`hopdb compact` moves the stored ones there)")
        );
        assert_eq!(store.history_from().unwrap(), before_upgrade);
        let ver = store.db.get(key(Keyspace::Meta, &[b"schema_version"])).unwrap().unwrap();
        assert_eq!(ver.as_ref(), &SCHEMA_VERSION.to_be_bytes());
        assert_eq!(split::load(&store, "s1").unwrap(), split);
        assert_eq!(registry::load(&store, "m1").unwrap(), ModelRecord::from_v1(model_record()));
        assert_eq!(load_predictions(&store, "m1").unwrap(), [prediction(&ids[0], 0.4), prediction(&ids[1], 0.6)]);
        let (again, rep) = cached_matrix_report(&store, &ids, &set).unwrap();
        assert_eq!((rep.hits, rep.computed), (3, 0), "the cached vectors survive the upgrade");
        assert!(again.rows.iter().flatten().zip(features.rows.iter().flatten()).all(|(a, b)| a.to_bits() == b.to_bits()));
        let failure = Failure { id: "bvse:x1".into(), reason: FailureReason::NoAnion, message: "the structure has no anion".into() };
        assert_eq!(remembered_failure(&store, "bvse:x1").unwrap(), Some(failure));
        assert_eq!(remembered_failures(&store).unwrap(), BTreeMap::from([("no anion".to_string(), 1)]));
        drop(store);
        // Upgraded once: the next open finds the current version and writes nothing.
        let store = Store::open(&path).unwrap();
        assert_eq!(store.audit_log().unwrap().len(), log.len());
    }

    /// A schema-5 store (host structures inline in sled) opens as schema 6 with its history
    /// start kept, its structures readable where they are, new ones going to the pack, and
    /// compaction moving the old ones there.
    #[test]
    fn a_schema_5_store_keeps_its_inline_structures_until_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = Store::create(&path).unwrap();
        let corpus = crate::synthetic::bvse_like_corpus(4, 11);
        let mut ws = WriteSet::new("import", "synthetic");
        for c in &corpus[..2] {
            ws.insert_record(&c.record, &c.host);
        }
        store.commit(ws).unwrap();
        // Schema 5 kept the codec's value itself under the structure's key.
        for c in &corpus[..2] {
            let k = key(Keyspace::Structure, &[c.record.host.0.as_bytes()]);
            store.db.insert(&k, encode(&c.host)).unwrap();
        }
        // ... and one key per index entry (`x`, `n`, `c`), no posting chunks.
        for space in [Keyspace::Index, Keyspace::RangeIndex, Keyspace::CompositeIndex] {
            for k in store.db.scan_prefix([space.byte()]).keys() {
                store.db.remove(k.unwrap()).unwrap();
            }
        }
        for c in &corpus[..2] {
            let r = &c.record;
            store.db.insert(key(Keyspace::Meta, &[b"x"]), &[] as &[u8]).unwrap();
            let mut old = vec![b'x', 0];
            old.extend_from_slice(format!("ion\0{}\0{}", r.ion.symbol(), r.id).as_bytes());
            store.db.insert(old, &[] as &[u8]).unwrap();
            store.db.insert([&[b'n', 0][..], b"em\0", &crate::store::encode_ordered(r.em), b"\0", r.id.as_bytes()].concat(), &[] as &[u8]).unwrap();
            store.db.insert([&[b'c', 0][..], b"ion\0", r.ion.symbol().as_bytes(), b"\0em\0", &crate::store::encode_ordered(r.em), b"\0", r.id.as_bytes()].concat(), &[] as &[u8]).unwrap();
        }
        store.db.remove(key(Keyspace::Meta, &[b"x"])).unwrap();
        store.db.insert(key(Keyspace::Meta, &[b"schema_version"]), &5u32.to_be_bytes()).unwrap();
        let history_from = store.history_from().unwrap();
        store.db.flush().unwrap();
        drop(store);

        let store = Store::open(&path).unwrap();
        let last = store.audit_log().unwrap().pop().unwrap();
        assert_eq!(last.summary, format!("schema 5 -> {SCHEMA_VERSION}: indexes of 2 records rebuilt as posting chunks; new host structures go to the structure pack (`hopdb compact` moves the stored ones there)"));
        assert_eq!(store.history_from().unwrap(), history_from, "the history start is kept");
        for b in Keyspace::RETIRED {
            assert_eq!(store.db.scan_prefix([b]).count(), 0, "retired keys under {}", b as char);
        }
        let ion = corpus[0].record.ion.symbol();
        let want: Vec<String> = corpus[..2].iter().filter(|c| c.record.ion.symbol() == ion).map(|c| c.record.id.clone()).collect();
        assert_eq!(store.ids_where("ion", ion).unwrap(), want, "the index is rebuilt from the records");
        assert_eq!(store.count_in_range("em", std::ops::Bound::Unbounded, std::ops::Bound::Unbounded).unwrap(), 2);
        let mut ws = WriteSet::new("import", "more");
        for c in &corpus[2..] {
            ws.insert_record(&c.record, &c.host);
        }
        store.commit(ws).unwrap();
        let packed = |s: &Store, c: &crate::import::Candidate| {
            let v = s.db.get(key(Keyspace::Structure, &[c.record.host.0.as_bytes()])).unwrap().unwrap();
            super::super::pack::PackPointer::decode(&v).is_some()
        };
        assert_eq!(corpus.iter().map(|c| packed(&store, c)).collect::<Vec<_>>(), [false, false, true, true]);
        for c in &corpus {
            assert_eq!(store.structure(&c.record.host).unwrap(), c.host);
        }
        let (store, _) = store.compact().unwrap();
        assert!(corpus.iter().all(|c| packed(&store, c)), "compaction moves every structure into the pack");
        for c in &corpus {
            assert_eq!(store.structure(&c.record.host).unwrap(), c.host);
        }
    }
}
