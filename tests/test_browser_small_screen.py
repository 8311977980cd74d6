"""Real browser at 1024 × 768 (issue 14: "the pages work at 1024 × 768", "chart labels are never
clipped"): on every page no button label is cut to "…", every chart's tick labels and titles lie
inside the chart and apart from each other, and the Compare heatmaps keep a real plot area."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from explorer.tiny import build_tiny_model_sharing_tokenizer
from tests.browser import chromium_page, running_app

SMALL = {"width": 1024, "height": 768}
MIN_HEATMAP_PX = 200  # the plot area of a Compare heatmap, at least (it was a 60 px strip)

# Every visible <button> (also inside components' shadow roots) whose label is cut: an element
# in it that overflows its box, or a "…" the label does not have in the page's source.
CUT_BUTTONS = """() => {
  const cut = [];
  const roots = [document];
  for (let i = 0; i < roots.length; i++) {
    for (const element of roots[i].querySelectorAll("*")) {
      if (element.shadowRoot) roots.push(element.shadowRoot);
    }
  }
  for (const root of roots) {
    for (const button of root.querySelectorAll("button")) {
      const box = button.getBoundingClientRect();
      if (box.width === 0 || box.height === 0) continue;
      const label = (button.innerText || "").trim();
      if (!label) continue;  // icon buttons
      for (const part of [button, ...button.querySelectorAll("*")]) {
        if (part.scrollWidth > part.clientWidth + 1 && part.clientWidth > 0 &&
            getComputedStyle(part).overflowX !== "visible") {
          cut.push(`${label} (${part.clientWidth}px of ${part.scrollWidth}px)`);
          break;
        }
      }
      if (label.endsWith("…")) cut.push(label);
    }
  }
  return cut;
}"""

# Every drawn plotly chart: tick labels and titles inside the chart's own SVG (else they are
# clipped), and axis titles that do not overlap the tick labels.
CLIPPED_LABELS = """() => {
  const problems = [];
  const inside = (a, b) => a.left >= b.left - 1 && a.right <= b.right + 1 &&
    a.top >= b.top - 1 && a.bottom <= b.bottom + 1;
  const overlap = (a, b) => a.left < b.right - 1 && b.left < a.right - 1 &&
    a.top < b.bottom - 1 && b.top < a.bottom - 1;
  for (const plot of document.querySelectorAll(".js-plotly-plot")) {
    const svg = plot.querySelector("svg.main-svg");
    if (!svg) continue;
    const frame = svg.getBoundingClientRect();
    if (frame.width === 0) continue;  // a hidden tab
    const title = (plot.querySelector(".gtitle") || {}).textContent || "(untitled)";
    const texts = [...plot.querySelectorAll(
      ".xtick text, .ytick text, .g-xtitle text, .g-ytitle text, .gtitle, .cbtitle text")];
    for (const text of texts) {
      const box = text.getBoundingClientRect();
      if (box.width === 0 || !text.textContent.trim()) continue;
      if (!inside(box, frame)) problems.push(`${title}: "${text.textContent}" is clipped`);
    }
    for (const axis of ["x", "y"]) {
      const axisTitle = plot.querySelector(`.g-${axis}title text`);
      if (!axisTitle || !axisTitle.textContent.trim()) continue;
      const titleBox = axisTitle.getBoundingClientRect();
      for (const tick of plot.querySelectorAll(`.${axis}tick text`)) {
        if (tick.textContent.trim() && overlap(titleBox, tick.getBoundingClientRect())) {
          problems.push(`${title}: the ${axis} title overlaps "${tick.textContent}"`);
          break;
        }
      }
    }
  }
  return problems;
}"""


def check_page(page, what: str) -> None:
    page.wait_for_function(  # every chart drawn
        "() => [...document.querySelectorAll('[data-testid=stPlotlyChart]')].every("
        "c => c.querySelector('svg.main-svg'))", timeout=60_000)
    cut = page.evaluate(CUT_BUTTONS)
    assert not cut, f"{what}: cut button labels: " + " | ".join(cut)
    clipped = page.evaluate(CLIPPED_LABELS)
    assert not clipped, f"{what}: " + " | ".join(clipped)


@pytest.fixture(scope="module")
def app(tiny_model_dir: Path, tmp_path_factory) -> Iterator[str]:
    cache = tmp_path_factory.mktemp("corpus-cache")
    with running_app(tiny_model_dir, {"EXPLORER_CACHE_DIR": str(cache)}) as url:
        yield url


@pytest.fixture()
def page(app: str):
    with chromium_page(viewport=SMALL) as browser_page:
        browser_page.goto(app)  # the app's entry first (see test_layers_browser.py)
        browser_page.get_by_role("heading", name="Attention explorer").wait_for(timeout=60_000)
        yield browser_page


def test_explorer_at_1024(page):
    page.locator("[data-testid='attention-graph'] .ag-tok").first.wait_for(timeout=60_000)
    check_page(page, "Explorer")


def test_layers_at_1024_every_tab(page, app):
    page.goto(f"{app}/layers")
    page.get_by_role("heading", name="Layers & heads").wait_for(timeout=60_000)
    for tab in ("Per-layer predictions", "Hidden states", "Attention summaries",
                "Head ablation", "Attribution"):
        page.get_by_role("tab", name=tab).click()
        expect(page.get_by_role("tab", name=tab)).to_have_attribute("aria-selected", "true")
        check_page(page, f"Layers: {tab}")


def test_compare_at_1024(page, app):
    page.goto(f"{app}/compare")
    chart = page.locator("[data-testid='stPlotlyChart']").filter(has_text="A: layer 1").first
    chart.wait_for(timeout=60_000)
    check_page(page, "Compare")
    for side in ("A", "B"):
        heatmap = page.locator(".js-plotly-plot").filter(has_text=f"{side}: layer 1").first
        heatmap.scroll_into_view_if_needed()
        plot_width = heatmap.evaluate("plot => plot._fullLayout._size.w")
        assert plot_width >= MIN_HEATMAP_PX, (side, plot_width)


def test_corpus_at_1024(page, app):
    page.goto(f"{app}/corpus")
    build = page.get_by_role("button", name="Build index")
    matches = page.locator(".corpus-match")
    build.or_(matches.first).wait_for(timeout=60_000)
    if build.is_visible():
        build.click()
    expect(matches).to_have_count(10, timeout=60_000)
    check_page(page, "Corpus")


def test_models_at_1024(page, app, tiny_model_dir: Path, tmp_path: Path):
    student = build_tiny_model_sharing_tokenizer(tmp_path / "student", tiny_model_dir, layers=2,
                                                 seed=1)
    teacher = build_tiny_model_sharing_tokenizer(tmp_path / "teacher", tiny_model_dir, layers=4,
                                                 seed=2)
    page.goto(f"{app}/models?{urlencode({'model_a': str(student), 'model_b': str(teacher)})}")
    page.get_by_role("heading", name="Models", exact=True).wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    check_page(page, "Models")
