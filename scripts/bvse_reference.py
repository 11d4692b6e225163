#!/usr/bin/env python3
"""Test oracle for hopdb's BVSE engine: BVSE-NEB barriers of real hops computed with the
`ions` Python package (the recipe hopdb calls `Recipe::Ions`).

Never a runtime dependency of hopdb. Run it in a throwaway virtual environment:

    python3 -m venv /tmp/ionsvenv
    /tmp/ionsvenv/bin/pip install ions ase pymatgen
    /tmp/ionsvenv/bin/python scripts/bvse_reference.py --out /tmp/bvse_reference.json

Recipe (ions 0.5.1; its notebook `neb_umlip.ipynb`, "BVSE NEB calculations"):
  * hop from a devi2025 band record: the first five atoms are the mobile ion at the initial
    site, three linear images and the final site; the host is everything after them;
  * structure = host + ion at the initial site + ion at the final site (the edge's two ends);
  * oxidation states: pymatgen's BVAnalyzer through `ions.decorate.assign_oxidation_states`
    (symm_tol 1e-3, max_radius 4, max_permutations 10000, O- forbidden, distance scale 1.05);
    when no charge-balanced assignment exists for host + 2 ions, host + ion at the initial
    site is tried and the final-site ion gets the same state as the initial one;
  * softBV parameters: `assign_bvse_params(atoms, ion, q_ion)` (self interaction on);
  * `Edge(...).superedge(8.0).interpolate(n_images=5)`, a `BVSECalculator` per image;
  * FIRE relaxation of the two end images (fmax 0.1, at most 100 steps);
  * ASE NEB(k=2.0, climb=False, method='improvedtangent'), FIRE to fmax 0.1 in at most
    100 steps; barrier = max - min of the image energies.

Output: a JSON list, one object per attempted hop (jid, sys_name, ion, oxidation states,
energies, barrier, converged, steps, seconds, or an error message).
"""

import argparse
import json
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")

from ase import Atoms  # noqa: E402
from ase.geometry import find_mic  # noqa: E402
from ase.mep import NEB  # noqa: E402
from ase.optimize import FIRE  # noqa: E402
from ions import Edge  # noqa: E402
from ions.calculators.bvse_calculator import BVSECalculator  # noqa: E402
from ions.decorate import assign_bvse_params, assign_oxidation_states  # noqa: E402

FMAX = 0.1
STEPS = 100
SUPERCELL = 8.0
N_IMAGES = 5


def split_band(rec):
    """(ion symbol, host Atoms, initial frac, final frac unwrapped) of a band record."""
    a = rec["atoms"]
    cell = np.array(a["lattice_mat"], dtype=float)
    coords = np.array(a["coords"], dtype=float)
    if a.get("cartesian"):
        coords = np.linalg.solve(cell.T, coords.T).T
    els = a["elements"]
    ion = els[0]
    # Unwrap the hop step by step (each step is a quarter of the hop).
    final = coords[0].copy()
    for k in range(1, 5):
        d = coords[k] - coords[k - 1]
        cart, _ = find_mic(d @ cell, cell, True)
        final = final + np.linalg.solve(cell.T, cart)
    host = Atoms(els[5:], scaled_positions=coords[5:], cell=cell, pbc=True)
    return ion, host, coords[0], final


def edge_atoms(host, ion, initial, final):
    """host + ion at initial + ion at final (wrapped), and the lattice offset of the final end."""
    offset = np.floor(final)
    target = final - offset
    atoms = host.copy()
    atoms += Atoms([ion], scaled_positions=[initial], cell=host.cell, pbc=True)
    atoms += Atoms([ion], scaled_positions=[target], cell=host.cell, pbc=True)
    return atoms, offset.astype(int)


def oxidation_states(atoms):
    """BVAnalyzer states on host + 2 ions, falling back to host + initial ion."""
    try:
        assign_oxidation_states(atoms)
        return "host+2", [int(x) for x in atoms.get_array("oxi_states")]
    except ValueError:
        pass
    partial = atoms[:-1]
    assign_oxidation_states(partial)
    ox = [int(x) for x in partial.get_array("oxi_states")]
    ox.append(ox[-1])
    atoms.set_array("oxi_states", np.array(ox, dtype=float))
    return "host+1", ox


def barrier(rec):
    out = {"jid": rec["jid"], "sys_name": rec["sys_name"], "dft_em": rec["target"]}
    t0 = time.perf_counter()
    ion, host, initial, final = split_band(rec)
    out.update(ion=ion, host_atoms=len(host), initial=initial.tolist(), final=final.tolist())
    atoms, offset = edge_atoms(host, ion, initial, final)
    try:
        mode, ox = oxidation_states(atoms)
    except Exception as e:  # noqa: BLE001
        out["error"] = f"oxidation states: {e}"
        return out
    out.update(ox_mode=mode, oxidation_states=ox)
    q = ox[len(host)]
    out["ion_ox"] = q
    try:
        assign_bvse_params(atoms, ion, q, self_interaction=True)
    except KeyError as e:
        out["error"] = f"softBV parameters missing: {e}"
        return out
    source, tgt = len(host), len(host) + 1
    edge = Edge(atoms, source, tgt, offset)
    superedge = edge.superedge(SUPERCELL)
    out["supercell_atoms"] = len(superedge.atoms)
    images = superedge.interpolate(n_images=N_IMAGES)
    for image in images:
        sites = np.argwhere(image.arrays["moving"]).ravel()
        image.calc = BVSECalculator(sites=sites)
    for end in (images[0], images[-1]):
        FIRE(end, logfile=None).run(fmax=FMAX, steps=STEPS)
    neb = NEB(images, k=2.0, climb=False, method="improvedtangent")
    opt = FIRE(neb, logfile=None)
    converged = bool(opt.run(fmax=FMAX, steps=STEPS))
    energies = [float(im.get_potential_energy()) for im in images]
    t1 = time.perf_counter()
    e0 = energies[0]
    finite = all(np.isfinite(energies))
    if not finite:
        out["error"] = "non-finite band energies (the path runs through an atom)"
    out.update(
        energies=[e - e0 if finite else None for e in energies],
        barrier=max(energies) - min(energies) if finite else None,
        converged=converged,
        steps=int(opt.nsteps),
        seconds=t1 - t0,
    )
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="../shared/data/devi2025/band_train.json")
    p.add_argument("--out", default="/tmp/bvse_reference.json")
    p.add_argument("--max-host-atoms", type=int, default=120)
    p.add_argument("--limit", type=int, default=40, help="hops to attempt (first by jid)")
    p.add_argument("--jids", default="", help="comma-separated jids (overrides the selection)")
    a = p.parse_args()
    with open(a.data) as f:
        records = json.load(f)
    records.sort(key=lambda r: r["jid"])
    if a.jids:
        want = {int(x) for x in a.jids.split(",")}
        chosen = [r for r in records if r["jid"] in want]
    else:
        chosen = [r for r in records if len(r["atoms"]["elements"]) - 5 <= a.max_host_atoms][: a.limit]
    results = []
    for rec in chosen:
        try:
            r = barrier(rec)
        except Exception as e:  # noqa: BLE001
            r = {"jid": rec["jid"], "sys_name": rec["sys_name"], "error": f"{type(e).__name__}: {e}"}
        results.append(r)
        msg = r.get("error") if r.get("barrier") is None else f"barrier {r['barrier']:.4f} eV conv={r['converged']} steps={r['steps']} {r['seconds']:.2f} s"
        print(f"{r['jid']:4d} {r['sys_name']:28s} {msg}", file=sys.stderr, flush=True)
    with open(a.out, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
