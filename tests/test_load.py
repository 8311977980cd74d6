"""Load test: N browser sessions at once against one locally started app (tiny model).

Every session types a different text and must see its own correct top-1 sequence (computed here
with ``analyze`` on the same model); a second round swaps texts between sessions (served from the
shared cache). The server's resident memory is read from /proc before and after and must stay
bounded. Run with ``-s`` to see the figures (docs/benchmarks.md, "Memory and load").
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from explorer.analysis import analyze
from explorer.memory import rss_bytes
from explorer.model import load
from tests.browser import CHROMIUM, CHROMIUM_ARGS, TABLE, app_server, table_cells, wait_for_cell

SESSIONS = 8
MIB = 2**20
RSS_GROWTH_LIMIT_MIB = 400  # generous: the analysis cache alone is bounded at 512 MiB by default


def session_text(index: int) -> str:
    return f"Session {index} says the cat sat on the <mask> near the river."


def submit(page, text: str) -> None:
    box = page.get_by_role("textbox", name="Text")
    box.fill(text)
    box.press("Control+Enter")


def first_table_text(page, expected: str, timeout_ms: int = 90_000) -> str:
    wait_for_cell(page, expected, timeout=timeout_ms)
    return "\n".join(table_cells(page.locator(TABLE).first))


@pytest.mark.timeout(420)
def test_concurrent_sessions_get_their_own_correct_results(tiny_model_dir: Path):
    from playwright.sync_api import sync_playwright

    tiny = load(str(tiny_model_dir))
    texts = [session_text(i) for i in range(SESSIONS)]
    expected = {t: analyze(tiny, t, top_k=5).predictions[0].predictions[0].sequence
                for t in texts}
    assert len(set(expected.values())) == SESSIONS  # different inputs, different results

    with app_server(tiny_model_dir) as server, sync_playwright() as playwright:
        rss_idle = rss_bytes(server.pid)
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            contexts = [browser.new_context(viewport={"width": 1200, "height": 900})
                        for _ in range(SESSIONS)]
            pages = [context.new_page() for context in contexts]
            for page in pages:
                page.goto(server.url)
            for page in pages:
                page.get_by_role("textbox", name="Text").wait_for(timeout=90_000)
            rss_loaded = rss_bytes(server.pid)

            started = time.monotonic()
            for page, text in zip(pages, texts):  # all sessions submit before any is checked
                submit(page, text)
            for page, text in zip(pages, texts):
                table = first_table_text(page, expected[text])
                others = [expected[t] for t in texts if t != text]
                assert not any(other in table for other in others)
            round_one_s = time.monotonic() - started

            started = time.monotonic()
            swapped = texts[1:] + texts[:1]  # each session now asks for its neighbour's text
            for page, text in zip(pages, swapped):
                submit(page, text)
            for page, text in zip(pages, swapped):
                assert expected[text] in first_table_text(page, expected[text])
            round_two_s = time.monotonic() - started
            rss_after = rss_bytes(server.pid)
        finally:
            browser.close()

    growth = (rss_after - rss_loaded) / MIB
    print(
        f"\n{SESSIONS} sessions: server RSS idle {rss_idle / MIB:.0f} MiB, with the model and "
        f"{SESSIONS} sessions open {rss_loaded / MIB:.0f} MiB, after {2 * SESSIONS} analyses "
        f"{rss_after / MIB:.0f} MiB (+{growth:.0f} MiB); round 1 (new texts) {round_one_s:.1f} s, "
        f"round 2 (cached texts) {round_two_s:.1f} s"
    )
    assert growth < RSS_GROWTH_LIMIT_MIB
