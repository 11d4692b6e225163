"""Stored hops as ase.Atoms and pymatgen Structures, checked against the source files."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

import hopdb


def _band_records(data_dir, name):
    recs = json.load(open(data_dir / name))
    counts = Counter(r["sys_name"] for r in recs)
    return [r for r in recs if counts[r["sys_name"]] == 1]


@pytest.mark.parametrize("name", ["band_train.json", "band_test.json"])
def test_band_view_positions_equal_the_source_file(db, data_dir, name):
    recs = _band_records(data_dir, name)
    assert len(recs) > 50
    for r in recs:
        atoms = db.atoms("devi2025:" + r["sys_name"], "band")
        src = r["atoms"]
        assert src["cartesian"] is False
        assert atoms.get_chemical_symbols() == src["elements"]
        np.testing.assert_allclose(atoms.get_scaled_positions(wrap=False), np.array(src["coords"]), rtol=0, atol=1e-12)
        np.testing.assert_allclose(atoms.cell[:], np.array(src["lattice_mat"]), rtol=0, atol=1e-12)
        assert atoms.pbc.all()


def test_initial_final_and_centroid_views(db, data_dir):
    r = _band_records(data_dir, "band_test.json")[0]
    id = "devi2025:" + r["sys_name"]
    coords = np.array(r["atoms"]["coords"])
    host = coords[5:]
    ini, fin, cen = db.atoms(id, "initial"), db.atoms(id, "final"), db.atoms(id, "centroid")
    np.testing.assert_allclose(ini.get_scaled_positions(wrap=False), np.vstack([coords[:1], host]), atol=1e-12)
    np.testing.assert_allclose(fin.get_scaled_positions(wrap=False), np.vstack([coords[4:5], host]), atol=1e-12)
    # LiTraj layout: host, ion at both endpoints, X at the midpoint.
    ion = r["atoms"]["elements"][0]
    assert cen.get_chemical_symbols() == r["atoms"]["elements"][5:] + [ion, ion, "X"]
    np.testing.assert_allclose(cen.get_scaled_positions(wrap=False)[-1], (coords[0] + coords[4]) / 2, atol=1e-12)
    with pytest.raises(ValueError, match="unknown view"):
        db.atoms(id, "middle")


def test_pymatgen_structure_views(db, data_dir):
    pytest.importorskip("pymatgen")
    from pymatgen.core.periodic_table import DummySpecies

    r = _band_records(data_dir, "band_train.json")[3]
    id = "devi2025:" + r["sys_name"]
    s = db.structure(id, "band")
    np.testing.assert_allclose(s.frac_coords, np.array(r["atoms"]["coords"]), atol=1e-12)
    assert [sp.symbol for sp in s.species] == r["atoms"]["elements"]
    c = db.structure(id, "centroid")
    assert isinstance(c.species[-1], DummySpecies) and c.species[-1].symbol == "X"
    a = db.atoms(id, "centroid")
    np.testing.assert_allclose(c.cart_coords, a.get_positions(), atol=1e-9)


def test_sys_name_resolves_to_the_record(db):
    assert db.record("Li4P2S7")["id"] == "devi2025:Li4P2S7"
    with pytest.raises(hopdb.NotFound, match="no record with id or sys_name 'no-such-hop'"):
        db.atoms("no-such-hop")
