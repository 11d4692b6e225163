"""Build the BVSE pre-training corpus in shards on a Dask cluster, then merge the shards into
the store.

Each shard is one Dask task running :func:`hopdb.corpus_shard` (the same computation as
``hopdb bvse corpus --shard I/N``): it reads the parent structures from a JSON-lines export of
the store (sled admits one process per store, so the workers never open it), computes the work
items whose content id falls in its shard, and writes Parquet parts into ``--out``, which every
worker must see (a shared file system on a cluster). The merge (``Database.import_parquet``,
``hopdb import parquet``) stores exactly the records a single-process ``hopdb bvse corpus``
with the same seed and target stores, in one all-or-nothing write; running it again adds
nothing. A task that dies is simply run again: a shard resumes after its last complete part.

Examples::

    # 2 local worker processes, 4 shards
    python python/examples/dask_corpus.py barriers.db --target 2000 --shards 4 --workers 2
    # an existing cluster (e.g. dask-jobqueue's SLURMCluster, see docs/SCALING.md)
    python python/examples/dask_corpus.py barriers.db --target 120000 --shards 64 --scheduler tcp://10.0.0.5:8786
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import hopdb


def build_corpus(
    store: os.PathLike,
    out: os.PathLike,
    client: Any,
    *,
    target: int,
    shards: int,
    seed: int = 0,
    parents_query: Optional[str] = None,
    ions: Optional[Sequence[str]] = None,
    strains: Optional[Sequence[float]] = None,
    batch: int = 512,
) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:
    """Run the ``shards`` shards as tasks on the Dask ``client`` and merge their parts into
    ``store``. ``parents_query`` selects the parent records (default: every non-BVSE record).
    Returns the shards' reports and the merge report."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    parents = out / "parents.jsonl"
    with hopdb.open(store) as db:
        db.export_jsonl(parents, parents_query or "SELECT id FROM hops WHERE fidelity != 'bvse'")
    task = functools.partial(
        hopdb.corpus_shard,
        os.fspath(parents),
        os.fspath(out),
        shards=shards,
        target=target,
        seed=seed,
        ions=None if ions is None else list(ions),
        strains=None if strains is None else list(strains),
        batch=batch,
    )
    futures = client.map(task, range(shards), pure=False)
    reports = client.gather(futures)
    with hopdb.open(store) as db:
        merged = db.import_parquet(out)
    return reports, merged


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store", type=Path, help="the hopdb store (parents in, corpus merged into it)")
    ap.add_argument("--target", type=int, required=True, help="corpus records wanted")
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="directory of the parts (default: STORE.parts)")
    ap.add_argument("--from", dest="parents_query", default=None, help="HopQL query selecting the parent records")
    ap.add_argument("--ions", default=None, help="mobile ions, comma-separated (default: Li,Na,K,Mg,Ca,Zn)")
    ap.add_argument("--strains", default=None, help="lattice scales, comma-separated")
    ap.add_argument("--scheduler", default=None, help="address of a running Dask scheduler (default: a LocalCluster)")
    ap.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    a = ap.parse_args()
    from dask.distributed import Client, LocalCluster

    t = time.perf_counter()
    cluster = None if a.scheduler else LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True)
    with Client(a.scheduler or cluster) as client:
        reports, merged = build_corpus(
            a.store,
            a.out or Path(f"{a.store}.parts"),
            client,
            target=a.target,
            shards=a.shards,
            seed=a.seed,
            parents_query=a.parents_query,
            ions=None if a.ions is None else a.ions.split(","),
            strains=None if a.strains is None else [float(x) for x in a.strains.split(",")],
        )
    if cluster is not None:
        cluster.close()
    for r in reports:
        print(f"shard {r['shard'] + 1}/{r['shards']}: {r['stored']} records, {r['failed']} failures, {r['seconds']:.1f} s")
    print(f"merged: {merged['added']} records added ({merged['records']} in the corpus prefix of {merged['prefix']} work items), {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
