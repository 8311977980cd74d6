"""Contributions: which tokens, layers and heads built a token's representation (ALTI/DecompX),
and what each head and feed-forward block writes there."""

from __future__ import annotations

import streamlit as st

from ui import keys
from ui.analysis_view import analysis_with_notes
from ui.contributions_view import (
    contribution_section,
    count_page_run,
    supported,
    writes_section,
)
from ui.entry import ensure_app_entry
from ui.lm_head import has_prediction_head, no_head_note
from ui.reading import shared_text_area
from ui.url_state import page_model

ensure_app_entry()
count_page_run()

st.title("Contributions")
st.caption("Which input tokens built a token's representation, layer by layer, through "
           "attention, the residual stream, the LayerNorms and the feed-forward blocks; which "
           "heads carried each step; what each head writes. The Guide explains the methods.")

loaded = page_model("contributions", (keys.TEXT,))
text = shared_text_area(loaded)
analysis = analysis_with_notes(loaded, text)
if analysis is None or not supported(loaded):
    st.stop()

st.subheader("Contribution graph")
contribution_section(loaded, analysis)

st.subheader("What each head writes")
if has_prediction_head(loaded):
    writes_section(loaded, analysis)
else:
    no_head_note()
