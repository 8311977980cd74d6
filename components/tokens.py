"""The input's tokens as a row of chips (HTML, every token escaped)."""

from __future__ import annotations

import html
from collections.abc import Sequence

import streamlit as st

_STYLE = (
    "display:inline-block;margin:2px;padding:1px 6px;border-radius:4px;"
    "font-family:monospace;font-size:0.9em;"
)
_COLOURS = {"special": "#e0e0e0", "mask": "#ffd180", "plain": "#e3f2fd"}


def token_chips_html(
    labels: Sequence[str], special: Sequence[bool], masks: Sequence[int]
) -> str:
    """HTML for the token chips; each label is escaped, its index is in the tooltip."""
    mask_set = set(masks)
    chips = []
    for index, (label, is_special) in enumerate(zip(labels, special)):
        kind = "mask" if index in mask_set else "special" if is_special else "plain"
        chips.append(
            f'<span class="token-chip" title="token {index}" '
            f'style="{_STYLE}background:{_COLOURS[kind]};color:#111">{html.escape(label)}</span>'
        )
    return '<div class="token-chips">' + "".join(chips) + "</div>"


def token_chips(labels: Sequence[str], special: Sequence[bool], masks: Sequence[int]) -> None:
    st.html(token_chips_html(labels, special, masks))
