"""Head ablation on the tiny model: the ablated head's output is gone, nothing else changes."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from explorer.ablation import (
    AblationError,
    ablated_logits,
    ablated_predictions,
    attention_output_projection,
    heads_switched_off,
)
from explorer.analysis import analyze

TEXT = "The man worked as a <mask> in the garden."


def _capture(tiny, layer, ids, heads):
    """Input and output of ``layer``'s attention output projection, plus model outputs."""
    seen = {}
    projection = attention_output_projection(tiny.model, layer)

    def keep(module, args, output):
        seen["context"], seen["output"] = args[0].clone(), output.clone()

    handle = projection.register_forward_hook(keep)
    try:
        with torch.no_grad(), heads_switched_off(tiny, heads):
            output = tiny.model(torch.tensor([ids]), output_attentions=True,
                                output_hidden_states=True)
    finally:
        handle.remove()
    return seen, output


def test_ablating_a_head_removes_exactly_that_heads_output(tiny):
    ids = analyze(tiny, TEXT).token_ids.tolist()
    layer, head = 1, 2
    size = tiny.info.hidden_size // tiny.info.num_heads
    plain, plain_out = _capture(tiny, layer, ids, [])
    ablated, ablated_out = _capture(tiny, layer, ids, [(layer, head)])
    head_slice = slice(head * size, (head + 1) * size)
    # the head's context is zero, the other heads' context is untouched
    assert plain["context"][..., head_slice].abs().sum() > 0
    assert (ablated["context"][..., head_slice] == 0).all()
    others = torch.ones(tiny.info.hidden_size, dtype=torch.bool)
    others[head_slice] = False
    torch.testing.assert_close(ablated["context"][..., others], plain["context"][..., others])
    # the layer's attention output loses exactly that head's term W_h · context_h
    weight = attention_output_projection(tiny.model, layer).weight
    head_term = plain["context"][..., head_slice] @ weight[:, head_slice].T
    torch.testing.assert_close(ablated["output"], plain["output"] - head_term,
                               atol=1e-5, rtol=1e-5)
    # earlier layers and this layer's attention weights are unchanged; the result changes
    for index in range(layer + 1):
        torch.testing.assert_close(ablated_out.hidden_states[index],
                                   plain_out.hidden_states[index])
    torch.testing.assert_close(ablated_out.attentions[layer], plain_out.attentions[layer])
    assert not torch.allclose(ablated_out.hidden_states[-1], plain_out.hidden_states[-1])
    assert not torch.allclose(ablated_out.logits, plain_out.logits)


def test_ablating_none_changes_nothing(tiny):
    analysis = analyze(tiny, TEXT, top_k=10)
    predictions = ablated_predictions(tiny, analysis.token_ids, [], top_k=10)
    assert predictions == analysis.predictions
    with torch.no_grad():
        logits = tiny.model(torch.tensor([analysis.token_ids.tolist()])).logits[0]
    assert torch.equal(ablated_logits(tiny, analysis.token_ids, []), logits)


def test_ablating_heads_changes_the_predictions_and_hooks_are_removed(tiny):
    analysis = analyze(tiny, TEXT, top_k=10)
    every_head = [(layer, head) for layer in range(tiny.info.num_layers)
                  for head in range(tiny.info.num_heads)]
    predictions = ablated_predictions(tiny, analysis.token_ids, every_head, top_k=10)
    assert len(predictions) == 1 and len(predictions[0].predictions) == 10
    before = [(p.token_id, p.score) for p in analysis.predictions[0].predictions]
    after = [(p.token_id, p.score) for p in predictions[0].predictions]
    assert before != after
    assert sum(p.score for p in predictions[0].predictions) <= 1 + 1e-6
    # after the block the model is the plain model again
    assert analyze(tiny, TEXT, top_k=10).predictions == analysis.predictions
    for layer in range(tiny.info.num_layers):
        assert not attention_output_projection(tiny.model, layer)._forward_pre_hooks


def test_hooks_do_not_touch_other_threads(tiny):
    analysis = analyze(tiny, TEXT)
    with torch.no_grad():
        plain = tiny.model(torch.tensor([analysis.token_ids.tolist()])).logits
    results = {}

    def other_thread():
        with torch.no_grad():
            results["logits"] = tiny.model(torch.tensor([analysis.token_ids.tolist()])).logits

    with heads_switched_off(tiny, [(0, 0), (1, 1)]):
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
    assert torch.equal(results["logits"], plain)


@pytest.mark.parametrize("heads", [[(2, 0)], [(0, 4)], [(-1, 0)]])
def test_out_of_range_heads_are_refused(tiny, heads):
    with pytest.raises(AblationError, match="There is no layer"):
        ablated_predictions(tiny, np.array([0, 5, 2]), heads, top_k=3)
