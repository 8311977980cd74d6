"""The model lives in one ``st.cache_resource``; analyses are cached by (model, text).

The analysis cache is shared by every browser session and bounded in bytes
(``$EXPLORER_ANALYSIS_CACHE_MB``, default 512): attentions grow with tokens², so an entry count
alone would not bound memory.

Widget changes re-run the page script; they re-render from the cached
:class:`~explorer.analysis.Analysis` and never call the model again.
"""

from __future__ import annotations

import os
from typing import Any

import streamlit as st

from explorer.analysis import Analysis, analyze
from explorer.lru import BoundedCache
from explorer.memory import analysis_nbytes
from explorer.model import Loaded, ModelLoadError, default_model_name, load
from explorer.token_predictions import (
    TokenPredictions,
    token_predictions_nbytes,
    top_predictions_per_token,
)
from ui.keys import MODEL as MODEL_KEY
from ui.markdown import error_markdown, escape_markdown

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


def _entry_nbytes(value: object) -> int:
    if isinstance(value, Analysis):
        return analysis_nbytes(value)
    return token_predictions_nbytes(value)  # type: ignore[arg-type]


@st.cache_resource(show_spinner=False)
def analysis_cache() -> BoundedCache[Any]:
    """The one analysis cache of this process, shared by all sessions: analyses and what is
    derived from them later (the per-token tooltips) count against the same byte budget."""
    return BoundedCache(analysis_cache_bytes(), _entry_nbytes, ANALYSIS_CACHE_MAX_ENTRIES)


def chosen_model_name() -> str:
    return str(st.session_state.get(MODEL_KEY) or default_model_name()).strip()


def current_model() -> Loaded | None:
    """The chosen model, loaded once per process; on failure show why and return None."""
    name = chosen_model_name()
    try:
        with st.spinner(f"Loading model {escape_markdown(name)} …"):
            return _load_model(name)
    except ModelLoadError as error:
        st.error(error_markdown(error), icon="⚠️")
        return None


def cached_analysis(loaded: Loaded, text: str) -> Analysis:
    """The analysis of ``text``; raises :class:`~explorer.analysis.InputError` for bad text."""
    return analysis_cache().get(
        (loaded.info.name, text), lambda: analyze(loaded, text, top_k=MAX_TOP_K)
    )


def cached_token_predictions(loaded: Loaded, analysis: Analysis, top_k: int
                             ) -> TokenPredictions:
    """Top-k (k ≤ :data:`TOKEN_PREDICTIONS_TOP_K`) predictions at every position: the LM head on
    the cached hidden states, computed the first time a page needs them, once per (model,
    text), in the analysis budget."""
    rows = analysis_cache().get(
        ("token predictions", loaded.info.name, analysis.text),
        lambda: top_predictions_per_token(loaded, analysis, TOKEN_PREDICTIONS_TOP_K),
    )
    k = max(1, min(int(top_k), TOKEN_PREDICTIONS_TOP_K))
    return rows if k == TOKEN_PREDICTIONS_TOP_K else tuple(row[:k] for row in rows)
