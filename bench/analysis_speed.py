"""How much does the full analysis cost next to the Hugging Face fill-mask pipeline?

Builds a distilroberta-shaped RoBERTa (6 layers, hidden 768, 12 heads, 50 265-token LM head,
random weights, 512 tokens) in a temporary folder, then for 128 and 512 tokens times,
interleaved in one run:

- ``bare``: ``model(input_ids)`` — the whole model, LM head over every token, nothing else;
- ``pipeline``: ``transformers.pipeline("fill-mask")`` on the same model and text (top 5) —
  the independent reference the issue sets the goal against;
- ``analysis``: :func:`explorer.analysis.analyze` as the app calls it (attentions, hidden
  states, top 50 per mask: the encoder once, the LM head at the masks only);
- ``tooltips``: :func:`explorer.token_predictions.top_predictions_per_token` (the LM head at the
  other tokens, computed after the tables, once per text);
- ``lens``: :func:`explorer.lens.logit_lens` for the mask token.

Prints medians of wall time and of process CPU time (steadier on a shared machine) and the
ratio analysis ÷ pipeline of each. Goal: ≤ 0.8 at 128 and 512 tokens.
Run: ``python bench/analysis_speed.py [--tokens 128 512] [--repeats 9] [--threads N]``.
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
from explorer.token_predictions import top_predictions_per_token

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


def time_once(function: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


NAMES = ("bare", "pipeline", "analysis", "tooltips", "lens")


def make_steps(loaded: Loaded, text: str) -> dict[str, Callable[[], object]]:
    """The timed steps of :data:`NAMES` for ``text``; each returns its result."""
    from transformers import pipeline

    analysis = analyze(loaded, text, top_k=50)
    ids = torch.from_numpy(analysis.token_ids.copy())[None, :]
    mask = torch.ones_like(ids)
    position = analysis.mask_positions[0]
    fill_mask = pipeline("fill-mask", model=loaded.model, tokenizer=loaded.tokenizer, top_k=5)

    def bare() -> object:
        with torch.inference_mode():
            return loaded.model(input_ids=ids, attention_mask=mask)

    return {
        "bare": bare,
        "pipeline": lambda: fill_mask(text),
        "analysis": lambda: analyze(loaded, text, top_k=50),
        "tooltips": lambda: top_predictions_per_token(loaded, analysis, 10),
        "lens": lambda: logit_lens(loaded, analysis, position, top_k=50),
    }


def measure(loaded: Loaded, token_count: int, repeats: int) -> dict[str, float]:
    """Median wall and CPU seconds of each step of :data:`NAMES`, interleaved."""
    text = text_with_tokens(loaded, token_count)
    steps = make_steps(loaded, text)
    for function in steps.values():  # warm-up
        function()
    wall: dict[str, list[float]] = {name: [] for name in NAMES}
    cpu: dict[str, list[float]] = {name: [] for name in NAMES}
    for _ in range(repeats):
        for name in NAMES:
            seconds, cpu_seconds = time_once(steps[name])
            wall[name].append(seconds)
            cpu[name].append(cpu_seconds)
    result: dict[str, float] = {name: statistics.median(wall[name]) for name in NAMES}
    result |= {f"{name}_cpu": statistics.median(cpu[name]) for name in NAMES}
    result["tokens"] = len(loaded.tokenizer(text)["input_ids"])
    result["ratio"] = result["analysis"] / result["pipeline"]
    result["ratio_cpu"] = result["analysis_cpu"] / result["pipeline_cpu"]
    return result


def report(loaded: Loaded, token_counts: list[int], repeats: int) -> list[dict[str, float]]:
    rows = [measure(loaded, count, repeats) for count in token_counts]
    print(f"model: {loaded.info.num_layers} layers × {loaded.info.num_heads} heads, hidden "
          f"{loaded.info.hidden_size}, vocab {loaded.info.vocab_size}; torch threads "
          f"{torch.get_num_threads()}; {repeats} interleaved repeats, medians (ms wall / ms CPU)")
    header = "  ".join(f"{name + ' ms':>17}" for name in NAMES)
    print(f"{'tokens':>6}  {header}  {'analysis÷pipeline':>17}")
    for row in rows:
        cells = "  ".join(f"{row[n] * 1e3:>8.1f}/{row[n + '_cpu'] * 1e3:<8.1f}" for n in NAMES)
        print(f"{row['tokens']:>6}  {cells}  {row['ratio']:>8.2f}/{row['ratio_cpu']:<8.2f}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    arguments = parser.parse_args()
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    with tempfile.TemporaryDirectory() as folder:
        report(build_model(folder), arguments.tokens, arguments.repeats)


if __name__ == "__main__":
    main()
