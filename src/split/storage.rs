//! Splits in the store (keyspace [`Keyspace::Split`], a named object per split, value
//! `(SPLIT_FORMAT_VERSION, Split)`) and their export as JSON or CSV.

use super::{invalid, Result, Split, SplitError};
use crate::store::{self, Keyspace, Saved, Store, StoreError};

/// Version of the stored encoding of a split (written before the split itself): 2 adds
/// `data_version` (version-1 values are still read, without it).
pub const SPLIT_FORMAT_VERSION: u32 = 2;

/// Longest split name accepted.
pub const MAX_NAME_LEN: usize = 128;

/// Check a split name: 1 to [`MAX_NAME_LEN`] characters, ASCII letters, digits, `_`, `-`, `.`,
/// starting with a letter or digit.
pub fn validate_name(name: &str) -> Result<()> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if name.is_empty() || name.len() > MAX_NAME_LEN || !name.chars().all(ok_char) || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return invalid(format!(
            "invalid split name '{name}': use 1 to {MAX_NAME_LEN} ASCII letters, digits, '_', '-' or '.', starting with a letter or digit"
        ));
    }
    Ok(())
}

/// The split stored as `name`, from its decoded value: a value that does not decode, has
/// another format version, or whose fingerprint does not match its members is
/// [`SplitError::Corrupt`].
fn checked(store: &Store, name: &str, stored: store::Result<(u32, Split)>) -> Result<Split> {
    let corrupt = |msg: String| SplitError::Corrupt { name: name.to_string(), msg };
    let (ver, split) = match stored {
        Ok(v) => v,
        Err(StoreError::Corrupt { msg, .. }) => match store.load_object::<(u32, super::SplitV1)>(Keyspace::Split, &[name]) {
            Ok(Some((1, v1))) => (SPLIT_FORMAT_VERSION, Split::from_v1(v1)),
            _ => return Err(corrupt(msg)),
        },
        Err(e) => return Err(e.into()),
    };
    if ver != SPLIT_FORMAT_VERSION {
        return Err(corrupt(format!("format version {ver}, this hopdb reads {SPLIT_FORMAT_VERSION}")));
    }
    if !split.verify() {
        return Err(corrupt(format!("fingerprint {} does not match its members", split.fingerprint)));
    }
    Ok(split)
}

/// Save a split under its name, in one atomic write (op `split`). Errors when the name is
/// invalid, the fingerprint does not match the contents, or a split of that name exists and
/// `replace` is false.
pub fn save(store: &Store, split: &Split, replace: bool) -> Result<()> {
    validate_name(&split.name)?;
    if !split.verify() {
        return invalid(format!("split '{}' has a fingerprint that does not match its members", split.name));
    }
    let sizes = split.partition_names().iter().map(|p| format!("{p} {}", split.partition(p).len())).collect::<Vec<_>>().join(", ");
    let summary = |replacing: bool| {
        let verb = if replacing { "replace" } else { "save" };
        format!("{verb} split '{}': {} ({sizes}), fingerprint {}", split.name, split.algorithm, split.fingerprint)
    };
    match store.save_object(Keyspace::Split, &[&split.name], &(SPLIT_FORMAT_VERSION, split), replace, "split", summary)? {
        Saved::Exists => Err(SplitError::Exists(split.name.clone())),
        Saved::Created | Saved::Replaced => Ok(()),
    }
}

/// Load a split by name; [`SplitError::NotFound`] when there is none. The fingerprint is
/// checked against the members.
pub fn load(store: &Store, name: &str) -> Result<Split> {
    match store.load_object(Keyspace::Split, &[name]) {
        Ok(None) => Err(SplitError::NotFound(name.to_string())),
        Ok(Some(v)) => checked(store, name, Ok(v)),
        Err(e) => checked(store, name, Err(e)),
    }
}

/// True when a split of that name exists.
pub fn exists(store: &Store, name: &str) -> Result<bool> {
    Ok(store.has_object(Keyspace::Split, &[name])?)
}

/// Every stored split, in name order.
pub fn list(store: &Store) -> Result<Vec<Split>> {
    store.list_objects(Keyspace::Split, &[])?.into_iter().map(|(name, v)| checked(store, &name, v)).collect()
}

/// Delete a split, in one atomic write (op `split`); [`SplitError::NotFound`] when there is none.
pub fn drop_split(store: &Store, name: &str) -> Result<()> {
    let fp = match store.load_object::<(u32, Split)>(Keyspace::Split, &[name]) {
        Ok(None) => return Err(SplitError::NotFound(name.to_string())),
        Ok(Some(v)) => checked(store, name, Ok(v)).map(|s| s.fingerprint).unwrap_or_else(|_| "unreadable".into()),
        Err(StoreError::Corrupt { .. }) => "unreadable".to_string(),
        Err(e) => return Err(e.into()),
    };
    if !store.remove_object(Keyspace::Split, &[name], "split", format!("drop split '{name}' (fingerprint {fp})"))? {
        return Err(SplitError::NotFound(name.to_string()));
    }
    Ok(())
}

/// Ids of a split that are not records of the store, sorted.
pub fn unknown_ids(store: &Store, split: &Split) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for id in split.all_ids() {
        if !store.contains(id)? {
            out.push(id.to_string());
        }
    }
    Ok(out)
}

/// The split as pretty-printed JSON (every field, partitions as id lists).
pub fn export_json(split: &Split) -> String {
    serde_json::to_string_pretty(split).expect("splits always encode")
}

/// The split as CSV with columns `id,partition`: one row per membership, partitions in the
/// order of [`Split::partition_names`], ids sorted within each.
pub fn export_csv(split: &Split) -> String {
    let mut w = csv::Writer::from_writer(vec![]);
    w.write_record(["id", "partition"]).expect("in-memory write");
    for p in split.partition_names() {
        for id in split.partition(p) {
            w.write_record([id.as_str(), p]).expect("in-memory write");
        }
    }
    String::from_utf8(w.into_inner().expect("in-memory flush")).expect("csv is utf-8")
}

/// Parse [`export_json`] output back into a split, checking its fingerprint.
pub fn import_json(text: &str) -> Result<Split> {
    let s: Split = serde_json::from_str(text).map_err(|e| SplitError::Invalid(format!("not a split JSON document: {e}")))?;
    if !s.verify() {
        return invalid(format!("split '{}': fingerprint {} does not match its members", s.name, s.fingerprint));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::split::{from_ids, Algorithm};

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn save_load_list_drop() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(dir.path().join("db")).unwrap();
        let s = from_ids(&ids(&["a", "b"]), &ids(&["c"])).unwrap().named("s1").from_query("SELECT * FROM hops");
        save(&store, &s, false).unwrap();
        assert!(matches!(save(&store, &s, false), Err(SplitError::Exists(_))));
        save(&store, &s, true).unwrap();
        assert_eq!(load(&store, "s1").unwrap(), s);
        assert!(matches!(load(&store, "nope"), Err(SplitError::NotFound(_))));
        let t = from_ids(&ids(&["a"]), &ids(&["b"])).unwrap().named("s0");
        save(&store, &t, false).unwrap();
        let names: Vec<String> = list(&store).unwrap().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["s0", "s1"]);
        assert_eq!(unknown_ids(&store, &s).unwrap(), ["a", "b", "c"]);
        drop_split(&store, "s0").unwrap();
        assert!(matches!(drop_split(&store, "s0"), Err(SplitError::NotFound(_))));
        assert_eq!(list(&store).unwrap().len(), 1);
        let ops: Vec<String> = store.audit_log().unwrap().into_iter().map(|e| e.op).collect();
        assert_eq!(ops.iter().filter(|o| *o == "split").count(), 4);
        assert!(save(&store, &s.clone().named("bad name"), false).is_err());
        assert!(save(&store, &s.clone().named(""), false).is_err());
        let mut tampered = s.clone().named("t");
        tampered.partitions.get_mut("test").unwrap().push("z".into());
        assert!(save(&store, &tampered, false).is_err());
    }

    #[test]
    fn exports() {
        let s = from_ids(&ids(&["b", "a"]), &ids(&["c"])).unwrap().named("x");
        assert_eq!(export_csv(&s), "id,partition\na,train\nb,train\nc,test\n");
        let back = import_json(&export_json(&s)).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.algorithm, Algorithm::Ids);
        let j: serde_json::Value = serde_json::from_str(&export_json(&s)).unwrap();
        assert_eq!(j["algorithm"], "ids");
    }
}
