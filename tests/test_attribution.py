"""Attribution (explorer.attribution) on the tiny RoBERTa and BERT models, against independent
references: the model's own fill-mask probabilities, closed-form integrals of toy functions,
and value-weighted attention recomputed here from the model's own weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.analysis import analyze
from explorer.attribution import (
    BASELINES,
    attribute,
    gradient_times_input_core,
    integrated_gradients,
    layer_value_weighted_attention,
    log_probability_function,
    norm_rollout,
    value_weighted_attention,
)
from explorer.model import load
from explorer.tiny import build_tiny_bert_model, build_tiny_model_sharing_tokenizer

TEXT = "The man worked as a <mask> in the garden."
COMPLETENESS_TOLERANCE = 1e-3
"""Stated tolerance: |Σ IG scores − (f(x) − f(x'))| ≤ 1e-3 · |f(x) − f(x')| + 1e-5 at 32 steps."""


def _complete(result) -> bool:
    return abs(result.completeness_error) <= (
        COMPLETENESS_TOLERANCE * abs(result.completeness_gap) + 1e-5)


@pytest.fixture(scope="module")
def tiny(tiny_model_dir, tmp_path_factory):
    """A tiny RoBERTa whose prediction depends strongly on its input (weights drawn with
    std 0.3: at the usual 0.02 a random model predicts nearly uniformly, whatever the text,
    and every attribution would be close to 0)."""
    folder = build_tiny_model_sharing_tokenizer(
        tmp_path_factory.mktemp("sensitive"), tiny_model_dir, layers=2, initializer_range=0.3)
    return load(str(folder))


@pytest.fixture(scope="module")
def analysis(tiny):
    return analyze(tiny, TEXT, top_k=5)


@pytest.fixture(scope="module")
def candidates(analysis):
    top = analysis.predictions[0].predictions
    return top[0].token_id, top[1].token_id


def test_the_attributed_function_is_the_models_log_probability(tiny, analysis, candidates):
    position = analysis.mask_positions[0]
    function = log_probability_function(tiny, analysis.token_ids, position, candidates[0])
    embeddings = tiny.model.get_input_embeddings()(torch.tensor(analysis.token_ids))[None]
    with torch.no_grad():
        value = float(function(embeddings)[0])
    expected = np.log(analysis.mask_probabilities[0, candidates[0]])
    assert value == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("baseline", BASELINES)
def test_integrated_gradients_meet_completeness(tiny, analysis, candidates, baseline):
    position = analysis.mask_positions[0]
    result = attribute(tiny, analysis.token_ids, position, candidates[0], baseline=baseline,
                       steps=32, batch_size=8)
    assert result.scores.shape == (analysis.num_tokens,)
    gap = result.value - result.baseline_value
    assert abs(gap) > 0.05  # the baseline really changes the prediction
    assert result.scores.sum() - gap == pytest.approx(result.completeness_error, abs=1e-5)
    assert _complete(result)
    # special tokens keep their embedding in the baseline: exactly no attribution
    special = np.isin(analysis.token_ids, tiny.tokenizer.all_special_ids)
    assert np.all(result.scores[special] == 0)
    assert np.any(result.scores[~special] != 0)


def test_too_few_steps_miss_completeness(tiny, analysis, candidates):
    """The check can fail: a 2-point integral of this non-linear model is visibly off."""
    coarse = attribute(tiny, analysis.token_ids, analysis.mask_positions[0], candidates[0],
                       steps=2)
    assert not _complete(coarse)


def test_progress_is_reported(tiny, analysis, candidates):
    calls = []
    attribute(tiny, analysis.token_ids, analysis.mask_positions[0], candidates[0], steps=5,
              batch_size=2, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 5), (2, 5), (4, 5), (5, 5)]


def test_integrated_gradients_equal_gradient_times_input_for_a_linear_function():
    generator = torch.Generator().manual_seed(0)
    weights = torch.randn(7, 5, generator=generator)
    inputs = torch.randn(7, 5, generator=generator)

    def linear(points: torch.Tensor) -> torch.Tensor:  # [batch, 7, 5] -> [batch]
        return (points * weights).sum(dim=(1, 2)) + 3.0

    integral = integrated_gradients(linear, inputs, torch.zeros_like(inputs), steps=4,
                                    batch_size=3)
    product, value = gradient_times_input_core(linear, inputs)
    torch.testing.assert_close(integral.attributions, product)
    torch.testing.assert_close(product, inputs * weights)  # the closed form
    assert value == pytest.approx(float((inputs * weights).sum()) + 3.0, abs=1e-4)
    assert integral.completeness_error == pytest.approx(0.0, abs=1e-4)


def test_integrated_gradients_of_a_quadratic_match_the_closed_form():
    # f(x) = Σ x², path from x' to x: attribution (x − x')·(x + x') = x² − x'² (exact with
    # Gauss–Legendre for any steps ≥ 1, since the integrand is linear in α).
    inputs, baseline = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([0.5, 1.0, 0.0])
    result = integrated_gradients(lambda p: (p ** 2).sum(dim=1), inputs, baseline, steps=2)
    torch.testing.assert_close(result.attributions, inputs ** 2 - baseline ** 2)


@pytest.mark.parametrize("method", ["gradient_x_input", "integrated_gradients"])
def test_contrastive_attribution_is_the_difference_of_the_two(tiny, analysis, candidates, method):
    position = analysis.mask_positions[0]
    target, foil = candidates
    kwargs = dict(method=method, steps=8, batch_size=8)
    single_target = attribute(tiny, analysis.token_ids, position, target, **kwargs)
    single_foil = attribute(tiny, analysis.token_ids, position, foil, **kwargs)
    contrast = attribute(tiny, analysis.token_ids, position, target, contrast_id=foil, **kwargs)
    np.testing.assert_allclose(contrast.scores, single_target.scores - single_foil.scores,
                               atol=1e-5)
    assert contrast.value == pytest.approx(single_target.value - single_foil.value, abs=1e-5)
    assert contrast.contrast_id == foil


def _layer_inputs_and_weights(loaded, token_ids):
    """The model's own layer inputs and attention weights, from a plain forward pass."""
    with torch.no_grad():
        output = loaded.model(input_ids=torch.tensor(token_ids)[None],
                              output_hidden_states=True, output_attentions=True)
    return ([h[0].numpy() for h in output.hidden_states],
            [a[0].numpy() for a in output.attentions])


def test_value_weighted_attention_equals_a_direct_computation(tiny, analysis):
    hidden, attentions = _layer_inputs_and_weights(tiny, analysis.token_ids)
    weighted = value_weighted_attention(tiny, analysis.attentions, analysis.hidden_states)
    combined = layer_value_weighted_attention(tiny, analysis.attentions, analysis.hidden_states,
                                              query_chunk=3)
    heads = tiny.info.num_heads
    n = analysis.num_tokens
    assert weighted.shape == (tiny.info.num_layers, heads, n, n)
    for layer, block in enumerate(tiny.model.roberta.encoder.layer):
        w_v = block.attention.self.value.weight.detach().numpy()  # [out, in]
        b_v = block.attention.self.value.bias.detach().numpy()
        w_o = block.attention.output.dense.weight.detach().numpy()
        size = w_v.shape[0] // heads
        x = hidden[layer]
        expected = np.zeros((heads, n, n))
        expected_sum = np.zeros((n, n, w_o.shape[0]))
        for h in range(heads):
            part = slice(h * size, (h + 1) * size)
            for j in range(n):
                value = x[j] @ w_v[part].T + b_v[part]
                moved = value @ w_o[:, part].T
                for i in range(n):
                    expected[h, i, j] = np.linalg.norm(attentions[layer][h, i, j] * moved)
                    expected_sum[i, j] += attentions[layer][h, i, j] * moved
        np.testing.assert_allclose(weighted[layer], expected, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(combined[layer], np.linalg.norm(expected_sum, axis=-1),
                                   rtol=1e-4, atol=1e-5)


def test_the_decomposition_adds_up_to_the_attention_output(tiny, analysis):
    """Σ_j Σ_h α f_h(x_j) + b_O is what the attention output projection returns."""
    captured = []
    dense = tiny.model.roberta.encoder.layer[0].attention.output.dense
    handle = dense.register_forward_hook(lambda _m, _i, out: captured.append(out[0].detach()))
    try:
        with torch.no_grad():
            tiny.model(input_ids=torch.tensor(analysis.token_ids)[None])
    finally:
        handle.remove()
    hidden, attentions = _layer_inputs_and_weights(tiny, analysis.token_ids)
    block = tiny.model.roberta.encoder.layer[0].attention
    w_v, b_v = block.self.value.weight.detach().numpy(), block.self.value.bias.detach().numpy()
    w_o, b_o = block.output.dense.weight.detach().numpy(), block.output.dense.bias.detach().numpy()
    values = hidden[0] @ w_v.T + b_v
    heads = tiny.info.num_heads
    size = values.shape[1] // heads
    context = np.concatenate([attentions[0][h] @ values[:, h * size:(h + 1) * size]
                              for h in range(heads)], axis=1)
    np.testing.assert_allclose(captured[0].numpy(), context @ w_o.T + b_o, atol=1e-5)


def test_norm_rollout_rows_sum_to_one(tiny, analysis):
    combined = layer_value_weighted_attention(tiny, analysis.attentions, analysis.hidden_states)
    rolled = norm_rollout(combined)
    assert rolled.shape == combined.shape
    np.testing.assert_allclose(rolled.sum(axis=-1), 1.0, atol=1e-9)
    assert np.all(rolled >= 0)


def test_bert_family_attribution_and_value_norms(tmp_path_factory):
    bert = load(str(build_tiny_bert_model(tmp_path_factory.mktemp("tiny-bert"))))
    result = analyze(bert, "the man worked as a [MASK] in the garden .")
    position = result.mask_positions[0]
    target = result.predictions[0].predictions[0].token_id
    attribution = attribute(bert, result.token_ids, position, target, steps=16)
    assert _complete(attribution)
    assert attribution.value == pytest.approx(np.log(result.mask_probabilities[0, target]),
                                              abs=1e-4)
    weighted = value_weighted_attention(bert, result.attentions, result.hidden_states)
    assert weighted.shape == result.attentions.shape
    assert np.all(weighted >= 0)
