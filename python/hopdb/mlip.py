"""Universal-MLIP barriers: a nudged-elastic-band (NEB) calculation of a stored hop through any
ASE calculator (CHGNet, MACE, SevenNet, ORB, EMT, ...), stored as an ``mlip`` record linked to
its parent hop.

>>> import hopdb, hopdb.mlip
>>> with hopdb.open("barriers.db") as db:
...     report = hopdb.mlip.compute(db, "chgnet", "SELECT id FROM hops WHERE fidelity = 'dft' AND partition = 'test'")

A calculation follows a named :class:`Protocol` (endpoint relaxation, images, climbing image,
convergence and step limits), recorded on every record together with the model's name and
version and the device. A hop whose NEB diverges, does not converge within the protocol's
limits, or whose calculator raises, is remembered as a failure with its reason, never stored as
a barrier. Work is written in batches, one atomic write each, so a run that is stopped resumes
where it stopped: hops that already have a record or a remembered failure for the model and
protocol are skipped.

The record of parent ``P`` computed with model ``M`` and protocol ``R`` has the id
``mlip:P@M/R`` (see :func:`record_id`).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

__all__ = [
    "Protocol",
    "PROTOCOLS",
    "NebOutcome",
    "ComputeReport",
    "Calculator",
    "load_calculator",
    "run_neb",
    "record_id",
    "compute",
    "store_outcomes",
    "compare",
]


@dataclass(frozen=True)
class Protocol:
    """The settings of an MLIP NEB calculation. Change a setting, change the name: records keep
    the name, and the name must always mean the same calculation."""

    #: Name recorded on every record (part of its id).
    name: str
    #: Relax both endpoints (all atoms, fixed cell) before the band is built.
    relax_endpoints: bool
    #: Force threshold of the endpoint relaxation (eV/A).
    relax_fmax: float
    #: Step limit of each endpoint relaxation (not converged within it: the hop fails).
    relax_steps: int
    #: Intermediate images between the endpoints.
    n_images: int
    #: Interpolation of the initial band: ``"linear"`` or ``"idpp"`` (image-dependent pair potential).
    interpolation: str
    #: NEB spring constant (eV/A^2).
    spring: float
    #: Force threshold of the band (eV/A), with the climbing image on.
    fmax: float
    #: Step limit of the whole band optimisation (plain and climbing stages together).
    steps: int
    #: Switch the highest image to a climbing image once the band's force is below this (eV/A).
    climb_from_fmax: float
    #: A barrier above this (eV), or a non-finite energy, is a diverged calculation.
    max_barrier: float = 15.0

    def describe(self) -> str:
        """One line naming every setting (stored in the record's provenance notes)."""
        relax = f"endpoints relaxed to {self.relax_fmax} eV/A within {self.relax_steps} FIRE steps" if self.relax_endpoints else "endpoints not relaxed"
        return (
            f"protocol {self.name}: {relax}; {self.n_images} images, {self.interpolation} interpolation, "
            f"spring {self.spring} eV/A^2, improved tangent, FIRE, climbing image from fmax {self.climb_from_fmax} eV/A, "
            f"converged at fmax {self.fmax} eV/A within {self.steps} steps; barrier = max band energy - initial energy"
        )


#: The named protocols. ``relax-ci-v1`` is the default (the published MACE-RELAX protocol of
#: devi2025 also relaxes the endpoints; its exact settings are in that paper's SI, Table S4).
PROTOCOLS: Dict[str, Protocol] = {
    p.name: p
    for p in [
        Protocol("relax-ci-v1", relax_endpoints=True, relax_fmax=0.05, relax_steps=300, n_images=5, interpolation="idpp",
                 spring=0.1, fmax=0.1, steps=400, climb_from_fmax=0.5),
        Protocol("norelax-ci-v1", relax_endpoints=False, relax_fmax=0.05, relax_steps=0, n_images=5, interpolation="idpp",
                 spring=0.1, fmax=0.1, steps=400, climb_from_fmax=0.5),
        # A short protocol for tests and smoke runs with cheap potentials (EMT, Lennard-Jones).
        Protocol("quick-v1", relax_endpoints=True, relax_fmax=0.05, relax_steps=200, n_images=3, interpolation="linear",
                 spring=0.5, fmax=0.05, steps=300, climb_from_fmax=0.3),
    ]
}

#: Failure reasons (the values of :attr:`NebOutcome.failure`).
FAILURE_REASONS = ("calculator error", "diverged", "endpoint not relaxed", "not converged", "invalid input")


@dataclass
class NebOutcome:
    """What one NEB gave: a barrier, or a failure with its reason (never both)."""

    #: Barrier (eV): highest band energy minus the initial endpoint's; None on failure.
    em: Optional[float]
    #: Highest band energy minus the final endpoint's (the reverse barrier), eV.
    em_reverse: Optional[float] = None
    #: Energies of the band (eV), endpoints included, relative to the initial endpoint.
    energies: List[float] = field(default_factory=list)
    #: Largest NEB force on the band at the end (eV/A).
    fmax: Optional[float] = None
    #: Optimiser steps of the endpoint relaxations and of the band.
    relax_steps: int = 0
    neb_steps: int = 0
    #: Energy-and-force calls of the calculator.
    calls: int = 0
    #: Wall seconds.
    seconds: float = 0.0
    #: How far the ion moved in the endpoint relaxations (A, initial and final).
    ion_shift_initial: Optional[float] = None
    ion_shift_final: Optional[float] = None
    #: On failure: one of :data:`FAILURE_REASONS`, and what happened.
    failure: Optional[str] = None
    message: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    def to_dict(self) -> Dict[str, Any]:
        """The outcome as JSON-ready values (non-finite diagnostics as None)."""
        return _finite_or_none(asdict(self))


@dataclass
class Calculator:
    """An ASE calculator with the names recorded on every record."""

    #: The ASE calculator (shared by every image; evaluated one image at a time).
    calc: Any
    #: Model name (``chgnet``, ``mace-mp-0``, ...): part of the record id.
    model: str
    #: Model or package version.
    version: str
    #: ``cpu`` or ``cuda``.
    device: str


def _device(requested: Optional[str]) -> str:
    if requested:
        return requested
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def _need(module: str, package: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"the calculator needs the Python package '{package}' (pip install {package}): {e}") from e


def load_calculator(spec: Union[str, Any], device: Optional[str] = None, model: Optional[str] = None, version: Optional[str] = None) -> Calculator:
    """The calculator named by ``spec``: ``"chgnet"`` (the default; its weights ship in its
    wheel), ``"mace"`` (MACE-MP-0 medium via ``mace-torch``), ``"sevenn"`` (SevenNet-0),
    ``"emt"`` (ASE's EMT, for tests), ``"module:factory"`` (``factory(device=...)`` returns an
    ASE calculator), or an ASE calculator object (then ``model`` names it; default: its class
    name in lower case). A package that cannot be imported raises ``ImportError`` naming it."""
    dev = _device(device)
    if not isinstance(spec, str):
        name = model or type(spec).__name__.lower()
        return Calculator(spec, name, version or "unknown", dev)
    s = spec.strip()
    if s == "chgnet":
        mod = _need("chgnet", "chgnet")
        calc = _chgnet_energy_forces(dev)
        return Calculator(calc, model or "chgnet", version or f"chgnet {mod.__version__} (weights {calc.model.version})", dev)
    if s == "mace":
        _need("mace", "mace-torch")
        from mace.calculators import mace_mp  # type: ignore
        import mace  # type: ignore

        return Calculator(mace_mp(model="medium", device=dev, default_dtype="float64"), model or "mace-mp-0", version or f"mace-torch {getattr(mace, '__version__', '?')} medium", dev)
    if s == "sevenn":
        _need("sevenn", "sevenn")
        from sevenn.calculator import SevenNetCalculator  # type: ignore

        return Calculator(SevenNetCalculator("7net-0", device=dev), model or "sevennet-0", version or "7net-0", dev)
    if s == "emt":
        from ase.calculators.emt import EMT
        import ase

        return Calculator(EMT(), model or "emt", version or f"ase {ase.__version__}", "cpu")
    if ":" in s:
        mod_name, _, fn_name = s.partition(":")
        mod = _need(mod_name, mod_name.split(".")[0])
        fn = getattr(mod, fn_name, None)
        if fn is None:
            raise ValueError(f"calculator '{s}': module '{mod_name}' has no '{fn_name}'")
        return Calculator(fn(device=dev), model or fn_name.lower(), version or str(getattr(mod, "__version__", "unknown")), dev)
    raise ValueError(f"unknown calculator '{s}' (chgnet, mace, sevenn, emt or module:factory)")


def _chgnet_energy_forces(device: str) -> Any:
    """CHGNet as an ASE calculator of energy and forces only: ``CHGNetCalculator`` always
    predicts stress and magnetic moments too (0.40 s against 0.27 s per call on a 71-atom
    devi2025 cell, 2 CPU threads), which a fixed-cell NEB never reads."""
    from ase.calculators.calculator import Calculator as AseCalculator, all_changes
    from chgnet.model import CHGNet  # type: ignore
    from pymatgen.io.ase import AseAtomsAdaptor

    class ChgnetEnergyForces(AseCalculator):
        implemented_properties = ["energy", "forces"]

        def __init__(self) -> None:
            super().__init__()
            self.model = CHGNet.load(use_device=device, verbose=False)
            self.device = device

        def calculate(self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes) -> None:
            super().calculate(atoms, properties, system_changes)
            graph = self.model.graph_converter(AseAtomsAdaptor.get_structure(self.atoms))
            p = self.model.predict_graph(graph.to(self.device), task="ef")
            n = len(self.atoms) if self.model.is_intensive else 1
            self.results = {"energy": float(p["e"]) * n, "forces": p["f"]}

    return ChgnetEnergyForces()


def _count_calls(calc: Any) -> "_Counting":
    """Count the calculations of an ASE calculator (wraps its ``calculate`` on the instance)."""
    counter = _Counting()
    inner = calc.calculate

    def counted(*a: Any, **k: Any) -> Any:
        counter.calls += 1
        return inner(*a, **k)

    try:
        calc.calculate = counted
    except AttributeError:
        pass
    return counter


def record_id(parent: str, model: str, protocol: str) -> str:
    """Id of the mlip record of ``parent`` computed with ``model`` and ``protocol``."""
    return f"mlip:{parent}@{model}/{protocol}"


class _Counting:
    """Counts the energy-and-force calls of an ASE calculator."""

    def __init__(self) -> None:
        self.calls = 0


def _max_force(atoms: Any) -> float:
    import numpy as np

    f = atoms.get_forces()
    return float(np.sqrt((f ** 2).sum(axis=1).max()))


def run_neb(initial: Any, final: Any, calc: Any, protocol: Union[str, Protocol] = "relax-ci-v1", ion_index: int = 0) -> NebOutcome:
    """One NEB between two ``ase.Atoms`` (same cell, same atoms in the same order; the ion at
    ``ion_index`` moved) with the ASE calculator ``calc``, following ``protocol``. Never
    raises for a failed calculation: the outcome says why it failed."""
    import numpy as np
    from ase.geometry import find_mic
    from ase.mep import NEB
    from ase.optimize import FIRE

    p = PROTOCOLS[protocol] if isinstance(protocol, str) else protocol
    t0 = time.perf_counter()
    out = NebOutcome(em=None)
    counter = _count_calls(calc)

    def fail(reason: str, message: str) -> NebOutcome:
        out.failure, out.message, out.seconds, out.calls = reason, message, time.perf_counter() - t0, counter.calls
        _uncount(calc)
        return out

    if len(initial) != len(final) or list(initial.numbers) != list(final.numbers):
        return fail("invalid input", "the endpoints do not hold the same atoms in the same order")
    ini, fin = initial.copy(), final.copy()
    # The final site as the nearest periodic image of the initial one: the band then follows
    # the hop, not a path across the cell.
    d, _ = find_mic(fin.positions[ion_index] - ini.positions[ion_index], ini.cell, ini.pbc)
    fin.positions[ion_index] = ini.positions[ion_index] + d
    start = (ini.positions[ion_index].copy(), fin.positions[ion_index].copy())

    try:
        for a in (ini, fin):
            a.calc = calc
        if p.relax_endpoints:
            for which, a in (("initial", ini), ("final", fin)):
                opt = FIRE(a, logfile=None)
                converged = opt.run(fmax=p.relax_fmax, steps=p.relax_steps)
                out.relax_steps += opt.nsteps
                if not converged:
                    return fail("endpoint not relaxed", f"the {which} endpoint did not relax to {p.relax_fmax} eV/A within {p.relax_steps} steps (fmax {_max_force(a):.3f} eV/A)")
            out.ion_shift_initial = float(np.linalg.norm(ini.positions[ion_index] - start[0]))
            out.ion_shift_final = float(np.linalg.norm(fin.positions[ion_index] - start[1]))
        images = [ini] + [ini.copy() for _ in range(p.n_images)] + [fin]
        for im in images[1:-1]:
            im.calc = calc
        neb = NEB(images, k=p.spring, climb=False, method="improvedtangent", allow_shared_calculator=True)
        neb.interpolate(method=p.interpolation, mic=True)
        before = counter.calls
        opt = FIRE(neb, logfile=None)
        # Plain band first; the climbing image once the band is roughly in place.
        opt.run(fmax=p.climb_from_fmax, steps=p.steps)
        used = (counter.calls - before) // p.n_images
        neb.climb = True
        opt2 = FIRE(neb, logfile=None)
        converged = opt2.run(fmax=p.fmax, steps=max(p.steps - used, 0)) if used < p.steps else False
        # Band force evaluations (an optimiser step may evaluate more than once).
        out.neb_steps = (counter.calls - before) // p.n_images
        energies = np.array([im.get_potential_energy() for im in images], dtype=float)
        forces = neb.get_forces().reshape(-1, 3)
        out.fmax = float(np.sqrt((forces ** 2).sum(axis=1).max()))
    except Exception as e:  # the calculator (or the optimiser on its numbers) raised
        return fail("calculator error", f"{type(e).__name__}: {e}")
    if not np.all(np.isfinite(energies)) or not math.isfinite(out.fmax):
        return fail("diverged", "a band energy or force is not finite")
    em = float(energies.max() - energies[0])
    if em > p.max_barrier or float(energies.max() - energies.min()) > p.max_barrier:
        out.energies = [float(x) for x in energies - energies[0]]
        return fail("diverged", f"the band spans {float(energies.max() - energies.min()):.2f} eV (limit {p.max_barrier} eV)")
    out.energies = [float(x) for x in energies - energies[0]]
    if not converged:
        return fail("not converged", f"band fmax {out.fmax:.3f} eV/A after {out.neb_steps} steps (limit {p.steps}, threshold {p.fmax} eV/A); barrier would be {em:.3f} eV")
    out.em = em
    out.em_reverse = float(energies.max() - energies[-1])
    out.seconds = time.perf_counter() - t0
    out.calls = counter.calls
    _uncount(calc)
    return out


def _uncount(calc: Any) -> None:
    if "calculate" in getattr(calc, "__dict__", {}):
        del calc.__dict__["calculate"]


@dataclass
class ComputeReport:
    """What :func:`compute` did."""

    #: Hops the query selected.
    selected: int = 0
    #: Hops skipped because their record or failure was already stored (a resumed run).
    already: int = 0
    #: New records.
    stored: int = 0
    #: New failures, by reason.
    failed: Dict[str, int] = field(default_factory=dict)
    #: Wall seconds of the NEB calculations, and their count.
    seconds: float = 0.0
    computed: int = 0
    #: Model, version, device and protocol.
    model: str = ""
    version: str = ""
    device: str = ""
    protocol: str = ""

    @property
    def seconds_per_hop(self) -> float:
        return self.seconds / self.computed if self.computed else float("nan")


def _run_dict(parent: str, calc: Calculator, protocol: Protocol, outcome: NebOutcome) -> Dict[str, Any]:
    return {
        "parent": parent,
        "model": calc.model,
        "version": calc.version,
        "device": calc.device,
        "protocol": protocol.name,
        "protocol_description": protocol.describe(),
        "outcome": outcome.to_dict(),
    }


def _finite_or_none(v: Any) -> Any:
    """Non-finite numbers as None (JSON has no NaN); a failure's diagnostics may hold them."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _finite_or_none(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_finite_or_none(x) for x in v]
    return v


def _write(db: Any, runs: List[Dict[str, Any]], summary: str) -> Dict[str, Any]:
    return db._store.store_mlip([json.dumps(_finite_or_none(r)) for r in runs], summary)


def compute(
    db: Any,
    calculator: Union[str, Any] = "chgnet",
    query: str = "SELECT id FROM hops WHERE fidelity = 'dft' ORDER BY id",
    params: Optional[Sequence[Any]] = None,
    *,
    protocol: Union[str, Protocol] = "relax-ci-v1",
    batch: int = 4,
    device: Optional[str] = None,
    model: Optional[str] = None,
    limit: Optional[int] = None,
    progress: bool = True,
) -> ComputeReport:
    """Compute MLIP barriers for the hops a HopQL ``query`` selects (its ``id`` column) and
    store them in ``db``: one NEB per hop with ``calculator`` (see :func:`load_calculator`)
    following ``protocol``, written every ``batch`` hops in one atomic write. Hops that
    already have a record or a remembered failure for the model and protocol are skipped, so
    a stopped run resumes. ``limit`` computes at most that many hops. Progress (with an
    estimate of the time left) goes to stderr."""
    import sys

    p = PROTOCOLS[protocol] if isinstance(protocol, str) else protocol
    if isinstance(protocol, str) and protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol '{protocol}' ({', '.join(PROTOCOLS)})")
    ids = [r["id"] for r in db.query(query, params).select(["id"]).to_pylist()]
    calc = load_calculator(calculator, device=device, model=model)
    rep = ComputeReport(selected=len(ids), model=calc.model, version=calc.version, device=calc.device, protocol=p.name)
    todo = [i for i in ids if not db._store.mlip_done(i, calc.model, p.name)]
    rep.already = len(ids) - len(todo)
    if limit is not None:
        todo = todo[: max(limit, 0)]
    pending: List[Dict[str, Any]] = []

    def flush() -> None:
        if pending:
            r = _write(db, pending, f"MLIP barriers ({calc.model}/{p.name}): {len(pending)} hops")
            rep.stored += r["stored"]
            for k, v in r["failed"].items():
                rep.failed[k] = rep.failed.get(k, 0) + v
            pending.clear()

    for k, pid in enumerate(todo):
        ini, fin = db.atoms(pid, "initial"), db.atoms(pid, "final")
        out = run_neb(ini, fin, calc.calc, p)
        rep.seconds += out.seconds
        rep.computed += 1
        pending.append(_run_dict(pid, calc, p, out))
        if len(pending) >= max(batch, 1):
            flush()
        if progress:
            left = (len(todo) - k - 1) * rep.seconds_per_hop
            what = f"{out.em:.3f} eV" if out.ok else out.failure
            print(f"mlip [{k + 1}/{len(todo)}] {pid}: {what} ({out.seconds:.0f} s; about {left / 60:.0f} min left)", file=sys.stderr, flush=True)
    flush()
    return rep


def store_outcomes(db: Any, path: Union[str, "os.PathLike[str]"], batch: Optional[int] = None) -> Dict[str, Any]:
    """Store a JSON-lines file of outcomes (one object per hop, as ``python/bench/mlip_devi.py``
    or a cluster job writes them) in ``db``; already stored ones are counted, not written
    again. One atomic write for the whole file (every line checked first), or one per
    ``batch`` lines (a failing batch then leaves the earlier ones stored). Returns the totals."""
    total: Dict[str, Any] = {"stored": 0, "already": 0, "failed": {}}
    lines: List[str] = []

    def flush() -> None:
        if lines:
            r = db._store.store_mlip(list(lines), f"MLIP outcomes from {os.path.basename(str(path))}: {len(lines)} hops")
            total["stored"] += r["stored"]
            total["already"] += r["already"]
            for k, v in r["failed"].items():
                total["failed"][k] = total["failed"].get(k, 0) + v
            lines.clear()

    with open(path) as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    obj = json.loads(line)
                except ValueError as e:
                    raise ValueError(f"{path}, line {n}: not JSON ({e})") from e
                em = obj.get("outcome", {}).get("em") if isinstance(obj, dict) and isinstance(obj.get("outcome"), dict) else None
                if isinstance(em, float) and not math.isfinite(em):
                    raise ValueError(f"{path}, line {n}: a non-finite number (NaN or infinity) as the barrier; a failed hop has a failure reason instead")
                # JSON has no NaN: other non-finite diagnostics (a failure's fmax) become null.
                lines.append(json.dumps(_finite_or_none(obj)))
                if batch and len(lines) >= batch:
                    flush()
    flush()
    return total


def compare(db: Any, parents: Optional[Sequence[str]] = None) -> "Any":
    """Each MLIP model and protocol against the parents' DFT barriers (``hopdb mlip compare``):
    a list of dicts (label, group, hops, n, failed, pearson, spearman, mae, bias)."""
    return db._store.mlip_compare(list(parents) if parents is not None else None)


def _main(argv: Optional[Sequence[str]] = None) -> int:
    import argparse
    import sys

    import hopdb

    ap = argparse.ArgumentParser(
        prog="python -m hopdb.mlip",
        description="Compute universal-MLIP NEB barriers for stored hops (hopdb mlip compute).",
        epilog="example: python -m hopdb.mlip compute --db barriers.db --calculator chgnet "
        "--query \"SELECT id FROM hops WHERE fidelity = 'dft' AND partition = 'test'\"",
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compute", help="run the NEBs and store the barriers")
    c.add_argument("--db", required=True)
    c.add_argument("--calculator", default="chgnet", help="chgnet, mace, sevenn, emt or module:factory")
    c.add_argument("--query", default="SELECT id FROM hops WHERE fidelity = 'dft' ORDER BY id")
    c.add_argument("--protocol", default="relax-ci-v1", choices=sorted(PROTOCOLS))
    c.add_argument("--batch", type=int, default=4)
    c.add_argument("--device", default=None)
    c.add_argument("--model", default=None, help="model name to record (default: the calculator's)")
    c.add_argument("--limit", type=int, default=None)
    c.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    s = sub.add_parser("store", help="store a JSON-lines file of outcomes")
    s.add_argument("--db", required=True)
    s.add_argument("file")
    a = ap.parse_args(argv)
    try:
        with hopdb.open(a.db) as db:
            if a.cmd == "compute":
                if a.threads:
                    import torch

                    torch.set_num_threads(a.threads)
                r = compute(db, a.calculator, a.query, protocol=a.protocol, batch=a.batch, device=a.device, model=a.model, limit=a.limit)
                print(json.dumps(asdict(r) | {"seconds_per_hop": r.seconds_per_hop}, indent=2))
            else:
                print(json.dumps(store_outcomes(db, a.file), indent=2))
    except (hopdb.Error, ImportError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
