//! The queryable fields of the `hops` table: the single place where their names, types and
//! documentation are defined. The parser validates every field reference against [`FIELDS`],
//! `DESCRIBE hops` lists it, and the executor maps each [`Field`] onto a record value.

use serde::Serialize;
use std::fmt;

/// The value type of a queryable field: the type of a result column ([`crate::table::ColumnType`]).
pub use crate::table::ColumnType as FieldType;

/// The definition of one queryable field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FieldDef {
    /// Canonical (lower-case) name.
    pub name: &'static str,
    /// Value type.
    pub ty: FieldType,
    /// One-line description for `DESCRIBE hops`.
    pub doc: &'static str,
    /// Whether the store keeps a secondary index on this field.
    pub indexed: bool,
}

const fn def(name: &'static str, ty: FieldType, indexed: bool, doc: &'static str) -> FieldDef {
    FieldDef {
        name,
        ty,
        doc,
        indexed,
    }
}

use FieldType::{Bool, Int, Num, NumList, Str, StrList};

/// Every queryable field of the `hops` table, in `SELECT *` column order.
pub static FIELDS: &[FieldDef] = &[
    def("id", Str, true, "Unique identifier of the hop record"),
    def(
        "sys_name",
        Str,
        true,
        "Name of the material system the hop belongs to",
    ),
    def(
        "formula",
        Str,
        false,
        "Composition of the hop's cell (host plus the mobile ion), elements by atomic number, e.g. 'Li17 O36 Co18'",
    ),
    def(
        "composition",
        Str,
        false,
        "Composition of the simulation cell",
    ),
    def("ion", Str, true, "Migrating ion species, e.g. 'Li'"),
    def("em", Num, true, "Migration barrier Em in eV"),
    def(
        "fidelity",
        Str,
        true,
        "Level of theory / fidelity of the barrier",
    ),
    def("xc", Str, false, "Exchange-correlation functional"),
    def(
        "code",
        Str,
        false,
        "Simulation code that produced the barrier",
    ),
    def(
        "class",
        Str,
        true,
        "Structural class as published by the source",
    ),
    def("group", Str, true, "Normalised structural group"),
    def(
        "crystal_system",
        Str,
        false,
        "Crystal system of the host structure",
    ),
    def(
        "space_group",
        Str,
        false,
        "Space group of the host structure",
    ),
    def(
        "path",
        Str,
        false,
        "Label or description of the migration path",
    ),
    def(
        "state",
        Str,
        false,
        "State label of the hop (e.g. charge or spin state)",
    ),
    def(
        "source",
        Str,
        true,
        "Source dataset the record was imported from",
    ),
    def("source_file", Str, false, "File within the source dataset"),
    def(
        "source_record",
        Str,
        false,
        "Record identifier within the source file",
    ),
    def(
        "partition",
        Str,
        true,
        "'train'/'test' partition recorded at import",
    ),
    def("natoms", Int, false, "Number of atoms in the cell"),
    def(
        "nelements",
        Int,
        false,
        "Number of distinct elements of the cell (host and mobile ion)",
    ),
    def(
        "elements",
        StrList,
        true,
        "Element symbols of the cell (host and mobile ion) by atomic number (query with HAS, LENGTH)",
    ),
    def("hop_length", Num, true, "Length of the hop in Angstrom"),
    def("volume", Num, false, "Cell volume in cubic Angstrom"),
    def(
        "citation",
        Str,
        false,
        "Citation of the publication the barrier comes from",
    ),
    def(
        "doi",
        Str,
        false,
        "DOI of the publication the barrier comes from",
    ),
    def(
        "flags",
        StrList,
        false,
        "Quality and processing flags (query with HAS)",
    ),
    def(
        "parent",
        Str,
        false,
        "Id of the record this one was derived from",
    ),
    def(
        "converged",
        Bool,
        false,
        "Whether the barrier calculation converged",
    ),
    def(
        "imported_at",
        Str,
        false,
        "Time the record was imported (RFC 3339)",
    ),
    def("revisions", Int, false, "Number of revisions of the record"),
    def(
        "chemical_formula_reduced",
        Str,
        false,
        "OPTIMADE reduced formula of the cell (host and mobile ion): elements alphabetical, counts divided by their gcd",
    ),
    def(
        "chemical_formula_anonymous",
        Str,
        false,
        "OPTIMADE anonymous formula: the reduced counts largest first, named A, B, C, ...",
    ),
    def("nsites", Int, false, "OPTIMADE number of sites of the cell (host and mobile ion; the same as natoms)"),
    def(
        "elements_ratios",
        NumList,
        false,
        "OPTIMADE share of the sites of each element, in the order of elements (query with LENGTH)",
    ),
];

/// Index into [`FIELDS`] of the field called `name` (case-insensitive).
pub fn field_index(name: &str) -> Option<usize> {
    FIELDS
        .iter()
        .position(|d| d.name.eq_ignore_ascii_case(name))
}

/// The definition of the field called `name` (case-insensitive).
pub fn lookup(name: &str) -> Option<&'static FieldDef> {
    field_index(name).map(|i| &FIELDS[i])
}

/// The field name closest to the unknown `name` by edit distance, if one is close enough to
/// be worth suggesting ("unknown field 'emm', did you mean 'em'?").
pub fn suggest(name: &str) -> Option<&'static str> {
    closest(name, FIELDS.iter().map(|d| d.name))
}

/// The candidate closest to `name` (case-insensitive Levenshtein distance), if within a
/// threshold that grows with the length of `name`; ties go to the earliest candidate.
pub fn closest<'a, I>(name: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = name.to_ascii_lowercase();
    let len = lower.chars().count();
    let threshold = match len {
        0 => return None,
        1..=3 => 1,
        4..=6 => 2,
        _ => 3,
    };
    let mut best: Option<(usize, &'a str)> = None;
    for cand in candidates {
        let d = levenshtein(&lower, &cand.to_ascii_lowercase());
        if d <= threshold && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, cand));
        }
    }
    best.map(|(_, c)| c)
}

/// Levenshtein edit distance between two strings, counted in chars.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// A validated reference to one of the [`FIELDS`]: what the AST stores for a field.
///
/// Compares, hashes and prints by canonical name.
#[derive(Clone, Copy)]
pub struct Field(&'static FieldDef);

impl Field {
    /// The field called `name` (case-insensitive), if it exists.
    pub fn lookup(name: &str) -> Option<Field> {
        lookup(name).map(Field)
    }

    /// The field at `index` in [`FIELDS`].
    ///
    /// # Panics
    /// If `index >= FIELDS.len()`.
    pub fn from_index(index: usize) -> Field {
        Field(&FIELDS[index])
    }

    /// All fields, in table order.
    pub fn all() -> impl Iterator<Item = Field> {
        FIELDS.iter().map(Field)
    }

    /// Canonical name, e.g. `"em"`.
    pub fn name(self) -> &'static str {
        self.0.name
    }

    /// Value type.
    pub fn ty(self) -> FieldType {
        self.0.ty
    }

    /// The full definition.
    pub fn def(self) -> &'static FieldDef {
        self.0
    }

    /// Position of this field in [`FIELDS`] (and in `SELECT *` output).
    pub fn index(self) -> usize {
        field_index(self.0.name).expect("Field always refers to an entry of FIELDS")
    }
}

impl PartialEq for Field {
    fn eq(&self, other: &Self) -> bool {
        self.0.name == other.0.name
    }
}

impl Eq for Field {}

impl std::hash::Hash for Field {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.name.hash(state);
    }
}

impl fmt::Debug for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Field({})", self.0.name)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_lowercase_identifiers() {
        for (i, d) in FIELDS.iter().enumerate() {
            assert_eq!(d.name, d.name.to_ascii_lowercase());
            assert!(d
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_'));
            assert_eq!(field_index(d.name), Some(i), "duplicate field {}", d.name);
        }
    }

    #[test]
    fn lookup_is_case_insensitive() {
        assert_eq!(lookup("EM").unwrap().name, "em");
        assert_eq!(Field::lookup("Elements").unwrap().ty(), FieldType::StrList);
        assert!(lookup("emm").is_none());
    }

    #[test]
    fn levenshtein_basics() {
        assert_eq!(levenshtein("", ""), 0);
        assert_eq!(levenshtein("abc", ""), 3);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("emm", "em"), 1);
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("emm"), Some("em"));
        assert_eq!(suggest("formla"), Some("formula"));
        assert_eq!(suggest("ELEMNTS"), Some("elements"));
        assert_eq!(suggest("natom"), Some("natoms"));
        assert_eq!(suggest("zzzzzzzz"), None);
    }

    #[test]
    fn field_index_roundtrip() {
        for f in Field::all() {
            assert_eq!(Field::from_index(f.index()), f);
        }
    }
}
