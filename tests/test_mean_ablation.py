"""Mean-ablation (a head's context vectors replaced by their mean over the input's positions)
against the textbook formula at the first ablated layer, whose input ablation cannot change:
``out = W_O · context' + b`` with the head's columns of ``context'`` set to their mean."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.ablation import AblationError, ablated_logits, heads_switched_off
from explorer.analysis import analyze
from explorer.architectures import architecture_for

TEXT = "The capital of France is <mask>, and the capital of Spain is Madrid."


def _projection_io(loaded, token_ids, heads=(), mode="zero"):
    """(input, output) of layer 0's attention output projection in one pass."""
    projection = architecture_for(loaded.model).attention_outputs(loaded.model)[0]
    seen = {}
    handle = projection.register_forward_hook(
        lambda module, args, out: seen.update(x=args[0].detach().clone(), y=out.detach().clone()))
    try:
        with heads_switched_off(loaded, heads, mode):
            ablated_logits(loaded, token_ids, [])
    finally:
        handle.remove()
    return seen["x"][0], seen["y"][0]


@pytest.mark.parametrize("head", [0, 3])
def test_mean_ablation_matches_the_formula(tiny, head):
    analysis = analyze(tiny, TEXT)
    context, _ = _projection_io(tiny, analysis.token_ids)
    projection = architecture_for(tiny.model).attention_outputs(tiny.model)[0]
    size = tiny.info.hidden_size // tiny.info.num_heads
    columns = slice(head * size, (head + 1) * size)
    expected_context = context.clone()
    expected_context[:, columns] = context[:, columns].mean(dim=0)  # mean over positions
    expected = expected_context @ projection.weight.T + projection.bias
    _, ablated = _projection_io(tiny, analysis.token_ids, [(0, head)], "mean")
    torch.testing.assert_close(ablated, expected, atol=1e-5, rtol=1e-5)
    # zero-ablation is another thing: the head's columns are zero, not their mean
    _, zeroed = _projection_io(tiny, analysis.token_ids, [(0, head)], "zero")
    zero_context = context.clone()
    zero_context[:, columns] = 0
    torch.testing.assert_close(zeroed, zero_context @ projection.weight.T + projection.bias,
                               atol=1e-5, rtol=1e-5)
    assert not torch.allclose(zeroed, ablated, atol=1e-4)


def test_mean_ablation_of_no_head_changes_nothing_and_of_every_head_differs_from_zero(tiny):
    analysis = analyze(tiny, TEXT)
    plain = ablated_logits(tiny, analysis.token_ids, [])
    np.testing.assert_allclose(ablated_logits(tiny, analysis.token_ids, [], mode="mean"), plain,
                               atol=1e-6)
    every = [(layer, head) for layer in range(tiny.info.num_layers)
             for head in range(tiny.info.num_heads)]
    mean = ablated_logits(tiny, analysis.token_ids, every, mode="mean")
    zero = ablated_logits(tiny, analysis.token_ids, every, mode="zero")
    assert not torch.allclose(mean, zero, atol=1e-4)


def test_an_unknown_mode_is_refused(tiny):
    with pytest.raises(AblationError, match="zero, mean"), heads_switched_off(tiny, [], "one"):
        pass
