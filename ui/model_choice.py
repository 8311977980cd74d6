"""Sidebar: which model to explore (hub id or local folder)."""

from __future__ import annotations

import streamlit as st

from explorer.model import DEFAULT_MODEL, MODEL_ENV_VAR, default_model_name
from ui.cache import MODEL_KEY


def model_sidebar() -> str:
    """Draw the model field in the sidebar and return the chosen name."""
    if MODEL_KEY not in st.session_state:
        st.session_state[MODEL_KEY] = default_model_name()
    with st.sidebar:
        st.text_input(
            "Model (hub id or local folder)",
            key=MODEL_KEY,
            help=(
                f"Default: {DEFAULT_MODEL}, or the value of ${MODEL_ENV_VAR}. A local folder "
                "must hold a save_pretrained() masked LM with safetensors weights. Set "
                "HF_HUB_OFFLINE=1 to use only the local cache."
            ),
        )
    return str(st.session_state[MODEL_KEY])
