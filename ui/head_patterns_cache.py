"""Corpus-wide head statistics kept in memory across reruns and sessions.

An entry (a few hundred kB at most: seven ``[layer, head]`` grids and the ``[head, head]``
divergences) counts against the app's one memory budget (:func:`ui.cache.analysis_cache`); the
disk cache (:mod:`explorer.corpus.head_cache`, beside the corpus indices) survives restarts.
One computation runs at a time per process, like the index builds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import streamlit as st

from explorer.corpus import Corpus, ProgressCallback
from explorer.corpus.head_cache import (
    CorpusHeadPatterns,
    load_cached_patterns,
    patterns_or_compute,
)
from explorer.model import Loaded
from ui.cache import analysis_cache, held_in_budget
from ui.keys import CacheKey, cache_key

_KIND = "corpus head patterns"


def _key(loaded: Loaded, corpus: Corpus) -> CacheKey:
    return cache_key(_KIND, loaded, None, corpus.digest)


def cached_patterns(loaded: Loaded, corpus: Corpus) -> CorpusHeadPatterns | None:
    """The statistics from memory, else from the disk cache (then kept in memory), else
    ``None`` (nothing is computed)."""
    held = held_in_budget(_key(loaded, corpus))
    if held is not None:
        return held  # type: ignore[return-value]
    from_disk = load_cached_patterns(loaded, corpus)
    if from_disk is None:
        return None
    return analysis_cache().get(_key(loaded, corpus), lambda: from_disk)


@st.cache_resource(show_spinner=False)
def _compute_lock() -> threading.Lock:
    return threading.Lock()


def compute_and_keep(loaded: Loaded, corpus: Corpus, progress: ProgressCallback,
                     waiting: Callable[[], None]) -> CorpusHeadPatterns:
    """Compute the statistics (one computation at a time in this process; ``waiting()`` is
    called while another session's runs, and may raise to give up), save them on disk, keep
    them in memory. When ``progress`` raises (the tab closed, the page reran), nothing is
    kept."""
    lock = _compute_lock()
    while not lock.acquire(timeout=0.5):
        waiting()
    try:
        result = patterns_or_compute(loaded, corpus, progress=progress)
    finally:
        lock.release()
    return analysis_cache().get(_key(loaded, corpus), lambda: result)
