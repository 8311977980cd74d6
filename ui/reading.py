"""Streamlit glue of the reading aids: the shared text box, the "Words, not pieces" switch and
sentence pairs."""

from __future__ import annotations

import streamlit as st

from explorer.analysis import Analysis
from explorer.model import Loaded
from explorer.pairs import Crossing, PairError, crossing_attention, split_pair
from explorer.state import DEFAULT_TEXT
from explorer.word_level import word_level
from explorer.words import Words
from ui import keys
from ui.cache import cached_in_budget
from ui.keys import cache_key
from ui.lm_head import has_prediction_head

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


SHARED_TEXT_LABEL = "Text (shared across pages)"
SHARED_TEXT_PAGES = ("Explorer, Layers & heads, Contributions, Models and (as its query) "
                     "Corpus search")
DEFAULT_TEXT_WITHOUT_HEAD = "The capital of France is Paris."
"""The first text for a checkpoint without a masked-LM head: a <mask> could not be filled."""


def default_text(loaded: Loaded) -> str:
    """The text a page starts from: with a ``<mask>`` when the model can fill one."""
    return DEFAULT_TEXT if has_prediction_head(loaded) else DEFAULT_TEXT_WITHOUT_HEAD


def shared_text_area(loaded: Loaded, height: int = 100, extra_help: str = "") -> str:
    """The one text the Explorer, Layers & heads and Models pages share (session key
    :data:`ui.keys.TEXT`), labelled as shared so that an edit on one page is expected on the
    others."""
    mask_help = (f"Put {loaded.info.mask_token} (or <mask>) where a word should be predicted. "
                 if has_prediction_head(loaded) else "")
    return st.text_area(
        SHARED_TEXT_LABEL, value=default_text(loaded), key=keys.TEXT, height=height,
        persist_state="session",  # other pages read and set it
        help=f"{mask_help}One text for {SHARED_TEXT_PAGES}: editing it here changes it there. "
             f"{extra_help}".strip())
