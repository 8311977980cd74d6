"""A public demo under abuse (issue 25): what one visitor, or 8 or 32, can take from the server.

    python bench/abuse.py                        # every case, distilroberta-shaped random model
    python bench/abuse.py --cases sentences mix8 # some of them
    python bench/abuse.py --quick                # tiny model, small abuse (the smoke test)

Runs ``streamlit run app.py`` in public mode (``EXPLORER_PUBLIC=1``, the model folder under
``EXPLORER_MODEL_ROOT``, as the Docker image runs it) on loopback and drives real chromium
sessions (async Playwright, one browser, one context per visitor). Cases:

- ``sentences``: one visitor pastes 500 lines of ~300 words into Models → "Over many sentences"
  → "my sentences" and clicks Compare (issue case 1);
- ``attribution``: one visitor asks for integrated gradients at 512 steps on a 512-token text
  (case 2);
- ``mix8`` / ``mix32``: 8 or 32 visitors doing those two at once (case 4); ``mix2``, one of
  each (the smoke test's case).

Every case then closes the visitors' tabs (case 3) and prints: the server's peak RSS, its CPU
seconds from 5 s to 35 s after the visitors left ("held after leaving"; a batch that was running
may finish in the first seconds), and another visitor's time to the first prediction table while
the abusers work, beside the same visitor's time on the idle server. Case 5 (server paths
shown) is checked on every page the probe opens: the count of pages whose text holds the model
folder's path.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import random
import re
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.memory import MIB, build_model, text_of_tokens
from explorer.cost import PUBLIC_MAX_PASTED

_WORDS = ("the", "river", "bank", "was", "quiet", "and", "cold", "while", "old", "friends",
          "walked", "slowly", "along", "a", "narrow", "path", "toward", "station", "where",
          "trains", "arrived", "late", "every", "winter", "morning", "because", "snow",
          "covered", "most", "of", "northern", "hills", "valleys")
CASES = {"sentences": ("sentences",), "attribution": ("attribution",),
         "mix2": ("sentences", "attribution"),
         "mix8": ("sentences", "attribution") * 4, "mix32": ("sentences", "attribution") * 16}
DEFAULT_CASES = ["sentences", "attribution", "mix8", "mix32"]


@dataclass
class Sizes:
    """How big the abuse is (the issue's numbers by default; ``small`` for the smoke test)."""

    lines: int = 500
    words: int = 300
    steps: int = 512
    tokens: int = 512
    hold_s: float = 20.0
    after_s: tuple[float, float] = (5.0, 35.0)
    timeout_ms: int = 240_000
    idle_rounds: int = 2  # the idle time to first table is the median of this many visitors


SMALL = Sizes(lines=8, words=20, steps=16, tokens=48, hold_s=2.0, after_s=(1.0, 3.0),
              timeout_ms=120_000, idle_rounds=1)


@dataclass
class Result:
    case: str
    visitors: int
    idle_first_table_s: float = float("nan")
    busy_first_table_s: float = float("nan")
    peak_rss_mib: float = 0.0
    rss_after_mib: float = 0.0
    loaded_rss_mib: float = 0.0
    cpu_after_leaving_s: float = 0.0
    pages_showing_path: int = 0
    pages_naming_model: int = 0  # pages whose text holds the folder's last part (its name)
    started: int = 0  # abusive visitors whose job was asked for (the button clicked)
    refused: int = 0  # abusive visitors told a limit (a sentences visitor then pastes less)
    steps: int = 0  # the attribution steps the page let an abuser ask for
    notes: list[str] = field(default_factory=list)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


class PeakRss:
    """Samples a process's RSS every 0.1 s in a thread; ``peak`` is the highest seen."""

    def __init__(self, pid: int) -> None:
        from explorer.memory import rss_bytes
        self._read = lambda: rss_bytes(pid)
        self.peak = self._read()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            try:
                self.peak = max(self.peak, self._read())
            except (OSError, RuntimeError):
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def sentences_text(sizes: Sizes, seed: int) -> str:
    rng = random.Random(seed)
    return "\n".join(" ".join(rng.choice(_WORDS) for _ in range(sizes.words)) + "."
                     for _ in range(sizes.lines))


async def _page_text(page) -> str:
    """The page's visible text and the values of its fields (a model field holds a path)."""
    return await page.inner_text("body") + "\n" + await page.evaluate(
        "[...document.querySelectorAll('input, textarea')].map(e => e.value).join('\\n')")


async def _page(browser):
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    page.set_default_timeout(Sizes.timeout_ms)
    page.set_default_navigation_timeout(Sizes.timeout_ms)
    return context, page


async def probe(browser, url: str, text: str, timeout_ms: int) -> tuple[float, list[str]]:
    """A new visitor's seconds from opening the Explorer with ``text`` to its first prediction
    table, and the text of the pages it saw (the Explorer and the Models page)."""
    from tests.browser import TABLE

    context, page = await _page(browser)
    try:
        started = time.perf_counter()
        await page.goto(f"{url}/?text={urllib.parse.quote(text)}")
        await page.locator(TABLE).first.wait_for(timeout=timeout_ms)
        seconds = time.perf_counter() - started
        texts = [await _page_text(page)]
        await page.goto(f"{url}/models")
        await page.get_by_role("heading", name="Models", exact=True).wait_for(timeout=timeout_ms)
        await page.wait_for_timeout(1500)  # the model fields and their notes
        texts.append(await _page_text(page))
        return seconds, texts
    finally:
        await context.close()


CHARS_PER_TOKEN = 8
"""The sentences box takes at most (token limit × 8) characters (``pages/models.py``); a longer
paste is ignored by the box, so the attacker pastes what fits."""
REFUSAL = re.compile(r"this server compares at most ([\d,]+) tokens")


async def abuse_sentences(browser, url: str, folder: Path, sizes: Sizes, seed: int, tokenizer,
                          limit: int):
    """Models → over many sentences → my sentences (Model B set to the served folder where the
    field is free text, as the issue's attacker did): pastes ``sizes.lines`` lines (as much as
    the box takes, for a stated limit of ``limit`` tokens); when told the token limit, pastes
    the first lines under it; → Compare. Returns the open context, the outcome ("started",
    "refused" or "refused, then started") and 0 (no steps)."""
    context, page = await _page(browser)
    try:
        outcome = await _start_sentences(page, url, folder, sizes, seed, tokenizer, limit)
    except Exception:
        if os.environ.get("ABUSE_SCREENSHOT"):
            await page.screenshot(path=os.environ["ABUSE_SCREENSHOT"], full_page=True)
        await context.close()
        raise
    return context, outcome, 0


def _lines_under(text: str, tokenizer, tokens: int, chars: int) -> str:
    """The first lines of ``text`` within ``tokens`` tokens (special tokens counted, each line
    cut at the model's limit, as the page counts) and ``chars`` characters."""
    kept, used, length = [], 0, 0
    most = int(getattr(tokenizer, "model_max_length", 512) or 512)
    for line in text.splitlines():
        cost = min(most, len(tokenizer(line)["input_ids"]))
        if used + cost > tokens or length + len(line) + 1 > chars:
            break
        kept.append(line)
        used, length = used + cost, length + len(line) + 1
    return "\n".join(kept)


async def _start_sentences(page, url: str, folder: Path, sizes: Sizes, seed: int, tokenizer,
                           limit: int) -> str:
    await page.goto(f"{url}/models")
    await page.get_by_role("heading", name="Models", exact=True).wait_for(timeout=sizes.timeout_ms)
    field_b = page.get_by_role("textbox", name="Model B")
    radio = page.get_by_text("my sentences", exact=True)
    for attempt in range(4):  # a field filled during the page's first run can be reset
        if await field_b.count() and await field_b.input_value() != str(folder):
            await field_b.fill(str(folder))
            await field_b.press("Enter")
        try:
            await radio.wait_for(timeout=60_000)
            break
        except Exception:
            if attempt == 3:
                raise
    box = page.get_by_role("textbox", name="One sentence per line")
    for attempt in range(6):  # a click during the rerun that Model B started can be lost
        await radio.wait_for(timeout=sizes.timeout_ms)
        await radio.click()
        try:
            await box.wait_for(timeout=20_000)
            break
        except Exception:
            if attempt == 5:
                raise
    text = sentences_text(sizes, seed)
    chars = limit * CHARS_PER_TOKEN
    button = page.get_by_role("button", name="Compare A and B")
    refusal = page.get_by_text("this server compares at most")
    await box.fill(_lines_under(text, tokenizer, 10**9, chars))  # as much as the box takes
    await box.press("Control+Enter")
    await button.or_(refusal).first.wait_for(timeout=sizes.timeout_ms)
    outcome = "started"
    if not await button.count():  # told the limit: paste the first lines under it
        told = REFUSAL.search(await refusal.first.inner_text())
        allowed = int(told.group(1).replace(",", "")) if told else limit
        await box.fill(_lines_under(text, tokenizer, allowed, chars))
        await box.press("Control+Enter")
        outcome = "refused, then started"
        try:
            await button.wait_for(timeout=sizes.timeout_ms)
        except Exception:
            return "refused"
    await button.click()
    return outcome


async def abuse_attribution(browser, url: str, text: str, sizes: Sizes):
    """Layers → Attribution at ``sizes.steps`` steps on a long text → Compute. Returns the open
    context, ``"started"`` or ``"refused"`` and the steps it runs (the field's maximum where
    that is lower: the page does not take a larger number)."""
    context, page = await _page(browser)
    query = urllib.parse.urlencode({"text": text, "layers_tab": "attribution"})
    await page.goto(f"{url}/layers?{query}")
    steps = page.get_by_role("spinbutton", name="Steps")
    await steps.wait_for(timeout=sizes.timeout_ms)
    most = int(await steps.get_attribute("max") or sizes.steps)
    await steps.fill(str(sizes.steps))
    await steps.press("Enter")
    await page.wait_for_timeout(500)
    button = page.get_by_role("button", name="Compute attribution")
    try:
        await button.wait_for(timeout=30_000)
        await button.click()
    except Exception:
        return context, "refused", 0
    return context, "started", min(most, sizes.steps)


async def _run_case(case: str, url: str, pid: int, folder: Path, tokenizer, sizes: Sizes,
                    seed: int, pasted_limit: int, spy: Path | None = None) -> Result:
    from playwright.async_api import async_playwright

    from bench.capacity import profile_summary, py_spy
    from explorer.memory import rss_bytes
    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    kinds = CASES[case]
    result = Result(case, len(kinds))
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            await probe(browser, url, text_of_tokens(tokenizer, 24, seed), sizes.timeout_ms)
            idle = []
            for round_ in range(sizes.idle_rounds):
                seconds, texts = await probe(browser, url, text_of_tokens(
                    tokenizer, 24, seed + 100 + round_), sizes.timeout_ms)
                idle.append(seconds)
            result.idle_first_table_s = statistics.median(idle)
            result.pages_showing_path = sum(str(folder) in text for text in texts)
            result.pages_naming_model = sum(folder.name in text for text in texts)
            result.loaded_rss_mib = rss_bytes(pid) / MIB
            peak = PeakRss(pid)
            starts = [abuse_sentences(browser, url, folder, sizes, seed + n, tokenizer,
                                      pasted_limit) if kind == "sentences"
                      else abuse_attribution(browser, url, text_of_tokens(
                          tokenizer, sizes.tokens, seed + 1000 + n), sizes)
                      for n, kind in enumerate(kinds)]
            opened = await asyncio.gather(*starts, return_exceptions=True)
            failed = [c for c in opened if isinstance(c, BaseException)]
            opened = [c for c in opened if not isinstance(c, BaseException)]
            contexts = [context for context, _, _ in opened]
            result.started = sum(outcome.endswith("started") for _, outcome, _ in opened)
            result.refused = sum(outcome.startswith("refused") for _, outcome, _ in opened)
            result.steps = max((steps for _, _, steps in opened), default=0)
            if failed:
                result.notes.append(f"{len(failed)} visitor(s) failed to start: "
                                    f"{' '.join(str(failed[0]).split())[:300]}")
            await asyncio.sleep(2.0)
            busy_spy = None if spy is None else spy.with_name(f"{spy.stem}-{case}-busy{spy.suffix}")
            with py_spy(pid, busy_spy):  # what the server does while the new visitor waits
                result.busy_first_table_s, _ = await probe(
                    browser, url, text_of_tokens(tokenizer, 24, seed + 200), sizes.timeout_ms)
            if busy_spy is not None and busy_spy.exists() and busy_spy.stat().st_size:
                print(f"{case}: the server while a new visitor waited for its first table "
                      f"(py-spy, {busy_spy}):\n" + profile_summary(busy_spy, top=40), flush=True)
            await asyncio.sleep(sizes.hold_s)
            for context in contexts:
                await context.close()
            left = time.monotonic()
            await asyncio.sleep(sizes.after_s[0])
            cpu_start = _cpu_seconds(pid)
            spy_path = None if spy is None else spy.with_name(f"{spy.stem}-{case}{spy.suffix}")
            with py_spy(pid, spy_path):  # what the server does after they left, if asked
                await asyncio.sleep(max(0.0, left + sizes.after_s[1] - time.monotonic()))
            result.cpu_after_leaving_s = _cpu_seconds(pid) - cpu_start
            if spy_path is not None and spy_path.exists() and spy_path.stat().st_size:
                print(f"{case}: the server after the visitors left (py-spy, {spy_path}):\n"
                      + profile_summary(spy_path, top=15), flush=True)
            peak.stop()
            result.peak_rss_mib = peak.peak / MIB
            result.rss_after_mib = rss_bytes(pid) / MIB
        finally:
            await browser.close()
    return result


def run(cases: list[str], sizes: Sizes | None = None, small: bool = False,
        extra_env: dict[str, str] | None = None, seed: int = 0,
        spy: Path | None = None) -> list[Result]:
    """Each case against a fresh server (public mode) with a distilroberta-shaped random model
    (``small``: a tiny one)."""
    from transformers import AutoTokenizer

    from tests.browser import app_server

    sizes = sizes or Sizes()
    results = []
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp) / "models"
        shape = dict(layers=2, hidden=32, heads=2, max_tokens=128, vocab=0) if small else {}
        folder = build_model(root / "distilroberta-shaped", **shape)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        env = {"EXPLORER_PUBLIC": "1", "EXPLORER_MODEL_ROOT": str(root),
               "EXPLORER_ANALYSIS_CACHE_MB": "512", **(extra_env or {})}
        pasted_limit = int(env.get("EXPLORER_MAX_PASTED_TOKENS") or PUBLIC_MAX_PASTED)
        for case in cases:
            with app_server(folder, extra_env=env, timeout_s=240) as server:
                results.append(asyncio.run(_run_case(case, server.url, server.pid, folder,
                                                     tokenizer, sizes, seed, pasted_limit,
                                                     spy)))
            print(report(results[-1:]), flush=True)
    return results


def report(results: list[Result]) -> str:
    rows = ["| case | visitors | peak RSS (MiB) | loaded → after (MiB) | CPU s held after "
            "leaving | first table idle → busy (s) | ratio | pages showing the folder | "
            "abusers started · refused (attribution steps) |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        rows.append(
            f"| {r.case} | {r.visitors} | {r.peak_rss_mib:,.0f} | {r.loaded_rss_mib:,.0f} → "
            f"{r.rss_after_mib:,.0f} | {r.cpu_after_leaving_s:.1f} | "
            f"{r.idle_first_table_s:.1f} → {r.busy_first_table_s:.1f} | "
            f"{r.busy_first_table_s / max(r.idle_first_table_s, 1e-9):.1f}× | "
            f"{r.pages_showing_path} of 2 | {r.started} · {r.refused}"
            + (f" ({r.steps})" if r.steps else "") + " |"
            + (f" {'; '.join(r.notes)}" if r.notes else ""))
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    parser = argparse.ArgumentParser(description="A public demo under abuse (issue 25).")
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=DEFAULT_CASES)
    parser.add_argument("--hold", type=float, default=None,
                        help="seconds the abusive visitors stay before closing their tabs "
                             f"(default {Sizes.hold_s:g}; --quick: {SMALL.hold_s:g})")
    parser.add_argument("--py-spy", type=Path, default=None, metavar="PATH",
                        help="record the server with py-spy while a new visitor waits for its "
                             "first table (PATH-<case>-busy.txt) and from 5 s to 35 s after the "
                             "abusive visitors left (PATH-<case>.txt); print where the time went")
    parser.add_argument("--quick", action="store_true",
                        help="a tiny model and small abuse (the smoke test): checks that the "
                             "script runs, not the server's limits")
    args = parser.parse_args(argv)
    sizes = SMALL if args.quick else Sizes()
    if args.hold is not None:
        sizes = dataclasses.replace(sizes, hold_s=args.hold)
    results = run(args.cases, sizes, small=args.quick, spy=args.py_spy)
    print(report(results))
    return 1 if any(r.notes for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
