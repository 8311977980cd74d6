"""Recall of an approximate nearest-neighbour search against an exact one (benchmarks only)."""

from __future__ import annotations

import numpy as np


def brute_force_top_k(queries: np.ndarray, vectors: np.ndarray, k: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product top-k with plain numpy: ``scores[query, rank]``, ``rows[query, rank]``
    (best first). The reference every faiss index is measured against."""
    similarities = queries.astype(np.float64) @ vectors.astype(np.float64).T
    rows = np.argsort(-similarities, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(similarities, rows, axis=1), rows


def recall_at_k(exact_rows: np.ndarray, approx_rows: np.ndarray) -> float:
    """Mean share of each query's exact top-k rows that the approximate top-k also holds."""
    hits = [len(set(e.tolist()) & set(a.tolist())) / max(1, len(e))
            for e, a in zip(exact_rows, approx_rows)]
    return float(np.mean(hits)) if hits else 0.0


def tie_aware_recall(
    queries: np.ndarray, vectors: np.ndarray, exact_scores: np.ndarray,
    approx_rows: np.ndarray, tolerance: float = 1e-4,
) -> float:
    """Share of approximate top-k rows whose exact similarity reaches the exact k-th best.

    Row-id recall undercounts when many vectors tie (the same token at the same position has
    the same embedding; random test models tie a lot): any of the tied rows is a right answer.
    ``vectors[row, dim]`` are the exact unit vectors, ``exact_scores[query, rank]`` the exact
    top-k similarities.
    """
    true_scores = np.einsum("qd,qkd->qk", queries, vectors[approx_rows])
    return float(np.mean(true_scores >= exact_scores[:, -1:] - tolerance))
