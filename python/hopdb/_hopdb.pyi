"""Type stubs of the compiled module ``hopdb._hopdb`` (PyO3). Use the ``hopdb`` package's API;
this module is its implementation."""

from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import pyarrow

#: (cell rows in Angstrom, element symbols, fractional coordinates)
Sites = Tuple[List[List[float]], List[str], List[List[float]]]

class Error(Exception):
    """Base class of every error hopdb raises."""

class QueryError(Error):
    """A HopQL statement did not parse or validate. str() shows the line with a caret."""

    line: int
    """1-based line of the offending token."""
    column: int
    """1-based column (in characters) of the offending token."""
    message: str
    """The one-line description, without the caret rendering."""

class StoreLockedError(Error):
    """Another process holds the store."""

class ImportRejected(Error):
    """An import wrote nothing."""

    rejections: List[Tuple[str, str, str, str]]
    """(file, record, field, message) of every rejected record; file and field may be empty."""

class NotFound(Error):
    """No record, split, model or store with that name."""

class Store:
    """An open store (``hopdb.Database`` wraps it)."""

    def __init__(self, path: str, create: bool = False) -> None: ...
    @property
    def path(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    def close(self) -> None: ...
    def count(self) -> int: ...
    def resolve_id(self, id: str) -> str: ...
    def query(self, hql: str, params: Optional[Sequence[Any]] = None, as_of: Union[int, str, None] = None) -> pyarrow.Table: ...
    def query_ids(self, hql: str, params: Optional[Sequence[Any]] = None, as_of: Union[int, str, None] = None) -> List[str]: ...
    @property
    def version(self) -> Tuple[int, str]: ...
    def diff(self, a: Union[int, str], b: Union[int, str, None] = None) -> List[Tuple[str, str, Optional[str], Optional[str], Optional[str], Optional[str]]]: ...
    def remove(self, ids: List[str], reason: str) -> Tuple[int, str]: ...
    def record(self, id: str) -> Dict[str, Any]: ...
    def host(self, id: str) -> Sites: ...
    def sites(self, id: str, view: str) -> Sites: ...
    def import_source(
        self,
        kind: str,
        path: str,
        *,
        dataset: Optional[str] = None,
        partition: Optional[str] = None,
        tabulation: Optional[str] = None,
        fidelity: Optional[str] = None,
        trajectory: bool = False,
        skip_invalid: bool = False,
        strict: bool = False,
        dry_run: bool = False,
        mlip: bool = True,
        compact: bool = True,
    ) -> Dict[str, Any]: ...
    def add(
        self,
        initial: Sites,
        final_: Sites,
        ion: str,
        em: float,
        *,
        id: Optional[str] = None,
        dataset: Optional[str] = None,
        xc: Optional[str] = None,
        doi: Optional[str] = None,
        citation: Optional[str] = None,
        notes: Optional[str] = None,
        class_label: Optional[str] = None,
        sys_name: Optional[str] = None,
        path: Optional[str] = None,
        state: Optional[str] = None,
        fidelity: Optional[str] = None,
        code: Optional[str] = None,
    ) -> Tuple[bool, str, List[str]]: ...
    def edit(
        self,
        id: str,
        *,
        reason: str,
        em: Optional[float] = None,
        xc: Optional[str] = None,
        state: Optional[str] = None,
        doi: Optional[str] = None,
        notes: Optional[str] = None,
        add_flags: List[str] = ...,
        remove_flags: List[str] = ...,
    ) -> Dict[str, Any]: ...
    def split(self, name: str) -> Dict[str, Any]: ...
    def split_names(self) -> List[str]: ...
    def export_split(self, name: str, format: str, dir: str, view: Optional[str] = None) -> List[Tuple[str, int]]: ...
    def predict(self, model: str, hops: List[Tuple[Sites, Sites, Optional[str]]], mlip: Optional[List[Optional[float]]] = None) -> List[float]: ...
    def model_needs(self, model: str) -> Dict[str, Any]: ...
    def new_hop_sites(self, hops: List[Tuple[Sites, Sites, Optional[str]]]) -> List[Tuple[Sites, Sites]]: ...
    def export_parquet(self, path: str, query: Optional[str] = None, params: Optional[Sequence[Any]] = None) -> int: ...
    def export_xyz(self, path: str, query: Optional[str] = None, params: Optional[Sequence[Any]] = None) -> int: ...
    def export_jsonl(self, path: str, query: Optional[str] = None, params: Optional[Sequence[Any]] = None) -> int: ...
    def import_parquet(self, dir: str, compact: bool = True) -> Dict[str, Any]: ...
    def compact(self) -> Dict[str, Any]: ...
    def store_mlip(self, runs: List[str], summary: str) -> Dict[str, Any]: ...
    def mlip_done(self, parent: str, model: str, protocol: str) -> bool: ...
    def mlip_compare(self, parents: Optional[List[str]] = None) -> List[Dict[str, Any]]: ...

class ArrowStream:
    """A query result as an Arrow C stream (the Arrow PyCapsule interface)."""

    def __arrow_c_stream__(self, requested_schema: Optional[object] = None) -> object: ...

def version() -> str:
    """The version of the hopdb library the module was built from."""

def create_synthetic_store(path: str, n: int, seed: int = 42) -> int:
    """Create a store of ``n`` synthetic BVSE-like hops (benchmarks); returns the count added."""

def write_synthetic_xyz(path: str, n: int, seed: int = 42) -> int:
    """Write the same synthetic hops as LiTraj-style extended XYZ, streamed (benchmarks);
    returns the frames written."""

def corpus_shard(
    parents: str,
    out: str,
    index: int,
    shards: int,
    target: int,
    seed: int = 0,
    ions: Optional[List[str]] = None,
    strains: Optional[List[float]] = None,
    batch: int = 512,
    recipe: str = "hopdb",
) -> Dict[str, Any]:
    """Compute shard ``index`` (0-based) of ``shards`` of the BVSE corpus into Parquet parts."""
