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

from components.copy_link import copy_link_button
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

GRAPH_VIEW_FIELDS = (keys.LAYER, keys.HEAD, keys.HEADS, keys.SELECTED_TOKEN, keys.THRESHOLD,
                     keys.COMBINE, keys.HIDE_SPECIAL, keys.GRAPH_WEIGHTING, keys.GRAPH_WORDS)
"""What the attention view's controls hold (ui/graph_state.py copies its events into these
session keys). A new control: its session key here, and its parameter in explorer/state.py."""
EXPLORER_FIELDS = (keys.TEXT, keys.TOP_K, *GRAPH_VIEW_FIELDS, keys.BERTVIZ_VIEW)
LAYERS_FIELDS = (keys.TEXT, keys.SELECTED_TOKEN, keys.TEXT_PAIR, keys.WORDS, keys.LAYERS_TAB,
                 keys.STATISTIC, keys.ABLATED)
CORPUS_FIELDS = (keys.CORPUS_QUERY, keys.CORPUS_TOKEN, keys.CORPUS_LAYER, keys.CORPUS_MODE,
                 keys.CORPUS_HEADS)
COMPARE_FIELDS = (keys.TEXT_A, keys.TEXT_B, keys.TOP_K, keys.LAYER, keys.HEAD,
                  keys.SELECTED_TOKEN, keys.WORDS)
APP_FIELDS = (keys.MODEL,)
"""Fields of the whole app (the sidebar's model): every page's link carries them; they are
restored once per session, before the sidebar is drawn (:func:`restore_app_state`)."""
_APP_STATE_READ = "_url_app_state_read"  # session key: the link's model was read
_ANY_MODEL = Limits(num_layers=1, num_heads=1, max_tokens=1)  # the model needs no limits


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
        if keys.CORPUS_QUERY in params and keys.CORPUS_QUERY not in rejected:
            # the link's query, not the Explorer's text, is what the Corpus page searches
            st.session_state[keys.CORPUS_QUERY_FROM] = str(st.session_state.get(keys.TEXT) or "")
        for note in (*rejected.values(), *corrected.values()):
            st.warning(escape_markdown(note), icon=":material/link:")
    st.session_state[_SYNC] = (page, limits, tuple(fields))
    state = publish_url_state()
    if show_link:
        with st.sidebar:
            share_link()
    return state


def publish_url_state() -> ViewState:
    """Write the current widget values to ``st.query_params`` (the sidebar's button copies the
    address, so it never needs redrawing: this works from a fragment too).

    :func:`sync_url_state` calls it; call it again after changing a state key in the run.
    """
    page, limits, fields = st.session_state[_SYNC]
    linked = (*APP_FIELDS, *fields)
    state, _ = from_session(_present(linked), limits, page)
    wanted = {key: value for key, value in to_query(state).items() if key in linked}
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)
    return state


def restore_app_state() -> None:
    """Once per session, before the sidebar's model field is drawn: the link's model, when this
    server may load it (explorer.model's allow-list and public-mode rules); otherwise a note
    (the name shown as text) and the default model."""
    if st.session_state.get(_APP_STATE_READ):
        return
    st.session_state[_APP_STATE_READ] = True
    params = {key: st.query_params.get_all(key) for key in APP_FIELDS if key in st.query_params}
    if not params:
        return
    state, rejected, _ = read_query(params, _ANY_MODEL)
    for note in rejected.values():
        st.warning(escape_markdown(note), icon=":material/link:")
    if keys.MODEL not in rejected:
        st.session_state[keys.MODEL] = session_values(state)[keys.MODEL]


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


def share_link() -> None:
    """The short "Copy link to this view" button: it copies the page's address, which holds the
    whole view (the link itself can be 1 000+ characters long, so it is not shown)."""
    copy_link_button()
