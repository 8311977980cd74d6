"""Benchmark corpus search: indexing throughput, index size, recall and search latency.

Run ``python bench/corpus_search.py`` (about 100 k tokens of synthetic sentences on a random
model with distilroberta-base's shape; ``--tokens 20000`` for a quicker run). Exact float32 search
(``IndexFlatIP``) is the baseline measured in the same run; float16 and 8-bit storage are
compared with it; recall (all three) against a brute-force numpy search. Printed figures, no
assertions.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench.recall import brute_force_top_k, recall_at_k, tie_aware_recall
from explorer.corpus import (
    Corpus,
    EncodedBatch,
    IndexSettings,
    build_index,
    bundled_corpus,
    disk_bytes,
    head_unit_rows,
    new_index,
    save_index,
    tokenize,
    unit_rows,
)
from explorer.model import Loaded, load
from explorer.tiny import build_tiny_model

EXBERT_BYTES, EXBERT_TEXT_BYTES = 9e9, 207e3  # exBERT's reported index for its 207 KB corpus

_SUBJECTS = ["the old farmer", "a young doctor", "my neighbour", "the small robot", "our teacher",
             "a tired pilot", "the new mayor", "her brother", "the quiet student", "a bat",
             "the river bank", "the spring committee", "a crane operator", "the night watch"]
_VERBS = ["painted", "repaired", "carried", "noticed", "sold", "described", "visited",
          "followed", "measured", "forgot", "banked", "pitched", "sprang over", "watched"]
_OBJECTS = ["a wooden boat", "the broken fence", "three red apples", "an old map",
            "the last train", "a noisy engine", "the tall crane", "a cricket bat",
            "the spring flowers", "a heavy suitcase", "the bank statement", "a silver key"]
_PLACES = ["near the harbour", "in the village", "behind the station", "on the hill",
           "at the market", "by the river", "in the empty hall", "under the bridge"]
_TIMES = ["yesterday", "last spring", "on Monday", "at dawn", "after the storm",
          "before lunch", "in 1987", "every summer", "at 6:45", "twice a week"]


def synthetic_sentence(rng: random.Random) -> str:
    """A random, grammatical-looking sentence from a few templates."""
    subject, verb, obj = rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS)
    place, when = rng.choice(_PLACES), rng.choice(_TIMES)
    shape = rng.randrange(4)
    if shape == 0:
        text = f"{subject} {verb} {obj} {place} {when}."
    elif shape == 1:
        text = f"{when}, {subject} {verb} {obj}, and {rng.choice(_SUBJECTS)} " \
               f"{rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {place}."
    elif shape == 2:
        text = f"Did {subject} really say that {rng.choice(_SUBJECTS)} {verb} {obj} {when}?"
    else:
        text = f"{subject} {verb} {rng.randint(2, 999)} of {obj}s {place}, which surprised " \
               f"{rng.choice(_SUBJECTS)}."
    return text[0].upper() + text[1:]


def synthetic_corpus(loaded: Loaded, min_tokens: int, seed: int = 0) -> Corpus:
    """Distinct synthetic sentences until they hold at least ``min_tokens`` indexed tokens."""
    rng = random.Random(seed)
    sentences: list[str] = []
    seen: set[str] = set()
    tokens = 0
    while tokens < min_tokens:
        chunk = []
        while len(chunk) < 64:
            sentence = synthetic_sentence(rng)
            if sentence not in seen:
                seen.add(sentence)
                chunk.append(sentence)
        ids, _ = tokenize(loaded, chunk)
        tokens += sum(len(row) - 2 for row in ids)  # <s> and </s> are not indexed
        sentences += chunk
    return Corpus(name="synthetic corpus", sentences=tuple(sentences))


@dataclass
class StorageRow:
    storage: str
    bytes_per_vector: int
    build_s: float
    recall: float  # row-id recall@k against exact
    tie_aware: float  # tie-aware recall@k against exact
    latency_ms: float  # median single-query search


def compare_storages(
    exact_vectors: np.ndarray, queries: np.ndarray, k: int, fp16_index=None
) -> list[StorageRow]:
    """Build exact, float16 and 8-bit indices of the same unit vectors; compare each with a
    brute-force numpy search (the independent reference: faiss's exact index is measured too)."""
    exact_scores, exact_rows = brute_force_top_k(queries, exact_vectors, k)
    rows = []
    for storage in ("flat", "fp16", "sq8"):
        started = time.perf_counter()
        if storage == "fp16" and fp16_index is not None:
            index, build_s = fp16_index, float("nan")  # built by build_index, timed there
        else:
            index = new_index(exact_vectors.shape[1], storage)
            if not index.is_trained:
                index.train(exact_vectors)
            index.add(exact_vectors)
            build_s = time.perf_counter() - started
        latencies = []
        found = []
        for query in queries:
            started = time.perf_counter()
            _, rows_found = index.search(query[None], k)
            latencies.append(time.perf_counter() - started)
            found.append(rows_found[0])
        found_rows = np.stack(found)
        rows.append(StorageRow(
            storage=storage,
            bytes_per_vector=int(index.code_size),
            build_s=build_s,
            recall=recall_at_k(exact_rows, found_rows),
            tie_aware=tie_aware_recall(queries, exact_vectors, exact_scores, found_rows),
            latency_ms=1e3 * float(np.median(latencies)),
        ))
    return rows


def print_storage_table(title: str, rows: list[StorageRow], k: int) -> None:
    flat = rows[0]
    print(f"\n{title}")
    print(f"{'storage':8} {'B/vector':>9} {'vs exact':>9} {'recall@' + str(k):>10} "
          f"{'tie-aware':>10} {'search ms':>10} {'vs exact':>9}")
    for row in rows:
        print(f"{row.storage:8} {row.bytes_per_vector:9d} "
              f"{row.bytes_per_vector / flat.bytes_per_vector:9.2f} {row.recall:10.3f} "
              f"{row.tie_aware:10.3f} {row.latency_ms:10.3f} "
              f"{row.latency_ms / flat.latency_ms:9.2f}")


def index_report(loaded: Loaded, corpus: Corpus, settings: IndexSettings, folder: Path) -> None:
    """Index ``corpus``, save it, and print throughput and size."""
    index = build_index(loaded, corpus, settings)
    save_index(index, folder)
    text_bytes = len("\n".join(corpus.sentences).encode("utf-8"))
    on_disk = disk_bytes(folder)
    print(f"{corpus.name}: {len(corpus.sentences):,} lines, {text_bytes / 1e3:,.1f} KB of text, "
          f"{index.num_tokens:,} tokens indexed in {index.seconds:.1f} s "
          f"({index.num_tokens / index.seconds:,.0f} tokens/s)")
    print(f"  storage {settings.storage}, heads {settings.heads}: vectors "
          f"{index.vector_bytes() / 1e6:,.1f} MB ({index.bytes_per_token():,.0f} B/token), "
          f"on disk {on_disk / 1e6:,.1f} MB ({on_disk / max(1, text_bytes):,.0f} B per byte of "
          f"text; exBERT: {EXBERT_BYTES / EXBERT_TEXT_BYTES:,.0f})")


def run(tokens: int, queries: int, k: int, layers: int, hidden: int, heads: int,
        bundled: bool = True, seed: int = 0) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        folder = build_tiny_model(Path(temporary) / "model", layers=layers, hidden=hidden,
                                  heads=heads, max_tokens=512)
        loaded = load(str(folder))
        info = loaded.info
        print(f"model: random RoBERTa, {info.num_layers} layers, hidden {info.hidden_size}, "
              f"{info.num_heads} heads, {info.num_parameters:,} parameters; "
              f"torch threads {__import__('torch').get_num_threads()}")
        if bundled:
            index_report(loaded, bundled_corpus(), IndexSettings(),
                         Path(temporary) / "bundled")

        corpus = synthetic_corpus(loaded, tokens, seed)
        # Keep the exact vectors of the last layer (hidden state and head outputs) as we go.
        kept_hidden: list[np.ndarray] = []
        kept_heads: list[np.ndarray] = []

        def keep(batch: EncodedBatch) -> None:
            kept_hidden.append(unit_rows(batch.hidden[-1]))
            assert batch.heads is not None
            kept_heads.append(batch.heads[-1].astype(np.float32))

        index = build_index(loaded, corpus, IndexSettings(storage="fp16"), on_batch=keep)
        text_bytes = len("\n".join(corpus.sentences).encode("utf-8"))
        print(f"\n{corpus.name}: {len(corpus.sentences):,} lines, {text_bytes / 1e3:,.0f} KB, "
              f"{index.num_tokens:,} tokens indexed (all {info.num_layers + 1} hidden layers + "
              f"{info.num_layers} head layers, fp16) in {index.seconds:.1f} s: "
              f"{index.num_tokens / index.seconds:,.0f} tokens/s")
        per_token = {name: (2 * info.num_layers + 1) * info.hidden_size * size
                     for name, size in (("flat", 4), ("fp16", 2), ("sq8", 1))}
        print("  bytes per token, all layers and heads: " + ", ".join(
            f"{name} {value:,}" for name, value in per_token.items())
            + f" (measured fp16: {index.bytes_per_token():,.0f})")

        rng = np.random.default_rng(seed)
        sample = rng.choice(index.num_tokens, min(queries, index.num_tokens), replace=False)
        hidden_vectors = np.concatenate(kept_hidden)
        rows = compare_storages(hidden_vectors, hidden_vectors[sample], k,
                                fp16_index=index.hidden[-1])
        print_storage_table(f"last layer, by embedding: {len(sample)} queries, "
                            f"{index.num_tokens:,} vectors of {info.hidden_size} dims", rows, k)
        selected = list(range(min(3, info.num_heads)))
        raw_heads = np.concatenate(kept_heads)
        head_vectors = head_unit_rows(raw_heads, info.num_heads)
        head_queries = head_unit_rows(raw_heads[sample], info.num_heads, selected)
        rows = compare_storages(head_vectors, head_queries, k, fp16_index=index.heads[-1])
        print_storage_table(f"last layer, by heads {[h + 1 for h in selected]}' output",
                            rows, k)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=100_000,
                        help="tokens in the synthetic corpus (default 100000)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--no-bundled", action="store_true",
                        help="skip indexing the bundled corpus")
    parser.add_argument("--scale", type=int, nargs="+", default=None, metavar="VECTORS",
                        help="instead: the on-disk IVF-PQ index at these sizes against exact "
                        "search (bench/corpus_scale.py; e.g. --scale 100000 1000000)")
    parser.add_argument("--real-large", type=int, default=1_000_000, metavar="TOKENS",
                        help="with --scale: recall over this many real encodings (0 skips)")
    args = parser.parse_args(argv)
    if args.scale:
        from bench.corpus_scale import main as scale_main

        scale_main(["--scale", *map(str, args.scale), "--queries", str(args.queries),
                    "--k", str(args.k), "--real-large", str(args.real_large)])
        return
    run(args.tokens, args.queries, args.k, args.layers, args.hidden, args.heads,
        bundled=not args.no_bundled)


if __name__ == "__main__":
    main()
