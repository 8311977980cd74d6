"""bertviz's head, model and neuron views for the current input, embedded with ``st.iframe``.

The HTML comes from bertviz itself, made safe and offline by :mod:`components.bertviz_html`
(local npm copies of require.js, d3 and jQuery inlined; the CDN only when they are missing),
and bounded for long inputs (a budget of attention values; the caption says what is left out).
"""

from __future__ import annotations

import streamlit as st

from components.bertviz_html import (
    NEURON_MAX_TOKENS,
    bertviz_budget,
    head_view_html,
    local_assets,
    make_offline,
    model_view_html,
    round_neuron_params,
)
from explorer.analysis import Analysis
from explorer.model import Loaded
from explorer.neuron import NeuronViewUnsupported, neuron_view_html, neuron_view_model
from ui.cache import cached_in_budget
from ui.keys import cache_key, model_fingerprint

VIEWS = ("head view", "model view", "neuron view")
_ROW_PX = 22.5  # bertviz draws one token per 22.5 px


def _head_or_model_html(view: str, layer: int, heads: tuple[int, ...], loaded: Loaded,
                        analysis: Analysis) -> tuple[str, str, bool]:
    """The view's page (kept in the one budgeted cache, as every derived result)."""
    return cached_in_budget(
        cache_key("bertviz", loaded, analysis, view, int(layer), tuple(heads)),
        lambda: _make_head_or_model_html(view, layer, heads, analysis))


def _make_head_or_model_html(view: str, layer: int, heads: tuple[int, ...],
                             analysis: Analysis) -> tuple[str, str, bool]:
    budget = bertviz_budget(analysis.num_tokens, analysis.num_layers, analysis.num_heads,
                            layer, heads)
    tokens = list(analysis.tokens)
    raw = (head_view_html(analysis.attentions, tokens, budget, layer, list(heads))
           if view == "head view" else model_view_html(analysis.attentions, tokens, budget))
    html, offline = make_offline(raw, local_assets())
    return html, budget.describe(analysis.num_layers, analysis.num_heads), offline


@st.cache_resource(show_spinner=False, max_entries=2)
def _neuron_model(fingerprint: str, _loaded: Loaded):
    """bertviz's copy of the model, one per weights fingerprint (not per name: a folder saved
    again holds other weights under the same name)."""
    return neuron_view_model(_loaded)


def _neuron_html(layer: int, head: int, loaded: Loaded, analysis: Analysis) -> tuple[str, bool]:
    def make() -> tuple[str, bool]:
        model, model_type = _neuron_model(model_fingerprint(loaded), loaded)
        raw = neuron_view_html(model, model_type, analysis.tokens, analysis.token_ids.tolist(),
                               layer, head)
        return make_offline(round_neuron_params(raw), local_assets())

    return cached_in_budget(cache_key("bertviz neuron", loaded, analysis, int(layer), int(head)),
                            make)


def _offline_note(offline: bool) -> None:
    if not offline:
        st.caption("The local copies of require.js, d3 and jQuery are missing (run "
                   "`bash scripts/setup-app.sh`); this view loads them from a CDN.")


def bertviz_view(view: str, loaded: Loaded, analysis: Analysis, layer: int,
                 heads: tuple[int, ...]) -> None:
    """Draw one bertviz view of ``analysis`` in an iframe."""
    height = int(min(1200, 120 + _ROW_PX * analysis.num_tokens))
    if view == "neuron view":
        if analysis.num_tokens > NEURON_MAX_TOKENS:
            st.info(f"bertviz's neuron view carries every layer's queries and keys; it is shown "
                    f"for inputs of at most {NEURON_MAX_TOKENS} tokens (this one has "
                    f"{analysis.num_tokens}).")
            return
        try:
            html, offline = _neuron_html(layer, heads[0] if heads else 0, loaded, analysis)
        except NeuronViewUnsupported as error:
            st.info(str(error))
            return
        st.iframe(html, height=max(height, 500))
        _offline_note(offline)
        return
    html, note, offline = _head_or_model_html(view, layer, heads, loaded, analysis)
    st.caption(note)
    if view == "model view":
        height = int(min(1600, 150 + 110 * analysis.num_layers))
    st.iframe(html, height=height)
    _offline_note(offline)
