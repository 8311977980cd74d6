"""Numbers derived from an :class:`~explorer.analysis.Analysis` (numpy only, no model calls)."""

from __future__ import annotations

import numpy as np

from explorer.analysis import Analysis


def hidden_state_norms(analysis: Analysis) -> np.ndarray:
    """``norms[layer + 1, token]``: the L2 norm of each token's hidden state at each layer."""
    return np.linalg.norm(analysis.hidden_states, axis=-1)
