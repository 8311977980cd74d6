"""The attention graph, click-to-mask and bertviz views in Debian's chromium (Playwright).

Every request that is not to the loopback app is blocked and recorded, as on an offline machine.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from playwright.sync_api import expect

from explorer.analysis import analyze
from explorer.graph import combine_heads, pack_attention, prune_edges
from explorer.model import load
from explorer.tiny import build_tiny_model
from tests.browser import TABLE, app_server, chromium_page, running_app

TEXT = "The capital of France is <mask>."
LOCAL = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:")


def block_internet(page) -> list[str]:
    """Abort every non-loopback request; return the list of URLs that were tried."""
    tried: list[str] = []

    def route(request_route):
        url = request_route.request.url
        if url.startswith(LOCAL):
            request_route.continue_()
        else:
            tried.append(url)
            request_route.abort()

    page.context.route("**/*", route)
    return tried


@pytest.fixture(scope="module")
def app(tiny_model_dir: Path) -> Iterator[str]:
    with running_app(tiny_model_dir) as url:
        yield url


@pytest.fixture()
def page(app: str):
    with chromium_page() as browser_page:
        tried = block_internet(browser_page)
        browser_page.goto(app)
        browser_page.locator("[data-testid='attention-graph'] .ag-tok").first.wait_for(
            timeout=60_000)
        yield browser_page
        assert tried == [], f"offline page tried to reach {tried}"


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def graph(page):
    return page.locator("[data-testid='attention-graph']")


def reference_edges(analysis, layer=0, heads=None, combine="mean", threshold=0.7):
    """What the view should draw: explorer.graph's pruning on the packed rows it received."""
    heads = range(analysis.num_heads) if heads is None else heads
    return prune_edges(combine_heads(pack_attention(analysis.attentions).dense(), layer, heads,
                                     combine), threshold)


def test_hover_shows_one_tokens_edges_and_click_selects_it_in_python(page, tiny):
    expected = analyze(tiny, TEXT)
    edges = reference_edges(expected)
    expect(graph(page)).to_have_attribute("data-edges-drawn", str(len(edges)))
    page.locator(".ag-left .ag-tok").nth(3).hover()
    expect(graph(page)).to_have_attribute("data-focus", "left:3")
    expect(graph(page)).to_have_attribute("data-edges-drawn", str(int((edges.query == 3).sum())))
    page.locator(".ag-right .ag-tok").nth(5).hover()
    expect(graph(page)).to_have_attribute("data-edges-drawn", str(int((edges.key == 5).sum())))
    tip = page.locator(".ag-tip")
    expect(tip).to_be_visible()
    assert "token 5" in tip.inner_text()

    page.locator(".ag-left .ag-tok").nth(3).click()
    expect(graph(page)).to_have_attribute("data-frozen", "left:3")
    expect(tip).to_be_hidden()  # a click hides the tooltip
    page.get_by_text("Selected token 3:").wait_for(timeout=30_000)  # drawn by Python
    boxes = page.locator(".ag-head")
    assert boxes.count() == 4
    best = int(np.argmax(expected.attentions[0, 0, 3]))
    expect(boxes.first).to_have_attribute("data-to", str(best))
    page.mouse.move(5, 5)  # leave the token: the frozen one's edges stay drawn
    expect(graph(page)).to_have_attribute("data-focus", "")
    expect(graph(page)).to_have_attribute("data-edges-drawn", str(int((edges.query == 3).sum())))

    page.locator(".ag-left .ag-tok").nth(3).click()  # click again: unfreeze
    page.get_by_text("No token selected").wait_for(timeout=30_000)
    expect(graph(page)).to_have_attribute("data-frozen", "")


def test_tooltip_hides_when_the_mouse_leaves(page):
    page.locator(".ag-left .ag-tok").nth(2).hover()
    tip = page.locator(".ag-tip")
    expect(tip).to_be_visible()
    page.mouse.move(5, 5)
    expect(tip).to_be_hidden()
    expect(graph(page)).to_have_attribute("data-tip", "")


def test_controls_redraw_in_the_browser_without_a_page_run(page, tiny):
    expected = analyze(tiny, TEXT)
    runs = graph(page).get_attribute("data-script-runs")
    view = graph(page)
    view.get_by_role("combobox", name="Layer", exact=True).select_option("layer 2")
    expect(view).to_have_attribute("data-layer", "2")
    expect(view).to_have_attribute("data-heatmap", "Layer 2, mean of all heads")
    expect(view).to_have_attribute("data-edges-drawn", str(len(reference_edges(expected, 1))))
    page.locator(".ag-head").nth(1).click()  # drop head 2
    expect(view).to_have_attribute("data-heads", "1,3,4")
    expect(view.locator("[data-role='heads-count']")).to_have_text("Heads: 3 of 4")
    view.locator("input[data-role='combine'][value='max']").click()
    view.locator("input[data-role='threshold']").fill("0.4")
    drawn = len(reference_edges(expected, 1, [0, 2, 3], "max", 0.4))
    expect(view).to_have_attribute("data-edges-drawn", str(drawn))
    # the heatmap shows what the boxes select, combined as the graph combines them
    expect(view).to_have_attribute("data-heatmap", "Layer 2, heads 1, 3, 4 (max)")
    view.get_by_role("button", name="No heads").click()
    page.locator(".ag-head").nth(2).click()  # head 3 alone
    expect(view).to_have_attribute("data-heatmap", "Layer 2, head 3")
    expect(view.locator("[data-role='heads-count']")).to_have_text("Heads: 1 of 4")
    # Python heard every change (the fragment ran: the URL follows), the page never re-ran
    expect(view).to_have_attribute("data-ack", view.get_attribute("data-seq"))
    # the URL numbers layers and heads from 1, as the view does: layer 2, head 3
    page.wait_for_url(lambda url: _query(url).get("layer") == ["2"] and
                      _query(url).get("threshold") == ["0.4"] and
                      _query(url).get("head") == ["3"], timeout=30_000)
    assert view.get_attribute("data-script-runs") == runs


def test_hide_special_hides_the_special_tokens(page):
    page.locator("input[data-role='hide-special']").click()
    expect(graph(page)).to_have_attribute("data-hide-special", "true")
    expect(page.locator(".ag-left .ag-tok").first).to_be_hidden()  # <s>
    expect(page.locator(".ag-left .ag-tok").nth(1)).to_be_visible()


def test_the_graph_does_not_move_when_a_token_is_frozen_or_masked(page):
    canvas = page.locator("[data-role='canvas']")
    page.locator(".ag-left .ag-tok").nth(3).scroll_into_view_if_needed()
    before = canvas.bounding_box()  # where the user sees it
    page.locator(".ag-left .ag-tok").nth(3).click()
    page.get_by_text("Selected token 3:").wait_for(timeout=30_000)
    assert canvas.bounding_box() == before
    page.locator(".ag-left .ag-tok").nth(2).dblclick()  # mask "capital": a new analysis
    page.locator(TABLE).nth(1).wait_for(timeout=30_000)
    expect(page.locator(".ag-left .ag-tok").nth(2)).to_have_class(re.compile("ag-mask"))
    after = canvas.bounding_box()
    assert abs(after["y"] - before["y"]) <= 1, (before, after)


def test_a_new_text_redraws_the_mounted_graph(page):
    """A new text that adds elements above the view (a long text: a "Full sequences" expander)
    loads the new analysis into the same graph: it is not mounted afresh."""
    assert graph(page).get_attribute("data-setups") == "1"
    loaded = graph(page).get_attribute("data-loaded")
    long_text = " ".join(["The cat sat on the mat while the dog slept."] * 3) + " A <mask>."
    box = page.get_by_role("textbox", name="Text")
    box.fill(long_text)
    box.press("Control+Enter")
    page.get_by_text("Full sequences").wait_for(timeout=60_000)
    expect(graph(page)).not_to_have_attribute("data-loaded", loaded or "", timeout=60_000)
    expect(page.locator(".ag-left .ag-tok").last).to_have_text("</s>")
    assert graph(page).get_attribute("data-setups") == "1"


def test_a_file_the_server_forgot_is_fetched_again(app):
    """The server drops an attention file when a page run that did not draw the view ends (a
    run stopped by a newer one) and serves it again when a run draws it. The view must keep
    asking, not stay empty: here the file answers 404 six times, then is there."""
    with chromium_page() as browser_page:
        block_internet(browser_page)
        answered_404: list[str] = []

        def forget_at_first(request_route):
            if len(answered_404) < 6:
                answered_404.append(request_route.request.url)
                request_route.fulfill(status=404, body="not found")
            else:
                request_route.continue_()

        browser_page.route("**/media/**", forget_at_first)
        browser_page.goto(app)
        expect(graph(browser_page)).to_have_attribute("data-loaded", re.compile(".+"),
                                                      timeout=60_000)
        assert len(answered_404) == 6
        expect(browser_page.locator(".ag-left .ag-tok").first).to_have_text("<s>")
        expect(browser_page.get_by_text("could not be loaded")).to_have_count(0)


def test_a_file_that_never_comes_says_why_and_retry_loads_it(app):
    """When the file keeps answering 404 (a server too busy to serve it again in time), the
    view does not stay silently empty: it says why and shows a Retry button, and Retry loads it
    once the server has it again."""
    with chromium_page() as browser_page:
        block_internet(browser_page)
        forgetting = {"on": True, "answered_404": 0}

        def forget(request_route):
            if forgetting["on"]:
                forgetting["answered_404"] += 1
                request_route.fulfill(status=404, body="not found")
            else:
                request_route.continue_()

        browser_page.route("**/media/**", forget)
        browser_page.goto(app)
        status = graph(browser_page).locator("[data-role='status']")
        expect(status).to_contain_text("could not be loaded", timeout=90_000)
        expect(status).to_contain_text("HTTP 404")
        expect(graph(browser_page)).to_have_attribute("data-loaded", "")
        expect(browser_page.locator(".ag-tok")).to_have_count(0)
        assert forgetting["answered_404"] >= 2
        retry = graph(browser_page).get_by_role("button", name="Retry")
        expect(retry).to_be_visible()
        forgetting["on"] = False
        retry.click()
        expect(graph(browser_page)).to_have_attribute("data-loaded", re.compile(".+"),
                                                      timeout=60_000)
        expect(graph(browser_page)).to_have_attribute("data-retries", "1")
        expect(browser_page.locator(".ag-left .ag-tok").first).to_have_text("<s>")
        expect(status).to_be_hidden()
        expect(retry).to_be_hidden()


def test_leaving_the_page_runs_the_views_cleanup(page):
    """The component's cleanup (returned to Streamlit) forgets the view once it leaves the page:
    its state lives in a WeakMap keyed by its root, not on the DOM."""
    root = graph(page).element_handle()
    assert page.evaluate("root => attentionGraphView(root) !== undefined", root)
    page.get_by_role("link", name="Layers & heads").click()
    page.wait_for_function("root => !root.isConnected", arg=root, timeout=60_000)
    page.wait_for_function("root => attentionGraphView(root) === undefined", arg=root,
                           timeout=30_000)
    assert page.evaluate("root => root.__attentionGraph", root) is None


def test_the_view_loads_under_a_base_url_path(tiny_model_dir: Path):
    """A hosted demo behind a proxy serves the app under a path (``server.baseUrlPath``): the
    attention file is asked for under that path too, and the page's tables and view appear."""
    with app_server(tiny_model_dir, base_path="demo/explorer") as server, \
            chromium_page() as browser_page:
        tried = block_internet(browser_page)
        files: list[str] = []
        browser_page.on("response", lambda response: files.append(
            f"{response.status} {urlsplit(response.url).path}")
            if "/media/" in response.url else None)
        browser_page.goto(f"{server.url}/?text={TEXT}")
        expect(graph(browser_page)).to_have_attribute("data-loaded", re.compile(".+"),
                                                      timeout=60_000)
        expect(browser_page.locator(".ag-left .ag-tok").first).to_have_text("<s>")
        browser_page.locator(TABLE).first.wait_for(timeout=60_000)
        attention_files = [f for f in files if f.endswith(".bin")]
        assert attention_files, files
        assert all(f.startswith("200 /demo/explorer/media/") for f in attention_files), files
        assert tried == []


def test_double_click_masks_and_unmasks(page):
    box = page.get_by_role("textbox", name="Text")
    page.locator(".ag-left .ag-tok").nth(2).dblclick()  # "capital"
    expect(box).to_have_value("The <mask> of France is <mask>.", timeout=30_000)
    page.locator(TABLE).nth(1).wait_for(state="attached", timeout=30_000)
    assert page.locator(TABLE).count() == 2
    # the graph loads the new analysis after the tables are drawn: wait for it
    expect(page.locator(".ag-left .ag-tok").nth(2)).to_have_class(re.compile("ag-mask"),
                                                                  timeout=30_000)
    page.locator(".ag-left .ag-tok").nth(2).dblclick()
    expect(box).to_have_value(TEXT, timeout=30_000)
    assert box.input_value() == TEXT
    page.locator(TABLE).nth(1).wait_for(state="detached", timeout=30_000)


@pytest.mark.parametrize("view,selector", [
    ("head view", "svg text:visible:has-text('capital')"),
    ("model view", "svg rect"),  # one thumbnail per layer and head
    ("neuron view", "svg text:visible:has-text('capital')"),
])
def test_bertviz_views_render_offline(page, view, selector):
    page.get_by_text(view, exact=True).click()
    frame = page.frame_locator("iframe").first
    frame.locator(selector).first.wait_for(timeout=60_000)  # drawn by bertviz's d3 code
    assert frame.locator(selector).count() >= 2


def test_bertviz_uses_the_cdn_only_without_local_scripts(tiny_model_dir, tmp_path):
    with running_app(tiny_model_dir, {"EXPLORER_NODE_MODULES": str(tmp_path)}) as url, \
            chromium_page() as page:
        tried = block_internet(page)
        page.goto(url)
        with page.expect_event("requestfailed", timeout=60_000,
                               predicate=lambda r: "cdnjs.cloudflare.com" in r.url):
            page.get_by_text("head view", exact=True).click()
        page.get_by_text("loads them from a CDN").wait_for(timeout=60_000)
        assert any("cdnjs.cloudflare.com" in u for u in tried), tried
        # offline and without local copies, bertviz cannot draw: the check above is not vacuous
        assert page.frame_locator("iframe").first.locator("svg text").count() == 0


HOSTILE = ('<img src=x onerror="window.__xss=1"> </script><script>window.__xss=2</script> '
           "<b>bold</b> <mask>")


def test_user_text_never_runs_as_html_or_script(page, tiny):
    expected = analyze(tiny, HOSTILE)
    box = page.get_by_role("textbox", name="Text")
    box.fill(HOSTILE)
    box.press("Control+Enter")
    last = page.locator(".ag-left .ag-tok").nth(expected.num_tokens - 1)
    last.wait_for(state="attached", timeout=60_000)
    page.get_by_text("head view", exact=True).click()
    page.frame_locator("iframe").first.locator("svg text").first.wait_for(timeout=60_000)
    page.locator(".ag-left .ag-tok").nth(1).hover()
    expect(graph(page)).to_have_attribute("data-tip", "1")  # the tooltip shows its text
    for frame in page.frames:
        assert frame.evaluate("() => window.__xss") is None, frame.url
    assert page.locator(".ag-root img").count() == 0
    assert page.frame_locator("iframe").first.locator("img").count() == 0
    labels = page.locator(".ag-left .ag-tok").all_text_contents()
    assert labels == list(expected.labels)  # every piece shown as plain text
    assert any("<" in label for label in labels)


def test_a_512_token_input_stays_light(tmp_path_factory):
    folder = build_tiny_model(tmp_path_factory.mktemp("tiny-512"), max_tokens=512)
    text = " ".join(["The quick brown fox jumps over the lazy dog near the river bank."] * 60)
    analysis = analyze(load(str(folder)), text)
    assert analysis.num_tokens == 512
    with running_app(folder) as url, chromium_page() as page:
        tried = block_internet(page)
        page.goto(url)
        box = page.get_by_role("textbox", name="Text")
        box.wait_for(timeout=60_000)
        box.fill(text)
        box.press("Control+Enter")
        page.locator(".ag-left .ag-tok").nth(511).wait_for(state="attached", timeout=90_000)
        expect(graph(page)).to_have_attribute("data-loaded", re.compile(".+"))
        drawn = int(graph(page).get_attribute("data-edges-drawn"))
        assert 0 < drawn <= 32 * 512
        page.locator(".ag-left .ag-tok").nth(100).hover()
        expect(graph(page)).to_have_attribute("data-focus", "left:100")
        assert int(graph(page).get_attribute("data-edges-drawn")) <= 32
        assert tried == []


# ------------------------------------------------------------ the graph's switches and export
def drawn_edges(page) -> dict[tuple[int, int], float]:
    """The edges the view holds for drawing now: {(query, key): weight} (unit indices)."""
    edges = graph(page).evaluate(
        "root => { const e = attentionGraphView(root).edges;"
        " return {query: e.query, key: e.key, weight: e.weight}; }")
    return {(q, k): w for q, k, w in zip(edges["query"], edges["key"], edges["weight"])}


def as_dict(edges) -> dict[tuple[int, int], float]:
    return {(int(q), int(k)): float(w) for q, k, w in zip(edges.query, edges.key, edges.weight)}


def assert_same_edges(page, reference) -> None:
    drawn, expected = drawn_edges(page), as_dict(reference)
    assert drawn.keys() == expected.keys()
    for pair, weight in expected.items():
        assert drawn[pair] == pytest.approx(weight, abs=1e-5), pair


def test_value_norm_switch_redraws_in_the_browser_without_a_page_run(page, tiny):
    from explorer.attribution import value_vector_norms
    from explorer.graph import packed_value_shares, value_row_totals

    expected = analyze(tiny, TEXT)
    heads = range(expected.num_heads)
    norms = value_vector_norms(tiny, expected.hidden_states)
    shares = packed_value_shares(pack_attention(expected.attentions), norms,
                                 value_row_totals(expected.attentions, norms))
    view = graph(page)
    runs = view.get_attribute("data-script-runs")
    help_text = view.locator("[data-role='weighting-group']").get_attribute("title")
    assert "Kobayashi" in help_text and "share" in help_text
    view.get_by_role("combobox", name="Layer", exact=True).select_option("layer 2")
    weights = reference_edges(expected, 1)
    expect(view).to_have_attribute("data-edges-drawn", str(len(weights)))
    assert_same_edges(page, weights)
    view.locator("input[data-role='weighting'][value='value_norm']").click()
    expect(view).to_have_attribute("data-weighting", "value_norm")
    moved = prune_edges(combine_heads(shares, 1, heads, "mean"), 0.7)
    assert as_dict(moved) != as_dict(weights)  # the switch draws something else
    expect(view).to_have_attribute("data-edges-drawn", str(len(moved)))
    assert_same_edges(page, moved)
    expect(view).to_have_attribute("data-heatmap", re.compile("weights × value norm"))
    assert "value norm" in view.locator("[data-role='info']").inner_text()
    view.locator("input[data-role='combine'][value='max']").click()
    assert_same_edges(page, prune_edges(combine_heads(shares, 1, heads, "max"), 0.7))
    # Python heard it (the URL-side state follows in a fragment run); the page never re-ran
    expect(view).to_have_attribute("data-ack", view.get_attribute("data-seq"))
    assert view.get_attribute("data-script-runs") == runs
    view.locator("input[data-role='weighting'][value='weights']").click()
    assert_same_edges(page, reference_edges(expected, 1, combine="max"))


LAYOUT = ("root => { const box = root.getBoundingClientRect();"
          " const scroll = root.querySelector(\"[data-role='scroll']\").getBoundingClientRect();"
          " return [scroll.top - box.top, scroll.height, box.height]; }")


def test_words_switch_merges_pieces_in_the_browser(page, tiny):
    from explorer.word_level import words_of
    from explorer.words import merge_attention

    expected = analyze(tiny, TEXT)
    words = words_of(tiny.tokenizer, expected)
    assert words.num_words < expected.num_tokens  # the tiny BPE splits some words
    view = graph(page)
    runs = view.get_attribute("data-script-runs")
    layout = view.evaluate(LAYOUT)
    view.locator("input[data-role='words']").click()
    expect(view).to_have_attribute("data-words", "true")
    expect(view).to_have_attribute("data-units", str(words.num_words))
    assert page.locator(".ag-left .ag-tok").all_text_contents() == list(words.labels)
    np.testing.assert_allclose(merge_attention(expected.attentions, words).sum(axis=-1), 1.0,
                               atol=1e-5)  # merged rows still sum to 1
    # the browser merges the packed rows: the same edges and the same row masses as Python
    merged = combine_heads(merge_attention(pack_attention(expected.attentions).dense(), words),
                           0, range(expected.num_heads), "mean")
    assert_same_edges(page, prune_edges(merged, 0.7))
    masses = view.evaluate("root => attentionGraphView(root).cachedRows.map((row) => row.mass)")
    np.testing.assert_allclose(masses, merged.sum(axis=-1), atol=1e-5)
    several = next(w for w in range(words.num_words) if len(words.pieces(w)) > 1)
    page.locator(".ag-left .ag-tok").nth(several).hover()
    tip = page.locator(".ag-tip")
    expect(tip).to_contain_text(f"word {several}: {words.labels[several]}")
    expect(tip).to_contain_text("pieces:")
    mask_word = int(words.word_of_token[expected.mask_positions[0]])
    view.locator("input[data-role='hide-special']").click()  # hides <s>, </s>; keeps <mask>
    expect(page.locator(".ag-left .ag-tok").first).to_be_hidden()
    expect(page.locator(".ag-left .ag-tok").nth(mask_word)).to_be_visible()
    view.locator("input[data-role='hide-special']").click()
    help_text = view.locator("input[data-role='words']").locator("..").get_attribute("title")
    assert "sum" in help_text and "mean" in help_text and "Clark" in help_text
    # freeze the word: Python hears its first piece; back to pieces, that piece stays frozen
    page.locator(".ag-left .ag-tok").nth(several).click()
    first = int(words.pieces(several)[0])
    page.get_by_text(f"Selected token {first}:").wait_for(timeout=30_000)
    view.locator("input[data-role='words']").click()
    expect(view).to_have_attribute("data-units", str(expected.num_tokens))
    expect(view).to_have_attribute("data-frozen", f"left:{first}")
    assert view.evaluate(LAYOUT) == layout  # the graph and the view keep their place and size
    expect(view).to_have_attribute("data-ack", view.get_attribute("data-seq"))
    assert view.get_attribute("data-script-runs") == runs


EXPORT_TEXT = "The <b>& capital of France is <mask>."


def test_export_svg_and_png_of_what_is_drawn(page, tiny):
    import xml.etree.ElementTree as ElementTree

    expected = analyze(tiny, EXPORT_TEXT)
    assert any("<" in label for label in expected.labels)
    assert any("&" in label for label in expected.labels)
    box = page.get_by_role("textbox", name="Text")
    box.fill(EXPORT_TEXT)
    box.press("Control+Enter")
    view = graph(page)
    page.locator(".ag-left .ag-tok").nth(expected.num_tokens - 1).wait_for(
        state="attached", timeout=60_000)
    expect(page.locator(".ag-left .ag-tok")).to_have_count(expected.num_tokens)
    view.get_by_role("combobox", name="Layer", exact=True).select_option("layer 2")
    page.locator(".ag-head").nth(1).click()  # heads 1, 3, 4
    page.locator(".ag-left .ag-tok").nth(3).click()  # the current selection
    expect(view).to_have_attribute("data-frozen", "left:3")
    with page.expect_download() as download_info:
        view.get_by_role("button", name="SVG").click()
    download = download_info.value
    assert download.suggested_filename == "attention-layer2-heads-1-3-4-weights.svg"
    svg = Path(download.path()).read_text(encoding="utf-8")
    root = ElementTree.fromstring(svg)  # well-formed XML: user text was escaped
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = [element.text or "" for element in root.iter("{http://www.w3.org/2000/svg}text")]
    for label in expected.labels:
        assert texts.count(label) >= 2, label  # both columns
    assert "Layer 2, heads 1, 3, 4 (mean)" in texts[0]
    assert texts[1].startswith("selected: token 3")
    lines = list(root.iter("{http://www.w3.org/2000/svg}line"))
    assert 0 < len(lines) <= int(view.get_attribute("data-edges-drawn"))  # the frozen edges
    with page.expect_download() as download_info:
        view.get_by_role("button", name="PNG").click()
    png = Path(download_info.value.path()).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width > 0 and height > 0 and len(png) > 1000
    assert view.locator("b").count() == 0  # shown as text, never as HTML


def test_tooltips_show_a_computed_attribution(page, tiny):
    page.get_by_text("Attribution beside attention: which tokens push a prediction").click()
    page.get_by_text("gradient × input", exact=True).click()
    page.get_by_role("button", name="Compute attribution").click()
    view = graph(page)
    expect(view).to_have_attribute("data-attribution", re.compile("^gradient × input of log p"),
                                   timeout=60_000)
    page.locator(".ag-left .ag-tok").nth(3).hover()
    tip = page.locator(".ag-tip")
    expect(tip).to_contain_text("attribution ")
    expect(tip).to_contain_text("gradient × input of log p(")
