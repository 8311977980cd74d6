"""Open one head of one layer in the Explorer's attention view, on the current (shared) text —
from a click on a head grid of another page."""

from __future__ import annotations

import streamlit as st

from ui import keys


def open_head_in_explorer(layer: int, head: int) -> None:
    """Show ``head`` of ``layer`` (0-based) alone in the graph and in its heatmap, then go to the
    Explorer (its next full run hands the view to the graph)."""
    st.session_state[keys.LAYER] = int(layer)
    st.session_state[keys.HEADS] = [int(head)]
    st.session_state[keys.HEAD] = int(head)
    st.switch_page("pages/explorer.py")


def open_clicked_head(clicked: tuple[int, int] | None, handled_key: str) -> None:
    """Open ``clicked`` once: a chart keeps its selection across reruns, so the same click is
    remembered under ``handled_key`` and not followed again."""
    if clicked and clicked != st.session_state.get(handled_key):
        st.session_state[handled_key] = clicked
        open_head_in_explorer(*clicked)
    if not clicked:
        st.session_state.pop(handled_key, None)
