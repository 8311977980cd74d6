"""Corpus indices and query vectors kept in memory across reruns and sessions.

The disk cache (:mod:`explorer.corpus`) survives restarts; this keeps the few most recent
indices in memory so a widget change does not re-read them from disk.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import streamlit as st

from explorer.corpus import CorpusIndex, QueryTokens, encode_query
from explorer.model import Loaded

MAX_INDICES_IN_MEMORY = 3


class _IndexMemory:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._indices: OrderedDict[str, CorpusIndex] = OrderedDict()

    def get(self, key: str) -> CorpusIndex | None:
        with self._lock:
            index = self._indices.get(key)
            if index is not None:
                self._indices.move_to_end(key)
            return index

    def put(self, key: str, index: CorpusIndex) -> None:
        with self._lock:
            self._indices[key] = index
            self._indices.move_to_end(key)
            while len(self._indices) > MAX_INDICES_IN_MEMORY:
                self._indices.popitem(last=False)


@st.cache_resource(show_spinner=False)
def index_memory() -> _IndexMemory:
    return _IndexMemory()


@st.cache_resource(show_spinner=False, max_entries=32)
def _query(model_name: str, text: str, _loaded: Loaded) -> QueryTokens:
    return encode_query(_loaded, text)


def cached_query(loaded: Loaded, text: str) -> QueryTokens:
    """Vectors of every token of ``text``; raises CorpusError for empty text."""
    return _query(loaded.info.name, text, loaded)
