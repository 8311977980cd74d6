"""What the model predicts at every position (the graph's tooltips), from the cached hidden
states: the LM head applied to the last layer, no new forward pass (no Streamlit here)."""

from __future__ import annotations

import torch

from explorer.analysis import Analysis
from explorer.model import Loaded


@torch.inference_mode()
def top_predictions_per_token(
    loaded: Loaded, analysis: Analysis, top_k: int = 5
) -> tuple[tuple[tuple[str, float], ...], ...]:
    """``result[token]`` = the ``top_k`` (decoded token, probability) pairs at that position.

    Equals the top-k of the full model's logits, since those are the LM head of the last hidden
    state (``tests/test_core.py`` checks that).
    """
    # RoBERTa-family models call their MLM head lm_head, BERT-family ones cls.
    lm_head = getattr(loaded.model, "lm_head", None) or getattr(loaded.model, "cls", None)
    if lm_head is None:
        raise ValueError(f"{type(loaded.model).__name__} has no masked-LM head (lm_head/cls)")
    last = torch.from_numpy(analysis.hidden_states[-1].copy())
    probabilities = lm_head(last).float().softmax(dim=-1)
    k = max(1, min(int(top_k), probabilities.shape[-1]))
    values, indices = probabilities.topk(k, dim=-1)
    decode = loaded.tokenizer.decode
    return tuple(
        tuple((decode([token_id]), float(score)) for score, token_id in zip(row_v, row_i))
        for row_v, row_i in zip(values.tolist(), indices.tolist())
    )
