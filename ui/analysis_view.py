"""Analyse a page's text and tell the user what happened to it (one helper for every page)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from explorer.analysis import Analysis, InputError, truncation_message
from explorer.model import Loaded
from ui.cache import cached_analysis


def analysis_with_notes(loaded: Loaded, text: str, container: Any = st,
                        name: str = "", text_pair: str | None = None) -> Analysis | None:
    """The cached analysis of ``text``, with its notes and truncation shown in ``container``.

    Bad text gets a warning and None. ``name`` ("A", "B") prefixes messages when a page has
    several inputs. ``text_pair``: analyse the sentence pair ``(text, text_pair)``.
    """
    prefix = f"Input {name}: " if name else ""
    try:
        analysis = cached_analysis(loaded, text, text_pair)
    except InputError as error:
        container.warning(f"{prefix}{error}", icon=":material/edit_note:")
        return None
    for note in analysis.notes:
        container.info(f"{prefix}{note}")
    if analysis.truncated:
        subject = f"Input {name}" if name else "The text"
        note = truncation_message(analysis, loaded.info.max_tokens, subject,
                                  loaded.info.model_max_tokens)
        container.warning(note, icon=":material/content_cut:")
    return analysis
