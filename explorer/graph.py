"""Data for the exBERT-style attention graph (numpy only, no Streamlit).

The browser gets the analysis ONCE, compactly (:func:`pack_attention`, :func:`graph_file`): for
every ``attentions[layer, head, query, :]`` row, its strongest keys, strongest first, until they
hold :data:`PACK_MASS` of the row (at most :data:`PACK_MAX_KEYS` keys), weights quantised to
``uint16``. The component then answers layer, heads, combine, threshold, hide-special, hover and
click in the browser, with no round trip. Its pruning is :func:`prune_edges` applied to
:func:`combine_heads` of :meth:`AttentionPack.dense` (the Python reference the tests compare the
browser with). The binary layout is documented in ``components/attention_graph/graph.js``.

Two switches travel in the same file, so they too are answered in the browser:

- **weights × value norm** (Kobayashi et al. 2020): ``norms[layer, head, key]`` = ``‖f_h(x_key)‖``
  and each row's total ``Σ_k α_qk ‖f_h(x_k)‖`` (float32, ``layers × heads × n`` each: a few % of
  the file); the browser draws every packed key's *share* of what the head moves into the query,
  ``α_qk ‖f_h(x_k)‖ / total`` (:func:`value_norm_shares`; its Python twin on the packed rows is
  :func:`packed_value_shares`);
- **words, not pieces** (Clark et al. 2019): which word each token belongs to, and the words'
  labels; the browser merges rows as :func:`explorer.words.merge_attention` does (attention *to*
  a word: sum over its pieces; *from* a word: mean over its pieces) — the Python reference is
  ``merge_attention(pack.dense(), words)``, then :func:`combine_heads`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

import numpy as np

Combine = Literal["mean", "max"]
COMBINE_MODES: tuple[Combine, ...] = ("mean", "max")
"""How the selected heads are combined. ``sum`` is not offered: it is ``len(heads) × mean``, and
both the threshold (a share of each row) and the opacity (scaled to the strongest edge) are
scale-free, so it drew exactly what ``mean`` draws. ``max`` shows an edge that any one head
holds strongly, which the mean dilutes."""
DEFAULT_THRESHOLD = 0.7
DEFAULT_MAX_EDGES_PER_TOKEN = 32
"""Cap on the edges drawn per query token, so a 512-token input stays light in the browser."""
PACK_MASS = 0.99
"""Each packed attention row keeps its strongest keys until they hold this share of the row."""
PACK_MAX_KEYS = 16
"""... and at most this many keys: the file is at most ``layers × heads × n × 16 × 4`` bytes."""
PACK_VERSION = 2
PACK_MAGIC = b"AGP1"
Weighting = Literal["weights", "value_norm"]
WEIGHTINGS: tuple[Weighting, ...] = ("weights", "value_norm")
"""What the graph draws: the attention weights α, or each key's share of the row's value-weighted
attention ``‖α_qk f_h(x_k)‖`` (:func:`value_norm_shares`)."""
SUMMARY_TOP = 3
"""Per-head summary boxes list this many strongest 'from' and 'to' tokens."""
WEIGHT_LEVELS = 65535


@dataclass(frozen=True)
class Edges:
    """Kept edges, in original token indices: ``weight[e]`` = attention of ``query[e]`` to
    ``key[e]`` in the combined matrix."""

    query: np.ndarray
    key: np.ndarray
    weight: np.ndarray
    capped_tokens: int  # query tokens whose kept edges were cut by max_edges_per_token

    def __len__(self) -> int:
        return int(self.query.shape[0])


def combine_heads(
    attentions: np.ndarray, layer: int, heads: Sequence[int], how: Combine = "mean"
) -> np.ndarray:
    """``attention[query, key]`` of ``heads`` of one layer: their mean or their maximum.

    ``attentions`` is ``attentions[layer, head, query, key]``. No heads gives a zero matrix.
    """
    if how not in COMBINE_MODES:
        raise ValueError(f"combine must be one of {COMBINE_MODES}, not {how!r}")
    num_layers, num_heads, n, _ = attentions.shape
    if not 0 <= layer < num_layers:
        raise ValueError(f"layer {layer} is outside 0..{num_layers - 1}")
    head_list = sorted({int(h) for h in heads})
    if any(not 0 <= h < num_heads for h in head_list):
        raise ValueError(f"heads must be within 0..{num_heads - 1}: {head_list}")
    if not head_list:
        return np.zeros((n, n), dtype=np.float32)
    selected = attentions[layer, head_list].astype(np.float32)
    return selected.max(axis=0) if how == "max" else selected.mean(axis=0)


def visible_tokens(special_mask: np.ndarray, hide_special: bool) -> np.ndarray:
    """Indices of the tokens the graph shows (all, or all but ``<s>``, ``</s>`` ...)."""
    special = np.asarray(special_mask, dtype=bool)
    return np.flatnonzero(~special) if hide_special else np.arange(special.shape[0])


def prune_edges(
    matrix: np.ndarray,
    threshold: float,
    visible: np.ndarray | None = None,
    max_edges_per_token: int | None = DEFAULT_MAX_EDGES_PER_TOKEN,
) -> Edges:
    """For each visible query, keep its strongest edges to visible keys up to ``threshold`` of
    its (visible) attention mass.

    Edges are taken strongest first until their sum reaches ``threshold × row mass``; the edge
    that crosses the line is kept, so every query with any mass keeps at least one edge and
    ``threshold=1`` keeps every non-zero edge. ``max_edges_per_token`` caps the count per query
    (None: no cap). Zero weights are never kept.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be within 0..1, not {threshold}")
    n = matrix.shape[0]
    visible = np.arange(n) if visible is None else np.asarray(visible, dtype=np.int64)
    empty = np.zeros(0, dtype=np.int64)
    if visible.size == 0 or threshold == 0.0:
        return Edges(empty, empty, np.zeros(0, dtype=np.float32), 0)
    sub = np.asarray(matrix, dtype=np.float32)[np.ix_(visible, visible)]
    order = np.argsort(-sub, axis=1, kind="stable")  # per row, strongest key first
    sorted_weights = np.take_along_axis(sub, order, axis=1)
    mass = sorted_weights.sum(axis=1, keepdims=True)
    before = np.cumsum(sorted_weights, axis=1) - sorted_weights  # mass of stronger edges
    keep = (before < threshold * mass - 1e-12) & (sorted_weights > 0)
    capped = 0
    if max_edges_per_token is not None:
        over = keep[:, max_edges_per_token:].any(axis=1) if keep.shape[1] > max_edges_per_token \
            else np.zeros(keep.shape[0], dtype=bool)
        capped = int(over.sum())
        keep[:, max_edges_per_token:] = False
    rows, ranks = np.nonzero(keep)
    return Edges(
        query=visible[rows],
        key=visible[order[rows, ranks]],
        weight=sorted_weights[rows, ranks],
        capped_tokens=capped,
    )


@dataclass(frozen=True)
class HeadSummary:
    """What one head of the layer does with the selected token."""

    head: int
    attends_to: tuple[tuple[int, float], ...]  # (key, weight): where the token looks
    attended_by: tuple[tuple[int, float], ...]  # (query, weight): who looks at the token
    self_weight: float


def head_summaries(
    attentions: np.ndarray, layer: int, token: int, visible: np.ndarray, top: int = SUMMARY_TOP
) -> tuple[HeadSummary, ...]:
    """For every head of ``layer``: the strongest visible keys ``token`` attends to and the
    strongest visible queries attending to ``token``."""
    summaries = []
    visible = np.asarray(visible, dtype=np.int64)
    for head in range(attentions.shape[1]):
        matrix = attentions[layer, head]
        row, column = matrix[token, visible], matrix[visible, token]
        best_row = np.argsort(-row, kind="stable")[:top]
        best_column = np.argsort(-column, kind="stable")[:top]
        summaries.append(HeadSummary(
            head=head,
            attends_to=tuple((int(visible[i]), float(row[i])) for i in best_row),
            attended_by=tuple((int(visible[i]), float(column[i])) for i in best_column),
            self_weight=float(matrix[token, token]),
        ))
    return tuple(summaries)


@dataclass(frozen=True)
class AttentionPack:
    """The strongest keys of every attention row, strongest first.

    Row ``r = (layer × num_heads + head) × num_tokens + query`` owns ``counts.flat[r]`` entries
    of ``keys`` and ``weights``, right after the entries of row ``r - 1``. ``weights`` are
    ``round(attention × 65535)``; entries that round to 0 are dropped.
    """

    counts: np.ndarray  # counts[layer, head, query], uint16: keys kept in that row
    keys: np.ndarray  # keys[entry], uint16
    weights: np.ndarray  # weights[entry], uint16: attention × 65535

    @property
    def shape(self) -> tuple[int, int, int]:
        num_layers, num_heads, num_tokens = self.counts.shape
        return int(num_layers), int(num_heads), int(num_tokens)

    def dense(self) -> np.ndarray:
        """``attentions[layer, head, query, key]`` as the browser sees it (dropped keys are 0)."""
        num_layers, num_heads, n = self.shape
        rows = np.repeat(np.arange(num_layers * num_heads * n), self.counts.ravel())
        out = np.zeros((num_layers * num_heads * n, n), dtype=np.float32)
        out[rows, self.keys.astype(np.int64)] = self.weights.astype(np.float32) / WEIGHT_LEVELS
        return out.reshape(num_layers, num_heads, n, n)


def pack_attention(attentions: np.ndarray, mass: float = PACK_MASS,
                   max_keys: int = PACK_MAX_KEYS) -> AttentionPack:
    """Keep, per ``attentions[layer, head, query, :]`` row, the strongest keys until they hold
    ``mass`` of the row (the key that crosses the line is kept), at most ``max_keys``."""
    num_layers, num_heads, n, _ = attentions.shape
    if n > WEIGHT_LEVELS:
        raise ValueError("token indices above 65535 cannot be packed")
    rows = np.asarray(attentions, dtype=np.float32).reshape(-1, n)
    top = min(max_keys, n)
    if top < n:
        candidates = np.argpartition(-rows, top - 1, axis=1)[:, :top]
    else:
        candidates = np.broadcast_to(np.arange(n), rows.shape)
    candidate_weights = np.take_along_axis(rows, candidates, axis=1)
    order = np.argsort(-candidate_weights, axis=1, kind="stable")
    keys = np.take_along_axis(candidates, order, axis=1)
    weights = np.take_along_axis(candidate_weights, order, axis=1)
    before = np.cumsum(weights, axis=1) - weights  # mass of the stronger keys of the row
    levels = np.rint(np.clip(weights, 0.0, 1.0) * WEIGHT_LEVELS)
    keep = (before < mass * rows.sum(axis=1, keepdims=True) - 1e-9) & (levels > 0)
    return AttentionPack(
        counts=keep.sum(axis=1).astype("<u2").reshape(num_layers, num_heads, n),
        keys=keys[keep].astype("<u2"),
        weights=levels[keep].astype("<u2"),
    )


def value_norm_shares(weighted: np.ndarray) -> np.ndarray:
    """``shares[..., query, key]`` = ``weighted[..., query, key] / Σ_k weighted[..., query, k]``.

    ``weighted`` is value-weighted attention ``‖α_qk f_h(x_k)‖``
    (:func:`explorer.attribution.value_weighted_attention`), whose rows do not sum to 1; the
    graph draws each key's share of its query row, so rows sum to 1 again and the threshold
    ("share kept per token") means what it means for the weights. A row with no mass stays 0.
    """
    weighted = np.asarray(weighted, dtype=np.float32)
    total = weighted.sum(axis=-1, keepdims=True)
    return np.divide(weighted, total, out=np.zeros_like(weighted), where=total > 0)


def value_row_totals(attentions: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """``totals[layer, head, query]`` = ``Σ_key attentions[layer, head, query, key] ·
    norms[layer, head, key]``: the denominator of :func:`value_norm_shares`."""
    return np.einsum("lhqk,lhk->lhq", np.asarray(attentions, dtype=np.float64),
                     np.asarray(norms, dtype=np.float64)).astype(np.float32)


def packed_value_shares(pack: AttentionPack, norms: np.ndarray, totals: np.ndarray
                        ) -> np.ndarray:
    """``shares[layer, head, query, key]`` as the browser draws them: each packed weight times
    its key's value norm over the row's full total (keys the pack dropped stay 0)."""
    shares = pack.dense().astype(np.float64) * np.asarray(norms, dtype=np.float64)[:, :, None, :]
    totals = np.asarray(totals, dtype=np.float64)[..., None]
    return np.divide(shares, totals, out=np.zeros_like(shares), where=totals > 0)


@dataclass(frozen=True)
class WordMap:
    """Words for the graph's word view: ``word_of_token[token]``, ``labels[word]`` (plain text),
    ``special[word]`` (a special token standing alone). Built from
    :class:`explorer.words.Words`."""

    word_of_token: Sequence[int]
    labels: Sequence[str]
    special: Sequence[bool]


class _TokenLabel(TypedDict):
    t: str  # the token's label (plain text)


class TokenEntry(_TokenLabel, total=False):
    """One token of :class:`GraphHeader`: label (plain text), special, mask, predictions."""

    s: Literal[1]  # present: a special token
    m: Literal[1]  # present: a mask
    p: list[list[Any]]  # [[token text, probability], ...] for the tooltip


class ValuePackHeader(TypedDict):
    """Where the "weights × value norm" data lies in the file: float32 ``norms[layer][head][key]``
    = ‖f_h(x_key)‖ and ``totals[layer][head][query]`` = Σ_k α_qk ‖f_h(x_k)‖; the browser draws
    each packed weight's share ``α_qk · norms[k] / totals[q]``."""

    offsets: list[int]  # byte offsets of norms, totals


class WordsHeader(TypedDict):
    """Which word each token belongs to (:class:`explorer.graph.WordMap`)."""

    of_token: list[int]  # of_token[token] = word
    labels: list[str]  # labels[word] (plain text)
    special: list[int]  # 1: a special token standing alone


class GraphHeader(TypedDict):
    """The JSON header of the binary file (see ``graph.js`` for the arrays after it).

    The one definition of the header: :func:`graph_file` builds it, ``graph.js`` carries it as
    a generated JSDoc typedef (``python -m components.attention_graph.contract``), and the
    tests check both against it (tests/test_graph_contract.py)."""

    version: int
    num_layers: int
    num_heads: int
    num_tokens: int
    mass: float
    max_keys: int
    entries: int
    tokens: list[TokenEntry]
    special_label: str  # the model's special tokens, e.g. "[CLS], [SEP]" (plain text)
    offsets: list[int]  # byte offsets of counts, keys, weights
    value: ValuePackHeader | None  # value norms (None: this model has none)
    value_note: str  # why there is no value pack (plain text), else ""
    words: WordsHeader | None


def _aligned(blob: bytes, to: int = 4) -> bytes:
    return blob + b"\0" * (-len(blob) % to)


def _pack_arrays(pack: AttentionPack) -> list[bytes]:
    return [_aligned(pack.counts.tobytes()), _aligned(pack.keys.tobytes()),
            _aligned(pack.weights.tobytes())]


def graph_file(
    attentions: np.ndarray,
    labels: Sequence[str],
    special_mask: np.ndarray,
    mask_positions: Sequence[int],
    token_predictions: Sequence[Sequence[tuple[str, float]]] | None = None,
    mass: float = PACK_MASS,
    special_label: str = "",
    max_keys: int = PACK_MAX_KEYS,
    value_norms: np.ndarray | None = None,
    value_note: str = "",
    words: WordMap | None = None,
) -> bytes:
    """Everything the component draws, as one file sent once per analysis.

    ``AGP1`` · uint32 header length · header JSON (UTF-8, :class:`GraphHeader` of
    ``components/attention_graph``) padded to 4 bytes · ``counts`` · ``keys`` · ``weights``
    (little-endian uint16 arrays of :class:`AttentionPack`, each padded to 4 bytes; the header's
    ``offsets`` give their byte offsets) · with ``value_norms[layer, head, key]`` =
    ``‖f_h(x_key)‖`` (:func:`explorer.attribution.value_vector_norms`): ``norms`` and
    ``totals[layer, head, query]`` (:func:`value_row_totals`), little-endian float32, at
    ``header["value"]["offsets"]`` (else ``header["value"]`` is None and ``value_note`` says
    why). ``words`` adds ``header["words"]`` for the word view. Labels are plain text: the
    component sets them with ``textContent``.
    """
    pack = pack_attention(attentions, mass, max_keys)
    num_layers, num_heads, n = pack.shape
    masks = {int(p) for p in mask_positions}
    tokens: list[TokenEntry] = []
    for index in range(n):
        entry: TokenEntry = {"t": labels[index]}
        if special_mask[index]:
            entry["s"] = 1
        if index in masks:
            entry["m"] = 1
        if token_predictions is not None:
            entry["p"] = [[text, round(float(score), 4)] for text, score in
                          token_predictions[index]]
        tokens.append(entry)
    arrays = _pack_arrays(pack)
    has_value = value_norms is not None
    if has_value:
        if np.shape(value_norms) != (num_layers, num_heads, n):
            raise ValueError("value_norms must be [layer, head, key]")
        arrays += [np.asarray(value_norms, dtype="<f4").tobytes(),
                   value_row_totals(attentions, value_norms).astype("<f4").tobytes()]
    word_header: WordsHeader | None = None
    if words is not None:
        if len(words.word_of_token) != n:
            raise ValueError("words must cover every token")
        word_header = {"of_token": [int(w) for w in words.word_of_token],
                       "labels": [str(label) for label in words.labels],
                       "special": [int(bool(s)) for s in words.special]}
    # offsets depend on the header's own length: settle them with a fixed-width placeholder
    header: GraphHeader = {
        "version": PACK_VERSION, "num_layers": num_layers, "num_heads": num_heads,
        "num_tokens": n, "mass": float(mass), "max_keys": int(max_keys),
        "entries": int(pack.keys.shape[0]), "tokens": tokens,
        "special_label": special_label, "offsets": [0, 0, 0],
        "value": {"offsets": [0, 0]} if has_value else None,
        "value_note": "" if has_value else value_note, "words": word_header}
    body = _aligned(json.dumps(header, ensure_ascii=False).encode("utf-8") + b" " * 80)
    starts = [8 + len(body)]
    for array in arrays[:-1]:
        starts.append(starts[-1] + len(array))
    header["offsets"] = starts[:3]
    if header["value"] is not None:
        header["value"]["offsets"] = starts[3:5]
    encoded = json.dumps(header, ensure_ascii=False).encode("utf-8")
    encoded = encoded + b" " * (len(body) - len(encoded))  # JSON allows trailing spaces
    return PACK_MAGIC + len(encoded).to_bytes(4, "little") + encoded + b"".join(arrays)


def _read_pack(blob: bytes, header: GraphHeader, entries: int, offsets: Sequence[int]
               ) -> AttentionPack:
    shape = (header["num_layers"], header["num_heads"], header["num_tokens"])
    counts_at, keys_at, weights_at = offsets
    counts = np.frombuffer(blob, "<u2", int(np.prod(shape)), counts_at).reshape(shape)
    keys = np.frombuffer(blob, "<u2", entries, keys_at)
    weights = np.frombuffer(blob, "<u2", entries, weights_at)
    return AttentionPack(counts, keys, weights)


def read_value_norms(blob: bytes) -> tuple[np.ndarray, np.ndarray] | None:
    """``norms[layer, head, key]`` and ``totals[layer, head, query]`` of a :func:`graph_file`
    (None when it has none)."""
    header, _ = read_graph_file(blob)
    value = header.get("value")
    if value is None:
        return None
    shape = (header["num_layers"], header["num_heads"], header["num_tokens"])
    size = int(np.prod(shape))
    return tuple(np.frombuffer(blob, "<f4", size, at).reshape(shape)  # type: ignore[return-value]
                 for at in value["offsets"])


def read_graph_file(blob: bytes) -> tuple[GraphHeader, AttentionPack]:
    """Inverse of :func:`graph_file` (for tests and the benchmark): the header and the pack."""
    if blob[:4] != PACK_MAGIC:
        raise ValueError("not an attention-graph file")
    length = int.from_bytes(blob[4:8], "little")
    header = json.loads(blob[8:8 + length].decode("utf-8"))
    return header, _read_pack(blob, header, header["entries"], header["offsets"])


def file_id(blob: bytes) -> str:
    """A short content hash: the component re-reads the file only when it changes."""
    return hashlib.sha1(blob, usedforsecurity=False).hexdigest()[:16]
