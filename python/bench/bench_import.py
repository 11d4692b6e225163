"""Import benchmark: hopdb against ASE's database on the same extended XYZ file.

Measured in one run, one after the other, on the synthetic LiTraj-style file that
``bench_query.py`` builds (``synthetic-N.xyz`` in ``--workdir``; built when missing):

* ``hopdb import xyz FILE --fidelity bvse`` into a fresh store: wall time, peak RSS of the
  process (``wait4``), files on disk (the import ends with a compaction, since it more than
  doubles the store); ``--no-compact`` measures the import without it as well;
* the same frames written into a fresh ASE SQLite database (``ase.io.iread`` and
  ``con.write`` in one transaction, in a child process): wall time, peak RSS, file size;
* opening the imported store for ``SELECT COUNT(*) FROM hops WHERE ion = 'Mg'``: median wall
  time and peak RSS of the whole process over ``--query-runs`` runs;
* with ``--scale-n N`` (1,200,000 for the issue's target), the same import of an N-frame file
  of the same corpus (``synthetic-N.xyz``, written by ``hopdb._hopdb.write_synthetic_xyz`` when
  missing, streamed): wall time, peak RSS, store size, and the time as a multiple of the first
  import's (the stores of both need disk: about 5 GB per million frames, plus the file).

Usage::

    python python/bench/bench_import.py --hopdb target/release/hopdb \\
        --workdir ~/.cache/hopdb/bench-python --write-docs docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.fspath(Path(__file__).parent))
from docs_block import write_block  # noqa: E402

BEGIN = "<!-- bench_import.py: begin -->"
END = "<!-- bench_import.py: end -->"

ASE_CODE = """
import sys, ase.db, ase.io
con = ase.db.connect(sys.argv[2], append=False)
with con:
    for atoms in ase.io.iread(sys.argv[1], index=":", format="extxyz"):
        info = atoms.info
        con.write(atoms, ion=str(info["ion"]), em=float(info["em"]), hop=str(info["id"]))
"""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_measured(cmd: list[str]) -> tuple[float, int]:
    """Run ``cmd`` to completion: (wall seconds, peak RSS in bytes). Fails on a non-zero exit.

    The peak is at least this process's RSS at the spawn (the kernel keeps the spawning address
    space's high-water mark across exec), so nothing large is built in this process."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {p.returncode}")
    return wall, usage.ru_maxrss * 1024


def dir_size(p: Path) -> int:
    if p.is_file():
        return p.stat().st_size
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hopdb", type=Path, default=Path("target/release/hopdb"), help="the hopdb binary")
    ap.add_argument("--workdir", type=Path, default=Path.home() / ".cache" / "hopdb" / "bench-python")
    ap.add_argument("--n", type=int, default=120_000, help="frames of the synthetic file")
    ap.add_argument("--scratch", type=Path, default=None, help="where the stores are written (default: a temporary directory)")
    ap.add_argument("--query-runs", type=int, default=5)
    ap.add_argument("--skip-ase", action="store_true", help="measure hopdb only")
    ap.add_argument("--no-compact", action="store_true", help="also measure the import without its compaction")
    ap.add_argument("--scale-n", type=int, default=0, help="also import a file of this many frames (hopdb only)")
    ap.add_argument("--scale-runs", type=int, default=1, help="with --scale-n: import both files this many times, alternately, and compare the medians")
    ap.add_argument("--write-docs", type=Path, default=None, help="write the table into this Markdown file")
    a = ap.parse_args()

    xyz = a.workdir / f"synthetic-{a.n}.xyz"
    if not xyz.exists():
        # In a child process: Linux counts the RSS a process had when it spawned a child in that
        # child's peak (exec keeps the old address space's high-water mark), so this process
        # must stay small for the peaks measured below to be the children's own.
        code = "import sys; sys.path.insert(0, sys.argv[1]); from bench_query import build_inputs; build_inputs(__import__('pathlib').Path(sys.argv[2]), int(sys.argv[3]))"
        subprocess.run([sys.executable, "-c", code, os.fspath(Path(__file__).parent), os.fspath(a.workdir), str(a.n)], check=True)
    hopdb = os.fspath(a.hopdb.resolve())
    scratch = Path(tempfile.mkdtemp(prefix="hopdb-bench-import-", dir=a.scratch))
    try:
        store = scratch / "store"
        subprocess.run([hopdb, "--db", os.fspath(store), "init"], check=True, stdout=subprocess.DEVNULL)
        log(f"hopdb import xyz {xyz} ...")
        h_wall, h_rss = run_measured([hopdb, "--db", os.fspath(store), "import", "xyz", os.fspath(xyz), "--fidelity", "bvse", "--format", "json"])
        h_size = dir_size(store)
        log(f"  {h_wall:.1f} s, peak RSS {mb(h_rss)}, store {mb(h_size)}")
        raw = None
        if a.no_compact:
            raw_store = scratch / "store-raw"
            subprocess.run([hopdb, "--db", os.fspath(raw_store), "init"], check=True, stdout=subprocess.DEVNULL)
            log("hopdb import xyz --no-compact ...")
            r_wall, r_rss = run_measured([hopdb, "--db", os.fspath(raw_store), "import", "xyz", os.fspath(xyz), "--fidelity", "bvse", "--no-compact", "--format", "json"])
            raw = (r_wall, r_rss, dir_size(raw_store))
            shutil.rmtree(raw_store, ignore_errors=True)
            log(f"  {r_wall:.1f} s, peak RSS {mb(r_rss)}, store {mb(raw[2])}")
        q = [hopdb, "--db", os.fspath(store), "query", "SELECT COUNT(*) FROM hops WHERE ion = 'Mg'", "--format", "json"]
        qs = [run_measured(q) for _ in range(a.query_runs)]
        q_wall = statistics.median(t for t, _ in qs)
        q_rss = statistics.median(r for _, r in qs)
        log(f"  query: median {q_wall:.3f} s, peak RSS {mb(q_rss)}")
        scale = None
        if a.scale_n:
            big = a.workdir / f"synthetic-{a.scale_n}.xyz"
            if not big.exists():
                log(f"writing {big} ...")
                code = "import sys; from hopdb import _hopdb; _hopdb.write_synthetic_xyz(sys.argv[1], int(sys.argv[2]))"
                subprocess.run([sys.executable, "-c", code, os.fspath(big), str(a.scale_n)], check=True)
            shutil.rmtree(store, ignore_errors=True)  # room on disk for the larger store

            def import_fresh(path: Path, name: str) -> tuple[float, int, int]:
                st = scratch / name
                subprocess.run([hopdb, "--db", os.fspath(st), "init"], check=True, stdout=subprocess.DEVNULL)
                wall, rss = run_measured([hopdb, "--db", os.fspath(st), "import", "xyz", os.fspath(path), "--fidelity", "bvse", "--format", "json"])
                size = dir_size(st)
                shutil.rmtree(st, ignore_errors=True)
                return wall, rss, size

            small_runs = [(h_wall, h_rss, h_size)]
            big_runs = []
            for k in range(max(1, a.scale_runs)):
                if k > 0:
                    log(f"hopdb import xyz {xyz} (run {k + 1}) ...")
                    small_runs.append(import_fresh(xyz, "store-small"))
                    log(f"  {small_runs[-1][0]:.1f} s")
                log(f"hopdb import xyz {big} (run {k + 1}) ...")
                big_runs.append(import_fresh(big, "store-scale"))
                log(f"  {big_runs[-1][0]:.1f} s ({big_runs[-1][0] / small_runs[-1][0]:.1f}x the {a.n} import before it), peak RSS {mb(big_runs[-1][1])}, store {mb(big_runs[-1][2])}")
            scale = (small_runs, big_runs, big.stat().st_size)
        ase_row = None
        if not a.skip_ase:
            asedb = scratch / "ase.db"
            log("ASE db (iread + write, one transaction) ...")
            a_wall, a_rss = run_measured([sys.executable, "-c", ASE_CODE, os.fspath(xyz), os.fspath(asedb)])
            ase_row = (a_wall, a_rss, dir_size(asedb))
            log(f"  {a_wall:.1f} s, peak RSS {mb(a_rss)}, file {mb(ase_row[2])}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    version = subprocess.run([hopdb, "--version"], capture_output=True, text=True).stdout.strip()
    lines = [
        f"Written by `python python/bench/bench_import.py --write-docs docs/benchmarks.md` ({version}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end, release build), one run each "
        f"(except as said below), one after the other. Input: `{xyz.name}`, {a.n} synthetic LiTraj-style frames (centroid `X`), "
        f"{mb(xyz.stat().st_size)}.",
        "",
        "| | ASE db (SQLite) | hopdb | hopdb / ASE |",
        "|---|---:|---:|---:|",
    ]
    if ase_row:
        a_wall, a_rss, a_size = ase_row
        lines += [
            f"| import wall time | {a_wall:.1f} s | {h_wall:.1f} s | {h_wall / a_wall:.2f}x |",
            f"| import peak RSS | {mb(a_rss)} | {mb(h_rss)} | {h_rss / a_rss:.1f}x |",
            f"| on disk after the import | {mb(a_size)} | {mb(h_size)} | {h_size / a_size:.2f}x |",
        ]
        if raw:
            lines += [
                f"| import with `--no-compact`: wall time | | {raw[0]:.1f} s | {raw[0] / a_wall:.2f}x |",
                f"| import with `--no-compact`: peak RSS, on disk | | {mb(raw[1])}, {mb(raw[2])} | {raw[2] / a_size:.2f}x (disk) |",
            ]
    else:
        lines += [
            f"| import wall time | | {h_wall:.1f} s | |",
            f"| import peak RSS | | {mb(h_rss)} | |",
            f"| on disk after the import | | {mb(h_size)} | |",
        ]
    lines += [
        f"| `hopdb query \"SELECT COUNT(*) FROM hops WHERE ion = 'Mg'\"` (process, median of {a.query_runs}) | | {q_wall:.3f} s, {mb(q_rss)} | |",
        "",
    ]
    if scale:
        small_runs, big_runs, s_file = scale
        n_runs = len(big_runs)
        s_med = statistics.median(r[0] for r in small_runs)
        b_med = statistics.median(r[0] for r in big_runs)
        runs = lambda rs: ", ".join(f"{r[0]:.1f}" for r in rs)  # noqa: E731
        how = "one run" if n_runs == 1 else f"median of {n_runs} runs, the two sizes alternately (runs: s)"
        lines += [
            f"The same import of `synthetic-{a.scale_n}.xyz` ({a.scale_n} frames of the same corpus, {mb(s_file)}), hopdb only, {how}:",
            "",
            f"| frames | import wall time | x the {a.n} import | import peak RSS (largest) | on disk after the import |",
            "|---:|---:|---:|---:|---:|",
            f"| {a.n} | {s_med:.1f} s{'' if n_runs == 1 else f' ({runs(small_runs)})'} | 1.0x | {mb(max(r[1] for r in small_runs))} | {mb(small_runs[0][2])} |",
            f"| {a.scale_n} | {b_med:.1f} s{'' if n_runs == 1 else f' ({runs(big_runs)})'} | **{b_med / s_med:.1f}x** | {mb(max(r[1] for r in big_runs))} | {mb(big_runs[0][2])} |",
            "",
        ]
    text = "\n".join(lines)
    print(text)
    if a.write_docs:
        write_block(a.write_docs, BEGIN, END, text)
        log(f"wrote {a.write_docs}")


if __name__ == "__main__":
    main()
