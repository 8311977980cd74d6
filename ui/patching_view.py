"""Patching between the Compare page's two inputs: Streamlit glue (maths in
:mod:`explorer.patching`; results kept in the one budgeted cache, run by the job limiter)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from components.compare_charts import head_grid_heatmap
from components.layer_charts import layer_token_heatmap
from explorer.analysis import Analysis
from explorer.cost import patching_cost
from explorer.model import Loaded
from explorer.patching import PatchEffects, PatchError, check_patchable, patch_effects
from explorer.prediction_text import shown_token_text
from ui.export import chart_config
from ui.jobs import JobRefused, computed
from ui.keys import cache_key
from ui.markdown import escape_markdown

MASK = "patching_mask"
TOKEN = "patching_token"
RUN = "patching_run"


def cached_patch_effects(loaded: Loaded, source: Analysis, target: Analysis, position: int,
                         token_id: int) -> PatchEffects:
    """:func:`explorer.patching.patch_effects` once per model, pair of texts, mask and token."""
    info = loaded.info
    return computed(
        cache_key("patching", loaded, target, source.text, source.text_pair, int(position),
                  int(token_id)),
        patching_cost(info.num_layers, info.num_heads, target.num_tokens),
        lambda report: patch_effects(loaded, source, target, int(position), int(token_id)),
        "patching")


def _candidates(source: Analysis, target: Analysis, mask: int) -> dict[int, str]:
    """Token ids to measure (A's top predictions first, then B's), shown as the tables show
    them."""
    shown: dict[int, str] = {}
    for analysis, side in ((source, "A"), (target, "B")):
        for prediction in analysis.predictions[mask].predictions[:5]:
            label = shown_token_text(prediction.token_str, prediction.token_id)
            shown.setdefault(int(prediction.token_id),
                             f"“{label}” (top {prediction.rank} in {side})")
    return shown


@st.fragment
def patching_section(loaded: Loaded, source: Analysis, target: Analysis) -> None:
    """Layer × head and layer × position maps of how much A's component moves B's log p."""
    st.caption("Run input B with one component taken from input A and see how the log-"
               "probability of a token at B's mask moves: one head's output (at every position), "
               "or the hidden state entering a layer at one position. Red: A's component raises "
               "it; blue: lowers it. Causal, unlike attention: it says what the prediction "
               "depends on, not where heads look.")
    try:
        check_patchable(source, target)
    except PatchError as error:
        st.info(escape_markdown(str(error)), icon=":material/info:")
        return
    masks = min(len(source.predictions), len(target.predictions))
    if not masks:
        st.info("Both inputs need a mask to patch a prediction.", icon=":material/info:")
        return
    mask_column, token_column = st.columns([1, 2])
    mask = int(mask_column.selectbox(
        "Mask", range(masks), key=MASK,
        format_func=lambda m: f"mask {m + 1} (token {target.predictions[m].position})"))
    candidates = _candidates(source, target, mask)
    if st.session_state.get(TOKEN) not in candidates:
        st.session_state.pop(TOKEN, None)
    token_id = int(token_column.selectbox("Token whose log-probability is measured",
                                          list(candidates), key=TOKEN,
                                          format_func=lambda t: candidates[t]))
    info = loaded.info
    cost = patching_cost(info.num_layers, info.num_heads, target.num_tokens)
    problem = cost.problem()
    if problem:
        st.warning(escape_markdown(problem), icon=":material/block:")
        return
    if not st.toggle(f"Run patching ({cost.passes:,} batched passes over {cost.tokens} tokens)",
                     key=RUN):
        return
    position = target.predictions[mask].position
    try:
        effects = cached_patch_effects(loaded, source, target, position, token_id)
    except (JobRefused, PatchError) as error:
        st.warning(escape_markdown(str(error)), icon=":material/hourglass_top:")
        return
    gap = effects.source_log_probability - effects.base_log_probability
    st.caption(f"log p in B: {effects.base_log_probability:.3f}; in A: "
               f"{effects.source_log_probability:.3f} (A − B = {gap:+.3f}). Patching every head "
               "of a layer is not the whole gap: the residual stream still carries B.")
    limit = max(abs(gap), float(np.abs(effects.heads).max()),
                float(np.abs(effects.positions).max()), 1e-6)
    st.plotly_chart(head_grid_heatmap(effects.heads, "Patching one head of B with A's: change "
                                      "of log p", "Δ log p", limit=limit),
                    key="patching_heads", config=chart_config("patching-heads"))
    rows = [f"into layer {layer + 1}" if layer else "embeddings (into layer 1)"
            for layer in range(info.num_layers)]
    st.plotly_chart(layer_token_heatmap(effects.positions, target.labels,
                                        "Patching one position of B with A's hidden state: "
                                        "change of log p", "Δ log p", rows, zmin=-limit,
                                        zmax=limit, colorscale="RdBu_r"),
                    key="patching_positions", config=chart_config("patching-positions"))
