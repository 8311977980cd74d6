"""What the Models page computes from two models, kept in the one budgeted cache
(:func:`ui.cache.cached_in_budget`), keyed (:func:`ui.keys.cache_key`) by both models' weights
fingerprints."""

from __future__ import annotations

import numpy as np

from explorer.analysis import Analysis
from explorer.attention_passes import encode_sentences
from explorer.cost import Cost, sentences_cost
from explorer.model import Loaded
from explorer.model_compare import (
    SentencesComparison,
    TokenizerComparison,
    analysis_head_similarity,
    compare_over_sentences,
    compare_tokenizers,
    forward_seconds,
    layer_cka,
)
from ui.cache import cached_in_budget, held_in_budget
from ui.keys import CacheKey, cache_key


def cached_tokenizer_match(loaded_a: Loaded, loaded_b: Loaded) -> TokenizerComparison:
    return cached_in_budget(cache_key("tokenizer match", (loaded_a, loaded_b)),
                            lambda: compare_tokenizers(loaded_a.tokenizer, loaded_b.tokenizer))


def cached_head_similarity(loaded_a: Loaded, loaded_b: Loaded, a: Analysis, b: Analysis
                           ) -> np.ndarray:
    """``similarity[a_head, b_head]`` on this text (every query token)."""
    return cached_in_budget(cache_key("head similarity", (loaded_a, loaded_b), a),
                            lambda: analysis_head_similarity(a, b))


def cached_layer_cka(loaded_a: Loaded, loaded_b: Loaded, a: Analysis, b: Analysis
                     ) -> np.ndarray:
    """Debiased ``cka[layer_a + 1, layer_b + 1]`` over this text's non-special tokens (the
    page asks only when there are enough: :func:`explorer.model_compare.text_cka_refusal`)."""
    def compute() -> np.ndarray:
        return layer_cka(a.hidden_states, b.hidden_states, ~np.asarray(a.special_mask, bool))
    return cached_in_budget(cache_key("layer cka", (loaded_a, loaded_b), a), compute)


def sentences_key(loaded_a: Loaded, loaded_b: Loaded, sentences: tuple[str, ...]) -> CacheKey:
    return cache_key("sentences comparison", (loaded_a, loaded_b), None, tuple(sentences))


def held_sentences_comparison(loaded_a: Loaded, loaded_b: Loaded,
                              sentences: tuple[str, ...]) -> SentencesComparison | None:
    """The pooled comparison if it was computed already (nothing is computed here)."""
    return held_in_budget(sentences_key(loaded_a, loaded_b, sentences))


def sentences_tokens(loaded: Loaded, sentences: tuple[str, ...]) -> int:
    """Tokens of ``sentences`` as the comparison reads them (special tokens included, each cut
    to the model's limit), counted once per (model, sentences)."""
    return cached_in_budget(
        cache_key("sentences tokens", loaded, None, tuple(sentences)),
        lambda: sum(len(ids) for ids in encode_sentences(loaded, sentences)))


def cached_sentences_comparison(loaded_a: Loaded, loaded_b: Loaded, sentences: tuple[str, ...]
                                ) -> SentencesComparison:
    """The pooled comparison, through the job limiter (:func:`ui.jobs.computed`: a place in
    the queue, a progress bar, shared with identical requests, stopped when nobody waits);
    raises :class:`ui.jobs.JobRefused` above this server's limit."""
    from ui.jobs import computed

    return computed(
        sentences_key(loaded_a, loaded_b, sentences),
        sentences_cost(sentences_tokens(loaded_a, sentences)),
        lambda report: compare_over_sentences(loaded_a, loaded_b, sentences, progress=report),
        "comparison", "{done} of {total} sentences")


def speed_key(loaded_a: Loaded, loaded_b: Loaded, a: Analysis, round_: int) -> CacheKey:
    return cache_key("forward seconds", (loaded_a, loaded_b), a, int(round_))


def cached_speeds(loaded_a: Loaded, loaded_b: Loaded, a: Analysis, b: Analysis,
                  round_: int = 0, repeats: int = 5) -> tuple[float, float]:
    """Median forward seconds of A and of B on this text (each on its own tokens; the same
    tokens with one tokenizer), measured one after the other in the same run (``round_`` > 0
    measures again)."""
    from ui.jobs import computed

    def measure(report) -> tuple[float, float]:
        return (forward_seconds(loaded_a, a.token_ids, repeats),
                forward_seconds(loaded_b, b.token_ids, repeats))
    cost = Cost("speed measurement", max(a.num_tokens, b.num_tokens), 2 * (repeats + 1))
    return computed(speed_key(loaded_a, loaded_b, a, round_), cost, measure,
                    "speed measurement")
