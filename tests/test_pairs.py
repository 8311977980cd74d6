"""Sentence pairs (explorer.pairs) on a byte-level BPE RoBERTa and a WordPiece BERT tokenizer:
the same ids as ``tokenizer(a, b)``, pairs typed in one field, segments, and the crossing
summary against a direct loop over a real forward pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.model import load
from explorer.pairs import (
    PairError,
    crossing_attention,
    encode_pair,
    pair_from_text,
    split_pair,
)
from explorer.tiny import build_tiny_bert_model

A = "The cat sat on the mat."
B = "The dog slept in the garden."


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return load(str(build_tiny_bert_model(tmp_path_factory.mktemp("bert-pairs"))))


@pytest.fixture(scope="module", params=["roberta", "bert"])
def loaded(request, tiny, bert):
    return tiny if request.param == "roberta" else bert


def test_pair_is_built_as_the_tokenizer_builds_it(loaded):
    tokenizer = loaded.tokenizer
    pair = encode_pair(tokenizer, A, B, loaded.info.max_tokens)
    assert pair.token_ids.tolist() == tokenizer(A, B)["input_ids"]
    tokens = tokenizer.convert_ids_to_tokens(pair.token_ids.tolist())
    only_a = tokenizer(A, add_special_tokens=False)["input_ids"]
    only_b = tokenizer(B, add_special_tokens=False)["input_ids"]
    if loaded.info.model_type == "roberta":
        assert tokens[0] == "<s>" and tokens[-1] == "</s>"
        middle = ["</s>", "</s>"]
        assert pair.token_type_ids is None or not pair.token_type_ids.any()
    else:
        assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
        middle = ["[SEP]"]
        expected_types = [0] * (len(only_a) + 2) + [1] * (len(only_b) + 1)
        assert pair.token_type_ids.tolist() == expected_types
    assert tokens[1 + len(only_a):1 + len(only_a) + len(middle)] == middle
    expected_segment = ([-1] + [0] * len(only_a) + [-1] * len(middle) + [1] * len(only_b)
                        + [-1])
    assert pair.segment.tolist() == expected_segment
    assert not pair.truncated


@pytest.mark.parametrize("separator", ["</s></s>", " </s> </s> ", "[SEP]", " </s> "])
def test_a_pair_typed_in_one_field(loaded, separator):
    typed = pair_from_text(loaded.tokenizer, A + separator + B, loaded.info.max_tokens)
    two_fields = pair_from_text(loaded.tokenizer, A, loaded.info.max_tokens, second=B)
    assert typed is not None
    np.testing.assert_array_equal(typed.token_ids, two_fields.token_ids)
    np.testing.assert_array_equal(typed.segment, two_fields.segment)


def test_split_pair_edge_cases(tiny):
    tokenizer = tiny.tokenizer
    assert split_pair("Just one sentence with a <mask>.", tokenizer) == (
        "Just one sentence with a <mask>.", None)
    assert split_pair("<s> one </s></s> two </s>", tokenizer) == ("one", "two")
    with pytest.raises(PairError):
        split_pair("one </s></s> two </s></s> three", tokenizer)
    with pytest.raises(PairError):
        split_pair("</s></s> two", tokenizer)


def test_long_pairs_are_cut_keeping_the_specials(loaded):
    long_a = " ".join([A] * 12)
    pair = encode_pair(loaded.tokenizer, long_a, B, loaded.info.max_tokens)
    assert pair.truncated and len(pair.token_ids) == loaded.info.max_tokens
    assert pair.input_token_count > loaded.info.max_tokens
    assert (pair.segment == 1).any() and pair.segment[-1] == -1


def test_crossing_equals_a_direct_computation(loaded):
    pair = encode_pair(loaded.tokenizer, A, B, loaded.info.max_tokens)
    inputs = {k: torch.tensor(v)[None] for k, v in pair.model_inputs().items()}
    with torch.no_grad():
        output = loaded.model(**inputs, output_attentions=True)
    attentions = torch.stack([a[0] for a in output.attentions]).numpy()
    crossing = crossing_attention(attentions, pair.segment)
    ids = pair.token_ids.tolist()
    tokenizer = loaded.tokenizer
    first_sep = ids.index(tokenizer.sep_token_id)
    a_tokens = list(range(1, first_sep))
    b_start = first_sep + (2 if loaded.info.model_type == "roberta" else 1)
    b_tokens = list(range(b_start, len(ids) - 1))
    for layer in range(loaded.info.num_layers):
        for head in range(loaded.info.num_heads):
            rows = attentions[layer, head]
            a_to_b = np.mean([sum(rows[q, k] for k in b_tokens) for q in a_tokens])
            b_to_a = np.mean([sum(rows[q, k] for k in a_tokens) for q in b_tokens])
            a_to_a = np.mean([sum(rows[q, k] for k in a_tokens) for q in a_tokens])
            assert crossing.a_to_b[layer, head] == pytest.approx(a_to_b, abs=1e-6)
            assert crossing.b_to_a[layer, head] == pytest.approx(b_to_a, abs=1e-6)
            assert crossing.a_to_a[layer, head] == pytest.approx(a_to_a, abs=1e-6)
    assert np.all(crossing.a_to_a + crossing.a_to_b <= 1 + 1e-6)


PAIR_A = "The capital of France is <mask>."
PAIR_B = "Paris is a large city on the river."


def _reference_log_probs(loaded, position: int) -> torch.Tensor:
    """``log p[vocab]`` at ``position`` from the plain Hugging Face model called with the
    tokenizer's own pair encoding (its token_type_ids included)."""
    text_a = PAIR_A.replace("<mask>", loaded.tokenizer.mask_token)
    encoded = loaded.tokenizer(text_a, PAIR_B, return_tensors="pt")
    assert 1 in encoded["token_type_ids"][0].tolist()  # BERT reads text B as type 1
    with torch.no_grad():
        return loaded.model(**encoded).logits[0, position].float().log_softmax(-1)


def test_reruns_of_a_bert_pair_read_its_token_types(bert):
    """Ablation (nothing ablated) and attribution re-run the analysed pair: their f(x) is the
    plain model's value on the tokenizer's pair encoding, and so is the analysis's."""
    from explorer.ablation import ablated_logits, predictions_without
    from explorer.analysis import analyze
    from explorer.attribution import attribute

    analysis = analyze(bert, PAIR_A, top_k=3, text_pair=PAIR_B)
    assert analysis.token_type_ids is not None and analysis.token_type_ids.any()
    position = analysis.mask_positions[0]
    reference = _reference_log_probs(bert, position)
    target = int(reference.argmax())
    np.testing.assert_allclose(np.log(analysis.mask_probabilities[0, target]),
                               float(reference[target]), atol=1e-5)
    for method in ("gradient_x_input", "integrated_gradients"):
        result = attribute(bert, position=position, target_id=target, method=method, steps=4,
                           **analysis.model_inputs())
        assert result.value == pytest.approx(float(reference[target]), abs=1e-5)
    logits = ablated_logits(bert, heads=[], **analysis.model_inputs())
    np.testing.assert_allclose(logits[position].log_softmax(-1).numpy(), reference.numpy(),
                               atol=1e-5)
    rerun = predictions_without(bert, analysis, [], top_k=analysis.top_k + 2)  # a real pass
    np.testing.assert_allclose([p.score for p in rerun[0].predictions],
                               reference.exp().topk(5).values.numpy(), rtol=1e-4)
