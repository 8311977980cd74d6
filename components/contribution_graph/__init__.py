"""The contribution graph as one Streamlit custom component (``st.components.v2``).

It receives every layer's ALTI shares once (sparse: each row's shares of 1 % or more, strongest
first, in permille) and answers the target token, the threshold and hide-special in the browser.
It tells Python the clicked edge (state ``edge``), for the head split drawn beside it, and the
controls (state ``view``), for the URL. ``graph.js`` documents the contract.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import streamlit as st

_HERE = Path(__file__).resolve().parent
COMPONENT_NAME = "attention_explorer.contribution_graph"
MIN_SHARE = 0.01
"""Shares below this are not sent (the threshold slider starts here)."""


class ContributionData(TypedDict):
    """What the component receives (see ``graph.js``)."""

    data_id: str
    labels: list[str]  # plain text, set with textContent
    special: list[int]
    num_layers: int
    rows: list[list[list[int]]]  # rows[layer][query] = [key, permille, key, permille, ...]
    target: int
    threshold: float
    hide_special: bool
    script_runs: int  # full runs of the page: the JS applies target/threshold/hide when it changes
    ack: int  # the last ``seq`` Python received from the component


class EdgeEvent(TypedDict):
    """State ``edge``: the clicked edge, ``layer`` 0-based."""

    layer: int
    source: int
    target: int
    seq: int


def sparse_rows(shares: np.ndarray, min_share: float = MIN_SHARE) -> list[list[list[int]]]:
    """``shares[layer, query, key]`` → ``rows[layer][query]`` = flat (key, permille) pairs of
    the shares at or above ``min_share``, strongest first."""
    rows = []
    for layer in shares:
        layer_rows = []
        for row in layer:
            keys = np.flatnonzero(row >= min_share)
            keys = keys[np.argsort(-row[keys], kind="stable")]
            layer_rows.append([int(v) for key in keys for v in (key, round(1000 * row[key]))])
        rows.append(layer_rows)
    return rows


def contribution_data(data_id: str, labels: Sequence[str], special: Sequence[bool],
                      shares: np.ndarray, target: int, threshold: float, hide_special: bool,
                      script_runs: int, ack: int = 0) -> ContributionData:
    return ContributionData(
        data_id=data_id, labels=list(labels), special=[int(bool(s)) for s in special],
        num_layers=int(shares.shape[0]), rows=sparse_rows(shares), target=int(target),
        threshold=float(threshold), hide_special=bool(hide_special), script_runs=int(script_runs),
        ack=int(ack))


_mount = st.components.v2.component(
    COMPONENT_NAME,
    html=(_HERE / "graph.html").read_text(encoding="utf-8"),
    css=(_HERE / "graph.css").read_text(encoding="utf-8"),
    js=(_HERE / "graph.js").read_text(encoding="utf-8"),
)


def contribution_graph(data: ContributionData, *, key: str, on_edge: Callable[[], None],
                       on_view: Callable[[], None]) -> Any:
    """Mount the graph; the callbacks read ``st.session_state[key]`` (``edge``, ``view``)."""
    return _mount(key=key, data=data, on_edge_change=on_edge, on_view_change=on_view)
