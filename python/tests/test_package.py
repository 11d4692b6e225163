"""The installed package: metadata, stubs, lazy imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import hopdb


def test_version_and_files():
    assert hopdb.__version__ == "0.1.0"
    pkg = Path(hopdb.__file__).parent
    assert (pkg / "py.typed").exists() and (pkg / "_hopdb.pyi").exists()
    for name in ("open", "Database", "Error", "QueryError", "StoreLockedError", "ImportRejected", "NotFound"):
        assert hasattr(hopdb, name)
    for fn in ("query", "record", "records", "atoms", "structure", "import_devi", "import_xyz", "import_manifest", "add", "edit", "split", "predict", "export_split", "export_parquet"):
        assert getattr(hopdb.Database, fn).__doc__, fn


def test_stub_lists_every_store_method():
    stub = (Path(hopdb.__file__).parent / "_hopdb.pyi").read_text()
    from hopdb import _hopdb

    public = [m for m in dir(_hopdb.Store) if not m.startswith("_")]
    missing = [m for m in public if f"def {m}(" not in stub and f"def {m}(self" not in stub]
    assert not missing, missing


def test_import_loads_no_optional_library():
    code = "import sys, hopdb; print(' '.join(m for m in ('pyarrow', 'pandas', 'ase', 'pymatgen', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
