"""Screening new hops (db.predict) and the Parquet export."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

import hopdb
from conftest import DEVI_RECORDS


def _frac_from_band(rec, k):
    """(cell, symbols, fractional coordinates) of a source band record with the ion at band
    image k (0 = initial, 4 = final) and the host after it, read from the file."""
    a = rec["atoms"]
    elements, coords = a["elements"], np.array(a["coords"])
    return np.array(a["lattice_mat"]), [elements[k]] + elements[5:], np.vstack([coords[k:k + 1], coords[5:]])


def _structure_from_band(rec, k):
    from pymatgen.core import Lattice, Structure

    cell, symbols, frac = _frac_from_band(rec, k)
    return Structure(Lattice(cell), symbols, frac)


def _atoms_from_band(rec, k):
    from ase import Atoms

    cell, symbols, frac = _frac_from_band(rec, k)
    return Atoms(symbols=symbols, scaled_positions=frac, cell=cell, pbc=True)


@pytest.fixture(scope="module")
def trained(store_path):
    with hopdb.open(store_path) as db:
        if "gbt" not in db.query("SHOW MODELS").to_pydict().get("name", []):
            db.query("TRAIN gbt AS boosted_trees ON SPLIT paper")
    return "gbt"


@pytest.fixture(scope="module")
def paper_test(store_path, data_dir, trained):
    recs = json.load(open(data_dir / "band_test.json"))
    assert len(recs) == 60
    with hopdb.open(store_path) as db:
        t = db.query("PREDICT gbt FOR (SELECT * FROM hops WHERE partition = 'test')").to_pydict()
    stored = dict(zip(t["id"], t["predicted"]))
    return recs, [stored["devi2025:" + r["sys_name"]] for r in recs]


def test_predict_new_hops_from_source_files_matches_predict(db, paper_test, trained):
    """The 60 test hops, built from the source file's fractional coordinates (pymatgen
    Structures keep them as given), predict exactly what PREDICT gives the stored hops."""
    pytest.importorskip("pymatgen")
    recs, want = paper_test
    pairs = [(_structure_from_band(r, 0), _structure_from_band(r, 4)) for r in recs]
    got = db.predict(trained, pairs, ion=[r["atoms"]["elements"][0] for r in recs])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    # The predictions differ between hops (the comparison is not of a constant).
    assert len({round(g, 6) for g in got}) > 20
    # One pair, the ion inferred (the one atom that moves).
    assert db.predict(trained, initial=pairs[0][0], final=pairs[0][1]) == pytest.approx(want[0], abs=1e-9)
    with pytest.raises(hopdb.NotFound):
        db.predict("no_such_model", initial=pairs[0][0], final=pairs[0][1])
    with pytest.raises(hopdb.Error, match="hop 1"):
        db.predict(trained, initial=pairs[0][0], final=pairs[0][0])
    with pytest.raises(ValueError, match="2 ions for 60 hops"):
        db.predict(trained, pairs, ion=["Li", "Mg"])


def test_predict_from_ase_atoms_is_exact(db, paper_test, trained):
    """ase.Atoms keep Cartesian positions, so the fractional coordinates hopdb gets back differ
    from the file's by rounding (~1e-16); the descriptors are stable under that (bottleneck
    ties on symmetric paths are resolved with a tolerance), so the predictions are exact."""
    pytest.importorskip("ase")
    recs, want = paper_test
    got = db.predict(trained, [(_atoms_from_band(r, 0), _atoms_from_band(r, 4)) for r in recs])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


def test_parquet_export_equals_the_query(db, tmp_path):
    q = "SELECT id, ion, em, elements, flags, natoms, converged, state FROM hops WHERE fidelity = 'dft' ORDER BY id"
    n = db.export_parquet(tmp_path / "hops.parquet", query=q)
    assert n == 619
    t = pq.read_table(tmp_path / "hops.parquet")
    assert t.equals(db.query(q))
    df = t.to_pandas()
    assert df["em"].dtype == "float64" and len(df) == 619
    db.export_parquet(tmp_path / "all.parquet")
    assert pq.read_table(tmp_path / "all.parquet").num_rows == DEVI_RECORDS


def test_screening_a_hop_v2_model_reads_the_mlip_barrier_it_is_given(scratch_copy, paper_test):
    """A hop-v2 model (published MACE-RELAX label) predicts new hops given their MLIP barriers
    exactly as PREDICT predicts the stored hops with their stored ones; without them the error
    names the fidelity; a barrier that is not one is refused."""
    recs, _ = paper_test
    with hopdb.open(scratch_copy) as db:
        db.query("TRAIN g2 AS boosted_trees ON SPLIT paper WITH features = 'hop-v2'")
        label = "mace-mp-0/devi2025-relax"
        assert db.model_needs("g2") == {"mlip": label, "bvse": True}
        t = db.query("PREDICT g2 FOR (SELECT * FROM hops WHERE partition = 'test')").to_pydict()
        stored = dict(zip(t["id"], t["predicted"]))
        ids = ["devi2025:" + r["sys_name"] for r in recs]
        mace = []
        for i in ids:
            try:
                mace.append(db.record(f"mlip:{i}@{label}")["em"])
            except hopdb.NotFound:
                mace.append(None)
        pairs = [(_atoms_from_band(r, 0), _atoms_from_band(r, 4)) for r in recs]
        got = db.predict("g2", pairs, mlip_em=mace)
        np.testing.assert_allclose(got, [stored[i] for i in ids], rtol=0, atol=1e-9)
        # The MLIP column matters: other values give other predictions.
        shifted = db.predict("g2", pairs, mlip_em=[None if m is None else m + 0.5 for m in mace])
        assert sum(abs(a - b) > 1e-6 for a, b in zip(shifted, got)) > 10
        with pytest.raises(hopdb.Error, match=r"MLIP barrier \(mace-mp-0/devi2025-relax\)"):
            db.predict("g2", pairs[:1])
        with pytest.raises(hopdb.Error, match="not a barrier"):
            db.predict("g2", pairs[:1], mlip_em=[float("nan")])
        with pytest.raises(hopdb.Error, match="2 MLIP barriers for 1 hops"):
            db.predict("g2", pairs[:1], mlip_em=[0.5, 0.6])
        # The calculator must be the label's model.
        with pytest.raises(ValueError, match="calculator is emt"):
            db.predict("g2", pairs[:1], calculator="emt")


def test_screening_computes_the_mlip_barrier_with_the_calculator(scratch_copy, paper_test):
    """With a calculator of the label's model, the MLIP barrier is an NEB on the hop as an
    import builds it (the same atoms as ``db.atoms`` of the stored hop), with the label's
    protocol; a failed NEB is missing, with a warning."""
    from ase.calculators.lj import LennardJones

    from hopdb import mlip

    recs, _ = paper_test
    r = recs[0]
    with hopdb.open(scratch_copy) as db:
        db.query("TRAIN glj AS boosted_trees ON SPLIT paper WITH features = 'hop-v2', mlip = 'lj/quick-v1'")
        lj = mlip.Calculator(LennardJones(sigma=2.0, epsilon=0.01, rc=5.0), "lj", "test", "cpu")
        pair = (_atoms_from_band(r, 0), _atoms_from_band(r, 4))
        got = db.predict("glj", initial=pair[0], final=pair[1], calculator=lj)
        sid = "devi2025:" + r["sys_name"]
        want = mlip.run_neb(db.atoms(sid, "initial"), db.atoms(sid, "final"), lj.calc, "quick-v1")
        assert want.ok, want.message
        assert got == pytest.approx(db.predict("glj", initial=pair[0], final=pair[1], mlip_em=want.em), abs=1e-12)
        from test_mlip import Exploding

        boom = mlip.Calculator(Exploding().calc, "lj", "test", "cpu")
        with pytest.warns(UserWarning, match="NEB failed"):
            failed = db.predict("glj", initial=pair[0], final=pair[1], calculator=boom)
        assert failed == pytest.approx(db.predict("glj", initial=pair[0], final=pair[1], mlip_em=[None]), abs=1e-12)
