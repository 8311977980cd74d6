"""Real browser: markdown in the user's text never becomes a live link or a fetched image, and no
request leaves the app (issue 12, item 1). Every request the page makes is recorded; any that
is not to the app's own origin is blocked and fails the test."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, urlsplit

from explorer.analysis import analyze
from tests.browser import TABLE, chromium_page, running_app

TRAP = "http://127.0.0.1:1"  # loopback, but not the app: nothing may ask for it
TEXT = f"[a]({TRAP}/a)<mask>![t]({TRAP}/i)"  # the tiny model reads 64 tokens


def _record_requests(page, origin: str) -> list[str]:
    """Let requests to the app through; record and abort every other one."""
    foreign: list[str] = []

    def handle(route):
        url = route.request.url
        parts = urlsplit(url)
        if url.startswith(("data:", "blob:")) or f"{parts.scheme}://{parts.netloc}" == origin:
            route.continue_()
        else:
            foreign.append(url)
            route.abort()

    page.route("**/*", handle)
    return foreign


def _user_links_and_images(page) -> list[str]:
    """``<a>`` and ``<img>`` anywhere (page and frames) that point at the trap."""
    script = ("(trap) => [...document.querySelectorAll('a[href], img[src]')]"
              ".map(e => e.getAttribute('href') || e.getAttribute('src'))"
              ".filter(u => u.includes(trap))")
    found = []
    for frame in page.frames:
        found += frame.evaluate(script, "127.0.0.1:1")
    return found


def wait_for_markdown_as_text(page, timeout: int = 90_000) -> None:
    """Wait until a top-k table cell shows the text's markdown characters as typed (the filled
    token between them may be shown as ``[id N]`` when it does not decode on its own)."""
    page.wait_for_function(
        "([selector, parts]) => [...document.querySelectorAll(selector)]"
        ".some(cell => parts.every(part => cell.textContent.includes(part)))",
        arg=[f"{TABLE} td", [f"[a]({TRAP}/a)", f"![t]({TRAP}/i)"]], timeout=timeout)


def test_markdown_in_the_text_stays_text(tiny_model_dir: Path, tiny):
    analysis = analyze(tiny, TEXT, top_k=5)
    assert not analysis.truncated
    expected = analysis.predictions[0].predictions[0].sequence
    assert "[a](" in expected and "![t](" in expected
    with running_app(tiny_model_dir) as url, chromium_page() as page:
        foreign = _record_requests(page, url)
        # Explorer: the top-k table shows the sequence, markdown characters and all
        page.goto(f"{url}/?text={quote(TEXT)}")
        wait_for_markdown_as_text(page)
        page.wait_for_load_state("networkidle")
        assert _user_links_and_images(page) == []
        # Compare: both inputs' tables
        page.goto(f"{url}/compare?text_a={quote(TEXT)}&text_b={quote(TEXT)}")
        wait_for_markdown_as_text(page)
        page.wait_for_function(
            "() => document.querySelectorAll('table.text-table').length >= 2")
        page.wait_for_load_state("networkidle")
        assert _user_links_and_images(page) == []
        # Layers: the "Target token" warning repeats what was typed
        page.goto(f"{url}/layers?text={quote('The cat sat on the <mask>.')}")
        target = page.get_by_role("textbox", name="Target token")
        target.wait_for(timeout=90_000)
        target.fill(f"[Sign in]({TRAP}/phish) ![t]({TRAP}/pixel)")
        target.press("Enter")
        warning = page.get_by_text("is not one token of this model's vocabulary")
        warning.wait_for(timeout=60_000)
        shown = warning.inner_text().replace("\u2060", "")  # minus the invisible word joiner
        assert f"[Sign in]({TRAP}/phish)" in shown  # shown as typed
        page.wait_for_load_state("networkidle")
        assert _user_links_and_images(page) == []
    assert foreign == [], foreign  # nothing was asked of any other host or port
