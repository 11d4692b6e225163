"""Compute MLIP NEB barriers for devi2025 hops into a JSON-lines file of outcomes, resumably
(a hop already in the file is skipped), one hop at a time: the long CPU run behind the CHGNet
figures of docs/benchmarks.md. ``hopdb.mlip.store_outcomes`` writes the file into a store.

    python python/bench/mlip_devi.py --db STORE --out chgnet.jsonl \\
        --query "SELECT id FROM hops WHERE fidelity = 'dft' AND partition = 'test' ORDER BY id"
"""

import argparse
import json
import os
import sys
import time


import hopdb  # noqa: E402
from hopdb import mlip  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--query", default="SELECT id FROM hops WHERE fidelity = 'dft' ORDER BY id")
    ap.add_argument("--calculator", default="chgnet")
    ap.add_argument("--protocol", default="relax-ci-v1")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    a = ap.parse_args()
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    done = set()
    if os.path.exists(a.out):
        with open(a.out) as f:
            for line in f:
                if line.strip():
                    done.add(json.loads(line)["parent"])
    with hopdb.open(a.db) as db:
        ids = [r["id"] for r in db.query(a.query).to_pylist() if r["id"] not in done]
        hops = [(i, db.atoms(i, "initial"), db.atoms(i, "final")) for i in ids]
    calc = mlip.load_calculator(a.calculator)
    print(f"{len(done)} done, {len(hops)} to compute with {calc.model} ({calc.version}) on {calc.device}", flush=True)
    for k, (pid, ini, fin) in enumerate(hops):
        t = time.time()
        o = mlip.run_neb(ini, fin, calc.calc, a.protocol)
        line = {"parent": pid, "model": calc.model, "version": calc.version, "device": calc.device, "protocol": a.protocol,
                "natoms": len(ini), "outcome": o.to_dict()}
        with open(a.out, "a") as f:
            f.write(json.dumps(line) + "\n")
        print(f"[{k + 1}/{len(hops)}] {pid}: em {o.em} {o.failure or ''} {time.time() - t:.0f} s, {o.calls} calls", flush=True)


if __name__ == "__main__":
    main()
