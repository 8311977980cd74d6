"""Bounded caches for the "Layers & heads" page, keyed by (model, text, …).

The analysis passed in is the cached one for (model name, text); it is not hashed (leading
underscore), ``analysis.text`` and the model name identify it. Each result is computed once
per key, so widget changes re-render without new model calls or max-flow runs.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer.ablation import Head, predictions_without
from explorer.analysis import Analysis, MaskPredictions
from explorer.attention_stats import HeadSummary, attention_flow_by_layer, head_summary, rollout
from explorer.hidden_stats import Projection, pca_projection
from explorer.lens import LayerLens, logit_lens
from explorer.model import Loaded
from ui.cache import MAX_TOP_K


@st.cache_resource(show_spinner=False, max_entries=64)
def _lens(model_name: str, text: str, position: int, _loaded: Loaded, _analysis: Analysis
          ) -> LayerLens:
    return logit_lens(_loaded, _analysis, position, top_k=MAX_TOP_K)


def cached_lens(loaded: Loaded, analysis: Analysis, position: int) -> LayerLens:
    """Logit lens of one token, with the top :data:`~ui.cache.MAX_TOP_K` per layer."""
    return _lens(loaded.info.name, analysis.text, int(position), loaded, analysis)


@st.cache_resource(show_spinner=False, max_entries=32)
def _ablation(model_name: str, text: str, heads: tuple[Head, ...], _loaded: Loaded,
              _analysis: Analysis) -> tuple[MaskPredictions, ...]:
    return predictions_without(_loaded, _analysis, heads, top_k=MAX_TOP_K)


def cached_ablation(loaded: Loaded, analysis: Analysis, heads: tuple[Head, ...]
                    ) -> tuple[MaskPredictions, ...]:
    """Top :data:`~ui.cache.MAX_TOP_K` per mask with ``heads`` switched off (one encoder pass
    per new (model, text, heads); none for no heads: the analysis's own predictions)."""
    return _ablation(loaded.info.name, analysis.text, tuple(sorted(heads)), loaded, analysis)


@st.cache_resource(show_spinner=False, max_entries=32)
def _summaries(model_name: str, text: str, _analysis: Analysis, start_id: int, end_id: int
               ) -> tuple[HeadSummary, np.ndarray, Projection]:
    ids = _analysis.token_ids
    summary = head_summary(_analysis.attentions, ids == start_id, ids == end_id)
    return summary, rollout(_analysis.attentions), pca_projection(_analysis.hidden_states)


def cached_summaries(loaded: Loaded, analysis: Analysis
                     ) -> tuple[HeadSummary, np.ndarray, Projection]:
    """Head summary, ``rollout[layer, query, key]`` and the PCA projection of one analysis."""
    tokenizer = loaded.tokenizer
    start_id = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else -1
    end_id = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else -1
    return _summaries(loaded.info.name, analysis.text, analysis, int(start_id), int(end_id))


@st.cache_resource(show_spinner=False, max_entries=32)
def _flow(model_name: str, text: str, query: int, _analysis: Analysis) -> np.ndarray:
    return attention_flow_by_layer(_analysis.attentions, query)


def cached_flow(loaded: Loaded, analysis: Analysis, query: int) -> np.ndarray:
    """``flow[layer, key]`` from token ``query`` after each layer down to the inputs."""
    return _flow(loaded.info.name, analysis.text, int(query), analysis)
