"""Logit lens: what each layer would predict for one token (no Streamlit here).

Each layer's hidden state of one token (``hidden_states[layer + 1, token]`` from an
:class:`~explorer.analysis.Analysis`, index 0 = the embeddings) is passed through the model's own
masked-LM head, as the architecture table names it (for RoBERTa ``lm_head`` = dense → gelu →
layer norm → decoder; ModernBERT's final norm is applied first to every layer but the last), so
the last layer gives exactly the model's own logits. Computed on demand for one token: a few
small matrix products, no encoder pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from explorer.analysis import Analysis
from explorer.architectures import ArchitectureError, architecture_for
from explorer.forward import lens_logits
from explorer.model import Loaded


class LensError(ValueError):
    """The lens cannot be computed; ``str(error)`` is a message fit for a user."""


def lm_head(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The function mapping last-layer hidden states to vocabulary logits, from the
    architecture table (:mod:`explorer.architectures`)."""
    try:
        return architecture_for(model).head_function(model)
    except ArchitectureError as error:
        raise LensError(f"The logit lens does not know the masked-LM head of "
                        f"{type(model).__name__}: {error}") from error


@dataclass(frozen=True)
class LayerLens:
    """Per-layer predictions for the token at ``position``. Arrays are read-only.

    - ``log_probs[layer + 1, vocab]``: log-softmax of the head's logits (0 = embeddings)
    - ``top_ids[layer + 1, k]``, ``top_probs[layer + 1, k]``, ``top_tokens[layer + 1][k]``
    """

    position: int
    log_probs: np.ndarray
    top_ids: np.ndarray
    top_probs: np.ndarray
    top_tokens: tuple[tuple[str, ...], ...]

    @property
    def num_layers(self) -> int:
        """Number of rows: transformer layers + 1 (the embeddings)."""
        return int(self.log_probs.shape[0])

    def rank_of(self, token_id: int) -> np.ndarray:
        """``ranks[layer + 1]``: 1-based rank of ``token_id`` in each layer's prediction."""
        target = self.log_probs[:, token_id][:, None]
        return (self.log_probs > target).sum(axis=1) + 1

    def probability_of(self, token_id: int) -> np.ndarray:
        """``probs[layer + 1]``: each layer's probability of ``token_id``."""
        return np.exp(self.log_probs[:, token_id])


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@torch.inference_mode()
def logit_lens(loaded: Loaded, analysis: Analysis, position: int, top_k: int = 10) -> LayerLens:
    """Top-k predictions of every layer (embeddings included) for the token at ``position``."""
    if not 0 <= position < analysis.num_tokens:
        raise LensError(f"Token {position} does not exist; the text has "
                        f"{analysis.num_tokens} tokens.")
    try:
        # logits[layer + 1, vocab], float32
        logits = lens_logits(loaded, analysis.hidden_states[:, position])
    except ArchitectureError as error:
        raise LensError(str(error)) from error
    log_probs = logits.log_softmax(dim=-1)
    k = max(1, min(int(top_k), log_probs.shape[-1]))
    top_log_probs, top_ids = log_probs.topk(k, dim=-1)
    decode = loaded.tokenizer.decode
    top_tokens = tuple(tuple(decode([i]) for i in row) for row in top_ids.tolist())
    return LayerLens(
        position=int(position),
        log_probs=_readonly(log_probs.numpy()),
        top_ids=_readonly(top_ids.numpy()),
        top_probs=_readonly(top_log_probs.exp().numpy()),
        top_tokens=top_tokens,
    )
