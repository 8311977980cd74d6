"""What does attribution cost? Integrated gradients at 32 steps on 128 tokens, on CPU.

Builds the distilroberta-shaped random RoBERTa of ``bench/analysis_speed.py`` (6 layers, hidden
768, 12 heads, 50 265-token LM head) and times, interleaved in one run, for one ``<mask>``:

- ``analysis``: :func:`explorer.analysis.analyze` (the one forward pass the app already makes);
- ``grad×input``: :func:`explorer.attribution.attribute` with ``gradient_x_input``;
- ``IG b=N``: integrated gradients, 32 steps, ``N`` path points per forward/backward batch;
- ``value norms``: :func:`value_weighted_attention` + :func:`layer_value_weighted_attention` +
  :func:`norm_rollout` from the analysis (no forward pass).

Prints medians and each one's ratio to the analysis. Run: ``python bench/attribution_cost.py``
(``--small`` for a quick run on a tiny model).
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

from bench.analysis_speed import build_model, text_with_tokens
from explorer.analysis import analyze
from explorer.attribution import (
    attribute,
    layer_value_weighted_attention,
    norm_rollout,
    value_weighted_attention,
)
from explorer.model import Loaded, load
from explorer.tiny import build_tiny_model


def measure(loaded: Loaded, tokens: int, steps: int, batch_sizes: list[int],
            repeats: int) -> dict[str, float]:
    """Median seconds of each job (see the module docstring), interleaved over ``repeats``."""
    text = text_with_tokens(loaded, tokens)
    analysis = analyze(loaded, text)
    position = analysis.mask_positions[0]
    target = analysis.predictions[0].predictions[0].token_id
    jobs: dict[str, Callable[[], object]] = {
        "analysis": lambda: analyze(loaded, text),
        "grad×input": lambda: attribute(loaded, analysis.token_ids, position, target,
                                        method="gradient_x_input"),
    }
    last_ig = {}

    def integrated(size: int) -> None:
        last_ig["result"] = attribute(loaded, analysis.token_ids, position, target,
                                      steps=steps, batch_size=size)

    for size in batch_sizes:
        jobs[f"IG b={size}"] = lambda size=size: integrated(size)

    def value_norms() -> None:
        value_weighted_attention(loaded, analysis.attentions, analysis.hidden_states)
        norm_rollout(layer_value_weighted_attention(loaded, analysis.attentions,
                                                    analysis.hidden_states))

    jobs["value norms"] = value_norms
    for name, job in jobs.items():  # warm-up (integrated gradients warms itself: 32 passes)
        if not name.startswith("IG"):
            job()
    times: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(repeats):
        for name, job in jobs.items():
            start = time.perf_counter()
            job()
            times[name].append(time.perf_counter() - start)
    result = {name: statistics.median(values) for name, values in times.items()}
    error = last_ig["result"]
    print(f"model: {loaded.info.num_layers} layers × {loaded.info.num_heads} heads, hidden "
          f"{loaded.info.hidden_size}, vocab {loaded.info.vocab_size}; {analysis.num_tokens} "
          f"tokens; IG {steps} steps (Gauss–Legendre); torch threads {torch.get_num_threads()};"
          f" {repeats} interleaved repeats, medians")
    print(f"{'job':<12}  {'ms':>9}  {'× analysis':>10}")
    for name, seconds in result.items():
        print(f"{name:<12}  {seconds * 1e3:>9.1f}  {seconds / result['analysis']:>10.1f}")
    print(f"IG completeness error at {steps} steps: {error.completeness_error:+.2e} "
          f"(f(x) − f(x') = {error.completeness_gap:+.3f})")
    result["tokens"] = analysis.num_tokens
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 16, 32])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--small", action="store_true", help="tiny model (smoke run)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        loaded = (load(str(build_tiny_model(folder, max_tokens=64))) if arguments.small
                  else build_model(folder))
        measure(loaded, arguments.tokens, arguments.steps, arguments.batch_sizes,
                arguments.repeats)


if __name__ == "__main__":
    main()
