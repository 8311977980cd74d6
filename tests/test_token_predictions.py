"""Tooltip predictions at every position equal the full model's own top-k."""

from __future__ import annotations

import numpy as np
import torch

from explorer.analysis import analyze
from explorer.token_predictions import top_predictions_per_token


def test_top_predictions_equal_the_models_logits(tiny):
    analysis = analyze(tiny, "The man worked as a <mask> in London.", top_k=4)
    rows = top_predictions_per_token(tiny, analysis, top_k=4)
    assert len(rows) == analysis.num_tokens and all(len(r) == 4 for r in rows)
    with torch.no_grad():
        logits = tiny.model(torch.tensor([analysis.token_ids.tolist()])).logits[0]
    probabilities = logits.softmax(-1)
    values, indices = probabilities.topk(4, dim=-1)
    for position, row in enumerate(rows):
        assert [text for text, _ in row] == [tiny.tokenizer.decode([i])
                                             for i in indices[position].tolist()]
        np.testing.assert_allclose([s for _, s in row], values[position].numpy(), rtol=1e-4)
    mask = analysis.predictions[0]
    assert [text for text, _ in rows[mask.position]] == [p.token_str for p in mask.predictions]
