"""Every exception type, each raised by a real bad input; no Rust panic reaches Python."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

import hopdb

from conftest import DEVI_RECORDS, REPO, run_cli


def test_exception_hierarchy():
    for e in (hopdb.QueryError, hopdb.StoreLockedError, hopdb.ImportRejected, hopdb.NotFound):
        assert issubclass(e, hopdb.Error)
    assert issubclass(hopdb.Error, Exception)


def test_query_error_has_line_column_and_caret(db):
    with pytest.raises(hopdb.QueryError) as e:
        db.query("SELECT ion, em\nFROM hops\nWHERE em < 0.3 AND emm > 2")
    err = e.value
    assert (err.line, err.column) == (3, 20)
    assert "unknown field 'emm', did you mean 'em'?" in str(err)
    assert "3 | WHERE em < 0.3 AND emm > 2" in str(err)
    assert "^^^" in str(err)
    with pytest.raises(hopdb.QueryError) as e:
        db.query("SELECT * FROM hops WHERE em <")
    assert e.value.line == 1 and e.value.column == 30


def test_store_locked_by_another_process(store_path, hopdb_bin):
    code = textwrap.dedent(
        f"""
        import sys, hopdb
        db = hopdb.open({str(store_path)!r})
        print("ready", flush=True)
        sys.stdin.readline()
        db.close()
        print("closed", flush=True)
        sys.stdin.readline()
        """
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        with pytest.raises(hopdb.StoreLockedError, match="is in use by another hopdb process"):
            hopdb.open(store_path)
        cli = run_cli(hopdb_bin, store_path, "stats", check=False)
        assert cli.returncode != 0 and "in use by another hopdb process" in cli.stderr
        p.stdin.write("\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "closed"
        # close() released it while the other process still runs.
        with hopdb.open(store_path) as db:
            assert len(db) == DEVI_RECORDS
    finally:
        p.stdin.close()
        p.wait(timeout=30)


def test_close_releases_the_store_for_the_cli(store_path, hopdb_bin):
    db = hopdb.open(store_path)
    assert run_cli(hopdb_bin, store_path, "stats", check=False).returncode != 0
    db.close()
    assert db.closed
    db.close()  # idempotent
    assert run_cli(hopdb_bin, store_path, "stats").returncode == 0
    with pytest.raises(hopdb.Error, match="closed"):
        db.record("devi2025:Li4P2S7")


def _broken_devi(data_dir, tmp_path):
    bad = tmp_path / "devi-bad"
    bad.mkdir()
    for f in ("band_train.json", "endpoints_test.json", "tabulation.csv"):
        shutil.copy(data_dir / f, bad / f)
    recs = json.load(open(data_dir / "band_test.json"))
    recs[2]["target"] = -0.25
    recs[7]["atoms"]["elements"][9] = "Qq"
    json.dump(recs, open(bad / "band_test.json", "w"))
    return bad, recs


def test_invalid_import_file_is_rejected_with_every_record(tmp_path, data_dir):
    bad, recs = _broken_devi(data_dir, tmp_path)
    with hopdb.open(tmp_path / "s.db", create=True) as db:
        with pytest.raises(hopdb.ImportRejected) as e:
            db.import_devi(bad)
        rows = e.value.rejections
        assert len(rows) == 2
        files = {r[0] for r in rows}
        assert files == {str(bad / "band_test.json")}
        by_record = {r[1]: r for r in rows}
        r2 = by_record[f"record 2 ({recs[2]['sys_name']})"]
        assert r2[2] == "em" and "negative barrier" in r2[3]
        r7 = by_record[f"record 7 ({recs[7]['sys_name']})"]
        assert r7[2] == "atoms.elements[9]" and r7[3] == "unknown element 'Qq'"
        assert "nothing was imported" in str(e.value)
        assert len(db) == 0
        # With skip_invalid the valid records go in and the rejected ones are reported.
        rep = db.import_devi(bad, skip_invalid=True)
        assert [r[0] for r in rep.rejected] == [f"{bad / 'band_test.json'}, record {k} ({recs[k]['sys_name']})" for k in (7, 2)]
        assert len(rep.added) >= 617 and "devi2025:" + recs[2]["sys_name"] not in rep.added
        assert len(db) == len(rep.added)


def test_malformed_files_raise_import_rejected(tmp_path):
    with hopdb.open(tmp_path / "s.db", create=True) as db:
        with pytest.raises(hopdb.ImportRejected) as e:
            db.import_xyz(REPO / "fixtures" / "litraj" / "bad_atom_count.xyz")
        assert e.value.rejections and e.value.rejections[0][0].endswith("bad_atom_count.xyz")
        with pytest.raises(hopdb.ImportRejected) as e:
            db.import_manifest(REPO / "fixtures" / "generic" / "bad_missing_file.csv")
        assert any(r[2] in ("initial", "final") and "no such file" in r[3] for r in e.value.rejections)
        assert len(db) == 0


def test_not_found(db):
    with pytest.raises(hopdb.NotFound, match="no record with id or sys_name 'devi2025:nope'"):
        db.record("devi2025:nope")
    with pytest.raises(hopdb.NotFound, match="no split named 'nope'"):
        db.split("nope")
    with pytest.raises(hopdb.NotFound):
        db.query("EVALUATE no_such_model ON SPLIT paper")
    with pytest.raises(hopdb.NotFound, match="no hopdb store"):
        hopdb.open("/nonexistent/hopdb-store")


def test_hostile_inputs_raise_errors_not_panics(scratch_copy):
    """Each bad input is a Python exception of the documented kinds; a Rust panic would surface
    as pyo3's PanicException (a BaseException), which these checks would not catch."""
    from ase import Atoms

    with hopdb.open(scratch_copy) as db:
        for q, params in [
            ("", None),
            ("SELECT", None),
            ("SELECT * FROM hops LIMIT 99999999999999999999999", None),
            ("SELECT * FROM hops WHERE em < ?", [float("nan")]),
            ("SELECT * FROM hops WHERE em < ? AND ion = ?", ["x"]),
            ("SELECT * FROM hops; DROP SPLIT paper", None),
            ("SELECT ((((((((((em)))))))))) FROM hops WHERE " + " AND ".join(["em > 0"] * 400), None),
        ]:
            with pytest.raises((hopdb.Error, ValueError, TypeError)):
                db.query(q, params)
        assert "paper" in db.splits()
        ini = db.atoms("devi2025:Li4P2S7", "initial")
        fin = db.atoms("devi2025:Li4P2S7", "final")
        bad_cell = ini.copy()
        bad_cell.set_cell([[0, 0, 0], [0, 1, 0], [0, 0, 1]])
        nan_pos = ini.copy()
        nan_pos.positions[3] = [float("nan")] * 3
        for kw in [
            dict(initial=ini, final=fin, ion="Li", em=float("nan")),
            dict(initial=ini, final=fin, ion="Li", em=float("inf")),
            dict(initial=bad_cell, final=fin, ion="Li", em=0.3),
            dict(initial=nan_pos, final=fin, ion="Li", em=0.3),
            dict(initial=Atoms(cell=[3, 3, 3], pbc=True), final=Atoms(cell=[3, 3, 3], pbc=True), ion="Li", em=0.3),
            dict(initial=ini, final=fin[:-1], ion="Li", em=0.3),
        ]:
            with pytest.raises((hopdb.Error, ValueError)):
                db.add(**kw)
        for bad in (float("nan"), -1.0, float("inf")):
            with pytest.raises(hopdb.Error):
                db.edit("devi2025:Li4P2S7", em=bad, reason="x")
        with pytest.raises(hopdb.NotFound):
            db.atoms("")
        assert len(db) == DEVI_RECORDS
