//! Store statistics: counts by fidelity, mobile ion, structural group, class label, XC
//! functional and source partition, as result tables.

use crate::store::{Result, Store};
use crate::table::{ResultTable, Value};
use std::collections::BTreeMap;

/// Summary counts of a store.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Stats {
    /// Number of records.
    pub records: usize,
    /// Number of distinct host structures.
    pub structures: usize,
    /// Counts per fidelity.
    pub fidelity: BTreeMap<String, usize>,
    /// Counts per mobile ion.
    pub ion: BTreeMap<String, usize>,
    /// Counts per normalised structural group.
    pub group: BTreeMap<String, usize>,
    /// Counts per class label as published.
    pub class: BTreeMap<String, usize>,
    /// Counts per XC functional ("(none)" when not given).
    pub xc: BTreeMap<String, usize>,
    /// Counts per source partition.
    pub partition: BTreeMap<String, usize>,
    /// Counts per data-quality flag.
    pub flags: BTreeMap<String, usize>,
    /// Size on disk in bytes.
    pub bytes_on_disk: u64,
    /// The data version: sequence number of the last write.
    pub data_version: u64,
    /// Time of the last write (RFC 3339).
    pub data_version_at: String,
}

/// Compute the statistics: index-backed counts plus one streaming scan for XC and flags.
pub fn compute(store: &Store) -> Result<Stats> {
    let version = store.version()?;
    let mut st = Stats {
        data_version: version.seq,
        data_version_at: version.at,
        fidelity: store.index_counts("fidelity")?,
        ion: store.index_counts("ion")?,
        group: store.index_counts("group")?,
        class: store.index_counts("class")?,
        partition: store.index_counts("partition")?,
        structures: store.structure_ids()?.len(),
        bytes_on_disk: store.size_on_disk()?,
        ..Default::default()
    };
    for r in store.records() {
        let r = r?;
        st.records += 1;
        *st.xc.entry(r.method.xc.clone().unwrap_or_else(|| "(none)".into())).or_default() += 1;
        for f in &r.flags {
            *st.flags.entry(f.clone()).or_default() += 1;
        }
    }
    Ok(st)
}

fn count_table(title: &str, key: &str, m: &BTreeMap<String, usize>) -> ResultTable {
    let mut t = ResultTable::new(&[key, "hops"]).titled(title);
    let mut rows: Vec<_> = m.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (k, n) in rows {
        t.push(vec![Value::Str(k.clone()), Value::Int(*n as i64)]);
    }
    t
}

impl Stats {
    /// The statistics as a list of tables (overall, then one per dimension).
    pub fn tables(&self) -> Vec<ResultTable> {
        let mut overall = ResultTable::new(&["quantity", "value"]).titled("Store");
        overall.push(vec![Value::Str("hops".into()), Value::Int(self.records as i64)]);
        overall.push(vec![Value::Str("host structures".into()), Value::Int(self.structures as i64)]);
        overall.push(vec![Value::Str("mobile ions".into()), Value::Int(self.ion.len() as i64)]);
        overall.push(vec![Value::Str("class labels".into()), Value::Int(self.class.len() as i64)]);
        overall.push(vec![Value::Str("structural groups".into()), Value::Int(self.group.len() as i64)]);
        overall.push(vec![Value::Str("MiB on disk".into()), Value::Num(self.bytes_on_disk as f64 / 1048576.0)]);
        overall.push(vec![Value::Str("data version".into()), Value::Int(self.data_version as i64)]);
        vec![
            overall,
            count_table("By fidelity", "fidelity", &self.fidelity),
            count_table("By source partition", "partition", &self.partition),
            count_table("By mobile ion", "ion", &self.ion),
            count_table("By XC functional", "xc", &self.xc),
            count_table("By structural group (normalised)", "group", &self.group),
            count_table("By structural class (as published)", "class", &self.class),
            count_table("By data-quality flag", "flag", &self.flags),
        ]
    }
}
