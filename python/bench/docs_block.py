"""Write a benchmark's figures into a Markdown file between its own markers (replacing the
block written before, or appending it), as the benchmarks' ``--write-docs`` options do."""

from __future__ import annotations

from pathlib import Path


def write_block(path: Path, begin: str, end: str, text: str) -> None:
    """Put ``text`` between the lines ``begin`` and ``end`` in ``path``."""
    old = path.read_text() if path.exists() else ""
    block = f"{begin}\n{text}{end}\n"
    if begin in old and end in old:
        new = old[: old.index(begin)] + block + old[old.index(end) + len(end) + 1 :]
    else:
        new = old.rstrip("\n") + "\n\n" + block
    path.write_text(new)
