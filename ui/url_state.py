"""Keep a page's widgets and the browser URL in step, so every view is a shareable link.

Each page calls :func:`sync_url_state` near its top, after loading the model and before drawing
its widgets. When the page is entered (first run of a session, or coming from another page) the
query parameters are validated by :mod:`explorer.state` and put into ``st.session_state`` under
the widget keys of ``ui/keys.py``; unusable ones fall back to defaults with a visible warning.
On every run the current widget values are written back to ``st.query_params``.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from components.share_link import share_link_button
from explorer.model import Loaded
from explorer.state import (
    Limits,
    ViewState,
    from_session,
    read_query,
    session_values,
    to_query,
    token_past_the_end,
)
from ui import keys
from ui.cache import MAX_TOP_K, current_model
from ui.markdown import escape_markdown

ENTERED_PAGE = "_url_state_page"  # session key: the page whose URL state was read last
_SYNC = "_url_state_sync"  # session key: this run's page, limits and fields

EXPLORER_FIELDS = (keys.TEXT, keys.TOP_K, keys.LAYER, keys.HEAD, keys.HEADS,
                   keys.SELECTED_TOKEN, keys.THRESHOLD)
LAYERS_FIELDS = (keys.TEXT, keys.SELECTED_TOKEN, keys.TEXT_PAIR, keys.WORDS, keys.LAYERS_TAB,
                 keys.STATISTIC, keys.ABLATED)
CORPUS_FIELDS = (keys.TEXT, keys.SELECTED_TOKEN)
COMPARE_FIELDS = (keys.TEXT_A, keys.TEXT_B, keys.TOP_K, keys.LAYER, keys.HEAD,
                  keys.SELECTED_TOKEN, keys.WORDS)

def limits_for(loaded: Loaded) -> Limits:
    info = loaded.info
    return Limits(num_layers=info.num_layers, num_heads=info.num_heads,
                  max_tokens=info.max_tokens, max_top_k=MAX_TOP_K)


def _present(fields: Sequence[str]) -> dict[str, object]:
    return {key: st.session_state[key] for key in fields if key in st.session_state}


def page_model(page: str, fields: Sequence[str]) -> Loaded:
    """The page preamble: the chosen model (the run stops, after its error, when it is missing),
    a line about it in the sidebar, and the page's URL state restored and mirrored."""
    loaded = current_model()
    if loaded is None:
        st.stop()
    info = loaded.info
    st.sidebar.caption(
        f"{info.model_type}: {info.num_layers} layers × {info.num_heads} heads, hidden "
        f"{info.hidden_size}, {info.num_parameters:,} parameters, at most "
        f"{info.max_tokens} tokens ({info.source})."
    )
    sync_url_state(page, loaded, fields)
    return loaded


def sync_url_state(page: str, loaded: Loaded, fields: Sequence[str],
                   show_link: bool = True) -> ViewState:
    """Restore ``fields`` from the URL on entering ``page``; mirror them into the URL always.

    ``fields`` are the state keys the page's widgets use (e.g. :data:`EXPLORER_FIELDS`). Only
    keys present (and valid) in the link are written to ``st.session_state``, so the page's own
    widget defaults apply to the rest; keys a page does not draw simply stay at their defaults.
    Returns the current view state. A page that corrects a value later in its run calls
    :func:`publish_url_state` afterwards.
    """
    limits = limits_for(loaded)
    if st.session_state.get(ENTERED_PAGE) != page:
        st.session_state[ENTERED_PAGE] = page
        params = {key: st.query_params.get_all(key) for key in st.query_params if key in fields}
        restored, rejected, corrected = read_query(params, limits, page)
        values = session_values(restored)
        for key in params:  # only what the link sets: the page's widget defaults stay in force
            if key not in rejected:  # corrected values are the ones the page will show
                st.session_state[key] = values[key]
        for note in (*rejected.values(), *corrected.values()):
            st.warning(escape_markdown(note), icon=":material/link:")
    st.session_state[_SYNC] = (page, limits, tuple(fields))
    if show_link:
        with st.sidebar:
            share_link_button()
    return publish_url_state()


def publish_url_state() -> ViewState:
    """Write the current widget values to ``st.query_params`` (the sidebar's link button reads
    the live URL, so it never has to be re-drawn: a fragment must not write into the sidebar
    outside it, or Streamlit's front end can fail when a full run follows).

    :func:`sync_url_state` calls it; call it again after changing a state key in the run.
    """
    page, limits, fields = st.session_state[_SYNC]
    state, _ = from_session(_present(fields), limits, page)
    wanted = {key: value for key, value in to_query(state).items() if key in fields}
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)
    return state


def settle_token(num_tokens: int, fallback: int | None = None, what: str = "the text") -> None:
    """The hook a page calls once it knows how many tokens its text has: a selected token past
    the end (from a link, or kept from a longer text) becomes ``fallback`` with a note, and the
    URL is rewritten to match. Call it before the widget that shows the token is drawn."""
    token = st.session_state.get(keys.SELECTED_TOKEN)
    note = token_past_the_end(token, num_tokens, what)
    if note is None:
        return
    st.session_state[keys.SELECTED_TOKEN] = fallback
    st.warning(escape_markdown(note), icon=":material/link:")
    publish_url_state()
