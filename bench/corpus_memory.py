"""Resident memory of an abandoned corpus-index build: is the build's memory given back?

    python bench/corpus_memory.py                # distilroberta-shaped random model, ~6 k tokens
    python bench/corpus_memory.py --tokens 1500 --hidden 64 --layers 2 --heads 4   # quick

When a visitor closes the tab during "Build index", Streamlit raises from the next progress
update; the build stops. Each variant runs in a fresh process: the model is loaded, a synthetic
corpus is indexed (fp16, with heads) and the build is stopped at 80 % by raising from the progress
callback, as Streamlit does. Printed: RSS after the model loaded, at the stop, and after the
error was handled (the exception still alive, as it is while Streamlit handles it, then dropped).
"loaded" is measured after one warm-up batch (the heap trimmed), so "kept" is what the stopped
build leaves resident.

Variants: ``new`` (this tree's explorer.corpus) and ``old`` (explorer/corpus.py of commit
``--old-commit``, before the package split), so the figures compare in one run.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MIB = 2**20
OLD_COMMIT = "6b4d9bc"


class Stop(Exception):
    """Stands for Streamlit's StopException."""


def _old_module(commit: str, folder: Path):
    source = subprocess.run(["git", "show", f"{commit}:explorer/corpus.py"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout
    path = folder / "old_corpus.py"
    path.write_text(source.replace("ROOT = Path(__file__).resolve().parent.parent",
                                   f"ROOT = Path({str(ROOT)!r})"))
    spec = importlib.util.spec_from_file_location("old_corpus", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_corpus"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def measure(variant: str, model_dir: str, tokens: int, commit: str) -> dict[str, float]:
    """One variant in this process (called in a child process by :func:`main`)."""
    from bench.corpus_search import synthetic_corpus
    from explorer.corpus import release_freed_memory
    from explorer.memory import rss_bytes
    from explorer.model import load

    with tempfile.TemporaryDirectory() as temporary:
        corpus_module = (_old_module(commit, Path(temporary)) if variant == "old"
                         else importlib.import_module("explorer.corpus"))
        loaded = load(model_dir)
        corpus = synthetic_corpus(loaded, tokens)
        corpus = corpus_module.Corpus(name=corpus.name, sentences=corpus.sentences)
        # Warm up (thread pools, kernels): one full-size batch, then the heap trimmed, so that
        # "loaded" is a warm server and "kept" is what the stopped build leaves behind.
        id_lists, _ = corpus_module.tokenize(loaded, corpus.sentences[:200])
        corpus_module.forward_batch(loaded, id_lists[:2048 // max(map(len, id_lists))], True)
        release_freed_memory()
        figures = {"loaded": rss_bytes() / MIB}

        def progress(done: int, total: int) -> None:
            if done >= 0.8 * total:
                figures["at_stop"] = rss_bytes() / MIB
                raise Stop

        settings = corpus_module.IndexSettings(storage="fp16", heads=True)
        try:
            corpus_module.build_index(loaded, corpus, settings, progress)
        except Stop:
            gc.collect()
            figures["handling"] = rss_bytes() / MIB  # the exception (and traceback) alive
        gc.collect()
        figures["after"] = rss_bytes() / MIB
        per_token = (2 * loaded.info.num_layers + 1) * loaded.info.hidden_size * 2
        figures["index_mib_at_stop"] = 0.8 * tokens * per_token / MIB
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=6_000)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--old-commit", default=OLD_COMMIT)
    parser.add_argument("--variant", choices=["old", "new"], help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.variant:
        print(json.dumps(measure(args.variant, args.model_dir, args.tokens, args.old_commit)))
        return
    from explorer.tiny import build_tiny_model

    with tempfile.TemporaryDirectory() as temporary:
        model_dir = build_tiny_model(Path(temporary) / "model", layers=args.layers,
                                     hidden=args.hidden, heads=args.heads, max_tokens=512)
        print(f"random RoBERTa, {args.layers} layers, hidden {args.hidden}, {args.heads} heads; "
              f"~{args.tokens:,} corpus tokens, fp16 with heads; build stopped at 80 %")
        print(f"{'variant':8} {'loaded':>8} {'at stop':>8} {'handling':>9} {'after':>8} "
              f"{'kept':>8}   (RSS MiB; kept = after - loaded, warm)")
        for variant in ("old", "new"):
            output = subprocess.run(
                [sys.executable, __file__, "--variant", variant, "--model-dir", str(model_dir),
                 "--tokens", str(args.tokens), "--old-commit", args.old_commit],
                check=True, capture_output=True, text=True).stdout
            f = json.loads(output.strip().splitlines()[-1])
            print(f"{variant:8} {f['loaded']:8.0f} {f['at_stop']:8.0f} {f['handling']:9.0f} "
                  f"{f['after']:8.0f} {f['after'] - f['loaded']:8.0f}")
        print(f"(index vectors at the stop: about {f['index_mib_at_stop']:.0f} MiB)")


if __name__ == "__main__":
    main()
