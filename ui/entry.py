"""Make every page run through app.py, even when a fresh server's first request is /<page>.

Streamlit still has its old multipage mode for apps with a ``pages/`` folder: until some run
calls ``st.navigation``, a request for ``/layers`` executes ``pages/layers.py`` alone — no model
field, no shared state, a sidebar listing file names. ``app.py`` calls ``st.navigation``, so
switching the old mode off and re-running sends the same page through ``app.py``.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def ensure_app_entry() -> None:
    """Call first in every page file: re-run through app.py if Streamlit skipped it."""
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
