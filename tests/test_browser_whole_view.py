"""Real browser (Debian's chromium): a view set up in one browser, copied with the sidebar's
"Copy link" button and opened in a FRESH browser context (no cookies, no storage, a new Streamlit
session) shows every control as it was (issue 14). Nothing may leave the machine."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from playwright.sync_api import expect, sync_playwright

from explorer.analysis import analyze
from explorer.state import ViewState, to_query
from tests.browser import CHROMIUM, CHROMIUM_ARGS, running_app

LOCAL = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:")
TEXT = "Paris is the capital of <mask>."  # not the default text: it is in the link


@contextmanager
def chromium() -> Iterator[object]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def fresh_page(browser, app_url: str, tried: list[str], viewport=None):
    """A page in a new browser context (its own storage and Streamlit session), allowed to copy
    to the clipboard, with every request off loopback refused and recorded in ``tried``."""
    context = browser.new_context(viewport=viewport or {"width": 1400, "height": 1000})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app_url)

    def route(request_route):
        if request_route.request.url.startswith(LOCAL):
            request_route.continue_()
        else:
            tried.append(request_route.request.url)
            request_route.abort()

    context.route("**/*", route)
    return context.new_page()


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def copy_link(page) -> str:
    """Click the sidebar's "Copy link to this view"; return what reached the clipboard."""
    sidebar = page.locator("[data-testid='stSidebar']")
    button = sidebar.get_by_role("button", name="Copy link to this view")
    box = button.bounding_box()
    assert box is not None and box["height"] < 60  # a short button, not a long link
    button.click()
    expect(sidebar.locator("[data-testid='copy-link']")).not_to_have_attribute(
        "data-copied", "", timeout=10_000)
    return page.evaluate("navigator.clipboard.readText()")


def graph(page):
    return page.locator("[data-testid='attention-graph']")


def test_a_copied_explorer_link_restores_every_control_in_a_fresh_context(tiny_model_dir, tiny):
    assert analyze(tiny, TEXT).special_mask.sum() == 2  # <s> and </s>, hidden below
    start = ViewState(text=TEXT, top_k=3, layer=1, head=2, threshold=0.35, token=3,
                      bertviz_view="model")
    tried: list[str] = []
    with running_app(tiny_model_dir) as url, chromium() as browser:
        first = fresh_page(browser, url, tried)
        first.goto(f"{url}/?{urlencode(to_query(start))}")
        view = graph(first)
        expect(view).to_have_attribute("data-layer", "2", timeout=60_000)
        # the rest is set in the browser, in the attention view's own controls
        view.locator("input[data-role='combine'][value='max']").click()
        view.locator("input[data-role='hide-special']").check()
        first.locator(".ag-head").nth(1).click()  # drop head 2
        expect(view).to_have_attribute("data-heads", "1,3,4")
        first.wait_for_url(lambda u: query_of(u).get("combine") == ["max"]
                           and query_of(u).get("hide_special") == ["1"]
                           and query_of(u).get("heads") == ["1,3,4"], timeout=30_000)
        link = copy_link(first)
        assert link == first.url
        # the heatmap follows the boxes: several heads, so no one "head" in the link
        assert query_of(link) == {"text": [TEXT], "top_k": ["3"], "layer": ["2"],
                                  "heads": ["1,3,4"], "token": ["3"], "threshold": ["0.35"],
                                  "combine": ["max"], "hide_special": ["1"],
                                  "bertviz_view": ["model"]}

        second = fresh_page(browser, url, tried)  # a new context: nothing shared but the link
        second.goto(link)
        view = graph(second)
        view.locator(".ag-tok:not(.ag-hidden)").first.wait_for(timeout=60_000)
        expect(second.get_by_role("textbox", name="Text")).to_have_value(TEXT)
        expect(second.get_by_role("spinbutton", name="Top-k predictions")).to_have_value("3")
        expect(view.get_by_role("combobox", name="Layer", exact=True)).to_have_value("layer 2")
        expect(view).to_have_attribute("data-heatmap",
                                       "Layer 2, heads 1, 3, 4 (max), without <s>, </s>")
        expect(view.locator("input[data-role='combine'][value='max']")).to_be_checked()
        expect(view.locator("input[data-role='combine'][value='mean']")).not_to_be_checked()
        expect(view.locator("input[data-role='threshold']")).to_have_value("0.35")
        expect(view.locator("input[data-role='hide-special']")).to_be_checked()
        heads_on = [i for i in range(4)
                    if "ag-on" in (second.locator(".ag-head").nth(i).get_attribute("class")
                                   or "")]
        assert heads_on == [0, 2, 3]
        expect(view.locator("[data-role='heads-count']")).to_have_text("Heads: 3 of 4")
        expect(view).to_have_attribute("data-frozen", "left:3")  # the selected token
        expect(second.get_by_text(re.compile(r"^Selected token 3:"))).to_be_visible()
        expect(view.locator(".ag-left .ag-special.ag-hidden")).to_have_count(2)
        bertviz = second.get_by_role("radiogroup", name="bertviz view")
        expect(bertviz.get_by_role("radio", name="model view")).to_be_checked()
        expect(bertviz.get_by_role("radio", name="off")).not_to_be_checked()
        # and the fresh page writes the same link back
        assert query_of(second.url) == query_of(link)
    assert tried == [], f"the pages tried to reach {tried}"


def test_a_corpus_link_restores_query_token_layer_mode_and_heads(tiny_model_dir, tiny,
                                                                 tmp_path: Path):
    query_text = "A <mask> sat on the mat."
    labels = analyze(tiny, query_text).labels
    state = ViewState(page="corpus", corpus_query=query_text, corpus_token=2, corpus_layer=1,
                      corpus_mode="heads", corpus_heads=(1, 3))
    tried: list[str] = []
    with running_app(tiny_model_dir, {"EXPLORER_CACHE_DIR": str(tmp_path / "cache")}) as url, \
            chromium() as browser:
        first = fresh_page(browser, url, tried)
        first.goto(url)  # build the index once (it is then on disk for every session)
        first.get_by_role("textbox", name="Text").wait_for(timeout=60_000)
        first.get_by_role("link", name="Corpus search").click()
        first.get_by_role("button", name="Build index").click(timeout=60_000)
        expect(first.locator(".corpus-match")).to_have_count(10, timeout=60_000)
        first.context.close()

        second = fresh_page(browser, url, tried)
        second.goto(f"{url}/corpus?{urlencode(to_query(state))}")
        expect(second.locator(".corpus-match")).to_have_count(10, timeout=60_000)
        expect(second.get_by_role("textbox", name=re.compile("Text to take the query token")
                                  )).to_have_value(query_text)
        main = second.locator("[data-testid='stMain']")
        expect(main.get_by_role("combobox", name="Token")).to_have_value(f"2: {labels[2]}")
        expect(main.get_by_role("combobox", name="Layer")).to_have_value("layer 1")
        expect(second.get_by_role("radio", name="by selected heads' output")).to_be_checked()
        heads = main.locator("[data-testid='stMultiSelect']")
        expect(heads).to_contain_text("head 2")
        expect(heads).to_contain_text("head 4")
        expect(heads).not_to_contain_text("head 1")
        expect(second.get_by_role("heading", name=re.compile(
            r"at layer 1, by selected heads' output"))).to_be_visible()
        link = copy_link(second)
        assert query_of(link) == {key: [value] for key, value in to_query(state).items()}
    assert tried == [], f"the pages tried to reach {tried}"



def test_without_a_clipboard_the_link_is_shown_selected(tiny_model_dir):
    """A plain-http server that is not this machine gets no clipboard API: the button then shows
    the link in a read-only field, selected, to copy by hand."""
    tried: list[str] = []
    with running_app(tiny_model_dir) as url, chromium() as browser:
        page = fresh_page(browser, url, tried)
        page.add_init_script("Object.defineProperty(navigator, 'clipboard', {value: {"
                             "writeText: () => Promise.reject(new Error('no clipboard'))}})")
        page.goto(f"{url}/?layer=2&combine=max")
        expect(graph(page)).to_have_attribute("data-layer", "2", timeout=60_000)
        page.locator("[data-testid='stSidebar']").get_by_role(
            "button", name="Copy link to this view").click()
        field = page.get_by_role("textbox", name="Link to this view")
        expect(field).to_be_visible()
        expect(field).to_have_value(page.url)
        assert query_of(field.input_value()) == {"layer": ["2"], "combine": ["max"]}
        assert field.evaluate("f => f.selectionEnd - f.selectionStart") == len(page.url)
    assert tried == []
