"""Real browser, no hub (issue 24, item 6): the Models page used to open on a red error offline,
because model B defaulted to `roberta-base`. With the hub unreachable and a second masked LM in
the local hub cache, B defaults to that local model and the page shows both models' results."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from explorer.models_state import DEFAULT_MODEL_B
from explorer.tiny import build_tiny_model_sharing_tokenizer
from tests.browser import chromium_page, running_app

VIEWPORT = {"width": 1440, "height": 900}
LOCAL_B = "local/teacher"


def hub_cache_with(cache: Path, repo_id: str, tokenizer_dir: Path) -> Path:
    """A hub cache holding ``repo_id`` as huggingface_hub lays it out (refs/main → snapshot)."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    build_tiny_model_sharing_tokenizer(repo / "snapshots" / ("0" * 40), tokenizer_dir, layers=3,
                                       initializer_range=0.3, seed=3)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    return cache


def test_offline_the_models_page_opens_on_two_local_models_without_an_error(
        tiny_model_dir: Path, tmp_path: Path):
    cache = hub_cache_with(tmp_path / "hub", LOCAL_B, tiny_model_dir)
    environment = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache),
                   "EXPLORER_CACHE_DIR": str(tmp_path / "explorer-cache")}
    with running_app(tiny_model_dir, environment) as url, chromium_page(VIEWPORT) as page:
        page.goto(url)  # the app's entry first (see test_layers_browser.py)
        page.get_by_role("heading", name="Attention explorer").wait_for(timeout=60_000)
        page.get_by_role("link", name="Models").click()
        page.get_by_role("heading", name="Models", exact=True).wait_for(timeout=60_000)
        expect(page.get_by_role("textbox", name="Model B")).to_have_value(LOCAL_B)
        expect(page.get_by_role("textbox", name="Model A")).to_have_value(str(tiny_model_dir))
        # both loaded and compared: the head-to-head map of 2-layer A × 3-layer B (4 heads each)
        grid = page.locator(".js-plotly-plot").filter(has_text="click a cell").first
        grid.wait_for(timeout=120_000)
        expect(grid.locator(".scatterlayer .point")).to_have_count(2 * 4 * 3 * 4, timeout=30_000)
        expect(page.locator("table.text-table")).to_have_count(2)  # A's and B's top-k
        expect(page.locator("[data-testid='stAlertContentError']")).to_have_count(0)
        expect(page.locator("[data-testid='stException']")).to_have_count(0)
        expect(page.get_by_text(DEFAULT_MODEL_B, exact=False)).to_have_count(0)
