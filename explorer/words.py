"""Merge sub-word pieces into words for word-level views (no Streamlit here).

As in Clark, Khandelwal, Levy & Manning (2019, "What Does BERT Look At?", §2): attention **to**
a word is the *sum* of the attention to its pieces, attention **from** a word is the *mean* of
its pieces' attention rows — so every merged row still sums to 1.

Which pieces form a word comes from the tokenizer itself where possible (a fast tokenizer's
``word_ids()`` of the re-encoded text, with ``sequence_ids()`` keeping the two halves of a
sentence pair apart): its pre-tokenizer also makes punctuation a word of its own ("Paris," →
"Paris" + ","), for byte-level BPE and WordPiece alike. When the text is not at hand or does not
re-encode to the same ids, the pieces' spelling decides: a byte-level BPE piece starting with
``Ġ`` (a space) or a SentencePiece piece starting with ``▁`` starts a word; a WordPiece piece
starting with ``##`` continues one. Special tokens (``<s>``, ``</s>``, ``[CLS]``, ``<mask>``…)
are always a word of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Words:
    """Which word each token belongs to.

    ``word_of_token[token]`` (words numbered in text order), ``labels[word]`` (the word's text),
    ``special[word]`` (a special token standing alone), ``source``: ``"tokenizer"`` (word ids)
    or ``"pieces"`` (spelling rule).
    """

    word_of_token: np.ndarray
    labels: tuple[str, ...]
    special: np.ndarray
    source: str

    @property
    def num_words(self) -> int:
        return len(self.labels)

    @property
    def num_tokens(self) -> int:
        return int(self.word_of_token.shape[0])

    def pieces(self, word: int) -> np.ndarray:
        """Token indices of ``word``."""
        return np.flatnonzero(self.word_of_token == word)

    def membership(self) -> np.ndarray:
        """``member[token, word]``: 1.0 where the token belongs to the word."""
        member = np.zeros((self.num_tokens, self.num_words))
        member[np.arange(self.num_tokens), self.word_of_token] = 1.0
        return member


def _number(keys: Sequence[object]) -> np.ndarray:
    """Consecutive equal keys → one word; words numbered 0, 1, … in order."""
    numbers = np.zeros(len(keys), dtype=np.int64)
    for index in range(1, len(keys)):
        same = keys[index] is not None and keys[index] == keys[index - 1]
        numbers[index] = numbers[index - 1] + (0 if same else 1)
    return numbers


def group_by_word_ids(
    word_ids: Sequence[int | None],
    special_mask: Sequence[bool],
    sequence_ids: Sequence[int | None] | None = None,
) -> np.ndarray:
    """``word_of_token[token]`` from a fast tokenizer's ``word_ids()`` (None for special tokens)
    and ``sequence_ids()`` (word ids restart in the second text of a pair)."""
    sequence_ids = sequence_ids or [0] * len(word_ids)
    keys: list[object] = []
    for index, (word, sequence, special) in enumerate(zip(word_ids, sequence_ids, special_mask)):
        keys.append(None if special or word is None else (sequence, word))
        if keys[-1] is None:
            keys[-1] = ("special", index)  # alone: never equal to its neighbour
    return _number(keys)


def continuation_style(tokenizer: Any) -> str:
    """``"##"`` for WordPiece tokenizers, else ``"space"`` (``Ġ``/``▁`` starts a word)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        return "##" if type(backend.model).__name__ == "WordPiece" else "space"
    return "##" if any(t.startswith("##") for t in tokenizer.get_vocab()) else "space"


def group_by_pieces(tokens: Sequence[str], special_mask: Sequence[bool],
                    style: str = "space") -> np.ndarray:
    """``word_of_token[token]`` from the pieces' spelling (see the module docstring)."""
    keys: list[object] = []
    word = -1
    previous_special = True
    for index, (token, special) in enumerate(zip(tokens, special_mask)):
        if special:
            keys.append(("special", index))
            previous_special = True
            continue
        continues = token.startswith("##") if style == "##" else not token.startswith(
            ("Ġ", "▁", " "))
        starts = not continues
        if starts or previous_special:
            word += 1
        keys.append(("word", word))
        previous_special = False
    return _number(keys)


def _labels(tokenizer: Any, token_ids: Sequence[int], word_of_token: np.ndarray,
            special_mask: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    labels, special = [], []
    for word in range(int(word_of_token.max()) + 1 if len(word_of_token) else 0):
        members = np.flatnonzero(word_of_token == word)
        ids = [int(token_ids[i]) for i in members]
        is_special = bool(special_mask[members].all())
        text = (tokenizer.convert_ids_to_tokens(ids[0]) if is_special
                else tokenizer.decode(ids, clean_up_tokenization_spaces=False).strip())
        labels.append(text or "␣")
        special.append(is_special)
    return tuple(labels), np.array(special, dtype=bool)


def words_for(
    tokenizer: Any,
    token_ids: Sequence[int],
    special_mask: Sequence[bool] | None = None,
    text: str | None = None,
    text_pair: str | None = None,
) -> Words:
    """Group ``token_ids`` (as the model read them) into words.

    With ``text`` (and ``text_pair`` for a pair input), the text is re-encoded and the
    tokenizer's word ids are used if it gives the same ids (a truncated input: the same first
    tokens, then the end token); otherwise the pieces' spelling decides. ``special_mask``
    adds to the tokenizer's own special tokens.
    """
    ids = [int(i) for i in token_ids]
    specials = set(tokenizer.all_special_ids)  # the mask token included: a word of its own
    special = np.array([i in specials for i in ids], dtype=bool)
    if special_mask is not None:
        special |= np.asarray(special_mask, dtype=bool)
    word_of_token = None
    source = "pieces"
    if text is not None and getattr(tokenizer, "is_fast", False):
        encoding = tokenizer(text, text_pair, add_special_tokens=True, truncation=False,
                             verbose=False)
        encoded = list(encoding["input_ids"])
        word_ids, sequence_ids = encoding.word_ids(), encoding.sequence_ids()
        n = len(ids)
        if encoded != ids and len(encoded) > n and encoded[: n - 1] == ids[: n - 1]:
            encoded = ids  # truncated: first n - 1 tokens, then the end token
            word_ids = [*word_ids[: n - 1], None]
            sequence_ids = [*sequence_ids[: n - 1], None]
        if encoded == ids:
            word_of_token = group_by_word_ids(word_ids, special, sequence_ids)
            source = "tokenizer"
    if word_of_token is None:
        word_of_token = group_by_pieces(tokenizer.convert_ids_to_tokens(ids), special,
                                        continuation_style(tokenizer))
    labels, word_special = _labels(tokenizer, ids, word_of_token, special)
    return Words(word_of_token=word_of_token, labels=labels, special=word_special,
                 source=source)


def merge_attention(attentions: np.ndarray, words: Words) -> np.ndarray:
    """``merged[..., word_query, word_key]`` from ``attentions[..., query, key]`` (e.g.
    ``[layer, head, query, key]``): sum over the key word's pieces, mean over the query word's
    pieces. Rows that summed to 1 still do."""
    member = words.membership()  # [token, word]
    counts = member.sum(axis=0)
    to_words = np.asarray(attentions, dtype=np.float64) @ member  # [..., query, word]
    merged = np.swapaxes(np.swapaxes(to_words, -1, -2) @ member, -1, -2)  # [..., word, word]
    return merged / counts[:, None]


def merge_scores(scores: np.ndarray, words: Words, how: str = "sum") -> np.ndarray:
    """``merged[..., word]`` from per-token ``scores[..., token]`` (e.g. attributions: ``sum``;
    per-token probabilities or norms: ``mean``; ``max`` also accepted)."""
    values = np.asarray(scores, dtype=np.float64)
    if how in ("sum", "mean"):
        member = words.membership()
        merged = values @ member
        return merged / member.sum(axis=0) if how == "mean" else merged
    if how == "max":
        return np.stack([values[..., words.pieces(w)].max(axis=-1)
                         for w in range(words.num_words)], axis=-1)
    raise ValueError(f"Unknown merge {how!r}; use sum, mean or max.")
