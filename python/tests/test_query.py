"""db.query: Arrow tables equal to the CLI's JSON output, typed columns, bound parameters."""

from __future__ import annotations

import json
import math
import threading

import pyarrow as pa
import pytest

import hopdb

from conftest import run_cli

STATEMENTS = [
    "SELECT * FROM hops WHERE ion = 'Mg' AND em < 0.3 ORDER BY id",
    "SELECT id, sys_name, ion, em, elements, flags, natoms, converged, state FROM hops ORDER BY em DESC, id LIMIT 40",
    "SELECT group, COUNT(*) AS hops, AVG(em), MIN(em), MAX(em) FROM hops WHERE elements HAS ALL 'Li','O' GROUP BY group ORDER BY hops DESC, group",
    "SELECT ion, COUNT(*), AVG(hop_length) FROM hops GROUP BY ion ORDER BY ion",
    "EXPLAIN SELECT * FROM hops WHERE ion = 'Mg' AND em < 0.3",
    "SHOW STATS",
    "DESCRIBE hops",
    "SCENARIOS OF SPLIT paper",
]


def _same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


@pytest.fixture(scope="module")
def cli_json(store_path, hopdb_bin):
    out = {}
    for q in STATEMENTS:
        out[q] = json.loads(run_cli(hopdb_bin, store_path, "query", q, "--format", "json").stdout)
    return out


@pytest.mark.parametrize("q", STATEMENTS)
def test_query_table_equals_cli_json(db, cli_json, q):
    t = db.query(q)
    assert isinstance(t, pa.Table)
    expected = cli_json[q]
    rows = t.to_pylist()
    assert len(rows) == len(expected) and len(rows) > 0
    for got, want in zip(rows, expected):
        assert list(got) == list(want)
        for k in want:
            # The CLI writes non-finite numbers as null; Arrow keeps them.
            g = got[k]
            if isinstance(g, float) and not math.isfinite(g):
                g = None
            assert _same(g, want[k]), (k, got[k], want[k])


def test_column_types(db):
    t = db.query("SELECT id, em, natoms, converged, elements, flags, state, sys_name FROM hops WHERE fidelity = 'dft'")
    types = {f.name: f.type for f in t.schema}
    assert types == {
        "id": pa.string(),
        "em": pa.float64(),
        "natoms": pa.int64(),
        "converged": pa.bool_(),
        "elements": pa.list_(pa.string()),
        "flags": pa.list_(pa.string()),
        "state": pa.string(),
        "sys_name": pa.string(),
    }
    assert t.num_rows == 619
    assert t.column("converged").null_count == 619  # no source gives it: nulls, still bool
    assert t.column("state").null_count > 0
    assert t.column("em").null_count == 0
    flags = t.column("flags").to_pylist()
    # A record without flags has a null, as in the CLI's JSON.
    assert sum(1 for f in flags if f) == 19 and all(f is None or (isinstance(f, list) and f) for f in flags)
    df = t.to_pandas()
    assert str(df["em"].dtype) == "float64" and str(df["natoms"].dtype) == "int64"
    agg = db.query("SELECT ion, COUNT(*) AS n, AVG(em) AS mean FROM hops WHERE fidelity = 'dft' GROUP BY ion ORDER BY ion")
    assert agg.schema.field("n").type == pa.int64() and agg.schema.field("mean").type == pa.float64()
    assert sum(agg.column("n").to_pylist()) == 619


def test_empty_result_keeps_its_schema(db):
    t = db.query("SELECT id, em, elements FROM hops WHERE em > 100")
    assert t.num_rows == 0
    assert t.schema.field("em").type == pa.float64() and t.schema.field("elements").type == pa.list_(pa.string())


def test_bound_parameters_are_values(db):
    t = db.query("SELECT id, em FROM hops WHERE ion = ? AND em < ? ORDER BY id", ["Mg", 0.3])
    assert t.equals(db.query("SELECT id, em FROM hops WHERE ion = 'Mg' AND em < 0.3 ORDER BY id"))
    assert t.num_rows > 0
    # A name with quotes stays a name: no second condition, no second statement.
    assert db.query("SELECT id FROM hops WHERE ion = ?", ["Mg' OR '1' = '1"]).num_rows == 0
    assert db.query("SELECT id FROM hops WHERE sys_name = ?", ["x'; DROP SPLIT paper; --"]).num_rows == 0
    assert "paper" in db.splits()
    assert db.query("SELECT id FROM hops WHERE id = ?", ["devi2025:Li4P2S7"]).column("id").to_pylist() == ["devi2025:Li4P2S7"]
    with pytest.raises(hopdb.QueryError, match="placeholder"):
        db.query("SELECT id FROM hops WHERE ion = ?", [])
    with pytest.raises(TypeError, match="parameter 1"):
        db.query("SELECT id FROM hops WHERE ion = ?", [object()])


def test_records_iterates_the_statement(db):
    ids = db.query("SELECT id FROM hops WHERE ion = ? AND em < 0.2 ORDER BY id", ["Mg"]).column("id").to_pylist()
    recs = list(db.records("SELECT id FROM hops WHERE ion = ? AND em < 0.2 ORDER BY id", ["Mg"]))
    assert [r["id"] for r in recs] == ids and ids
    assert all(r["ion"] == "Mg" and r["em"] < 0.2 for r in recs)
    with pytest.raises(hopdb.Error, match="no 'id' column"):
        list(db.records("SELECT ion FROM hops"))


def test_queries_from_threads(db):
    """Queries release the GIL; concurrent ones from threads agree."""
    want = db.query("SELECT ion, COUNT(*) FROM hops GROUP BY ion ORDER BY ion")
    out, errors = [], []

    def work():
        try:
            for _ in range(5):
                out.append(db.query("SELECT ion, COUNT(*) FROM hops GROUP BY ion ORDER BY ion"))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(out) == 20 and all(t.equals(want) for t in out)
