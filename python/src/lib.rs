//! `hopdb._hopdb`: the compiled part of the Python package. Every method is a thin layer over
//! the Rust library (the same calls the CLI makes); the pure-Python package `hopdb` wraps it
//! with ASE / pymatgen / pandas conveniences. Long calls release the GIL.

use hopdb::import::source::{self, Added, HopStructures, NewRecord, Source};
use hopdb::import::{ImportError, ImportOptions, ImportReport};
use hopdb::workflow::screen::NewHop;
use hopdb::record::{Edit, Fidelity, HopRecord, HopView, IntercalationState, SourcePartition};
use hopdb::table::Value;
use hopdb::store::{Store, StoreError};
use hopdb::structure::{Lattice, Structure, Vec3};
use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyCapsule, PyDict, PyFloat, PyInt, PyList, PyTuple};
use hopdb::table::arrow::arrow_array::ffi_stream::FFI_ArrowArrayStream;
use hopdb::table::arrow::arrow_array::{RecordBatch, RecordBatchIterator};
use std::sync::Mutex;
use std::path::PathBuf;
use std::sync::RwLock;

/// mimalloc for the Rust side of the extension (Python objects keep Python's allocator): the
/// query path allocates many small values, and glibc's malloc cost about half of an indexed
/// `SELECT *` into Arrow.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pyo3::create_exception!(_hopdb, Error, PyException, "Base class of every error hopdb raises.");
pyo3::create_exception!(_hopdb, QueryError, Error, "A HopQL statement did not parse or validate; `.line` and `.column` (1-based) locate the offending token, and str() shows the line with a caret under it.");
pyo3::create_exception!(_hopdb, StoreLockedError, Error, "Another process holds the store (one process at a time: close it there first).");
pyo3::create_exception!(_hopdb, ImportRejected, Error, "An import wrote nothing: `.rejections` lists (file, record, field, message) for every rejected record.");
pyo3::create_exception!(_hopdb, NotFound, Error, "No record, split or model with that name.");

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/// Every library error this module can meet, converted to the Python exception it maps to.
enum Failure {
    Store(StoreError),
    Import(ImportError),
    Query(hopdb::query::exec::ExecError),
    Split(hopdb::split::SplitError),
    Modeling(hopdb::workflow::WorkflowError),
    Export(hopdb::export::ExportError),
    Value(String),
    Other(String),
    Closed,
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}
impl From<ImportError> for Failure {
    fn from(e: ImportError) -> Self {
        Failure::Import(e)
    }
}
impl From<hopdb::query::exec::ExecError> for Failure {
    fn from(e: hopdb::query::exec::ExecError) -> Self {
        Failure::Query(e)
    }
}
impl From<hopdb::export::ExportError> for Failure {
    fn from(e: hopdb::export::ExportError) -> Self {
        Failure::Export(e)
    }
}
impl From<hopdb::split::SplitError> for Failure {
    fn from(e: hopdb::split::SplitError) -> Self {
        Failure::Split(e)
    }
}
impl From<hopdb::workflow::WorkflowError> for Failure {
    fn from(e: hopdb::workflow::WorkflowError) -> Self {
        Failure::Modeling(e)
    }
}

fn store_err(e: &StoreError) -> PyErr {
    match e {
        StoreError::Locked(_) => StoreLockedError::new_err(e.to_string()),
        StoreError::NotFound(_) | StoreError::NoSuchRecord(_) | StoreError::NotAStore(_) => NotFound::new_err(e.to_string()),
        _ => Error::new_err(e.to_string()),
    }
}

fn split_err(e: &hopdb::split::SplitError) -> PyErr {
    use hopdb::split::SplitError as S;
    match e {
        S::NotFound(_) => NotFound::new_err(e.to_string()),
        S::Store(s) => store_err(s),
        _ => Error::new_err(e.to_string()),
    }
}

fn modeling_err(e: &hopdb::workflow::WorkflowError) -> PyErr {
    use hopdb::workflow::WorkflowError as M;
    match e {
        M::Model(hopdb::model::ModelError::NotFound(_)) => NotFound::new_err(e.to_string()),
        M::Split(s) => split_err(s),
        M::Store(s) => store_err(s),
        _ => Error::new_err(e.to_string()),
    }
}

fn rejected(py: Python<'_>, msg: String, rows: Vec<(String, String, String, String)>) -> PyErr {
    let err = ImportRejected::new_err(msg);
    let list = PyList::empty(py);
    for (file, record, field, message) in rows {
        if let Ok(t) = PyTuple::new(py, [file, record, field, message]) {
            let _ = list.append(t);
        }
    }
    let _ = err.value(py).setattr("rejections", list);
    err
}

impl Failure {
    fn to_py_err(self, py: Python<'_>) -> PyErr {
        use hopdb::query::exec::ExecError as X;
        match self {
            Failure::Store(e) => store_err(&e),
            Failure::Import(ImportError::Invalid(rej)) => {
                let msg = ImportError::Invalid(rej.clone()).to_string();
                let rows = rej
                    .iter()
                    .map(|r| {
                        let p = r.parts();
                        (p.file, p.record, p.field, p.message)
                    })
                    .collect();
                rejected(py, msg, rows)
            }
            Failure::Import(e @ ImportError::Malformed { .. }) => {
                let ImportError::Malformed { file, msg } = &e else { unreachable!() };
                let row = (file.display().to_string(), String::new(), String::new(), msg.clone());
                rejected(py, e.to_string(), vec![row])
            }
            Failure::Import(ImportError::Store(e)) => store_err(&e),
            Failure::Query(X::Query(q)) => {
                let err = QueryError::new_err(q.to_string());
                let v = err.value(py);
                let _ = v.setattr("line", q.line);
                let _ = v.setattr("column", q.column);
                let _ = v.setattr("message", q.message.clone());
                err
            }
            Failure::Query(X::Store(e)) => store_err(&e),
            Failure::Query(X::Split(e)) => split_err(&e),
            Failure::Query(X::Workflow(e)) => modeling_err(&e),
            Failure::Query(e) => Error::new_err(e.to_string()),
            Failure::Split(e) => split_err(&e),
            Failure::Modeling(e) => modeling_err(&e),
            Failure::Export(hopdb::export::ExportError::Store(e)) => store_err(&e),
            Failure::Export(e) => Error::new_err(e.to_string()),
            Failure::Value(m) => PyValueError::new_err(m),
            Failure::Other(m) => Error::new_err(m),
            Failure::Closed => Error::new_err("the database is closed"),
        }
    }
}

type Res<T> = Result<T, Failure>;

// ---------------------------------------------------------------------------------------
// Conversions
// ---------------------------------------------------------------------------------------

/// A JSON value as plain Python objects (dict, list, str, int, float, bool, None).
fn json_to_py<'py>(py: Python<'py>, v: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value as J;
    Ok(match v {
        J::Null => py.None().into_bound(py),
        J::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        J::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        J::String(s) => s.into_pyobject(py)?.into_any(),
        J::Array(a) => {
            let l = PyList::empty(py);
            for x in a {
                l.append(json_to_py(py, x)?)?;
            }
            l.into_any()
        }
        J::Object(m) => {
            let d = PyDict::new(py);
            for (k, x) in m {
                d.set_item(k, json_to_py(py, x)?)?;
            }
            d.into_any()
        }
    })
}

fn report_to_py<'py>(py: Python<'py>, r: &ImportReport) -> PyResult<Bound<'py, PyAny>> {
    json_to_py(py, &serde_json::to_value(r).map_err(|e| Error::new_err(e.to_string()))?)
}

/// A structure from a cell (rows are lattice vectors, Angstrom), element symbols and fractional
/// coordinates.
fn structure_from(cell: [[f64; 3]; 3], symbols: &[String], frac: &[Vec3], what: &str) -> Res<Structure> {
    let lattice = Lattice::new(cell).map_err(|e| Failure::Value(format!("{what}: cell: {e}")))?;
    let species = symbols
        .iter()
        .map(|s| hopdb::element::Element::from_symbol(s).map_err(|e| Failure::Value(format!("{what}: {e}"))))
        .collect::<Res<Vec<_>>>()?;
    Structure::new(lattice, species, frac.to_vec()).map_err(|e| Failure::Value(format!("{what}: {e}")))
}

type Sites = ([[f64; 3]; 3], Vec<String>, Vec<Vec3>);

/// The sites of one view of a stored hop: the library's [`HopView`]s, except that `centroid`
/// is LiTraj's centroid frame with its `X` marker ([`HopRecord::litraj_centroid_sites`]).
fn view_sites(r: &HopRecord, host: &Structure, view: &str) -> Res<Sites> {
    let v = HopView::parse(view).ok_or_else(|| Failure::Value(format!("unknown view '{view}' (initial, final, band or centroid)")))?;
    let (symbols, frac) = match v {
        HopView::Centroid => r.litraj_centroid_sites(host),
        other => {
            let s = other.structure(r, host);
            (s.species.iter().map(|e| e.symbol().to_string()).collect(), s.frac)
        }
    };
    Ok((*host.lattice.matrix(), symbols, frac))
}

/// Hops given from Python as (initial sites, final sites, ion or None), as screening input.
fn new_hops(hops: &[(Sites, Sites, Option<String>)]) -> Res<Vec<NewHop>> {
    hops.iter()
        .enumerate()
        .map(|(i, (a, b, ion))| {
            let what = |s: &str| format!("hop {} {s}", i + 1);
            let ion = match ion {
                None => None,
                Some(x) => Some(hopdb::element::Element::from_symbol(x).map_err(|e| Failure::Value(format!("{}: {e}", what("ion"))))?),
            };
            Ok(NewHop { initial: structure_from(a.0, &a.1, &a.2, &what("initial"))?, final_: structure_from(b.0, &b.1, &b.2, &what("final"))?, ion })
        })
        .collect()
}

/// Python values bound to `?` placeholders: None, bool, int, float, str, or a list of str.
/// An `as_of=` argument: an int is a data version, a str a time.
fn as_of_of(v: Option<&Bound<'_, PyAny>>) -> PyResult<Option<hopdb::store::AsOf>> {
    let Some(v) = v else { return Ok(None) };
    if v.is_none() {
        return Ok(None);
    }
    if v.is_instance_of::<pyo3::types::PyBool>() {
        return Err(pyo3::exceptions::PyTypeError::new_err("as_of must be a data version (int) or a time (str), not a bool"));
    }
    if let Ok(n) = v.extract::<u64>() {
        return Ok(Some(hopdb::store::AsOf::Version(n)));
    }
    if let Ok(t) = v.extract::<String>() {
        return Ok(Some(hopdb::store::AsOf::Time(t)));
    }
    Err(pyo3::exceptions::PyTypeError::new_err(format!("as_of must be a data version (int >= 0) or a time (str), got {}", v.get_type().name()?)))
}

/// Parse one statement with its parameters, set its AS OF when given, and run it.
fn run_as_of(s: &Store, hql: &str, params: &[Value], as_of: Option<hopdb::store::AsOf>) -> Res<hopdb::table::ResultTable> {
    let mut stmt = hopdb::query::parse_statement_with_params(hql, params).map_err(hopdb::query::exec::ExecError::from)?;
    if let Some(a) = as_of {
        stmt.set_as_of(a).map_err(Failure::Value)?;
    }
    Ok(hopdb::query::execute(s, &stmt)?)
}

fn params_of(params: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<Value>> {
    let Some(list) = params else { return Ok(vec![]) };
    let mut out = Vec::new();
    for (k, item) in list.try_iter()?.enumerate() {
        let item = item?;
        let v = if item.is_none() {
            Value::Null
        } else if let Ok(b) = item.cast::<PyBool>() {
            Value::Bool(b.is_true())
        } else if item.is_instance_of::<PyInt>() {
            Value::Int(item.extract::<i64>()?)
        } else if item.is_instance_of::<PyFloat>() {
            Value::Num(item.extract::<f64>()?)
        } else if let Ok(s) = item.extract::<String>() {
            Value::Str(s)
        } else if let Ok(l) = item.extract::<Vec<String>>() {
            Value::List(l)
        } else {
            let t = item.get_type().name().map(|n| n.to_string()).unwrap_or_default();
            return Err(PyTypeError::new_err(format!("parameter {}: cannot bind a {t} (None, bool, int, float, str or a list of str)", k + 1)));
        };
        out.push(v);
    }
    Ok(out)
}

fn partition_of(p: Option<&str>) -> Res<Option<SourcePartition>> {
    match p {
        None => Ok(None),
        Some("train") => Ok(Some(SourcePartition::Train)),
        Some("test") => Ok(Some(SourcePartition::Test)),
        Some(o) => Err(Failure::Value(format!("unknown partition '{o}' (train or test)"))),
    }
}

/// The `id` column of a result table.
fn ids_of(t: hopdb::table::ResultTable) -> Res<Vec<String>> {
    let col = t.columns.iter().position(|c| c == "id").ok_or_else(|| Failure::Other(format!("the statement returns no 'id' column (it returns: {})", t.columns.join(", "))))?;
    t.rows
        .into_iter()
        .map(|mut r| match std::mem::replace(&mut r[col], Value::Null) {
            Value::Str(id) => Ok(id),
            other => Err(Failure::Other(format!("the 'id' column holds {other}, not a record id"))),
        })
        .collect()
}

/// A query result on its way to pyarrow: an Arrow C stream exported through the Arrow PyCapsule
/// interface (`__arrow_c_stream__`), which `pyarrow.table()` (and polars, DuckDB, ...) import
/// without copying. The library builds the `RecordBatch` (`hopdb::table::arrow`); this type only
/// carries it across.
#[pyclass(module = "hopdb._hopdb", name = "ArrowStream")]
struct ArrowStream {
    stream: Mutex<Option<FFI_ArrowArrayStream>>,
}

impl ArrowStream {
    fn of(batch: RecordBatch) -> ArrowStream {
        let schema = batch.schema();
        let reader = RecordBatchIterator::new(vec![Ok(batch)], schema);
        ArrowStream { stream: Mutex::new(Some(FFI_ArrowArrayStream::new(Box::new(reader)))) }
    }
}

#[pymethods]
impl ArrowStream {
    /// The Arrow PyCapsule stream protocol: a capsule named `arrow_array_stream` holding the
    /// C stream (consumed once).
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(&self, py: Python<'py>, requested_schema: Option<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyCapsule>> {
        // The protocol lets a producer ignore a requested schema: the result keeps its own types.
        let _ = requested_schema;
        let stream = self.stream.lock().unwrap_or_else(|p| p.into_inner()).take().ok_or_else(|| Error::new_err("this Arrow stream was already consumed"))?;
        PyCapsule::new_with_value(py, stream, c"arrow_array_stream")
    }
}

/// A result table as a `pyarrow.Table`, through the Arrow C stream interface.
fn to_pyarrow<'py>(py: Python<'py>, table: hopdb::table::ResultTable) -> PyResult<Bound<'py, PyAny>> {
    let batch = py.detach(move || hopdb::table::arrow::to_record_batch(&table)).map_err(|e| Error::new_err(format!("cannot convert the result to Arrow: {e}")))?;
    let stream = Bound::new(py, ArrowStream::of(batch))?;
    py.import("pyarrow")?.call_method1("table", (stream,))
}

// ---------------------------------------------------------------------------------------
// The database handle
// ---------------------------------------------------------------------------------------

/// An open hopdb store. Only one process may hold a store at a time; `close()` releases it.
#[pyclass(module = "hopdb._hopdb", name = "Store")]
struct PyStore {
    path: PathBuf,
    store: RwLock<Option<Store>>,
}

impl PyStore {
    /// Run `f` on the open store with the GIL released.
    fn with<T: Send>(&self, py: Python<'_>, f: impl FnOnce(&Store) -> Res<T> + Send) -> PyResult<T> {
        let out = py.detach(|| {
            let guard = self.store.read().unwrap_or_else(|p| p.into_inner());
            match guard.as_ref() {
                Some(s) => f(s),
                None => Err(Failure::Closed),
            }
        });
        out.map_err(|e| e.to_py_err(py))
    }

    /// Compact the open store in place ([`Store::compact`]), swapping in the compacted one. A
    /// failed compaction leaves the old store intact on disk, which is opened again.
    fn compact_now(&self) -> Res<hopdb::store::CompactReport> {
        let mut guard = self.store.write().unwrap_or_else(|p| p.into_inner());
        let store = guard.take().ok_or(Failure::Closed)?;
        match store.compact() {
            Ok((store, report)) => {
                *guard = Some(store);
                Ok(report)
            }
            Err(e) => {
                *guard = Store::open(&self.path).ok();
                Err(e.into())
            }
        }
    }

    /// After an import that wrote `written` records: compact when `allowed` and the import at
    /// least doubled the store ([`hopdb::import::worth_compacting`], as the CLI does).
    fn compact_after_import(&self, py: Python<'_>, written: usize, allowed: bool) -> PyResult<Option<hopdb::store::CompactReport>> {
        if !allowed || written == 0 || !self.with(py, |s| Ok(hopdb::import::worth_compacting(s, written)?))? {
            return Ok(None);
        }
        py.detach(|| self.compact_now()).map(Some).map_err(|e| e.to_py_err(py))
    }
}

/// A compaction report as a dict, or None.
fn compaction_to_py(py: Python<'_>, r: Option<hopdb::store::CompactReport>) -> PyResult<Py<PyAny>> {
    match r {
        None => Ok(py.None()),
        Some(r) => Ok(json_to_py(py, &serde_json::to_value(&r).map_err(|e| Error::new_err(e.to_string()))?)?.unbind()),
    }
}

#[pymethods]
impl PyStore {
    /// Open the store at `path` (`create=True`: create it when missing).
    #[new]
    #[pyo3(signature = (path, create = false))]
    fn new(py: Python<'_>, path: PathBuf, create: bool) -> PyResult<Self> {
        let p = path.clone();
        let store = py.detach(move || if create { Store::open_or_create(&p) } else { Store::open(&p) }).map_err(|e| store_err(&e))?;
        Ok(PyStore { path, store: RwLock::new(Some(store)) })
    }

    /// The store's path.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// True once closed.
    #[getter]
    fn closed(&self) -> bool {
        self.store.read().unwrap_or_else(|p| p.into_inner()).is_none()
    }

    /// Release the store (its lock and files); later calls raise `hopdb.Error`.
    fn close(&self, py: Python<'_>) {
        let taken = py.detach(|| self.store.write().unwrap_or_else(|p| p.into_inner()).take());
        py.detach(move || drop(taken));
    }

    /// Number of records.
    fn count(&self, py: Python<'_>) -> PyResult<usize> {
        self.with(py, |s| Ok(s.count()))
    }

    /// The id of the record with this id or sys_name.
    fn resolve_id(&self, py: Python<'_>, id: String) -> PyResult<String> {
        self.with(py, move |s| Ok(s.resolve_id(&id)?))
    }

    /// Every field of a record (id or sys_name), as plain Python objects.
    fn record<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyAny>> {
        let v = self.with(py, move |s| {
            let r = s.record(&s.resolve_id(&id)?)?;
            serde_json::to_value(&r).map_err(|e| Failure::Other(e.to_string()))
        })?;
        json_to_py(py, &v)
    }

    /// The host structure of a record: (cell rows, symbols, fractional coordinates).
    fn host(&self, py: Python<'_>, id: String) -> PyResult<Sites> {
        self.with(py, move |s| {
            let r = s.record(&s.resolve_id(&id)?)?;
            let h = s.structure(&r.host)?;
            Ok((*h.lattice.matrix(), h.species.iter().map(|e| e.symbol().to_string()).collect(), h.frac.clone()))
        })
    }

    /// One view of a stored hop (`initial`, `final`, `band`, `centroid`): (cell rows, symbols,
    /// fractional coordinates).
    fn sites(&self, py: Python<'_>, id: String, view: String) -> PyResult<Sites> {
        self.with(py, move |s| {
            let r = s.record(&s.resolve_id(&id)?)?;
            let h = s.structure(&r.host)?;
            view_sites(&r, &h, &view)
        })
    }

    /// Import a source (`kind`: devi, band, endpoints, xyz, manifest, jsonl) with the CLI's
    /// all-or-nothing rules, then compact the store when the import at least doubled it (unless
    /// `compact=False`, the CLI's `--no-compact`); returns the import report as a dict, its
    /// `compaction` the compaction report or None.
    #[pyo3(signature = (kind, path, *, dataset = None, partition = None, tabulation = None, fidelity = None, trajectory = false, skip_invalid = false, strict = false, dry_run = false, mlip = true, compact = true))]
    #[allow(clippy::too_many_arguments)]
    fn import_source<'py>(
        &self,
        py: Python<'py>,
        kind: &str,
        path: PathBuf,
        dataset: Option<String>,
        partition: Option<String>,
        tabulation: Option<PathBuf>,
        fidelity: Option<String>,
        trajectory: bool,
        skip_invalid: bool,
        strict: bool,
        dry_run: bool,
        mlip: bool,
        compact: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let part = partition_of(partition.as_deref()).map_err(|e| e.to_py_err(py))?;
        let dataset_or = |d: &str| dataset.clone().unwrap_or_else(|| d.to_string());
        let src = match kind {
            "devi" => Source::Devi { dir: path, mlip },
            "band" => Source::Band { file: path, dataset: dataset_or("devi2025"), partition: part, tabulation },
            "endpoints" => Source::Endpoints { file: path, dataset: dataset_or("devi2025"), partition: part, tabulation },
            "xyz" => {
                let f = fidelity.as_deref().unwrap_or("bvse");
                let fidelity = Fidelity::parse(f).ok_or_else(|| PyValueError::new_err(format!("unknown fidelity '{f}' (dft, bvse, mlip, experiment)")))?;
                Source::Xyz { file: path, fidelity, dataset: dataset.clone(), trajectory }
            }
            "manifest" => Source::Manifest { file: path, dataset: dataset_or(hopdb::import::generic::DEFAULT_DATASET) },
            "jsonl" => Source::Jsonl { file: path },
            other => return Err(PyValueError::new_err(format!("unknown import kind '{other}'"))),
        };
        let opts = ImportOptions { skip_invalid, strict, dry_run, ..Default::default() };
        let report = self.with(py, move |s| Ok(source::import(s, &src, &opts)?))?;
        let written = if dry_run { 0 } else { report.added.len() };
        let compaction = self.compact_after_import(py, written, compact)?;
        let out = report_to_py(py, &report)?;
        out.set_item("compaction", compaction_to_py(py, compaction)?)?;
        Ok(out)
    }

    /// Add one hop from its initial and final structures, each (cell rows, symbols, fractional
    /// coordinates). Returns (added, id, flags): added is False when the same hop with the same
    /// barrier is already stored as `id`.
    #[pyo3(signature = (initial, final_, ion, em, *, id = None, dataset = None, xc = None, doi = None, citation = None, notes = None, class_label = None, sys_name = None, path = None, state = None, fidelity = None, code = None))]
    #[allow(clippy::too_many_arguments)]
    fn add(
        &self,
        py: Python<'_>,
        initial: Sites,
        final_: Sites,
        ion: String,
        em: f64,
        id: Option<String>,
        dataset: Option<String>,
        xc: Option<String>,
        doi: Option<String>,
        citation: Option<String>,
        notes: Option<String>,
        class_label: Option<String>,
        sys_name: Option<String>,
        path: Option<String>,
        state: Option<String>,
        fidelity: Option<String>,
        code: Option<String>,
    ) -> PyResult<(bool, String, Vec<String>)> {
        let conv = || -> Res<NewRecord> {
            let ion = hopdb::element::Element::from_symbol(&ion).map_err(|e| Failure::Value(format!("ion: {e}")))?;
            let ini = structure_from(initial.0, &initial.1, &initial.2, "initial")?;
            let fin = structure_from(final_.0, &final_.1, &final_.2, "final")?;
            let state = match state.as_deref() {
                None => None,
                Some(s) => Some(IntercalationState::parse(s).ok_or_else(|| Failure::Value(format!("unknown state '{s}' (charged, discharged or intermediate)")))?),
            };
            let fidelity = match fidelity.as_deref() {
                None => None,
                Some(f) => Some(Fidelity::parse(f).ok_or_else(|| Failure::Value(format!("unknown fidelity '{f}' (dft, bvse, mlip, experiment)")))?),
            };
            let meta = hopdb::import::generic::GenericMeta { id: id.unwrap_or_default(), xc, doi, citation, notes, class: class_label, sys_name, path, state, fidelity, code };
            Ok(NewRecord {
                structures: HopStructures::InMemory { initial: ini, final_: fin, what: "python:ase.Atoms".into() },
                ion,
                em,
                meta,
                dataset: dataset.unwrap_or_else(|| hopdb::import::generic::DEFAULT_DATASET.into()),
            })
        };
        let new = conv().map_err(|e| e.to_py_err(py))?;
        let added = self.with(py, move |s| Ok(source::add(s, new)?))?;
        Ok(match added {
            Added::Added { id, flags } => (true, id, flags),
            Added::Duplicate(id) => (false, id, vec![]),
        })
    }

    /// Edit a record (id or sys_name) with the CLI's rules: every change is one revision with
    /// the reason, all written in one batch or none. Returns the record afterwards.
    #[pyo3(signature = (id, *, reason, em = None, xc = None, state = None, doi = None, notes = None, add_flags = vec![], remove_flags = vec![]))]
    #[allow(clippy::too_many_arguments)]
    fn edit<'py>(
        &self,
        py: Python<'py>,
        id: String,
        reason: String,
        em: Option<f64>,
        xc: Option<String>,
        state: Option<String>,
        doi: Option<String>,
        notes: Option<String>,
        add_flags: Vec<String>,
        remove_flags: Vec<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut edits = Vec::new();
        if let Some(x) = em {
            edits.push(Edit::Em(x));
        }
        if let Some(x) = xc {
            edits.push(Edit::Xc(x));
        }
        if let Some(x) = state {
            let s = IntercalationState::parse(&x).ok_or_else(|| PyValueError::new_err(format!("unknown state '{x}' (charged, discharged or intermediate)")))?;
            edits.push(Edit::State(s));
        }
        if let Some(x) = doi {
            edits.push(Edit::Doi(x));
        }
        if let Some(x) = notes {
            edits.push(Edit::Notes(x));
        }
        edits.extend(add_flags.into_iter().map(Edit::AddFlag));
        edits.extend(remove_flags.into_iter().map(Edit::RemoveFlag));
        let v = self.with(py, move |s| {
            let id = s.resolve_id(&id)?;
            let r = s.edit(&id, &edits, &reason)?;
            serde_json::to_value(&r).map_err(|e| Failure::Other(e.to_string()))
        })?;
        json_to_py(py, &v)
    }

    /// A stored split as a dict: name, query, algorithm, params, seed, partitions, fingerprint,
    /// created_at.
    fn split<'py>(&self, py: Python<'py>, name: String) -> PyResult<Bound<'py, PyAny>> {
        let v = self.with(py, move |s| {
            let sp = hopdb::split::load(s, &name)?;
            serde_json::to_value(&sp).map_err(|e| Failure::Other(e.to_string()))
        })?;
        json_to_py(py, &v)
    }

    /// Run one HopQL statement (`?` bound to `params`; a SELECT answered as of `as_of`, a
    /// data version or a time, when given); the result as a `pyarrow.Table`.
    #[pyo3(signature = (hql, params = None, as_of = None))]
    fn query<'py>(&self, py: Python<'py>, hql: String, params: Option<&Bound<'_, PyAny>>, as_of: Option<&Bound<'_, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        let params = params_of(params)?;
        let as_of = as_of_of(as_of)?;
        let table = self.with(py, move |s| run_as_of(s, &hql, &params, as_of))?;
        to_pyarrow(py, table)
    }

    /// The store's data version: (sequence number of the last write, its RFC 3339 time).
    #[getter]
    fn version(&self, py: Python<'_>) -> PyResult<(u64, String)> {
        self.with(py, |s| {
            let v = s.version()?;
            Ok((v.seq, v.at))
        })
    }

    /// The records that differ between data versions `a` and `b` (None: now), as a list of
    /// (id, change, field, old, new, reason) with change `added`, `removed` or `changed`.
    #[pyo3(signature = (a, b = None))]
    #[allow(clippy::type_complexity)]
    fn diff(&self, py: Python<'_>, a: &Bound<'_, PyAny>, b: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<(String, String, Option<String>, Option<String>, Option<String>, Option<String>)>> {
        let a = as_of_of(Some(a))?.ok_or_else(|| pyo3::exceptions::PyTypeError::new_err("diff needs a first version (int) or time (str)"))?;
        let b = as_of_of(b)?;
        self.with(py, move |s| {
            let from = s.resolve_version(&a)?.seq;
            let to = match &b {
                Some(b) => s.resolve_version(b)?.seq,
                None => s.version()?.seq,
            };
            if from > to {
                return Err(Failure::Value(format!("diff({from}, {to}): the first version must not be later than the second")));
            }
            let mut out = Vec::new();
            for (id, c) in s.diff(from, to)? {
                match c {
                    hopdb::store::Change::Added => out.push((id, "added".into(), None, None, None, None)),
                    hopdb::store::Change::Removed => out.push((id, "removed".into(), None, None, None, None)),
                    hopdb::store::Change::Changed(fields) => {
                        for f in fields {
                            out.push((id.clone(), "changed".into(), Some(f.field), Some(f.old), Some(f.new), f.reason));
                        }
                    }
                }
            }
            Ok(out)
        })
    }

    /// Remove records (a retraction, with a reason); returns the new data version.
    fn remove(&self, py: Python<'_>, ids: Vec<String>, reason: String) -> PyResult<(u64, String)> {
        self.with(py, move |s| {
            let ids = ids.iter().map(|id| s.resolve_id(id)).collect::<Result<Vec<_>, _>>()?;
            let v = s.remove(&ids, &reason)?;
            Ok((v.seq, v.at))
        })
    }

    /// Predicted Em (eV) from the stored model `model` for hops that are not in the store, each
    /// given as (initial sites, final sites, ion or None), with their MLIP barriers when the
    /// model reads them (`mlip`: one per hop, None where the NEB failed); nothing is written.
    #[pyo3(signature = (model, hops, mlip = None))]
    fn predict(&self, py: Python<'_>, model: String, hops: Vec<(Sites, Sites, Option<String>)>, mlip: Option<Vec<Option<f64>>>) -> PyResult<Vec<f64>> {
        let new = new_hops(&hops).map_err(|e| e.to_py_err(py))?;
        self.with(py, move |s| Ok(hopdb::workflow::screen::predict_new_with(s, &model, &new, mlip.as_deref())?))
    }

    /// What the stored model `model` reads of a hop besides its structures:
    /// `{"mlip": label or None, "bvse": bool}`.
    fn model_needs<'py>(&self, py: Python<'py>, model: String) -> PyResult<Bound<'py, PyAny>> {
        let needs = self.with(py, move |s| {
            let rec = hopdb::model::registry::load(s, &model).map_err(hopdb::workflow::WorkflowError::from)?;
            serde_json::to_value(hopdb::workflow::linked_needs(&rec)?).map_err(|e| Failure::Other(e.to_string()))
        })?;
        json_to_py(py, &needs)
    }

    /// The initial and final sites of hops that are not in the store, each built exactly as an
    /// import builds it (the ion first, then the host: the layout of `sites(id, "initial")`).
    fn new_hop_sites(&self, py: Python<'_>, hops: Vec<(Sites, Sites, Option<String>)>) -> PyResult<Vec<(Sites, Sites)>> {
        let new = new_hops(&hops).map_err(|e| e.to_py_err(py))?;
        let built = hopdb::workflow::screen::new_records(&new).map_err(|e| Failure::from(e).to_py_err(py))?;
        built.iter().map(|(r, h)| Ok((view_sites(r, h, "initial")?, view_sites(r, h, "final")?))).collect::<Res<Vec<_>>>().map_err(|e| e.to_py_err(py))
    }

    /// Write the result of one statement (default `SELECT * FROM hops`) as a Parquet file
    /// (`hopdb export parquet`). Returns the number of rows written.
    #[pyo3(signature = (path, query = None, params = None))]
    fn export_parquet(&self, py: Python<'_>, path: PathBuf, query: Option<String>, params: Option<&Bound<'_, PyAny>>) -> PyResult<usize> {
        let params = params_of(params)?;
        self.with(py, move |s| {
            let table = hopdb::query::exec::query_with_params(s, query.as_deref().unwrap_or("SELECT * FROM hops"), &params)?;
            Ok(hopdb::export::parquet::write_parquet(&table, &path)?)
        })
    }

    /// Merge the Parquet parts of a sharded BVSE corpus in `dir` (`hopdb import parquet`):
    /// all-or-nothing and idempotent. Returns the merge report as a dict.
    /// Then compacts as `import_source` does (`compact=False` skips it).
    #[pyo3(signature = (dir, compact = true))]
    fn import_parquet(&self, py: Python<'_>, dir: PathBuf, compact: bool) -> PyResult<Py<PyAny>> {
        let (v, written) = self.with(py, move |s| {
            let rep = hopdb::bvse::shard::import_parts(s, &dir).map_err(corpus_failure)?;
            let written = rep.added + rep.failures_added;
            Ok((serde_json::to_value(&rep).map_err(|e| Failure::Other(e.to_string()))?, written))
        })?;
        let compaction = self.compact_after_import(py, written, compact)?;
        let out = json_to_py(py, &v)?;
        out.set_item("compaction", compaction_to_py(py, compaction)?)?;
        Ok(out.unbind())
    }

    /// Rewrite the store into fresh files (`hopdb compact`), atomically: a failure leaves the
    /// old store. Returns the compaction report as a dict (`keys`, `bytes`,
    /// `bytes_on_disk_before`, `bytes_on_disk_after`, `seconds`).
    fn compact(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let r = py.detach(|| self.compact_now()).map_err(|e| e.to_py_err(py))?;
        compaction_to_py(py, Some(r))
    }

    /// Store MLIP outcomes (`hopdb.mlip`): `runs` are JSON objects of `hopdb::mlip::MlipRun`,
    /// written in one atomic write (barriers as records, failures as markers). Returns the
    /// report as a dict.
    fn store_mlip(&self, py: Python<'_>, runs: Vec<String>, summary: String) -> PyResult<Py<PyAny>> {
        let parsed: Vec<hopdb::mlip::MlipRun> = runs
            .iter()
            .enumerate()
            .map(|(k, j)| serde_json::from_str(j).map_err(|e| PyValueError::new_err(format!("outcome {}: {e}", k + 1))))
            .collect::<PyResult<_>>()?;
        let v = self.with(py, move |s| {
            let rep = hopdb::mlip::store_runs(s, &parsed, &summary).map_err(mlip_failure)?;
            serde_json::to_value(&rep).map_err(|e| Failure::Other(e.to_string()))
        })?;
        Ok(json_to_py(py, &v)?.unbind())
    }

    /// Whether hop `parent` already has an MLIP record or remembered failure for `model` and
    /// `protocol` (a resumed `hopdb.mlip.compute` skips it).
    fn mlip_done(&self, py: Python<'_>, parent: String, model: String, protocol: String) -> PyResult<bool> {
        self.with(py, move |s| Ok(hopdb::mlip::is_done(s, &parent, &model, &protocol)?))
    }

    /// `hopdb mlip compare` as a list of dicts (one per label and structural group); `parents`
    /// limits it to those hop ids.
    #[pyo3(signature = (parents = None))]
    fn mlip_compare(&self, py: Python<'_>, parents: Option<Vec<String>>) -> PyResult<Py<PyAny>> {
        let v = self.with(py, move |s| {
            let rows = hopdb::mlip::compare(s, parents.as_deref()).map_err(mlip_failure)?;
            serde_json::to_value(&rows).map_err(|e| Failure::Other(e.to_string()))
        })?;
        Ok(json_to_py(py, &v)?.unbind())
    }

    /// Write every record (or those whose ids a SELECT `query` returns) with its host as JSON
    /// lines (`hopdb export jsonl`). Returns the number of records written.
    #[pyo3(signature = (path, query = None, params = None))]
    fn export_jsonl(&self, py: Python<'_>, path: PathBuf, query: Option<String>, params: Option<&Bound<'_, PyAny>>) -> PyResult<usize> {
        let params = params_of(params)?;
        self.with(py, move |s| {
            let ids: Vec<String> = match &query {
                Some(q) => ids_of(hopdb::query::exec::query_with_params(s, q, &params)?)?,
                None => s.records().map(|r| r.map(|r| r.id)).collect::<Result<_, _>>()?,
            };
            let file = std::fs::File::create(&path).map_err(|e| Failure::Other(format!("{}: {e}", path.display())))?;
            let mut w = std::io::BufWriter::new(file);
            let n = hopdb::export::export_jsonl(s, ids, &mut w)?;
            std::io::Write::flush(&mut w).map_err(|e| Failure::Other(format!("{}: {e}", path.display())))?;
            Ok(n)
        })
    }

    /// The `id` column of one statement's result (`?` bound to `params`, `as_of` as for
    /// `query`), for iterating over records.
    #[pyo3(signature = (hql, params = None, as_of = None))]
    fn query_ids(&self, py: Python<'_>, hql: String, params: Option<&Bound<'_, PyAny>>, as_of: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<String>> {
        let params = params_of(params)?;
        let as_of = as_of_of(as_of)?;
        self.with(py, move |s| ids_of(run_as_of(s, &hql, &params, as_of)?))
    }

    /// Export a stored split for another ML stack (`alignn` or `extxyz`) into the folder
    /// `dir`; `view` is the ALIGNN structure view. Returns [(partition, hops written)].
    #[pyo3(signature = (name, format, dir, view = None))]
    fn export_split(&self, py: Python<'_>, name: String, format: String, dir: PathBuf, view: Option<String>) -> PyResult<Vec<(String, usize)>> {
        use hopdb::query::ast::SplitExportFormat;
        let fmt = SplitExportFormat::parse(&format).ok_or_else(|| PyValueError::new_err(format!("unknown split export format '{format}' (alignn or extxyz)")))?;
        let view = match view.as_deref() {
            None => HopView::default(),
            Some(v) => HopView::parse(v).ok_or_else(|| PyValueError::new_err(format!("unknown view '{v}' (initial, final, band or centroid)")))?,
        };
        self.with(py, move |s| {
            let split = hopdb::split::load(s, &name)?;
            Ok(hopdb::export::split::export(s, &split, fmt, view, &dir)?.partitions)
        })
    }

    /// Write records as LiTraj-style extended XYZ (`hopdb export xyz`): every record, or the
    /// ids `query` returns (`?` bound to `params`). Returns the number of frames written.
    #[pyo3(signature = (path, query = None, params = None))]
    fn export_xyz(&self, py: Python<'_>, path: PathBuf, query: Option<String>, params: Option<&Bound<'_, PyAny>>) -> PyResult<usize> {
        let params = params_of(params)?;
        self.with(py, move |s| {
            let ids: Vec<String> = match &query {
                None => s.records().map(|r| r.map(|r| r.id)).collect::<Result<_, _>>()?,
                Some(q) => ids_of(hopdb::query::exec::query_with_params(s, q, &params)?)?,
            };
            let f = std::fs::File::create(&path).map_err(|e| Failure::Other(format!("cannot create {}: {e}", path.display())))?;
            let mut out = std::io::BufWriter::new(f);
            Ok(hopdb::export::export_xyz(s, ids, &mut out)?)
        })
    }

    /// Names of the stored splits.
    fn split_names(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        self.with(py, |s| Ok(hopdb::split::list(s)?.into_iter().map(|sp| sp.name).collect()))
    }

    fn __repr__(&self) -> String {
        format!("<hopdb._hopdb.Store {}{}>", self.path.display(), if self.closed() { " (closed)" } else { "" })
    }
}

/// Create a store at `path` holding `n` deterministic synthetic BVSE-like hops (LiTraj-style
/// hosts, the corpus of `hopdb bench import --synthetic` and the query benchmarks), committed
/// like any import. For benchmarks; returns the number of records added.
#[pyfunction]
#[pyo3(signature = (path, n, seed = 42))]
fn create_synthetic_store(py: Python<'_>, path: PathBuf, n: usize, seed: u64) -> PyResult<usize> {
    let out = py.detach(move || -> Res<usize> {
        let store = Store::create(&path)?;
        let items = hopdb::synthetic::bvse_like_stream(n, seed).map(|c| Ok(Ok(c)));
        let rep = hopdb::import::commit_stream(&store, items, &ImportOptions::default(), &format!("synthetic corpus of {n} hops, seed {seed}"))?;
        Ok(rep.added.len())
    });
    out.map_err(|e| e.to_py_err(py))
}

/// Write the synthetic corpus of `create_synthetic_store` (`n` hops from `seed`) as LiTraj-style
/// extended XYZ at `path`, streamed (bounded memory for any `n`; written to `path.part`, then
/// renamed). For the import benchmarks; returns the frames written.
#[pyfunction]
#[pyo3(signature = (path, n, seed = 42))]
fn write_synthetic_xyz(py: Python<'_>, path: PathBuf, n: usize, seed: u64) -> PyResult<usize> {
    let out = py.detach(move || -> std::io::Result<usize> {
        let mut part = path.clone().into_os_string();
        part.push(".part");
        let part = PathBuf::from(part);
        let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&part)?);
        let frames = hopdb::bench::write_synthetic_xyz(n, seed, &mut w)?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&part, &path)?;
        Ok(frames)
    });
    out.map_err(|e| Error::new_err(format!("writing the synthetic XYZ file: {e}")))
}

fn mlip_failure(e: hopdb::mlip::MlipError) -> Failure {
    match e {
        hopdb::mlip::MlipError::Store(e) => Failure::Store(e),
        hopdb::mlip::MlipError::Invalid(m) => Failure::Other(m),
    }
}

fn corpus_failure(e: hopdb::bvse::corpus::CorpusError) -> Failure {
    match e {
        hopdb::bvse::corpus::CorpusError::Store(e) => Failure::Store(e),
        e => Failure::Other(e.to_string()),
    }
}

/// Compute shard `index` (0-based) of `shards` of the BVSE corpus (`hopdb bvse corpus --shard
/// I/N`) without a store: the parents from a JSON-lines export (`Database.export_jsonl`), the
/// records as Parquet parts in `out` (a rerun resumes). Returns the shard's report as a dict.
#[pyfunction]
#[pyo3(signature = (parents, out, index, shards, target, seed = 0, ions = None, strains = None, batch = 512, recipe = "hopdb"))]
#[allow(clippy::too_many_arguments)]
fn corpus_shard(
    py: Python<'_>,
    parents: PathBuf,
    out: PathBuf,
    index: usize,
    shards: usize,
    target: usize,
    seed: u64,
    ions: Option<Vec<String>>,
    strains: Option<Vec<f64>>,
    batch: usize,
    recipe: &str,
) -> PyResult<Py<PyAny>> {
    use hopdb::bvse::corpus::CorpusOptions;
    let recipe = match recipe {
        "hopdb" => hopdb::bvse::Recipe::Hopdb,
        "ions" => hopdb::bvse::Recipe::Ions,
        other => return Err(PyValueError::new_err(format!("unknown recipe '{other}' (hopdb, ions)"))),
    };
    let mut opts = CorpusOptions { target, seed, batch, recipe, ..Default::default() };
    if let Some(ions) = ions {
        opts.ions = ions
            .iter()
            .map(|s| hopdb::element::Element::from_symbol(s.trim()).map_err(|e| PyValueError::new_err(format!("ions: {e}"))))
            .collect::<PyResult<_>>()?;
    }
    if let Some(st) = strains {
        opts.strains = st;
    }
    let rep = py.detach(move || -> Res<serde_json::Value> {
        let parents = hopdb::bvse::shard::parents_from_export(&parents).map_err(corpus_failure)?;
        let rep = hopdb::bvse::shard::corpus_shard(&parents, &opts, index, shards, &out).map_err(corpus_failure)?;
        serde_json::to_value(&rep).map_err(|e| Failure::Other(e.to_string()))
    });
    let v = rep.map_err(|e| e.to_py_err(py))?;
    Ok(json_to_py(py, &v)?.unbind())
}

/// The version of the hopdb library this module was built from.
#[pyfunction]
fn version() -> &'static str {
    hopdb::HOPDB_VERSION
}

#[pymodule]
fn _hopdb(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<Error>())?;
    m.add("QueryError", py.get_type::<QueryError>())?;
    m.add("StoreLockedError", py.get_type::<StoreLockedError>())?;
    m.add("ImportRejected", py.get_type::<ImportRejected>())?;
    m.add("NotFound", py.get_type::<NotFound>())?;
    m.add_class::<PyStore>()?;
    m.add_class::<ArrowStream>()?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(create_synthetic_store, m)?)?;
    m.add_function(wrap_pyfunction!(write_synthetic_xyz, m)?)?;
    m.add_function(wrap_pyfunction!(corpus_shard, m)?)?;
    Ok(())
}
