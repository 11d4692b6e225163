"""Lineage from Python: the data version, `as_of=` on queries, `diff`, `remove`, and stale
models (docs/LINEAGE.md)."""

from __future__ import annotations

import pytest

import hopdb

HOP = "devi2025:LiCoO2_1"


def em_of(db, hop: str, **kw) -> list:
    return db.query("SELECT em FROM hops WHERE id = ?", [hop], **kw).column("em").to_pylist()


def test_version_as_of_diff_and_remove(scratch_copy):
    with hopdb.open(scratch_copy) as db:
        v0, at0 = db.version
        assert isinstance(v0, int) and at0.endswith("Z")
        assert em_of(db, HOP) == [0.672]
        db.edit(HOP, em=4.5, reason="erratum")
        v1, _ = db.version
        assert v1 > v0
        v2, _ = db.remove(["devi2025:Li4P2S7"], reason="retracted")
        assert v2 > v1 and db.version[0] == v2
        # The store now, and as it was.
        assert em_of(db, HOP) == [4.5]
        assert em_of(db, HOP, as_of=v0) == [0.672]
        assert em_of(db, HOP, as_of=at0) in ([0.672], [4.5])  # the edit may share the second
        n_now = db.query("SELECT COUNT(*) AS n FROM hops").column("n")[0].as_py()
        assert db.query("SELECT COUNT(*) AS n FROM hops", as_of=v0).column("n")[0].as_py() == n_now + 1
        # diff names the edit (with its reason) and the removal.
        rows = db.diff(v0)
        assert {(r["id"], r["change"]) for r in rows} == {(HOP, "changed"), ("devi2025:Li4P2S7", "removed")}
        edit = next(r for r in rows if r["change"] == "changed")
        assert (edit["field"], edit["old"], edit["new"], edit["reason"]) == ("em", "0.672", "4.5", "erratum")
        assert db.diff(v0, v1) == [edit]
        # Bad versions and arguments are clear errors.
        with pytest.raises(hopdb.Error, match="no later version"):
            db.query("SELECT id FROM hops", as_of=v2 + 1000)
        with pytest.raises(hopdb.Error, match="not a time"):
            db.query("SELECT id FROM hops", as_of="yesterday")
        with pytest.raises(TypeError, match="as_of"):
            db.query("SELECT id FROM hops", as_of=1.5)
        with pytest.raises(ValueError, match="as_of applies to SELECT"):
            db.query("SHOW MODELS", as_of=v0)
        with pytest.raises(hopdb.Error, match="reason"):
            db.remove(HOP, reason=" ")
        assert db.version[0] == v2, "failed calls write nothing"


def test_an_edit_makes_a_model_stale_and_retrain_keeps_the_old_version(scratch_copy):
    with hopdb.open(scratch_copy) as db:
        db.query("TRAIN m AS mean ON SPLIT paper")
        assert db.query("SHOW MODELS").column("stale").to_pylist() == [False]
        db.edit(HOP, em=4.5, reason="erratum")
        models = db.query("SHOW MODELS")
        assert models.column("stale").to_pylist() == [True]
        assert HOP in models.column("why")[0].as_py()
        with pytest.raises(hopdb.Error, match="STRICT refuses a stale model"):
            db.query("EVALUATE m ON SPLIT paper STRICT")
        db.query("RETRAIN m")
        models = db.query("SHOW MODELS")
        assert models.column("name").to_pylist() == ["m", "m@1"]
        assert models.column("version").to_pylist() == [2, 1]
        assert models.column("stale").to_pylist() == [False, True]
