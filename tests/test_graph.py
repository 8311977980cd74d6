"""The data the attention-graph component receives, on the tiny model's real attentions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from explorer.analysis import analyze
from explorer.graph import (
    PACK_MASS,
    WEIGHT_LEVELS,
    combine_heads,
    file_id,
    graph_file,
    head_summaries,
    pack_attention,
    prune_edges,
    read_graph_file,
    visible_tokens,
)

TEXT = "The capital of France is <mask>, and the capital of Italy is Rome."


@pytest.fixture(scope="module")
def analysis(tiny):
    return analyze(tiny, TEXT)


def test_combine_heads_mean_and_max(analysis):
    attentions = analysis.attentions
    np.testing.assert_allclose(combine_heads(attentions, 1, [0, 2], "mean"),
                               (attentions[1, 0] + attentions[1, 2]) / 2, rtol=1e-6)
    strongest = combine_heads(attentions, 1, [2, 0, 2], "max")  # duplicates count once
    np.testing.assert_array_equal(strongest, np.maximum(attentions[1, 0], attentions[1, 2]))
    assert (strongest.sum(axis=1) > 1.0).all()  # not a distribution: max differs from mean
    all_heads = combine_heads(attentions, 0, range(analysis.num_heads), "mean")
    np.testing.assert_allclose(all_heads, attentions[0].mean(axis=0), rtol=1e-6)
    assert not combine_heads(attentions, 0, [], "mean").any()


@pytest.mark.parametrize("bad", [
    {"layer": 5, "heads": [0]}, {"layer": 0, "heads": [9]}, {"layer": 0, "heads": [0],
                                                             "how": "sum"}])
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
    matrix = combine_heads(analysis.attentions, 0, [1], "max")
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


@pytest.mark.parametrize("max_keys", [4, 16])
def test_pack_keeps_each_rows_strongest_keys_up_to_the_mass(analysis, max_keys):
    attentions = analysis.attentions
    pack = pack_attention(attentions, max_keys=max_keys)
    assert pack.counts.shape == attentions.shape[:3]
    assert int(pack.counts.sum()) == pack.keys.shape[0] == pack.weights.shape[0]
    dense = pack.dense()
    kept = dense > 0
    # every kept weight is the real one, quantised to 1/65535
    np.testing.assert_allclose(dense[kept], attentions[kept], atol=0.5 / WEIGHT_LEVELS + 1e-7)
    for layer, head, query in np.ndindex(*pack.counts.shape):
        row, got = attentions[layer, head, query], dense[layer, head, query]
        count = int(pack.counts[layer, head, query])
        assert 1 <= count <= max_keys
        assert np.sort(row)[::-1][:count].sum() == pytest.approx(row[got > 0].sum(), rel=1e-5)
        # the row stops at the mass, or at the cap; one key fewer would fall short
        assert count == max_keys or got.sum() >= PACK_MASS * row.sum() - 1e-4
        assert np.sort(row)[::-1][:count - 1].sum() < PACK_MASS * row.sum() + 1e-6


def test_pack_rows_are_listed_strongest_first_and_bounded(analysis):
    pack = pack_attention(analysis.attentions, max_keys=5)
    start = 0
    for count in pack.counts.ravel():
        weights = pack.weights[start:start + int(count)]
        assert (np.diff(weights.astype(int)) <= 0).all()
        start += int(count)
    rows = analysis.num_layers * analysis.num_heads * analysis.num_tokens
    assert pack.keys.nbytes + pack.weights.nbytes <= rows * 5 * 4


def test_graph_file_round_trip_holds_tokens_predictions_and_the_pack(analysis):
    predictions = [[(f"p{i}", 0.5), ("<b>", 0.25)] for i in range(analysis.num_tokens)]
    blob = graph_file(analysis.attentions, analysis.labels, analysis.special_mask,
                      analysis.mask_positions, predictions)
    header, pack = read_graph_file(blob)
    assert [t["t"] for t in header["tokens"]] == list(analysis.labels)
    assert [i for i, t in enumerate(header["tokens"]) if t.get("s")] == \
        np.flatnonzero(analysis.special_mask).tolist()
    assert [i for i, t in enumerate(header["tokens"]) if t.get("m")] == \
        list(analysis.mask_positions)
    assert header["tokens"][3]["p"] == [["p3", 0.5], ["<b>", 0.25]]
    assert (header["num_layers"], header["num_heads"], header["num_tokens"]) == \
        analysis.attentions.shape[:3]
    expected = pack_attention(analysis.attentions)
    np.testing.assert_array_equal(pack.counts, expected.counts)
    np.testing.assert_array_equal(pack.keys, expected.keys)
    np.testing.assert_array_equal(pack.weights, expected.weights)
    assert all(offset % 4 == 0 for offset in header["offsets"])  # typed arrays need alignment
    assert file_id(blob) == file_id(bytes(blob)) != file_id(blob + b"x")


def test_graph_file_rejects_other_bytes():
    with pytest.raises(ValueError):
        read_graph_file(b"<html>not a graph file</html>")
