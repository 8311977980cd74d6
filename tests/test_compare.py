"""Differences between two inputs, on analyses of the real tiny model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from explorer.analysis import analyze
from explorer.compare import (
    attention_difference,
    attention_map,
    head_entropy,
    head_summary_difference,
    prediction_changes,
    same_length,
    special_token_share,
)
from explorer.presets import PRESET_PAIRS

A_TEXT = "The man worked as a <mask>."
B_TEXT = "The woman worked as a <mask>."
SHORT = "Hi <mask>."


def _equal_length_pair(tiny):
    """Two different texts with the same token count (found, not assumed)."""
    a = analyze(tiny, "a b c <mask>.", top_k=10)
    for word in ("d", "e", "f", "g", "x"):
        b = analyze(tiny, f"a b {word} <mask>.", top_k=10)
        if same_length(a, b) and not np.array_equal(a.token_ids, b.token_ids):
            return a, b
    pytest.fail("no equal-length pair found")


def test_mask_probabilities_are_the_models_softmax(tiny):
    analysis = analyze(tiny, "The <mask> sat on the <mask>.", top_k=5)
    probabilities = analysis.mask_probabilities
    assert probabilities.shape == (2, tiny.info.vocab_size)
    assert probabilities.dtype == np.float32 and not probabilities.flags.writeable
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    with torch.inference_mode():
        logits = tiny.model(input_ids=torch.tensor([analysis.token_ids.tolist()])).logits[0]
    expected = logits[list(analysis.mask_positions)].softmax(-1).numpy()
    np.testing.assert_allclose(probabilities, expected, rtol=1e-5, atol=1e-7)
    for mask, row in zip(analysis.predictions, probabilities):
        for p in mask.predictions:
            assert row[p.token_id] == pytest.approx(p.score, rel=1e-5)
    assert analyze(tiny, "No mask here.").mask_probabilities.shape == (0, tiny.info.vocab_size)


def test_attention_difference_is_b_minus_a(tiny):
    a, b = _equal_length_pair(tiny)
    difference = attention_difference(a, b, layer=1, head=2)
    np.testing.assert_array_equal(difference, b.attentions[1, 2] - a.attentions[1, 2])
    mean = attention_difference(a, b, layer=0, head=None)
    np.testing.assert_allclose(mean, b.attentions[0].mean(0) - a.attentions[0].mean(0))
    np.testing.assert_allclose(difference.sum(axis=1), 0.0, atol=1e-5)  # rows sum to 1 - 1
    assert np.abs(difference).max() > 0  # the texts differ, so attention does too


def test_attention_difference_refuses_different_lengths(tiny):
    a = analyze(tiny, SHORT)
    b = analyze(tiny, "A much longer sentence than the other one, with a <mask>.")
    assert not same_length(a, b)
    with pytest.raises(ValueError, match="same length"):
        attention_difference(a, b, 0, None)


def test_head_entropy_matches_a_direct_computation(tiny):
    analysis = analyze(tiny, A_TEXT)
    entropy = head_entropy(analysis)
    assert entropy.shape == (tiny.info.num_layers, tiny.info.num_heads)
    rows = analysis.attentions[1, 3].astype(np.float64)
    direct = np.mean([-sum(w * np.log2(w) for w in row if w > 0) for row in rows])
    assert entropy[1, 3] == pytest.approx(direct, rel=1e-9)
    assert (entropy >= 0).all() and (entropy <= np.log2(analysis.num_tokens) + 1e-6).all()


def test_special_token_share_is_the_mass_on_bos_and_eos(tiny):
    analysis = analyze(tiny, A_TEXT)
    share = special_token_share(analysis)
    specials = np.flatnonzero(analysis.special_mask)
    assert specials.tolist() == [0, analysis.num_tokens - 1]  # <s> … </s>; <mask> is not special
    expected = analysis.attentions[:, :, :, specials].sum(-1).mean(-1)
    np.testing.assert_allclose(share, expected, rtol=1e-6)
    assert ((share >= 0) & (share <= 1 + 1e-6)).all()


def _entropy_bits_by_loops(attentions: np.ndarray) -> np.ndarray:
    """Textbook mean row entropy per (layer, head), written with plain loops."""
    layers, heads, n, _ = attentions.shape
    result = np.zeros((layers, heads))
    for layer in range(layers):
        for head in range(heads):
            rows = [-sum(float(w) * math.log2(float(w)) for w in row if w > 0)
                    for row in attentions[layer, head]]
            result[layer, head] = sum(rows) / n
    return result


def test_head_summary_difference(tiny):
    a, b = analyze(tiny, A_TEXT), analyze(tiny, SHORT)
    summary = head_summary_difference(a, b)
    expected_entropy = _entropy_bits_by_loops(b.attentions) - _entropy_bits_by_loops(a.attentions)
    np.testing.assert_allclose(summary.entropy_difference, expected_entropy, atol=1e-5)
    # share on <s> and </s>: the first and last columns, found from the token ids
    def special_share(analysis):
        ids = analysis.token_ids.tolist()
        columns = [i for i, t in enumerate(ids)
                   if t in (tiny.tokenizer.cls_token_id, tiny.tokenizer.sep_token_id)]
        return analysis.attentions[..., columns].astype(np.float64).sum(-1).mean(-1)

    np.testing.assert_allclose(summary.special_difference, special_share(b) - special_share(a),
                               atol=1e-6)
    assert np.abs(summary.entropy_difference).max() > 0  # different texts, different heads


def test_prediction_changes_cover_both_top_k_with_both_probabilities(tiny):
    a, b = analyze(tiny, A_TEXT, top_k=10), analyze(tiny, B_TEXT, top_k=10)
    changes = prediction_changes(a, b, mask=0, top_k=5)
    ids_a = [p.token_id for p in a.predictions[0].predictions[:5]]
    ids_b = [p.token_id for p in b.predictions[0].predictions[:5]]
    assert {c.token_id for c in changes} == set(ids_a) | set(ids_b)
    assert len(changes) == len(set(ids_a) | set(ids_b))
    for change in changes:
        token = change.token_id
        assert change.probability_a == pytest.approx(float(a.mask_probabilities[0, token]))
        assert change.probability_b == pytest.approx(float(b.mask_probabilities[0, token]))
        assert change.difference == pytest.approx(change.probability_b - change.probability_a)
    by_id = {c.token_id: c for c in changes}
    for rank, token_id in enumerate(ids_a, start=1):
        assert by_id[token_id].rank_a == rank
    for rank, token_id in enumerate(ids_b, start=1):
        assert by_id[token_id].rank_b == rank
    maxima = [max(c.probability_a, c.probability_b) for c in changes]
    assert maxima == sorted(maxima, reverse=True)


def test_prediction_changes_need_the_mask_in_both(tiny):
    a, b = analyze(tiny, A_TEXT), analyze(tiny, "No mask.")
    with pytest.raises(IndexError):
        prediction_changes(a, b, mask=0, top_k=5)
    assert attention_map(a, 0, None).shape == (a.num_tokens, a.num_tokens)


def test_presets_are_pairs_with_one_mask_each():
    assert PRESET_PAIRS[0].text_a == A_TEXT and PRESET_PAIRS[0].text_b == B_TEXT
    names = [pair.name for pair in PRESET_PAIRS]
    assert len(set(names)) == len(names)
    for pair in PRESET_PAIRS:
        assert pair.text_a.count("<mask>") == 1 and pair.text_b.count("<mask>") == 1
        assert pair.text_a != pair.text_b
