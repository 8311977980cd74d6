"""What heads write (explorer/head_writes.py) and patching between two inputs
(explorer/patching.py), against the model's own modules caught by hooks and a layer computed by
hand from its weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.analysis import analyze
from explorer.architectures import architecture_for
from explorer.head_writes import layer_writes
from explorer.model import Loaded, load
from explorer.patching import PatchError, patch_effects, patched_log_probability
from explorer.tiny import build_tiny_family

TEXT_A = "The man worked as a <mask>."
TEXT_B = "The cat worked as a <mask>."


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Loaded]:
    return {family: load(str(build_tiny_family(tmp_path_factory.mktemp(family), family)))
            for family in ("roberta", "bert", "distilbert", "albert")}


def _pair(loaded: Loaded):
    a, b = analyze(loaded, TEXT_A), analyze(loaded, TEXT_B)
    if a.num_tokens != b.num_tokens:
        pytest.skip("the tiny tokenizer splits the two words differently")
    return a, b


@pytest.mark.parametrize("family", ["roberta", "bert", "distilbert"])
def test_head_writes_plus_bias_equal_the_attention_output_caught_by_a_hook(models, family):
    loaded = models[family]
    analysis = analyze(loaded, TEXT_A)
    projections = architecture_for(loaded.model).attention_outputs(loaded.model)
    caught = []
    handle = projections[1].register_forward_hook(
        lambda module, args, output: caught.append(output[0].detach()))
    with torch.no_grad():
        loaded.model(input_ids=torch.tensor(analysis.token_ids)[None])
    handle.remove()
    token = analysis.mask_positions[0]
    writes = layer_writes(loaded, analysis, 1, token)
    assert writes.heads.shape == (analysis.num_heads, loaded.info.hidden_size)
    np.testing.assert_allclose(writes.heads.sum(0) + writes.attention_bias,
                               caught[0][token].numpy(), atol=2e-5)
    assert len(writes.head_readings) == analysis.num_heads
    assert len(writes.ffn_reading.promoted) == 5


def test_the_feed_forward_write_equals_the_blocks_output_projection(models):
    loaded = models["bert"]
    analysis = analyze(loaded, TEXT_A)
    block = loaded.model.bert.encoder.layer[0]
    caught = []
    handle = block.output.dense.register_forward_hook(
        lambda module, args, output: caught.append(output[0].detach()))
    with torch.no_grad():
        loaded.model(input_ids=torch.tensor(analysis.token_ids)[None])
    handle.remove()
    writes = layer_writes(loaded, analysis, 0, 2)
    np.testing.assert_allclose(writes.ffn, caught[0][2].numpy(), atol=2e-5)
    # what the write promotes is what the model's own head reads in it
    logits = loaded.model.cls(torch.tensor(writes.ffn)[None])[0]
    top = loaded.tokenizer.decode([int(logits.argmax())])
    assert writes.ffn_reading.promoted[0][0] == top


@pytest.mark.parametrize("family", ["roberta", "albert"])
def test_patching_nothing_is_b_and_every_position_is_a(models, family):
    loaded = models[family]
    a, b = _pair(loaded)
    position = b.mask_positions[0]
    token_id = a.predictions[0].predictions[0].token_id
    effects = patch_effects(loaded, a, b, position, token_id)
    assert effects.heads.shape == (b.num_layers, b.num_heads)
    assert effects.positions.shape == (b.num_layers, b.num_tokens)
    a_value = float(np.log(a.mask_probabilities[0, token_id]))
    b_value = float(np.log(b.mask_probabilities[0, token_id]))
    assert effects.base_log_probability == pytest.approx(b_value, abs=1e-4)
    assert effects.source_log_probability == pytest.approx(a_value, abs=1e-4)
    everything = list(range(b.num_tokens))
    for layer in range(b.num_layers):
        assert patched_log_probability(loaded, a, b, position, token_id, layer, everything) == \
            pytest.approx(a_value, abs=1e-4)
        assert patched_log_probability(loaded, a, b, position, token_id, layer, []) == \
            pytest.approx(b_value, abs=1e-4)
    # positions where A and B hold the same token at the embeddings change nothing there
    same = np.flatnonzero(a.token_ids == b.token_ids)
    np.testing.assert_allclose(effects.positions[0, same], 0.0, atol=1e-4)
    assert np.abs(effects.positions[0]).max() > 0  # the changed word matters


def test_one_patched_head_equals_a_layer_computed_by_hand(models):
    """Reference: BERT's layer written out from its weights, head 0's context replaced by A's."""
    loaded = models["bert"]
    a, b = _pair(loaded)
    position = b.mask_positions[0]
    token_id = int(b.predictions[0].predictions[0].token_id)
    effects = patch_effects(loaded, a, b, position, token_id)
    layer, head = 1, 0
    bert = loaded.model.bert
    heads = loaded.info.num_heads
    size = loaded.info.hidden_size // heads

    def context(block, x):
        attention = block.attention.self
        q = attention.query(x).view(-1, heads, size).transpose(0, 1)
        k = attention.key(x).view(-1, heads, size).transpose(0, 1)
        v = attention.value(x).view(-1, heads, size).transpose(0, 1)
        weights = torch.softmax(q @ k.transpose(1, 2) / size ** 0.5, dim=-1)
        return (weights @ v).transpose(0, 1).reshape(x.shape[0], -1)

    def finish(block, x, ctx):
        h = block.attention.output.LayerNorm(block.attention.output.dense(ctx) + x)
        return block.output.LayerNorm(block.output.dense(block.intermediate(h)) + h)

    with torch.no_grad():
        x_a = torch.tensor(np.array(a.hidden_states[layer]))
        x = torch.tensor(np.array(b.hidden_states[layer]))
        block = bert.encoder.layer[layer]
        ctx = context(block, x)
        ctx[:, head * size:(head + 1) * size] = context(block, x_a)[:, head * size:(head + 1) *
                                                                    size]
        x = finish(block, x, ctx)
        for later in bert.encoder.layer[layer + 1:]:
            x = finish(later, x, context(later, x))
        logits = loaded.model.cls(x[None])[0, position]
    expected = float(logits.log_softmax(-1)[token_id]) - effects.base_log_probability
    assert effects.heads[layer, head] == pytest.approx(expected, abs=1e-4)


def test_inputs_of_other_lengths_are_refused(models):
    loaded = models["roberta"]
    with pytest.raises(PatchError, match="same length"):
        patch_effects(loaded, analyze(loaded, "A <mask>."),
                      analyze(loaded, "A much longer text with a <mask> in it."), 2, 5)
