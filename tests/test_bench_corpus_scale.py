"""Smoke test: the corpus-scale benchmark (IVF-PQ with exact re-ranking) runs at a tiny size and
prints its figures; its exact reference agrees with a plain numpy sort."""

from __future__ import annotations

import re

import numpy as np

from bench.corpus_scale import exact_top_k, main


def test_exact_reference_is_a_plain_sort():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((250_123 // 100, 16)).astype(np.float32)
    queries = rng.standard_normal((5, 16)).astype(np.float32)
    expected = np.argsort(-(queries @ vectors.T), axis=1)[:, :7]
    np.testing.assert_array_equal(exact_top_k(queries, vectors, 7), expected)


def test_benchmark_prints_size_recall_latency_and_memory(capsys):
    main(["--scale", "1500", "--dim", "32", "--queries", "10", "--real-tokens", "0",
          "--grid", "4:50,8:100"])
    out = capsys.readouterr().out
    sizes = re.findall(r"^  ([\d,]+) vectors: IVF-PQ .* index ([\d.]+) B/vector", out, flags=re.M)
    assert [s[0] for s in sizes] == ["1,500"]
    grid = re.findall(r"^ +(\d+) +(\d+) +([\d.]+) +([\d.]+) +([\d.]+)$", out, flags=re.M)
    assert [(int(n), int(r)) for n, r, *_ in grid] == [(4, 50), (8, 100)]
    assert all(0.0 <= float(recall) <= 1.0 for _, _, recall, _, _ in grid)
    assert re.search(r"d\(10th NN\)/median d = [\d.]+", out)
    assert re.search(r"private resident memory: [\d,]+ MB after imports, \+[\d.]+ MB after "
                     r"open_index, \+[\d.]+ MB after 50 searches", out)
