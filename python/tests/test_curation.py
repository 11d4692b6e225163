"""Curation from Python: add, edit, imports, with the CLI's all-or-nothing rules."""

from __future__ import annotations

import json

import numpy as np
import pytest

import hopdb

from conftest import DEVI_RECORDS, REPO, run_cli


def test_add_from_ase_atoms_round_trips(db, tmp_path):
    src = db.record("devi2025:Li4P2S7")
    ini, fin = db.atoms(src["id"], "initial"), db.atoms(src["id"], "final")
    with hopdb.open(tmp_path / "new.db", create=True) as new:
        rid = new.add(ini, fin, ion="Li", em=0.31, xc="r2SCAN", doi="10.1000/xyz", notes="Table 2")
        assert rid.startswith("curated:Li63P32S112-") and len(rid) == len("curated:Li63P32S112-") + 12
        rec = new.record(rid)
        assert rec["em"] == 0.31 and rec["ion"] == "Li"
        assert rec["method"]["xc"] == "r2SCAN"
        assert rec["provenance"]["doi"] == "10.1000/xyz" and rec["provenance"]["notes"] == "Table 2"
        assert rec["provenance"]["importer"] == "generic-structures"
        # ASE keeps Cartesian positions: fractional coordinates come back within rounding.
        assert rec["host_natoms"] == src["host_natoms"]
        np.testing.assert_allclose(new.atoms(rid, "final").get_positions(), fin.get_positions(), rtol=0, atol=1e-9)
        np.testing.assert_allclose(rec["initial"], src["initial"], atol=1e-12)
        np.testing.assert_allclose(rec["final_site"], src["final_site"], atol=1e-12)
        assert rec["elements"] == src["elements"] and rec["hop_length"] == pytest.approx(src["hop_length"], abs=1e-12)
        np.testing.assert_allclose(new.atoms(rid, "band").get_positions(), db.atoms(src["id"], "band").get_positions(), atol=1e-9)
        # The same hop with the same barrier again: a duplicate, nothing added.
        assert new.add(ini, fin, ion="Li", em=0.31) == rid
        assert len(new) == 1
        log = new.query("SELECT id, em, xc, doi FROM hops").to_pylist()
        assert log == [{"id": rid, "em": 0.31, "xc": "r2SCAN", "doi": "10.1000/xyz"}]


def test_add_from_pymatgen_and_a_duplicate_of_a_stored_hop(scratch_copy):
    pytest.importorskip("pymatgen")
    with hopdb.open(scratch_copy) as db:
        src = db.record("devi2025:Li4P2S7")
        ini, fin = db.structure(src["id"], "initial"), db.structure(src["id"], "final")
        # Same hop, same barrier as the stored devi2025 record: reported as that record.
        assert db.add(ini, fin, ion="Li", em=src["em"]) == "devi2025:Li4P2S7"
        assert len(db) == DEVI_RECORDS
        # Another barrier for the same hop is a second published value: added and flagged.
        rid = db.add(ini, fin, ion="Li", em=src["em"] + 0.2, id="li4p2s7-other")
        assert rid == "curated:li4p2s7-other"
        assert "same-hop-other-em" in db.record(rid)["flags"]


def test_add_rejects_a_bad_hop_and_writes_nothing(scratch_copy):
    with hopdb.open(scratch_copy) as db:
        ini = db.atoms("devi2025:Li4P2S7", "initial")
        with pytest.raises(hopdb.ImportRejected) as e:
            db.add(ini, ini.copy(), ion="Li", em=0.3)
        assert e.value.rejections and e.value.rejections[0][2] == ""
        assert "initial/final" in e.value.rejections[0][3]
        with pytest.raises(hopdb.ImportRejected, match="negative barrier"):
            db.add(ini, db.atoms("devi2025:Li4P2S7", "final"), ion="Li", em=-0.1)
        with pytest.raises(ValueError, match="unknown element"):
            db.add(ini, ini, ion="Xx", em=0.1)
        assert len(db) == DEVI_RECORDS


def test_edit_records_a_revision_and_is_all_or_nothing(scratch_copy, hopdb_bin):
    with hopdb.open(scratch_copy) as db:
        before = db.record("devi2025:Li4P2S7")
        after = db.edit("Li4P2S7", em=0.45, xc="SCAN", reason="erratum")
        assert after["em"] == 0.45 and after["method"]["xc"] == "SCAN"
        revs = after["revisions"][len(before["revisions"]):]
        assert [(r["field"], r["old"], r["new"], r["reason"]) for r in revs] == [("em", "0.3", "0.45", "erratum"), ("xc", "GGA", "SCAN", "erratum")]
        # One bad change: nothing at all is written.
        with pytest.raises(hopdb.Error, match="no flag 'not-a-flag'"):
            db.edit("devi2025:Li4P2S7", em=0.9, remove_flags=["not-a-flag"], reason="x")
        assert db.record("devi2025:Li4P2S7") == after
        with pytest.raises(hopdb.Error, match="nothing to edit"):
            db.edit("devi2025:Li4P2S7", reason="x")
        with pytest.raises(hopdb.NotFound):
            db.edit("devi2025:nope", em=1.0, reason="x")
    # The CLI sees the same history.
    out = json.loads(run_cli(hopdb_bin, scratch_copy, "show", "Li4P2S7", "--format", "json").stdout)
    assert out["record"]["revisions"] == after["revisions"]


def test_import_report_and_duplicates(scratch_copy, data_dir):
    with hopdb.open(scratch_copy) as db:
        r = db.import_devi(data_dir)
        assert r.added == [] and len(r.duplicates) == DEVI_RECORDS and r.rejected == []
        dry = db.import_devi(data_dir, dry_run=True)
        assert dry.added == [] and len(dry.duplicates) == DEVI_RECORDS


def test_import_xyz_and_jsonl_round_trip_through_cli_exports(store_path, hopdb_bin, tmp_path):
    xyz, jsonl = tmp_path / "all.xyz", tmp_path / "all.jsonl"
    run_cli(hopdb_bin, store_path, "export", "xyz", "--out", str(xyz), "--query", "SELECT id FROM hops WHERE fidelity = 'dft'")
    run_cli(hopdb_bin, store_path, "export", "jsonl", "--out", str(jsonl))
    with hopdb.open(tmp_path / "x.db", create=True) as db:
        r = db.import_xyz(xyz, fidelity="dft", dataset="again", skip_invalid=True)
        assert len(r.added) + len(r.rejected) + len(r.duplicates) == 619
        assert len(r.added) > 600
        t = db.query("SELECT source_record, em FROM hops").to_pydict()
        assert dict(zip(t["source_record"], t["em"]))["Li4P2S7"] == 0.3
    with hopdb.open(tmp_path / "j.db", create=True) as db:
        r = db.import_jsonl(jsonl)
        assert len(r.added) == DEVI_RECORDS
        assert db.record("devi2025:Li4P2S7")["em"] == 0.3


def test_import_manifest(tmp_path):
    with hopdb.open(tmp_path / "m.db", create=True) as db:
        r = db.import_manifest(REPO / "fixtures" / "generic" / "manifest.csv", dataset="mylab")
        assert r.added and all(i.startswith("mylab:") for i in r.added)
        assert len(db) == len(r.added)


def test_compact_keeps_every_record_and_the_handle_stays_usable(scratch_copy):
    with hopdb.open(scratch_copy) as db:
        before = db.query("SELECT id, em FROM hops ORDER BY id").to_pylist()
        rep = db.compact()
        assert rep["keys"] > DEVI_RECORDS and rep["bytes_on_disk_after"] > 0 and rep["seconds"] >= 0
        # The same handle reads the compacted store, and writes to it.
        assert db.query("SELECT id, em FROM hops ORDER BY id").to_pylist() == before
        assert db.record("devi2025:Li4P2S7")["em"] == 0.3
        db.edit("devi2025:Li4P2S7", notes="after compaction", reason="test")
    with hopdb.open(scratch_copy) as db:
        assert db.record("devi2025:Li4P2S7")["provenance"]["notes"] == "after compaction"
        assert len(db) == DEVI_RECORDS


def test_a_large_import_ends_with_a_compaction_unless_told_not_to(tmp_path):
    from hopdb import _hopdb

    n = 10_000  # hopdb::import::COMPACT_AFTER_RECORDS: the smallest import that compacts
    xyz = tmp_path / "synthetic.xyz"
    assert _hopdb.write_synthetic_xyz(str(xyz), n, 3) == n
    with hopdb.open(tmp_path / "a.db", create=True) as db:
        v0 = db.version[0]
        r = db.import_xyz(xyz)
        assert len(r.added) == n and r.compaction is not None
        # The import and the compaction: two data versions. (Not a smaller store: at this size
        # the import leaves little to reclaim, and sled's file length varies by about 2 MB from
        # run to run, 58.8-60.9 MB before the compaction and 57.8-60.4 MB after in three runs.)
        assert db.version[0] == v0 + 2
        assert r.compaction["keys"] > 5 * n and r.compaction["bytes"] > 0
        assert db.query("SELECT COUNT(*) AS n FROM hops WHERE fidelity = 'bvse'").to_pylist() == [{"n": n}]
        # Nothing new: no compaction.
        again = db.import_xyz(xyz)
        assert again.added == [] and len(again.duplicates) == n and again.compaction is None
    with hopdb.open(tmp_path / "b.db", create=True) as db:
        v0 = db.version[0]
        r = db.import_xyz(xyz, compact=False)
        assert len(r.added) == n and r.compaction is None
        assert db.version[0] == v0 + 1
