"""Real browser: the app in Debian's chromium, driven by Playwright."""

from __future__ import annotations

from pathlib import Path

from explorer.analysis import analyze
from explorer.model import load
from tests.browser import TABLE, chromium_page, running_app, table_cells, wait_for_cell


def test_type_text_and_see_the_prediction_table(tiny_model_dir: Path, tmp_path: Path):
    text = "A cat sat on the <mask>."
    expected = analyze(load(str(tiny_model_dir)), text, top_k=5).predictions[0].predictions
    with running_app(tiny_model_dir) as url, chromium_page() as page:
        page.goto(url)
        box = page.get_by_role("textbox", name="Text")
        box.wait_for(timeout=60_000)
        box.fill(text)
        box.press("Control+Enter")
        first_sequence = expected[0].sequence
        wait_for_cell(page, first_sequence)
        cells = table_cells(page.locator(TABLE).first)
        assert len(cells) == 5 * 4  # rank, token, score, sequence
        assert expected[1].sequence in cells
        page.screenshot(path=str(tmp_path / "explorer.png"), full_page=True)
        assert (tmp_path / "explorer.png").stat().st_size > 10_000
