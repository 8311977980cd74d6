"""Guide: how to read each view and what each method computes (docs/guide.md)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.entry import ensure_app_entry

ensure_app_entry()

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "guide.md"

st.markdown(GUIDE.read_text(encoding="utf-8"))  # our own text, not user text
