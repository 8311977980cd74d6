"""Sidebar: which model to explore (hub id or local folder, or a pick from the allow-list)."""

from __future__ import annotations

import streamlit as st

from explorer.model import (
    ALLOWED_MODELS_ENV_VAR,
    DEFAULT_MODEL,
    MODEL_ENV_VAR,
    allowed_models,
    default_model_name,
    is_allowed,
)
from ui.cache import MODEL_KEY


def model_sidebar() -> str:
    """Draw the model field in the sidebar and return the chosen name.

    When ``$EXPLORER_ALLOWED_MODELS`` is set (public demos) the field is a selectbox of the
    allowed models; a name from elsewhere (say, a tampered URL) falls back to the default.
    """
    allowed = allowed_models()
    if MODEL_KEY not in st.session_state:
        st.session_state[MODEL_KEY] = default_model_name()
    with st.sidebar:
        if allowed is not None:
            current = str(st.session_state[MODEL_KEY])
            if current not in allowed:
                match = next((a for a in allowed if is_allowed(current, (a,))), None)
                st.session_state[MODEL_KEY] = match or default_model_name()
            st.selectbox(
                "Model",
                allowed,
                key=MODEL_KEY,
                help=f"This server loads only these models (${ALLOWED_MODELS_ENV_VAR}).",
            )
        else:
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
