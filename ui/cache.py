"""The model lives in one ``st.cache_resource``; analyses are cached by (model, text).

One cache, shared by every browser session, holds the analyses *and* everything computed from
them (rollouts, flows, lenses, ablations, tooltip predictions): one budget in bytes
(``$EXPLORER_ANALYSIS_CACHE_MB``, default 512), least recently used dropped first. Attentions
and rollouts grow with tokens², so an entry count alone would not bound memory. Keys start with
what the entry is (``"analysis"``, ``"rollout"`` …), then the model and the text.

Widget changes re-run the page script; they re-render from the cached
:class:`~explorer.analysis.Analysis` and never call the model again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable
from typing import TypeVar

import streamlit as st

from explorer.analysis import Analysis, analyze
from explorer.lru import BoundedCache
from explorer.memory import nbytes
from explorer.model import Loaded, ModelLoadError, default_model_name, load
from ui.keys import MODEL as MODEL_KEY
from ui.markdown import error_markdown, escape_markdown

MAX_TOP_K = 50
"""Analyses keep this many predictions per mask; pages show the first k the user asks for."""
ANALYSIS_CACHE_ENV_VAR = "EXPLORER_ANALYSIS_CACHE_MB"
DEFAULT_ANALYSIS_CACHE_MB = 512
ANALYSIS_CACHE_MAX_ENTRIES = 256


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


@st.cache_resource(show_spinner=False)
def analysis_cache() -> BoundedCache[object]:
    """The one cache of this process, shared by all sessions: analyses and what is derived from
    them, every entry sized by :func:`~explorer.memory.nbytes` against one byte budget."""
    return BoundedCache(analysis_cache_bytes(), nbytes, ANALYSIS_CACHE_MAX_ENTRIES)


Value = TypeVar("Value")


def cached_in_budget(key: tuple[Hashable, ...], compute: Callable[[], Value]) -> Value:
    """``compute()`` kept in the one budgeted cache under ``key`` (``(kind, model, text, …)``)."""
    return analysis_cache().get(key, compute)  # type: ignore[return-value]


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
    return cached_in_budget(
        ("analysis", loaded.info.name, text), lambda: analyze(loaded, text, top_k=MAX_TOP_K)
    )


def cached_token_predictions(loaded: Loaded, analysis: Analysis, top_k: int) -> tuple:
    """Top-k predictions at every position (LM head on the cached hidden states)."""
    from explorer.token_predictions import top_predictions_per_token

    return cached_in_budget(("token_predictions", loaded.info.name, analysis.text, int(top_k)),
                            lambda: top_predictions_per_token(loaded, analysis, top_k))
