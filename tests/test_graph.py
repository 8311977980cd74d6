"""The data the attention-graph component receives, on the tiny model's real attentions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from explorer.analysis import analyze
from explorer.graph import (
    GraphOptions,
    combine_heads,
    graph_payload,
    head_summaries,
    pack_edges,
    prune_edges,
    unpack_edges,
    visible_tokens,
)

TEXT = "The capital of France is <mask>, and the capital of Italy is Rome."


@pytest.fixture(scope="module")
def analysis(tiny):
    return analyze(tiny, TEXT)


def test_combine_heads_mean_and_sum(analysis):
    attentions = analysis.attentions
    np.testing.assert_allclose(combine_heads(attentions, 1, [0, 2], "mean"),
                               (attentions[1, 0] + attentions[1, 2]) / 2, rtol=1e-6)
    summed = combine_heads(attentions, 1, [2, 0, 2], "sum")  # duplicates count once
    np.testing.assert_allclose(summed, attentions[1, 0] + attentions[1, 2], rtol=1e-6)
    np.testing.assert_allclose(summed.sum(axis=1), 2.0, rtol=1e-5)
    all_heads = combine_heads(attentions, 0, range(analysis.num_heads), "mean")
    np.testing.assert_allclose(all_heads, attentions[0].mean(axis=0), rtol=1e-6)
    assert not combine_heads(attentions, 0, [], "mean").any()


@pytest.mark.parametrize("bad", [
    {"layer": 5, "heads": [0]}, {"layer": 0, "heads": [9]}, {"layer": 0, "heads": [0],
                                                             "how": "max"}])
def test_combine_heads_rejects_bad_choices(analysis, bad):
    with pytest.raises(ValueError):
        combine_heads(analysis.attentions, **bad)


def _kept_share(matrix, edges, visible):
    sub = matrix[np.ix_(visible, visible)]
    kept = np.zeros_like(matrix)
    kept[edges.query, edges.key] = edges.weight
    return kept[np.ix_(visible, visible)].sum(axis=1) / sub.sum(axis=1)


@pytest.mark.parametrize("threshold", [0.1, 0.5, 0.7, 0.9])
def test_pruning_keeps_the_smallest_strongest_set_reaching_the_share(analysis, threshold):
    matrix = combine_heads(analysis.attentions, 1, range(analysis.num_heads), "mean")
    visible = np.arange(analysis.num_tokens)
    edges = prune_edges(matrix, threshold, visible, max_edges_per_token=None)
    np.testing.assert_allclose(edges.weight, matrix[edges.query, edges.key])
    assert (_kept_share(matrix, edges, visible) >= threshold - 1e-6).all()
    for query in range(analysis.num_tokens):
        kept = edges.weight[edges.query == query]
        dropped = np.delete(matrix[query], edges.key[edges.query == query])
        assert kept.min() >= dropped.max()  # strongest first
        # without its weakest edge the row would fall short: nothing kept needlessly
        assert kept.sum() - kept.min() < threshold * matrix[query].sum() + 1e-6


def test_full_threshold_keeps_every_edge_and_cap_bounds_count(analysis):
    matrix = combine_heads(analysis.attentions, 0, [1], "sum")
    n = analysis.num_tokens
    assert len(prune_edges(matrix, 1.0, max_edges_per_token=None)) == n * n
    capped = prune_edges(matrix, 1.0, max_edges_per_token=3)
    assert len(capped) == 3 * n and capped.capped_tokens == n
    assert np.bincount(capped.query, minlength=n).max() == 3
    assert len(prune_edges(matrix, 0.0)) == 0


def test_hide_special_drops_special_tokens_and_renormalises_mass(analysis):
    matrix = combine_heads(analysis.attentions, 1, [0, 1, 2, 3], "mean")
    visible = visible_tokens(analysis.special_mask, hide_special=True)
    assert analysis.special_mask.sum() == 2
    assert visible.tolist() == list(range(1, analysis.num_tokens - 1))
    edges = prune_edges(matrix, 0.7, visible, max_edges_per_token=None)
    specials = {0, analysis.num_tokens - 1}
    assert not specials & set(edges.query.tolist()) and not specials & set(edges.key.tolist())
    assert (_kept_share(matrix, edges, visible) >= 0.7 - 1e-6).all()
    assert visible_tokens(analysis.special_mask, False).tolist() == list(range(analysis.num_tokens))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.floats(0.05, 1.0), st.integers(0, 2**31 - 1))
def test_pruning_properties_on_random_attention(n, threshold, seed):
    rng = np.random.default_rng(seed)
    matrix = rng.dirichlet(np.full(n, 0.3), size=n).astype(np.float32)
    edges = prune_edges(matrix, threshold, max_edges_per_token=None)
    assert set(edges.query.tolist()) <= set(range(n))
    share = _kept_share(matrix, edges, np.arange(n))
    assert (share >= threshold - 1e-5).all()
    pairs = set(zip(edges.query.tolist(), edges.key.tolist()))
    assert len(pairs) == len(edges)  # no duplicate edges


def test_packing_round_trip(analysis):
    matrix = combine_heads(analysis.attentions, 1, [0, 3], "sum")
    edges = prune_edges(matrix, 0.8)
    scale = float(edges.weight.max())
    query, key, weight = unpack_edges(pack_edges(edges, scale), scale)
    assert query.tolist() == edges.query.tolist() and key.tolist() == edges.key.tolist()
    np.testing.assert_allclose(weight, edges.weight, atol=scale / 65535)
    assert len(pack_edges(edges, scale)) == 8 * len(edges)  # 6 bytes → 8 base64 chars


def test_head_summaries_match_the_rows_and_columns(analysis):
    token, layer = 6, 1
    visible = np.arange(analysis.num_tokens)
    summaries = head_summaries(analysis.attentions, layer, token, visible, top=3)
    assert [s.head for s in summaries] == list(range(analysis.num_heads))
    for summary in summaries:
        matrix = analysis.attentions[layer, summary.head]
        assert summary.attends_to[0][0] == int(np.argmax(matrix[token]))
        assert summary.attended_by[0][0] == int(np.argmax(matrix[:, token]))
        assert summary.attends_to[0][1] == pytest.approx(float(matrix[token].max()))
        assert [w for _, w in summary.attends_to] == sorted(
            (w for _, w in summary.attends_to), reverse=True)
        assert summary.self_weight == pytest.approx(float(matrix[token, token]))


def test_payload_holds_only_the_selected_layer_heads_and_kept_edges(analysis):
    predictions = [[("x", 0.5)]] * analysis.num_tokens
    options = GraphOptions(layer=1, heads=(2, 0), combine="sum", threshold=0.5,
                           hide_special=True, selected=4, selected_side="right")
    payload = graph_payload(analysis.attentions, analysis.labels, analysis.special_mask,
                            analysis.mask_positions, options, predictions)
    assert payload["heads"] == [0, 2] and payload["layer"] == 1
    assert [t["i"] for t in payload["tokens"]] == list(range(1, analysis.num_tokens - 1))
    assert [t["t"] for t in payload["tokens"]] == list(analysis.labels[1:-1])
    mask = analysis.mask_positions[0]
    assert next(t for t in payload["tokens"] if t.get("m"))["i"] == mask
    expected = prune_edges(combine_heads(analysis.attentions, 1, [0, 2], "sum"), 0.5,
                           np.arange(1, analysis.num_tokens - 1))
    assert payload["edge_count"] == len(expected)
    query, key, _ = unpack_edges(payload["edges"], payload["scale"])
    assert query.tolist() == expected.query.tolist() and key.tolist() == expected.key.tolist()
    assert payload["selected"] == 4 and payload["selected_side"] == "right"
    assert len(payload["summaries"]) == analysis.num_heads
    hidden = GraphOptions(layer=1, heads=(0,), hide_special=True, selected=0)
    assert graph_payload(analysis.attentions, analysis.labels, analysis.special_mask, (),
                         hidden)["selected"] is None  # a hidden token cannot stay selected
