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

from explorer import devices
from explorer.architectures import architecture_for
from explorer.model import Loaded


def model_device(loaded: Loaded) -> torch.device:
    return devices.model_device(loaded.model)


def model_dtype(loaded: Loaded) -> torch.dtype:
    return next(loaded.model.parameters()).dtype


@torch.inference_mode()
def run_encoder(loaded: Loaded, token_ids: np.ndarray, *, attentions: bool = False,
                hidden_states: bool = False, token_type_ids: np.ndarray | None = None) -> Any:
    """The encoder (embeddings + layers, no LM head) on one sequence ``token_ids[token]``.

    Returns the transformers output: ``last_hidden_state[1, token, dim]`` (what the LM head
    reads), and when asked ``attentions`` / ``hidden_states`` tuples, all on the model's device.
    """
    encoder = architecture_for(loaded.model).encoder_of(loaded.model)
    return encoder(**sequence_inputs(loaded, token_ids, token_type_ids),
                   output_attentions=attentions, output_hidden_states=hidden_states,
                   return_dict=True)


def sequence_inputs(loaded: Loaded, token_ids: np.ndarray,
                    token_type_ids: np.ndarray | None = None, batch: int = 1
                    ) -> dict[str, torch.Tensor]:
    """``input_ids[batch, token]``, ``attention_mask`` and (a BERT pair's) ``token_type_ids``
    of one sequence repeated ``batch`` times, on the model's device: every re-run of one text
    (analysis, ablation, attribution, timing) reads its inputs from here, so a pair keeps its
    token types (take both from the Analysis: :meth:`~explorer.analysis.Analysis.model_inputs`).
    """
    ids = torch.tensor(np.asarray(token_ids, dtype=np.int64))[None, :].repeat(batch, 1)
    types = None if token_type_ids is None else torch.tensor(
        np.asarray(token_type_ids, dtype=np.int64))[None, :].repeat(batch, 1)
    return devices.inputs_on_device(loaded.model, input_ids=ids,
                                    attention_mask=torch.ones_like(ids), token_type_ids=types)


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
