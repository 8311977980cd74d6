"""Geometry of hidden states ``hidden[layer + 1, token, dim]`` (numpy only, no model calls)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_EPS = 1e-12


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, _EPS)


def consecutive_cosine(hidden: np.ndarray) -> np.ndarray:
    """``cos[layer, token]``: cosine similarity of each token between layer and layer + 1.

    Row 0 compares the embeddings with layer 1's output; there are ``layers`` rows.
    """
    unit = _unit(hidden.astype(np.float64))
    return (unit[:-1] * unit[1:]).sum(axis=-1)


def token_cosine(hidden: np.ndarray, layer: int) -> np.ndarray:
    """``cos[token, token]``: cosine similarity between all tokens at ``hidden[layer]``."""
    unit = _unit(hidden[layer].astype(np.float64))
    return np.clip(unit @ unit.T, -1.0, 1.0)


@dataclass(frozen=True)
class Projection:
    """``coords[layer + 1, token, 2]`` on the first two principal axes of all hidden states;
    ``explained[2]`` is the share of variance each axis explains."""

    coords: np.ndarray
    explained: np.ndarray


def pca_projection(hidden: np.ndarray) -> Projection:
    """Project every token's hidden state at every layer onto the same 2-D PCA plane.

    One plane for all layers, so movement across layers is comparable. Signs are fixed so that
    each axis's largest loading is positive (the same input always gives the same picture).
    """
    layers, tokens, dim = hidden.shape
    points = hidden.reshape(layers * tokens, dim).astype(np.float64)
    centred = points - points.mean(axis=0)
    _, singular, axes = np.linalg.svd(centred, full_matrices=False)
    axes = axes[:2]
    signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])
    axes = axes * signs[:, None]
    coords = centred @ axes.T
    if coords.shape[1] < 2:  # one-dimensional hidden states: pad the second axis
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    variance = singular**2
    total = variance.sum()
    explained = np.zeros(2)
    explained[: min(2, len(variance))] = variance[:2] / total if total > 0 else 0.0
    return Projection(coords=coords.reshape(layers, tokens, 2), explained=explained)
