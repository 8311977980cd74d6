"""The contribution graph, each head's share of a clicked edge, and what each head writes —
Streamlit glue for ``pages/contributions.py`` (maths in :mod:`explorer.contributions` and
:mod:`explorer.head_writes`; every result kept in the one budgeted cache)."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import streamlit as st

from components.contribution_graph import contribution_data, contribution_graph
from components.layer_charts import token_matrix_heatmap
from components.tables import text_table
from explorer.analysis import Analysis
from explorer.architectures import CONTRIBUTIONS
from explorer.contributions import ContributionError, contributions, head_contribution_maps
from explorer.cost import Cost, contribution_cost
from explorer.head_writes import READING_NOTE, Writes, layer_writes
from explorer.model import Loaded
from ui.export import chart_config
from ui.jobs import JobRefused, computed
from ui.keys import cache_key, model_fingerprint
from ui.markdown import escape_markdown

GRAPH = "contribution_graph"  # the component's own state (edge, view)
THROUGH_FFN = "contribution_through_ffn"
TARGET = "contribution_target"  # the token the graph walks back from (0-based)
THRESHOLD = "contribution_threshold"
HIDE_SPECIAL = "contribution_hide_special"
EDGE = "contribution_edge"  # {"layer", "source", "target"} of the clicked edge
SPLIT_HEAD = "contribution_split_head"
WRITES_LAYER = "contribution_writes_layer"
ACK = "contribution_ack"  # the last seq the graph sent (shown by it as data-ack)
PAGE_RUNS = "contribution_page_runs"  # full runs of the Contributions page (fragment runs not)
DEFAULT_THRESHOLD = 0.05


def count_page_run() -> int:
    """Count a full run of the Contributions page (call at its top: a fragment rerun does not
    run it). The graph applies Python's target, threshold and hide-special when it changes."""
    runs = int(st.session_state.get(PAGE_RUNS, 0)) + 1
    st.session_state[PAGE_RUNS] = runs
    return runs


def _acknowledge(event: dict) -> None:
    if isinstance(event.get("seq"), int):
        st.session_state[ACK] = int(event["seq"])


def cached_shares(loaded: Loaded, analysis: Analysis, through_ffn: bool) -> np.ndarray:
    """``shares[layer, query, key]`` (read-only), computed once per model, text and scope,
    through the job limiter at its measured cost (it runs no model, but splitting every query
    over every key through the feed-forward block costs far more than a forward pass)."""
    return computed(cache_key("contributions", loaded, analysis, bool(through_ffn)),
                    contribution_cost(analysis.num_tokens, bool(through_ffn)),
                    lambda report: contributions(loaded, analysis,
                                                 through_ffn=through_ffn).shares,
                    "contribution graph")


def cached_head_maps(loaded: Loaded, analysis: Analysis, layer: int) -> np.ndarray:
    return computed(cache_key("head contribution maps", loaded, analysis, int(layer)),
                    Cost("per-head contribution maps", analysis.num_tokens, 1),
                    lambda report: head_contribution_maps(loaded, analysis, int(layer)),
                    "per-head contribution maps")


def cached_writes(loaded: Loaded, analysis: Analysis, layer: int, token: int) -> Writes:
    return computed(cache_key("head writes", loaded, analysis, int(layer), int(token)),
                    Cost("head writes", analysis.num_tokens, 1),
                    lambda report: layer_writes(loaded, analysis, int(layer), int(token)),
                    "head writes")


def _on_edge() -> None:
    edge = (st.session_state.get(GRAPH) or {}).get("edge")
    if isinstance(edge, dict):
        _acknowledge(edge)
    if isinstance(edge, dict) and all(isinstance(edge.get(k), int)
                                      for k in ("layer", "source", "target")):
        st.session_state[EDGE] = {k: int(edge[k]) for k in ("layer", "source", "target")}
        st.session_state.pop(SPLIT_HEAD, None)  # the new edge's strongest head


def _on_view() -> None:
    view = (st.session_state.get(GRAPH) or {}).get("view")
    if not isinstance(view, dict):
        return
    _acknowledge(view)
    if isinstance(view.get("target"), int):
        st.session_state[TARGET] = int(view["target"])
    if isinstance(view.get("threshold"), int | float):
        st.session_state[THRESHOLD] = float(view["threshold"])
    st.session_state[HIDE_SPECIAL] = bool(view.get("hide_special"))


def default_target(analysis: Analysis) -> int:
    """The first mask, else the first token that is not special."""
    if analysis.mask_positions:
        return analysis.mask_positions[0]
    plain = np.flatnonzero(~analysis.special_mask)
    return int(plain[0]) if len(plain) else 0


def _valid_target(analysis: Analysis) -> int:
    target = st.session_state.get(TARGET)
    if not isinstance(target, int) or not 0 <= target < analysis.num_tokens:
        target = default_target(analysis)
        st.session_state[TARGET] = target
    return target


def supported(loaded: Loaded) -> bool:
    architecture = loaded.info.architecture
    if architecture.supports(CONTRIBUTIONS):
        return True
    st.info(architecture.why_not(CONTRIBUTIONS), icon=":material/info:")
    return False


@st.fragment
def contribution_section(loaded: Loaded, analysis: Analysis) -> None:
    """The graph (answers target, threshold and hide-special in the browser) and, for a clicked
    edge, its split over heads with that head's attention beside its contribution."""
    through_ffn = st.toggle(
        "Through the feed-forward block", value=True, key=THROUGH_FFN,
        help="On: each layer's whole output (attention, residual, LayerNorm, feed-forward "
             "block, LayerNorm; DecompX's split of the feed-forward block). Off: the attention "
             "block alone, up to its LayerNorm (ALTI's scope).")
    try:
        shares = cached_shares(loaded, analysis, through_ffn)
    except (JobRefused, ContributionError) as error:
        st.warning(escape_markdown(str(error)))
        return
    target = _valid_target(analysis)
    data = contribution_data(
        data_id=f"{model_fingerprint(loaded)}|{analysis.num_tokens}|{hash(analysis.text)}|"
                f"{hash(analysis.text_pair)}|{int(through_ffn)}",
        labels=analysis.labels, special=analysis.special_mask.tolist(), shares=shares,
        target=target, threshold=float(st.session_state.get(THRESHOLD, DEFAULT_THRESHOLD)),
        hide_special=bool(st.session_state.get(HIDE_SPECIAL, False)),
        script_runs=int(st.session_state.get(PAGE_RUNS, 0)),
        ack=int(st.session_state.get(ACK, 0)))
    contribution_graph(data, key=GRAPH, on_edge=_on_edge, on_view=_on_view)
    edge = st.session_state.get(EDGE)
    if not edge or max(edge["source"], edge["target"]) >= analysis.num_tokens or \
            edge["layer"] >= analysis.num_layers:
        st.caption("Click an edge to see which heads carried it.")
        return
    _edge_split(loaded, analysis, edge, shares)


def _edge_split(loaded: Loaded, analysis: Analysis, edge: dict[str, int],
                shares: np.ndarray) -> None:
    layer, source, target = edge["layer"], edge["source"], edge["target"]
    labels = analysis.labels
    maps = cached_head_maps(loaded, analysis, layer)  # maps[head, query, key]
    by_head = maps[:, target, source]
    total = float(by_head.sum())
    st.html(
        f'<div data-testid="edge-title"><b>Layer {layer + 1}</b>: '
        f'{html.escape(labels[source])} (token {source + 1}) → {html.escape(labels[target])} '
        f'(token {target + 1}), share {shares[layer, target, source]:.1%} of the output</div>')
    heads = analysis.num_heads
    frame = pd.DataFrame({
        "head": [f"head {h + 1}" for h in range(heads)],
        "attention weight": [f"{analysis.attentions[layer, h, target, source]:.3f}"
                             for h in range(heads)],
        "moved (scaled norm)": [f"{by_head[h]:.4g}" for h in range(heads)],
        "share of the heads": [f"{by_head[h] / total:.1%}" if total > 0 else "–"
                               for h in range(heads)],
    })
    text_table(frame, key="edge_heads")
    strongest = int(np.argmax(by_head))
    head = st.selectbox("Head", list(range(heads)), index=strongest, key=SPLIT_HEAD,
                        format_func=lambda h: f"head {h + 1}")
    left, right = st.columns(2)
    left.plotly_chart(token_matrix_heatmap(
        np.asarray(analysis.attentions[layer, head], dtype=np.float32), labels,
        f"Attention, layer {layer + 1} head {head + 1}", "weight", zmin=0, zmax=1,
        row_title="query", column_title="key"), key="edge_attention",
        config=chart_config("head_attention"))
    right.plotly_chart(token_matrix_heatmap(
        maps[head], labels, f"What it moves (norm), layer {layer + 1} head {head + 1}",
        "norm", zmin=0, row_title="query", column_title="key"), key="edge_contribution",
        config=chart_config("head_contribution"))


def _reading_text(pairs: tuple[tuple[str, float], ...]) -> str:
    return "  ".join(f"{token.strip() or repr(token)} ({logit:+.2f})" for token, logit in pairs)


def writes_section(loaded: Loaded, analysis: Analysis) -> None:
    """What each head and the feed-forward block of one layer write at the graph's token."""
    target = _valid_target(analysis)
    layer = st.selectbox("Layer", list(range(analysis.num_layers)),
                         index=analysis.num_layers - 1, key=WRITES_LAYER,
                         format_func=lambda v: f"layer {v + 1}")
    writes = cached_writes(loaded, analysis, layer, target)
    st.html(f'<div data-testid="writes-token">At token {target + 1}: '
            f'<b>{html.escape(analysis.labels[target])}</b></div>')
    rows = [(f"head {h + 1}", float(np.abs(writes.heads[h]).sum()), reading)
            for h, reading in enumerate(writes.head_readings)]
    rows.append(("feed-forward block", float(np.abs(writes.ffn).sum()), writes.ffn_reading))
    text_table(pd.DataFrame({
        "part": [name for name, _, _ in rows],
        "size (L1)": [f"{size:.3g}" for _, size, _ in rows],
        "promotes": [_reading_text(r.promoted) for _, _, r in rows],
        "suppresses": [_reading_text(r.suppressed) for _, _, r in rows],
    }), key="head_writes")
    st.caption(READING_NOTE)
