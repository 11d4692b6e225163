"""Screening new hops (db.predict) and the Parquet export."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

import hopdb


def _atoms_from_band(rec, k):
    """ase.Atoms of a source band record with the ion at band image k (0 = initial, 4 = final)."""
    from ase import Atoms

    a = rec["atoms"]
    elements, coords = a["elements"], np.array(a["coords"])
    symbols = [elements[k]] + elements[5:]
    frac = np.vstack([coords[k:k + 1], coords[5:]])
    return Atoms(symbols=symbols, scaled_positions=frac, cell=np.array(a["lattice_mat"]), pbc=True)


@pytest.fixture(scope="module")
def trained(store_path):
    with hopdb.open(store_path) as db:
        if "gbt" not in db.query("SHOW MODELS").to_pydict().get("name", []):
            db.query("TRAIN gbt AS boosted_trees ON SPLIT paper")
    return "gbt"


def test_predict_new_hops_from_source_files_matches_predict(db, data_dir, trained):
    pytest.importorskip("ase")
    recs = json.load(open(data_dir / "band_test.json"))
    assert len(recs) == 60
    pairs = [(_atoms_from_band(r, 0), _atoms_from_band(r, 4)) for r in recs]
    got = db.predict(trained, pairs, ion=[r["atoms"]["elements"][0] for r in recs])
    t = db.query("PREDICT gbt FOR (SELECT * FROM hops WHERE partition = 'test')").to_pydict()
    stored = dict(zip(t["id"], t["predicted"]))
    want = [stored["devi2025:" + r["sys_name"]] for r in recs]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    # One pair, the ion inferred (the one atom that moves).
    one = db.predict(trained, initial=pairs[0][0], final=pairs[0][1])
    assert one == pytest.approx(want[0], abs=1e-9)
    with pytest.raises(hopdb.NotFound):
        db.predict("no_such_model", initial=pairs[0][0], final=pairs[0][1])
    with pytest.raises(hopdb.Error, match="hop 1"):
        db.predict(trained, initial=pairs[0][0], final=pairs[0][0])


def test_parquet_export_equals_the_query(db, tmp_path):
    q = "SELECT id, ion, em, elements, flags, natoms, converged, state FROM hops ORDER BY id"
    n = db.export_parquet(tmp_path / "hops.parquet", query=q)
    assert n == 619
    t = pq.read_table(tmp_path / "hops.parquet")
    assert t.equals(db.query(q))
    df = t.to_pandas()
    assert df["em"].dtype == "float64" and len(df) == 619
    db.export_parquet(tmp_path / "all.parquet")
    assert pq.read_table(tmp_path / "all.parquet").num_rows == 619
