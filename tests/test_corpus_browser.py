"""Real browser: build the corpus index, see the matches, open one in the explorer."""

from __future__ import annotations

from pathlib import Path

from tests.browser import chromium_page, running_app


def test_search_the_bundled_corpus_and_open_a_match(tiny_model_dir: Path, tmp_path: Path):
    with running_app(tiny_model_dir, {"EXPLORER_CACHE_DIR": str(tmp_path / "cache")}) as url, \
            chromium_page() as page:
        page.goto(url)
        page.get_by_role("textbox", name="Text").wait_for(timeout=60_000)
        page.get_by_role("link", name="Corpus search").click()
        page.get_by_role("button", name="Build index").click(timeout=60_000)
        matches = page.locator(".corpus-match")
        matches.first.wait_for(timeout=60_000)
        page.wait_for_timeout(1000)
        assert matches.count() == 10
        assert matches.first.locator("mark").count() == 1
        sentence_start = matches.nth(1).inner_text().strip().rstrip("…").strip()
        # (each button also has a hidden twin in the DOM: click the visible ones)
        page.locator("[data-testid=stButton] button:visible").nth(1).click()
        text = page.get_by_role("textbox", name="Text")
        text.wait_for(timeout=60_000)
        page.wait_for_timeout(1000)
        assert text.input_value().startswith(sentence_start)
        assert any((tmp_path / "cache").iterdir())
