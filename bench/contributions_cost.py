"""What does the contribution graph cost? Time and peak memory at 512 tokens, on CPU.

Builds the distilroberta-shaped random RoBERTa of ``bench/memory.py`` (6 layers, hidden 768,
12 heads, 3072-wide feed-forward, 50 265-token LM head), analyses one text of ``--tokens``
tokens, then measures, in the same run:

- ``analysis``: :func:`explorer.analysis.analyze` (the forward pass the app already makes);
- ``contributions``: :func:`explorer.contributions.contributions` (every layer, every token,
  through attention, residual, LayerNorm and the feed-forward block);
- ``attention block only``: the same without the feed-forward block (ALTI);
- ``head maps, one layer``: :func:`explorer.contributions.head_contribution_maps` (what an edge
  click computes).

Peak memory is the highest resident set size seen by a 2 ms sampler thread while each step
runs, above the level just before it. A ``tokens² × heads × dim`` array at 512 tokens would be
512 · 512 · 12 · 64 · 4 B = 0.75 GiB per layer; the chunked computation never builds one.

Run: ``python bench/contributions_cost.py`` (``--small`` for a quick run on a tiny model).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MIB = 2**20


class PeakRss:
    """The highest resident set size of this process while the ``with`` block runs."""

    def __init__(self, every_s: float = 0.002) -> None:
        self.every_s = every_s
        self.peak = 0
        self.before = 0
        self._stop = threading.Event()

    def _sample(self) -> None:
        from explorer.memory import rss_bytes

        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            self._stop.wait(self.every_s)

    def __enter__(self) -> PeakRss:
        from explorer.memory import rss_bytes

        self.before = self.peak = rss_bytes()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        from explorer.memory import rss_bytes

        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def rise_mib(self) -> float:
        return (self.peak - self.before) / MIB


def measure(step: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median seconds of ``repeats`` runs and the largest memory rise (MiB) of any of them."""
    seconds, rises = [], []
    for _ in range(repeats):
        with PeakRss() as rss:
            started = time.perf_counter()
            step()
            seconds.append(time.perf_counter() - started)
        rises.append(rss.rise_mib)
    return statistics.median(seconds), max(rises)


def run(loaded, tokens: int, repeats: int) -> dict[str, tuple[float, float]]:
    from bench.memory import text_of_tokens
    from explorer.analysis import analyze
    from explorer.contributions import contributions, head_contribution_maps

    text = text_of_tokens(loaded.tokenizer, tokens, seed=0)
    analysis = analyze(loaded, text)
    last = analysis.num_layers - 1
    steps = {
        "analysis": lambda: analyze(loaded, text),
        "contributions": lambda: contributions(loaded, analysis),
        "attention block only": lambda: contributions(loaded, analysis, through_ffn=False),
        "head maps, one layer": lambda: head_contribution_maps(loaded, analysis, last),
    }
    figures = {name: measure(step, repeats) for name, step in steps.items()}
    figures["tokens"] = (float(analysis.num_tokens), 0.0)
    return figures


def report(figures: dict[str, tuple[float, float]]) -> str:
    tokens = int(figures["tokens"][0])
    base = figures["analysis"][0]
    lines = [f"{tokens} tokens", "| step | median time | × analysis | peak memory rise |",
             "|---|---:|---:|---:|"]
    for name, (seconds, rise) in figures.items():
        if name != "tokens":
            lines.append(f"| {name} | {seconds:.2f} s | {seconds / base:.1f}× | {rise:.0f} MiB |")
    return "\n".join(lines)


def main() -> None:
    from bench.memory import build_model
    from explorer.model import load
    from explorer.tiny import build_tiny_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--small", action="store_true", help="tiny model (smoke run)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp) / "model"
        loaded = (load(str(build_tiny_model(folder, max_tokens=64))) if arguments.small
                  else load(str(build_model(folder))))
        tokens = min(arguments.tokens, 64) if arguments.small else arguments.tokens
        print(report(run(loaded, tokens, arguments.repeats)))


if __name__ == "__main__":
    main()
