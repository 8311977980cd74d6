"""Summaries of ``attentions[layer, head, query, key]`` (numpy/scipy only, no model calls).

- :func:`head_entropy` and :func:`head_summary`: one number per head, for a layer × head grid.
- :func:`rollout`: attention rollout (Abnar & Zuidema 2020).
- :func:`attention_flow`: attention flow (same paper) as exact max-flow for one output token,
  normalised as the authors' code does (each output token's flows sum to 1), so it shares
  rollout's scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_flow

FLOW_SCALE = 1_000_000
"""Max-flow needs integer capacities: attention weights are scaled by this and rounded down, so
flow values are exact to about 1e-6 per edge and never exceed 1."""


def head_entropy(attentions: np.ndarray) -> np.ndarray:
    """``entropy[layer, head]``: mean over queries of each attention row's entropy, in bits.

    0 means every query looks at one token; ``log2(tokens)`` means uniform attention.
    """
    p = attentions.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log2(p), 0.0)
    return terms.sum(axis=-1).mean(axis=-1)


@dataclass(frozen=True)
class HeadSummary:
    """Per-head shares of attention, each ``share[layer, head]`` in [0, 1], mean over queries.

    ``to_start``: to the start token (``<s>``); ``to_end``: to end/separator tokens (``</s>``);
    ``to_self``: the diagonal; ``to_previous`` / ``to_next``: the neighbouring token (averaged over
    the queries that have one); ``entropy``: :func:`head_entropy`, in bits.
    """

    entropy: np.ndarray
    to_start: np.ndarray
    to_end: np.ndarray
    to_self: np.ndarray
    to_previous: np.ndarray
    to_next: np.ndarray

    def as_dict(self, start_token: str = "<s>", end_token: str = "</s>"
                ) -> dict[str, np.ndarray]:
        """Statistics by display name; the special tokens are named as the model names them
        (``ModelInfo.start_token`` / ``end_token``: ``[CLS]``, ``[SEP]`` for BERT)."""
        return {
            "entropy (bits)": self.entropy,
            f"to {start_token}": self.to_start,
            f"to {end_token}": self.to_end,
            "to self": self.to_self,
            "to previous": self.to_previous,
            "to next": self.to_next,
        }


def head_summary(
    attentions: np.ndarray, start_mask: np.ndarray, end_mask: np.ndarray
) -> HeadSummary:
    """Summaries per head; ``start_mask[token]`` / ``end_mask[token]`` mark ``<s>`` / ``</s>``."""
    p = attentions.astype(np.float64)
    tokens = p.shape[-1]
    diagonal = np.diagonal(p, axis1=-2, axis2=-1)  # [layer, head, token]
    if tokens > 1:
        previous = np.diagonal(p, offset=-1, axis1=-2, axis2=-1).mean(axis=-1)
        following = np.diagonal(p, offset=1, axis1=-2, axis2=-1).mean(axis=-1)
    else:
        previous = following = np.zeros(p.shape[:2])
    return HeadSummary(
        entropy=head_entropy(attentions),
        to_start=p[..., np.asarray(start_mask, bool)].sum(axis=-1).mean(axis=-1),
        to_end=p[..., np.asarray(end_mask, bool)].sum(axis=-1).mean(axis=-1),
        to_self=diagonal.mean(axis=-1),
        to_previous=previous,
        to_next=following,
    )


def residual_attention(attentions: np.ndarray) -> np.ndarray:
    """``a[layer, query, key]``: head mean, plus the identity for the residual path, rows
    renormalised: ``0.5 · mean_heads(A) + 0.5 · I`` as in Abnar & Zuidema (2020)."""
    mean = attentions.astype(np.float64).mean(axis=1)
    augmented = 0.5 * mean + 0.5 * np.eye(mean.shape[-1])
    return augmented / augmented.sum(axis=-1, keepdims=True)


def rollout(attentions: np.ndarray) -> np.ndarray:
    """``rollout[layer, query, key]``: how much of token ``query``'s state after ``layer``
    comes from input token ``key``, multiplying residual-augmented attention from layer 1 up.

    Every row sums to 1.
    """
    augmented = residual_attention(attentions)
    result = np.empty_like(augmented)
    current = np.eye(augmented.shape[-1])
    for layer, matrix in enumerate(augmented):
        current = matrix @ current
        result[layer] = current
    return result


def _flow_graph(augmented: np.ndarray) -> csr_matrix:
    """Layered graph: node ``layer * n + token`` for layer 0 (inputs) .. L; an edge from
    (layer + 1, query) to (layer, key) with capacity ``augmented[layer, query, key]``."""
    layers, n, _ = augmented.shape
    capacity = np.floor(augmented * FLOW_SCALE).astype(np.int32)
    rows, cols, data = [], [], []
    query_index, key_index = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    for layer in range(layers):
        keep = capacity[layer] > 0
        rows.append(((layer + 1) * n + query_index)[keep])
        cols.append((layer * n + key_index)[keep])
        data.append(capacity[layer][keep])
    size = (layers + 1) * n
    return csr_matrix(
        (np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))), shape=(size, size)
    )


def attention_flow(attentions: np.ndarray, query: int, layer: int | None = None,
                   normalise: bool = True) -> np.ndarray:
    """``flow[key]``: max-flow from token ``query`` after ``layer`` (default: the last) down to
    each input token ``key``, through the residual-augmented attention graph (Abnar & Zuidema
    2020). One max-flow per input token (scipy's Dinic), so cost grows with tokens × edges.

    As in the authors' ``compute_flows`` (``flow_values[u] /= flow_values[u].sum()``), the flows
    of the output token are divided by their sum, so they sum to 1 like a rollout row and the two
    can share a 0–1 colour scale. ``normalise=False`` gives the raw max-flow values (each in
    [0, 1]; their sum can exceed 1 because the max-flows to different inputs share edges).
    """
    augmented = residual_attention(attentions)
    layers, n, _ = augmented.shape
    top = layers - 1 if layer is None else int(layer)
    if not (0 <= top < layers and 0 <= query < n):
        raise ValueError(f"No token {query} after layer {top}.")
    graph = _flow_graph(augmented[: top + 1])
    source = (top + 1) * n + query
    flows = np.array([
        maximum_flow(graph, source, key, method="dinic").flow_value for key in range(n)
    ], dtype=np.float64) / FLOW_SCALE
    if not normalise:
        return flows
    total = flows.sum()
    return flows / total if total > 0 else flows


def attention_flow_by_layer(attentions: np.ndarray, query: int) -> np.ndarray:
    """``flow[layer, key]``: :func:`attention_flow` of ``query`` after each layer (each row
    normalised to sum to 1)."""
    return np.stack([
        attention_flow(attentions, query, layer) for layer in range(attentions.shape[0])
    ])
