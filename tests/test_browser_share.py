"""Real browser: a shared compare link restores the view; downloads work offline."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from playwright.sync_api import expect

from explorer.analysis import analyze
from explorer.export import predictions_csv
from explorer.model import load
from explorer.state import ViewState, to_query
from tests.browser import (
    TABLE,
    chromium_page,
    running_app,
    shown_cell,
    table_cells,
    wait_for_cell,
)


def _block_the_internet(page) -> list[str]:
    """Abort every request that is not to the loopback app; return the blocked URLs."""
    blocked: list[str] = []

    def handle(route):
        host = urlsplit(route.request.url).hostname
        if route.request.url.startswith(("data:", "blob:")) or host in {"127.0.0.1",
                                                                         "localhost"}:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", handle)
    return blocked


def _download(page, locator, timeout: int = 30_000):
    with page.expect_download(timeout=timeout) as info:
        locator.click()
    return info.value


def test_shared_compare_link_restores_the_view(tiny_model_dir: Path, tmp_path: Path):
    state = ViewState(page="compare", text_a="He is a <mask>.", text_b="She is a <mask>.",
                      top_k=3, layer=1, head=2)
    expected_a = analyze(load(str(tiny_model_dir)), state.text_a, top_k=3)
    readable = shown_cell(expected_a.predictions[0].predictions)
    with running_app(tiny_model_dir) as url, chromium_page() as page:
        blocked = _block_the_internet(page)
        page.goto(f"{url}/compare?{urlencode(to_query(state))}")
        box_a = page.get_by_role("textbox", name="Input A")
        box_a.wait_for(timeout=60_000)
        assert box_a.input_value() == state.text_a
        assert page.get_by_role("textbox", name="Input B").input_value() == state.text_b
        page.get_by_text("A: layer 2, head 3").first.wait_for(timeout=60_000)
        page.get_by_text("B: layer 2, head 3").first.wait_for(timeout=30_000)
        wait_for_cell(page, readable)
        tables = page.locator(TABLE)
        assert tables.count() == 2  # A and B
        assert page.locator("[data-testid='stDataFrame']").count() == 1  # the changes (numbers)
        cells = table_cells(tables.first)
        assert len(cells) == 3 * 4
        assert readable in cells
        # the browser URL still carries the state, and the copy-link box shows it
        assert parse_qs(urlsplit(page.url).query) == {k: [v] for k, v in to_query(state).items()}
        # the sidebar's short "Copy link to this view" button copies the address, i.e. the state
        page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
        copy = page.locator("[data-testid='stSidebar']").get_by_role(
            "button", name="Copy link to this view")
        copy.click()
        expect(page.locator("[data-testid='copy-link']")).not_to_have_attribute(
            "data-copied", "", timeout=30_000)
        shared = page.evaluate("navigator.clipboard.readText()")
        assert shared.startswith(f"{url}/compare?"), shared
        assert parse_qs(urlsplit(shared).query) == {k: [v] for k, v in to_query(state).items()}

        # a widget change is written back to the URL
        page.get_by_role("textbox", name="Input B").fill("They are a <mask>.")
        page.get_by_role("textbox", name="Input B").press("Control+Enter")
        page.wait_for_url(lambda u: "They+are" in u or "They%20are" in u, timeout=30_000)

        # plotly's own camera button saves a PNG without any network
        chart = page.locator("[data-testid='stPlotlyChart']").filter(has_text="A: layer").first
        chart.scroll_into_view_if_needed()
        chart.hover()
        camera = chart.locator(".modebar-btn[data-title^='Download plot']")
        png = _download(page, camera)
        png_path = tmp_path / "chart.png"
        png.save_as(png_path)
        assert png.suggested_filename.endswith(".png")
        assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

        # switching the format makes the same button save SVG
        page.locator("[data-testid='stSidebar']").get_by_text("svg", exact=True).click()
        page.wait_for_function(  # every chart re-drawn with the new camera-button format
            "() => { const charts = [...document.querySelectorAll('.js-plotly-plot')];"
            " return charts.length > 0 && charts.every(c => c._context &&"
            " c._context.toImageButtonOptions.format === 'svg'); }", timeout=30_000)
        chart = page.locator("[data-testid='stPlotlyChart']").filter(has_text="A: layer").first
        chart.scroll_into_view_if_needed()
        chart.hover()
        svg = _download(page, chart.locator(".modebar-btn[data-title^='Download plot']"))
        svg_path = tmp_path / "chart.svg"
        svg.save_as(svg_path)
        assert svg.suggested_filename.endswith(".svg")
        assert svg_path.read_text()[:200].lstrip().startswith("<svg")

        # the prediction-change bar chart (token labels on its axis) exports too
        bars = page.locator("[data-testid='stPlotlyChart']").filter(has_text="probability under A")
        bars.first.scroll_into_view_if_needed()
        bars.first.hover()
        bar_svg = _download(page, bars.first.locator(".modebar-btn[data-title^='Download plot']"))
        assert bar_svg.suggested_filename.endswith(".svg")

        # the top-k CSV download button serves the same table as the export function
        csv = _download(page, page.get_by_role("button", name="Top-k (CSV)").first)
        csv_path = tmp_path / "a.csv"
        csv.save_as(csv_path)
        assert csv_path.read_text() == predictions_csv(expected_a, 3)
        assert blocked == []  # nothing tried to leave the machine
