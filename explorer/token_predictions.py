"""What the model predicts at every position (the graph's tooltips), from the cached analysis:
no new encoder pass, and the masked-LM head runs once per token (no Streamlit here).

:func:`~explorer.analysis.analyze` applies the LM head only at the masks (what the prediction
tables show first). This module applies it to the other tokens' last hidden states, when the
tooltips are first needed, and takes the masks' rows from ``analysis.mask_probabilities``.
"""

from __future__ import annotations

import numpy as np
import torch

from explorer.analysis import Analysis
from explorer.forward import lm_logits
from explorer.model import Loaded

TokenPredictions = tuple[tuple[tuple[str, float], ...], ...]
"""``predictions[token][rank] = (decoded token, probability)``."""

_ROWS_PER_CHUNK = 128  # bounds the logits[token, vocab] held at once (128 × 50 265 floats)


def top_predictions_per_token(loaded: Loaded, analysis: Analysis, top_k: int = 5
                              ) -> TokenPredictions:
    """``result[token]`` = the ``top_k`` (decoded token, probability) pairs at that position.

    Equals the top-k of the full model's logits: those are the LM head of the last hidden state
    (``tests/test_core.py`` checks that against the Hugging Face model).
    """
    n = analysis.num_tokens
    k = max(1, min(int(top_k), loaded.info.vocab_size))
    # top_probs[token, rank], top_ids[token, rank]
    top_probs = np.zeros((n, k), dtype=np.float32)
    top_ids = np.zeros((n, k), dtype=np.int64)
    masks = list(analysis.mask_positions)
    if masks:
        values, indices = torch.from_numpy(np.array(analysis.mask_probabilities)).topk(k, dim=-1)
        top_probs[masks], top_ids[masks] = values.numpy(), indices.numpy()
    others = np.setdiff1d(np.arange(n), np.asarray(masks, dtype=np.int64))
    last = analysis.hidden_states[-1]  # last[token, dim]
    for start in range(0, len(others), _ROWS_PER_CHUNK):
        rows = others[start:start + _ROWS_PER_CHUNK]
        values, indices = lm_logits(loaded, last[rows]).softmax(dim=-1).topk(k, dim=-1)
        top_probs[rows], top_ids[rows] = values.numpy(), indices.numpy()
    decode = loaded.tokenizer.decode
    names = {int(i): decode([int(i)]) for i in np.unique(top_ids)}
    return tuple(
        tuple((names[int(i)], float(p)) for p, i in zip(probs, ids))
        for probs, ids in zip(top_probs.tolist(), top_ids.tolist())
    )
