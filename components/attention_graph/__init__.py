"""The exBERT-style attention graph as a Streamlit custom component (``st.components.v2``).

Draws the payload of :func:`explorer.graph.graph_payload`: hover a token for its outgoing (left
column) or incoming (right column) attention, click to freeze it (sent back as the
``selection`` state), double-click to mask or unmask it (``mask`` / ``unmask`` triggers), click
a head box to add or drop that head (``heads`` state). HTML, CSS and JS live next to this file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

_HERE = Path(__file__).resolve().parent
COMPONENT_NAME = "attention_explorer.attention_graph"

_mount = st.components.v2.component(
    COMPONENT_NAME,
    html=(_HERE / "graph.html").read_text(encoding="utf-8"),
    css=(_HERE / "graph.css").read_text(encoding="utf-8"),
    js=(_HERE / "graph.js").read_text(encoding="utf-8"),
)


def attention_graph(
    payload: dict[str, Any],
    *,
    key: str,
    on_selection: Callable[[], None],
    on_heads: Callable[[], None],
    on_mask: Callable[[], None],
    on_unmask: Callable[[], None],
) -> Any:
    """Mount the graph. The callbacks run before the next script run; they read the new values
    from ``st.session_state[key]`` (``selection``, ``heads``, ``mask``, ``unmask``)."""
    return _mount(
        key=key,
        data=payload,
        on_selection_change=on_selection,
        on_heads_change=on_heads,
        on_mask_change=on_mask,
        on_unmask_change=on_unmask,
    )
