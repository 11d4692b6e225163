"""Cost of ``AS OF`` on the synthetic 120k store (docs/LINEAGE.md, issue: lineage).

In one run, on the store ``bench_query.py`` builds (120k synthetic LiTraj-style hops), the
library executor runs each query of ``QUERIES`` with and without ``AS OF <current version>``
(nothing changed since: the target is at most 2x), interleaved, medians of ``--runs``. With
``--changed``, a copy of the store gets one edit, and the same queries run ``AS OF`` the
version before it (the path that reads every record in its old state), for the record.

Usage: python python/bench/bench_as_of.py [--runs 31] [--changed] [--write-docs docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import hopdb
from docs_block import write_block
from hopdb import _hopdb

QUERIES = [
    ("indexed", "SELECT * FROM hops WHERE ion = 'Mg' AND em < 0.3"),
    ("range", "SELECT * FROM hops WHERE em BETWEEN 0.2 AND 0.21"),
    ("aggregate, full scan", "SELECT ion, COUNT(*), AVG(em) FROM hops GROUP BY ion"),
]
BEGIN = "<!-- as-of-bench:begin (written by python/bench/bench_as_of.py --write-docs) -->"
END = "<!-- as-of-bench:end -->"


def run_ids(db: hopdb.Database, q: str, as_of) -> int:
    """Rows of `q` run by the library executor (only the id column crosses to Python when
    the query selects rows; an aggregate comes back as its small table)."""
    if "GROUP BY" in q:
        return db.query(q, as_of=as_of).num_rows
    return len(_hopdb.Store.query_ids(db._store, q, None, as_of))


def paired(db: hopdb.Database, q: str, as_of, runs: int) -> tuple[float, float]:
    """Medians (s) of the query without and with AS OF, interleaved, after warm-up."""
    plain, with_ = [], []
    for _ in range(3):
        run_ids(db, q, None)
        run_ids(db, q, as_of)
    for _ in range(runs):
        t0 = time.perf_counter()
        a = run_ids(db, q, None)
        t1 = time.perf_counter()
        b = run_ids(db, q, as_of)
        t2 = time.perf_counter()
        plain.append(t1 - t0)
        with_.append(t2 - t1)
        assert a == b or as_of is not None
    return statistics.median(plain), statistics.median(with_)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", type=Path, default=Path.home() / ".cache" / "hopdb" / "bench-python" / "synthetic-120000.hopdb")
    ap.add_argument("--runs", type=int, default=31)
    ap.add_argument("--changed", action="store_true", help="also time AS OF before one edit (on a copy of the store)")
    ap.add_argument("--write-docs", type=Path)
    a = ap.parse_args()
    if not a.store.is_dir():
        raise SystemExit(f"no store at {a.store}: run python/bench/bench_query.py first (it builds it)")
    rows = []
    with hopdb.open(a.store) as db:
        n = len(db)
        v, at = db.version
        for name, q in QUERIES:
            p, w = paired(db, q, v, a.runs)
            rows.append((name, q, "nothing changed since", p, w))
    if a.changed:
        tmp = Path(tempfile.mkdtemp(prefix="hopdb-asof-"))
        try:
            copy = tmp / "store"
            shutil.copytree(a.store, copy)
            with hopdb.open(copy) as db:
                v_before, _ = db.version
                hop = db.query("SELECT id FROM hops LIMIT 1").column("id")[0].as_py()
                db.edit(hop, em=0.123456, reason="bench: one change")
                for name, q in QUERIES:
                    p, w = paired(db, q, v_before, a.runs)
                    rows.append((name, q, "1 record changed since", p, w))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    lines = [
        "## AS OF: time travel on the 120k store",
        "",
        f"Written by `python python/bench/bench_as_of.py --changed --write-docs docs/benchmarks.md` (hopdb {hopdb.__version__}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end, Python {platform.python_version()}). Store: {n} synthetic "
        f"hops (the store of the query benchmark above); library executor through the Python package, the query with and "
        f"without `AS OF` interleaved, medians of {a.runs} after 3 warm-up pairs. Target: at most 2x when nothing changed since.",
        "",
        "| query | state | without AS OF | with AS OF | ratio |",
        "|---|---|---:|---:|---:|",
        *[f"| {name}: `{q}` | {state} | {p * 1e3:.2f} ms | {w * 1e3:.2f} ms | {w / p:.2f}x |" for name, q, state, p, w in rows],
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if a.write_docs:
        write_block(a.write_docs, BEGIN, END, text)


if __name__ == "__main__":
    main()
