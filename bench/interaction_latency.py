"""How fast does the Explorer's attention view answer a control, at 36, 128 and 500 tokens?

Starts the app (``streamlit run app.py``) on 127.0.0.1 with a distilroberta-shaped random model
(6 layers, hidden 768, 12 heads, 50 265-token LM head; built in a temp folder, no download;
``EXPLORER_MODEL`` points the app at it), drives Debian's headless chromium with Playwright and,
for every control and input length, measures over ``--repeats`` changes:

- change → redrawn: from the input event (pointerdown / keydown / input / mouseover, taken in
  the page by a capture listener) to the frame after the component drew the new state
  (``data-painted-at``, set from ``requestAnimationFrame``);
- the longest main-thread task (``PerformanceObserver`` long tasks) from the input event until
  Python has acknowledged the change (``data-ack``: the fragment rerun is back and drawn) and
  two more frames have passed;
- full page runs during the changes (``data-script-runs``; 0 means no page rerun).

A new text is measured too: from the Ctrl+Enter that runs it to the first frame in which the
first prediction table shows that text's top-k rows (a marker word just before the mask tells
the new table from the old), against the model's plain forward pass on the same text timed in
this process (goal: at most 1.3 × forward + 300 ms).

In the same run it times :func:`explorer.analysis.analyze` against the Hugging Face fill-mask
pipeline on the same texts (median of ``--repeats``, interleaved) and prints the ratio.

    python bench/interaction_latency.py                     # 36, 128, 500 tokens, ~4 minutes
    python bench/interaction_latency.py --tokens 36 --repeats 2 --controls layer hover

Needs Debian's chromium (tests/browser.py). Figures vary with the machine's load: take the
ones in docs/benchmarks.md on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

LENGTHS = (36, 128, 500)
GRAPH = "[data-testid='attention-graph']"
_TIMEOUT_MS = 300_000

# Installed once per page: long tasks, and the time of the first input event after a reset.
PROBE = """() => {
  if (window.__probe) return;
  window.__probe = { tasks: [], t0: null };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__probe.tasks.push([e.startTime, e.duration]);
  }).observe({ type: "longtask", buffered: true });
  for (const type of ["pointerdown", "keydown", "input", "mouseover"]) {
    document.addEventListener(type, (event) => {
      if (window.__probe.t0 === null) window.__probe.t0 = event.timeStamp;
    }, true);
  }
}"""
RESET = "() => { window.__probe.t0 = null; }"
TWO_FRAMES = ("() => new Promise((done) => requestAnimationFrame(() => "
              "requestAnimationFrame(() => done(true))))")
LONGEST_SINCE = ("(t0) => Math.max(0, ...window.__probe.tasks"
                 ".filter(([start, length]) => start + length >= t0).map(([, length]) => length))")


@dataclass(frozen=True)
class Row:
    tokens: int
    control: str
    median_ms: float
    worst_ms: float
    longest_task_ms: float
    page_runs: int


@dataclass(frozen=True)
class Control:
    """One control: ``act(page, step)`` changes it; ``expect`` is the ``data-*`` attribute and
    value that show the change drawn; ``python`` is whether Python is told (and acknowledges)."""

    name: str
    act: Callable[[object, int], tuple[str, str]]
    python: bool = True


def _graph(page):
    return page.locator(GRAPH)


def _layer(page, step: int) -> tuple[str, str]:
    target = 2 if step % 2 == 0 else 1
    _graph(page).get_by_role("combobox", name="Layer", exact=True).select_option(f"layer {target}")
    return "data-layer", str(target)


def _head_box(page, step: int) -> tuple[str, str]:
    heads = _graph(page).get_attribute("data-heads") or ""
    _graph(page).locator(".ag-head").nth(1).click()
    chosen = [h for h in heads.split(",") if h]
    after = [h for h in chosen if h != "2"] if "2" in chosen else sorted([*chosen, "2"], key=int)
    return "data-heads", ",".join(after)


def _all_none(page, step: int) -> tuple[str, str]:
    count = _graph(page).locator(".ag-head").count()
    if step % 2 == 0:
        _graph(page).get_by_role("button", name="No heads").click()
        return "data-heads", ""
    _graph(page).get_by_role("button", name="All heads").click()
    return "data-heads", ",".join(str(h) for h in range(1, count + 1))


def _combine(page, step: int) -> tuple[str, str]:
    mode = "max" if step % 2 == 0 else "mean"
    _graph(page).locator(f"input[data-role='combine'][value='{mode}']").click()
    return "data-combine", mode


def _threshold(page, step: int) -> tuple[str, str]:
    value = "0.5" if step % 2 == 0 else "0.7"
    _graph(page).locator("input[data-role='threshold']").fill(value)
    return "data-threshold", value


def _hide_special(page, step: int) -> tuple[str, str]:
    _graph(page).locator("input[data-role='hide-special']").click()
    return "data-hide-special", "true" if step % 2 == 0 else "false"


def _hover(page, step: int) -> tuple[str, str]:
    index = 3 + step % 2
    token = _graph(page).locator(".ag-left .ag-tok").nth(index)
    box = token.bounding_box()
    page.mouse.move(box["x"] - 30, box["y"] + box["height"] / 2)  # beside it, on no token
    # mouseover does not always reach the document's capture listener from a synthetic move:
    # start the clock here (this adds the move's own round trip, so it errs on the slow side)
    page.evaluate("() => { window.__probe.t0 = performance.now(); }")
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    return "data-focus", f"left:{index}"


def _freeze(page, step: int) -> tuple[str, str]:
    _graph(page).locator(".ag-left .ag-tok").nth(2).click()
    return "data-frozen", "left:2" if step % 2 == 0 else ""


CONTROLS = {
    "layer": Control("layer", _layer),
    "head box": Control("head box", _head_box),
    "All/None": Control("All/None", _all_none),
    "combine": Control("combine", _combine),
    "threshold": Control("threshold", _threshold),
    "hide-special": Control("hide-special", _hide_special),
    "hover": Control("hover", _hover, python=False),
    "click-to-freeze": Control("click-to-freeze", _freeze),
}


def wait_for_attribute(page, name: str, value: str) -> None:
    from playwright.sync_api import expect

    expect(_graph(page)).to_have_attribute(name, value, timeout=_TIMEOUT_MS)


def measure_control(page, tokens: int, control: Control, repeats: int) -> Row:
    """Change ``control`` ``repeats`` times; the change → redrawn and long-task figures."""
    graph = _graph(page)
    graph.locator("[data-role='scroll']").scroll_into_view_if_needed()
    page.mouse.move(1, 1)  # no hover left over from the control before
    page.evaluate(TWO_FRAMES)
    runs_before = int(graph.get_attribute("data-script-runs"))
    times, longest = [], []
    for step in range(repeats):
        painted = int(graph.get_attribute("data-painted") or 0)
        seq = int(graph.get_attribute("data-seq") or 0)
        page.evaluate(RESET)
        attribute, value = control.act(page, step)
        wait_for_attribute(page, attribute, value)
        page.wait_for_function(f"(root) => Number(root.dataset.painted) > {painted}",
                               arg=graph.element_handle(), timeout=_TIMEOUT_MS)
        if control.python:  # the fragment rerun is back: its work counts in the long tasks
            page.wait_for_function(
                f"(root) => Number(root.dataset.ack) >= Number(root.dataset.seq || 0) && "
                f"Number(root.dataset.seq || 0) > {seq}",
                arg=graph.element_handle(), timeout=_TIMEOUT_MS)
        page.evaluate(TWO_FRAMES)
        t0 = page.evaluate("() => window.__probe.t0")
        t1 = float(graph.get_attribute("data-painted-at"))
        times.append(t1 - t0)
        longest.append(page.evaluate(LONGEST_SINCE, t0))
    page_runs = int(graph.get_attribute("data-script-runs")) - runs_before
    return Row(tokens, control.name, statistics.median(times), max(times), max(longest),
               page_runs)


def load_text(page, text: str) -> None:
    """Type ``text``, run it, and wait until the attention view has drawn its analysis."""
    from playwright.sync_api import expect

    graph = _graph(page)
    before = graph.get_attribute("data-loaded") if graph.count() else None
    box = page.get_by_role("textbox", name="Text")
    box.fill(text)
    box.press("Control+Enter")
    # a locator, not an element handle: the page run may mount the view afresh
    expect(graph).to_have_attribute("data-loaded", re.compile(f"^(?!{before or ''}$).+"),
                                    timeout=_TIMEOUT_MS)
    expect(graph).to_have_attribute("data-painted", re.compile(".+"), timeout=_TIMEOUT_MS)
    settle(page)


def settle(page) -> None:
    """Wait until no script has run and no long task has ended for half a second (the page's
    own drawing after a new text is not part of the next control's figure)."""
    page.evaluate("() => { window.__lastBusy = performance.now(); }")
    page.wait_for_function(
        """() => {
          const now = performance.now();
          if (document.querySelector('[data-testid=stStatusWidget]')) window.__lastBusy = now;
          for (const [start, length] of window.__probe.tasks) {
            window.__lastBusy = Math.max(window.__lastBusy, start + length);
          }
          return now - window.__lastBusy > 500;
        }""", polling=100, timeout=_TIMEOUT_MS)


# words the bench texts never contain
MARKERS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
FIRST_TABLE_SHOWS = """(marker) => {
  const table = document.querySelector("table.text-table");
  if (!table || table.closest("[data-stale='true']")) return false;
  const hit = [...table.querySelectorAll("td")]
    .some((cell) => cell.textContent.includes(marker));
  return hit ? performance.now() : false;
}"""


def new_text(loaded, tokens: int, marker: str) -> str:
    """A text of about ``tokens`` tokens whose mask follows ``marker``."""
    from bench.analysis_speed import text_with_tokens

    words = text_with_tokens(loaded, tokens).split()
    text = " ".join([*words[:-1], marker, words[-1]])
    while len(loaded.tokenizer(text)["input_ids"]) > tokens and len(words) > 3:
        words = words[1:]
        text = " ".join([*words[:-1], marker, words[-1]])
    return text


def measure_new_text(page, loaded, tokens: int, repeats: int) -> tuple[float, float]:
    """Median ms from Ctrl+Enter to the first table of a new text, and of the forward pass."""
    import torch

    shown, forward = [], []
    with torch.inference_mode():  # warm-up: the first call of a shape is slower
        loaded.model(**loaded.tokenizer(new_text(loaded, tokens, "warm"), return_tensors="pt"))
    for step in range(repeats):
        text = new_text(loaded, tokens, f"{MARKERS[step % len(MARKERS)]}{step // len(MARKERS)}")
        inputs = loaded.tokenizer(text, return_tensors="pt")
        with torch.inference_mode():
            start = time.perf_counter()
            loaded.model(**inputs)
            forward.append((time.perf_counter() - start) * 1e3)
        box = page.get_by_role("textbox", name="Text")
        box.fill(text)
        page.evaluate(RESET)
        box.press("Control+Enter")
        marker = text.split()[-2]
        at = page.wait_for_function(FIRST_TABLE_SHOWS, arg=marker, polling="raf",
                                    timeout=_TIMEOUT_MS).json_value()
        shown.append(at - page.evaluate("() => window.__probe.t0"))
        settle(page)
    return statistics.median(shown), statistics.median(forward)


def pipeline_ratio(loaded, texts: dict[int, str], repeats: int) -> dict[int, tuple[float, float]]:
    """Median seconds of ``analyze`` and of the HF fill-mask pipeline per length, interleaved."""
    from transformers import pipeline

    from explorer.analysis import analyze
    from ui.cache import MAX_TOP_K

    fill_mask = pipeline("fill-mask", model=loaded.model, tokenizer=loaded.tokenizer, top_k=5)
    result = {}
    for tokens, text in texts.items():
        analyze(loaded, text, top_k=MAX_TOP_K), fill_mask(text)  # warm-up
        ours, theirs = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            analyze(loaded, text, top_k=MAX_TOP_K)
            middle = time.perf_counter()
            fill_mask(text)
            ours.append(middle - start)
            theirs.append(time.perf_counter() - middle)
        result[tokens] = (statistics.median(ours), statistics.median(theirs))
    return result


def build_model(folder: Path, tiny: bool) -> Path:
    if tiny:
        from explorer.tiny import build_tiny_model

        return build_tiny_model(folder, max_tokens=64)
    from bench.analysis_speed import build_model as distilroberta_shaped

    distilroberta_shaped(str(folder))
    return folder


def run(lengths: tuple[int, ...] = LENGTHS, controls: tuple[str, ...] = tuple(CONTROLS),
        repeats: int = 4, tiny: bool = False) -> tuple[list[Row], dict]:
    """The measurements (rows per length and control) and the analysis ÷ pipeline timings."""
    from bench.analysis_speed import text_with_tokens
    from explorer.graph import graph_file
    from explorer.model import load
    from tests.browser import app_server, chromium_page

    rows: list[Row] = []
    first_table: dict[int, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as temp:
        folder = build_model(Path(temp) / "model", tiny)
        loaded = load(str(folder))
        texts = {tokens: text_with_tokens(loaded, tokens) for tokens in lengths}
        with app_server(folder, timeout_s=300) as server, chromium_page() as page:
            page.goto(server.url)
            _graph(page).wait_for(timeout=_TIMEOUT_MS)
            page.evaluate(PROBE)
            for tokens, text in texts.items():
                load_text(page, text)
                for name in controls:
                    row = measure_control(page, tokens, CONTROLS[name], repeats)
                    rows.append(row)
                    print(f"  {tokens:>4} tokens  {row.control:<16} {row.median_ms:>7.0f} ms "
                          f"(worst {row.worst_ms:.0f})  longest task {row.longest_task_ms:>5.0f}"
                          f" ms  page runs {row.page_runs}", flush=True)
                first_table[tokens] = measure_new_text(page, loaded, tokens, repeats)
                print(f"  {tokens:>4} tokens  new text → first table {first_table[tokens][0]:.0f}"
                      f" ms (forward {first_table[tokens][1]:.0f} ms)", flush=True)
        from explorer.analysis import analyze

        sizes = {tokens: len(graph_file(*_file_inputs(analyze(loaded, text))))
                 for tokens, text in texts.items()}
        timings = pipeline_ratio(loaded, texts, repeats)
    return rows, {"timings": timings, "file_bytes": sizes, "first_table": first_table}


def _file_inputs(analysis):
    return (analysis.attentions, analysis.labels, analysis.special_mask, analysis.mask_positions)


def report(rows: list[Row], extra: dict) -> str:
    lengths = sorted({row.tokens for row in rows})
    lines = ["| control | " + " | ".join(f"{n} tokens: redrawn (median) / longest task"
                                          for n in lengths) + " | page runs |",
             "|---|" + "---|" * len(lengths) + "---|"]
    for control in dict.fromkeys(row.control for row in rows):
        cells, runs = [], 0
        for n in lengths:
            row = next(r for r in rows if r.control == control and r.tokens == n)
            cells.append(f"{row.median_ms:.0f} ms / {row.longest_task_ms:.0f} ms")
            runs += row.page_runs
        lines.append(f"| {control} | " + " | ".join(cells) + f" | {runs} |")
    lines.append("")
    for n in lengths:
        ours, theirs = extra["timings"][n]
        lines.append(f"{n} tokens: analysis {ours * 1e3:.0f} ms, HF fill-mask pipeline "
                     f"{theirs * 1e3:.0f} ms, ratio {ours / theirs:.2f}; attention file "
                     f"{extra['file_bytes'][n] / 1024:.0f} KiB (sent once per text)")
    lines.append("")
    for n in lengths:
        shown, forward = extra["first_table"][n]
        lines.append(f"{n} tokens: new text → first table {shown:.0f} ms; forward "
                     f"{forward:.0f} ms; goal 1.3 × forward + 300 ms = "
                     f"{1.3 * forward + 300:.0f} ms")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, nargs="+", default=list(LENGTHS))
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--controls", nargs="+", default=list(CONTROLS), choices=list(CONTROLS))
    parser.add_argument("--tiny", action="store_true", help="2-layer toy model (a smoke run)")
    args = parser.parse_args(argv)
    rows, extra = run(tuple(args.tokens), tuple(args.controls), args.repeats, args.tiny)
    print(report(rows, extra))


if __name__ == "__main__":
    main()
