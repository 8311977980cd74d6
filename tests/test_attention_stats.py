"""Rollout, flow and head summaries on the tiny model's real attentions."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from explorer.analysis import analyze
from explorer.attention_stats import (
    attention_flow,
    attention_flow_by_layer,
    head_entropy,
    head_summary,
    residual_attention,
    rollout,
)

TEXT = "The man worked as a <mask> in the garden."


@pytest.fixture(scope="module")
def analysis(tiny):
    return analyze(tiny, TEXT)


def test_rollout_rows_sum_to_one_and_follow_the_definition(analysis):
    result = rollout(analysis.attentions)
    layers, _, n, _ = analysis.attentions.shape
    assert result.shape == (layers, n, n)
    np.testing.assert_allclose(result.sum(axis=-1), 1.0, atol=1e-9)
    assert (result >= 0).all()
    mean = analysis.attentions.astype(np.float64).mean(axis=1)
    first = 0.5 * mean[0] + 0.5 * np.eye(n)
    second = 0.5 * mean[1] + 0.5 * np.eye(n)
    np.testing.assert_allclose(result[0], first, atol=1e-9)
    np.testing.assert_allclose(result[1], second @ first, atol=1e-9)


def test_entropy_bounds_and_extremes(analysis):
    entropy = head_entropy(analysis.attentions)
    n = analysis.num_tokens
    assert entropy.shape == (analysis.num_layers, analysis.num_heads)
    assert (entropy >= 0).all() and (entropy <= np.log2(n) + 1e-9).all()
    uniform = np.full((1, 1, n, n), 1.0 / n)
    np.testing.assert_allclose(head_entropy(uniform), np.log2(n))
    one_hot = np.tile(np.eye(n)[None, None], (1, 1, 1, 1))
    np.testing.assert_allclose(head_entropy(one_hot), 0.0)


def test_head_summary_shares(analysis, tiny):
    ids = analysis.token_ids
    start = ids == tiny.tokenizer.cls_token_id
    end = ids == tiny.tokenizer.sep_token_id
    summary = head_summary(analysis.attentions, start, end)
    a = analysis.attentions.astype(np.float64)
    n = analysis.num_tokens
    for name, share in summary.as_dict().items():
        assert share.shape == (analysis.num_layers, analysis.num_heads), name
    np.testing.assert_allclose(summary.to_start, a[..., 0].mean(axis=-1))
    np.testing.assert_allclose(summary.to_end, a[..., n - 1].mean(axis=-1))
    layer, head = 1, 2
    np.testing.assert_allclose(summary.to_self[layer, head],
                               np.mean([a[layer, head, i, i] for i in range(n)]))
    np.testing.assert_allclose(summary.to_previous[layer, head],
                               np.mean([a[layer, head, i, i - 1] for i in range(1, n)]))
    np.testing.assert_allclose(summary.to_next[layer, head],
                               np.mean([a[layer, head, i, i + 1] for i in range(n - 1)]))
    for share in (summary.to_start, summary.to_end, summary.to_self, summary.to_previous,
                  summary.to_next):
        assert (share >= 0).all() and (share <= 1 + 1e-9).all()
    # a head that always looks at the previous token
    previous = np.zeros((1, 1, n, n))
    previous[0, 0, 0, 0] = 1
    previous[0, 0, np.arange(1, n), np.arange(n - 1)] = 1
    np.testing.assert_allclose(head_summary(previous, start, end).to_previous, 1.0)


def _reference_flows(attentions: np.ndarray, query: int) -> np.ndarray:
    """Abnar & Zuidema's ``compute_flows`` rebuilt with networkx: head mean, ``A + I`` with rows
    renormalised, one node per (layer, token), Edmonds-Karp max-flow from the output token to
    each input token, then ``flow /= flow.sum()``."""
    mean = attentions.astype(np.float64).mean(axis=1)
    augmented = mean + np.eye(mean.shape[-1])[None]
    augmented = augmented / augmented.sum(axis=-1, keepdims=True)
    layers, n, _ = augmented.shape
    graph = nx.DiGraph()
    for layer in range(1, layers + 1):
        for q in range(n):
            for k in range(n):
                graph.add_edge((layer, q), (layer - 1, k), capacity=augmented[layer - 1, q, k])
    flows = np.array([
        nx.maximum_flow_value(graph, (layers, query), (0, k),
                              flow_func=nx.algorithms.flow.edmonds_karp)
        for k in range(n)
    ])
    return flows / flows.sum()


def test_flow_equals_the_reference_definition_on_real_attention(analysis):
    query = analysis.mask_positions[0]
    flow = attention_flow(analysis.attentions, query)
    n = analysis.num_tokens
    assert flow.shape == (n,)
    assert (flow >= 0).all() and flow.sum() == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(flow, _reference_flows(analysis.attentions, query), atol=1e-4)


def test_flow_is_normalised_per_output_token_on_a_hand_built_graph():
    """Two tokens, two layers, one head. Layer 1 swaps tokens (A = [[0,1],[1,0]]), so with the
    residual every layer-1 node holds half of each input; in layer 2 token 1 attends to token 0
    (A = [[1,0],[1,0]]), so its residual row is [0.5, 0.5]. From (2, 1) each input is reached
    through (1, 0) and (1, 1): raw max-flow min(.5,.5)+min(.5,.5) = 1 to each input (sum 2);
    normalised 0.5 each, which is also rollout's row."""
    attentions = np.array([[[[0.0, 1.0], [1.0, 0.0]]], [[[1.0, 0.0], [1.0, 0.0]]]])
    np.testing.assert_allclose(attention_flow(attentions, 1, normalise=False), [1.0, 1.0],
                               atol=1e-5)
    flow = attention_flow(attentions, 1)
    np.testing.assert_allclose(flow, [0.5, 0.5], atol=1e-5)
    np.testing.assert_allclose(flow, rollout(attentions)[1, 1], atol=1e-5)
    np.testing.assert_allclose(flow, _reference_flows(attentions, 1), atol=1e-5)
    # token 0 after layer 2 only feeds from (1, 0) (row [1, 0]), which holds half of each input
    np.testing.assert_allclose(attention_flow_by_layer(attentions, 0)[1], [0.5, 0.5], atol=1e-5)


def test_flow_rows_sum_to_one_at_every_layer(analysis):
    by_layer = attention_flow_by_layer(analysis.attentions, 1)
    np.testing.assert_allclose(by_layer.sum(axis=1), 1.0, atol=1e-9)


def test_flow_of_one_layer_is_the_attention_itself(analysis):
    # with one layer the only path from (1, q) to (0, k) is the edge itself
    by_layer = attention_flow_by_layer(analysis.attentions, 2)
    assert by_layer.shape == (analysis.num_layers, analysis.num_tokens)
    np.testing.assert_allclose(by_layer[0], residual_attention(analysis.attentions)[0, 2],
                               atol=1e-5)


def test_flow_refuses_a_missing_token(analysis):
    with pytest.raises(ValueError):
        attention_flow(analysis.attentions, analysis.num_tokens)
