"""Page state of the attention graph: validated defaults and the callbacks that the graph and
its buttons run (selection, heads, mask/unmask). Callbacks run before the next script run, so
they may change widget values such as the text."""

from __future__ import annotations

from typing import Any

import streamlit as st

from explorer.analysis import Analysis
from explorer.graph import COMBINE_MODES, DEFAULT_THRESHOLD
from explorer.masking import MaskEditError, mask_token_in_text, unmask_token_in_text
from explorer.model import Loaded
from ui import keys

BERTVIZ_OFF = "off"


def _valid_int(value: Any, upper: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value < upper else None


def prepare_graph_state(analysis: Analysis) -> None:
    """Defaults and validation of the graph's keys for this analysis, before widgets are drawn
    (values may come from an older input, another model or the URL)."""
    state = st.session_state
    if _valid_int(state.get(keys.LAYER), analysis.num_layers) is None:
        state[keys.LAYER] = 0
    heads = state.get(keys.HEADS)
    if not isinstance(heads, list):
        state[keys.HEADS] = list(range(analysis.num_heads))
    else:
        state[keys.HEADS] = sorted({h for h in heads
                                    if _valid_int(h, analysis.num_heads) is not None})
    if state.get(keys.COMBINE) not in COMBINE_MODES:
        state[keys.COMBINE] = COMBINE_MODES[0]
    threshold = state.get(keys.THRESHOLD)
    if not isinstance(threshold, (int, float)) or not 0.05 <= threshold <= 1.0:
        state[keys.THRESHOLD] = DEFAULT_THRESHOLD
    if not isinstance(state.get(keys.HIDE_SPECIAL), bool):
        state[keys.HIDE_SPECIAL] = False
    state[keys.SELECTED_TOKEN] = _valid_int(state.get(keys.SELECTED_TOKEN), analysis.num_tokens)
    if state.get(keys.SELECTED_SIDE) not in ("left", "right"):
        state[keys.SELECTED_SIDE] = "left"


def graph_value(name: str) -> Any:
    """A value the graph component sent (state or trigger), or None."""
    value = st.session_state.get(keys.GRAPH)
    return value.get(name) if isinstance(value, dict) else None


def on_graph_selection() -> None:
    selection = graph_value("selection")
    if not isinstance(selection, dict):
        return
    token = selection.get("token")
    st.session_state[keys.SELECTED_TOKEN] = token if isinstance(token, int) else None
    if selection.get("side") in ("left", "right"):
        st.session_state[keys.SELECTED_SIDE] = selection["side"]


def on_graph_heads(num_heads: int) -> None:
    value = graph_value("heads")
    heads = value.get("heads") if isinstance(value, dict) else None
    if isinstance(heads, list):
        st.session_state[keys.HEADS] = sorted({h for h in heads
                                               if _valid_int(h, num_heads) is not None})


def set_heads(heads: list[int]) -> None:
    st.session_state[keys.HEADS] = heads


def edit_mask(loaded: Loaded, analysis: Analysis, token_index: Any, unmask: bool) -> None:
    """Mask (or unmask) a token of the analysed text; the text widget then shows the new text
    and the page re-analyses it. A refusal is kept for the page to show."""
    if _valid_int(token_index, analysis.num_tokens) is None:
        return
    record = st.session_state.get(keys.MASK_ORIGINALS)
    originals = (record.get("originals", {})
                 if isinstance(record, dict) and record.get("text") == analysis.text else {})
    edit = unmask_token_in_text if unmask else mask_token_in_text
    try:
        result = edit(loaded, analysis, token_index, originals)
    except MaskEditError as error:
        st.session_state[keys.MASK_MESSAGE] = str(error)
        return
    st.session_state[keys.TEXT] = result.text
    st.session_state[keys.MASK_ORIGINALS] = {"text": result.text,
                                             "originals": dict(result.originals)}


def on_graph_mask(loaded: Loaded, analysis: Analysis, unmask: bool) -> None:
    edit_mask(loaded, analysis, graph_value("unmask" if unmask else "mask"), unmask)
