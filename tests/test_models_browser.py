"""Real browser: on the Models page, a click on a cell of the head-to-head map shows both heads'
attention side by side (tiny student and teacher sharing one tokenizer)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from playwright.sync_api import expect

from explorer.tiny import build_tiny_model_sharing_tokenizer
from tests.browser import chromium_page, running_app


def test_clicking_the_head_to_head_map_shows_both_heads(tiny_model_dir: Path, tmp_path: Path):
    student = build_tiny_model_sharing_tokenizer(tmp_path / "student", tiny_model_dir, layers=2,
                                                 initializer_range=0.3, seed=1)
    teacher = build_tiny_model_sharing_tokenizer(tmp_path / "teacher", tiny_model_dir, layers=4,
                                                 initializer_range=0.3, seed=2)
    query = urlencode({"model_a": str(student), "model_b": str(teacher)})
    with running_app(tiny_model_dir) as url, chromium_page() as page:
        page.goto(url)  # the app's entry first (see test_layers_browser.py)
        page.get_by_role("heading", name="Attention explorer").wait_for(timeout=60_000)
        page.goto(f"{url}/models?{query}")
        page.get_by_role("heading", name="Models", exact=True).wait_for(timeout=60_000)
        grid = page.locator(".js-plotly-plot").filter(has_text="click a cell").first
        grid.wait_for(timeout=60_000)
        points = grid.locator(".scatterlayer .point")
        expect(points).to_have_count(2 * 4 * 4 * 4, timeout=30_000)  # A heads × B heads
        grid.scroll_into_view_if_needed()
        # A head 1 (L1 H2) × B head 5 (L2 H2): point 1 · 16 + 5, A-major
        box = points.nth(1 * 16 + 5).bounding_box()
        centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.move(*centre)  # plotly picks the hovered point on click
        page.mouse.click(*centre)
        expect(page.locator(".gtitle").filter(has_text="Model A: L1 H2")).to_have_count(
            1, timeout=60_000)
        expect(page.locator(".gtitle").filter(has_text="Model B: L2 H2")).to_have_count(1)
        expect(page.get_by_text("A L1 H2 × B L2 H2", exact=True)).to_be_visible()
        page.wait_for_function("() => location.search.includes('head_a=L1H2') && "
                               "location.search.includes('head_b=L2H2')", timeout=30_000)
        page.screenshot(path=str(tmp_path / "models-after-click.png"), full_page=True)
