"""Smoke test: bench/lance_compare.py (LanceDB's IVF_PQ against the app's faiss IVF-PQ) runs at a
tiny size on a folder kept by bench/corpus_scale.py; LanceDB as the bench drives it, probing
every partition and re-ranking every row, finds numpy's exact top-10."""

from __future__ import annotations

import re

import numpy as np

from bench.corpus_scale import exact_top_k, index_folder, realistic_vectors
from bench.lance_compare import TABLE, build_lance, compare, lance_search


def test_lance_compare_prints_both_engines(tmp_path, capsys):
    # a folder as `bench/corpus_scale.py --keep` leaves it: vectors, index, queries, exact top-k
    vectors = realistic_vectors(tmp_path / "hidden_0.f16.npy", 2_000, 32)
    index_folder(tmp_path, vectors)
    queries = np.asarray(vectors[:10], dtype=np.float32)
    np.save(tmp_path / "queries.npy", queries)
    np.save(tmp_path / "exact.npy", exact_top_k(queries, vectors, 10))
    compare(tmp_path, [(4, 50)], memory=False)  # (the memory probes start fresh processes)
    out = capsys.readouterr().out
    rows = re.findall(r"^(faiss|lancedb)\s+4\s+50\s+([\d.]+)\s+([\d.]+)", out, flags=re.M)
    assert [engine for engine, _, _ in rows] == ["faiss", "lancedb"]
    assert all(0.0 <= float(recall) <= 1.0 for _, recall, _ in rows)
    assert re.search(r"index [\d.]+ B/vector, stored vectors [\d,]+ B/vector", out)


def test_lance_search_with_every_partition_is_exact(tmp_path):
    import lancedb

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((1_000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors.astype(np.float16)
    build_lance(vectors, tmp_path, partitions=4, sub_vectors=8)
    table = lancedb.connect(str(tmp_path)).open_table(TABLE)
    for query in vectors[:5].astype(np.float32):
        expected = np.argsort(-(vectors.astype(np.float32) @ query), kind="stable")[:10]
        found = lance_search(table, query, 10, nprobes=4, refine=100)
        assert sorted(found.tolist()) == sorted(expected.tolist())
