"""Click-to-mask: replace one token of a text by the mask token, and put it back (no Streamlit).

A token is found in the text through the tokenizer's offsets mapping. Masking records what the
mask replaced, keyed by the mask's character start, so unmasking restores exactly that piece.
Byte-level BPE can split one character over several tokens; masking any of them masks the whole
character.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from explorer.model import Loaded


class MaskEditError(ValueError):
    """The token cannot be masked or unmasked; ``str(error)`` is a message fit for a user."""


@dataclass(frozen=True)
class MaskEdit:
    """A text after a mask/unmask, with the pieces that its masks replaced.

    ``originals[start]`` is the text that the mask token starting at character ``start``
    replaced. Masks the user typed have no entry.
    """

    text: str
    originals: Mapping[int, str] = field(default_factory=dict)


def _token_spans(loaded: Loaded, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    encoding = loaded.tokenizer(text, add_special_tokens=True, truncation=False,
                                return_offsets_mapping=True)
    return list(encoding["input_ids"]), [tuple(span) for span in encoding["offset_mapping"]]


def _check_index(ids: list[int], token_index: int) -> None:
    if not 0 <= token_index < len(ids):
        raise MaskEditError(f"There is no token {token_index} in this text.")


def _shift(originals: Mapping[int, str], at: int, delta: int) -> dict[int, str]:
    return {(start + delta if start > at else start): piece for start, piece in originals.items()}


def mask_token_in_text(
    loaded: Loaded, text: str, token_index: int, originals: Mapping[int, str] | None = None
) -> MaskEdit:
    """Replace token ``token_index`` of ``text`` (as the model tokenises it, ``<s>`` = 0) with
    the mask token. Special tokens, bare spaces and masks cannot be masked."""
    tokenizer = loaded.tokenizer
    ids, spans = _token_spans(loaded, text)
    _check_index(ids, token_index)
    if ids[token_index] == tokenizer.mask_token_id:
        raise MaskEditError(f"Token {token_index} is already a mask.")
    if ids[token_index] in set(tokenizer.all_special_ids):
        raise MaskEditError(f"Token {token_index} is a special token; it is not in the text.")
    start, end = spans[token_index]
    if end <= start or not text[start:end].strip():
        raise MaskEditError(f"Token {token_index} is only white space; mask a word instead.")
    mask = tokenizer.mask_token
    kept = _shift(originals or {}, start, len(mask) - (end - start))
    kept[start] = text[start:end]
    return MaskEdit(text=text[:start] + mask + text[end:], originals=kept)


def unmask_token_in_text(
    loaded: Loaded, text: str, token_index: int, originals: Mapping[int, str]
) -> MaskEdit:
    """Put back what :func:`mask_token_in_text` replaced with the mask at ``token_index``."""
    tokenizer = loaded.tokenizer
    ids, spans = _token_spans(loaded, text)
    _check_index(ids, token_index)
    if ids[token_index] != tokenizer.mask_token_id:
        raise MaskEditError(f"Token {token_index} is not a mask.")
    mask = tokenizer.mask_token
    span_start, span_end = spans[token_index]
    start = text.find(mask, span_start, max(span_end, span_start + len(mask)))
    if start < 0 or start not in originals:
        raise MaskEditError(
            f"The mask at token {token_index} was typed, not made by masking a token, so there "
            "is no original word to restore. Edit the text instead."
        )
    piece = originals[start]
    rest = {s: p for s, p in originals.items() if s != start}
    kept = _shift(rest, start, len(piece) - len(mask))
    return MaskEdit(text=text[:start] + piece + text[start + len(mask):], originals=kept)
