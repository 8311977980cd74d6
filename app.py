"""Entry point: page config, navigation, the model choice. Run with ``streamlit run app.py``."""

from __future__ import annotations

import streamlit as st

from ui.model_choice import model_sidebar

st.set_page_config(page_title="Attention explorer", page_icon="🔍", layout="wide")

PAGES = [
    st.Page("pages/explorer.py", title="Explorer", icon="🔍", default=True),
    st.Page("pages/corpus.py", title="Corpus search", icon="📚"),
]

navigation = st.navigation(PAGES)
model_sidebar()
navigation.run()
