"""Resident memory of the running app (``streamlit run app.py``) with a distilroberta-shaped
model: after start, after the model loads, and after N analyses typed in a real browser.

    python bench/app_memory.py               # 20 analyses of 128 tokens, one browser session

Complements bench/memory.py (the core alone): this adds Streamlit's server, the session and the
charts. Needs Debian's chromium (tests/browser.py); runs on loopback only.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.memory import MIB, build_model, text_of_tokens

_TEXT_TIMEOUT_MS = 180_000


def run(analyses: int = 20, tokens: int = 128, layers: int = 6, hidden: int = 768,
        heads: int = 12, max_tokens: int = 512, vocab: int = 50_265) -> dict[str, float]:
    from explorer.analysis import analyze
    from explorer.memory import rss_bytes
    from explorer.model import load
    from tests.browser import TABLE, app_server, chromium_page, shown_cell, wait_for_cell

    with tempfile.TemporaryDirectory() as temp:
        folder = build_model(Path(temp) / "model", layers, hidden, heads, max_tokens, vocab)
        loaded = load(str(folder))
        texts = [text_of_tokens(loaded.tokenizer, tokens, seed) for seed in range(analyses)]
        expected = [shown_cell(analyze(loaded, t, top_k=5).predictions[0].predictions)
                    for t in texts]
        del loaded
        with app_server(folder, timeout_s=180) as server, chromium_page() as page:
            started = rss_bytes(server.pid)
            page.goto(server.url)
            page.locator(TABLE).first.wait_for(timeout=_TEXT_TIMEOUT_MS)
            after_load = rss_bytes(server.pid)
            box = page.get_by_role("textbox", name="Text")
            for text, sequence in zip(texts, expected):
                box.fill(text)
                box.press("Control+Enter")
                wait_for_cell(page, sequence, timeout=_TEXT_TIMEOUT_MS)  # a prediction table cell
            after_analyses = rss_bytes(server.pid)
    return {"started_mib": started / MIB, "after_load_mib": after_load / MIB,
            "after_analyses_mib": after_analyses / MIB, "analyses": float(analyses),
            "tokens": float(tokens)}


def report(figures: dict[str, float]) -> str:
    return (
        f"app server RSS: started {figures['started_mib']:.0f} MiB, model loaded and first page "
        f"drawn {figures['after_load_mib']:.0f} MiB, after {figures['analyses']:.0f} analyses of "
        f"{figures['tokens']:.0f} tokens {figures['after_analyses_mib']:.0f} MiB "
        f"(+{figures['after_analyses_mib'] - figures['after_load_mib']:.0f} MiB, "
        f"{figures['after_analyses_mib'] / figures['after_load_mib']:.2f}× the loaded app)"
    )


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    parser = argparse.ArgumentParser(description="Resident memory of the running app.")
    parser.add_argument("--analyses", type=int, default=20)
    parser.add_argument("--tokens", type=int, default=128)
    args = parser.parse_args(argv)
    print(report(run(args.analyses, args.tokens)))


if __name__ == "__main__":
    main()
