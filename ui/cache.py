"""The model lives in one ``st.cache_resource``; analyses are cached by (model, text).

Widget changes re-run the page script; they re-render from the cached
:class:`~explorer.analysis.Analysis` and never call the model again.
"""

from __future__ import annotations

import streamlit as st

from explorer.analysis import Analysis, analyze
from explorer.model import Loaded, ModelLoadError, default_model_name, load
from ui.keys import MODEL as MODEL_KEY

MAX_TOP_K = 50
"""Analyses keep this many predictions per mask; pages show the first k the user asks for."""


@st.cache_resource(show_spinner=False, max_entries=3)
def _load_model(name: str) -> Loaded:
    return load(name)


@st.cache_resource(show_spinner=False, max_entries=32)
def _analysis(model_name: str, text: str, _loaded: Loaded) -> Analysis:
    # _loaded is not hashed; model_name identifies it.
    return analyze(_loaded, text, top_k=MAX_TOP_K)


def chosen_model_name() -> str:
    return str(st.session_state.get(MODEL_KEY) or default_model_name()).strip()


def current_model() -> Loaded | None:
    """The chosen model, loaded once per process; on failure show why and return None."""
    name = chosen_model_name()
    try:
        with st.spinner(f"Loading model {name} …"):
            return _load_model(name)
    except ModelLoadError as error:
        st.error(str(error), icon="⚠️")
        return None


def cached_analysis(loaded: Loaded, text: str) -> Analysis:
    """The analysis of ``text``; raises :class:`~explorer.analysis.InputError` for bad text."""
    return _analysis(loaded.info.name, text, loaded)


@st.cache_resource(show_spinner=False, max_entries=32)
def _token_predictions(model_name: str, text: str, top_k: int, _loaded: Loaded,
                       _analysis: Analysis) -> tuple:
    from explorer.token_predictions import top_predictions_per_token

    return top_predictions_per_token(_loaded, _analysis, top_k)


def cached_token_predictions(loaded: Loaded, analysis: Analysis, top_k: int) -> tuple:
    """Top-k predictions at every position (LM head on the cached hidden states)."""
    return _token_predictions(loaded.info.name, analysis.text, top_k, loaded, analysis)
