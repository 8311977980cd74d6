"""Run the model with some attention heads switched off (no Streamlit here).

transformers 5 removed ``head_mask``, so heads are ablated in our own code: a forward pre-hook on
each affected layer's attention output projection (the architecture table's head-output hook
point: ``RobertaSelfOutput.dense``, DistilBERT's ``out_lin``, ModernBERT's ``Wo`` …) zeroes the
ablated heads' slices of the context vector before the projection. ALBERT runs one shared layer
several times; its hook counts the calls of each forward pass to know which layer is running.
The head's attention weights are still computed (and returned), but nothing the head read
reaches the residual stream: the attention output is ``bias + Σ_{kept heads} W_h · context_h``.
This is what ``head_mask = 0`` did (``mode="zero"``). Zero is far from anything a head ever
outputs, so ``mode="mean"`` (mean-ablation) instead sets each ablated head's context vector to its
mean over the positions of the same input: what the head carries on average stays, what it
carries about one particular token is removed. ``mode="corpus"`` sets them to the head's mean
over a corpus instead (``means[layer, head * head_size + i]``, computed by
:mod:`explorer.corpus.head_means`): what the head writes on ordinary text, not on this one.

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

from explorer.analysis import Analysis, MaskPredictions, fill_mask_predictions
from explorer.architectures import ArchitectureError, architecture_for
from explorer.forward import lm_logits, run_encoder
from explorer.model import Loaded

Head = tuple[int, int]
"""(layer, head), both 0-based."""
ABLATION_MODES = ("zero", "mean", "corpus")
"""``zero``: the head's context vectors are zeroed; ``mean``: replaced by their mean over the
input's positions; ``corpus``: replaced by their mean over a corpus (given as ``means``)."""


class AblationError(ValueError):
    """The heads cannot be ablated; ``str(error)`` is a message fit for a user."""


def attention_output_projection(model: nn.Module, layer: int) -> nn.Linear:
    """The linear map that mixes the heads' context vectors of ``layer`` into its output."""
    try:
        return architecture_for(model).attention_outputs(model)[layer]
    except ArchitectureError as error:
        raise AblationError(f"Head ablation does not know the attention output of "
                            f"{type(model).__name__}: {error}") from error


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
def heads_switched_off(loaded: Loaded, heads: Iterable[Head], mode: str = "zero",
                       means: np.ndarray | None = None) -> Iterator[None]:
    """Within the block, forward passes in this thread run with ``heads`` switched off
    (``mode``: one of :data:`ABLATION_MODES`; ``"corpus"`` needs ``means[layer, hidden]``, the
    mean concatenated head context of each layer)."""
    if mode not in ABLATION_MODES:
        raise AblationError(f"Unknown ablation {mode!r}: use one of {', '.join(ABLATION_MODES)}.")
    info = loaded.info
    if mode == "corpus":
        if means is None or np.shape(means) != (info.num_layers, info.hidden_size):
            raise AblationError(f"Corpus mean-ablation needs the heads' means, shape "
                                f"({info.num_layers}, {info.hidden_size}).")
        means_by_layer = torch.from_numpy(np.asarray(means, dtype=np.float32))
    chosen = normalise_heads(heads, info.num_layers, info.num_heads)
    head_size = info.hidden_size // info.num_heads
    by_layer: dict[int, list[int]] = {}
    for layer, head in chosen:
        by_layer.setdefault(layer, []).append(head)
    owner = threading.get_ident()
    try:
        projections = architecture_for(loaded.model).attention_outputs(loaded.model)
    except ArchitectureError as error:
        raise AblationError(str(error)) from error
    handles = []

    def make_hook(layers_here: list[int]):
        """Pre-hook of a projection that runs for ``layers_here`` (in order) in each pass."""
        calls = [0]

        def zero_heads(module: nn.Module, args: tuple) -> tuple | None:
            if threading.get_ident() != owner:
                return None
            layer = layers_here[calls[0] % len(layers_here)]
            calls[0] += 1
            dropped = by_layer.get(layer)
            if not dropped:
                return None
            context = args[0].clone()  # context[batch, token, head * head_size + i]
            for head in dropped:
                columns = slice(head * head_size, (head + 1) * head_size)
                if mode == "zero":
                    context[..., columns] = 0
                elif mode == "mean":
                    context[..., columns] = context[..., columns].mean(dim=-2, keepdim=True)
                else:
                    context[..., columns] = means_by_layer[layer, columns].to(context)
            return (context, *args[1:])
        return zero_heads

    try:
        for projection in {id(p): p for p in projections}.values():
            layers_here = [i for i, p in enumerate(projections) if p is projection]
            if any(layer in by_layer for layer in layers_here):
                handles.append(projection.register_forward_pre_hook(make_hook(layers_here)))
        yield
    finally:
        for handle in handles:
            handle.remove()


@torch.inference_mode()
def ablated_logits(loaded: Loaded, token_ids: np.ndarray, heads: Iterable[Head],
                   token_type_ids: np.ndarray | None = None, mode: str = "zero",
                   means: np.ndarray | None = None) -> torch.Tensor:
    """``logits[token, vocab]`` of ``token_ids`` (a pair: with its ``token_type_ids``) with
    ``heads`` switched off."""
    with heads_switched_off(loaded, heads, mode, means):
        last = run_encoder(loaded, np.asarray(token_ids, dtype=np.int64),
                           token_type_ids=token_type_ids).last_hidden_state[0]
    return lm_logits(loaded, last)


def ablated_predictions(
    loaded: Loaded, token_ids: np.ndarray, heads: Iterable[Head], top_k: int,
    token_type_ids: np.ndarray | None = None, mode: str = "zero",
    means: np.ndarray | None = None,
) -> tuple[MaskPredictions, ...]:
    """Top-k per ``<mask>`` with ``heads`` switched off, in the fill-mask pipeline's format:
    one encoder pass (a pair: with its ``token_type_ids``), the LM head at the masks only."""
    token_ids = np.asarray(token_ids, dtype=np.int64)
    mask_positions = np.flatnonzero(token_ids == loaded.tokenizer.mask_token_id)
    with heads_switched_off(loaded, heads, mode, means):
        last = run_encoder(loaded, token_ids, token_type_ids=token_type_ids).last_hidden_state[0]
    logits = lm_logits(loaded, last[torch.from_numpy(mask_positions).to(last.device)])
    return fill_mask_predictions(loaded, token_ids, logits, top_k)


def predictions_without(
    loaded: Loaded, analysis: Analysis, heads: Iterable[Head], top_k: int, mode: str = "zero",
    means: np.ndarray | None = None,
) -> tuple[MaskPredictions, ...]:
    """The analysis's top-k per mask with ``heads`` switched off. No heads: the analysis's own
    predictions, without a forward pass (the model with nothing ablated is the model)."""
    info = loaded.info
    chosen = normalise_heads(heads, info.num_layers, info.num_heads)
    if not chosen and top_k <= analysis.top_k:
        return tuple(MaskPredictions(m.position, m.predictions[:top_k])
                     for m in analysis.predictions)
    return ablated_predictions(loaded, heads=chosen, top_k=top_k, mode=mode, means=means,
                               **analysis.model_inputs())
