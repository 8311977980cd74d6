"""Fill-mask top-k tables: the data, and how any table holding user text is drawn.

A long text would repeat itself in every row, so the table's sequence column shows a window of
:data:`WINDOW_WORDS` words either side of the filled mask; the full sequences stay one click
away in an expander. Cells are user text: they are drawn with ``st.dataframe`` (plain text,
never markdown: no links, images or emphasis from the text).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd
import streamlit as st

from explorer.analysis import MaskPredictions

WINDOW_WORDS = 12
"""Words shown on each side of the mask when a sequence is longer than 2 × this + 1 words."""
_WORD = re.compile(r"\S+")

_COLUMNS = {
    "rank": st.column_config.NumberColumn("rank", width="small"),
    "score": st.column_config.NumberColumn("score", format="%.4f", width="small"),
    "score (ablated)": st.column_config.NumberColumn("score (ablated)", format="%.4f",
                                                     width="small"),
    "sequence": st.column_config.TextColumn("sequence", width="large"),
}


def _last_words(text: str, count: int) -> tuple[str, bool]:
    words = list(_WORD.finditer(text))
    return (text, False) if len(words) <= count else (text[words[-count].start():], True)


def _first_words(text: str, count: int) -> tuple[str, bool]:
    words = list(_WORD.finditer(text))
    return (text, False) if len(words) <= count else (text[:words[count - 1].end()], True)


def sequence_window(token_texts: Sequence[str], position: int, filled: str,
                    words: int = WINDOW_WORDS) -> str:
    """The text around token ``position`` with ``filled`` in its place: ``words`` words each
    side, ``…`` where the text goes on. ``token_texts`` are the decoded pieces (special tokens
    included at both ends, as in :attr:`~explorer.analysis.Analysis.token_texts`)."""
    left, left_cut = _last_words("".join(token_texts[1:position]), words)
    right, right_cut = _first_words("".join(token_texts[position + 1:-1]), words)
    return ("… " if left_cut else "") + (left + filled + right).strip() + \
        (" …" if right_cut else "")


def predictions_frame(mask: MaskPredictions, top_k: int,
                      token_texts: Sequence[str] | None = None) -> pd.DataFrame:
    """Rank, token, score and sequence for the first ``top_k`` predictions of one mask.

    With ``token_texts`` (the analysis' decoded pieces) a sequence longer than
    ``2 × WINDOW_WORDS + 1`` words is shown as a window around the mask.
    """
    rows = []
    for p in mask.predictions[:top_k]:
        sequence = p.sequence
        if token_texts is not None and len(_WORD.findall(sequence)) > 2 * WINDOW_WORDS + 1:
            sequence = sequence_window(token_texts, mask.position, p.token_str)
        rows.append({"rank": p.rank, "token": p.token_str, "score": round(p.score, 4),
                     "sequence": sequence})
    return pd.DataFrame(rows, columns=["rank", "token", "score", "sequence"])


def text_table(frame: pd.DataFrame, key: str) -> None:
    """Draw a table whose cells hold user or model text, shown as plain text.

    ``st.dataframe`` draws every cell as text on a canvas: ``[Sign in](http://…)`` stays those
    characters, ``![t](http://…)`` fetches nothing, ``2*3*4`` keeps its stars. (``st.table``
    renders GitHub-flavoured markdown in each cell, so it must never get user text.)
    """
    st.dataframe(frame, hide_index=True, key=key, width="stretch",
                 column_config={name: config for name, config in _COLUMNS.items()
                                if name in frame.columns})


def predictions_table(mask: MaskPredictions, top_k: int, token_texts: Sequence[str],
                      key: str) -> None:
    """Draw one mask's table (cells shown as plain text); long sequences as a window, the full
    ones in an expander below."""
    frame = predictions_frame(mask, top_k, token_texts)
    text_table(frame, key=key)
    full = [p.sequence for p in mask.predictions[:top_k]]
    if full != frame["sequence"].tolist():
        with st.expander("Full sequences"):
            for rank, sequence in enumerate(full, start=1):
                st.text(f"{rank}. {sequence}")
