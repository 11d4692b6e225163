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
