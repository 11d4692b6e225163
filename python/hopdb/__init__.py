"""hopdb: an embedded dataset-and-model database for migration barriers (Em) of mobile ions.

The Python package is a thin layer over the Rust library that the ``hopdb`` command-line tool
uses: the same store, the same HopQL, the same all-or-nothing imports. Query results are
``pyarrow.Table`` objects (handed over through the Arrow C data interface), stored hops become
``ase.Atoms`` or pymatgen ``Structure`` objects.

>>> import hopdb
>>> with hopdb.open("barriers.db") as db:
...     df = db.query("SELECT id, ion, em FROM hops WHERE ion = ? AND em < ?", ["Mg", 0.3]).to_pandas()

One process holds a store at a time (the CLI included): ``Database.close()`` or leaving the
``with`` block releases it. Every error is a :class:`hopdb.Error`.
"""

from __future__ import annotations

from ._hopdb import Error, ImportRejected, NotFound, QueryError, StoreLockedError
from ._hopdb import corpus_shard
from ._hopdb import version as _version
from .database import Database, ImportReport, Split, open

__all__ = [
    "open",
    "Database",
    "ImportReport",
    "Split",
    "Error",
    "QueryError",
    "StoreLockedError",
    "ImportRejected",
    "NotFound",
    "corpus_shard",
    "__version__",
]

#: The version of the hopdb library the package was built from.
__version__: str = _version()
