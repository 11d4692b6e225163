"""Query benchmark of the Python package against ASE's database, on the same frames.

On a synthetic LiTraj-style store of 120k BVSE-like hops (the corpus of
``hopdb bench import --synthetic`` and of the Rust query benchmarks), in one run:

* ``db.query("SELECT * FROM hops WHERE ion = 'Mg' AND em < 0.3").to_pandas()``: median of
  repeated in-process runs after warm-up runs;
* ``list(ase.db.connect(path).select("ion=Mg,em<0.3"))`` on the same hops, exported as
  LiTraj extended XYZ by hopdb and written into an ASE SQLite database with ``ion`` and ``em``
  as key-value pairs (the same selection, checked to return the same number of rows);
* ``python -c "import hopdb"``: median wall time of fresh interpreters.

The store, the XYZ file and the ASE database are built once and kept in ``--workdir``
(loading 120k frames into ASE takes minutes). Targets: query under 20 ms, at least 50x faster
than ASE db, import under 0.3 s. ``--write-docs docs/benchmarks.md`` replaces the section
between this benchmark's markers (or appends it).

Usage: python python/bench/bench_query.py [--n 120000] [--workdir DIR] [--runs 21]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import hopdb
from docs_block import write_block
from hopdb import _hopdb

QUERY = "SELECT * FROM hops WHERE ion = 'Mg' AND em < 0.3"
ASE_SELECT = "ion=Mg,em<0.3"
BEGIN = "<!-- python-bench:begin (written by python/bench/bench_query.py --write-docs) -->"
END = "<!-- python-bench:end -->"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def build_inputs(workdir: Path, n: int) -> tuple[Path, Path, Path]:
    """The hopdb store, its XYZ export and the ASE database, built when missing."""
    workdir.mkdir(parents=True, exist_ok=True)
    store, xyz, asedb = workdir / f"synthetic-{n}.hopdb", workdir / f"synthetic-{n}.xyz", workdir / f"synthetic-{n}.ase.db"
    if not (store / "data").is_dir():
        log(f"creating the synthetic store of {n} hops at {store}")
        t = time.perf_counter()
        added = _hopdb.create_synthetic_store(os.fspath(store), n)
        log(f"  {added} hops in {time.perf_counter() - t:.1f} s")
    if not xyz.exists():
        log(f"exporting extended XYZ to {xyz}")
        with hopdb.open(store) as db:
            tmp = xyz.with_suffix(".xyz.part")
            db.export_xyz(tmp)
            tmp.rename(xyz)
    if not asedb.exists():
        import ase.db
        import ase.io

        log(f"loading the frames into the ASE database {asedb} (minutes)")
        t = time.perf_counter()
        tmp = asedb.with_suffix(".part.db")
        if tmp.exists():
            tmp.unlink()
        con = ase.db.connect(os.fspath(tmp), append=False)
        k = 0
        with con:  # one transaction
            for atoms in ase.io.iread(os.fspath(xyz), index=":", format="extxyz"):
                info = atoms.info
                con.write(atoms, ion=str(info["ion"]), em=float(info["em"]), hop=str(info["id"]))
                k += 1
                if k % 20000 == 0:
                    log(f"  {k} frames, {time.perf_counter() - t:.0f} s")
        tmp.rename(asedb)
        log(f"  {k} frames in {time.perf_counter() - t:.0f} s")
    return store, xyz, asedb


def median_time(f, runs: int, warmup: int) -> tuple[float, object]:
    out = None
    for _ in range(warmup):
        out = f()
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        out = f()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), out


def import_time(runs: int) -> tuple[float, float]:
    """Median wall time of `python -c "import hopdb"` and of `python -c "pass"`."""

    def run(code: str) -> float:
        ts = []
        for _ in range(runs):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            ts.append(time.perf_counter() - t)
        return statistics.median(ts)

    return run("import hopdb"), run("pass")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=120_000, help="synthetic hops (default 120000)")
    ap.add_argument("--workdir", type=Path, default=Path.home() / ".cache" / "hopdb" / "bench-python", help="where the inputs are kept")
    ap.add_argument("--runs", type=int, default=21, help="timed hopdb runs (median)")
    ap.add_argument("--ase-runs", type=int, default=5, help="timed ASE runs (median)")
    ap.add_argument("--write-docs", type=Path, help="write the figures into this Markdown file")
    a = ap.parse_args()

    store, _xyz, asedb = build_inputs(a.workdir, a.n)
    import ase.db

    with hopdb.open(store) as db:
        n = len(db)
        t_hopdb, df = median_time(lambda: db.query(QUERY).to_pandas(), a.runs, warmup=3)
        # The same statement run by the library without the Arrow / pandas hand-over (the
        # result table is built the same way; only its id column crosses to Python).
        t_exec, _ = median_time(lambda: _hopdb.Store.query_ids(db._store, QUERY), a.runs, warmup=3)
    con = ase.db.connect(os.fspath(asedb))
    t_ase, rows = median_time(lambda: list(con.select(ASE_SELECT)), a.ase_runs, warmup=1)
    if len(rows) != len(df):
        sys.exit(f"error: ASE selected {len(rows)} rows, hopdb {len(df)}: the inputs differ")
    t_import, t_bare = import_time(7)

    ratio = t_ase / t_hopdb
    rows_md = [
        ("hopdb `db.query(...).to_pandas()`", f"{t_hopdb * 1e3:.2f} ms", f"median of {a.runs} (3 warm-up)", "< 20 ms", "yes" if t_hopdb < 0.020 else "NO"),
        ("of which the library's executor (same statement, no Arrow / pandas)", f"{t_exec * 1e3:.2f} ms", f"median of {a.runs} (3 warm-up)", "", ""),
        ("ASE db `list(con.select('ion=Mg,em<0.3'))`", f"{t_ase * 1e3:.0f} ms", f"median of {a.ase_runs} (1 warm-up)", "", ""),
        ("speed-up over ASE db", f"{ratio:.0f}x", "", ">= 50x", "yes" if ratio >= 50 else "NO"),
        ('`python -c "import hopdb"`', f"{t_import:.3f} s", f"median of 7 (bare interpreter {t_bare:.3f} s)", "< 0.3 s", "yes" if t_import < 0.3 else "NO"),
    ]
    lines = [
        "## Python package: query into pandas vs ASE db",
        "",
        f"Written by `python python/bench/bench_query.py --write-docs docs/benchmarks.md` (hopdb {hopdb.__version__}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end, release build). Store: {n} synthetic LiTraj-style BVSE hops "
        f"(`hopdb bench import --synthetic`'s corpus, seed 42); the same hops exported as extended XYZ and written into an "
        f"ASE SQLite database with `ion`, `em` as key-value pairs. Query `{QUERY}`: {len(df)} rows, "
        f"{len(df.columns)} columns.",
        "",
        "| what | time | runs | target | met |",
        "|---|---:|---|---|---|",
        *[f"| {w} | {t} | {r} | {g} | {m} |" for w, t, r, g, m in rows_md],
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if a.write_docs:
        write_block(a.write_docs, BEGIN, END, text)
        log(f"wrote {a.write_docs}")


if __name__ == "__main__":
    main()
