"""A token heat strip: the input's tokens as text, each on a diverging colour (red: pushes the
prediction up, blue: down), the exact value in each token's tooltip. Escaped HTML (tokens are
user text), drawn with ``st.html``."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import streamlit as st

_POSITIVE = (214, 39, 40)  # red
_NEGATIVE = (31, 119, 180)  # blue


def token_colour(score: float, scale: float) -> str:
    """An ``rgba`` colour: red for positive, blue for negative, opacity ∝ |score| / scale."""
    red, green, blue = _POSITIVE if score >= 0 else _NEGATIVE
    opacity = 0.0 if scale <= 0 else min(1.0, abs(score) / scale)
    return f"rgba({red}, {green}, {blue}, {opacity:.3f})"


def heat_strip_html(tokens: Sequence[str], scores: Sequence[float], caption: str = "",
                    value_name: str = "attribution") -> str:
    """The strip as HTML: one ``<span>`` per token (escaped), its value in ``title``; the colour
    scale runs from −max|score| to +max|score| (0 is white)."""
    values = np.asarray(scores, dtype=np.float64)
    scale = float(np.max(np.abs(values))) if values.size else 0.0
    spans = []
    for index, (token, score) in enumerate(zip(tokens, values)):
        shown = html.escape(token if token.strip() else "␣")
        title = html.escape(f"#{index} {token!r}: {value_name} {score:+.4g}")
        spans.append(
            f'<span class="heat-token" title="{title}" data-score="{score:.6g}" '
            f'style="background:{token_colour(float(score), scale)};padding:2px 4px;'
            f'margin:1px;border-radius:3px;display:inline-block;'
            f'border:1px solid rgba(0,0,0,0.12);font-family:monospace">{shown}</span>')
    legend = (f'<div style="font-size:0.8em;opacity:0.75;margin-top:4px">'
              f'blue = pushes down · white = 0 · red = pushes up; scale ±{scale:.3g}'
              f'{" · " + html.escape(caption) if caption else ""}</div>')
    return f'<div class="heat-strip" style="line-height:2.1">{"".join(spans)}</div>{legend}'


def token_heat_strip(tokens: Sequence[str], scores: Sequence[float], caption: str = "",
                     value_name: str = "attribution") -> None:
    """Draw :func:`heat_strip_html`."""
    st.html(heat_strip_html(tokens, scores, caption, value_name))
