"""The :class:`Database` handle and the small result types it returns.

Everything here converts arguments and results; the work (queries, validation, imports,
edits, splits, predictions, exports) is done by the Rust library through ``hopdb._hopdb``.
Optional libraries (pyarrow, pandas, ase, pymatgen) are imported only by the calls that need
them, so ``import hopdb`` stays fast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from . import _hopdb

if TYPE_CHECKING:  # pragma: no cover - typing only
    import ase
    import pandas
    import pyarrow
    import pymatgen.core

PathLike = Union[str, "os.PathLike[str]"]
#: (cell rows in Angstrom, element symbols, fractional coordinates), the form structures take
#: between Python and the Rust library.
Sites = Tuple[List[List[float]], List[str], List[List[float]]]

VIEWS = ("initial", "final", "band", "centroid")


def open(path: PathLike, create: bool = False) -> "Database":
    """Open the hopdb store at ``path``.

    ``create=True`` creates an empty store when there is none. Only one process may hold a
    store at a time (the ``hopdb`` CLI included): opening a store another process holds raises
    :class:`hopdb.StoreLockedError`; a missing store raises :class:`hopdb.NotFound`.
    """
    return Database(path, create=create)


@dataclass(frozen=True)
class ImportReport:
    """What an import did (the CLI's import report).

    ``added``: ids of the records added; ``duplicates``: (origin, id of the stored record it
    duplicates) for hops already stored with the same barrier (skipped); ``rejected``:
    (origin, reason) of records left out (only with ``skip_invalid=True``: otherwise a
    rejected record raises :class:`hopdb.ImportRejected` and nothing is written);
    ``flagged``: (id, data-quality flags) of added records; ``compaction``: the report of
    the compaction that followed the import (see :meth:`Database.compact`), or None when there
    was none.
    """

    added: List[str]
    duplicates: List[Tuple[str, str]]
    rejected: List[Tuple[str, str]]
    flagged: List[Tuple[str, List[str]]]
    compaction: Optional[Dict[str, Any]] = None

    @classmethod
    def _from_dict(cls, d: Dict[str, Any]) -> "ImportReport":
        return cls(
            added=list(d["added"]),
            duplicates=[tuple(x) for x in d["duplicates"]],  # type: ignore[misc]
            rejected=[(r["origin"], r["reason"]) for r in d["rejected"]],
            flagged=[(i, list(f)) for i, f in d["flagged"]],
            compaction=d.get("compaction"),
        )


@dataclass(frozen=True)
class Split:
    """A stored split: named partitions of record ids and the fingerprint that identifies them.

    ``partitions`` maps a partition name (``train``, ``val``, ``test``, ``fold0``, ...) to its
    sorted member ids; ``fingerprint`` is the sha256 defined in docs/SPLITS.md, recomputable
    from the members.
    """

    name: str
    algorithm: str
    params: Dict[str, str]
    seed: Optional[int]
    partitions: Dict[str, List[str]]
    fingerprint: str
    query: str
    created_at: str

    def to_frame(self) -> "pandas.DataFrame":
        """One row per (partition, id), columns ``id`` and ``partition`` (needs pandas)."""
        import pandas as pd

        rows = [(i, p) for p, ids in self.partitions.items() for i in ids]
        return pd.DataFrame(rows, columns=["id", "partition"])


def _sites_of(atoms: Any, what: str) -> Sites:
    """The cell, symbols and fractional coordinates of an ``ase.Atoms`` (or pymatgen Structure)."""
    if hasattr(atoms, "get_scaled_positions") and hasattr(atoms, "get_chemical_symbols"):
        cell = [[float(x) for x in row] for row in atoms.get_cell()[:]]
        frac = [[float(x) for x in p] for p in atoms.get_scaled_positions(wrap=False)]
        return cell, list(atoms.get_chemical_symbols()), frac
    if hasattr(atoms, "lattice") and hasattr(atoms, "frac_coords"):
        cell = [[float(x) for x in row] for row in atoms.lattice.matrix]
        symbols = [str(getattr(sp, "symbol", sp)) for sp in atoms.species]
        return cell, symbols, [[float(x) for x in p] for p in atoms.frac_coords]
    raise TypeError(f"{what}: expected an ase.Atoms or a pymatgen Structure, got {type(atoms).__name__}")


class Database:
    """An open hopdb store (see :func:`hopdb.open`).

    Use it as a context manager, or call :meth:`close`, so that the store's lock is released
    for the CLI or another process.
    """

    def __init__(self, path: PathLike, create: bool = False) -> None:
        self._store = _hopdb.Store(os.fspath(path), create=create)

    # -- lifetime -------------------------------------------------------------------------

    @property
    def path(self) -> str:
        """The store's directory."""
        return os.fspath(self._store.path)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._store.closed

    def close(self) -> None:
        """Release the store (its files and the one-process lock). Idempotent."""
        self._store.close()

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __len__(self) -> int:
        """Number of records."""
        return self._store.count()

    def __repr__(self) -> str:
        return f"<hopdb.Database {self.path!r}{' (closed)' if self.closed else ''}>"

    # -- queries --------------------------------------------------------------------------

    def query(self, hql: str, params: Optional[Sequence[Any]] = None, as_of: Union[int, str, None] = None) -> "pyarrow.Table":
        """Run one HopQL statement (SELECT, EXPLAIN, SHOW, DESCRIBE, split and model statements).

        Returns a ``pyarrow.Table`` whose columns are typed from HopQL's field types (string,
        float64, int64, bool, list<string>; missing values are nulls). ``params`` are bound to
        the ``?`` placeholders in order, as values (str, int, float, bool, None, or a list of
        str): never spliced into the text. A statement that does not parse raises
        :class:`hopdb.QueryError` with ``.line`` and ``.column``.

        ``as_of`` answers a SELECT from the store as it was at a data version (an int, see
        :attr:`version`) or a time (a str such as ``"2026-12-06T15:00:00Z"`` or
        ``"2026-12-06"``, UTC), like ``SELECT ... FROM hops AS OF ...`` (docs/LINEAGE.md).
        """
        return self._store.query(hql, None if params is None else list(params), as_of)

    @property
    def version(self) -> Tuple[int, str]:
        """The store's data version: (sequence number of its last write, that write's time).
        Every write advances it; ``query(..., as_of=v)`` answers as of an earlier one."""
        return self._store.version

    def diff(self, a: Union[int, str], b: Union[int, str, None] = None) -> List[Dict[str, Any]]:
        """The records that differ between data versions (or times) ``a`` and ``b`` (default:
        now): one dict per added or removed record and per changed field, with keys ``id``,
        ``change`` (``added``, ``removed``, ``changed``), ``field``, ``old``, ``new`` and
        ``reason`` (as ``hopdb diff``)."""
        keys = ("id", "change", "field", "old", "new", "reason")
        return [dict(zip(keys, row)) for row in self._store.diff(a, b)]

    def remove(self, ids: Union[str, Sequence[str]], reason: str) -> Tuple[int, str]:
        """Remove records (a retraction) with a reason, in one atomic write; they stay in the
        history (``as_of``, :meth:`diff`). Returns the new data version."""
        return self._store.remove([ids] if isinstance(ids, str) else list(ids), reason)

    def record(self, id: str) -> Dict[str, Any]:
        """Every stored field of a record (by id, or by a sys_name naming one record).

        The dict holds the record as the store keeps it: ion, host (content address),
        fractional ``initial`` / ``final_site``, ``em``, ``fidelity``, ``method``,
        ``material``, ``provenance``, ``partition``, ``flags``, ``parent``, ``extra`` and the
        ``revisions`` history. Unknown ids raise :class:`hopdb.NotFound`.
        """
        return self._store.record(id)

    def records(self, hql: str, params: Optional[Sequence[Any]] = None) -> Iterator[Dict[str, Any]]:
        """Iterate over the records a SELECT statement returns (it must return an ``id``
        column), each as :meth:`record` gives it, fetched one at a time."""
        for id in self._store.query_ids(hql, None if params is None else list(params)):
            yield self._store.record(id)

    # -- structures -----------------------------------------------------------------------

    def sites(self, id: str, view: str = "initial") -> Sites:
        """One view of a stored hop as (cell rows, element symbols, fractional coordinates);
        see :meth:`atoms` for the views."""
        if view not in VIEWS:
            raise ValueError(f"unknown view {view!r} (one of {', '.join(VIEWS)})")
        return self._store.sites(id, view)

    def atoms(self, id: str, view: str = "initial") -> "ase.Atoms":
        """A stored hop as ``ase.Atoms`` (periodic, in the host cell).

        Views: ``initial`` / ``final`` (the ion at that site first, then the host), ``band``
        (the five ion images along the straight path first, then the host: the paper's input),
        ``centroid`` (LiTraj's layout: the host, the ion at both endpoints, then an ``X`` atom
        at the midpoint of the hop).
        """
        from ase import Atoms

        cell, symbols, frac = self.sites(id, view)
        return Atoms(symbols=symbols, scaled_positions=frac, cell=cell, pbc=True)

    def structure(self, id: str, view: str = "initial") -> "pymatgen.core.Structure":
        """A stored hop as a pymatgen ``Structure`` (views as in :meth:`atoms`).

        pymatgen has no element ``X``: the centroid marker becomes ``DummySpecies('X', 0)``
        (printed ``X0+``), which keeps it out of element-based analysis.
        """
        from pymatgen.core import Lattice, Structure
        from pymatgen.core.periodic_table import DummySpecies

        cell, symbols, frac = self.sites(id, view)
        species = [DummySpecies("X", 0) if s == "X" else s for s in symbols]
        return Structure(Lattice(cell), species, frac, coords_are_cartesian=False)

    # -- curation -------------------------------------------------------------------------

    def _import(self, kind: str, path: PathLike, **kw: Any) -> ImportReport:
        return ImportReport._from_dict(self._store.import_source(kind, os.fspath(path), **kw))

    def import_devi(
        self, dir: PathLike, *, skip_invalid: bool = False, strict: bool = False, dry_run: bool = False, mlip: bool = True, compact: bool = True
    ) -> ImportReport:
        """Import the devi2025 dataset directory (``hopdb import devi``): the 619 DFT hops and,
        unless ``mlip=False``, the tabulated MACE-MP-0 barriers as ``mlip`` records linked to them.

        All-or-nothing: one invalid record raises :class:`hopdb.ImportRejected` (listing every
        rejected record) and nothing is written, unless ``skip_invalid``. ``strict`` also
        rejects records with data-quality flags; ``dry_run`` validates without writing.
        Hops already stored with the same barrier are reported as duplicates and skipped.
        An import of 10,000 records or more that at least doubles the store ends with a
        compaction (:meth:`compact`), as the CLI's does; ``compact=False`` skips it.
        """
        return self._import("devi", dir, skip_invalid=skip_invalid, strict=strict, dry_run=dry_run, mlip=mlip, compact=compact)

    def import_xyz(
        self,
        file: PathLike,
        *,
        fidelity: str = "bvse",
        dataset: Optional[str] = None,
        trajectory: bool = False,
        skip_invalid: bool = False,
        strict: bool = False,
        dry_run: bool = False,
        compact: bool = True,
    ) -> ImportReport:
        """Import LiTraj extended XYZ (``hopdb import xyz``): centroid frames, or NEB
        trajectories with ``trajectory=True``. Rules as in :meth:`import_devi`."""
        return self._import(
            "xyz", file, fidelity=fidelity, dataset=dataset, trajectory=trajectory,
            skip_invalid=skip_invalid, strict=strict, dry_run=dry_run, compact=compact,
        )

    def import_manifest(
        self,
        file: PathLike,
        *,
        dataset: str = "curated",
        skip_invalid: bool = False,
        strict: bool = False,
        dry_run: bool = False,
        compact: bool = True,
    ) -> ImportReport:
        """Import a curator manifest of CIF/POSCAR files (``hopdb import manifest``; the format
        is in docs/IMPORT_FORMATS.md). Rules as in :meth:`import_devi`."""
        return self._import("manifest", file, dataset=dataset, skip_invalid=skip_invalid, strict=strict, dry_run=dry_run, compact=compact)

    def import_jsonl(
        self, file: PathLike, *, skip_invalid: bool = False, strict: bool = False, dry_run: bool = False, compact: bool = True
    ) -> ImportReport:
        """Import hopdb's own JSON lines export (``hopdb import jsonl``). Rules as in
        :meth:`import_devi`."""
        return self._import("jsonl", file, skip_invalid=skip_invalid, strict=strict, dry_run=dry_run, compact=compact)

    def compact(self) -> Dict[str, Any]:
        """Rewrite the store into fresh files (``hopdb compact``): sled's files shrink to
        about half after a large import, and records are re-encoded with a dictionary trained
        on them. Atomic: an interrupted compaction leaves the old store. Returns ``keys``,
        ``bytes``, ``bytes_on_disk_before``, ``bytes_on_disk_after`` and ``seconds``."""
        return self._store.compact()

    def add(
        self,
        initial: Any,
        final: Any,
        ion: str,
        em: float,
        *,
        id: Optional[str] = None,
        dataset: str = "curated",
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
    ) -> str:
        """Add one hop from its initial and final structures (``ase.Atoms`` or pymatgen
        ``Structure``, same cell, the ion moved): ``hopdb add`` from a notebook.

        The hop is derived and validated exactly as ``hopdb add`` does it and written in one
        audit-logged batch; a bad hop raises :class:`hopdb.ImportRejected`. Without ``id`` the
        record id is ``<dataset>:<formula>-<12 hex digits of the structures' sha256>``.
        Returns the new record's id, or the id of the stored record that already holds the same
        hop with the same barrier (nothing is added then).
        """
        _added, rid, _flags = self._store.add(
            _sites_of(initial, "initial"), _sites_of(final, "final"), ion, float(em),
            id=id, dataset=dataset, xc=xc, doi=doi, citation=citation, notes=notes, class_label=class_label,
            sys_name=sys_name, path=path, state=state, fidelity=fidelity, code=code,
        )
        return rid

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
        add_flags: Sequence[str] = (),
        remove_flags: Sequence[str] = (),
    ) -> Dict[str, Any]:
        """Change a record (``hopdb edit``): each change becomes a revision carrying ``reason``;
        all changes are written together or none (e.g. removing a flag the record lacks
        raises :class:`hopdb.Error` and changes nothing). Returns the record afterwards."""
        return self._store.edit(
            id, reason=reason, em=em, xc=xc, state=state, doi=doi, notes=notes,
            add_flags=list(add_flags), remove_flags=list(remove_flags),
        )

    # -- splits ---------------------------------------------------------------------------

    def split(self, name: str) -> Split:
        """A stored split (made with ``CREATE SPLIT ...``); unknown names raise :class:`hopdb.NotFound`."""
        d = self._store.split(name)
        return Split(
            name=d["name"], algorithm=d["algorithm"], params=dict(d["params"]), seed=d["seed"],
            partitions={k: list(v) for k, v in d["partitions"].items()}, fingerprint=d["fingerprint"],
            query=d["query"], created_at=d["created_at"],
        )

    def splits(self) -> List[str]:
        """Names of the stored splits."""
        return list(self._store.split_names())

    # -- screening ------------------------------------------------------------------------

    def predict(
        self,
        model: str,
        pairs: Optional[Sequence[Tuple[Any, Any]]] = None,
        *,
        initial: Any = None,
        final: Any = None,
        ion: Union[None, str, Sequence[Optional[str]]] = None,
        calculator: Any = None,
        mlip_em: Union[None, float, Sequence[Optional[float]]] = None,
        device: Optional[str] = None,
    ) -> Any:
        """Predicted Em (eV) from a stored model for hops that are not in the store.

        Give one hop as ``initial=``/``final=`` (``ase.Atoms`` or pymatgen Structures: host plus
        the ion at its initial / final site, same cell) and get a float, or a list of
        ``(initial, final)`` pairs and get a list. ``ion`` names the mobile ion (one symbol for
        all, or one per pair); without it the ion is the one atom that moves. Each hop is built
        exactly as an import would build it, so a stored hop given as structures gets the
        prediction ``PREDICT`` gives the stored record. Tree models work in every build; graph
        networks need a build with the ``gnn`` feature. Nothing is written.

        A ``hop-v2`` model also reads each hop's lower-fidelity barriers: the BVSE barrier is
        computed here (a failed BVSE NEB is missing, as for a stored hop), and the MLIP barrier
        of the model's label (``<model>/<protocol>``, e.g. ``chgnet/relax-ci-v1``) is computed
        with ``calculator`` (a name, an ASE calculator or a :class:`hopdb.mlip.Calculator`, as
        :func:`hopdb.mlip.load_calculator` takes them; it must be the label's model) by :func:`hopdb.mlip.run_neb` with the label's protocol, on
        the hop as an import builds it; or give the values as ``mlip_em`` (one per hop, None
        where the NEB failed). Without either, the error names the missing fidelity. A hop whose
        NEB fails is predicted with its MLIP barrier missing (with a warning), as the model saw
        stored hops without one. :meth:`model_needs` says what a model reads.
        """
        single = pairs is None
        if single:
            if initial is None or final is None:
                raise TypeError("give initial= and final=, or a list of (initial, final) pairs")
            pairs = [(initial, final)]
        elif initial is not None or final is not None:
            raise TypeError("give either pairs or initial=/final=, not both")
        pairs = list(pairs)
        ions: List[Optional[str]]
        if ion is None or isinstance(ion, str):
            ions = [ion] * len(pairs)
        else:
            ions = list(ion)
            if len(ions) != len(pairs):
                raise ValueError(f"{len(ions)} ions for {len(pairs)} hops")
        hops = [(_sites_of(a, f"hop {k + 1} initial"), _sites_of(b, f"hop {k + 1} final"), i) for k, ((a, b), i) in enumerate(zip(pairs, ions))]
        mlip_values: Optional[List[Optional[float]]] = None
        if mlip_em is not None and calculator is not None:
            raise TypeError("give calculator= or mlip_em=, not both")
        if mlip_em is not None:
            mlip_values = [mlip_em] if single and not isinstance(mlip_em, (list, tuple)) else list(mlip_em)  # type: ignore[list-item,arg-type]
            mlip_values = [None if v is None else float(v) for v in mlip_values]
        elif calculator is not None:
            label = self.model_needs(model)["mlip"]
            if label is None:
                raise ValueError(f"model '{model}' reads no MLIP barrier: give no calculator")
            mlip_values = self._screen_mlip(label, hops, calculator, device)
        out = self._store.predict(model, hops, mlip_values)
        return out[0] if single else out

    def model_needs(self, model: str) -> Dict[str, Any]:
        """What a stored model reads of a hop besides its structures: ``{"mlip": label or None,
        "bvse": bool}`` (a ``hop-v2`` model reads its MLIP label's barrier and the BVSE one)."""
        return dict(self._store.model_needs(model))

    def _screen_mlip(self, label: str, hops: List[Any], calculator: Any, device: Optional[str]) -> List[Optional[float]]:
        """MLIP barriers of new hops for a model that reads ``label``, computed with ``calculator``."""
        import warnings

        from ase import Atoms

        from . import mlip as _mlip

        model_name, _, protocol = label.partition("/")
        calc = calculator if isinstance(calculator, _mlip.Calculator) else _mlip.load_calculator(calculator, device=device)
        if calc.model != model_name:
            raise ValueError(
                f"the model reads {label} barriers, and the calculator is {calc.model}: a barrier of another MLIP is not the "
                f"feature the model learnt (use {model_name!r}, or give load_calculator(..., model={model_name!r}) for the same model under another name)"
            )
        if protocol not in _mlip.PROTOCOLS:
            raise ValueError(f"the model reads {label} barriers, and hopdb knows no protocol {protocol!r} ({', '.join(_mlip.PROTOCOLS)})")
        out: List[Optional[float]] = []
        for k, (ini, fin) in enumerate(self._store.new_hop_sites(hops)):
            a, b = (Atoms(symbols=s, scaled_positions=f, cell=c, pbc=True) for c, s, f in (ini, fin))
            o = _mlip.run_neb(a, b, calc.calc, protocol)
            if not o.ok:
                warnings.warn(f"hop {k + 1}: the {label} NEB failed ({o.failure}: {o.message}); the model sees its MLIP barrier as missing", stacklevel=3)
            out.append(o.em if o.ok else None)
        return out

    # -- exports --------------------------------------------------------------------------

    def export_split(self, name: str, format: str, dir: PathLike, view: Optional[str] = None) -> Dict[str, int]:
        """Write a stored split for another ML stack (``EXPORT SPLIT name FORMAT ... TO dir``).

        ``format="alignn"``: ALIGNN's ``train_alignn.py`` folder (``id_prop.csv`` rows ordered
        train, val, test; one POSCAR per hop in ``view``, default ``initial``;
        ``config_hopdb.json`` with the counts and ``keep_data_order``), so ALIGNN reproduces
        the split exactly; the split needs a ``val`` partition. ``format="extxyz"``: one
        LiTraj-style ``<partition>.extxyz`` per partition, which ``ase.io.read(f, ":")`` loads
        with ``em`` in each frame's info. Returns hops written per partition.
        """
        return dict(self._store.export_split(name, format, os.fspath(dir), view))

    def export_xyz(self, path: PathLike, query: Optional[str] = None, params: Optional[Sequence[Any]] = None) -> int:
        """Write LiTraj-style extended XYZ (``hopdb export xyz``), one frame per record: every
        record, or those whose ids a SELECT ``query`` returns. ``ase.io.read(path, ":")`` loads
        it. Returns the number of frames written."""
        return self._store.export_xyz(os.fspath(path), query, None if params is None else list(params))

    def export_parquet(self, path: PathLike, query: Optional[str] = None, params: Optional[Sequence[Any]] = None) -> int:
        """Write the result of one statement (default ``SELECT * FROM hops``) as a Parquet file
        (``hopdb export parquet``), with the column types of :meth:`query`; pyarrow, pandas,
        polars, DuckDB and Spark read it. Returns the number of rows written."""
        return self._store.export_parquet(os.fspath(path), query, None if params is None else list(params))

    def export_jsonl(self, path: PathLike, query: Optional[str] = None, params: Optional[Sequence[Any]] = None) -> int:
        """Write every record (or those whose ids a SELECT ``query`` returns) with its host
        structure as JSON lines (``hopdb export jsonl``): the parents file of
        :func:`hopdb.corpus_shard`, or an import for another store. Returns the records written."""
        return self._store.export_jsonl(os.fspath(path), query, None if params is None else list(params))

    def import_parquet(self, dir: PathLike, *, compact: bool = True) -> Dict[str, Any]:
        """Merge the Parquet parts of a sharded BVSE corpus (``hopdb import parquet``; parts
        and state files written by :func:`hopdb.corpus_shard` or ``hopdb bvse corpus --shard``):
        the records the single-process corpus would store for the same seed and target,
        all-or-nothing, and idempotent (merging again adds nothing). Returns the report:
        ``parts``, ``rows``, ``target``, ``prefix``, ``records``, ``added``, ``failures_added``,
        ``exhausted``, and ``compaction`` (as in :class:`ImportReport`; ``compact=False``
        skips it)."""
        return self._store.import_parquet(os.fspath(dir), compact)
