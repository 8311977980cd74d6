"""Fill-mask top-k tables: the data, and how any table holding user text is drawn.

A long text would repeat itself in every row, so the table's sequence column shows a window of
:data:`WINDOW_WORDS` words either side of the filled mask; the full sequences stay one click
away in an expander. Cells are user text: they are drawn as an HTML table whose every cell is
escaped (plain text, never markdown: no links, images, emphasis or tags from the text). A plain
table shows its rows in the first frame after the page run reaches it; ``st.dataframe``'s grid
needed about 250 ms more in the browser (the Explorer's new text → first table, docs/benchmarks.md).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

import pandas as pd
import streamlit as st

from explorer.analysis import MaskPredictions
from explorer.prediction_text import FilledText, shown_token_text

WINDOW_WORDS = 12
"""Words shown on each side of the mask when a sequence is longer than 2 × this + 1 words."""
_WORD = re.compile(r"\S+")

NUMBER_FORMATS = {"rank": "{:d}", "score": "{:.4f}", "score (ablated)": "{:.4f}"}
"""How the number columns are shown; any other column is text."""
NARROW_TEXT = {"token"}
"""Text columns kept as narrow as their longest cell (the sequence column takes the rest)."""

TABLE_CLASS = "text-table"
_TABLE_STYLE = (
    "<style>"
    f"table.{TABLE_CLASS}{{width:100%;border-collapse:collapse;font-size:0.875rem;"
    "margin:0 0 0.5rem 0}"
    f"table.{TABLE_CLASS} th{{text-align:left;font-weight:600;opacity:0.7;"
    "border-bottom:1px solid rgba(128,128,128,0.35);padding:0.2rem 0.5rem}"
    f"table.{TABLE_CLASS} td{{white-space:pre-wrap;overflow-wrap:anywhere;"
    "border-bottom:1px solid rgba(128,128,128,0.15);padding:0.2rem 0.5rem;vertical-align:top}"
    f"table.{TABLE_CLASS} td.num{{text-align:right;font-variant-numeric:tabular-nums;"
    "white-space:nowrap;width:1%}"
    f"table.{TABLE_CLASS} td.narrow{{white-space:pre;width:1%}}"
    f"table.{TABLE_CLASS} mark{{background:rgba(255,189,69,0.45);color:inherit;"
    "border-radius:3px;padding:0 1px;font-weight:600}"
    "</style>"
)


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


def window(filled: FilledText, words: int = WINDOW_WORDS) -> FilledText:
    """``filled`` cut to ``words`` words each side of the filled token, ``…`` where the text goes
    on (a sentence with no marked token is kept whole)."""
    if not filled.marked:
        return filled
    before, before_cut = _last_words(filled.before, words)
    after, after_cut = _first_words(filled.after, words)
    return FilledText(("… " if before_cut else "") + before.lstrip(), filled.filled,
                      after.rstrip() + (" …" if after_cut else ""))


def predictions_frame(mask: MaskPredictions, top_k: int,
                      token_texts: Sequence[str] | None = None,
                      parts: Sequence[tuple[str, FilledText]] | None = None) -> pd.DataFrame:
    """Rank, token, score and sequence for the first ``top_k`` predictions of one mask.

    With ``parts`` (:func:`ui.prediction_view.cached_prediction_parts`) each sequence is the
    sentence without special tokens, the filled token marked, other masks blank, and a token
    that cannot be decoded alone is shown as ``[id N]``; a sentence longer than ``2 ×
    WINDOW_WORDS + 1`` words is a window around the mask. Without it: the pipeline's sequence
    (windowed with ``token_texts``).
    """
    rows = []
    for number, p in enumerate(mask.predictions[:top_k]):
        token = shown_token_text(p.token_str, p.token_id)
        sequence: object = p.sequence
        if parts is not None:
            token, filled = parts[number]
            sequence = window(filled)
        elif token_texts is not None and len(_WORD.findall(p.sequence)) > 2 * WINDOW_WORDS + 1:
            sequence = sequence_window(token_texts, mask.position, p.token_str)
        rows.append({"rank": p.rank, "token": token, "score": round(p.score, 4),
                     "sequence": sequence})
    return pd.DataFrame(rows, columns=["rank", "token", "score", "sequence"])


def table_html(frame: pd.DataFrame, key: str) -> str:
    """``frame`` as an HTML table in which every header and cell is escaped text."""
    def cell(column: str, value: object) -> str:
        if column in NUMBER_FORMATS and value is not None and not pd.isna(value):
            return f"<td class='num'>{html.escape(NUMBER_FORMATS[column].format(value))}</td>"
        if isinstance(value, FilledText):  # the filled token marked in its sentence
            if not value.marked:
                return f"<td>{html.escape(str(value))}</td>"
            return (f"<td>{html.escape(value.before)}<mark>{html.escape(value.filled)}</mark>"
                    f"{html.escape(value.after)}</td>")
        shown = html.escape("" if value is None else str(value))
        return f"<td class='narrow'>{shown}</td>" if column in NARROW_TEXT else f"<td>{shown}</td>"

    columns = [str(name) for name in frame.columns]
    head = "".join(f"<th scope='col'>{html.escape(name)}</th>" for name in columns)
    body = "".join(
        "<tr>" + "".join(cell(name, value) for name, value in zip(columns, row)) + "</tr>"
        for row in frame.itertuples(index=False, name=None))
    return (f"{_TABLE_STYLE}<table class='{TABLE_CLASS}' data-table='{html.escape(key)}'>"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def text_table(frame: pd.DataFrame, key: str) -> None:
    """Draw a table whose cells hold user or model text, shown as plain text.

    Every cell is escaped (:func:`table_html`): ``[Sign in](http://…)`` stays those characters,
    ``![t](http://…)`` fetches nothing, ``<b>`` is three characters, ``2*3*4`` keeps its stars.
    (``st.table`` renders GitHub-flavoured markdown in each cell, so it must never get user
    text.) ``key`` names the table in the page (``data-table``).
    """
    st.html(table_html(frame, key))


def predictions_table(mask: MaskPredictions, top_k: int, token_texts: Sequence[str],
                      key: str, parts: Sequence[tuple[str, FilledText]] | None = None) -> None:
    """Draw one mask's table (cells shown as plain text); long sequences as a window, the full
    ones in an expander below."""
    frame = predictions_frame(mask, top_k, token_texts, parts)
    text_table(frame, key=key)
    full = [p.sequence for p in mask.predictions[:top_k]]
    shown = [str(sequence) for sequence in frame["sequence"]]
    if parts is not None:
        full = [str(filled) for _, filled in parts[:top_k]]
    if full != shown:
        with st.expander("Full sequences"):
            for rank, sequence in enumerate(full, start=1):
                st.text(f"{rank}. {sequence}")
