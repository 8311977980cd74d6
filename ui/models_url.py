"""The Models page's controls ⇄ the browser URL (validated by :mod:`explorer.models_state`).

Like :func:`ui.url_state.sync_url_state` for the one-model pages: the link is read when the page
is entered, and the current values are written back on every run.
"""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

from explorer.models_state import MODELS_QUERY_KEYS, models_query, read_models_query
from ui.cache import MAX_TOP_K
from ui.markdown import escape_markdown
from ui.url_state import ENTERED_PAGE, share_link

PAGE = "models"


def restore_models_state() -> None:
    """On entering the page, put the link's valid values into ``st.session_state`` (widget
    keys = parameter names); a note for each value ignored."""
    if st.session_state.get(ENTERED_PAGE) == PAGE:
        return
    st.session_state[ENTERED_PAGE] = PAGE
    params = {key: st.query_params.get_all(key) for key in st.query_params
              if key in MODELS_QUERY_KEYS}
    values, notes = read_models_query(params, MAX_TOP_K)
    for key, value in values.items():
        st.session_state[key] = value
    for note in notes:
        st.warning(escape_markdown(note), icon=":material/link:")


def publish_models_state(defaults: Mapping[str, object], show_link: bool = True) -> None:
    """Write the page's current values (those not at their ``defaults``) to the URL (the
    sidebar's button copies the address; ``show_link`` is kept for the callers)."""
    values = {key: st.session_state.get(key) for key in MODELS_QUERY_KEYS}
    wanted = models_query(values, defaults)
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)


def link_slot() -> None:
    """The sidebar's "Copy link" button (call once per run, early; it copies the page's
    address, so later changes need no redraw)."""
    with st.sidebar:
        share_link()
