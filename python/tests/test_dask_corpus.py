"""The BVSE corpus built in 4 shards on a Dask LocalCluster (2 worker processes) equals the
single-process corpus of the CLI, and merging the parts again adds nothing."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

import hopdb

REPO = Path(__file__).resolve().parents[2]
PARENTS = "SELECT id FROM hops WHERE ion = 'Mg' ORDER BY id LIMIT 8"
SETTINGS = ["--target", "40", "--seed", "3", "--ions", "Li,Mg", "--strains", "1.0", "--batch", "8"]


def load_example():
    spec = importlib.util.spec_from_file_location("dask_corpus", REPO / "python" / "examples" / "dask_corpus.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def bvse_rows(hopdb_bin: Path, store: Path) -> dict:
    out = subprocess.run(
        [str(hopdb_bin), "--db", str(store), "query", "SELECT id, em FROM hops WHERE fidelity = 'bvse' ORDER BY id", "--format", "json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {r["id"]: r["em"] for r in json.loads(out)}


def test_sharded_corpus_on_a_local_dask_cluster(tmp_path: Path, data_dir: Path, hopdb_bin: Path):
    distributed = pytest.importorskip("distributed")
    # The single-process corpus, by the CLI.
    single = tmp_path / "single.db"
    subprocess.run([str(hopdb_bin), "--db", str(single), "import", "devi", str(data_dir)], check=True, capture_output=True)
    subprocess.run([str(hopdb_bin), "--db", str(single), "bvse", "corpus", *SETTINGS, "--from", PARENTS], check=True, capture_output=True)
    reference = bvse_rows(hopdb_bin, single)
    assert len(reference) == 40

    store = tmp_path / "sharded.db"
    with hopdb.open(store, create=True) as db:
        db.import_devi(data_dir)
    example = load_example()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            reports, merged = example.build_corpus(
                store, tmp_path / "parts", client, target=40, shards=4, seed=3, parents_query=PARENTS, ions=["Li", "Mg"], strains=[1.0], batch=8
            )
    assert sorted(r["shard"] for r in reports) == [0, 1, 2, 3]
    assert merged["added"] == 40 and merged["records"] == 40, merged
    merged_rows = bvse_rows(hopdb_bin, store)
    assert merged_rows == reference, "same ids and barriers as the single-process corpus"
    with hopdb.open(store) as db:
        again = db.import_parquet(tmp_path / "parts")
    assert again["added"] == 0 and again["failures_added"] == 0
    assert len(list((tmp_path / "parts").glob("part-*.parquet"))) >= 4
