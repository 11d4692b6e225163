//! The one prefix table: every keyspace of the store, its key byte, its key layout and what its
//! values hold. Keys are built only here ([`key`]), so no module outside `store` picks a
//! prefix byte.

/// Separator between the parts of a key.
pub(super) const SEP: u8 = 0;

/// A keyspace of the store: all keys of one kind share the first byte ([`Keyspace::byte`]).
///
/// Invariant: the bytes are distinct and never change (they are on disk); a new keyspace takes
/// a byte no earlier schema used. The module doc's table is [`Keyspace::markdown_table`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Keyspace {
    /// Store metadata (`m`): schema version and creation time, raw bytes.
    Meta,
    /// Hop records by id (`r`).
    Record,
    /// Host structures by content address (`s`), shared by records.
    Structure,
    /// Secondary index (`X`): posting chunks of record ids per (field, value).
    Index,
    /// Range index (`N`) on the numeric fields of [`super::RANGE_INDEXED_FIELDS`]: posting
    /// chunks of (value, record id) per field.
    RangeIndex,
    /// Composite `(field, em)` index (`C`) on [`super::COMPOSITE_FIELDS`]: posting chunks of
    /// (`em`, record id) per (field, value).
    CompositeIndex,
    /// Duplicate-detection buckets (`d`).
    DupBucket,
    /// Class label to structural group mapping (`g`), raw UTF-8.
    ClassGroup,
    /// The append-only audit log (`a`).
    Audit,
    /// Cached descriptor vectors (`f`), by feature set, version and record.
    Features,
    /// Stored models (`M`), by name.
    Model,
    /// Stored predictions (`P`), by model name and record id.
    Prediction,
    /// Stored splits (`p`), by name.
    Split,
    /// Failure markers of BVSE corpus work items (`b`), by corpus record id.
    CorpusFailure,
    /// Record history (`h`): the state of a record before each write that changed it.
    History,
    /// Host structures first written by an unpublished staged write (`t`), by data version.
    Staging,
    /// Failure markers of MLIP barrier calculations (`e`), by the record id they would have had.
    MlipFailure,
}

impl Keyspace {
    /// Every keyspace, in the order of the module doc's table.
    pub const ALL: [Keyspace; 17] = [
        Keyspace::Meta,
        Keyspace::Record,
        Keyspace::Structure,
        Keyspace::Index,
        Keyspace::RangeIndex,
        Keyspace::CompositeIndex,
        Keyspace::DupBucket,
        Keyspace::ClassGroup,
        Keyspace::Audit,
        Keyspace::Features,
        Keyspace::Model,
        Keyspace::Prediction,
        Keyspace::Split,
        Keyspace::CorpusFailure,
        Keyspace::History,
        Keyspace::Staging,
        Keyspace::MlipFailure,
    ];

    /// The keyspaces that hold named objects ([`super::Store::load_object`] and friends).
    pub const OBJECTS: [Keyspace; 6] = [Keyspace::Features, Keyspace::Model, Keyspace::Prediction, Keyspace::Split, Keyspace::CorpusFailure, Keyspace::MlipFailure];

    /// Bytes of keyspaces that schema 5 and older used and no keyspace uses now: the
    /// one-key-per-entry indexes `x`, `n` and `c` (replaced by the posting chunks of `X`, `N`
    /// and `C`); the upgrade removes their keys, and no new keyspace may take these bytes.
    pub const RETIRED: [u8; 3] = [b'x', b'n', b'c'];

    /// The first byte of every key of this keyspace.
    pub const fn byte(self) -> u8 {
        match self {
            Keyspace::Meta => b'm',
            Keyspace::Record => b'r',
            Keyspace::Structure => b's',
            Keyspace::Index => b'X',
            Keyspace::RangeIndex => b'N',
            Keyspace::CompositeIndex => b'C',
            Keyspace::DupBucket => b'd',
            Keyspace::ClassGroup => b'g',
            Keyspace::Audit => b'a',
            Keyspace::Features => b'f',
            Keyspace::Model => b'M',
            Keyspace::Prediction => b'P',
            Keyspace::Split => b'p',
            Keyspace::CorpusFailure => b'b',
            Keyspace::History => b'h',
            Keyspace::Staging => b't',
            Keyspace::MlipFailure => b'e',
        }
    }

    /// The keyspace whose keys start with `b`, if any.
    pub fn from_byte(b: u8) -> Option<Keyspace> {
        Keyspace::ALL.into_iter().find(|k| k.byte() == b)
    }

    /// True for the keyspaces of named objects ([`Keyspace::OBJECTS`]).
    pub fn holds_objects(self) -> bool {
        Keyspace::OBJECTS.contains(&self)
    }

    /// A short name (for reports).
    pub const fn name(self) -> &'static str {
        match self {
            Keyspace::Meta => "meta",
            Keyspace::Record => "records",
            Keyspace::Structure => "structures",
            Keyspace::Index => "index",
            Keyspace::RangeIndex => "range index",
            Keyspace::CompositeIndex => "composite index",
            Keyspace::DupBucket => "duplicate buckets",
            Keyspace::ClassGroup => "class groups",
            Keyspace::Audit => "audit log",
            Keyspace::Features => "features cache",
            Keyspace::Model => "models",
            Keyspace::Prediction => "predictions",
            Keyspace::Split => "splits",
            Keyspace::CorpusFailure => "corpus failures",
            Keyspace::History => "record history",
            Keyspace::Staging => "staging",
            Keyspace::MlipFailure => "mlip failures",
        }
    }

    /// The parts of a key after the prefix byte (for the table).
    pub const fn key_layout(self) -> &'static str {
        match self {
            Keyspace::Meta => "meta name",
            Keyspace::Record => "record id",
            Keyspace::Structure => "structure id (sha256 of its bincode)",
            Keyspace::Index => "field, value, first record id of the chunk",
            Keyspace::RangeIndex => "field, first entry of the chunk (order-preserving 8-byte f64, `\\0`, record id)",
            Keyspace::CompositeIndex => "field, value, `em`, first entry of the chunk (order-preserving 8-byte f64, `\\0`, record id)",
            Keyspace::DupBucket => "ion, host formula, binned lattice lengths, record id",
            Keyspace::ClassGroup => "class label",
            Keyspace::Audit => "sequence number (u64 BE)",
            Keyspace::Features => "feature set, version, record id",
            Keyspace::Model => "model name",
            Keyspace::Prediction => "model name, record id",
            Keyspace::Split => "split name",
            Keyspace::CorpusFailure => "corpus record id",
            Keyspace::History => "data version (u64 BE), record id",
            Keyspace::Staging => "data version (u64 BE), structure id",
            Keyspace::MlipFailure => "mlip record id",
        }
    }

    /// What a value holds (for the table); "codec" values go through the store's one codec.
    pub const fn value_layout(self) -> &'static str {
        match self {
            Keyspace::Meta => "raw bytes: schema version (u32 BE), creation time",
            Keyspace::Record => "codec: `HopRecord`",
            Keyspace::Structure => "codec: `Structure` (content-addressed, shared by records)",
            Keyspace::Index => "posting chunk: up to 128 record ids, front-coded (secondary index)",
            Keyspace::RangeIndex => "posting chunk: up to 128 entries (range index on `em`, `hop_length`)",
            Keyspace::CompositeIndex => "posting chunk: up to 128 entries (composite index: `fidelity`, `ion`, `source`, `group`, `partition` with `em`)",
            Keyspace::DupBucket => "the host's lattice vectors, nine f32 LE, so a duplicate probe skips other cells unread (empty in entries written before them)",
            Keyspace::ClassGroup => "raw UTF-8: structural group",
            Keyspace::Audit => "codec: `AuditEntry`",
            Keyspace::Features => "codec: input hash and descriptor vector",
            Keyspace::Model => "codec: `(MODEL_RECORD_VERSION, ModelRecord)`",
            Keyspace::Prediction => "codec: `(PREDICTION_FORMAT_VERSION, Prediction)`",
            Keyspace::Split => "codec: `(SPLIT_FORMAT_VERSION, Split)`",
            Keyspace::CorpusFailure => "codec: `(reason, message)` of a failed BVSE corpus hop (a resumed run skips it)",
            Keyspace::History => "codec: `Option<HopRecord>`, the record before the write of that version (`None`: it did not exist)",
            Keyspace::Staging => "empty (a host structure first written by an unpublished staged write of an older hopdb, whose marker had no pack length; read only by the rollback of such a write; see the `staging` submodule)",
            Keyspace::MlipFailure => "codec: `(reason, message)` of a failed MLIP NEB (a resumed run skips it)",
        }
    }

    /// The keyspace table as Markdown (prefix, key, value), one row per keyspace: the text of
    /// the table in the module doc and in `docs/ARCHITECTURE.md` (a test keeps them equal).
    pub fn markdown_table() -> String {
        let mut out = String::from("| prefix | key | value |\n|---|---|---|\n");
        for k in Keyspace::ALL {
            out.push_str(&format!("| `{}` | {} | {} |\n", k.byte() as char, k.key_layout(), k.value_layout()));
        }
        out
    }
}

/// A key: the keyspace's byte, then each part after a `\0`.
pub(super) fn key(space: Keyspace, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + parts.iter().map(|p| p.len() + 1).sum::<usize>());
    k.push(space.byte());
    for p in parts {
        k.push(SEP);
        k.extend_from_slice(p);
    }
    k
}

/// The scan prefix of the keys under `parts`: [`key`] followed by a separator, so that a part
/// never matches a longer part that starts with it.
pub(super) fn prefix(space: Keyspace, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = key(space, parts);
    k.push(SEP);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_distinct_and_round_trip() {
        let mut bytes: Vec<u8> = Keyspace::ALL.iter().map(|k| k.byte()).collect();
        for k in Keyspace::ALL {
            assert_eq!(Keyspace::from_byte(k.byte()), Some(k));
        }
        bytes.sort();
        bytes.dedup();
        assert_eq!(bytes.len(), Keyspace::ALL.len());
        assert!(Keyspace::RETIRED.iter().all(|b| Keyspace::from_byte(*b).is_none()), "a retired byte is never reused");
        assert_eq!(Keyspace::from_byte(b'z'), None);
        assert_eq!(key(Keyspace::Split, &[b"s1"]), b"p\0s1");
        assert_eq!(prefix(Keyspace::Prediction, &[b"m"]), b"P\0m\0");
    }

    /// The module doc and the store section of docs/ARCHITECTURE.md show the generated table.
    #[test]
    fn documented_tables_match_the_prefix_table() {
        let table = Keyspace::markdown_table();
        let module_doc: String = include_str!("mod.rs")
            .lines()
            .filter_map(|l| l.strip_prefix("//!"))
            .map(|l| format!("{}\n", l.strip_prefix(' ').unwrap_or(l)))
            .collect();
        assert!(module_doc.contains(&table), "the store module doc's keyspace table differs from:\n{table}");
        let arch = include_str!("../../docs/ARCHITECTURE.md");
        assert!(arch.contains(&table), "docs/ARCHITECTURE.md's keyspace table differs from:\n{table}");
    }
}
