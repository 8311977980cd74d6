"""Issue 14 reading aids in explorer/: pair analysis (token types reach the model) and the
word-level analysis, on a byte-level BPE (tiny RoBERTa) and a WordPiece (tiny BERT) model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.analysis import InputError, analyze
from explorer.model import load
from explorer.pairs import encode_pair
from explorer.tiny import build_tiny_bert_model
from explorer.word_level import word_level

A = "The capital of France is <mask>."
B = "Unbelievably, Paris is lovely."


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return load(str(build_tiny_bert_model(tmp_path_factory.mktemp("bert-reading"))))


@pytest.fixture(scope="module", params=["roberta", "bert"])
def loaded(request, tiny, bert):
    return tiny if request.param == "roberta" else bert


def test_pair_analysis_reads_segment_b_with_its_token_type(loaded):
    analysis = analyze(loaded, A, text_pair=B)
    tokenizer = loaded.tokenizer
    expected = tokenizer(A.replace("<mask>", tokenizer.mask_token), B)
    assert analysis.token_ids.tolist() == expected["input_ids"]
    assert analysis.text_pair == B
    segment = analysis.segment.tolist()
    assert segment == [-1 if s is None else s for s in expected.sequence_ids()]
    # an independent forward pass of the plain model with the tokenizer's own inputs
    with torch.no_grad():
        reference = loaded.model(**{k: torch.tensor([v]) for k, v in expected.items()},
                                 output_attentions=True)
    np.testing.assert_allclose(analysis.attentions[0], reference.attentions[0][0].numpy(),
                               atol=1e-5)
    if loaded.info.model_type == "bert":
        assert 1 in expected["token_type_ids"]
        single = analyze(loaded, A + " " + B)  # types all 0: a different computation
        assert single.num_tokens != analysis.num_tokens or not np.allclose(
            single.attentions, analysis.attentions, atol=1e-4)


def test_pair_analysis_refuses_an_empty_side(loaded):
    with pytest.raises(InputError):
        analyze(loaded, A, text_pair="   ")


def test_pair_analysis_cut_to_the_limit(loaded):
    long_a = " ".join(["word"] * 400)
    analysis = analyze(loaded, long_a, text_pair=B)
    pair = encode_pair(loaded.tokenizer, long_a, B, loaded.info.max_tokens)
    assert analysis.truncated == pair.truncated
    assert analysis.num_tokens == len(pair.token_ids) <= loaded.info.max_tokens


def test_word_level_rows_sum_to_one_and_match_a_loop(loaded):
    text = "The capital of France is <mask>, unbelievably Paris."
    analysis = analyze(loaded, text)
    merged, words = word_level(loaded.tokenizer, analysis)
    assert merged.num_tokens == words.num_words < analysis.num_tokens
    np.testing.assert_allclose(merged.attentions.sum(axis=-1), 1.0, atol=1e-5)
    assert "unbelievably" in merged.labels
    # direct loop: to a word = sum over its pieces, from a word = mean over its pieces
    w = merged.labels.index("unbelievably")
    pieces = [t for t in range(analysis.num_tokens) if words.word_of_token[t] == w]
    layer, head = 1, 0
    for q in range(words.num_words):
        q_pieces = [t for t in range(analysis.num_tokens) if words.word_of_token[t] == q]
        expected = np.mean([sum(analysis.attentions[layer, head, qp, k] for k in pieces)
                            for qp in q_pieces])
        assert merged.attentions[layer, head, q, w] == pytest.approx(expected, abs=1e-5)
    # the mask is still a word of its own, predictions point at it
    mask_word = merged.mask_positions[0]
    assert merged.labels[mask_word] == loaded.info.mask_token
    assert merged.predictions[0].position == mask_word
    assert merged.special_mask[0] and merged.special_mask[-1]
    assert merged.hidden_states.shape == (loaded.info.num_layers + 1, words.num_words,
                                          loaded.info.hidden_size)


def test_word_level_of_a_pair_keeps_its_segments(loaded):
    analysis = analyze(loaded, A, text_pair=B)
    merged, words = word_level(loaded.tokenizer, analysis)
    assert words.source == "tokenizer"
    assert set(merged.segment.tolist()) == {-1, 0, 1}
    np.testing.assert_allclose(merged.attentions.sum(axis=-1), 1.0, atol=1e-5)
    b_words = [label for label, s in zip(merged.labels, merged.segment) if s == 1]
    assert "Paris" in b_words or "paris" in b_words
