"""How fast does the Contributions page's graph answer its controls, at about 500 tokens?

Starts the app (``streamlit run app.py``) on 127.0.0.1 with the distilroberta-shaped random
model of ``bench/interaction_latency.py`` (6 layers, hidden 768, 12 heads; built in a temp
folder, no download), opens the Contributions page in Debian's headless chromium (Playwright),
runs a text of ``--tokens`` tokens (the decomposition through the feed-forward block is computed
once, before anything is timed), then for each control of the contribution graph measures over
``--repeats`` changes:

- change → redrawn: from the input event (captured in the page) to the frame after the graph
  drew the new state (``data-painted-at``, set from ``requestAnimationFrame``): median and p95;
- the longest main-thread task (``PerformanceObserver`` long tasks) from the input event until
  Python has acknowledged the change (``data-ack``: the fragment rerun is back) and the page has
  been idle for half a second (no script running, no long task: the edge's head split drawn);
- full page runs during the changes (``data-script-runs``: full runs of the Contributions page;
  0 means no page rerun: the graph answered in the browser, Python saw at most a fragment run).

Controls: ``threshold`` (the "Share at least" slider), ``target`` (the "Into token" list),
``hide-special`` (the checkbox) and ``edge click`` (an edge is clicked: it is marked at once;
Python then draws that edge's split over heads below the graph).

``--profile CONTROL`` records a CDP CPU profile over that control's changes and prints the
functions with the most self time (where a slow redraw spends it).

    python bench/contribution_latency.py                   # 500 tokens, 20 repeats, ~6 minutes
    python bench/contribution_latency.py --tiny --tokens 30 --repeats 2   # a smoke run

Needs Debian's chromium (tests/browser.py). Figures vary with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench.interaction_latency import (
    LONGEST_SINCE,
    PROBE,
    RESET,
    TWO_FRAMES,
    build_model,
    settle,
)

GRAPH = "[data-testid='contribution-graph']"
GOAL_MS = 150.0
_TIMEOUT_MS = 600_000


@dataclass(frozen=True)
class Row:
    tokens: int
    control: str
    median_ms: float
    p95_ms: float
    longest_task_ms: float
    page_runs: int
    repeats: int


def _graph(page):
    return page.locator(GRAPH)


def _threshold(page, step: int) -> tuple[str, str]:
    value = "0.02" if step % 2 == 0 else "0.05"
    _graph(page).locator("input[data-role='threshold']").fill(value)
    return "data-threshold", value


def _target(page, step: int) -> tuple[str, str]:
    # the last plain token (before </s>) and the mask's neighbour, in turn
    count = int(_graph(page).locator("select[data-role='target'] option").count())
    token = count - 2 if step % 2 == 0 else count - 4
    _graph(page).locator("select[data-role='target']").select_option(str(token))
    return "data-target", str(token)


def _hide_special(page, step: int) -> tuple[str, str]:
    _graph(page).locator("input[data-role='hide-special']").click()
    return "data-hide-special", "true" if step % 2 == 0 else "false"


def _edge_click(page, step: int) -> tuple[str, str]:
    edges = _graph(page).locator(".cg-edge")
    edge = edges.nth(step % min(2, edges.count()))
    value = ":".join(edge.get_attribute(f"data-{part}") for part in ("layer", "source", "target"))
    edge.scroll_into_view_if_needed()
    box = edge.bounding_box()  # a level edge has a zero-height box: click its middle
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    return "data-edge", value


CONTROLS: dict[str, Callable[[object, int], tuple[str, str]]] = {
    "threshold": _threshold,
    "target": _target,
    "hide-special": _hide_special,
    "edge click": _edge_click,
}


def p95(values: list[float]) -> float:
    """The 95th percentile (inclusive method; the largest value for fewer than 2 values)."""
    if len(values) < 2:
        return max(values)
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def measure_control(page, tokens: int, name: str, repeats: int) -> Row:
    """Change control ``name`` ``repeats`` times; its change → redrawn and long-task figures."""
    from playwright.sync_api import expect

    graph = _graph(page)
    page.mouse.move(1, 1)
    page.evaluate(TWO_FRAMES)
    runs_before = int(graph.get_attribute("data-script-runs"))
    times, longest = [], []
    for step in range(repeats):
        painted = int(graph.get_attribute("data-painted") or 0)
        page.evaluate(RESET)
        attribute, value = CONTROLS[name](page, step)
        expect(graph).to_have_attribute(attribute, value, timeout=_TIMEOUT_MS)
        page.wait_for_function(f"(root) => Number(root.dataset.painted) > {painted}",
                               arg=graph.element_handle(), timeout=_TIMEOUT_MS)
        # Python's answer: its ack catches up with the last seq the graph sent
        page.wait_for_function(
            "(root) => Number(root.dataset.ack) >= Number(root.dataset.sent || 0)",
            arg=graph.element_handle(), timeout=_TIMEOUT_MS)
        settle(page)  # the fragment run's drawing ends before the next change starts
        t0 = page.evaluate("() => window.__probe.t0")
        t1 = float(graph.get_attribute("data-painted-at"))
        times.append(t1 - t0)
        longest.append(page.evaluate(LONGEST_SINCE, t0))
    page_runs = int(graph.get_attribute("data-script-runs")) - runs_before
    return Row(tokens, name, statistics.median(times), p95(times), max(longest), page_runs,
               repeats)


def load_text(page, text: str, tokens: int) -> None:
    """Type ``text`` into the shared text box, run it, wait until the graph shows it."""
    from playwright.sync_api import expect

    box = page.get_by_role("textbox", name="Text (shared across pages)")
    box.fill(text)
    box.press("Control+Enter")
    expect(_graph(page)).to_have_attribute("data-ready", re.compile(rf"\|{tokens}\|"),
                                           timeout=_TIMEOUT_MS)
    expect(_graph(page)).to_have_attribute("data-painted", re.compile(".+"),
                                           timeout=_TIMEOUT_MS)
    settle(page)


def profile_control(page, tokens: int, name: str, repeats: int) -> list[tuple[str, float]]:
    """CDP CPU profile over ``repeats`` changes of ``name``: (function @ url:line, self ms),
    most first."""
    client = page.context.new_cdp_session(page)
    client.send("Profiler.enable")
    client.send("Profiler.setSamplingInterval", {"interval": 100})
    client.send("Profiler.start")
    measure_control(page, tokens, name, repeats)
    profile = client.send("Profiler.stop")["profile"]
    client.detach()
    nodes = {node["id"]: node for node in profile["nodes"]}
    gaps = profile.get("timeDeltas", [])
    self_us: Counter[str] = Counter()
    for node_id, gap in zip(profile.get("samples", []), gaps):
        frame = nodes[node_id]["callFrame"]
        url = frame["url"].rsplit("/", 1)[-1]
        where = f"{frame['functionName'] or '(anonymous)'} @ {url}:{frame['lineNumber'] + 1}"
        self_us[where] += gap
    return [(where, us / 1000) for where, us in self_us.most_common(12)]


def run(tokens: int = 500, controls: tuple[str, ...] = tuple(CONTROLS), repeats: int = 20,
        tiny: bool = False, profile: str | None = None, attention_block: bool = False
        ) -> tuple[list[Row], list[tuple[str, float]]]:
    """The rows (one per control) and, with ``profile``, that control's CPU profile."""
    from bench.analysis_speed import text_with_tokens
    from explorer.model import load
    from tests.browser import app_server, chromium_page

    rows: list[Row] = []
    hot: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as temp:
        folder = build_model(Path(temp) / "model", tiny)
        text = text_with_tokens(load(str(folder)), tokens)
        with app_server(folder, timeout_s=300) as server, chromium_page() as page:
            page.goto(server.url)
            page.get_by_role("heading", name="Attention explorer").wait_for(timeout=_TIMEOUT_MS)
            page.get_by_role("link", name="Contributions").click()
            _graph(page).wait_for(timeout=_TIMEOUT_MS)
            if attention_block:  # ALTI's scope: 6× quicker to compute, the same graph to draw
                page.get_by_text("Through the feed-forward block").click()
                page.wait_for_function(
                    "() => !document.querySelector('[data-testid=stStatusWidget]')",
                    timeout=_TIMEOUT_MS)
            page.evaluate(PROBE)
            load_text(page, text, tokens)
            for name in controls:
                row = measure_control(page, tokens, name, repeats)
                rows.append(row)
                print(f"  {tokens:>4} tokens  {name:<13} {row.median_ms:>6.1f} ms median, "
                      f"p95 {row.p95_ms:.1f} ms  longest task {row.longest_task_ms:>5.0f} ms  "
                      f"page runs {row.page_runs}", flush=True)
            if profile:
                hot = profile_control(page, tokens, profile, repeats)
    return rows, hot


def report(rows: list[Row], hot: list[tuple[str, float]], profiled: str | None = None) -> str:
    lines = [f"| control | {rows[0].tokens if rows else '?'} tokens: change → redrawn, median "
             "/ p95 | longest main-thread task (to Python's answer) | page runs |",
             "|---|---|---|---|"]
    for row in rows:
        verdict = "within" if row.p95_ms <= GOAL_MS else "OVER"
        lines.append(f"| {row.control} | {row.median_ms:.0f} ms / {row.p95_ms:.0f} ms "
                     f"({verdict} {GOAL_MS:.0f} ms) | {row.longest_task_ms:.0f} ms | "
                     f"{row.page_runs} |")
    if hot:
        lines += ["", f"CPU profile of '{profiled}' (self time):"]
        lines += [f"  {ms:8.1f} ms  {where}" for where, ms in hot]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--controls", nargs="+", default=list(CONTROLS), choices=list(CONTROLS))
    parser.add_argument("--tiny", action="store_true", help="2-layer toy model (a smoke run)")
    parser.add_argument("--profile", choices=list(CONTROLS), default=None)
    parser.add_argument("--attention-block", action="store_true",
                        help="switch 'Through the feed-forward block' off first (quicker to "
                             "compute; for profiling runs)")
    args = parser.parse_args(argv)
    rows, hot = run(args.tokens, tuple(args.controls), args.repeats, args.tiny, args.profile,
                    args.attention_block)
    print(report(rows, hot, args.profile))


if __name__ == "__main__":
    main()
