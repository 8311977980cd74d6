"""Two models on the same text: heads, layers, predictions, speed (no Streamlit here).

- :func:`head_similarity`: for every head of A and every head of B, ``1 − JS`` where ``JS`` is
  the Jensen–Shannon divergence (base 2, so in [0, 1]) between the two heads' attention rows,
  averaged over query tokens → ``similarity[a_head, b_head]`` with heads numbered
  ``layer · heads + head``. :class:`HeadSimilarityAverage` pools it over many sentences.
- :func:`layer_cka`: debiased linear CKA (Kornblith, Norouzi, Lee & Hinton 2019, "Similarity of
  Neural Network Representations Revisited", with Song et al.'s 2012 unbiased HSIC as in Nguyen,
  Raghu & Kornblith 2021) between every layer of A and every layer of B on the same tokens →
  ``cka[layer_a + 1, layer_b + 1]`` (index 0: the embeddings).
- :func:`compare_tokenizers`: whether two tokenizers give the same tokens, and if not, which
  comparisons still make sense.
- :func:`candidate_changes`: each top candidate's probability and rank under A and under B.
- :func:`forward_seconds`, :func:`parameter_bytes`: speed and size of each model.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.special import rel_entr

from explorer.analysis import Analysis
from explorer.attention_passes import (
    ProgressCallback,
    encode_sentences,
    forward_sentences,
    length_batches,
)
from explorer.compare import TokenChange, prediction_changes
from explorer.forward import sequence_inputs
from explorer.head_patterns import ATTENTION_VALUES_PER_BATCH
from explorer.model import Loaded


class ComparisonError(ValueError):
    """The two inputs cannot be compared this way; ``str(error)`` is a message fit for a user."""


# ---------------------------------------------------------------------------------------------
# Heads


def head_index(layer: int, head: int, num_heads: int) -> int:
    """Row/column of head ``(layer, head)`` (0-based) in a head × head matrix."""
    return layer * num_heads + head


def head_of_index(index: int, num_heads: int) -> tuple[int, int]:
    """``(layer, head)`` (0-based) of row/column ``index``."""
    return divmod(int(index), num_heads)


_CHUNK_ELEMENTS = 4_000_000  # float64 elements per temporary block (~32 MB)


def head_divergence(
    attentions_a: np.ndarray, attentions_b: np.ndarray, queries: np.ndarray | None = None
) -> np.ndarray:
    """``divergence[a_head, b_head]``: Jensen–Shannon divergence (base 2, in [0, 1]) between
    head ``a_head``'s and head ``b_head``'s attention rows, averaged over the ``queries``
    (a bool mask over tokens; default: every token).

    ``attentions_a[layer, head, query, key]`` and ``attentions_b`` must cover the same tokens.
    """
    a = np.asarray(attentions_a, dtype=np.float64)
    b = np.asarray(attentions_b, dtype=np.float64)
    if a.shape[-2:] != b.shape[-2:]:
        raise ComparisonError("The two attention maps cover different tokens.")
    if queries is not None:
        keep = np.asarray(queries, dtype=bool)
        a, b = a[..., keep, :], b[..., keep, :]
    rows_a = a.reshape(-1, *a.shape[-2:])  # [a_head, query, key]
    rows_b = b.reshape(-1, *b.shape[-2:])
    result = np.empty((len(rows_a), len(rows_b)))
    if rows_a.shape[1] == 0:
        raise ComparisonError("No query token is left to compare.")
    chunk = max(1, _CHUNK_ELEMENTS // max(1, rows_b[0].size))
    for start in range(0, len(rows_b), chunk):
        block_b = rows_b[start:start + chunk]  # [b_head, query, key]
        for index, row_a in enumerate(rows_a):
            middle = 0.5 * (row_a[None] + block_b)
            divergence = 0.5 * (rel_entr(row_a[None], middle).sum(axis=-1)
                                + rel_entr(block_b, middle).sum(axis=-1))
            result[index, start:start + chunk] = divergence.mean(axis=-1) / np.log(2)
    return np.clip(result, 0.0, 1.0)


def head_similarity(
    attentions_a: np.ndarray, attentions_b: np.ndarray, queries: np.ndarray | None = None
) -> np.ndarray:
    """``similarity[a_head, b_head]`` = 1 − :func:`head_divergence`: 1 for identical patterns,
    0 for patterns with disjoint support."""
    return 1.0 - head_divergence(attentions_a, attentions_b, queries)


def check_same_tokens(a: Analysis, b: Analysis) -> None:
    """Raise :class:`ComparisonError` unless both analyses read the same token ids."""
    if a.token_ids.shape != b.token_ids.shape or not np.array_equal(a.token_ids, b.token_ids):
        raise ComparisonError(
            "The two models read this text as different tokens, so their attention patterns "
            "and layers cannot be compared token by token."
        )


def analysis_head_similarity(a: Analysis, b: Analysis, skip_special: bool = False) -> np.ndarray:
    """:func:`head_similarity` of two analyses of the same tokens (queries: every token, or
    every non-special token with ``skip_special``)."""
    check_same_tokens(a, b)
    queries = ~np.asarray(a.special_mask, bool) if skip_special else None
    return head_similarity(a.attentions, b.attentions, queries)


@dataclass
class HeadSimilarityAverage:
    """Head-to-head divergence pooled over sentences, each query token weighing the same."""

    divergence_sum: np.ndarray | None = None
    queries: int = 0
    sentences: int = 0

    def add(self, attentions_a: np.ndarray, attentions_b: np.ndarray,
            queries: np.ndarray | None = None) -> None:
        count = attentions_a.shape[-2] if queries is None else int(np.sum(queries))
        if count == 0:
            return
        divergence = head_divergence(attentions_a, attentions_b, queries) * count
        self.divergence_sum = (divergence if self.divergence_sum is None
                               else self.divergence_sum + divergence)
        self.queries += count
        self.sentences += 1

    @property
    def similarity(self) -> np.ndarray:
        """``similarity[a_head, b_head]`` averaged over every query token added."""
        if self.divergence_sum is None:
            raise ComparisonError("No sentence was compared.")
        return 1.0 - self.divergence_sum / self.queries


# ---------------------------------------------------------------------------------------------
# Layers: debiased linear CKA

MIN_CKA_TOKENS = 4
"""The unbiased HSIC estimator divides by ``n (n − 3)``: fewer tokens have no estimate."""

MIN_TEXT_CKA_TOKENS = 64
"""Fewest tokens for which the Models page shows a one-text CKA. Measured null (independent
random representations of rank 1 to 768 in 768 dimensions, 30 draws each): the debiased CKA
spreads ±0.26 (std) at 7 tokens, ±0.02–0.05 at 32, and stays within |0.1| from 64 tokens, where
a value near 1 therefore says something. The spread shrinks with tokens, not with the
dimension, so the bar is a token count."""


def text_cka_refusal(tokens: int) -> str:
    """Why CKA on one text of ``tokens`` non-special tokens is not shown ("" when it is): below
    :data:`MIN_TEXT_CKA_TOKENS` unrelated representations read anywhere in about ±0.3."""
    if tokens >= MIN_TEXT_CKA_TOKENS:
        return ""
    return (f"Not shown on this text alone: it has {tokens} non-special token(s), and below "
            f"{MIN_TEXT_CKA_TOKENS} tokens CKA of unrelated representations spreads too widely "
            "(±0.26 at 7 tokens, for random ones) to read. The corpus figure above pools "
            "tokens from many sentences.")


def unbiased_centered_gram(x: np.ndarray) -> np.ndarray:
    """``U[token, token]``: the U-centred linear Gram matrix of ``x[token, dim]`` (Székely &
    Rizzo 2014): zero diagonal, and ``⟨U(K), U(L)⟩ / (n (n − 3))`` is Song et al.'s (2012)
    unbiased HSIC of ``K`` and ``L`` (the form Nguyen, Raghu & Kornblith 2021 use)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    if n < MIN_CKA_TOKENS:
        raise ComparisonError(f"CKA needs at least {MIN_CKA_TOKENS} tokens; there are {n}.")
    gram = x @ x.T
    np.fill_diagonal(gram, 0.0)
    means = gram.sum(axis=0) / (n - 2)
    means -= means.sum() / (2 * (n - 1))
    gram -= means[:, None]
    gram -= means[None, :]
    np.fill_diagonal(gram, 0.0)
    return gram


def unbiased_hsic(x: np.ndarray, y: np.ndarray) -> float:
    """Song et al.'s (2012) unbiased HSIC estimator with linear kernels ``K = X Xᵀ``,
    ``L = Y Yᵀ`` of ``x[token, dim_x]`` and ``y[token, dim_y]`` (at least 4 tokens)."""
    if np.shape(x)[0] != np.shape(y)[0]:
        raise ComparisonError("HSIC needs the same tokens in both representations.")
    n = np.shape(x)[0]
    u, v = unbiased_centered_gram(x), unbiased_centered_gram(y)
    return float(np.vdot(u, v) / (n * (n - 3)))


def _cka_of_centered(u: np.ndarray, v: np.ndarray) -> float:
    scale = np.linalg.norm(u) * np.linalg.norm(v)
    return float(np.vdot(u, v) / scale) if scale > 0 else 0.0


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Debiased linear CKA of ``x[token, dim_x]`` and ``y[token, dim_y]``:
    ``HSIC₁(K, L) / √(HSIC₁(K, K) HSIC₁(L, L))`` with Song et al.'s unbiased HSIC₁ and linear
    kernels (Kornblith et al. 2019 with the debiasing of Nguyen, Raghu & Kornblith 2021).
    1 for representations equal up to an orthogonal transform and isotropic scaling; about 0
    (either sign) for unrelated ones, where the biased estimator reads near 1 when tokens are
    few for the dimension (7 random tokens in 768 dimensions: 0.98)."""
    if np.shape(x)[0] != np.shape(y)[0]:
        raise ComparisonError("CKA needs the same tokens in both representations.")
    return _cka_of_centered(unbiased_centered_gram(x), unbiased_centered_gram(y))


def layer_cka(
    hidden_a: np.ndarray, hidden_b: np.ndarray, tokens: np.ndarray | None = None
) -> np.ndarray:
    """``cka[layer_a + 1, layer_b + 1]``: :func:`linear_cka` (debiased) of every pair of layers,
    from ``hidden_a[layer + 1, token, dim]`` and ``hidden_b`` over the same tokens (``tokens``:
    a bool mask, e.g. the non-special tokens, or tokens pooled from many sentences).

    Works on U-centred Gram matrices, so it holds ``(layers_a + 1) · tokens²`` float64 numbers
    — pool at most a few thousand tokens. Values may be slightly negative (unrelated layers).
    """
    a = np.asarray(hidden_a)
    b = np.asarray(hidden_b)
    if a.shape[1] != b.shape[1]:
        raise ComparisonError("CKA needs the same tokens in both models.")
    if tokens is not None:
        keep = np.asarray(tokens, dtype=bool)
        a, b = a[:, keep], b[:, keep]
    if a.shape[1] < MIN_CKA_TOKENS:
        raise ComparisonError(f"CKA needs at least {MIN_CKA_TOKENS} tokens; there are "
                              f"{a.shape[1]}.")
    grams_a = [unbiased_centered_gram(layer) for layer in a]
    result = np.empty((len(a), len(b)))
    for column, layer in enumerate(b):
        gram_b = unbiased_centered_gram(layer)
        for row, gram_a in enumerate(grams_a):
            result[row, column] = _cka_of_centered(gram_a, gram_b)
    return np.clip(result, -1.0, 1.0)


# ---------------------------------------------------------------------------------------------
# Over a set of sentences


@dataclass(frozen=True)
class SentencesComparison:
    """Heads and layers of A and B compared over many sentences.

    ``head_similarity[a_head, b_head]`` (averaged over every non-special query token) and
    ``cka[layer_a + 1, layer_b + 1]`` (over the pooled non-special tokens, at most
    ``max_cka_tokens``, evenly sampled).
    """

    head_similarity: np.ndarray
    cka: np.ndarray
    sentences: int
    query_tokens: int
    cka_tokens: int


def compare_over_sentences(
    loaded_a: Loaded,
    loaded_b: Loaded,
    sentences: Sequence[str],
    *,
    batch_size: int = 16,
    max_cka_tokens: int = 2_000,
    progress: ProgressCallback | None = None,
) -> SentencesComparison:
    """Run ``sentences`` through both models (batched) and pool head similarity and layer CKA.

    Streams: one batch of attentions per model in memory at a time, at most
    :data:`~explorer.head_patterns.ATTENTION_VALUES_PER_BATCH` weights (long sentences make
    smaller batches). ``progress(done, total)`` after each batch may raise to stop.

    Both tokenizers must be the same (:func:`compare_tokenizers`).
    """
    match = compare_tokenizers(loaded_a.tokenizer, loaded_b.tokenizer)
    if not match.same:
        raise ComparisonError("; ".join(match.differences))
    sentences = [s for s in sentences if s.strip()]
    if not sentences:
        raise ComparisonError("There are no sentences to compare.")
    limit = min(loaded_a.info.max_tokens, loaded_b.info.max_tokens)
    id_lists = [ids if len(ids) <= limit else ids[: limit - 1] + ids[-1:]
                for ids in encode_sentences(loaded_a, sentences)]
    special = set(loaded_a.tokenizer.all_special_ids) - {loaded_a.tokenizer.mask_token_id}
    pooled = HeadSimilarityAverage()
    hidden_a: list[np.ndarray] = []
    hidden_b: list[np.ndarray] = []
    total_tokens = sum(sum(i not in special for i in ids) for ids in id_lists)
    stride = max(1, int(np.ceil(total_tokens / max_cka_tokens)))
    seen = 0
    done = 0
    if progress:
        progress(0, len(id_lists))
    heads = max(loaded_a.info.num_layers * loaded_a.info.num_heads,
                loaded_b.info.num_layers * loaded_b.info.num_heads)
    for batch in length_batches([len(ids) for ids in id_lists], batch_size,
                                max_square_tokens=ATTENTION_VALUES_PER_BATCH // heads):
        ids = [id_lists[i] for i in batch]
        passes_a = forward_sentences(loaded_a, ids, hidden=True)
        passes_b = forward_sentences(loaded_b, ids, hidden=True)
        for pass_a, pass_b in zip(passes_a, passes_b):
            queries = ~np.isin(pass_a.token_ids, list(special))
            pooled.add(pass_a.attentions, pass_b.attentions, queries)
            positions = np.flatnonzero(queries)
            sampled = positions[(seen + np.arange(len(positions))) % stride == 0]
            seen += len(positions)
            hidden_a.append(pass_a.hidden_states[:, sampled])
            hidden_b.append(pass_b.hidden_states[:, sampled])
        done += len(batch)
        if progress:
            progress(done, len(id_lists))
    states_a = np.concatenate(hidden_a, axis=1)
    states_b = np.concatenate(hidden_b, axis=1)
    return SentencesComparison(
        head_similarity=pooled.similarity,
        cka=layer_cka(states_a, states_b),
        sentences=pooled.sentences,
        query_tokens=pooled.queries,
        cka_tokens=int(states_a.shape[1]),
    )


# ---------------------------------------------------------------------------------------------
# Tokenizers, predictions, speed, size

PROBE_TEXTS = (
    "The capital of France is Paris.",
    "Hello World! unbelievably café 42",
)


@dataclass(frozen=True)
class TokenizerComparison:
    """Whether A's and B's tokenizers read text the same way, and what that allows."""

    same: bool
    differences: tuple[str, ...] = ()
    comparable: tuple[str, ...] = ()
    not_comparable: tuple[str, ...] = field(default_factory=tuple)


_EVERYTHING = (
    "the top-k tables side by side",
    "each candidate's probability and rank under A and under B",
    "the head-to-head attention map",
    "layer correspondence (CKA)",
    "speed on this input",
)


def compare_tokenizers(tokenizer_a: Any, tokenizer_b: Any,
                       probe_texts: Sequence[str] = PROBE_TEXTS) -> TokenizerComparison:
    """Same vocabulary (token → id), same special tokens and same tokens for ``probe_texts``
    (catches casing and normalisation differences) ⇒ every view compares token by token."""
    differences = []
    vocab_a, vocab_b = tokenizer_a.get_vocab(), tokenizer_b.get_vocab()
    if vocab_a != vocab_b:
        shared = len(vocab_a.keys() & vocab_b.keys())
        differences.append(
            f"the vocabularies differ (A: {len(vocab_a):,} tokens, B: {len(vocab_b):,}, "
            f"{shared:,} token strings in both)")
    for name in ("mask_token", "cls_token", "sep_token", "pad_token"):
        if getattr(tokenizer_a, name, None) != getattr(tokenizer_b, name, None):
            differences.append(f"the {name.replace('_', ' ')}s differ "
                               f"({getattr(tokenizer_a, name, None)} vs "
                               f"{getattr(tokenizer_b, name, None)})")
    if not differences:
        for text in probe_texts:
            if tokenizer_a(text)["input_ids"] != tokenizer_b(text)["input_ids"]:
                differences.append(f"the same text is split into different tokens ({text!r})")
                break
    if not differences:
        return TokenizerComparison(same=True, comparable=_EVERYTHING)
    return TokenizerComparison(
        same=False,
        differences=tuple(differences),
        comparable=("the top-k tables side by side (as text)", "speed on this input"),
        not_comparable=(
            "each candidate's probability under both models (the candidates are different "
            "vocabulary entries)",
            "the head-to-head attention map and layer correspondence (the models read "
            "different tokens, so their rows and columns do not line up)",
        ),
    )


def candidate_changes(a: Analysis, b: Analysis, mask: int, top_k: int) -> list[TokenChange]:
    """The union of A's and B's top-k candidates at the ``mask``-th mask with each one's
    probability and rank (over the whole vocabulary) under A and B; ``rank_b − rank_a`` is the
    rank change. Both analyses must read the same tokens (same tokenizer)."""
    check_same_tokens(a, b)
    if a.mask_probabilities.shape[-1] != b.mask_probabilities.shape[-1]:
        raise ComparisonError("The two models have vocabularies of different sizes.")
    return prediction_changes(a, b, mask, top_k)


@torch.inference_mode()
def forward_seconds(loaded: Loaded, token_ids: np.ndarray, repeats: int = 5) -> float:
    """Median wall time of one full forward pass (attentions and hidden states on, as the app
    runs it) over ``token_ids``, after one warm-up pass."""
    inputs = sequence_inputs(loaded, token_ids)
    times = []
    for attempt in range(repeats + 1):
        start = time.perf_counter()
        loaded.model(**inputs, output_attentions=True, output_hidden_states=True)
        if inputs["input_ids"].device.type == "cuda":
            torch.cuda.synchronize(inputs["input_ids"].device)
        if attempt:
            times.append(time.perf_counter() - start)
    return float(np.median(times))


def parameter_bytes(loaded: Loaded) -> int:
    """Memory held by the model's parameters and buffers, in bytes."""
    model = loaded.model
    return int(sum(t.numel() * t.element_size()
                   for t in (*model.parameters(), *model.buffers())))
