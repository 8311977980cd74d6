"""Batched forward passes over many sentences, one result per sentence (no Streamlit here).

Used by corpus-wide statistics (:mod:`explorer.head_patterns`) and by the model comparison over a
set of sentences (:mod:`explorer.model_compare`). Only the encoder runs (no masked-LM head).
Sentences of similar length share a padded batch; each result is cut back to its own tokens, so
``attentions[layer, head, query, key]`` rows still sum to 1 (padding gets zero weight).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from explorer.devices import inputs_on_device
from explorer.model import Loaded

ProgressCallback = Callable[[int, int], None]
"""``progress(done, total)``: sentences processed so far, out of all."""


@dataclass(frozen=True)
class SentencePass:
    """One sentence through the encoder: ``token_ids[token]``,
    ``attentions[layer, head, query, key]`` and (when asked for)
    ``hidden_states[layer + 1, token, dim]``."""

    token_ids: np.ndarray
    attentions: np.ndarray
    hidden_states: np.ndarray | None = None


def encode_sentences(loaded: Loaded, sentences: Sequence[str]) -> list[list[int]]:
    """Token ids of each sentence with special tokens, cut to the model's limit by the tokenizer
    (which keeps the end token)."""
    encoded = loaded.tokenizer(list(sentences), add_special_tokens=True, truncation=True,
                               max_length=loaded.info.max_tokens, verbose=False)
    return [list(ids) for ids in encoded["input_ids"]]


def length_batches(lengths: Sequence[int], batch_size: int,
                   max_square_tokens: int | None = None) -> list[list[int]]:
    """Sentence indices in batches of at most ``batch_size``, longest first, so that sentences
    of similar length are padded together. With ``max_square_tokens``, a batch also holds at
    most that many ``sentences × width²`` (the size of one head's padded attention), so that
    batches of long sentences stay small (a single sentence always makes a batch)."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    if max_square_tokens is None:
        return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    batches: list[list[int]] = []
    for index in order:
        current = batches[-1] if batches else None
        if current is not None and len(current) < batch_size and \
                (len(current) + 1) * lengths[current[0]] ** 2 <= max_square_tokens:
            current.append(index)
        else:
            batches.append([index])
    return batches


@torch.inference_mode()
def forward_sentences(
    loaded: Loaded, id_lists: Sequence[Sequence[int]], *, hidden: bool = False
) -> list[SentencePass]:
    """One padded forward pass of the encoder over ``id_lists``; one result per list."""
    pad = loaded.tokenizer.pad_token_id
    pad = 0 if pad is None else pad
    width = max(len(ids) for ids in id_lists)
    input_ids = torch.full((len(id_lists), width), pad, dtype=torch.long)
    attention_mask = torch.zeros((len(id_lists), width), dtype=torch.long)
    for row, ids in enumerate(id_lists):
        input_ids[row, : len(ids)] = torch.tensor(list(ids), dtype=torch.long)
        attention_mask[row, : len(ids)] = 1
    output = loaded.model.base_model(
        **inputs_on_device(loaded.model, input_ids=input_ids, attention_mask=attention_mask),
        output_attentions=True, output_hidden_states=hidden, return_dict=True,
    )
    if not output.attentions:
        raise RuntimeError("The model returned no attention weights; load it with "
                           "attn_implementation='eager'.")
    attentions = torch.stack(output.attentions, dim=1).float().cpu().numpy()  # [batch, layer, ...]
    states = torch.stack(output.hidden_states, dim=1).float().cpu().numpy() if hidden else None
    results = []
    for row, ids in enumerate(id_lists):
        n = len(ids)
        results.append(SentencePass(
            token_ids=np.asarray(ids, dtype=np.int64),
            attentions=attentions[row, :, :, :n, :n],
            hidden_states=None if states is None else states[row, :, :n],
        ))
    return results


def iterate_passes(
    loaded: Loaded,
    id_lists: Sequence[Sequence[int]],
    *,
    batch_size: int = 16,
    hidden: bool = False,
    progress: ProgressCallback | None = None,
    max_square_tokens: int | None = None,
) -> Iterator[tuple[int, SentencePass]]:
    """``(sentence index, pass)`` for every sentence, batched by length (not in input order);
    ``max_square_tokens`` bounds a batch's attention size (:func:`length_batches`)."""
    total = len(id_lists)
    done = 0
    if progress:
        progress(0, total)
    for batch in length_batches([len(ids) for ids in id_lists], batch_size, max_square_tokens):
        passes = forward_sentences(loaded, [id_lists[i] for i in batch], hidden=hidden)
        yield from zip(batch, passes)
        done += len(batch)
        if progress:
            progress(done, total)
