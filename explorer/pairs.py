"""Sentence-pair inputs and how much attention crosses between the two texts (no Streamlit).

A pair is built exactly as the tokenizer builds it, ``tokenizer(text_a, text_b)``:
``<s> A </s></s> B </s>`` for RoBERTa, ``[CLS] A [SEP] B [SEP]`` (with token types 0 then 1) for
BERT. :func:`split_pair` also accepts a pair typed into one field with the model's separator
(``A </s></s> B`` or ``A [SEP] B``; either spelling is read for either model).

:func:`crossing_attention` summarises per head how much attention crosses between the segments
(in the spirit of Clark et al. 2019's analysis of ``[SEP]`` and cross-sentence heads): the mean,
over the query tokens of A, of the attention mass on B's tokens, and back; special tokens belong
to neither text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

SEPARATOR_SPELLINGS = ("</s>", "[SEP]")
START_SPELLINGS = ("<s>", "[CLS]")
SEGMENT_SPECIAL = -1
"""``segment[token]`` of special tokens (neither A nor B)."""


class PairError(ValueError):
    """The pair cannot be built; ``str(error)`` is a message fit for a user."""


def _spellings(tokenizer: Any, attribute: str, defaults: tuple[str, ...]) -> list[str]:
    own = getattr(tokenizer, attribute, None)
    return list(dict.fromkeys([s for s in (own, *defaults) if s]))


def split_pair(text: str, tokenizer: Any) -> tuple[str, str | None]:
    """``(text_a, text_b)`` from one field: ``text_b`` is None when no separator was typed.

    A separator is one or two separator tokens in a row (``</s></s>``, ``</s>``, ``[SEP]``…,
    spaces allowed between). A typed start token at the beginning and an end token at the end are
    dropped. Raises :class:`PairError` for more than one separator or an empty side.
    """
    separators = _spellings(tokenizer, "sep_token", SEPARATOR_SPELLINGS)
    starts = _spellings(tokenizer, "cls_token", START_SPELLINGS)
    one = "(?:" + "|".join(re.escape(s) for s in separators) + ")"
    stripped = text.strip()
    stripped = re.sub("^(?:" + "|".join(re.escape(s) for s in starts) + r")\s*", "", stripped)
    stripped = re.sub(r"\s*" + one + "$", "", stripped)
    parts = re.split(r"\s*" + one + r"(?:\s*" + one + r")?\s*", stripped)
    if len(parts) == 1:
        return text, None
    if len(parts) > 2:
        raise PairError(f"Found {len(parts) - 1} separators; a sentence pair has one "
                        f"(type A {separators[0]}{separators[0]} B, or use the second field).")
    first, second = parts[0].strip(), parts[1].strip()
    if not first or not second:
        raise PairError("Both sides of the separator need text.")
    return first, second


def segments_from_sequence_ids(sequence_ids: list[int | None]) -> np.ndarray:
    """``segment[token]``: 0 for A, 1 for B, :data:`SEGMENT_SPECIAL` for special tokens."""
    return np.array([SEGMENT_SPECIAL if s is None else int(s) for s in sequence_ids],
                    dtype=np.int8)


@dataclass(frozen=True)
class PairInput:
    """A pair as the model reads it: ``token_ids[token]``, ``segment[token]`` (0 = A, 1 = B,
    -1 = special), ``token_type_ids[token]`` when the tokenizer makes them (BERT; None for
    RoBERTa, whose models have one token type), and whether it was cut to ``max_tokens``."""

    text_a: str
    text_b: str
    token_ids: np.ndarray
    segment: np.ndarray
    token_type_ids: np.ndarray | None
    input_token_count: int
    truncated: bool

    def model_inputs(self) -> dict[str, np.ndarray]:
        """Keyword arguments for the model (``input_ids``, and ``token_type_ids`` if any)."""
        inputs = {"input_ids": self.token_ids}
        if self.token_type_ids is not None:
            inputs["token_type_ids"] = self.token_type_ids
        return inputs


def encode_pair(tokenizer: Any, text_a: str, text_b: str, max_tokens: int) -> PairInput:
    """Tokenise ``(text_a, text_b)`` as the tokenizer does; cut longest-first to ``max_tokens``
    (special tokens kept)."""
    if not text_a.strip() or not text_b.strip():
        raise PairError("Both texts of a pair need text.")
    full = tokenizer(text_a, text_b, add_special_tokens=True, truncation=False, verbose=False)
    count = len(full["input_ids"])
    encoding = full
    if count > max_tokens:
        encoding = tokenizer(text_a, text_b, add_special_tokens=True,
                             truncation="longest_first", max_length=max_tokens, verbose=False)
    types = encoding.get("token_type_ids")
    return PairInput(
        text_a=text_a,
        text_b=text_b,
        token_ids=np.asarray(encoding["input_ids"], dtype=np.int64),
        segment=segments_from_sequence_ids(encoding.sequence_ids()),
        token_type_ids=None if types is None else np.asarray(types, dtype=np.int64),
        input_token_count=count,
        truncated=count > max_tokens,
    )


def pair_from_text(tokenizer: Any, text: str, max_tokens: int,
                   second: str | None = None) -> PairInput | None:
    """The pair the user asked for: the second field when filled, else a separator typed in the
    first; None for a single text."""
    if second is not None and second.strip():
        return encode_pair(tokenizer, text, second, max_tokens)
    first, typed_second = split_pair(text, tokenizer)
    return None if typed_second is None else encode_pair(tokenizer, first, typed_second,
                                                         max_tokens)


@dataclass(frozen=True)
class Crossing:
    """Per head (``[layer, head]``), the mean over one text's query tokens of the attention mass
    on the other text's tokens (``a_to_b``, ``b_to_a``) or its own (``a_to_a``, ``b_to_b``).
    What is left of each row went to special tokens."""

    a_to_b: np.ndarray
    b_to_a: np.ndarray
    a_to_a: np.ndarray
    b_to_b: np.ndarray


def crossing_attention(attentions: np.ndarray, segment: np.ndarray) -> Crossing:
    """:class:`Crossing` from ``attentions[layer, head, query, key]`` and ``segment[token]``."""
    p = np.asarray(attentions, dtype=np.float64)
    segment = np.asarray(segment)
    in_a, in_b = segment == 0, segment == 1
    if not in_a.any() or not in_b.any():
        raise PairError("The input is not a sentence pair (one of the texts has no tokens).")

    def mass(queries: np.ndarray, keys: np.ndarray) -> np.ndarray:
        return p[..., queries, :][..., keys].sum(axis=-1).mean(axis=-1)

    return Crossing(a_to_b=mass(in_a, in_b), b_to_a=mass(in_b, in_a),
                    a_to_a=mass(in_a, in_a), b_to_b=mass(in_b, in_b))
