"""How much does the full analysis cost over a bare forward pass? And one logit-lens query?

Builds a distilroberta-shaped RoBERTa (6 layers, hidden 768, 12 heads, 50 265-token LM head,
random weights, 512 tokens) in a temporary folder, then for 32 and 128 tokens times,
interleaved in one run:

- ``bare``: ``model(input_ids)`` — no attentions, no hidden states, no top-k;
- ``analysis``: :func:`explorer.analysis.analyze` (attentions + hidden states + top-k);
- ``lens``: :func:`explorer.lens.logit_lens` for the mask token (on the analysis above).

Prints medians and the ratio analysis / bare. Run: ``python bench/analysis_speed.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch

from explorer.analysis import analyze
from explorer.lens import logit_lens
from explorer.model import Loaded, load
from explorer.tiny import TRAINING_SENTENCES, build_tiny_model

DISTILROBERTA_VOCAB = 50265


def text_with_tokens(loaded: Loaded, count: int) -> str:
    """A text of exactly ``count`` tokens (special tokens included) ending in ``<mask>.``."""
    words = " ".join(TRAINING_SENTENCES * (1 + count // 8)).split()

    def length(parts: list[str]) -> int:
        return len(loaded.tokenizer(" ".join([*parts, "<mask>."]))["input_ids"])

    kept: list[str] = []
    for word in words:
        if length([*kept, word]) > count:
            break
        kept.append(word)
    while length(kept) < count:  # top up with a one-token word
        kept.append("the")
    if length(kept) != count:
        raise ValueError(f"could not build a text of exactly {count} tokens")
    return " ".join([*kept, "<mask>."])


def build_model(folder: str, vocab_size: int = DISTILROBERTA_VOCAB) -> Loaded:
    """distilroberta-shaped random model; the head is widened to ``vocab_size`` outputs so that
    the LM head (the largest matrix, and all the logit lens computes) has the real cost. The
    tiny tokenizer only produces ids below 400; the extra rows are never an input."""
    from transformers import RobertaForMaskedLM

    build_tiny_model(folder, layers=6, hidden=768, heads=12, max_tokens=512)
    model = RobertaForMaskedLM.from_pretrained(folder)
    model.resize_token_embeddings(vocab_size, mean_resizing=False)
    model.save_pretrained(folder, safe_serialization=True)
    return load(folder)


def time_once(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def measure(loaded: Loaded, token_count: int, repeats: int) -> dict[str, float]:
    """Median seconds of bare forward, full analysis and one lens query, interleaved."""
    text = text_with_tokens(loaded, token_count)
    analysis = analyze(loaded, text, top_k=50)
    ids = torch.from_numpy(analysis.token_ids.copy())[None, :]
    mask = torch.ones_like(ids)
    position = analysis.mask_positions[0]

    def bare() -> None:
        with torch.inference_mode():
            loaded.model(input_ids=ids, attention_mask=mask)

    def full() -> None:
        analyze(loaded, text, top_k=50)

    def lens() -> None:
        logit_lens(loaded, analysis, position, top_k=50)

    for function in (bare, full, lens):  # warm-up
        function()
    times: dict[str, list[float]] = {"bare": [], "analysis": [], "lens": []}
    for _ in range(repeats):
        times["bare"].append(time_once(bare))
        times["analysis"].append(time_once(full))
        times["lens"].append(time_once(lens))
    result = {name: statistics.median(values) for name, values in times.items()}
    result["tokens"] = analysis.num_tokens
    result["ratio"] = result["analysis"] / result["bare"]
    return result


def report(loaded: Loaded, token_counts: list[int], repeats: int) -> list[dict[str, float]]:
    rows = [measure(loaded, count, repeats) for count in token_counts]
    print(f"model: {loaded.info.num_layers} layers × {loaded.info.num_heads} heads, hidden "
          f"{loaded.info.hidden_size}, vocab {loaded.info.vocab_size}; torch threads "
          f"{torch.get_num_threads()}; {repeats} interleaved repeats, medians")
    print(f"{'tokens':>6}  {'bare ms':>9}  {'analysis ms':>11}  {'ratio':>6}  {'lens ms':>8}")
    for row in rows:
        print(f"{row['tokens']:>6}  {row['bare'] * 1e3:>9.1f}  {row['analysis'] * 1e3:>11.1f}  "
              f"{row['ratio']:>6.2f}  {row['lens'] * 1e3:>8.1f}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--repeats", type=int, default=15)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        report(build_model(folder), arguments.tokens, arguments.repeats)


if __name__ == "__main__":
    main()
