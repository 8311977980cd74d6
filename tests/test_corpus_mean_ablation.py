"""Corpus mean-ablation: each head's mean output over the bundled corpus, against a reference
computed here with forward hooks on the model's own modules (each line run alone, no padding),
and the ablated model against a forward pass patched by hand with that reference. Null: a "mean"
equal to the head's actual output changes nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.ablation import AblationError, ablated_logits, heads_switched_off
from explorer.analysis import analyze
from explorer.corpus import bundled_corpus
from explorer.corpus.head_means import (
    compute_head_means,
    load_cached_means,
    means_or_compute,
)
from explorer.cost import corpus_mean_cost
from explorer.jobs import BATCH

BUDGET = 400  # tokens: the first lines of the bundled corpus within it (tiny tokenizer)
TEXT = "The capital of France is <mask>, and the capital of Spain is Madrid."


def _projections(model):
    """Each layer's attention output projection, named on the RoBERTa module tree (not through
    the app's architecture table)."""
    return [layer.attention.output.dense for layer in model.roberta.encoder.layer]


def _reference_lines(loaded, budget):
    """The corpus's first lines whose tokens (the tokenizer's own, special tokens included) add
    up to at most ``budget``."""
    lines, total = [], 0
    for line in bundled_corpus().sentences:
        ids = loaded.tokenizer(line, truncation=True,
                               max_length=loaded.info.max_tokens)["input_ids"]
        if total + len(ids) > budget:
            break
        lines.append(ids)
        total += len(ids)
    return lines


@torch.inference_mode()
def _reference_means(loaded, budget):
    """means[layer, hidden]: the projection inputs of every token of every line, averaged."""
    projections = _projections(loaded.model)
    sums = [torch.zeros(loaded.info.hidden_size, dtype=torch.float64) for _ in projections]
    tokens = 0
    seen: dict[int, torch.Tensor] = {}
    handles = [p.register_forward_pre_hook(
        lambda module, args, layer=layer: seen.__setitem__(layer, args[0][0].double()))
        for layer, p in enumerate(projections)]
    try:
        for ids in _reference_lines(loaded, budget):
            loaded.model(input_ids=torch.tensor([ids]))
            for layer in range(len(projections)):
                sums[layer] += seen[layer].sum(dim=0)
            tokens += len(ids)
    finally:
        for handle in handles:
            handle.remove()
    return torch.stack(sums).numpy() / tokens, tokens


@pytest.fixture(scope="module")
def corpus_means(tiny):
    return compute_head_means(tiny, bundled_corpus(), token_budget=BUDGET)


@pytest.fixture(scope="module")
def reference(tiny):
    return _reference_means(tiny, BUDGET)


def test_the_corpus_mean_equals_the_mean_taken_with_hooks_line_by_line(tiny, corpus_means,
                                                                      reference):
    expected, tokens = reference
    assert corpus_means.tokens == tokens
    assert corpus_means.lines == len(_reference_lines(tiny, BUDGET)) > 5
    assert corpus_means.means.shape == (tiny.info.num_layers, tiny.info.hidden_size)
    np.testing.assert_allclose(corpus_means.means, expected, atol=2e-5, rtol=1e-4)
    # not the text's own mean: the corpus mean is another vector
    assert "first" in corpus_means.describe() and str(BUDGET) in corpus_means.describe()


@torch.inference_mode()
def _patched_by_hand(loaded, token_ids, layer, head, value):
    """Logits with (layer, head)'s slice of the projection input set to ``value``."""
    size = loaded.info.hidden_size // loaded.info.num_heads
    projection = _projections(loaded.model)[layer]

    def patch(module, args):
        context = args[0].clone()
        context[..., head * size:(head + 1) * size] = torch.as_tensor(value, dtype=context.dtype)
        return (context,)

    handle = projection.register_forward_pre_hook(patch)
    try:
        input_ids = torch.tensor(np.array(token_ids, dtype=np.int64))[None]
        return loaded.model(input_ids=input_ids).logits[0]
    finally:
        handle.remove()


@pytest.mark.parametrize(("layer", "head"), [(0, 1), (1, 3)])
def test_corpus_mean_ablation_equals_a_forward_patched_by_hand(tiny, corpus_means, reference,
                                                                layer, head):
    ids = analyze(tiny, TEXT).token_ids
    expected_means, _ = reference
    size = tiny.info.hidden_size // tiny.info.num_heads
    by_hand = _patched_by_hand(tiny, ids, layer, head,
                               expected_means[layer, head * size:(head + 1) * size])
    ablated = ablated_logits(tiny, ids, [(layer, head)], mode="corpus",
                             means=corpus_means.means)
    torch.testing.assert_close(ablated, by_hand, atol=1e-4, rtol=1e-4)
    # and it differs from the text's own mean and from zero
    plain = ablated_logits(tiny, ids, [])
    own = ablated_logits(tiny, ids, [(layer, head)], mode="mean")
    assert not torch.allclose(ablated, plain, atol=1e-4)
    assert not torch.allclose(ablated, own, atol=1e-4)


@torch.inference_mode()
def test_a_mean_equal_to_the_heads_actual_output_changes_nothing(tiny):
    """One token, no special tokens: each head's mean over the input is its actual output, so
    putting it back in every head of every layer leaves the logits as they were."""
    ids = np.array([tiny.tokenizer.convert_tokens_to_ids("Ġcapital")
                    if "Ġcapital" in tiny.tokenizer.get_vocab() else 5])
    projections = _projections(tiny.model)
    actual = {}
    handles = [p.register_forward_pre_hook(
        lambda module, args, layer=layer: actual.__setitem__(layer, args[0][0, 0].clone()))
        for layer, p in enumerate(projections)]
    try:
        plain = tiny.model(input_ids=torch.from_numpy(ids)[None]).logits[0]
    finally:
        for handle in handles:
            handle.remove()
    means = torch.stack([actual[layer] for layer in range(len(projections))]).numpy()
    every = [(layer, head) for layer in range(tiny.info.num_layers)
             for head in range(tiny.info.num_heads)]
    ablated = ablated_logits(tiny, ids, every, mode="corpus", means=means)
    torch.testing.assert_close(ablated, plain, atol=1e-5, rtol=1e-5)
    # the same heads at the corpus's mean do change it: the null is not vacuous
    other = ablated_logits(tiny, ids, every, mode="corpus", means=means + 1.0)
    assert not torch.allclose(other, plain, atol=1e-3)


def test_corpus_ablation_without_means_is_refused(tiny):
    with pytest.raises(AblationError, match="means"), heads_switched_off(tiny, [(0, 0)],
                                                                         "corpus"):
        pass


def test_the_means_are_kept_on_disk_and_read_back(tiny, tmp_path, corpus_means):
    corpus = bundled_corpus()
    assert load_cached_means(tiny, corpus, BUDGET, root=tmp_path) is None
    first = means_or_compute(tiny, corpus, token_budget=BUDGET, root=tmp_path)
    assert not first.from_cache
    np.testing.assert_allclose(first.means, corpus_means.means, atol=1e-6)
    again = means_or_compute(tiny, corpus, token_budget=BUDGET, root=tmp_path)
    assert again.from_cache and again.seconds == first.seconds
    np.testing.assert_array_equal(again.means, first.means)
    # another budget is another entry
    assert load_cached_means(tiny, corpus, BUDGET // 2, root=tmp_path) is None
    # it runs in the batch lane like the other corpus work, costed at its tokens
    cost = corpus_mean_cost(first.tokens)
    assert cost.lane == BATCH and cost.token_passes == first.tokens


def test_the_layers_page_lets_the_user_choose_the_corpus_mean_and_says_so(app_env, tmp_path,
                                                                         monkeypatch):
    from explorer.ablation import ablated_predictions
    from explorer.corpus.disk_cache import CACHE_ENV_VAR
    from explorer.corpus.head_means import MEAN_TOKEN_BUDGET
    from explorer.model import load
    from tests.tables import prediction_tables
    from tests.test_layers_page import open_tab, run_layers
    from ui import keys

    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "cache"))
    heads = [(0, 1), (1, 3)]
    at = open_tab(run_layers(**{keys.ABLATED: heads}), "ablation")
    assert not at.exception, at.exception
    assert at.radio(key=keys.ABLATION_MEAN).value == "text"
    assert any("mean over this text's tokens" in c.value for c in at.caption)
    at.radio(key=keys.ABLATION_MEAN).set_value("corpus").run()
    assert not at.exception, at.exception
    (said,) = [c.value for c in at.caption if c.value.startswith("Mean-ablation (corpus mean")]
    loaded = load(str(app_env))
    means = compute_head_means(loaded, bundled_corpus(), token_budget=MEAN_TOKEN_BUDGET)
    assert f"{means.tokens:,} tokens" in said and f"{means.lines:,} lines" in said
    analysis = analyze(loaded, at.text_area(key="text").value, top_k=5)
    expected = ablated_predictions(loaded, analysis.token_ids, heads, top_k=5, mode="corpus",
                                   means=means.means)[0].predictions
    own = ablated_predictions(loaded, analysis.token_ids, heads, top_k=5, mode="mean",
                              )[0].predictions
    table = prediction_tables(at)[1].value  # zero-ablation left, mean-ablation right
    assert table["score (ablated)"].tolist() == [round(p.score, 4) for p in expected]
    # the page's table is not the text's own mean (the tiny model's scores differ past 4 places)
    assert [p.score for p in expected] != [p.score for p in own]
    # computed once, then kept on disk for the next start
    assert load_cached_means(loaded, bundled_corpus()) is not None
