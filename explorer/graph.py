"""Data for the exBERT-style attention graph (numpy only, no Streamlit).

The browser gets only what the graph draws: one layer, the selected heads combined into one
``attention[query, key]`` matrix, and for each query token the strongest edges that together
hold a share (the threshold) of that token's attention mass. Edges are packed as little-endian
``uint16`` triples ``(query, key, weight)`` in base64 (8 characters per edge), not as
``layers × heads × n²`` JSON floats.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Combine = Literal["mean", "sum"]
COMBINE_MODES: tuple[Combine, ...] = ("mean", "sum")
DEFAULT_THRESHOLD = 0.7
DEFAULT_MAX_EDGES_PER_TOKEN = 32
"""Cap on the edges drawn per query token, so a 512-token input stays light in the browser."""
SUMMARY_TOP = 3
"""Per-head summary boxes list this many strongest 'from' and 'to' tokens."""
_WEIGHT_LEVELS = 65535


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
    """``attention[query, key]`` of ``heads`` of one layer, summed or averaged.

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
    return selected.sum(axis=0) if how == "sum" else selected.mean(axis=0)


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


def pack_edges(edges: Edges, scale: float) -> str:
    """Base64 of little-endian uint16 ``[q0, k0, w0, q1, k1, w1, ...]``; ``w = weight/scale``
    quantised to 0..65535 (the graph draws ``w`` as line opacity)."""
    if len(edges) and (edges.query.max() > _WEIGHT_LEVELS or edges.key.max() > _WEIGHT_LEVELS):
        raise ValueError("token indices above 65535 cannot be packed")
    levels = np.clip(np.rint(edges.weight / max(scale, 1e-12) * _WEIGHT_LEVELS), 0, _WEIGHT_LEVELS)
    triples = np.stack([edges.query, edges.key, levels]).T.astype("<u2")
    return base64.b64encode(triples.tobytes()).decode("ascii")


def unpack_edges(packed: str, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse of :func:`pack_edges` (for tests): query, key and (quantised) weight arrays."""
    triples = np.frombuffer(base64.b64decode(packed), dtype="<u2").reshape(-1, 3)
    return (triples[:, 0].astype(np.int64), triples[:, 1].astype(np.int64),
            triples[:, 2].astype(np.float64) / _WEIGHT_LEVELS * scale)


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
class GraphOptions:
    """What the user chose for the graph."""

    layer: int
    heads: tuple[int, ...]
    combine: Combine = "mean"
    threshold: float = DEFAULT_THRESHOLD
    hide_special: bool = False
    selected: int | None = None
    selected_side: Literal["left", "right"] = "left"
    max_edges_per_token: int | None = DEFAULT_MAX_EDGES_PER_TOKEN


def graph_payload(
    attentions: np.ndarray,
    labels: Sequence[str],
    special_mask: np.ndarray,
    mask_positions: Sequence[int],
    options: GraphOptions,
    token_predictions: Sequence[Sequence[tuple[str, float]]] | None = None,
) -> dict:
    """The JSON-ready dict the attention-graph component draws.

    Holds the visible tokens (labels are plain text; the component sets them with
    ``textContent``), the packed edges of the combined heads above the threshold, the per-head
    summaries of the selected token and, per token, its top predictions for the tooltip.
    """
    matrix = combine_heads(attentions, options.layer, options.heads, options.combine)
    visible = visible_tokens(special_mask, options.hide_special)
    edges = prune_edges(matrix, options.threshold, visible, options.max_edges_per_token)
    scale = float(edges.weight.max()) if len(edges) else 1.0
    masks = set(int(p) for p in mask_positions)
    selected = options.selected
    if selected is not None and selected not in set(visible.tolist()):
        selected = None
    summaries = (
        head_summaries(attentions, options.layer, selected, visible)
        if selected is not None else ()
    )
    tokens = []
    for index in visible.tolist():
        entry: dict = {"i": index, "t": labels[index]}
        if special_mask[index]:
            entry["s"] = 1
        if index in masks:
            entry["m"] = 1
        if token_predictions is not None:
            entry["p"] = [[text, round(float(score), 4)] for text, score in
                          token_predictions[index]]
        tokens.append(entry)
    return {
        "layer": options.layer,
        "heads": sorted(options.heads),
        "num_heads": int(attentions.shape[1]),
        "combine": options.combine,
        "threshold": options.threshold,
        "tokens": tokens,
        "edges": pack_edges(edges, scale),
        "edge_count": len(edges),
        "scale": scale,
        "capped_tokens": edges.capped_tokens,
        "max_edges_per_token": options.max_edges_per_token,
        "selected": selected,
        "selected_side": options.selected_side,
        "summaries": [
            {
                "head": s.head,
                "to": [[k, round(w, 4)] for k, w in s.attends_to],
                "from": [[q, round(w, 4)] for q, w in s.attended_by],
                "self": round(s.self_weight, 4),
            }
            for s in summaries
        ],
    }
