"""Export cost: time and size of the CSV/JSON/NPZ files against the forward pass that made them.

Run ``python bench/export_bench.py``: builds a random-weight distilroberta-shaped model (6 layers,
12 heads, hidden 768) in a temp folder and prints, for a short and a long input, the seconds and
megabytes of each export and its time as a multiple of ``analyze()`` measured in the same run.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from explorer.analysis import analyze
from explorer.export import analysis_json, analysis_npz, json_fits, predictions_csv
from explorer.model import load
from explorer.tiny import build_tiny_model


def measure(loaded, words: int, top_k: int = 5) -> list[str]:
    """One line per export for an input of ``words`` words plus a mask."""
    text = " ".join(["word"] * words) + " <mask>."
    started = time.perf_counter()
    analysis = analyze(loaded, text, top_k=50)
    baseline = time.perf_counter() - started
    lines = [f"{analysis.num_tokens} tokens: analyze() {baseline:.3f} s (baseline)"]
    exports = {"csv": lambda: predictions_csv(analysis, top_k),
               "npz": lambda: analysis_npz(analysis, top_k)}
    if json_fits(analysis):
        exports["json"] = lambda: analysis_json(analysis, top_k)
    else:
        lines.append("  json: skipped, too many attention weights (the app offers NPZ)")
    for name, build in exports.items():
        started = time.perf_counter()
        data = build()
        seconds = time.perf_counter() - started
        size = len(data.encode() if isinstance(data, str) else data) / 1e6
        lines.append(f"  {name}: {seconds:.3f} s = {seconds / baseline:.2f}× analyze, "
                     f"{size:.2f} MB")
    return lines


def main(layers: int = 6, hidden: int = 768, heads: int = 12, max_tokens: int = 512,
         sizes: tuple[int, ...] = (10, 150, 500)) -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        loaded = load(str(build_tiny_model(Path(folder), layers=layers, hidden=hidden,
                                           heads=heads, max_tokens=max_tokens)))
        lines = [line for words in sizes for line in measure(loaded, words)]
    return lines


if __name__ == "__main__":
    for line in main():
        print(line)
