"""A word-level copy of an analysis, for the views' "Words, not pieces" switch (no Streamlit).

:func:`word_level` merges the sub-word pieces of an :class:`~explorer.analysis.Analysis` into
words with :mod:`explorer.words` (Clark et al. 2019: attention *to* a word is the sum over its
pieces, attention *from* a word the mean over its pieces, so every row still sums to 1) and
returns an :class:`~explorer.analysis.Analysis` whose "tokens" are words: every view that draws
from an analysis (heatmaps, rollout, flow, head summaries, token pickers) then draws words.

- ``attentions[layer, head, word, word]``: merged as above;
- ``hidden_states[layer + 1, word, dim]``: mean of the pieces' states;
- ``token_ids[word]``: the word's first piece (a special token stays itself, so ``<s>`` and
  ``[SEP]`` are still found by id); ``tokens`` / ``token_texts``: the word's text;
- ``mask_positions`` and the predictions' positions: the word holding each mask;
- ``segment[word]`` of a sentence pair: its first piece's segment.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from explorer.analysis import Analysis
from explorer.words import Words, merge_attention, merge_scores, words_for


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def words_of(tokenizer: Any, analysis: Analysis) -> Words:
    """How the analysis's tokens group into words (the tokenizer's word ids when the text
    re-encodes to the same ids, else the pieces' spelling)."""
    return words_for(tokenizer, analysis.token_ids, analysis.special_mask, text=analysis.text,
                     text_pair=analysis.text_pair)


def word_level(tokenizer: Any, analysis: Analysis) -> tuple[Analysis, Words]:
    """The analysis with pieces merged into words, and the grouping used."""
    words = words_of(tokenizer, analysis)
    first_piece = np.array([words.pieces(w)[0] for w in range(words.num_words)], dtype=np.int64)
    word_of_token = words.word_of_token
    attentions = merge_attention(analysis.attentions, words).astype(analysis.attentions.dtype)
    # hidden_states[layer + 1, word, dim]: mean over pieces (merge_scores merges the last axis)
    hidden = np.swapaxes(merge_scores(np.swapaxes(analysis.hidden_states, -1, -2), words,
                                      "mean"), -1, -2).astype(np.float32)
    special = np.array([bool(analysis.special_mask[words.pieces(w)].all())
                        for w in range(words.num_words)], dtype=bool)
    predictions = tuple(dataclasses.replace(mask, position=int(word_of_token[mask.position]))
                        for mask in analysis.predictions)
    segment = None if analysis.segment is None else _readonly(
        np.asarray(analysis.segment)[first_piece].copy())
    merged = dataclasses.replace(
        analysis,
        token_ids=_readonly(np.asarray(analysis.token_ids)[first_piece].copy()),
        tokens=words.labels,
        token_texts=words.labels,
        special_mask=_readonly(special),
        mask_positions=tuple(int(word_of_token[p]) for p in analysis.mask_positions),
        attentions=_readonly(np.ascontiguousarray(attentions)),
        hidden_states=_readonly(np.ascontiguousarray(hidden)),
        predictions=predictions,
        segment=segment,
        token_type_ids=None if analysis.token_type_ids is None else _readonly(
            np.asarray(analysis.token_type_ids)[first_piece].copy()),
    )
    return merged, words
