"""Activation patching between two inputs of the same length (no Streamlit here).

Run input B with one component taken from input A and measure how the log-probability of a token
at one of B's masks moves:

- a head: head ``h`` of layer ``l`` writes A's context (its slice of the attention output
  projection's input, at every position) instead of B's;
- a position: the hidden state entering layer ``l`` (``l = 0``: the embeddings) at one position
  is A's.

One batched pass per layer: row ``h`` of the batch patches head ``h`` (row ``p`` patches
position ``p``). Patching nothing gives B's values; patching every position at any layer gives
A's (the whole residual stream is A's from there on).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from explorer.analysis import Analysis
from explorer.architectures import architecture_for
from explorer.forward import lm_logits, model_device
from explorer.model import Loaded


class PatchError(ValueError):
    """The two inputs cannot be patched; ``str(error)`` is a message fit for a user."""


@dataclass(frozen=True)
class PatchEffects:
    """``heads[layer, head]`` and ``positions[layer, position]``: change of
    ``log p(token_id)`` at B's token ``position`` when that component is A's
    (``layer`` 0 of ``positions`` is the embedding output)."""

    position: int
    token_id: int
    base_log_probability: float  # B unpatched
    source_log_probability: float  # A unpatched
    heads: np.ndarray
    positions: np.ndarray


def check_patchable(source: Analysis, target: Analysis) -> None:
    if source.model_name != target.model_name:
        raise PatchError("Both inputs must be read by the same model.")
    if source.text_pair is not None or target.text_pair is not None:
        raise PatchError("Patching compares two single texts, not sentence pairs.")
    if source.num_tokens != target.num_tokens:
        raise PatchError(f"Patching needs inputs of the same length: A has {source.num_tokens} "
                         f"tokens, B has {target.num_tokens}. Change words one for one.")


def _layer_calls(modules: list[nn.Module]) -> dict[int, list[int]]:
    """For each distinct module, the layers that call it, in order (ALBERT shares one)."""
    calls: dict[int, list[int]] = {}
    for layer, module in enumerate(modules):
        calls.setdefault(id(module), []).append(layer)
    return calls


@contextmanager
def _pre_hooks(modules: list[nn.Module], change: Callable[[int, torch.Tensor], torch.Tensor]
               ) -> Iterator[None]:
    """Pre-hooks on ``modules[layer]`` replacing their first input by ``change(layer, input)``
    in this thread; a module shared by several layers knows its layer by counting calls."""
    owner = threading.get_ident()
    layers_of = _layer_calls(modules)
    handles = []
    for module in {id(m): m for m in modules}.values():
        order, count = layers_of[id(module)], [0]

        def hook(module: nn.Module, args: tuple, kwargs: dict, order=order, count=count):
            if threading.get_ident() != owner:
                return None
            layer = order[count[0] % len(order)]
            count[0] += 1
            if args:
                return (change(layer, args[0]), *args[1:]), kwargs
            name = next(k for k, v in kwargs.items() if isinstance(v, torch.Tensor))
            return args, {**kwargs, name: change(layer, kwargs[name])}
        handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _ids(analysis: Analysis, rows: int, device: torch.device) -> torch.Tensor:
    return torch.tensor(np.asarray(analysis.token_ids, dtype=np.int64))[None].repeat(
        rows, 1).to(device)


@torch.inference_mode()
def _log_probabilities(loaded: Loaded, ids: torch.Tensor, position: int,
                       token_id: int) -> np.ndarray:
    """``log p(token_id)`` at ``position`` for each row of the batch ``ids[row, token]``."""
    encoder = architecture_for(loaded.model).encoder_of(loaded.model)
    hidden = encoder(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
    logits = lm_logits(loaded, hidden[:, position])
    return logits.log_softmax(-1)[:, token_id].numpy()


@torch.inference_mode()
def _source_states(loaded: Loaded, source: Analysis) -> list[torch.Tensor]:
    """A's inputs of each layer's attention output projection: ``contexts[layer][token, dim]``."""
    projections = architecture_for(loaded.model).attention_outputs(loaded.model)
    caught: dict[int, torch.Tensor] = {}

    def keep(layer: int, value: torch.Tensor) -> torch.Tensor:
        caught[layer] = value[0].clone()
        return value
    with _pre_hooks(projections, keep):
        _log_probabilities(loaded, _ids(source, 1, model_device(loaded)), 0, 0)
    return [caught[layer] for layer in range(len(projections))]


def patch_effects(loaded: Loaded, source: Analysis, target: Analysis, position: int,
                  token_id: int) -> PatchEffects:
    """How much each head and each (layer, position) of A moves B's ``log p(token_id)`` at
    ``position``: one batched pass per layer for heads, one per layer for positions."""
    check_patchable(source, target)
    info = loaded.info
    heads, size = info.num_heads, info.hidden_size // info.num_heads
    device = model_device(loaded)
    base = float(_log_probabilities(loaded, _ids(target, 1, device), position, token_id)[0])
    reached = float(_log_probabilities(loaded, _ids(source, 1, device), position, token_id)[0])
    architecture = architecture_for(loaded.model)
    contexts = _source_states(loaded, source)
    head_effects = np.zeros((info.num_layers, heads), dtype=np.float32)
    for layer in range(info.num_layers):
        def swap_head(at: int, value: torch.Tensor, layer=layer) -> torch.Tensor:
            if at != layer:
                return value
            value = value.clone()
            for head in range(heads):
                columns = slice(head * size, (head + 1) * size)
                value[head, :, columns] = contexts[layer][:, columns].to(value.dtype)
            return value
        with _pre_hooks(architecture.attention_outputs(loaded.model), swap_head):
            head_effects[layer] = _log_probabilities(
                loaded, _ids(target, heads, device), position, token_id) - base
    states = [torch.from_numpy(np.array(source.hidden_states[layer]))
              for layer in range(info.num_layers)]
    n = target.num_tokens
    position_effects = np.zeros((info.num_layers, n), dtype=np.float32)
    layers = architecture.layers_of(loaded.model)
    for layer in range(info.num_layers):
        def swap_position(at: int, value: torch.Tensor, layer=layer) -> torch.Tensor:
            if at != layer:
                return value
            value = value.clone()
            rows = torch.arange(n)
            value[rows, rows] = states[layer].to(device=value.device, dtype=value.dtype)
            return value
        with _pre_hooks(layers, swap_position):
            position_effects[layer] = _log_probabilities(
                loaded, _ids(target, n, device), position, token_id) - base
    return PatchEffects(position=position, token_id=token_id, base_log_probability=base,
                        source_log_probability=reached, heads=head_effects,
                        positions=position_effects)


@torch.inference_mode()
def patched_log_probability(loaded: Loaded, source: Analysis, target: Analysis, position: int,
                            token_id: int, layer: int, positions: list[int]) -> float:
    """B's ``log p(token_id)`` at ``position`` with the hidden states entering ``layer`` at
    ``positions`` taken from A (all positions: A's value)."""
    check_patchable(source, target)
    state = torch.from_numpy(np.array(source.hidden_states[layer]))
    chosen = torch.tensor(positions, dtype=torch.long)

    def swap(at: int, value: torch.Tensor) -> torch.Tensor:
        if at != layer:
            return value
        value = value.clone()
        value[:, chosen] = state[chosen].to(device=value.device, dtype=value.dtype)
        return value
    with _pre_hooks(architecture_for(loaded.model).layers_of(loaded.model), swap):
        return float(_log_probabilities(loaded, _ids(target, 1, model_device(loaded)), position,
                                        token_id)[0])
