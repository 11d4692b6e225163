"""Fixtures: the real devi2025 dataset imported once per session into a temporary store."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import hopdb

REPO = Path(__file__).resolve().parents[2]
#: DFT hops of devi2025, and the MLIP records `import devi` links to them (the published
#: MACE-MP-0 barriers: 616 MACE-RELAX, 603 MACE-NO-RELAX).
DEVI_HOPS = 619
DEVI_MLIP = 1219
DEVI_RECORDS = DEVI_HOPS + DEVI_MLIP
DATA = Path(os.environ.get("HOPDB_DATA", REPO / ".." / "shared" / "data" / "devi2025")).resolve()


def _hopdb_bin() -> Path:
    """The CLI built by `cargo test` / `cargo build` (HOPDB_BIN overrides)."""
    if os.environ.get("HOPDB_BIN"):
        return Path(os.environ["HOPDB_BIN"])
    for p in (REPO / "target" / "debug" / "hopdb", REPO / "target" / "release" / "hopdb"):
        if p.exists():
            return p
    raise RuntimeError("no hopdb binary: run `cargo build` first or set HOPDB_BIN")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA / "band_train.json").is_file():
        raise RuntimeError(f"the devi2025 dataset is missing at {DATA} (set HOPDB_DATA)")
    return DATA


@pytest.fixture(scope="session")
def hopdb_bin() -> Path:
    return _hopdb_bin()


@pytest.fixture(scope="session")
def store_path(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A store holding the 619 devi2025 hops and the paper split (closed: open it per test)."""
    path = tmp_path_factory.mktemp("store") / "devi.db"
    with hopdb.open(path, create=True) as db:
        report = db.import_devi(data_dir)
        assert len(report.added) == DEVI_RECORDS
        assert sum(1 for i in report.added if not i.startswith("mlip:")) == DEVI_HOPS
        db.query("CREATE SPLIT paper FROM PARTITION")
    return path


@pytest.fixture()
def db(store_path: Path):
    """The session store, opened for one test and closed after it."""
    with hopdb.open(store_path) as d:
        yield d


@pytest.fixture()
def scratch_copy(store_path: Path, tmp_path: Path) -> Path:
    """A private copy of the session store, for tests that write."""
    dst = tmp_path / "copy.db"
    shutil.copytree(store_path, dst)
    return dst


def run_cli(hopdb_bin: Path, store: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the hopdb CLI on a store (no Python handle may hold it meanwhile)."""
    return subprocess.run([str(hopdb_bin), "--db", str(store), *args], capture_output=True, text=True, check=check)
