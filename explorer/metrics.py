"""Numbers derived from an :class:`~explorer.analysis.Analysis` (numpy only, no model calls)."""

from __future__ import annotations

import numpy as np

from explorer.analysis import Analysis


def hidden_state_norms(analysis: Analysis) -> np.ndarray:
    """``norms[layer + 1, token]``: the L2 norm of each token's hidden state at each layer."""
    return np.linalg.norm(analysis.hidden_states, axis=-1)


def head_average(analysis: Analysis, layer: int, heads: list[int] | None = None) -> np.ndarray:
    """``attention[query, key]`` averaged over ``heads`` (all heads when None) of one layer."""
    selected = analysis.attentions[layer] if heads is None else analysis.attentions[layer, heads]
    return selected.mean(axis=0)
