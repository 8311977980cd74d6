"""How a fill-mask prediction reads in its sentence, for the top-k tables.

The Hugging Face pipeline's ``sequence`` (kept in :class:`explorer.analysis.Prediction`, and in
the downloads) keeps ``<s>``, ``</s>`` and the other ``<mask>`` tokens as soon as a text has
several masks, and a token that is only part of a UTF-8 character decodes to "�". The tables
show instead: the sentence without special tokens, the predicted token marked in its place, any
other mask as a blank (:data:`BLANK`), and ``[id N]`` for a token that cannot be decoded alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BLANK = "___"
"""How another mask of the same text is shown (its own table fills it)."""
REPLACEMENT = "\ufffd"
CONTROL_PICTURES = {code: 0x2400 + code for code in range(32)} | {127: 0x2421}
"""Control characters (byte-level tokens) as Unicode's visible pictures, as token labels."""


@dataclass(frozen=True)
class FilledText:
    """The sentence around one mask with one prediction in its place: ``before + filled +
    after``. ``marked`` is False when the tokenizer's decoding did not let the filled token be
    located (then ``before`` holds the whole sentence)."""

    before: str
    filled: str
    after: str
    marked: bool = True

    def __str__(self) -> str:
        return self.before + self.filled + self.after


def decodable(text: str) -> bool:
    """Whether a token decoded alone is something a reader can see: not empty, and not a piece of
    a multi-byte character (which decodes to U+FFFD)."""
    return bool(text) and REPLACEMENT not in text


def shown_token_text(text: str, token_id: int) -> str:
    """A predicted token's decoded ``text`` as a table cell shows it: spaces kept, control
    characters as their visible pictures (``\x0f`` → ``␏``), or ``[id N]`` when it decodes to
    nothing readable."""
    return text.translate(CONTROL_PICTURES) if decodable(text) else f"[id {int(token_id)}]"


def token_shown(tokenizer, token_id: int) -> str:
    """:func:`shown_token_text` of one vocabulary id."""
    return shown_token_text(tokenizer.decode([int(token_id)]), token_id)


def filled_text(tokenizer, token_ids: Sequence[int] | np.ndarray, special: Sequence[bool],
                mask_positions: Sequence[int], position: int, token_id: int) -> FilledText:
    """The text of ``token_ids`` with ``token_id`` at ``position`` (a mask), special tokens
    dropped and the other masks shown as :data:`BLANK`."""
    masks = set(int(p) for p in mask_positions)
    kept = [i for i in range(len(token_ids)) if not special[i] or i in masks or i == position]
    ids = [int(token_ids[i]) for i in kept]
    at = kept.index(int(position))
    ids[at] = int(token_id)
    mask_text = tokenizer.mask_token or ""

    def blanks(text: str) -> str:  # the other masks (not the filled token, whatever it is)
        return text.replace(mask_text, BLANK) if mask_text else text

    alone = tokenizer.decode([int(token_id)])
    if not decodable(alone):  # shown by id; the rest decoded on its own
        before, after = blanks(tokenizer.decode(ids[:at])), blanks(tokenizer.decode(ids[at + 1:]))
        space = " " if before and not before[-1].isspace() else ""
        gap = " " if after and after[0].isalnum() else ""
        return FilledText(before, f"{space}[id {int(token_id)}]", gap + after)
    before = tokenizer.decode(ids[:at])
    through = tokenizer.decode(ids[:at + 1])
    whole = tokenizer.decode(ids)
    if through.startswith(before) and whole.startswith(through) and len(through) > len(before):
        filled = through[len(before):].translate(CONTROL_PICTURES)
        return FilledText(blanks(before), filled, blanks(whole[len(through):]))
    return FilledText(blanks(whole), "", "", marked=False)
