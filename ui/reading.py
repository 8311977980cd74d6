"""Streamlit glue of the reading aids: the "Words, not pieces" switch and sentence pairs."""

from __future__ import annotations

import streamlit as st

from explorer.analysis import Analysis
from explorer.model import Loaded
from explorer.pairs import Crossing, PairError, crossing_attention, split_pair
from explorer.word_level import word_level
from explorer.words import Words
from ui import keys
from ui.cache import cached_in_budget
from ui.keys import cache_key

WORDS_HELP = ("Merge sub-word pieces into words (Clark et al. 2019, “What Does BERT Look "
              "At?”): attention **to** a word is the sum of the attention to its pieces, "
              "attention **from** a word is the mean of its pieces' rows, so every row still "
              "sums to 1. Heatmaps, rollout, flow, head grids and the token pickers then show "
              "words; predictions and the logit lens stay per piece.")


def words_toggle() -> bool:
    """The page's "Words, not pieces" switch (session key :data:`ui.keys.WORDS`)."""
    return bool(st.toggle("Words, not pieces", key=keys.WORDS, help=WORDS_HELP))


def cached_words(loaded: Loaded, analysis: Analysis) -> tuple[Analysis, Words]:
    """The word-level copy of ``analysis`` (:func:`explorer.word_level.word_level`) and its
    grouping, kept in the one budgeted cache."""
    return cached_in_budget(
        cache_key("words", loaded, analysis),
        lambda: word_level(loaded.tokenizer, analysis))


def shown_analysis(loaded: Loaded, analysis: Analysis, words: bool) -> Analysis:
    """What the views draw: words when the switch is on, else the analysis itself."""
    return cached_words(loaded, analysis)[0] if words else analysis


def piece_of_word(loaded: Loaded, analysis: Analysis, word: int) -> int:
    """The first token (piece) of ``word`` in the token-level ``analysis``."""
    pieces = cached_words(loaded, analysis)[1].pieces(int(word))
    return int(pieces[0]) if len(pieces) else 0


def pair_texts(loaded: Loaded, text: str, second: str | None) -> tuple[str, str | None]:
    """``(text_a, text_b)``: the second field when filled, else a separator typed in the
    first (``A </s></s> B`` or ``A [SEP] B``); ``text_b`` None for a single text. A badly typed
    pair gets a warning and is read as one text."""
    if second is not None and second.strip():
        return text, second
    try:
        return split_pair(text, loaded.tokenizer)
    except PairError as error:
        st.warning(f"{error} Reading the text as one sentence.", icon=":material/edit_note:")
        return text, None


def cached_crossing(loaded: Loaded, analysis: Analysis) -> Crossing:
    """Per-head attention crossing between the pair's texts (A→B, B→A …)."""
    return cached_in_budget(
        cache_key("crossing", loaded, analysis),
        lambda: crossing_attention(analysis.attentions, analysis.segment))


def segment_suffix(analysis: Analysis, index: int) -> str:
    """`` (A)`` / `` (B)`` after a token of a pair in pickers; "" otherwise."""
    if analysis.segment is None:
        return ""
    return {0: " (A)", 1: " (B)"}.get(int(analysis.segment[index]), "")
