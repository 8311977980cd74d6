"""Encoding: the corpus's (and a query's) tokens through the model, in batches (no Streamlit).

Text is cleaned and tokenised by the Explorer's own functions (:func:`explorer.analysis.
clean_text` and ``_encode``), so token ``i`` of a sentence or a query is token ``i`` in the
Explorer too. One padded forward pass per batch returns every layer's hidden states and, through
a forward pre-hook on each layer's attention output projection, the concatenated per-head
context vectors (the head outputs).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from explorer.analysis import MAX_TEXT_CHARS, InputError, _encode, clean_text
from explorer.corpus.reading import CorpusError
from explorer.model import Loaded

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(sentences_done, sentences_total)`` while indexing."""


def attention_output_projections(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The attention output projection of each layer, from the architecture table: its input is
    the concatenated head contexts, so a forward pre-hook on it sees every head's output. A
    module shared by several layers (ALBERT) is listed once: its hook then fires once per layer,
    in layer order."""
    from explorer.architectures import ArchitectureError, architecture_for

    try:
        projections = architecture_for(model).attention_outputs(model)
    except ArchitectureError as error:
        raise CorpusError(f"Corpus search does not support this model: {error}") from error
    return list({id(p): p for p in projections}.values())


@dataclass(frozen=True)
class EncodedText:
    """One text as the Explorer reads it: cleaned, tokenised, cut to the model's limit."""

    text: str  # after clean_text (mask aliases mapped, control characters removed)
    ids: tuple[int, ...]
    truncated: bool
    notes: tuple[str, ...]


def encode_text(loaded: Loaded, text: str) -> EncodedText:
    """Clean and tokenise ``text`` exactly as :func:`explorer.analysis.analyze` does.

    Text longer than the Explorer accepts is cut to :data:`~explorer.analysis.MAX_TEXT_CHARS`
    first (it is longer than any model's limit anyway) and counts as truncated.
    """
    cut = len(text) > MAX_TEXT_CHARS
    try:
        cleaned, notes = clean_text(text[:MAX_TEXT_CHARS], loaded.info.mask_token)
    except InputError as error:
        raise CorpusError(str(error)) from None
    ids, _count, truncated = _encode(loaded, cleaned)
    return EncodedText(text=cleaned, ids=tuple(ids), truncated=truncated or cut, notes=notes)


def tokenize(loaded: Loaded, sentences: Sequence[str]) -> tuple[list[list[int]], int]:
    """Token ids per sentence, cut to the model's limit; also how many sentences were cut."""
    encoded = [encode_text(loaded, sentence) for sentence in sentences]
    return [list(e.ids) for e in encoded], sum(e.truncated for e in encoded)


def special_ids(loaded: Loaded) -> set[int]:
    """Ids that are never indexed nor searched: special tokens other than the mask."""
    tokenizer = loaded.tokenizer
    return set(tokenizer.all_special_ids) - {tokenizer.mask_token_id}


def token_pieces(loaded: Loaded, text: str, ids: Sequence[int]) -> tuple[str, ...]:
    """What each token of ``text`` covers in it, with the space before it: joined, the pieces of
    the non-special tokens give ``text`` back (``We sat`` → ``We``, `` sat``; WordPiece
    ``cheque`` → ``che``, ``que``). Special tokens get their own text (``<s>``, ``[CLS]``).

    Uses the tokenizer's character offsets (fast tokenizers); otherwise the differences of its
    decoding of growing prefixes.
    """
    tokenizer = loaded.tokenizer
    special = special_ids(loaded) - {tokenizer.unk_token_id}  # an unknown word is still text
    ids = list(ids)
    if getattr(tokenizer, "is_fast", False):
        encoded = tokenizer(text, add_special_tokens=True, truncation=False, verbose=False,
                            return_offsets_mapping=True)
        full_ids, offsets = list(encoded["input_ids"]), encoded["offset_mapping"]
        if full_ids == ids or full_ids[: len(ids) - 1] == ids[:-1]:
            pieces: list[str] = []
            covered = 0
            for position, token_id in enumerate(ids):
                if token_id in special or position >= len(offsets):
                    pieces.append(tokenizer.decode([token_id]))
                    continue
                end = int(offsets[position][1])
                pieces.append(text[covered:end] if end > covered else "")
                covered = max(covered, end)
            return tuple(pieces)
    pieces = []
    kept: list[int] = []
    before = ""
    for token_id in ids:
        if token_id in special:
            pieces.append(tokenizer.decode([token_id]))
            continue
        kept.append(token_id)
        now = tokenizer.decode(kept, clean_up_tokenization_spaces=False)
        pieces.append(now[len(before):] if now.startswith(before) else tokenizer.decode(
            [token_id]))
        before = now
    return tuple(pieces)


@dataclass(frozen=True)
class EncodedBatch:
    """Raw (unnormalised) vectors of the kept tokens of a few sentences.

    ``hidden[layer + 1, row, dim]`` (index 0 = embeddings) and ``heads[layer, row, dim]``
    (concatenated head contexts, ``None`` unless asked for), one row per kept token.
    """

    sentence_ids: np.ndarray  # sentence_ids[row]
    positions: np.ndarray  # positions[row]: token index in the sentence, <s> = 0
    hidden: np.ndarray
    heads: np.ndarray | None


@torch.inference_mode()
def forward_batch(
    loaded: Loaded, id_lists: Sequence[Sequence[int]], with_heads: bool
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """One padded forward pass of the encoder (no LM head).

    Returns ``hidden[layer + 1, sentence, token, dim]``, ``heads[layer, sentence, token, dim]``
    (or ``None``) and ``valid[sentence, token]`` (False on padding).
    """
    tokenizer = loaded.tokenizer
    width = max(len(ids) for ids in id_lists)
    input_ids = torch.full((len(id_lists), width), tokenizer.pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(id_lists), width), dtype=torch.long)
    for row, ids in enumerate(id_lists):
        input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention_mask[row, : len(ids)] = 1
    device = next(loaded.model.parameters()).device

    captured: list[torch.Tensor] = []
    owner = threading.get_ident()  # the model is shared: ignore other sessions' forward passes

    def capture(_module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        if threading.get_ident() == owner:
            captured.append(args[0].detach().float().cpu())

    handles = []
    if with_heads:
        handles = [p.register_forward_pre_hook(capture)
                   for p in attention_output_projections(loaded.model)]
    try:
        output = loaded.model.base_model(
            input_ids=input_ids.to(device), attention_mask=attention_mask.to(device),
            output_hidden_states=True, return_dict=True,
        )
    finally:
        for handle in handles:
            handle.remove()
    hidden = torch.stack(output.hidden_states).float().cpu().numpy()
    del output
    heads = None
    if with_heads:
        if len(captured) != loaded.info.num_layers:
            raise RuntimeError(f"captured {len(captured)} head outputs, expected "
                               f"{loaded.info.num_layers}")
        heads = torch.stack(captured).numpy()
    return hidden, heads, attention_mask.numpy().astype(bool)


def _batches(lengths: Sequence[int], batch_tokens: int, max_batch: int = 64) -> list[list[int]]:
    """Sentence indices grouped by similar length so that padding stays small."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        width = lengths[current[0]] if current else lengths[index]
        if current and (width * (len(current) + 1) > batch_tokens or len(current) >= max_batch):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


def encode_corpus(
    loaded: Loaded,
    id_lists: Sequence[Sequence[int]],
    *,
    with_heads: bool = True,
    batch_tokens: int = 2_048,
    progress: ProgressCallback | None = None,
) -> Iterator[EncodedBatch]:
    """Run every sentence through the model in batches; yield the kept tokens' vectors."""
    special = special_ids(loaded)
    done = 0
    total = len(id_lists)
    if progress:
        progress(0, total)
    for batch in _batches([len(ids) for ids in id_lists], batch_tokens):
        hidden, heads, valid = forward_batch(loaded, [id_lists[i] for i in batch], with_heads)
        keep = valid.copy()
        for row, sentence in enumerate(batch):
            for position, token_id in enumerate(id_lists[sentence]):
                if token_id in special:
                    keep[row, position] = False
        rows, positions = np.nonzero(keep)
        encoded = EncodedBatch(
            sentence_ids=np.asarray(batch, dtype=np.int32)[rows],
            positions=positions.astype(np.int32),
            hidden=hidden[:, rows, positions],
            heads=None if heads is None else heads[:, rows, positions],
        )
        del hidden, heads  # the padded batch; only the kept rows (copies) live on
        yield encoded
        del encoded
        done += len(batch)
        if progress:
            progress(done, total)
