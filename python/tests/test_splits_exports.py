"""Splits and the exports for other ML stacks (ALIGNN, extended XYZ)."""

from __future__ import annotations

import csv
import hashlib
import json

import numpy as np
import pytest

import hopdb


def _fingerprint(sp: hopdb.Split) -> str:
    """The fingerprint recipe of docs/SPLITS.md, written out independently of the library."""
    h = hashlib.sha256()
    h.update(f"hopdb-split-v1\nalgorithm={sp.algorithm}\n".encode())
    for k in sorted(sp.params):
        h.update(f"param {k}={sp.params[k]}\n".encode())
    h.update(f"seed={'none' if sp.seed is None else sp.seed}\n".encode())
    for p in sorted(sp.partitions):
        h.update(f"partition {p} {len(sp.partitions[p])}\n".encode())
        for i in sorted(sp.partitions[p]):
            h.update(f"{i}\n".encode())
    return h.hexdigest()


def test_paper_split(db):
    sp = db.split("paper")
    assert {k: len(v) for k, v in sp.partitions.items()} == {"train": 559, "test": 60}
    test_ids = db.query("SELECT id FROM hops WHERE partition = 'test' ORDER BY id").column("id").to_pylist()
    assert sp.partitions["test"] == test_ids
    assert sp.fingerprint == _fingerprint(sp)
    df = sp.to_frame()
    assert list(df.columns) == ["id", "partition"] and len(df) == 619
    assert df.groupby("partition").size().to_dict() == {"test": 60, "train": 559}
    assert "paper" in db.splits()


def test_stratified_split_fingerprint_and_cli(scratch_copy, hopdb_bin):
    with hopdb.open(scratch_copy) as db:
        db.query("CREATE SPLIT s1 FROM (SELECT * FROM hops WHERE fidelity = 'dft') STRATIFIED BY group TEST 10% SEED ?", [42])
        sp = db.split("s1")
        assert sp.seed == 42 and sp.fingerprint == _fingerprint(sp)
    from conftest import run_cli

    shown = run_cli(hopdb_bin, scratch_copy, "query", "SHOW SPLITS", "--format", "json").stdout
    assert sp.fingerprint[:16] in shown


def _alignn_split_ids(root):
    """ALIGNN's own rule (alignn/data.py, get_id_train_val_test with keep_data_order=True): the
    rows of id_prop.csv in file order; the first n_train are training, the n_val before the
    last n_test validation, the last n_test test."""
    cfg = json.load(open(root / "config_hopdb.json"))
    with open(root / "id_prop.csv") as f:
        rows = [r for r in csv.reader(f)]
    n_train, n_val, n_test = cfg["n_train"], cfg["n_val"], cfg["n_test"]
    assert cfg["keep_data_order"] is True and n_train + n_val + n_test == len(rows)
    ids = list(range(len(rows)))
    train = ids[:n_train]
    val = ids[-(n_val + n_test):-n_test]
    test = ids[-n_test:]
    files = [r[0] for r in rows]
    return {"train": [files[i] for i in train], "val": [files[i] for i in val], "test": [files[i] for i in test]}, rows


def test_alignn_export_reproduces_the_split(scratch_copy, tmp_path):
    pytest.importorskip("ase")
    import ase.io

    out = tmp_path / "alignn"
    with hopdb.open(scratch_copy) as db:
        db.query("CREATE SPLIT pv FROM PARTITION VALIDATION 10% SEED 1")
        sp = db.split("pv")
        counts = db.export_split("pv", "alignn", out, view="band")
        assert counts == {k: len(v) for k, v in sp.partitions.items()}
        parts, rows = _alignn_split_ids(out)
        with open(out / "hopdb_ids.csv") as f:
            file_to_id = {r["filename"]: r["id"] for r in csv.DictReader(f)}
        for p in ("train", "val", "test"):
            assert sorted(file_to_id[f] for f in parts[p]) == sp.partitions[p]
        em = {r[0]: float(r[1]) for r in rows}
        some = parts["test"][:5] + parts["val"][:3]
        for f in some:
            rid = file_to_id[f]
            assert em[f] == db.record(rid)["em"]
            a = ase.io.read(out / f, format="vasp")
            b = db.atoms(rid, "band")
            assert a.get_chemical_symbols() == b.get_chemical_symbols()
            np.testing.assert_allclose(a.get_positions(), b.get_positions(), atol=1e-6)
        with pytest.raises(hopdb.Error, match="no 'val' partition"):
            db.export_split("paper", "alignn", tmp_path / "x")


def test_extxyz_export_loads_in_ase_with_em(db, tmp_path):
    pytest.importorskip("ase")
    import ase.io

    counts = db.export_split("paper", "extxyz", tmp_path / "xyz")
    assert counts == {"train": 559, "test": 60}
    sp = db.split("paper")
    em = dict(zip(*db.query("SELECT id, em FROM hops").to_pydict().values()))
    for p in ("train", "test"):
        frames = ase.io.read(tmp_path / "xyz" / f"{p}.extxyz", ":")
        assert len(frames) == len(sp.partitions[p])
        assert [f.info["id"] for f in frames] == sp.partitions[p]
        assert [f.info["em"] for f in frames] == [em[i] for i in sp.partitions[p]]
        assert all(f.get_chemical_symbols()[-1] == "X" for f in frames)
