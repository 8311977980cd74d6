"""The two halves of a masked LM, run separately: the encoder once per text, the masked-LM head
only where it is needed (no Streamlit here).

The Hugging Face model applies its LM head (a ``dim × vocab`` matrix: 50 265 rows for
distilroberta) to every token; the explorer needs it at the masks first, at the other tokens only
for tooltips, and at one token per layer for the logit lens. Splitting the model here lets each
caller pay for exactly that. Inputs go to the model's device and dtype; results come back to the
CPU as float32.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from explorer.architectures import architecture_for
from explorer.model import Loaded


def model_device(loaded: Loaded) -> torch.device:
    return next(loaded.model.parameters()).device


def model_dtype(loaded: Loaded) -> torch.dtype:
    return next(loaded.model.parameters()).dtype


@torch.inference_mode()
def run_encoder(loaded: Loaded, token_ids: np.ndarray, *, attentions: bool = False,
                hidden_states: bool = False, token_type_ids: np.ndarray | None = None) -> Any:
    """The encoder (embeddings + layers, no LM head) on one sequence ``token_ids[token]``.

    Returns the transformers output: ``last_hidden_state[1, token, dim]`` (what the LM head
    reads), and when asked ``attentions`` / ``hidden_states`` tuples, all on the model's device.
    """
    device = model_device(loaded)
    ids = torch.tensor(np.asarray(token_ids, dtype=np.int64))[None, :].to(device)
    encoder = architecture_for(loaded.model).encoder_of(loaded.model)
    extra = {} if token_type_ids is None else {"token_type_ids": torch.tensor(
        np.asarray(token_type_ids, dtype=np.int64))[None, :].to(device)}  # a pair's segment B
    return encoder(input_ids=ids, attention_mask=torch.ones_like(ids),
                   output_attentions=attentions, output_hidden_states=hidden_states,
                   return_dict=True, **extra)


@torch.inference_mode()
def lm_logits(loaded: Loaded, hidden: torch.Tensor | np.ndarray) -> torch.Tensor:
    """``logits[..., vocab]`` (float32, CPU) of last-layer states ``hidden[..., dim]``: the
    model's own masked-LM head, run in the model's dtype on its device."""
    head = architecture_for(loaded.model).head_function(loaded.model)
    states = torch.from_numpy(np.array(hidden)) if isinstance(hidden, np.ndarray) else hidden
    states = states.to(device=model_device(loaded), dtype=model_dtype(loaded))
    return head(states).float().cpu()


@torch.inference_mode()
def lens_logits(loaded: Loaded, hidden_by_layer: np.ndarray) -> torch.Tensor:
    """``logits[layer + 1, vocab]`` (float32, CPU) of ``hidden_by_layer[layer + 1, dim]``
    (index 0 = embeddings): each row through the model's head, the family's final norm applied
    to every row but the last (which the encoder returns already normed)."""
    lens = architecture_for(loaded.model).lens_function(loaded.model)
    states = torch.from_numpy(np.array(hidden_by_layer)).to(device=model_device(loaded),
                                                             dtype=model_dtype(loaded))
    last = states.shape[0] - 1
    rows = [lens(states[: last], False), lens(states[last:], True)] if last else \
        [lens(states, True)]
    return torch.cat(rows).float().cpu()
