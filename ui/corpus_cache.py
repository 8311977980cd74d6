"""Corpus indices and query vectors kept in memory across reruns and sessions.

They count against the app's one memory budget (:func:`ui.cache.analysis_cache`, bounded by
``$EXPLORER_ANALYSIS_CACHE_MB``), least recently used first out, together with the analyses.
The disk cache (:mod:`explorer.corpus.disk_cache`) survives restarts and has its own bound.
Index builds run through the process's job limiter (:func:`ui.jobs.run_batch_job`): at most
``$EXPLORER_MAX_JOBS`` at once with every other expensive job, so concurrent builds cannot add
up; identical builds are computed once.
"""

from __future__ import annotations

from collections.abc import Callable

from explorer.corpus import (
    Corpus,
    CorpusIndex,
    IndexSettings,
    ProgressCallback,
    QueryTokens,
    build_or_load,
    encode_query,
    index_key,
    load_cached,
    release_freed_memory,
)
from explorer.model import Loaded
from ui.cache import analysis_cache, analysis_cache_bytes
from ui.keys import cache_key

_INDEX = "corpus-index"
_QUERY = "corpus-query"


class _NotInMemory(LookupError):
    pass


def _not_in_memory() -> CorpusIndex:
    raise _NotInMemory


def max_index_bytes() -> int:
    """The largest index the memory budget can keep (the whole budget)."""
    return analysis_cache_bytes()


def cached_index(loaded: Loaded, corpus: Corpus, settings: IndexSettings) -> CorpusIndex | None:
    """The index from memory, else from the disk cache (then kept in memory), else ``None``."""
    key = cache_key(_INDEX, loaded, None, index_key(loaded, corpus, settings))
    try:
        return analysis_cache().get(
            key, lambda: load_cached(loaded, corpus, settings) or _not_in_memory())
    except _NotInMemory:
        return None


def build_and_keep(loaded: Loaded, corpus: Corpus, settings: IndexSettings,
                   progress: ProgressCallback, waiting: Callable[[int], None]) -> CorpusIndex:
    """Build the index (through the job limiter: ``waiting(jobs_ahead)`` is called while
    other jobs run first, ``progress(done, total)`` while it runs; either may raise to give
    up), save it on disk, keep it in memory.

    When ``progress`` or ``waiting`` raise (Streamlit stops the run when the tab is closed or
    the page reruns), a build nobody else waits for stops at its next batch, nothing is kept
    and the build's memory is given back.
    """
    from ui.jobs import run_batch_job

    key = cache_key(_INDEX, loaded, None, index_key(loaded, corpus, settings))
    try:
        index = run_batch_job(key, lambda report: build_or_load(loaded, corpus, settings,
                                                                progress=report),
                              progress, waiting)
    finally:
        release_freed_memory()
    return analysis_cache().get(key, lambda: index)


def cached_query(loaded: Loaded, text: str) -> QueryTokens:
    """Vectors of every token of ``text``; raises CorpusError for empty text."""
    return analysis_cache().get(cache_key(_QUERY, loaded, text),
                                lambda: encode_query(loaded, text))
