"""Run the model with some attention heads switched off (no Streamlit here).

transformers 5 removed ``head_mask``, so heads are ablated in our own code: a forward pre-hook on
each affected layer's attention output projection (``RobertaSelfOutput.dense`` /
``BertSelfOutput.dense`` / DistilBERT's ``out_lin``) zeroes the ablated heads' slices of the
context vector before the projection. The head's attention weights are still computed (and
returned), but nothing the head read reaches the residual stream: the layer's attention output
is ``bias + Σ_{kept heads} W_h · context_h``. This is what ``head_mask = 0`` did.

The model is shared by every session of the app, so the hooks only act in the thread that
registered them; a forward pass in another thread at the same moment is unaffected.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from explorer.analysis import MaskPredictions, fill_mask_predictions
from explorer.model import Loaded

Head = tuple[int, int]
"""(layer, head), both 0-based."""


class AblationError(ValueError):
    """The heads cannot be ablated; ``str(error)`` is a message fit for a user."""


def _layers(model: nn.Module) -> list[nn.Module]:
    base = model.base_model
    encoder = getattr(base, "encoder", None)
    if encoder is None:
        encoder = getattr(base, "transformer", None)  # DistilBERT
    layers = getattr(encoder, "layer", None)
    if layers is None:
        raise AblationError(f"Head ablation does not know the layers of {type(model).__name__}.")
    return list(layers)


def attention_output_projection(model: nn.Module, layer: int) -> nn.Linear:
    """The linear map that mixes the heads' context vectors of ``layer`` into its output."""
    attention = _layers(model)[layer].attention
    projection = getattr(getattr(attention, "output", None), "dense", None)  # BERT, RoBERTa
    if projection is None:
        projection = getattr(attention, "out_lin", None)  # DistilBERT
    if not isinstance(projection, nn.Linear):
        raise AblationError(
            f"Head ablation does not know the attention output of {type(model).__name__}."
        )
    return projection


def normalise_heads(heads: Iterable[Head], num_layers: int, num_heads: int) -> tuple[Head, ...]:
    """Sorted, de-duplicated (layer, head) pairs; raises :class:`AblationError` if out of range."""
    result = sorted({(int(layer), int(head)) for layer, head in heads})
    for layer, head in result:
        if not (0 <= layer < num_layers and 0 <= head < num_heads):
            raise AblationError(
                f"There is no layer {layer + 1}, head {head + 1}: the model has {num_layers} "
                f"layers of {num_heads} heads."
            )
    return tuple(result)


@contextmanager
def heads_switched_off(loaded: Loaded, heads: Iterable[Head]) -> Iterator[None]:
    """Within the block, forward passes in this thread run with ``heads`` switched off."""
    info = loaded.info
    chosen = normalise_heads(heads, info.num_layers, info.num_heads)
    head_size = info.hidden_size // info.num_heads
    by_layer: dict[int, list[int]] = {}
    for layer, head in chosen:
        by_layer.setdefault(layer, []).append(head)
    owner = threading.get_ident()
    handles = []

    def make_hook(dropped: list[int]):
        def zero_heads(module: nn.Module, args: tuple) -> tuple | None:
            if threading.get_ident() != owner:
                return None
            context = args[0].clone()  # context[batch, token, head * head_size + i]
            for head in dropped:
                context[..., head * head_size:(head + 1) * head_size] = 0
            return (context, *args[1:])
        return zero_heads

    try:
        for layer, dropped in by_layer.items():
            projection = attention_output_projection(loaded.model, layer)
            handles.append(projection.register_forward_pre_hook(make_hook(dropped)))
        yield
    finally:
        for handle in handles:
            handle.remove()


@torch.inference_mode()
def ablated_logits(loaded: Loaded, token_ids: np.ndarray, heads: Iterable[Head]) -> torch.Tensor:
    """``logits[token, vocab]`` of ``token_ids`` with ``heads`` switched off."""
    ids = torch.from_numpy(np.array(token_ids, dtype=np.int64))[None, :]
    with heads_switched_off(loaded, heads):
        output = loaded.model(input_ids=ids, attention_mask=torch.ones_like(ids),
                              return_dict=True)
    return output.logits[0]


def ablated_predictions(
    loaded: Loaded, token_ids: np.ndarray, heads: Iterable[Head], top_k: int
) -> tuple[MaskPredictions, ...]:
    """Top-k per ``<mask>`` with ``heads`` switched off, in the fill-mask pipeline's format."""
    token_ids = np.asarray(token_ids, dtype=np.int64)
    logits = ablated_logits(loaded, token_ids, heads)
    mask_positions = np.flatnonzero(token_ids == loaded.tokenizer.mask_token_id)
    return fill_mask_predictions(loaded, token_ids, logits[torch.from_numpy(mask_positions)],
                                 top_k)
