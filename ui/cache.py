"""The model lives in one ``st.cache_resource``; analyses are cached by (model, text).

One cache, shared by every browser session, holds the analyses *and* everything computed from
them (rollouts, flows, lenses, ablations, tooltip predictions): one budget in bytes
(``$EXPLORER_ANALYSIS_CACHE_MB``, default 512), least recently used dropped first. Attentions
and rollouts grow with tokens², so an entry count alone would not bound memory. Every key is made by
:func:`ui.keys.cache_key`: what the entry is (``"analysis"``, ``"flow"`` …), the weights
fingerprint, the text and the pair's second text, and the settings.

Widget changes re-run the page script; they re-render from the cached
:class:`~explorer.analysis.Analysis` and never call the model again.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import streamlit as st

from explorer.analysis import Analysis, analyze
from explorer.finite import check_finite
from explorer.lru import BoundedCache
from explorer.memory import nbytes
from explorer.model import Loaded, ModelLoadError, default_model_name, load, shown_model_name
from explorer.token_predictions import (
    TokenPredictions,
    top_predictions_per_token,
)
from ui.keys import MODEL as MODEL_KEY
from ui.keys import CacheKey, cache_key
from ui.markdown import error_markdown, escape_markdown
from ui.model_choice import download_with_progress, offer_local_models

MAX_TOP_K = 50
"""Analyses keep this many predictions per mask; pages show the first k the user asks for."""
ANALYSIS_CACHE_ENV_VAR = "EXPLORER_ANALYSIS_CACHE_MB"
DEFAULT_ANALYSIS_CACHE_MB = 512
ANALYSIS_CACHE_MAX_ENTRIES = 256
TOKEN_PREDICTIONS_TOP_K = 10
"""Per-token predictions (tooltips) are computed once at this k; smaller k are slices."""


def analysis_cache_bytes() -> int:
    """The analysis cache's budget: ``$EXPLORER_ANALYSIS_CACHE_MB`` MiB (default 512)."""
    raw = os.environ.get(ANALYSIS_CACHE_ENV_VAR, "").strip()
    try:
        megabytes = float(raw) if raw else DEFAULT_ANALYSIS_CACHE_MB
    except ValueError:
        megabytes = DEFAULT_ANALYSIS_CACHE_MB
    return int(max(megabytes, 1) * 2**20)


@st.cache_resource(show_spinner=False, max_entries=3)
def _load_model(name: str) -> Loaded:
    return load(name)


def cache_entry_nbytes(value: object) -> int:
    """Bytes of a cached value: an analysis, or anything that says its own ``memory_bytes()``
    (corpus indices and queries share the analyses' budget)."""
    memory_bytes = getattr(value, "memory_bytes", None)
    return int(memory_bytes()) if callable(memory_bytes) else nbytes(value)


@st.cache_resource(show_spinner=False)
def analysis_cache() -> BoundedCache[object]:
    """The one cache of this process, shared by all sessions: analyses, what is derived from
    them, and the corpus indices and queries (ui/corpus_cache.py), every entry sized by
    :func:`cache_entry_nbytes` against one byte budget."""
    return BoundedCache(analysis_cache_bytes(), cache_entry_nbytes, ANALYSIS_CACHE_MAX_ENTRIES)


Value = TypeVar("Value")


def cached_in_budget(key: CacheKey, compute: Callable[[], Value]) -> Value:
    """``compute()`` kept in the one budgeted cache under ``key`` (made by
    :func:`ui.keys.cache_key`: kind, weights fingerprint, text, text pair, settings)."""
    _check_key(key)
    return analysis_cache().get(key, compute)  # type: ignore[return-value]


def _check_key(key: object) -> None:
    if not isinstance(key, CacheKey):  # a key built by hand can collide with another
        raise TypeError(f"cache keys are made by ui.keys.cache_key, not {type(key).__name__}")


class _NotHeld(LookupError):
    pass


def held_in_budget(key: CacheKey) -> object | None:
    """What the one cache holds under ``key``, or None (nothing is computed or stored): for
    results computed only on request (a button), shown again on later runs while held."""
    _check_key(key)
    def missing() -> object:
        raise _NotHeld
    try:
        return analysis_cache().get(key, missing)
    except _NotHeld:
        return None


def chosen_model_name() -> str:
    return str(st.session_state.get(MODEL_KEY) or default_model_name()).strip()


def current_model() -> Loaded | None:
    """The chosen model, loaded once per process; on failure show why and return None."""
    return named_model(chosen_model_name())


def named_model(name: str, container=st, offer_others: bool = True) -> Loaded | None:
    """Model ``name``, loaded once per process (validated by :func:`explorer.model.load`: the
    allow-list, public mode, safetensors); on failure show why in ``container`` and return
    None."""
    try:
        download_with_progress(name)  # only a hub id missing from the cache, hub reachable
        with st.spinner(f"Loading model {escape_markdown(shown_model_name(name))} …"):
            return _load_model(name)
    except ModelLoadError as error:
        container.error(error_markdown(error), icon=":material/error:")
        if offer_others:
            offer_local_models(name)
        return None


def cached_analysis(loaded: Loaded, text: str, text_pair: str | None = None) -> Analysis:
    """The analysis of ``text`` (of the pair ``(text, text_pair)`` when given), computed once
    for every session asking at the same time (:func:`ui.jobs.computed`); raises
    :class:`~explorer.analysis.InputError` for bad text (and
    :class:`~explorer.finite.NonFiniteOutputError` for NaN or infinite outputs)."""
    from explorer.cost import analysis_cost
    from ui.jobs import computed  # ui.jobs keeps its results in this module's cache

    return computed(cache_key("analysis", loaded, text, text_pair=text_pair),
                    analysis_cost(loaded.info.max_tokens), lambda report: check_finite(
        analyze(loaded, text, top_k=MAX_TOP_K, text_pair=text_pair)), "analysis")


def cached_token_predictions(loaded: Loaded, analysis: Analysis, top_k: int
                             ) -> TokenPredictions:
    """Top-k (k ≤ :data:`TOKEN_PREDICTIONS_TOP_K`) predictions at every position: the LM head on
    the cached hidden states, computed the first time a page needs them, once per (model,
    text), in the one budget, through the job limiter (:func:`ui.jobs.computed`)."""
    from explorer.cost import token_predictions_cost
    from ui.jobs import computed

    rows = computed(
        cache_key("token_predictions", loaded, analysis),
        token_predictions_cost(analysis.num_tokens),
        lambda report: top_predictions_per_token(loaded, analysis, TOKEN_PREDICTIONS_TOP_K),
        "tooltip predictions")
    k = max(1, min(int(top_k), TOKEN_PREDICTIONS_TOP_K))
    return rows if k == TOKEN_PREDICTIONS_TOP_K else tuple(row[:k] for row in rows)
