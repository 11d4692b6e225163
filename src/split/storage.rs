//! Splits in the store (keyspace `p`) and their export as JSON or CSV.

use super::{invalid, Result, Split, SplitError};
use crate::store::{self, Store, WriteSet};

/// Version of the stored encoding of a split (written before the split itself).
pub const SPLIT_FORMAT_VERSION: u32 = 1;

/// Longest split name accepted.
pub const MAX_NAME_LEN: usize = 128;

/// Store key of a split.
pub fn split_key(name: &str) -> Vec<u8> {
    store::key(b'p', &[name.as_bytes()])
}

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

fn decode(name: &str, bytes: &[u8]) -> Result<Split> {
    let corrupt = |msg: String| SplitError::Corrupt { name: name.to_string(), msg };
    let (ver, split): (u32, Split) = bincode::deserialize(bytes).map_err(|e| corrupt(e.to_string()))?;
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
    let key = split_key(&split.name);
    let existed = store.get_raw(&key)?.is_some();
    if existed && !replace {
        return Err(SplitError::Exists(split.name.clone()));
    }
    let sizes = split.partition_names().iter().map(|p| format!("{p} {}", split.partition(p).len())).collect::<Vec<_>>().join(", ");
    let verb = if existed { "replace" } else { "save" };
    let mut ws = WriteSet::new(
        "split",
        format!("{verb} split '{}': {} ({sizes}), fingerprint {}", split.name, split.algorithm, split.fingerprint),
    );
    let bytes = bincode::serialize(&(SPLIT_FORMAT_VERSION, split)).expect("splits always encode");
    ws.put_raw(key, bytes);
    store.commit(ws)?;
    Ok(())
}

/// Load a split by name; [`SplitError::NotFound`] when there is none. The fingerprint is
/// checked against the members.
pub fn load(store: &Store, name: &str) -> Result<Split> {
    match store.get_raw(&split_key(name))? {
        Some(v) => decode(name, &v),
        None => Err(SplitError::NotFound(name.to_string())),
    }
}

/// True when a split of that name exists.
pub fn exists(store: &Store, name: &str) -> Result<bool> {
    Ok(store.get_raw(&split_key(name))?.is_some())
}

/// Every stored split, in name order.
pub fn list(store: &Store) -> Result<Vec<Split>> {
    let mut prefix = store::key(b'p', &[]);
    prefix.push(0);
    let mut out = Vec::new();
    for kv in store.scan_raw(&prefix) {
        let (k, v) = kv?;
        let name = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
        out.push(decode(&name, &v)?);
    }
    Ok(out)
}

/// Delete a split, in one atomic write (op `split`); [`SplitError::NotFound`] when there is none.
pub fn drop_split(store: &Store, name: &str) -> Result<()> {
    let key = split_key(name);
    let old = match store.get_raw(&key)? {
        Some(v) => v,
        None => return Err(SplitError::NotFound(name.to_string())),
    };
    let fp = decode(name, &old).map(|s| s.fingerprint).unwrap_or_else(|_| "unreadable".into());
    let mut ws = WriteSet::new("split", format!("drop split '{name}' (fingerprint {fp})"));
    ws.remove_raw(key);
    store.commit(ws)?;
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
