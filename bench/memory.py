"""Memory the app needs: resident set size after loading a distilroberta-shaped model and after
20 analyses of 128 tokens kept in the app's own bounded analysis cache.

    python bench/memory.py                 # distilroberta-base's shape: 6 × 768, 12 heads, 82 M
    python bench/memory.py --analyses 40 --tokens 256

No hub here, so the model is built with random weights (``explorer.tiny``) and its embeddings are
padded to distilroberta-base's 50,265-token vocabulary, so the parameter count matches. Each
figure comes from a fresh process (so building the model does not count) and is compared with
that process's baseline after importing torch, transformers and the app's modules.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DISTILROBERTA_VOCAB = 50_265
MIB = 2**20


def build_model(folder: Path, layers: int = 6, hidden: int = 768, heads: int = 12,
                max_tokens: int = 512, vocab: int = DISTILROBERTA_VOCAB) -> Path:
    """A random-weight RoBERTa of the given shape, embeddings padded to ``vocab`` tokens."""
    from explorer.model import load
    from explorer.tiny import build_tiny_model

    build_tiny_model(folder, layers=layers, hidden=hidden, heads=heads, max_tokens=max_tokens)
    loaded = load(str(folder))
    if vocab > loaded.model.config.vocab_size:
        loaded.model.resize_token_embeddings(vocab)
    loaded.model.save_pretrained(folder, safe_serialization=True)
    return folder


def text_of_tokens(tokenizer, tokens: int, seed: int) -> str:
    """A different text per ``seed`` with one ``<mask>`` that encodes to exactly ``tokens``
    tokens (special tokens included), or as close as the tokenizer allows."""
    from explorer.tiny import TRAINING_SENTENCES

    words = " ".join(TRAINING_SENTENCES).split()
    rng = random.Random(seed)
    rng.shuffle(words)
    words = words * (tokens // 4 + 2)

    def make(count: int) -> str:
        return " ".join([*words[: count // 2], "<mask>", *words[count // 2: count]])

    def length(count: int) -> int:
        return len(tokenizer(make(count))["input_ids"])

    low, high = 1, len(words)
    while low < high:  # the most words whose text fits in ``tokens`` tokens
        middle = (low + high + 1) // 2
        if length(middle) <= tokens:
            low = middle
        else:
            high = middle - 1
    text = make(low)
    for filler in (" a", ".", " !", " 4", ","):  # top up to exactly ``tokens`` if one fits
        while len(tokenizer(text + filler)["input_ids"]) <= tokens and \
                len(tokenizer(text)["input_ids"]) < tokens:
            text += filler
    return text


def measure(folder: str, analyses: int, tokens: int) -> dict[str, float]:
    """In this process: RSS at baseline, after loading, after ``analyses`` cached analyses."""
    import torch  # noqa: F401  (baseline includes the libraries the app imports anyway)
    import transformers  # noqa: F401

    from explorer.analysis import analyze
    from explorer.lru import BoundedCache
    from explorer.memory import analysis_nbytes, rss_bytes
    from explorer.model import load
    from ui.cache import ANALYSIS_CACHE_MAX_ENTRIES, MAX_TOP_K, analysis_cache_bytes

    gc.collect()
    baseline = rss_bytes()
    loaded = load(folder)
    gc.collect()
    after_load = rss_bytes()
    # One forward pass, not kept: touches the memory-mapped weights and warms the allocator.
    analyze(loaded, text_of_tokens(loaded.tokenizer, tokens, -1), top_k=MAX_TOP_K)
    gc.collect()
    after_warmup = rss_bytes()
    cache = BoundedCache(analysis_cache_bytes(), analysis_nbytes, ANALYSIS_CACHE_MAX_ENTRIES)
    texts = [text_of_tokens(loaded.tokenizer, tokens, seed) for seed in range(analyses)]
    token_counts = []
    for text in texts:
        result = cache.get((loaded.info.name, text),
                           lambda t=text: analyze(loaded, t, top_k=MAX_TOP_K))
        token_counts.append(result.num_tokens)
    gc.collect()
    after_analyses = rss_bytes()
    longest = analyze(loaded, text_of_tokens(loaded.tokenizer, loaded.info.max_tokens, 999),
                      top_k=MAX_TOP_K)
    return {
        "parameters_m": loaded.info.num_parameters / 1e6,
        "baseline_mib": baseline / MIB,
        "after_load_mib": after_load / MIB,
        "after_warmup_mib": after_warmup / MIB,
        "after_analyses_mib": after_analyses / MIB,
        "analyses": float(analyses),
        "tokens_min": float(min(token_counts)),
        "tokens_max": float(max(token_counts)),
        "cached_entries": float(len(cache)),
        "cache_mib": cache.total_bytes / MIB,
        "entry_mib": cache.total_bytes / max(1, len(cache)) / MIB,
        "max_tokens": float(loaded.info.max_tokens),
        "entry_at_max_tokens_mib": analysis_nbytes(longest) / MIB,
        "cache_budget_mib": cache.max_bytes / MIB,
    }


def run(analyses: int = 20, tokens: int = 128, layers: int = 6, hidden: int = 768,
        heads: int = 12, max_tokens: int = 512, vocab: int = DISTILROBERTA_VOCAB
        ) -> dict[str, float]:
    """Build the model in a temp folder, then measure in a fresh process."""
    with tempfile.TemporaryDirectory() as temp:
        folder = build_model(Path(temp) / "model", layers, hidden, heads, max_tokens, vocab)
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            return pool.submit(measure, str(folder), analyses, tokens).result(timeout=900)


def report(figures: dict[str, float]) -> str:
    load_cost = figures["after_load_mib"] - figures["baseline_mib"]
    warmup_cost = figures["after_warmup_mib"] - figures["after_load_mib"]
    analyses_cost = figures["after_analyses_mib"] - figures["after_warmup_mib"]
    lines = [
        f"model: {figures['parameters_m']:.1f} M parameters, "
        f"{figures['tokens_min']:.0f}-{figures['tokens_max']:.0f} tokens per analysis",
        f"RSS baseline (torch, transformers, app modules imported): "
        f"{figures['baseline_mib']:.0f} MiB",
        f"RSS after loading the model:  {figures['after_load_mib']:.0f} MiB "
        f"(+{load_cost:.0f} MiB, {load_cost / max(figures['baseline_mib'], 1):.2f}× baseline)",
        f"RSS after one forward pass (weights paged in): {figures['after_warmup_mib']:.0f} MiB "
        f"(+{warmup_cost:.0f} MiB)",
        f"RSS after {figures['analyses']:.0f} cached analyses: "
        f"{figures['after_analyses_mib']:.0f} MiB (+{analyses_cost:.0f} MiB)",
        f"analysis cache: {figures['cached_entries']:.0f} entries, "
        f"{figures['cache_mib']:.1f} MiB ({figures['entry_mib']:.2f} MiB per entry), "
        f"growth/cache size = {analyses_cost / max(figures['cache_mib'], 1e-9):.2f}",
        f"one analysis at {figures['max_tokens']:.0f} tokens: "
        f"{figures['entry_at_max_tokens_mib']:.1f} MiB; cache budget "
        f"{figures['cache_budget_mib']:.0f} MiB (≈ "
        f"{figures['cache_budget_mib'] / figures['entry_at_max_tokens_mib']:.0f} such entries)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    import os

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = argparse.ArgumentParser(description="Resident memory of the explorer.")
    parser.add_argument("--analyses", type=int, default=20)
    parser.add_argument("--tokens", type=int, default=128)
    args = parser.parse_args(argv)
    print(report(run(args.analyses, args.tokens)))


if __name__ == "__main__":
    main()
