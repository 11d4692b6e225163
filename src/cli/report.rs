//! `hopdb report MODEL --out DIR`.

use anyhow::Result;
use clap::Args;
use hopdb::store::Store;
use std::path::{Path, PathBuf};

/// Arguments of `hopdb report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Model name (see `SHOW MODELS`).
    pub model: String,
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Split to evaluate on (default: the stored split the model was trained on).
    #[arg(long)]
    pub split: Option<String>,
}

/// Write the report and say where it is.
pub fn report(db: &Path, a: ReportArgs) -> Result<()> {
    let store = Store::open(db)?;
    let files = hopdb::report::write_report(&store, &a.model, a.split.as_deref(), &a.out)?;
    let e = &files.evaluation;
    println!(
        "{}: test MAE {:.3} eV, R2 {:.3}, accuracy {:.3} on {} hops of split '{}'",
        a.model, e.test.mae, e.test.r2, e.classification.accuracy, e.test.n, e.split
    );
    println!("wrote {}", files.markdown.display());
    for p in &files.plots {
        println!("wrote {}", p.display());
    }
    Ok(())
}
