//! `hopdb predict`: barriers from a stored model for hops given as structure files (hops that
//! are not in the store).

use anyhow::{bail, Result};
use clap::Args;
use hopdb::element::Element;
use hopdb::workflow::screen::{linked_for_new, new_records, predict_built_with};
use hopdb::workflow::NewHop;
use hopdb::store::Store;
use hopdb::structure::extxyz::read_any;
use hopdb::table::{Format, ResultTable, Value};
use std::path::{Path, PathBuf};

/// Arguments of `hopdb predict`.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// Name of a model stored in the store (TRAIN / TUNE).
    pub model: String,
    /// Initial structure: host plus the ion at its initial site (CIF, POSCAR/.vasp, or
    /// .xyz/.extxyz). Repeat with --final for several hops, paired in order.
    #[arg(long, required = true)]
    pub initial: Vec<PathBuf>,
    /// Final structure: the same cell with the ion at its final site.
    #[arg(long = "final", required = true)]
    pub final_: Vec<PathBuf>,
    /// The mobile ion (e.g. Li): once for every hop, or once per hop; inferred as the one atom
    /// that moves when not given.
    #[arg(long)]
    pub ion: Vec<String>,
    /// The MLIP barrier (eV) of each hop, in order, for a model whose feature set reads one
    /// (hop-v2): computed with the model and protocol of its MLIP label, e.g. by
    /// `hopdb.mlip.run_neb`; `none` where the NEB failed (the model sees it as missing).
    /// BVSE barriers are computed here.
    #[arg(long = "mlip-em", value_name = "EV|none")]
    pub mlip_em: Vec<String>,
    /// Output format.
    #[arg(long, value_parser = crate::cli::format_parser(), default_value = "table")]
    pub format: Format,
}

/// The `--mlip-em` values: numbers in eV, `none` for missing; `None` when not given.
fn mlip_values(a: &PredictArgs) -> Result<Option<Vec<Option<f64>>>> {
    if a.mlip_em.is_empty() {
        return Ok(None);
    }
    let vals = a
        .mlip_em
        .iter()
        .enumerate()
        .map(|(k, s)| match s.trim() {
            "none" | "None" | "" => Ok(None),
            t => t.parse::<f64>().map(Some).map_err(|_| anyhow::anyhow!("--mlip-em {s} (hop {}): expected a barrier in eV or `none`", k + 1)),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(vals))
}

fn ions(a: &PredictArgs) -> Result<Vec<Option<Element>>> {
    let n = a.initial.len();
    let parsed: Vec<Element> = a.ion.iter().map(|s| Element::from_symbol(s.trim()).map_err(|e| anyhow::anyhow!("--ion {s}: {e}"))).collect::<Result<_>>()?;
    Ok(match parsed.len() {
        0 => vec![None; n],
        1 => vec![Some(parsed[0]); n],
        k if k == n => parsed.into_iter().map(Some).collect(),
        k => bail!("--ion is given {k} times for {n} hops: give it once for all, or once per hop"),
    })
}

fn read(path: &Path, flag: &str) -> Result<hopdb::structure::Structure> {
    if !path.is_file() {
        bail!("--{flag} {}: no such file", path.display());
    }
    read_any(path).map_err(|e| anyhow::anyhow!("--{flag} {e}"))
}

/// `hopdb predict MODEL --initial A --final B [--ion X]`.
pub fn predict(db: &Path, a: PredictArgs) -> Result<()> {
    if a.initial.len() != a.final_.len() {
        bail!("{} --initial but {} --final files: give one final structure per initial one", a.initial.len(), a.final_.len());
    }
    let ions = ions(&a)?;
    let mut hops = Vec::with_capacity(a.initial.len());
    for ((ini, fin), ion) in a.initial.iter().zip(&a.final_).zip(ions) {
        hops.push(NewHop { initial: read(ini, "initial")?, final_: read(fin, "final")?, ion });
    }
    let store = Store::open(db)?;
    let model = hopdb::model::registry::load(&store, &a.model)?;
    let built = new_records(&hops)?;
    let mlip = mlip_values(&a)?;
    let linked = linked_for_new(&model, &built, mlip.as_deref())?;
    let predicted = predict_built_with(&model, &built, &linked)?;
    let mut t = ResultTable::new(&["hop", "initial", "final", "ion", "predicted_em"]);
    for (k, ((r, _), p)) in built.iter().zip(predicted).enumerate() {
        let name = |p: &PathBuf| Value::Str(p.display().to_string());
        t.push(vec![Value::Int(k as i64 + 1), name(&a.initial[k]), name(&a.final_[k]), Value::Str(r.ion.symbol().to_string()), Value::Num(p)]);
    }
    let out = t.render(a.format);
    println!("{}", out.trim_end());
    Ok(())
}
