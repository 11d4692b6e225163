"""The Python part of `make demo`: the demo store from a notebook's point of view.

Usage: python python/examples/demo.py DEMO_STORE OUT_DIR
"""

import sys
from pathlib import Path

import hopdb

store, out = Path(sys.argv[1]), Path(sys.argv[2])

# The CLI has released the store: one process at a time, and this one closes it at the end.
with hopdb.open(store) as db:
    print(f"hopdb {hopdb.__version__}: {len(db)} hops in {db.path}")

    print("\n-- a HopQL query into pandas (bound parameters, typed Arrow columns) --")
    t = db.query("SELECT sys_name, ion, em, hop_length, elements FROM hops WHERE ion = ? AND em < ? ORDER BY em LIMIT 8", ["Mg", 0.65])
    print(t.schema)
    print(t.to_pandas().to_string(index=False))

    print("\n-- one hop as ase.Atoms (band view: five ion images, then the host) --")
    rid = t.column("sys_name")[0].as_py()
    atoms = db.atoms(rid, "band")
    print(rid, atoms)
    print("ion images (A):")
    print(atoms.get_positions()[:5].round(3))

    print("\n-- the paper split with a validation carve, exported for ALIGNN --")
    if "paper_val" not in db.splits():
        db.query("CREATE SPLIT paper_val FROM PARTITION VALIDATION 10% SEED 1")
    counts = db.export_split("paper_val", "alignn", out / "alignn-paper", view="band")
    print(f"{out / 'alignn-paper'}: {counts}; fingerprint {db.split('paper_val').fingerprint[:16]}")
    print((out / "alignn-paper" / "config_hopdb.json").read_text().strip())
