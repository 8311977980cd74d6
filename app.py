"""Entry point: page config, navigation, the model choice. Run with ``streamlit run app.py``."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.model_choice import model_sidebar
from ui.shared_state import keep_shared_widget_state
from ui.url_state import restore_app_state

# A local image, not a Material icon: Streamlit makes a Material page icon into a favicon link to
# fonts.gstatic.com, which an offline or sandboxed browser cannot (and should not) reach.
ICON = Path(__file__).resolve().parent / "ui" / "assets" / "icon.png"
st.set_page_config(page_title="Attention explorer", page_icon=str(ICON), layout="wide")

PAGES = [
    st.Page("pages/explorer.py", title="Explorer", icon=":material/manage_search:", default=True),
    st.Page("pages/layers.py", title="Layers & heads", icon=":material/layers:"),
    st.Page("pages/contributions.py", title="Contributions", icon=":material/account_tree:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("pages/models.py", title="Models", icon=":material/difference:"),
    st.Page("pages/corpus.py", title="Corpus search", icon=":material/library_books:"),
    st.Page("pages/head_patterns.py", title="Head patterns", icon=":material/grid_view:"),
    st.Page("pages/guide.py", title="Guide", icon=":material/menu_book:"),
]

keep_shared_widget_state()
restore_app_state()  # a link's model, before the sidebar draws the model field
navigation = st.navigation(PAGES)
model_sidebar()
navigation.run()
