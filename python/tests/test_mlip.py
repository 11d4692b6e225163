"""hopdb.mlip: NEB barriers through an ASE calculator, stored as linked mlip records.

The calculator is ASE's EMT (no download, no GPU) on a hand-made fcc-Cu cell with one vacancy:
a Cu atom hops into the vacancy. The saddle of that hop is the midpoint by symmetry, so the
reference barrier is a constrained relaxation with the hopping atom held at the midpoint,
computed here independently of the NEB.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import hopdb
from hopdb import mlip

ase = pytest.importorskip("ase")
from ase.build import bulk  # noqa: E402
from ase.calculators.emt import EMT  # noqa: E402
from ase.constraints import FixAtoms  # noqa: E402
from ase.optimize import FIRE  # noqa: E402


def vacancy_hop(repeat: int = 2, a: float = 3.61):
    """Initial and final structures (the hopping atom first) of a vacancy hop in fcc Cu."""
    cu = bulk("Cu", "fcc", a=a, cubic=True).repeat((repeat, repeat, repeat))
    d = cu.get_distances(0, range(len(cu)), mic=True)
    nb = int(np.argsort(d)[1])
    vacancy = cu.positions[0].copy()
    del cu[0]
    nb -= 1
    ini = cu[[nb] + [i for i in range(len(cu)) if i != nb]]
    fin = ini.copy()
    fin.positions[0] = vacancy
    return ini, fin


def reference_barrier(ini, fin) -> float:
    """Saddle at the midpoint (symmetry): relax everything else with the atom fixed there."""
    a = ini.copy()
    a.calc = EMT()
    FIRE(a, logfile=None).run(fmax=0.01, steps=1000)
    mid = ini.copy()
    mid.positions[0] = 0.5 * (ini.positions[0] + fin.positions[0])
    mid.calc = EMT()
    mid.set_constraint(FixAtoms([0]))
    FIRE(mid, logfile=None).run(fmax=0.01, steps=1000)
    return mid.get_potential_energy() - a.get_potential_energy()


@pytest.fixture()
def cu_store(tmp_path: Path):
    """A store with two Cu vacancy hops (two cell sizes), as DFT records."""
    path = tmp_path / "cu.db"
    with hopdb.open(path, create=True) as db:
        for rep, em in ((2, 0.70), (3, 0.71)):
            ini, fin = vacancy_hop(rep)
            db.add(ini, fin, "Cu", em, id=f"cu-vac-{rep}", dataset="test", xc="GGA")
    return path


def test_neb_matches_the_symmetric_saddle_within_tolerance():
    ini, fin = vacancy_hop(2)
    out = mlip.run_neb(ini, fin, EMT(), "quick-v1")
    assert out.ok, out.message
    ref = reference_barrier(ini, fin)
    assert 0.3 < ref < 1.5
    # fmax 0.05 eV/A on a band of 0.7 eV: the climbing image is within a few meV.
    assert abs(out.em - ref) < 0.02, (out.em, ref)
    assert out.energies[0] == 0.0 and len(out.energies) == mlip.PROTOCOLS["quick-v1"].n_images + 2
    assert out.fmax <= mlip.PROTOCOLS["quick-v1"].fmax
    assert out.calls > 0 and out.neb_steps > 0


def test_compute_stores_linked_records_with_provenance_and_resumes(cu_store: Path):
    q = "SELECT id FROM hops WHERE fidelity = 'dft' ORDER BY id"
    with hopdb.open(cu_store) as db:
        r1 = mlip.compute(db, "emt", q, protocol="quick-v1", batch=1, limit=1, progress=False)
        assert (r1.selected, r1.already, r1.stored, r1.computed) == (2, 0, 1, 1)
        first = db.record(mlip.record_id("test:cu-vac-2", "emt", "quick-v1"))
        # A stopped run resumes: the stored hop is skipped, the other computed.
        r2 = mlip.compute(db, "emt", q, protocol="quick-v1", batch=1, progress=False)
        assert (r2.already, r2.stored, r2.computed) == (1, 1, 1)
        assert db.record(first["id"]) == first
        r3 = mlip.compute(db, "emt", q, protocol="quick-v1", progress=False)
        assert (r3.already, r3.computed) == (2, 0)
        rec = db.record(mlip.record_id("test:cu-vac-3", "emt", "quick-v1"))
        parent = db.record("test:cu-vac-3")
    assert rec["fidelity"] == "Mlip" and rec["parent"] == "test:cu-vac-3"
    assert rec["method"]["code"] == "emt/quick-v1"
    assert rec["host"] == parent["host"] and rec["initial"] == parent["initial"]
    assert rec["partition"] is None
    prov = rec["provenance"]
    assert prov["dataset"] == "mlip" and prov["importer"] == "hopdb-mlip"
    assert prov["dataset_version"].startswith("ase ")
    assert "protocol quick-v1" in prov["notes"] and "on cpu" in prov["notes"]
    assert rec["extra"]["mlip_fmax"] <= 0.05 and rec["extra"]["mlip_e00"] == 0.0


class Exploding:
    """An ASE calculator that raises on its first use."""

    def __init__(self) -> None:
        from ase.calculators.calculator import Calculator

        class Boom(Calculator):
            implemented_properties = ["energy", "forces"]

            def calculate(self, atoms=None, properties=None, system_changes=None):
                raise RuntimeError("model exploded")

        self.calc = Boom()


def test_a_failing_calculator_is_remembered_never_stored_as_a_barrier(cu_store: Path):
    with hopdb.open(cu_store) as db:
        r = mlip.compute(db, Exploding().calc, "SELECT id FROM hops WHERE id = 'test:cu-vac-2'", model="boom", protocol="quick-v1", progress=False)
        assert r.stored == 0 and r.failed == {"calculator error": 1}
        assert len(db.query("SELECT id FROM hops WHERE fidelity = 'mlip'")) == 0
        # Remembered: a rerun does not compute it again.
        r2 = mlip.compute(db, Exploding().calc, "SELECT id FROM hops WHERE id = 'test:cu-vac-2'", model="boom", protocol="quick-v1", progress=False)
        assert (r2.already, r2.computed) == (1, 0)


def test_outcome_files_store_and_bad_outcomes_write_nothing(cu_store: Path, tmp_path: Path):
    good = {"parent": "test:cu-vac-2", "model": "cluster-mlip", "version": "1.0", "device": "cuda", "protocol": "relax-ci-v1",
            "outcome": {"em": 0.5, "energies": [0.0, 0.5, 0.0]}}
    f = tmp_path / "out.jsonl"
    with hopdb.open(cu_store) as db:
        for bad, err, match in (
            (dict(good, parent="test:cu-vac-3", outcome={"em": 25.0}), hopdb.Error, "not a plausible barrier"),
            (dict(good, parent="test:cu-vac-3", outcome={"em": float("nan")}), ValueError, "line 2: a non-finite number"),
            (dict(good, parent="test:nope"), hopdb.Error, "no such record"),
            (dict(good, parent="test:cu-vac-3", outcome={}), hopdb.Error, "neither a barrier nor a failure"),
        ):
            f.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
            with pytest.raises(err, match=match):
                mlip.store_outcomes(db, f)
            assert len(db.query("SELECT id FROM hops WHERE fidelity = 'mlip'")) == 0
        f.write_text(json.dumps(good) + "\n")
        assert mlip.store_outcomes(db, f)["stored"] == 1
        assert mlip.store_outcomes(db, f) == {"stored": 0, "already": 1, "failed": {}}
        rows = mlip.compare(db)
    assert [(r["label"], r["group"], r["n"]) for r in rows][:1] == [("cluster-mlip/relax-ci-v1", "all", 1)]


def test_unknown_calculators_name_what_to_install():
    with pytest.raises(ImportError, match="no_such_mlip_pkg"):
        mlip.load_calculator("no_such_mlip_pkg.calc:make")
    with pytest.raises(ValueError, match="unknown calculator"):
        mlip.load_calculator("nonsense")


def test_devi_import_links_the_published_mace_barriers(db):
    t = db.query("SELECT code, count(*) AS n FROM hops WHERE fidelity = 'mlip' GROUP BY code ORDER BY code").to_pylist()
    assert t == [{"code": "mace-mp-0/devi2025-norelax", "n": 603}, {"code": "mace-mp-0/devi2025-relax", "n": 616}]
    r = db.record("mlip:devi2025:K2MnP2O7@mace-mp-0/devi2025-relax")
    assert r["em"] == 0.759 and r["parent"] == "devi2025:K2MnP2O7"
    assert r["provenance"]["source_file"] == "tabulation.csv" and len(r["provenance"]["source_sha256"]) == 64
    rows = {x["label"]: x for x in mlip.compare(db) if x["group"] == "all"}
    assert rows["mace-mp-0/devi2025-relax"]["n"] == 616
    assert 0.70 < rows["mace-mp-0/devi2025-relax"]["spearman"] < 0.75


def test_the_cli_runs_the_package(cu_store: Path, hopdb_bin):
    import os
    import subprocess
    import sys

    env = dict(os.environ, HOPDB_PYTHON=sys.executable)
    q = "SELECT id FROM hops WHERE id = 'test:cu-vac-2'"
    out = subprocess.run([str(hopdb_bin), "--db", str(cu_store), "mlip", "compute", "--calculator", "emt", "--protocol", "quick-v1", "--query", q],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["stored"] == 1
    cmp = subprocess.run([str(hopdb_bin), "--db", str(cu_store), "mlip", "compare", "--overall", "--format", "json"], capture_output=True, text=True)
    assert cmp.returncode == 0, cmp.stderr
    assert json.loads(cmp.stdout)[0]["label"] == "emt/quick-v1"
    bad = subprocess.run([str(hopdb_bin), "--db", str(cu_store), "mlip", "compute", "--calculator", "no_such_pkg:make", "--query", q],
                         capture_output=True, text=True, env=env)
    assert bad.returncode != 0 and "no_such_pkg" in bad.stderr
