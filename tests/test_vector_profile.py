"""bench/vector_profile.py: the measures that explain IVF-PQ recall, against a plain full distance
matrix and against their nulls (i.i.d. Gaussian vectors: no contrast, no anisotropy)."""

from __future__ import annotations

import numpy as np

from bench.vector_profile import profile


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_contrast_equals_a_full_distance_matrix():
    rng = np.random.default_rng(0)
    vectors = unit(rng.standard_normal((3_000, 24)) + 2.0 * rng.standard_normal((30, 24))[
        rng.integers(0, 30, 3_000)])
    measured = profile(vectors, queries=40, sample_rows=3_000)
    picked = np.sort(np.random.default_rng(0).choice(3_000, 40, replace=False))
    distances = np.linalg.norm(vectors[picked][:, None, :] - vectors[None, :, :], axis=2)
    ratios = []
    for query, row in zip(picked, distances):
        others = np.delete(row, query)
        ratios.append(np.sort(others)[9] / np.median(row))  # median over a sample incl. itself
    assert abs(measured.contrast - float(np.median(ratios))) < 0.01
    assert measured.contrast < 0.8


def test_gaussian_null_has_no_contrast_and_no_anisotropy():
    vectors = unit(np.random.default_rng(1).standard_normal((5_000, 128)))
    measured = profile(vectors, queries=50)
    assert measured.contrast > 0.85  # the 10th neighbour is about as far as anything
    assert abs(measured.mean_cosine) < 0.01
    assert measured.participation > 0.8 * 128
    assert abs(measured.top10 - 10 / 128) < 0.03


def test_one_common_direction_reads_as_anisotropy():
    rng = np.random.default_rng(2)
    vectors = unit(rng.standard_normal((5_000, 64)) * 0.5 + 1.0)  # all near (1, 1, …, 1)
    measured = profile(vectors, queries=20)
    expected = float(np.mean(vectors[:2_500] * vectors[2_500:], axis=0).sum())  # pairs
    assert abs(measured.mean_cosine - expected) < 0.02 and measured.mean_cosine > 0.7
