"""Corpus-wide head statistics kept in memory across reruns and sessions.

An entry (a few hundred kB at most: seven ``[layer, head]`` grids and the ``[head, head]``
divergences) counts against the app's one memory budget (:func:`ui.cache.analysis_cache`); the
disk cache (:mod:`explorer.corpus.head_cache`, beside the corpus indices) survives restarts.
Computations run through the process's job limiter (:func:`ui.jobs.run_batch_job`), like the
index builds.
"""

from __future__ import annotations

from collections.abc import Callable

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


def compute_and_keep(loaded: Loaded, corpus: Corpus, progress: ProgressCallback,
                     waiting: Callable[[int], None]) -> CorpusHeadPatterns:
    """Compute the statistics (through the job limiter: ``waiting(jobs_ahead)`` is called
    while other jobs run first, ``progress(done, total)`` while it runs; either may raise to
    give up), save them on disk, keep them in memory. When ``progress`` raises (the tab
    closed, the page reran), a computation nobody else waits for stops at its next batch;
    nothing is kept."""
    from ui.jobs import run_batch_job

    result = run_batch_job(_key(loaded, corpus),
                           lambda report: patterns_or_compute(loaded, corpus, progress=report),
                           progress, waiting)
    return analysis_cache().get(_key(loaded, corpus), lambda: result)
