"""The exBERT-style attention view as one Streamlit custom component (``st.components.v2``).

It receives the analysis once, as a file (:func:`explorer.graph.graph_file`) served by
Streamlit's media file manager, and answers in the browser: layer, heads (boxes, All/None),
combine, threshold, hide-special, "weights" / "weights × value norm", words / pieces, the
one-head/mean heatmap, hover and click-to-freeze, and the SVG / PNG export of what is drawn.
It tells Python what Python needs as component state: ``view`` (the controls, for the URL) and
``selection`` (the frozen token); double-click sends the ``mask`` / ``unmask`` triggers.

A rerun that does not change the file re-sends only :class:`GraphData` (a few hundred bytes);
the JS re-reads nothing unless ``file_id`` or ``script_runs`` changed. HTML, CSS and JS live next
to this file; ``graph.js`` documents the binary layout.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypedDict

import streamlit as st

from explorer.graph import GraphHeader, TokenEntry, ValuePackHeader, WordsHeader

__all__ = [
    "AttributionTip", "GraphData", "GraphHeader", "GraphView", "SelectionEvent", "TokenEntry",
    "ValuePackHeader", "ViewEvent", "WordsHeader", "attention_graph", "file_url",
]

_HERE = Path(__file__).resolve().parent
COMPONENT_NAME = "attention_explorer.attention_graph"
FILE_MIMETYPE = "application/octet-stream"
_FILE_COORDINATES = "attention_explorer.attention_graph.file"


class GraphView(TypedDict):
    """The controls' values; indices are 0-based here, 1-based on screen and in ``data-*``."""

    layer: int
    heads: list[int]
    combine: Literal["mean", "max"]
    threshold: float
    hide_special: bool
    head: int | Literal["mean"]  # the heatmap's head
    selected: int | None  # a TOKEN index (in the word view: the word holding it)
    selected_side: Literal["left", "right"]
    weighting: Literal["weights", "value_norm"]
    words: bool  # the word view: pieces merged into words


class AttributionTip(TypedDict):
    """A cached attribution result shown in the tooltips (never computed for the graph)."""

    label: str  # what was attributed, e.g. "integrated gradients of log p(Paris) at mask 1"
    scores: list[float]  # scores[token]; the word view shows the sum over a word's pieces


class GraphData(TypedDict):
    """What the component receives on every run (small: the analysis travels as a file)."""

    file_url: str
    file_id: str
    view: GraphView
    script_runs: int  # full page runs of this session: the JS applies ``view`` when it changes
    ack: int  # the last ``seq`` Python received from the component
    attribution: AttributionTip | None


class ViewEvent(TypedDict):
    """State ``view`` sent by the component."""

    layer: int
    heads: list[int]
    combine: str
    threshold: float
    hide_special: bool
    head: int | str
    weighting: str
    words: bool
    seq: int


class SelectionEvent(TypedDict):
    """State ``selection`` sent by the component (a token index: in the word view, the first
    piece of the frozen word)."""

    token: int | None
    side: str
    seq: int


_mount = st.components.v2.component(
    COMPONENT_NAME,
    html=(_HERE / "graph.html").read_text(encoding="utf-8"),
    css=(_HERE / "graph.css").read_text(encoding="utf-8"),
    js=(_HERE / "graph.js").read_text(encoding="utf-8"),
)


def file_url(blob: bytes) -> str:
    """Serve ``blob`` from Streamlit's media file manager; return its URL (under the server's
    base path). The same bytes give the same URL; the file lives as long as the session shows
    it."""
    from streamlit.runtime import Runtime

    return under_base_path(
        Runtime.instance().media_file_mgr.add(blob, FILE_MIMETYPE, _FILE_COORDINATES),
        st.get_option("server.baseUrlPath"))


def under_base_path(path: str, base_url_path: str) -> str:
    """``/media/x.bin`` as the browser must ask for it when the app is served under
    ``server.baseUrlPath`` (a hosted demo behind a proxy): ``/<base>/media/x.bin``. Streamlit's
    own elements add the base in the browser; the component's ``fetch`` does not."""
    base = base_url_path.strip("/")
    return f"/{base}{path}" if base else path


def attention_graph(
    data: GraphData,
    *,
    key: str,
    on_view: Callable[[], None],
    on_selection: Callable[[], None],
    on_mask: Callable[[], None],
    on_unmask: Callable[[], None],
) -> Any:
    """Mount the view. The callbacks run before the next (fragment) run; they read the new values
    from ``st.session_state[key]`` (``view``, ``selection``, ``mask``, ``unmask``)."""
    return _mount(
        key=key,
        data=data,
        on_view_change=on_view,
        on_selection_change=on_selection,
        on_mask_change=on_mask,
        on_unmask_change=on_unmask,
        on_reload_change=lambda: None,  # the browser lost the file: this fragment run serves it
    )
