"""Click-to-mask: replace one token of a text by the mask token, and put it back (no Streamlit).

The token index is the *analysis'* index: the token the user clicked in the views. Its place in
the text comes from the tokenizer's offsets mapping of the analysed text, used only after checking
that this tokenisation has the analysis' own token at that index. A truncated analysis keeps the
first tokens and ends with the end token, so its last index is ``</s>`` even though the full text
goes on: the end token and every special token are refused. Masking records what the mask
replaced, keyed by the mask's character start, so unmasking restores exactly that piece.
Byte-level BPE can split one character over several tokens; masking any of them masks the whole
character.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from explorer.analysis import Analysis
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


def _token_span(loaded: Loaded, analysis: Analysis, token_index: int) -> tuple[int, int, int]:
    """``(token id, start, end)`` of the analysis' token ``token_index`` in ``analysis.text``.

    Refuses indices outside the analysis, the special tokens it added (``<s>``, ``</s>``, also
    the end token that truncation keeps) and any mismatch between the analysis and the text.
    """
    ids = analysis.token_ids
    if isinstance(token_index, bool) or not 0 <= int(token_index) < len(ids):
        raise MaskEditError(f"There is no token {token_index} in this text.")
    token_index = int(token_index)
    token_id = int(ids[token_index])
    tokenizer = loaded.tokenizer
    if token_id in set(tokenizer.all_special_ids) - {tokenizer.mask_token_id}:
        where = ("the end token, added after the cut of the truncated text"
                 if analysis.truncated and token_index == len(ids) - 1
                 else "a special token the model adds")
        raise MaskEditError(f"Token {token_index} is {where}; it is not in the text, so it "
                            "cannot be masked. Click a word instead.")
    encoding = tokenizer(analysis.text, add_special_tokens=True, truncation=False,
                         return_offsets_mapping=True)
    text_ids, spans = encoding["input_ids"], encoding["offset_mapping"]
    if token_index >= len(text_ids) or int(text_ids[token_index]) != token_id:
        raise MaskEditError(f"Token {token_index} no longer matches the text; click it again.")
    start, end = spans[token_index]
    return token_id, int(start), int(end)


def _shift(originals: Mapping[int, str], at: int, delta: int) -> dict[int, str]:
    return {(start + delta if start > at else start): piece for start, piece in originals.items()}


def mask_token_in_text(
    loaded: Loaded, analysis: Analysis, token_index: int,
    originals: Mapping[int, str] | None = None,
) -> MaskEdit:
    """Replace the analysis' token ``token_index`` (``<s>`` = 0) in ``analysis.text`` with the
    mask token. Special tokens, bare spaces and masks cannot be masked."""
    tokenizer = loaded.tokenizer
    token_id, start, end = _token_span(loaded, analysis, token_index)
    if token_id == tokenizer.mask_token_id:
        raise MaskEditError(f"Token {token_index} is already a mask.")
    text = analysis.text
    if end <= start or not text[start:end].strip():
        raise MaskEditError(f"Token {token_index} is only white space; mask a word instead.")
    mask = tokenizer.mask_token
    kept = _shift(originals or {}, start, len(mask) - (end - start))
    kept[start] = text[start:end]
    return MaskEdit(text=text[:start] + mask + text[end:], originals=kept)


def unmask_token_in_text(
    loaded: Loaded, analysis: Analysis, token_index: int, originals: Mapping[int, str]
) -> MaskEdit:
    """Put back what :func:`mask_token_in_text` replaced with the mask at the analysis' token
    ``token_index``."""
    tokenizer = loaded.tokenizer
    token_id, span_start, span_end = _token_span(loaded, analysis, token_index)
    if token_id != tokenizer.mask_token_id:
        raise MaskEditError(f"Token {token_index} is not a mask.")
    text = analysis.text
    mask = tokenizer.mask_token
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
