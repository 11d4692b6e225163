//! `hopdb bvse ...`: BVSE barriers for stored hops, the BVSE corpus, and BVSE vs DFT.

use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};
use hopdb::bvse::corpus::{self, ComputeOptions, CorpusOptions};
use hopdb::bvse::Recipe;
use hopdb::element::Element;
use hopdb::store::Store;
use hopdb::table::{Format, ResultTable, Value};
use std::path::{Path, PathBuf};

/// A BVSE recipe on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RecipeArg {
    /// hopdb's own: host framework, climbing-image NEB, barrier = max - initial.
    Hopdb,
    /// The `ions` package's recipe (8 A supercell, 5 images, no climbing, max - min).
    Ions,
}

impl From<RecipeArg> for Recipe {
    fn from(r: RecipeArg) -> Recipe {
        match r {
            RecipeArg::Hopdb => Recipe::Hopdb,
            RecipeArg::Ions => Recipe::Ions,
        }
    }
}

/// A kind of framework substitution on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SwapArg {
    /// Transition metals swapped within one oxidation state.
    Framework,
    /// Anions swapped within O/S/Se and F/Cl/Br.
    Anion,
}

/// BVSE commands.
#[derive(Subcommand, Debug)]
pub enum BvseCmd {
    /// A BVSE barrier for each selected hop, stored as a `bvse` record linked to it
    /// (all-or-nothing unless --skip-failed; hops already done are not recomputed).
    #[command(after_help = "Example:\n  hopdb bvse compute --from \"SELECT * FROM hops WHERE fidelity = 'dft'\" --skip-failed\n  hopdb bvse compute --from \"SELECT * FROM hops WHERE ion = 'Li'\" --recipe ions --format json")]
    Compute {
        /// HopQL query selecting the hops.
        #[arg(long, default_value = "SELECT * FROM hops WHERE fidelity = 'dft'")]
        from: String,
        /// Recipe.
        #[arg(long, value_enum, default_value_t = RecipeArg::Hopdb)]
        recipe: RecipeArg,
        /// Store the hops that worked and report the failures (default: write nothing when
        /// one fails).
        #[arg(long)]
        skip_failed: bool,
        /// Output format.
        #[arg(long, value_parser = crate::cli::format_parser(), default_value = "table")]
        format: Format,
    },
    /// Build or extend the BVSE corpus: enumerated hops of every stored structure and its
    /// mobile-ion substitution variants (resumable, one atomic write per batch).
    #[command(after_help = "Example:\n  hopdb bvse corpus --target 2000 --seed 0\n  hopdb bvse corpus --target 100000 --batch 1024 --ions Li,Na,K,Mg,Ca,Zn\n  hopdb bvse corpus --target 120000 --swaps framework,anion --strains 1.0\n\n  hopdb export jsonl --out parents.jsonl && hopdb bvse corpus --target 20000 --shard 2/4 --parents parents.jsonl --out parts/\n\nRe-running (or running with a larger target) continues where the last run stopped.\nThe rules are in docs/BVSE_CORPUS.md; shards and their merge in docs/SCALING.md.")]
    Corpus {
        /// Stop once this many corpus records are stored.
        #[arg(long)]
        target: usize,
        /// Seed of the work order (the same seed gives the same corpus).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Hops per batch (one atomic write each).
        #[arg(long, default_value_t = 512)]
        batch: usize,
        /// Mobile ions of the substitution variants (comma-separated).
        #[arg(long, default_value = "Li,Na,K,Mg,Ca,Zn", value_delimiter = ',')]
        ions: Vec<String>,
        /// Isotropic lattice scales of the variants (comma-separated; 1.0 keeps the lattice).
        #[arg(long, default_value = "0.90,0.92,0.94,0.96,0.98,1.0,1.02,1.04,1.06,1.08,1.10", value_delimiter = ',')]
        strains: Vec<f64>,
        /// Recipe.
        #[arg(long, value_enum, default_value_t = RecipeArg::Hopdb)]
        recipe: RecipeArg,
        /// Framework substitutions for a broad corpus (comma-separated): `framework`
        /// (transition metals swapped within one oxidation state), `anion` (O/S/Se, F/Cl/Br).
        #[arg(long, value_enum, value_delimiter = ',')]
        swaps: Vec<SwapArg>,
        /// HopQL query selecting the records whose structures are the parents (default: every
        /// non-BVSE record).
        #[arg(long)]
        from: Option<String>,
        /// Compute the work items remembered as failed again (after an upgrade of the BVSE
        /// engine added fallbacks, say); a success replaces the failure marker.
        #[arg(long)]
        retry_failed: bool,
        /// Compute shard I of N (1-based, e.g. 3/8) without a store: read the parents from
        /// --parents, write Parquet parts into --out, merge them with `hopdb import parquet`
        /// (docs/SCALING.md).
        #[arg(long, value_name = "I/N", requires_all = ["parents", "out"])]
        shard: Option<String>,
        /// Parent records of a shard: a JSON-lines export of a store (`hopdb export jsonl`).
        #[arg(long, value_name = "FILE.jsonl", requires = "shard")]
        parents: Option<PathBuf>,
        /// Directory of a shard's Parquet parts and state file (a rerun resumes).
        #[arg(long, value_name = "DIR", requires = "shard")]
        out: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_parser = crate::cli::format_parser(), default_value = "table")]
        format: Format,
    },
    /// How broad the BVSE records are: distinct chemical systems, elements, ions, parent
    /// structures, frameworks (composition-independent fingerprints) and space groups, and
    /// the barrier distribution beside the DFT one.
    #[command(after_help = "Example:\n  hopdb bvse breadth\n  hopdb bvse breadth --from \"SELECT * FROM hops WHERE fidelity = 'bvse' AND converged = true\" --format json")]
    Breadth {
        /// HopQL query selecting the BVSE records (default: all).
        #[arg(long)]
        from: Option<String>,
        /// Output format.
        #[arg(long, value_parser = crate::cli::format_parser(), default_value = "table")]
        format: Format,
    },
    /// How the BVSE engine sees one stored hop: the classes of equivalent sites, their
    /// bond-valence sums, candidate oxidation states, the rules and the assignment (or why
    /// there is none), and the softBV pairs it would use.
    #[command(after_help = "Example:\n  hopdb bvse explain LiCoO2_1\n  hopdb bvse explain devi2025:Li3PS4_1 --format json")]
    Explain {
        /// Record id or sys_name.
        id: String,
        /// Output format.
        #[arg(long, value_parser = crate::cli::format_parser(), default_value = "table")]
        format: Format,
    },
    /// Pearson and Spearman correlation, MAE and counts of stored BVSE barriers against
    /// their parent (DFT) barriers, for all and for converged BVSE records; then the coverage
    /// of the stored hops per recipe and structural group (JSON: `agreement`, `coverage`).
    #[command(after_help = "Example:\n  hopdb bvse compare\n  hopdb bvse compare --from \"SELECT * FROM hops WHERE fidelity = 'bvse' AND ion = 'Li'\" --format json")]
    Compare {
        /// HopQL query selecting the BVSE records (default: all).
        #[arg(long)]
        from: Option<String>,
        /// Output format.
        #[arg(long, value_parser = crate::cli::format_parser(), default_value = "table")]
        format: Format,
    },
}

/// The ids an optional `--from` query selects (`None` without one).
fn selected(store: &Store, from: Option<&str>) -> Result<Option<Vec<String>>> {
    Ok(match from {
        Some(q) => Some(hopdb::query::select_ids(store, q)?),
        None => None,
    })
}

fn counts_table(title: &str, rows: &[(String, Value)]) -> ResultTable {
    let mut t = ResultTable::new(&["what", "value"]).titled(title);
    for (k, v) in rows {
        t.push(vec![Value::Str(k.clone()), v.clone()]);
    }
    t
}

/// Run a BVSE command; one that wrote says the store's new data version.
/// The corpus options of `bvse corpus`'s arguments, checked.
#[allow(clippy::too_many_arguments)]
fn corpus_options(
    target: usize,
    seed: u64,
    batch: usize,
    ions: &[String],
    strains: Vec<f64>,
    recipe: RecipeArg,
    swaps: &[SwapArg],
    parent_records: Option<Vec<String>>,
    retry_failed: bool,
) -> Result<CorpusOptions> {
    if strains.is_empty() || strains.iter().any(|s| !s.is_finite() || *s < 0.5 || *s > 2.0) {
        anyhow::bail!("--strains: give lattice scales between 0.5 and 2.0, e.g. 1.0,0.97,1.03");
    }
    let ions: Vec<Element> = ions
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| Element::from_symbol(s.trim()).map_err(|e| anyhow::anyhow!("--ions: {e}")))
        .collect::<Result<_>>()?;
    let swaps = swaps
        .iter()
        .map(|s| match s {
            SwapArg::Framework => corpus::SwapKind::Framework,
            SwapArg::Anion => corpus::SwapKind::Anion,
        })
        .collect();
    Ok(CorpusOptions { target, seed, batch, ions, strains, recipe: recipe.into(), swaps, parent_records, retry_failed, ..Default::default() })
}

/// `bvse corpus` commands that need no store (a shard).
fn run_without_store(cmd: BvseCmd) -> Result<()> {
    match cmd {
        BvseCmd::Corpus { target, seed, batch, ions, strains, recipe, swaps, from, retry_failed, shard: Some(shard), parents: Some(parents), out: Some(out), format } => {
            if from.is_some() {
                anyhow::bail!("--from selects parents in a store; a shard reads its parents from --parents (export the records you want: `hopdb export jsonl --out parents.jsonl --query \"SELECT id FROM hops WHERE ...\"`)");
            }
            if retry_failed {
                anyhow::bail!("--retry-failed applies to a store; a shard's failures are in its parts");
            }
            let opts = corpus_options(target, seed, batch, &ions, strains, recipe, &swaps, None, false)?;
            corpus_shard(&shard, &parents, &out, &opts, format)
        }
        _ => anyhow::bail!("--shard needs --parents FILE.jsonl and --out DIR"),
    }
}

/// The table of a `bvse corpus` run.
fn print_corpus_report(rep: &corpus::CorpusReport, opts: &CorpusOptions, format: Format) {
    let mut rows = vec![
        ("target".to_string(), Value::Int(rep.target as i64)),
        ("parent structures".to_string(), Value::Int(rep.parents as i64)),
        ("hops available".to_string(), Value::Int(rep.available as i64)),
        ("work items scanned".to_string(), Value::Int(rep.scanned as i64)),
        ("already stored".to_string(), Value::Int(rep.already_stored as i64)),
        ("already failed".to_string(), Value::Int(rep.already_failed as i64)),
        ("computed now".to_string(), Value::Int(rep.computed as i64)),
        ("stored now".to_string(), Value::Int(rep.stored as i64)),
        ("stored now, not converged".to_string(), Value::Int(rep.not_converged as i64)),
    ];
    for (reason, n) in &rep.failed {
        rows.push((format!("failed now: {reason}"), Value::Int(*n as i64)));
    }
    rows.extend([
        ("batches".to_string(), Value::Int(rep.batches as i64)),
        ("corpus records".to_string(), Value::Int(rep.corpus_records as i64)),
        ("work list exhausted".to_string(), Value::Bool(rep.exhausted)),
        ("seconds".to_string(), Value::Num(rep.seconds)),
        ("records/s".to_string(), Value::Num(if rep.compute_seconds > 0.0 { rep.stored as f64 / rep.compute_seconds } else { 0.0 })),
    ]);
    println!("{}", counts_table(&format!("bvse corpus ({}, seed {})", opts.recipe.as_str(), opts.seed), &rows).render(format));
    if rep.exhausted {
        eprintln!("note: the work list ran out at {} corpus records, below the target {}", rep.corpus_records, rep.target);
    }
}

/// The shard `I/N` (1-based) as (0-based index, count).
fn parse_shard(text: &str) -> Result<(usize, usize)> {
    let bad = || anyhow::anyhow!("--shard {}: give I/N with 1 <= I <= N, e.g. 3/8", text);
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if n == 0 || i == 0 || i > n {
        return Err(bad());
    }
    Ok((i - 1, n))
}

/// `bvse corpus --shard I/N`: one shard, without a store.
fn corpus_shard(shard: &str, parents: &Path, out: &Path, opts: &CorpusOptions, format: Format) -> Result<()> {
    let (i, n) = parse_shard(shard)?;
    let parents = hopdb::bvse::shard::parents_from_export(parents)?;
    let rep = hopdb::bvse::shard::corpus_shard(&parents, opts, i, n, out).context("bvse corpus shard (parts written before the error are kept; re-run to continue)")?;
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
        return Ok(());
    }
    let rows = vec![
        ("parent structures".to_string(), Value::Int(rep.parents as i64)),
        ("work items (all shards)".to_string(), Value::Int(rep.work_items as i64)),
        ("work items of this shard".to_string(), Value::Int(rep.shard_items as i64)),
        ("quota (records)".to_string(), Value::Int(rep.quota as i64)),
        ("computed now".to_string(), Value::Int(rep.computed as i64)),
        ("stored now".to_string(), Value::Int(rep.stored as i64)),
        ("failed now".to_string(), Value::Int(rep.failed as i64)),
        ("parts written now".to_string(), Value::Int(rep.parts_written as i64)),
        ("records of this shard".to_string(), Value::Int(rep.state.stored as i64)),
        ("shard finished its items".to_string(), Value::Bool(rep.state.next_index.is_none())),
        ("seconds".to_string(), Value::Num(rep.seconds)),
    ];
    println!("{}", counts_table(&format!("bvse corpus shard {}/{n} (seed {})", i + 1, opts.seed), &rows).render(format));
    Ok(())
}

pub fn run(db: &Path, cmd: BvseCmd) -> Result<()> {
    if let BvseCmd::Corpus { shard: Some(_), .. } = &cmd {
        return run_without_store(cmd);
    }
    let store = Store::open(db)?;
    let before = store.version()?.seq;
    let out = run_in(&store, cmd);
    if store.version()?.seq != before {
        super::records::note_version(&store)?;
    }
    out
}

fn run_in(store: &Store, cmd: BvseCmd) -> Result<()> {
    match cmd {
        BvseCmd::Compute { from, recipe, skip_failed, format } => {
            let ids = hopdb::query::select_ids(&store, &from)?;
            let opts = ComputeOptions { recipe: recipe.into(), skip_failed };
            let rep = corpus::compute(&store, &ids, &opts)?;
            if format == Format::Json {
                println!("{}", serde_json::to_string_pretty(&rep)?);
                return Ok(());
            }
            let mut rows = vec![
                ("selected".to_string(), Value::Int(rep.selected as i64)),
                ("stored".to_string(), Value::Int(rep.stored.len() as i64)),
                ("stored, not converged".to_string(), Value::Int(rep.not_converged as i64)),
                ("already stored".to_string(), Value::Int(rep.already_stored as i64)),
                ("skipped (derived bvse or mlip records)".to_string(), Value::Int(rep.skipped_bvse as i64)),
                ("failed".to_string(), Value::Int(rep.failures.len() as i64)),
            ];
            for (reason, n) in corpus::counts_by_reason(&rep.failures) {
                rows.push((format!("failed: {reason}"), Value::Int(n as i64)));
            }
            rows.push(("seconds".to_string(), Value::Num(rep.seconds)));
            println!("{}", counts_table(&format!("bvse compute ({})", opts.recipe.as_str()), &rows).render(format));
            if !rep.failures.is_empty() {
                let mut t = ResultTable::new(&["record", "reason", "message"]).titled("Failed hops");
                for f in &rep.failures {
                    t.push(vec![Value::Str(f.id.clone()), Value::Str(f.reason.to_string()), Value::Str(f.message.clone())]);
                }
                println!("{}", t.render(format));
            }
            Ok(())
        }
        BvseCmd::Corpus { target, seed, batch, ions, strains, recipe, swaps, from, retry_failed, format, .. } => {
            let parent_records = selected(store, from.as_deref())?;
            let opts = corpus_options(target, seed, batch, &ions, strains, recipe, &swaps, parent_records, retry_failed)?;
            let rep = corpus::corpus(&store, &opts).context("bvse corpus (batches committed before the error are kept; re-run to continue)")?;
            if format == Format::Json {
                println!("{}", serde_json::to_string_pretty(&rep)?);
                return Ok(());
            }
            print_corpus_report(&rep, &opts, format);
            Ok(())
        }

        BvseCmd::Explain { id, format } => explain(store, &id, format),
        BvseCmd::Breadth { from, format } => {
            let ids = selected(store, from.as_deref())?;
            let b = corpus::breadth(store, ids.as_deref())?;
            if b.records == 0 {
                anyhow::bail!("no BVSE records selected (build some with `hopdb bvse corpus` or `hopdb bvse compute`)");
            }
            if format == Format::Json {
                println!("{}", serde_json::to_string_pretty(&b)?);
                return Ok(());
            }
            let rows = vec![
                ("records".to_string(), Value::Int(b.records as i64)),
                ("converged".to_string(), Value::Int(b.converged as i64)),
                ("chemical systems".to_string(), Value::Int(b.chemical_systems as i64)),
                ("elements".to_string(), Value::Int(b.elements as i64)),
                ("mobile ions".to_string(), Value::Int(b.ions as i64)),
                ("parent structures".to_string(), Value::Int(b.parent_structures as i64)),
                ("frameworks".to_string(), Value::Int(b.frameworks as i64)),
                ("space groups (parent records)".to_string(), Value::Int(b.space_groups as i64)),
            ];
            println!("{}\n", counts_table("Breadth of the BVSE records", &rows).render(format));
            let mut t = ResultTable::new(&["barriers", "n", "min", "p10", "p25", "median", "p75", "p90", "max"]).titled("Barrier distribution (eV)");
            for (name, q) in [("bvse (selected)", &b.em), ("dft (store)", &b.dft_em)] {
                t.push(vec![
                    Value::Str(name.into()),
                    Value::Int(q.n as i64),
                    Value::Num(q.min),
                    Value::Num(q.p10),
                    Value::Num(q.p25),
                    Value::Num(q.median),
                    Value::Num(q.p75),
                    Value::Num(q.p90),
                    Value::Num(q.max),
                ]);
            }
            println!("{}", t.render(format));
            Ok(())
        }
        BvseCmd::Compare { from, format } => {
            let ids = selected(store, from.as_deref())?;
            let rows = corpus::compare(&store, ids.as_deref())?;
            if rows.is_empty() {
                anyhow::bail!("no BVSE records with a stored parent selected (run `hopdb bvse compute` first)");
            }
            let cov = corpus::coverage(store)?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&serde_json::json!({"agreement": rows, "coverage": cov}))?),
                f => println!("{}\n\n{}", corpus::compare_table(&rows).render(f), corpus::coverage_table(&cov).render(f)),
            }
            Ok(())
        }
    }
}

/// `hopdb bvse explain`: the oxidation-state analysis of one stored hop, then its softBV pairs.
fn explain(store: &Store, id: &str, format: Format) -> Result<()> {
    use hopdb::bvse::{hop_oxidation_states, OxidationBasis};
    let id = store.resolve_id(id)?;
    let r = store.record(&id)?;
    let host = store.structure(&r.host)?;
    let hop = hop_oxidation_states(&host, r.ion, r.initial, r.final_site);
    let basis = match hop.basis {
        OxidationBasis::HostWithBothSites => "host + ion on both sites",
        OxidationBasis::HostWithInitialSite => "host + ion on the initial site (the final site copies it)",
    };
    let prepared = hopdb::bvse::prepare_hop(&host, r.ion, r.initial, r.final_site, Recipe::Hopdb);
    if format == Format::Json {
        let classes = &hop.analysis.classes;
        let out = serde_json::json!({
            "record": id,
            "formula": hop.analysis.formula,
            "basis": basis,
            "classes": classes,
            "search_nodes": hop.analysis.nodes,
            "assignment": hop.outcome.as_ref().ok(),
            "error": hop.outcome.as_ref().err().map(|e| e.to_string()),
            "softbv_fallbacks": prepared.as_ref().ok().map(|p| p.field.fallbacks().to_vec()),
            "prepare_error": prepared.as_ref().err().map(|e| e.to_string()),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let title = match &hop.outcome {
        Ok(a) => format!(
            "Oxidation states of {} ({basis}): {}{}",
            hop.analysis.formula,
            a.method.as_str(),
            a.fractional.map(|e| format!(", {e} fractional")).unwrap_or_default()
        ),
        Err(e) => format!("Oxidation states of {} ({basis}): none ({e})", hop.analysis.formula),
    };
    let mut t = ResultTable::new(&["class", "element", "sites", "bv sum", "candidates (probability)", "rule", "state"]).titled(title);
    for (k, c) in hop.analysis.classes.iter().enumerate() {
        let sites = if c.sites.len() <= 4 {
            c.sites.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",")
        } else {
            format!("{} ({},{},..)", c.sites.len(), c.sites[0], c.sites[1])
        };
        let top = c.candidates.first().map_or(0.0, |x| x.1);
        let cands = c
            .candidates
            .iter()
            .filter(|x| x.1 > 1e-4 * top)
            .map(|(v, p)| format!("{v:+} ({p:.3})"))
            .collect::<Vec<_>>()
            .join(" ");
        t.push(vec![
            Value::Int(k as i64),
            Value::Str(c.element.to_string()),
            Value::Str(sites),
            c.bv_sum.map_or(Value::Null, Value::Num),
            Value::Str(cands),
            c.rule.clone().map_or(Value::Null, Value::Str),
            c.state.map_or(Value::Null, |v| Value::Str(if v == v.round() { format!("{v:+}") } else { format!("{v:+.4}") })),
        ]);
    }
    println!("{}", t.render(format));
    match &prepared {
        Ok(p) if p.field.fallbacks().is_empty() => println!("softBV: every (mobile ion, anion) pair is tabulated"),
        Ok(p) => {
            for fb in p.field.fallbacks() {
                println!("softBV fallback: {fb}");
            }
        }
        Err(e) => println!("the hop cannot be set up: {e}"),
    }
    Ok(())
}
