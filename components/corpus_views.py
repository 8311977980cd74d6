"""Corpus-search views: a match's context with the token highlighted, a histogram of matches."""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence

import plotly.graph_objects as go

from components.margins import wrap_title

_CONTEXT_STYLE = "font-family:monospace;font-size:0.95em;line-height:1.6;"
_MARK_STYLE = "background:#ffd180;color:#111;padding:0 3px;border-radius:3px;font-weight:600;"


def context_html(
    before: Sequence[str], token: str, after: Sequence[str], cut_before: bool, cut_after: bool
) -> str:
    """One match in its sentence, the matched token in a ``<mark>``; all text escaped.

    ``before``, ``token`` and ``after`` are token pieces (`` bank``, WordPiece ``che`` ``que``):
    joined, they give back the sentence with its own spacing.
    """
    left = ("… " if cut_before else "") + html.escape("".join(before))
    right = html.escape("".join(after)) + (" …" if cut_after else "")
    word = token.lstrip(" ") or token  # a token that is only a space is marked as it is
    space = token[: len(token) - len(word)]
    mark = f'<mark style="{_MARK_STYLE}">{html.escape(word)}</mark>'
    return (f'<div class="corpus-match" style="{_CONTEXT_STYLE}">'
            f"{left}{space}{mark}{right}</div>")


def matched_tokens_histogram(tokens: Sequence[str], title: str) -> go.Figure:
    """Bar chart of how often each token text occurs among the matches, most frequent first."""
    counts = Counter(tokens).most_common()
    # Plotly reads a few HTML tags in labels and decodes entities: escaped tokens show as typed.
    names = [html.escape(token) for token, _ in counts]
    figure = go.Figure(go.Bar(
        x=list(range(len(counts))),
        y=[count for _, count in counts],
        customdata=names,
        hovertemplate="%{customdata}: %{y} match(es)<extra></extra>",
        marker_color="#1f77b4",
    ))
    figure.update_layout(
        title={"text": title},
        xaxis={"tickmode": "array", "tickvals": list(range(len(counts))),
               "ticktext": names, "tickangle": -45,
               "title": {"text": "matched token"}},
        yaxis={"title": {"text": "matches"}, "dtick": 1},
        height=320,
        margin={"l": 40, "r": 20, "t": 50, "b": 40},
    )
    return wrap_title(figure)
