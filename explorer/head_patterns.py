"""Corpus-wide head statistics and a map of heads (Clark, Khandelwal, Levy & Manning 2019,
"What Does BERT Look At? An Analysis of BERT's Attention"), no Streamlit here.

:func:`head_patterns` runs a list of sentences through the encoder in batches
(:mod:`explorer.attention_passes`) and accumulates, per head, over **every query token of every
sentence** (each token weighs the same, as in the paper):

- ``to_start``: attention to the start token (``<s>`` / ``[CLS]``), ``to_end``: to end and
  separator tokens (``</s>`` / ``[SEP]``), ``to_punctuation``: to tokens that are only
  punctuation (Unicode category P*, e.g. ``,`` ``.`` ``Ġ.`` ``▁.``), each in [0, 1];
- ``to_self``; ``to_previous`` / ``to_next``: to the neighbouring token, averaged over the query
  tokens that have one;
- ``entropy``: the attention row's entropy in bits (0 … log2(tokens)); its fixed colour scale
  is 0 … log2(n) with n the token-weighted mean sentence length (:meth:`HeadPatterns.scale`).

``divergence[head, head]`` (heads numbered ``layer · heads + head``) is the Jensen–Shannon
divergence of two heads' attention rows averaged over the same tokens (the paper's distance for
its Figure 6); :func:`head_map` places the heads in 2-D by classical multidimensional scaling of
``sqrt(divergence)`` (a metric). Results are plain numpy arrays: :meth:`HeadPatterns.save` /
:meth:`HeadPatterns.load` store them with ``np.savez``.
"""

from __future__ import annotations

import csv
import io
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.special import xlogy

from explorer.attention_passes import ProgressCallback, encode_sentences, iterate_passes
from explorer.model import Loaded

STATISTICS = ("to_start", "to_end", "to_punctuation", "to_self", "to_previous", "to_next",
              "entropy")
"""The per-head statistics, in display order; all but ``entropy`` are shares in [0, 1]."""


def statistic_labels(start_token: str = "<s>", end_token: str = "</s>") -> dict[str, str]:
    """What the pages call each statistic, the special tokens named as the model names them
    (:attr:`~explorer.model.ModelInfo.start_token` / ``end_token``)."""
    return {
        "to_start": f"to {start_token}",
        "to_end": f"to {end_token}",
        "to_punctuation": "to punctuation",
        "to_self": "to self",
        "to_previous": "to previous token",
        "to_next": "to next token",
        "entropy": "entropy (bits)",
    }


def is_punctuation(text: str) -> bool:
    """Whether a token's text (leading ``Ġ`` / SentencePiece ``▁`` / space / ``##`` ignored) is
    only punctuation: ``.``, ``Ġ.`` (byte-level BPE) and ``▁.`` (ALBERT, XLM-R, CamemBERT,
    DeBERTa) all are."""
    stripped = text.replace("Ġ", " ").replace("▁", " ").strip()
    if stripped.startswith("##"):
        stripped = stripped[2:]
    return bool(stripped) and all(unicodedata.category(ch).startswith("P") for ch in stripped)


def boundary_token_ids(loaded: Loaded) -> tuple[set[int], set[int]]:
    """Ids of the start token (``<s>`` / ``[CLS]``) and of the end and separator tokens
    (``</s>`` / ``[SEP]``): the names the model's entry of the architecture table gives
    (:attr:`~explorer.model.ModelInfo.start_token` / ``end_token``, the tokenizer's own names
    first), and the tokenizer's ``bos`` / ``eos`` where it has them."""
    tokenizer = loaded.tokenizer
    unknown = tokenizer.unk_token_id

    def ids(*names: object) -> set[int]:
        found = set()
        for name in names:
            if isinstance(name, str) and name:
                token_id = tokenizer.convert_tokens_to_ids(name)
                if isinstance(token_id, int) and token_id != unknown:
                    found.add(token_id)
        return found

    start = ids(loaded.info.start_token, tokenizer.cls_token, tokenizer.bos_token)
    end = ids(loaded.info.end_token, tokenizer.sep_token, tokenizer.eos_token) - start
    return start, end


def token_kinds(loaded: Loaded, token_ids: Sequence[int],
                boundaries: tuple[set[int], set[int]] | None = None) -> dict[str, np.ndarray]:
    """Bool masks over tokens: ``start`` (``<s>``/``[CLS]``), ``end`` (``</s>``/``[SEP]``),
    ``punctuation`` (never a special token); ``boundaries``: :func:`boundary_token_ids`."""
    tokenizer = loaded.tokenizer
    ids = np.asarray(token_ids)
    start_ids, end_ids = boundaries or boundary_token_ids(loaded)
    special = set(tokenizer.all_special_ids)
    pieces = tokenizer.convert_ids_to_tokens([int(i) for i in ids])
    return {
        "start": np.isin(ids, list(start_ids)),
        "end": np.isin(ids, list(end_ids)),
        "punctuation": np.array([int(i) not in special and is_punctuation(p)
                                 for i, p in zip(ids, pieces)], dtype=bool),
    }


def sentence_sums(attentions: np.ndarray, kinds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-head sums over one sentence's query tokens (``[layer, head]`` each) and the counts
    they are divided by: ``queries`` for most, ``pairs`` (tokens − 1) for previous/next."""
    p = np.asarray(attentions, dtype=np.float64)
    n = p.shape[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = np.where(p > 0, -p * np.log2(p), 0.0).sum(axis=-1)
    return {
        "to_start": p[..., kinds["start"]].sum(axis=-1).sum(axis=-1),
        "to_end": p[..., kinds["end"]].sum(axis=-1).sum(axis=-1),
        "to_punctuation": p[..., kinds["punctuation"]].sum(axis=-1).sum(axis=-1),
        "to_self": np.diagonal(p, axis1=-2, axis2=-1).sum(axis=-1),
        "to_previous": np.diagonal(p, offset=-1, axis1=-2, axis2=-1).sum(axis=-1),
        "to_next": np.diagonal(p, offset=1, axis1=-2, axis2=-1).sum(axis=-1),
        "entropy": entropy.sum(axis=-1),
        "queries": np.asarray(n),
        "pairs": np.asarray(n - 1),
        "squares": np.asarray(n * n),
    }


@dataclass(frozen=True)
class HeadPatterns:
    """Corpus-wide statistics, each ``statistic[layer, head]``; ``divergence[head, head]`` and
    ``map_xy[head, 2]`` over all heads (``layer · heads + head``), or empty arrays when the map
    was not asked for."""

    to_start: np.ndarray
    to_end: np.ndarray
    to_punctuation: np.ndarray
    to_self: np.ndarray
    to_previous: np.ndarray
    to_next: np.ndarray
    entropy: np.ndarray
    divergence: np.ndarray
    map_xy: np.ndarray
    sentences: int
    tokens: int
    square_tokens: int = 0  # sum over sentences of (tokens in it)²

    def statistics(self) -> dict[str, np.ndarray]:
        """``{name: values[layer, head]}`` in :data:`STATISTICS` order."""
        return {name: getattr(self, name) for name in STATISTICS}

    @property
    def mean_tokens(self) -> float:
        """Mean sentence length in tokens (special tokens included), each sentence once."""
        return self.tokens / max(1, self.sentences)

    @property
    def token_mean_tokens(self) -> float:
        """Mean sentence length with each sentence weighted by its tokens, as every statistic
        here is (each token counts once): the mean length of the sentence a token is in,
        ``Σ nᵢ² / Σ nᵢ``; at least :attr:`mean_tokens`, equal when all lengths are equal."""
        if not self.square_tokens:  # saved before the squares were kept
            return self.mean_tokens
        return self.square_tokens / max(1, self.tokens)

    def scale(self, name: str) -> tuple[float, float]:
        """The fixed colour range of statistic ``name``: 0–1 for a share, 0–log2(n) bits for
        the entropy with n = :attr:`token_mean_tokens`. No head's mean entropy exceeds it: a
        row of a sentence of nᵢ tokens has at most log2(nᵢ) bits, and the token-weighted mean
        of log2(nᵢ) is at most log2 of the token-weighted mean nᵢ (Jensen)."""
        if name == "entropy":
            return 0.0, math.log2(max(self.token_mean_tokens, 2.0))
        return 0.0, 1.0

    def csv(self, labels: dict[str, str] | None = None) -> str:
        """One row per head: ``layer,head`` (1-based, as the pages show them) and every
        statistic (columns named by ``labels``, default the statistic names)."""
        labels = labels or {name: name for name in STATISTICS}
        layers, heads = self.to_self.shape
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["layer", "head", *(labels[name] for name in STATISTICS)])
        for layer in range(layers):
            for head in range(heads):
                writer.writerow([layer + 1, head + 1, *(
                    f"{float(getattr(self, name)[layer, head]):.6f}" for name in STATISTICS)])
        return buffer.getvalue()

    def memory_bytes(self) -> int:
        """Bytes held, for cache budgets."""
        return int(sum(np.asarray(v).nbytes for v in vars(self).values()) + 200)

    def save(self, path: str | Path) -> None:
        """Write every array (and the counts) with ``np.savez``."""
        np.savez(path, **{k: np.asarray(v) for k, v in asdict(self).items()})

    @classmethod
    def load(cls, path: str | Path) -> HeadPatterns:
        with np.load(path) as stored:
            values = {name: stored[name] for name in stored.files}
        for count in ("sentences", "tokens", "square_tokens"):
            if count in values:
                values[count] = int(values[count])
        return cls(**values)


_CHUNK_ELEMENTS = 4_000_000  # float64 elements of one temporary block (~32 MB)


def divergence_sums(attentions: np.ndarray) -> np.ndarray:
    """``sums[a, b]``: the Jensen–Shannon divergence (bits) of head ``a``'s and head ``b``'s
    attention rows, summed over the query tokens of one sentence; heads numbered
    ``layer · heads + head``.

    Written as JS(p, q) = H(m) − ½H(p) − ½H(q) with m = ½(p + q), so that only the mixture's
    entropy needs every pair of heads, and computed for each pair once (the matrix is
    symmetric): about five times less work than two relative entropies per ordered pair.
    """
    p = np.asarray(attentions, dtype=np.float64)
    n = p.shape[-1]
    rows = p.reshape(-1, n, n)  # [head, query, key]
    count = len(rows)
    negative_entropy = xlogy(rows, rows).sum(axis=-1)  # Σ p ln p, [head, query]
    sums = np.zeros((count, count))
    chunk = max(1, _CHUNK_ELEMENTS // max(1, n * n))
    for a in range(count - 1):
        for start in range(a + 1, count, chunk):
            others = rows[start:start + chunk]
            middle = 0.5 * (rows[a][None] + others)
            divergence = (-xlogy(middle, middle).sum(axis=-1)
                          + 0.5 * (negative_entropy[a][None] + negative_entropy[start:start
                                                                              + chunk]))
            sums[a, start:start + len(others)] = divergence.sum(axis=-1)
    sums = (sums + sums.T) / np.log(2)
    return np.clip(sums, 0.0, None)  # rounding can leave -1e-17 where two rows are equal


def head_map(divergence: np.ndarray) -> np.ndarray:
    """``xy[head, 2]``: classical (Torgerson) multidimensional scaling of the distances
    ``sqrt(divergence)``: double-centre the squared distances, keep the top two eigenvectors
    scaled by the square roots of their eigenvalues."""
    squared = np.asarray(divergence, dtype=np.float64)
    squared = 0.5 * (squared + squared.T)
    count = squared.shape[0]
    centering = np.eye(count) - np.full((count, count), 1.0 / count)
    inner = -0.5 * centering @ squared @ centering
    values, vectors = np.linalg.eigh(inner)
    top = np.argsort(values)[::-1][:2]
    coordinates = vectors[:, top] * np.sqrt(np.clip(values[top], 0.0, None))
    if coordinates.shape[1] < 2:
        coordinates = np.pad(coordinates, ((0, 0), (0, 2 - coordinates.shape[1])))
    return coordinates


ATTENTION_VALUES_PER_BATCH = 32_000_000
"""Bound on one batch's attention weights (float32, about 128 MB; the model holds them once
more while it runs): batches of long sentences hold fewer sentences. Up to 64 short sentences
share a batch: per-call overhead dominates small batches (MiniLM over 192 bundled lines, same
run: 64 per batch 3.9–4.3 s, 16 per batch 7.2–7.5 s)."""


def head_patterns(
    loaded: Loaded,
    sentences: Sequence[str],
    *,
    with_map: bool = True,
    batch_size: int = 64,
    progress: ProgressCallback | None = None,
) -> HeadPatterns:
    """Average each head's attention habits over ``sentences`` (see the module docstring),
    tokenised with special tokens and cut to the model's limit by the tokenizer."""
    sentences = [s for s in sentences if s.strip()]
    if not sentences:
        raise ValueError("There are no sentences to summarise.")
    return patterns_of_ids(loaded, encode_sentences(loaded, sentences), with_map=with_map,
                           batch_size=batch_size, progress=progress)


def patterns_of_ids(
    loaded: Loaded,
    id_lists: Sequence[Sequence[int]],
    *,
    with_map: bool = True,
    batch_size: int = 64,
    progress: ProgressCallback | None = None,
) -> HeadPatterns:
    """:func:`head_patterns` of sentences already tokenised (special tokens included).

    Streams: one batch of attentions in memory at a time (at most
    :data:`ATTENTION_VALUES_PER_BATCH` weights). ``progress(done, total)`` after each batch.
    Only the encoder runs, so models without a masked-LM head work too.
    """
    id_lists = [list(ids) for ids in id_lists if len(ids)]
    if not id_lists:
        raise ValueError("There are no sentences to summarise.")
    boundaries = boundary_token_ids(loaded)
    heads = loaded.info.num_layers * loaded.info.num_heads
    totals: dict[str, np.ndarray] = {}
    divergence_sum = None
    for _, sentence in iterate_passes(loaded, id_lists, batch_size=batch_size,
                                      progress=progress,
                                      max_square_tokens=ATTENTION_VALUES_PER_BATCH // heads):
        sums = sentence_sums(sentence.attentions,
                             token_kinds(loaded, sentence.token_ids, boundaries))
        for name, value in sums.items():
            totals[name] = totals.get(name, 0) + value
        if with_map:
            summed = divergence_sums(sentence.attentions)
            divergence_sum = summed if divergence_sum is None else divergence_sum + summed
    queries, pairs = float(totals.pop("queries")), float(totals.pop("pairs"))
    squares = int(totals.pop("squares"))
    # one-token sentences have no neighbours: their sums are 0, so is the share
    averages = {name: totals[name] / max(1.0, pairs if name in ("to_previous", "to_next")
                                         else queries)
                for name in STATISTICS}
    divergence = (np.zeros((0, 0)) if divergence_sum is None else divergence_sum / queries)
    return HeadPatterns(
        **averages,
        divergence=divergence,
        map_xy=head_map(divergence) if with_map else np.zeros((0, 2)),
        sentences=len(id_lists),
        tokens=int(queries),
        square_tokens=squares,
    )
