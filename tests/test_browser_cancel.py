"""Real browser (issue 25): a visitor starts a long comparison over many sentences on the Models
page and closes the tab; the server's worker stops at its next batch (its CPU time stops
growing long before the rest of the job could have run) and its memory comes back.

The evidence is the server process's own CPU time (``/proc/<pid>/stat``) and RSS: the job's
rate of CPU seconds per sentence is measured while it runs, from the progress the page shows,
so the assertion is a ratio within one run, not a timing."""

from __future__ import annotations

import os
import random
import re
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from explorer.memory import rss_bytes
from explorer.tiny import build_tiny_model
from tests.browser import app_server, chromium_page

MIB = 2**20
LINES = 500  # the page's most lines (explorer.models_state.MAX_SENTENCES)
MAX_TOKENS = 128  # long enough that a batch is worth timing, short enough to stay fast
WORDS = 100  # each line fills the model's 128 tokens
WAIT_MS = 120_000
PROGRESS = re.compile(r"Computing the comparison: ([\d,]+) of ([\d,]+) sentences")


def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of process ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until_idle(pid: int, window_s: float = 1.0, busy_share: float = 0.1,
                    timeout_s: float = 90.0) -> float:
    """Wait until ``pid`` used under ``busy_share`` of a core over ``window_s``; its CPU time
    then."""
    deadline = time.monotonic() + timeout_s
    samples = [(time.monotonic(), cpu_seconds(pid))]
    while True:
        time.sleep(0.1)
        now, cpu = time.monotonic(), cpu_seconds(pid)
        samples.append((now, cpu))
        while len(samples) > 2 and now - samples[1][0] >= window_s:
            samples.pop(0)
        start, start_cpu = samples[0]
        if now - start >= window_s and cpu - start_cpu < busy_share * (now - start):
            return cpu
        assert now < deadline, f"the server kept a core busy for {timeout_s:.0f} s"


def progress(page) -> tuple[int, int]:
    """(done, total) of the comparison's bar, waited for (the bar reads "0 of 0" until the
    job reports its first batch)."""
    handle = page.wait_for_function(
        "() => { const m = document.body.innerText.match("
        "/Computing the comparison: ([\\d,]+) of ([1-9][\\d,]*) sentences/); "
        "return m && m[0]; }",
        timeout=WAIT_MS)
    done, total = PROGRESS.search(handle.json_value()).groups()
    return int(done.replace(",", "")), int(total.replace(",", ""))


def wait_for_progress(page, at_least: int) -> tuple[int, int]:
    page.wait_for_function(
        "(least) => { const m = document.body.innerText.match("
        "/Computing the comparison: ([\\d,]+) of/); "
        "return m && Number(m[1].replace(/,/g, '')) >= least; }", arg=at_least, timeout=WAIT_MS)
    return progress(page)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """The tiny RoBERTa, reading up to 128 tokens."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-128"), max_tokens=MAX_TOKENS)


def test_closing_the_tab_stops_the_job_and_gives_memory_back(model_dir: Path):
    rng = random.Random(0)
    words = ("river", "bank", "quiet", "cold", "friends", "walked", "path", "station", "trains",
             "winter", "morning", "snow", "hills", "valleys", "the", "and", "old")
    sentences = "\n".join(" ".join(rng.choice(words) for _ in range(WORDS)) + "."
                          for _ in range(LINES))
    env = {"EXPLORER_MAX_PASTED_TOKENS": "1000000", "EXPLORER_MAX_JOB_TOKEN_PASSES": "100000000",
           "EXPLORER_MAX_JOBS": "1", "EXPLORER_JOB_THREADS": "1"}
    query = urlencode({"model_a": str(model_dir), "model_b": str(model_dir)})
    with app_server(model_dir, extra_env=env) as server, chromium_page() as page:
        page.goto(server.url)  # the app's entry first (see test_layers_browser.py)
        page.get_by_role("heading", name="Attention explorer").wait_for(timeout=WAIT_MS)
        page.goto(f"{server.url}/models?{query}")
        page.get_by_role("heading", name="Models", exact=True).wait_for(timeout=WAIT_MS)
        page.get_by_text("my sentences", exact=True).click()
        box = page.get_by_role("textbox", name="One sentence per line")
        box.fill(sentences)
        box.press("Control+Enter")
        button = page.get_by_role("button", name=f"Compare A and B over {LINES} sentence(s)")
        button.wait_for(timeout=WAIT_MS)
        wait_until_idle(server.pid)
        loaded_rss = rss_bytes(server.pid)
        button.click()
        first_done, total = progress(page)
        first_cpu = cpu_seconds(server.pid)
        assert total == LINES
        done, _ = wait_for_progress(page, first_done + 48)  # three more batches of 16
        cpu_at_close = cpu_seconds(server.pid)
        peak_rss = rss_bytes(server.pid)
        page.close()  # the visitor closes the tab
        idle_cpu = wait_until_idle(server.pid)
        after_rss = rss_bytes(server.pid)
    per_sentence = (cpu_at_close - first_cpu) / (done - first_done)
    left_over = (LINES - done) * per_sentence  # CPU seconds the rest of the job would take
    assert done <= LINES // 2 and per_sentence > 0
    # it stopped at its next batch: far less than the rest of the job ran after the close
    assert idle_cpu - cpu_at_close < 0.25 * left_over, (idle_cpu - cpu_at_close, left_over)
    # its memory came back (the tiny model's job holds little: a loose bound of 64 MiB)
    assert after_rss - loaded_rss < 64 * MIB, (loaded_rss / MIB, peak_rss / MIB, after_rss / MIB)
