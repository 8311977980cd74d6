"""Indices built by the command line (``explorer index``) for the Corpus search page.

They live in ``$EXPLORER_INDEX_DIR`` (default ``indexes/`` in the repository), one folder each,
chosen by the server's operator: visitors pick one, never type a path. An index opens
memory-mapped (:func:`explorer.corpus.large.open_index`), so it costs the app's memory budget
next to nothing whatever its size; only indices built with the loaded model are offered.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from explorer.corpus.disk_cache import model_fingerprint
from explorer.corpus.large import MappedCorpusIndex, open_index, read_meta
from explorer.corpus.reading import ROOT, CorpusError
from explorer.model import Loaded

INDEX_DIR_ENV_VAR = "EXPLORER_INDEX_DIR"
DEFAULT_INDEX_ENV_VAR = "EXPLORER_DEFAULT_INDEX"
DEFAULT_INDEX = "english"
"""The index opened by default when it exists for the loaded model: ``explorer index
data/large/english.txt -o indexes/english`` (the large English corpus of
:mod:`explorer.corpus.english`), where the machine had the time and disk to build it."""
TOGGLE_KEY = "corpus_built_index_on"
CHOICE_KEY = "corpus_built_index"


def index_dir() -> Path:
    configured = os.environ.get(INDEX_DIR_ENV_VAR, "").strip()
    return Path(configured).expanduser() if configured else ROOT / "indexes"


def built_indexes(loaded: Loaded) -> dict[str, dict]:
    """``{folder name: meta}`` of the complete indices of the loaded model, by name."""
    root = index_dir()
    if not root.is_dir():
        return {}
    fingerprint = model_fingerprint(loaded)
    found = {}
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or folder.name.endswith((".work", ".tmp")):
            continue
        try:
            meta = read_meta(folder)
        except CorpusError:
            continue  # half-written, or another version: never offered
        if meta.get("fingerprint") == fingerprint:
            found[folder.name] = meta
    return found


@st.cache_resource(show_spinner=False, max_entries=8)
def _opened(folder: str, written_ns: int) -> MappedCorpusIndex:
    return open_index(folder)


def choose_built_index(loaded: Loaded) -> MappedCorpusIndex | None:
    """A toggle (shown only when there are indices for this model; on, with that index chosen,
    when :data:`DEFAULT_INDEX` is among them) and a choice among them; the opened index, or
    ``None`` to use the bundled corpus or an upload."""
    found = built_indexes(loaded)
    if not found:
        return None
    default = os.environ.get(DEFAULT_INDEX_ENV_VAR, "").strip() or DEFAULT_INDEX
    names = list(found)
    if not st.toggle(f"Open an index built with the command line ({len(found)} for this "
                     "model)", key=TOGGLE_KEY, value=default in found):
        return None
    name = st.selectbox(
        "Index", names, key=CHOICE_KEY, index=names.index(default) if default in found else 0,
        format_func=lambda n: f"{n}: {found[n]['corpus_name']}, {found[n]['tokens']:,} tokens "
        f"({'exact' if found[n]['kind'] == 'exact' else 'IVF-PQ, exact re-ranking'})")
    folder = index_dir() / str(name)
    try:
        return _opened(str(folder), (folder / "meta.json").stat().st_mtime_ns)
    except (CorpusError, OSError, RuntimeError):
        st.error("This index cannot be opened; build it again with `explorer index`.",
                 icon=":material/error:")
        st.stop()
    raise AssertionError("unreachable")


def describe(index: MappedCorpusIndex) -> str:
    """A caption for an opened index (no user text: the corpus's name is left to the page)."""
    kind = ("exact search (float16 vectors)" if index.kind == "exact" else
            "IVF-PQ: candidates from compressed vectors "
            f"({index.hidden[0].code_size} bytes each), re-scored exactly from float16 "
            "vectors on disk; scores are exact, a few true neighbours may be missed "
            "(recall@10 about 0.96 at a million vectors, bench/corpus_scale.py)")
    return (f"{index.num_tokens:,} tokens in {len(index.sentences):,} lines, built with "
            f"`explorer index`, memory-mapped ({index.disk_bytes / 1e6:,.1f} MB on disk); "
            f"{kind}.")
