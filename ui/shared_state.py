"""Keep widget values that several pages share when the user switches pages.

Streamlit gives each page's widgets their own identity (the page is part of the widget id) and
drops a widget's value at the end of a run in which that widget was not drawn. Re-assigning the
value as plain session state at the start of every run, before any page draws its widget, keeps
it: the next page's widget with the same key starts from it.
"""

from __future__ import annotations

from collections.abc import Iterable

import streamlit as st

from ui import keys

SHARED_WIDGET_KEYS = (keys.TEXT, keys.TOP_K, keys.SELECTED_TOKEN)


def keep_shared_widget_state() -> None:
    keep_widget_state(SHARED_WIDGET_KEYS)


def keep_widget_state(widget_keys: Iterable[str]) -> None:
    """Keep the values of widgets this run may not draw (a closed tab's controls, another
    page's): re-assigned as plain session state before they would be drawn."""
    for key in widget_keys:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
