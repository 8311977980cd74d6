"""Each head's mean output over the bundled corpus (for corpus mean-ablation), kept in memory
across reruns and sessions and on disk across restarts.

The entry (``layers × hidden`` floats) counts against the app's one memory budget
(:func:`ui.cache.analysis_cache`); the disk cache (:mod:`explorer.corpus.head_means`, beside the
corpus indices) survives restarts. It is computed once per model weights through the job
limiter's batch lane (:func:`ui.jobs.computed`), like the other corpus work.
"""

from __future__ import annotations

from explorer.corpus import bundled_corpus
from explorer.corpus.head_means import (
    MEAN_TOKEN_BUDGET,
    CorpusHeadMeans,
    corpus_tokens,
    load_cached_means,
    means_or_compute,
)
from explorer.cost import corpus_mean_cost
from explorer.model import Loaded
from ui.cache import analysis_cache, held_in_budget
from ui.jobs import computed
from ui.keys import CacheKey, cache_key

_KIND = "corpus head means"


def _key(loaded: Loaded, digest: str) -> CacheKey:
    return cache_key(_KIND, loaded, None, digest, MEAN_TOKEN_BUDGET)


def corpus_head_means(loaded: Loaded) -> CorpusHeadMeans:
    """The heads' means over the bundled corpus: from memory, else from the disk cache, else
    computed (through the job limiter; raises :class:`ui.jobs.JobRefused` when this server
    will not run it)."""
    corpus = bundled_corpus()
    key = _key(loaded, corpus.digest)
    held = held_in_budget(key)
    if held is not None:
        return held  # type: ignore[return-value]
    from_disk = load_cached_means(loaded, corpus)
    if from_disk is not None:
        return analysis_cache().get(key, lambda: from_disk)
    return computed(key, corpus_mean_cost(corpus_tokens(loaded, corpus)),
                    lambda report: means_or_compute(loaded, corpus, progress=report),
                    "corpus mean of the heads", progress_text="{done} of {total} lines")
