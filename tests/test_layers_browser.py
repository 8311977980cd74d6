"""Real browser: the Layers & heads page shares the text with the explorer, and a click on a
head in the grid opens that head in the explorer's attention view."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from explorer.analysis import analyze
from explorer.model import load
from tests.browser import chromium_page, running_app

TEXT = "The dog slept in the garden <mask>."


def _plot_title_texts(page) -> list[str]:
    return page.locator(".gtitle").all_inner_texts()


def test_text_is_shared_and_a_head_click_opens_the_attention_view(tiny_model_dir: Path,
                                                                   tmp_path: Path):
    tiny = load(str(tiny_model_dir))
    mask = analyze(tiny, TEXT).mask_positions[0]
    assert mask != analyze(tiny, "The capital of France is <mask>.").mask_positions[0]
    with running_app(tiny_model_dir) as url, chromium_page() as page:
        # Start at the root: on a fresh server, a first request straight to /layers is served
        # by Streamlit's pages/-directory fallback without app.py (see the report).
        page.goto(url)
        page.get_by_role("heading", name="Attention explorer").wait_for(timeout=60_000)
        page.get_by_role("link", name="Layers & heads").click()
        page.get_by_role("heading", name="Layers & heads").wait_for(timeout=60_000)
        # the text area itself: the page also has a "Second text of a sentence pair" box
        box = page.locator("[data-testid='stTextArea'] textarea")
        box.fill(TEXT)
        box.press("Control+Enter")
        expect(page.get_by_role("combobox", name="Token")).to_have_value(
            f"{mask}: <mask> (mask)", timeout=60_000)  # the new text was analysed

        page.get_by_role("tab", name="Attention summaries").click()
        grid = page.locator(".js-plotly-plot").filter(has_text="per head — click").first
        grid.wait_for(timeout=60_000)
        points = grid.locator(".scatterlayer .point")
        assert points.count() == 2 * 4  # layers × heads of the tiny model
        grid.scroll_into_view_if_needed()
        target = points.nth(1 * 4 + 2).bounding_box()  # layer 2, head 3 (0-based 1, 2)
        centre = (target["x"] + target["width"] / 2, target["y"] + target["height"] / 2)
        page.mouse.move(*centre)  # plotly picks the hovered point on click
        page.mouse.click(*centre)

        page.get_by_role("heading", name="Attention explorer").wait_for(timeout=60_000)
        # the explorer's attention view shows the clicked head (keys.LAYER = 1, keys.HEAD = 2)
        expect(page.get_by_role("combobox", name="Layer", exact=True)).to_have_value("layer 2")
        view = page.locator("[data-testid='attention-graph']")
        expect(view).to_have_attribute("data-heads", "3")  # that head alone, in its heatmap too
        expect(view).to_have_attribute("data-heatmap", "Layer 2, head 3")
        assert page.locator("[data-testid='stTextArea'] textarea").input_value() == TEXT
        page.screenshot(path=str(tmp_path / "explorer-after-click.png"), full_page=True)
