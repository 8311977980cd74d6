"""Real browser: build the corpus index, see the matches, open one in the explorer."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

from tests.browser import chromium_page, running_app


def test_search_the_bundled_corpus_and_open_a_match(tiny_model_dir: Path, tmp_path: Path):
    with running_app(tiny_model_dir, {"EXPLORER_CACHE_DIR": str(tmp_path / "cache")}) as url, \
            chromium_page() as page:
        page.goto(url)
        page.get_by_role("textbox", name="Text").wait_for(timeout=60_000)
        page.get_by_role("link", name="Corpus search").click()
        page.get_by_role("button", name="Build index").click(timeout=60_000)
        matches = page.locator(".corpus-match")
        expect(matches).to_have_count(10, timeout=60_000)  # all matches drawn
        # (each button also has a hidden twin in the DOM: count and click the visible ones)
        open_buttons = page.locator("[data-testid=stButton] button:visible", has_text="Open")
        expect(open_buttons).to_have_count(10, timeout=60_000)
        expect(page.locator("[data-testid=stPlotlyChart]")).to_be_visible(timeout=60_000)
        assert matches.first.locator("mark").count() == 1
        sentence_start = matches.nth(1).inner_text().strip().rstrip("…").strip()
        open_buttons.nth(1).click()
        text = page.get_by_role("textbox", name="Text")
        expect(text).to_have_value(re.compile("^" + re.escape(sentence_start)),
                                   timeout=60_000)
        assert any((tmp_path / "cache").iterdir())
