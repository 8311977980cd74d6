"""Word-level merging (explorer.words) on a byte-level BPE (tiny RoBERTa) and a WordPiece (tiny
BERT) tokenizer: the groups, merged rows that still sum to 1, and merged values against a
direct loop."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.analysis import analyze
from explorer.model import load
from explorer.tiny import build_tiny_bert_model
from explorer.words import (
    group_by_pieces,
    merge_attention,
    merge_scores,
    words_for,
)

ROBERTA_TEXT = "The capital of France is <mask>, unbelievably Paris."
BERT_TEXT = "The capital of France is [MASK], unbelievably Paris."


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return load(str(build_tiny_bert_model(tmp_path_factory.mktemp("bert-words"))))


@pytest.fixture(scope="module", params=["bpe", "wordpiece"])
def case(request, tiny, bert):
    loaded, text = (tiny, ROBERTA_TEXT) if request.param == "bpe" else (bert, BERT_TEXT)
    analysis = analyze(loaded, text)
    words = words_for(loaded.tokenizer, analysis.token_ids, analysis.special_mask, analysis.text)
    return request.param, loaded, analysis, words


def test_pieces_of_a_long_word_become_one_word(case):
    kind, loaded, analysis, words = case
    assert words.source == "tokenizer"
    pieces = loaded.tokenizer.convert_ids_to_tokens([int(i) for i in analysis.token_ids])
    assert len(pieces) > words.num_words  # something was merged
    long_word = words.labels.index("unbelievably")
    assert len(words.pieces(long_word)) > 3
    if kind == "wordpiece":
        assert all(p.startswith("##") for p in np.array(pieces)[words.pieces(long_word)][1:])
    expected_words = ["the" if kind == "wordpiece" else "The", "capital", "of",
                      "france" if kind == "wordpiece" else "France", "is", loaded.info.mask_token,
                      ",", "unbelievably", "paris" if kind == "wordpiece" else "Paris", "."]
    start, end = ("[CLS]", "[SEP]") if kind == "wordpiece" else ("<s>", "</s>")
    assert list(words.labels) == [start, *expected_words, end]
    assert words.special.tolist() == [True] + [False] * 4 + [False, True] + [False] * 4 + [True]


def test_merged_rows_still_sum_to_one(case):
    _, loaded, analysis, words = case
    merged = merge_attention(analysis.attentions, words)
    layers, heads = loaded.info.num_layers, loaded.info.num_heads
    assert merged.shape == (layers, heads, words.num_words, words.num_words)
    np.testing.assert_allclose(merged.sum(axis=-1), 1.0, atol=1e-5)


def test_merging_equals_a_direct_loop(case):
    _, _, analysis, words = case
    merged = merge_attention(analysis.attentions, words)
    groups = [[t for t in range(analysis.num_tokens) if words.word_of_token[t] == w]
              for w in range(words.num_words)]
    attention = analysis.attentions[1, 2]
    for wq, query_pieces in enumerate(groups):
        for wk, key_pieces in enumerate(groups):
            to_word = [sum(attention[q, k] for k in key_pieces) for q in query_pieces]
            assert merged[1, 2, wq, wk] == pytest.approx(sum(to_word) / len(to_word), abs=1e-6)
    scores = np.arange(analysis.num_tokens, dtype=float)
    summed = merge_scores(scores, words, "sum")
    meaned = merge_scores(scores, words, "mean")
    for w, pieces in enumerate(groups):
        assert summed[w] == sum(pieces) and meaned[w] == pytest.approx(np.mean(pieces))


def test_spelling_rule_agrees_where_punctuation_is_not_glued(tiny, bert):
    for loaded, text in ((tiny, "The capital unbelievably <mask> is Paris"),
                         (bert, "the capital unbelievably [MASK] is paris")):
        analysis = analyze(loaded, text)
        from_tokenizer = words_for(loaded.tokenizer, analysis.token_ids, text=analysis.text)
        from_pieces = words_for(loaded.tokenizer, analysis.token_ids)
        assert from_pieces.source == "pieces"
        np.testing.assert_array_equal(from_tokenizer.word_of_token, from_pieces.word_of_token)
        assert from_tokenizer.labels == from_pieces.labels


def test_pieces_rule_for_both_styles():
    special = [True, False, False, False, True]
    assert group_by_pieces(["<s>", "ĠPar", "is", "Ġnow", "</s>"], special).tolist() == [
        0, 1, 1, 2, 3]
    assert group_by_pieces(["[CLS]", "par", "##is", "now", "[SEP]"], special, "##").tolist() == [
        0, 1, 1, 2, 3]


def test_pair_inputs_keep_the_two_texts_apart(tiny):
    tokenizer = tiny.tokenizer
    ids = tokenizer("Hello world", "world")["input_ids"]
    words = words_for(tokenizer, ids, text="Hello world", text_pair="world")
    assert words.labels == ("<s>", "Hello", "world", "</s>", "</s>", "world", "</s>")


def test_truncated_input_still_uses_word_ids(tiny):
    text = "The quick brown fox jumps over the lazy dog near the river bank. " * 6
    analysis = analyze(tiny, text)
    assert analysis.truncated
    words = words_for(tiny.tokenizer, analysis.token_ids, analysis.special_mask, analysis.text)
    assert words.source == "tokenizer"
    assert words.labels[-1] == "</s>" and words.num_tokens == analysis.num_tokens
