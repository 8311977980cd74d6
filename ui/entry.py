"""Make every page run through app.py, even when Streamlit starts a page file directly.

Streamlit still has its old multipage mode for apps with a ``pages/`` folder: until some run
calls ``st.navigation``, a request for ``/layers`` executes ``pages/layers.py`` alone — no model
field, no shared state, a sidebar listing file names. That happens on a fresh server whose first
request is a page's URL (a shared link), and in AppTest after ``switch_page``. The guard runs
``app.py`` in place instead (its ``st.navigation`` switches the old mode off and runs this same
page inside it, in the same run, so widget events such as button clicks are kept), then stops.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

APP_PATH = Path(__file__).resolve().parent.parent / "app.py"


def ensure_app_entry() -> None:
    """Call first in every page file: if Streamlit skipped app.py, run the page through it."""
    if PagesManager.uses_pages_directory:
        runpy.run_path(str(APP_PATH), run_name="__main__")
        st.stop()
