//! Named objects: the values of the object keyspaces ([`Keyspace::OBJECTS`]: features cache,
//! models, predictions, splits, corpus failures), each under a key of string parts (a name, or
//! a name and a sub-key such as a record id), encoded by the store's one codec.
//!
//! Invariant: every value of an object keyspace is written through [`WriteSet::put_object`]
//! (directly or by [`Store::save_object`]) and read through [`Store::load_object`] or
//! [`Store::list_objects`]; what the value means (and its own format version, if it has one)
//! belongs to the module that stores it.

use super::codec::{decode, encode};
use super::keyspace::{key, prefix, Keyspace};
use super::{Result, Store, WriteSet};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// What [`Store::save_object`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Saved {
    /// No object had the key: the value was written.
    Created,
    /// An object had the key and was replaced.
    Replaced,
    /// An object had the key and replacing was not asked for: nothing was written.
    Exists,
}

/// The key of an object. Panics when `space` holds no named objects (a programming error:
/// records and indexes are written only through their own methods).
fn object_key(space: Keyspace, parts: &[&str]) -> Vec<u8> {
    assert!(space.holds_objects(), "keyspace {space:?} holds no named objects");
    key(space, &parts.iter().map(|p| p.as_bytes()).collect::<Vec<_>>())
}

/// The scan prefix of the objects under `parent` (see [`object_key`]).
fn object_prefix(space: Keyspace, parent: &[&str]) -> Vec<u8> {
    assert!(space.holds_objects(), "keyspace {space:?} holds no named objects");
    prefix(space, &parent.iter().map(|p| p.as_bytes()).collect::<Vec<_>>())
}

impl Store {
    /// The object under `parts` in `space`, decoded; `None` when there is none, and
    /// [`super::StoreError::Corrupt`] (naming the key) when its value does not decode as `T`.
    pub fn load_object<T: DeserializeOwned>(&self, space: Keyspace, parts: &[&str]) -> Result<Option<T>> {
        let k = object_key(space, parts);
        match self.db.get(&k).map_err(|e| self.sled_error(e))? {
            Some(v) => decode(&k, &v).map(Some),
            None => Ok(None),
        }
    }

    /// True when an object is stored under `parts` in `space` (reads no value).
    pub fn has_object(&self, space: Keyspace, parts: &[&str]) -> Result<bool> {
        Ok(self.db.contains_key(object_key(space, parts)).map_err(|e| self.sled_error(e))?)
    }

    /// Names of the objects under `parent` in `space`, in key order, reading no value: the rest
    /// of each key after `parent` (one part for the layouts of [`Keyspace`]).
    pub fn object_names(&self, space: Keyspace, parent: &[&str]) -> Result<Vec<String>> {
        let p = object_prefix(space, parent);
        self.db.scan_prefix(&p).keys().map(|k| Ok(String::from_utf8_lossy(&k.map_err(|e| self.sled_error(e))?[p.len()..]).into_owned())).collect()
    }

    /// The objects under `parent` in `space` with their names (as [`Store::object_names`]), in
    /// key order. A value that does not decode is an error beside its name, so the caller can
    /// say which object is damaged; a failure to read the store is the outer error.
    pub fn list_objects<T: DeserializeOwned>(&self, space: Keyspace, parent: &[&str]) -> Result<Vec<(String, Result<T>)>> {
        let p = object_prefix(space, parent);
        let mut out = Vec::new();
        for kv in self.db.scan_prefix(&p) {
            let (k, v) = kv.map_err(|e| self.sled_error(e))?;
            out.push((String::from_utf8_lossy(&k[p.len()..]).into_owned(), decode(&k, &v)));
        }
        Ok(out)
    }

    /// Save one object in its own atomic write with an audit entry of operation `op` and the
    /// summary `summary(replacing)`. When an object has the key and `replace` is false, nothing
    /// is written and the result is [`Saved::Exists`].
    pub fn save_object<T: Serialize + ?Sized>(
        &self,
        space: Keyspace,
        parts: &[&str],
        value: &T,
        replace: bool,
        op: &str,
        summary: impl FnOnce(bool) -> String,
    ) -> Result<Saved> {
        let existed = self.has_object(space, parts)?;
        if existed && !replace {
            return Ok(Saved::Exists);
        }
        let mut ws = WriteSet::new(op, summary(existed));
        ws.put_object(space, parts, value);
        self.commit(ws)?;
        Ok(if existed { Saved::Replaced } else { Saved::Created })
    }

    /// Remove one object in its own atomic write with an audit entry (`op`, `summary`); false,
    /// and nothing written, when there is none.
    pub fn remove_object(&self, space: Keyspace, parts: &[&str], op: &str, summary: impl Into<String>) -> Result<bool> {
        if !self.has_object(space, parts)? {
            return Ok(false);
        }
        let mut ws = WriteSet::new(op, summary);
        ws.remove_object(space, parts);
        self.commit(ws)?;
        Ok(true)
    }
}

impl WriteSet {
    /// Write `value` (through the store's codec) as the object under `parts` in `space`,
    /// replacing any. Panics when `space` holds no named objects.
    pub fn put_object<T: Serialize + ?Sized>(&mut self, space: Keyspace, parts: &[&str], value: &T) {
        self.batch.insert(object_key(space, parts), encode(value));
    }

    /// Remove the object under `parts` in `space` (nothing when there is none). Panics when
    /// `space` holds no named objects.
    pub fn remove_object(&mut self, space: Keyspace, parts: &[&str]) {
        self.batch.remove(object_key(space, parts));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_save_load_list_and_remove() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(dir.path().join("db")).unwrap();
        let sp = Keyspace::Prediction;
        assert_eq!(store.save_object(sp, &["m", "a"], &(1u32, 0.5f64), false, "t", |r| format!("r={r}")).unwrap(), Saved::Created);
        assert_eq!(store.save_object(sp, &["m", "a"], &(1u32, 0.7f64), false, "t", |_| String::new()).unwrap(), Saved::Exists);
        assert_eq!(store.load_object::<(u32, f64)>(sp, &["m", "a"]).unwrap(), Some((1, 0.5)));
        assert_eq!(store.save_object(sp, &["m", "a"], &(1u32, 0.7f64), true, "t", |r| format!("r={r}")).unwrap(), Saved::Replaced);
        let mut ws = WriteSet::new("t", "two more");
        ws.put_object(sp, &["m", "b"], &(1u32, 1.0f64));
        ws.put_object(sp, &["mm", "c"], &(1u32, 2.0f64));
        store.commit(ws).unwrap();
        // `m` lists its own objects only, not those of `mm`.
        assert_eq!(store.object_names(sp, &["m"]).unwrap(), ["a", "b"]);
        let listed: Vec<(String, f64)> = store.list_objects::<(u32, f64)>(sp, &["m"]).unwrap().into_iter().map(|(n, v)| (n, v.unwrap().1)).collect();
        assert_eq!(listed, [("a".to_string(), 0.7), ("b".to_string(), 1.0)]);
        assert!(store.has_object(sp, &["mm", "c"]).unwrap());
        assert!(store.remove_object(sp, &["mm", "c"], "t", "drop").unwrap());
        assert!(!store.remove_object(sp, &["mm", "c"], "t", "drop").unwrap());
        assert_eq!(store.load_object::<(u32, f64)>(sp, &["mm", "c"]).unwrap(), None);
        // A value of another shape is a corruption error naming the key.
        let e = store.load_object::<(String, Vec<u64>)>(sp, &["m", "a"]).unwrap_err().to_string();
        assert!(e.contains("P/m/a"), "{e}");
        let summaries: Vec<String> = store.audit_log().unwrap().into_iter().filter(|a| a.op == "t").map(|a| a.summary).collect();
        assert_eq!(summaries, ["r=false", "r=true", "two more", "drop"]);
    }

    #[test]
    #[should_panic(expected = "holds no named objects")]
    fn records_are_not_objects() {
        WriteSet::new("t", "").put_object(Keyspace::Record, &["x"], &1u32);
    }
}
