"""What the "Layers & heads" page derives from an analysis, kept in the one budgeted cache.

Entries live in :func:`ui.cache.analysis_cache` beside the analyses, keyed by
:func:`ui.keys.cache_key` (kind, weights, text, text pair, length, settings), so a 512-token
rollout (12 MiB) counts against the same byte budget as the analysis it came from and is
dropped, least recently used first, like any other entry. Each result is computed once per
key, so widget changes re-render without new model calls or max-flow runs. Ablations and flows
run through the job limiter (:func:`ui.jobs.computed`).
"""

from __future__ import annotations

import numpy as np

from explorer.ablation import Head, predictions_without
from explorer.analysis import Analysis, MaskPredictions
from explorer.attention_stats import HeadSummary, attention_flow_by_layer, head_summary, rollout
from explorer.corpus.head_means import CorpusHeadMeans
from explorer.cost import ablation_cost, flow_cost
from explorer.hidden_stats import Projection, pca_projection
from explorer.lens import LayerLens, logit_lens
from explorer.model import Loaded
from ui.cache import MAX_TOP_K, cached_in_budget
from ui.jobs import computed
from ui.keys import cache_key


def cached_lens(loaded: Loaded, analysis: Analysis, position: int) -> LayerLens:
    """Logit lens of one token, with the top :data:`~ui.cache.MAX_TOP_K` per layer."""
    return cached_in_budget(
        cache_key("lens", loaded, analysis, int(position)),
        lambda: logit_lens(loaded, analysis, int(position), top_k=MAX_TOP_K))


def cached_ablation(loaded: Loaded, analysis: Analysis, heads: tuple[Head, ...],
                    mode: str = "zero", corpus_means: CorpusHeadMeans | None = None
                    ) -> tuple[MaskPredictions, ...]:
    """Top :data:`~ui.cache.MAX_TOP_K` per mask with ``heads`` switched off (``mode``: zero,
    mean over the text, or corpus: the heads' ``corpus_means``; one encoder pass per new (model,
    text, heads, mode); none for no heads: the analysis's own predictions)."""
    chosen = tuple(sorted(heads))
    means = corpus_means.means if mode == "corpus" and corpus_means is not None else None
    which = (corpus_means.corpus_name, corpus_means.lines, corpus_means.tokens) \
        if means is not None else ()
    return computed(
        cache_key("ablation", loaded, analysis, chosen, mode, *which),
        ablation_cost(analysis.num_tokens),
        lambda report: predictions_without(loaded, analysis, chosen, top_k=MAX_TOP_K, mode=mode,
                                           means=means),
        "ablation")


def cached_summaries(loaded: Loaded, analysis: Analysis
                     ) -> tuple[HeadSummary, np.ndarray, Projection]:
    """Head summary, ``rollout[layer, query, key]`` and the PCA projection of one analysis."""
    tokenizer = loaded.tokenizer
    start_id = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else -1
    end_id = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else -1

    def compute() -> tuple[HeadSummary, np.ndarray, Projection]:
        ids = analysis.token_ids
        summary = head_summary(analysis.attentions, ids == start_id, ids == end_id)
        return summary, rollout(analysis.attentions), pca_projection(analysis.hidden_states)

    return cached_in_budget(cache_key("summaries", loaded, analysis), compute)


def cached_flow(loaded: Loaded, analysis: Analysis, query: int) -> np.ndarray:
    """``flow[layer, key]`` from token ``query`` after each layer down to the inputs."""
    return computed(
        cache_key("flow", loaded, analysis, int(query)),
        flow_cost(analysis.num_tokens),
        lambda report: attention_flow_by_layer(analysis.attentions, int(query)),
        "attention flow")
