"""A small "Link to this view" button for the sidebar. It reads the page's live URL in the
browser when opened, so it is drawn once per page run and never has to be re-sent when the view
changes (the graph's controls, answered in the browser, keep the URL current through
``st.query_params``). Writing the link again from inside a fragment, into the sidebar outside it,
made Streamlit's front end fail ("Cannot set a node at a delta path") when a full run followed.

Contract with the JS (``data``): none. Nothing is sent back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

_HERE = Path(__file__).parent

_mount = st.components.v2.component(
    "explorer_share_link",
    html=(_HERE / "share.html").read_text(encoding="utf-8"),
    css=(_HERE / "share.css").read_text(encoding="utf-8"),
    js=(_HERE / "share.js").read_text(encoding="utf-8"),
)


def share_link_button(*, key: str = "share_link") -> Any:
    """Mount the button (in the current container, e.g. the sidebar)."""
    return _mount(key=key, data={})
