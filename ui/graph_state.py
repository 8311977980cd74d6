"""Page state of the attention view: validated defaults, the data the component receives, and
the callbacks it runs (view, selection, mask/unmask). Callbacks run before the next (fragment)
run, so they may change session values such as the text."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import streamlit as st

from components.attention_graph import AttributionTip, GraphData, GraphView, file_url
from explorer.analysis import Analysis
from explorer.attribution import AttributionError, TokenAttribution, value_vector_norms
from explorer.cost import graph_file_cost
from explorer.graph import (
    COMBINE_MODES,
    DEFAULT_THRESHOLD,
    WEIGHTINGS,
    WordMap,
    file_id,
    graph_file,
)
from explorer.jobs import ProgressCallback
from explorer.masking import MaskEditError, mask_token_in_text, unmask_token_in_text
from explorer.model import Loaded
from explorer.state import MEAN_HEAD
from explorer.word_level import words_of
from ui import keys
from ui.cache import cached_token_predictions, held_in_budget
from ui.jobs import computed
from ui.keys import CacheKey, cache_key
from ui.lm_head import has_prediction_head

BERTVIZ_OFF = "off"
MIN_THRESHOLD = 0.05


def _valid_int(value: Any, upper: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value < upper else None


def _valid_threshold(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if MIN_THRESHOLD <= value <= 1.0 else None


def count_script_run() -> int:
    """Count a full run of the page (call at its top; a fragment rerun does not run it)."""
    runs = st.session_state.get(keys.SCRIPT_RUNS, 0) + 1
    st.session_state[keys.SCRIPT_RUNS] = runs
    return runs


def prepare_graph_state(analysis: Analysis) -> None:
    """Defaults and validation of the view's keys for this analysis (values may come from an
    older input, another model, another page or the URL)."""
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
    if _valid_threshold(state.get(keys.THRESHOLD)) is None:
        state[keys.THRESHOLD] = DEFAULT_THRESHOLD
    if not isinstance(state.get(keys.HIDE_SPECIAL), bool):
        state[keys.HIDE_SPECIAL] = False
    head = state.get(keys.HEAD)
    if head != MEAN_HEAD and _valid_int(head, analysis.num_heads) is None:
        state[keys.HEAD] = MEAN_HEAD
    state[keys.SELECTED_TOKEN] = _valid_int(state.get(keys.SELECTED_TOKEN), analysis.num_tokens)
    if state.get(keys.SELECTED_SIDE) not in ("left", "right"):
        state[keys.SELECTED_SIDE] = "left"
    if state.get(keys.GRAPH_WEIGHTING) not in WEIGHTINGS:
        state[keys.GRAPH_WEIGHTING] = WEIGHTINGS[0]
    if not isinstance(state.get(keys.GRAPH_WORDS), bool):
        state[keys.GRAPH_WORDS] = False


def _graph_file(loaded: Loaded, analysis: Analysis, tooltip_k: int) -> tuple[bytes, str]:
    """The packed file of one analysis, kept in the one budgeted cache (ui/cache.py) and built
    through the job limiter (:func:`ui.jobs.computed`). The tooltip predictions are asked for
    first, from this script thread (their own job): a job that waited for another job of the
    same lane could hold every worker of that lane waiting."""
    key = cache_key("graph_file", loaded, analysis, int(tooltip_k))
    held = held_in_budget(key)
    if held is not None:
        return held  # type: ignore[return-value]
    predictions = (cached_token_predictions(loaded, analysis, tooltip_k)
                   if has_prediction_head(loaded) else None)  # no head: no tooltip guesses

    def build(report: ProgressCallback) -> tuple[bytes, str]:
        norms, note = None, ""
        try:  # Kobayashi et al. 2020; a family without a value projection: the switch says why
            norms = value_vector_norms(loaded, analysis.hidden_states)
        except AttributionError as error:
            note = str(error)
        words = words_of(loaded.tokenizer, analysis)
        blob = graph_file(analysis.attentions, analysis.labels, analysis.special_mask,
                          analysis.mask_positions, predictions,
                          special_label=loaded.info.special_label, value_norms=norms,
                          value_note=note,
                          words=WordMap(words.word_of_token, words.labels, words.special))
        return blob, file_id(blob)

    return computed(key, graph_file_cost(analysis.num_tokens), build, "attention view")


def graph_data(loaded: Loaded, analysis: Analysis, tooltip_k: int) -> GraphData:
    """What the component receives: the URL of the analysis file (built once per analysis and
    served by Streamlit's media file manager) and the view held in session state."""
    blob, identity = _graph_file(loaded, analysis, tooltip_k)
    state = st.session_state
    view: GraphView = {
        "layer": state[keys.LAYER],
        "heads": list(state[keys.HEADS]),
        "combine": state[keys.COMBINE],
        "threshold": float(state[keys.THRESHOLD]),
        "hide_special": state[keys.HIDE_SPECIAL],
        "head": state[keys.HEAD],
        "selected": state[keys.SELECTED_TOKEN],
        "selected_side": state[keys.SELECTED_SIDE],
        "weighting": state[keys.GRAPH_WEIGHTING],
        "words": state[keys.GRAPH_WORDS],
    }
    return {"file_url": file_url(blob), "file_id": identity, "view": view,
            "script_runs": int(state.get(keys.SCRIPT_RUNS, 0)),
            "ack": int(state.get(keys.GRAPH_ACK, 0)),
            "attribution": shown_attribution(loaded, analysis)}


def shown_attribution(loaded: Loaded, analysis: Analysis) -> AttributionTip | None:
    """The attribution last shown by the attribution section, for the graph's tooltips — only
    while the one cache still holds it and it belongs to this model and text (nothing is ever
    computed here: the graph is on the interactive path)."""
    shown = st.session_state.get(keys.SHOWN_ATTRIBUTION)
    if not isinstance(shown, dict) or not isinstance(shown.get("label"), str):
        return None
    key = shown.get("key")
    if not isinstance(key, CacheKey) or key[1:5] != cache_key("", loaded, analysis)[1:5]:
        return None  # another model, text, pair or length
    result = held_in_budget(key)
    if not isinstance(result, TokenAttribution) or len(result.scores) != analysis.num_tokens:
        return None
    return {"label": shown["label"],
            "scores": [float(f"{float(score):.4g}") for score in result.scores]}


def graph_value(name: str) -> Any:
    """A value the component sent (state or trigger), or None."""
    value = st.session_state.get(keys.GRAPH)
    return value.get(name) if isinstance(value, dict) else None


def _acknowledge(state: MutableMapping[str, Any], event: Any) -> None:
    seq = event.get("seq") if isinstance(event, dict) else None
    if _valid_int(seq, 2**31) is not None:
        state[keys.GRAPH_ACK] = max(seq, state.get(keys.GRAPH_ACK, 0))


def apply_view_event(state: MutableMapping[str, Any], view: Any, num_layers: int,
                     num_heads: int) -> None:
    """Copy the valid values of a ``view`` event (:class:`ViewEvent`) into ``state``."""
    if not isinstance(view, dict):
        return
    if _valid_int(view.get("layer"), num_layers) is not None:
        state[keys.LAYER] = view["layer"]
    heads = view.get("heads")
    if isinstance(heads, list):
        state[keys.HEADS] = sorted({h for h in heads if _valid_int(h, num_heads) is not None})
    if view.get("combine") in COMBINE_MODES:
        state[keys.COMBINE] = view["combine"]
    if _valid_threshold(view.get("threshold")) is not None:
        state[keys.THRESHOLD] = round(float(view["threshold"]), 4)
    if isinstance(view.get("hide_special"), bool):
        state[keys.HIDE_SPECIAL] = view["hide_special"]
    head = view.get("head")
    if head == MEAN_HEAD or _valid_int(head, num_heads) is not None:
        state[keys.HEAD] = head
    if view.get("weighting") in WEIGHTINGS:
        state[keys.GRAPH_WEIGHTING] = view["weighting"]
    if isinstance(view.get("words"), bool):
        state[keys.GRAPH_WORDS] = view["words"]
    _acknowledge(state, view)


def on_graph_view(num_layers: int, num_heads: int) -> None:
    """The component's controls changed: keep what is valid (for the URL and other pages)."""
    apply_view_event(st.session_state, graph_value("view"), num_layers, num_heads)


def on_graph_selection() -> None:
    selection = graph_value("selection")
    if not isinstance(selection, dict):
        return
    token = selection.get("token")
    st.session_state[keys.SELECTED_TOKEN] = token if _valid_int(token, 2**16) is not None \
        else None
    if selection.get("side") in ("left", "right"):
        st.session_state[keys.SELECTED_SIDE] = selection["side"]
    _acknowledge(st.session_state, selection)


def edit_mask(loaded: Loaded, analysis: Analysis, token_index: Any, unmask: bool) -> None:
    """Mask (or unmask) a token of the analysed text; the page then runs in full with the new
    text. A refusal is kept for the page to show."""
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
    # The text changed: predictions and every view follow. Asked from the callback, Streamlit
    # runs the whole page instead of the fragment (a fragment that itself asks for the app
    # run leaves the browser with a half-replaced fragment: "Cannot set a node at a delta path").
    st.rerun()


def on_graph_mask(loaded: Loaded, analysis: Analysis, unmask: bool) -> None:
    edit_mask(loaded, analysis, graph_value("unmask" if unmask else "mask"), unmask)
