"""The Python ↔ JS contract of the attention view, written once: the TypedDicts of
:mod:`explorer.graph` (the file's header) and :mod:`components.attention_graph` (what each run
sends, what the view sends back) are copied into ``graph.js`` as JSDoc typedefs between two
marker lines. ``python -m components.attention_graph.contract`` rewrites that block after a
change; tests/test_graph_contract.py fails while the two differ.
"""

from __future__ import annotations

import sys
from pathlib import Path

from components.attention_graph import (
    AttributionTip,
    GraphData,
    GraphHeader,
    GraphView,
    SelectionEvent,
    TokenEntry,
    ValuePackHeader,
    ViewEvent,
    WordsHeader,
)
from explorer.typed_json import jsdoc_typedefs

GRAPH_JS = Path(__file__).resolve().parent / "graph.js"
BEGIN = "// ---- contract: generated from the Python TypedDicts " \
        "(python -m components.attention_graph.contract); do not edit by hand ----\n"
END = "// ---- end of contract ----\n"
CONTRACT = (GraphHeader, TokenEntry, ValuePackHeader, WordsHeader, GraphData, GraphView,
            AttributionTip, ViewEvent, SelectionEvent)


def typedef_block() -> str:
    """The block ``graph.js`` must carry, markers included."""
    return BEGIN + jsdoc_typedefs(CONTRACT) + END


def carried_block(source: str) -> str | None:
    """The block as ``graph.js`` carries it, or None without markers."""
    start, end = source.find(BEGIN), source.find(END)
    if start < 0 or end < start:
        return None
    return source[start:end + len(END)]


def write(path: Path = GRAPH_JS) -> bool:
    """Put the generated block into ``graph.js`` (replacing the old one, else after the header
    comment); True when the file changed."""
    source = path.read_text(encoding="utf-8")
    old = carried_block(source)
    if old is not None:
        updated = source.replace(old, typedef_block())
    else:
        at = source.index("\nconst ROW") + 1
        updated = source[:at] + typedef_block() + "\n" + source[at:]
    if updated == source:
        return False
    path.write_text(updated, encoding="utf-8")
    return True


if __name__ == "__main__":
    changed = write()
    print("graph.js: contract rewritten" if changed else "graph.js: contract up to date")
    sys.exit(0)
