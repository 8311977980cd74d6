"""Hidden-state geometry on the tiny model's real hidden states."""

from __future__ import annotations

import numpy as np

from explorer.analysis import analyze
from explorer.hidden_stats import consecutive_cosine, pca_projection, token_cosine


def test_consecutive_cosine(tiny):
    hidden = analyze(tiny, "The dog slept in the <mask>.").hidden_states
    cos = consecutive_cosine(hidden)
    assert cos.shape == (hidden.shape[0] - 1, hidden.shape[1])
    assert ((cos >= -1 - 1e-9) & (cos <= 1 + 1e-9)).all()
    a, b = hidden[1, 2], hidden[2, 2]
    np.testing.assert_allclose(cos[1, 2], a @ b / np.linalg.norm(a) / np.linalg.norm(b),
                               rtol=1e-5)


def test_token_cosine_is_symmetric_with_unit_diagonal(tiny):
    hidden = analyze(tiny, "The dog slept in the <mask>.").hidden_states
    sim = token_cosine(hidden, layer=1)
    n = hidden.shape[1]
    assert sim.shape == (n, n)
    np.testing.assert_allclose(np.diag(sim), 1.0, atol=1e-9)
    np.testing.assert_allclose(sim, sim.T, atol=1e-12)
    assert sim.min() >= -1 and sim.max() <= 1


def test_pca_projection_matches_the_top_principal_axes(tiny):
    hidden = analyze(tiny, "A cat sat on the mat while the <mask> slept.").hidden_states
    projection = pca_projection(hidden)
    layers, n, dim = hidden.shape
    assert projection.coords.shape == (layers, n, 2)
    points = hidden.reshape(-1, dim).astype(np.float64)
    centred = points - points.mean(axis=0)
    coords = projection.coords.reshape(-1, 2)
    np.testing.assert_allclose(coords.mean(axis=0), 0.0, atol=1e-8)
    # the projected variances are the two largest eigenvalues of the covariance
    eigen = np.sort(np.linalg.eigvalsh(centred.T @ centred))[::-1]
    np.testing.assert_allclose((coords**2).sum(axis=0), eigen[:2], rtol=1e-6)
    assert 0 < projection.explained[1] <= projection.explained[0] <= 1
    np.testing.assert_allclose(projection.explained, eigen[:2] / eigen.sum(), rtol=1e-6)
    # deterministic signs
    np.testing.assert_array_equal(pca_projection(hidden).coords, projection.coords)
