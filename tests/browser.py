"""Real-browser helpers: start the app on a free loopback port, drive Debian's chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = os.environ.get("EXPLORER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class AppServer:
    """A running app: its base URL, the server's process id and its log file."""

    url: str
    pid: int
    port: int
    log_path: Path


@contextmanager
def app_server(model_dir: Path, extra_env: dict[str, str] | None = None,
               timeout_s: float = 90.0, command: list[str] | None = None,
               base_path: str = "") -> Iterator[AppServer]:
    """Run the app on 127.0.0.1 (``streamlit run app.py``, or ``command`` which must read
    ``$PORT``); yield an :class:`AppServer` once ``/_stcore/health`` answers 200. With
    ``base_path`` the app is served under ``/<base_path>/`` (a hosted demo behind a proxy)."""
    port = free_port()
    env = {
        **os.environ,
        "EXPLORER_MODEL": str(model_dir),
        "HF_HUB_OFFLINE": "1",
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        **({"STREAMLIT_SERVER_BASE_URL_PATH": base_path} if base_path else {}),
        **(extra_env or {}),
    }
    command = command or [
        sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
        "--server.address", "127.0.0.1", "--server.port", str(port),
        "--server.headless", "true", "--server.fileWatcherType", "none",
    ]
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"streamlit-{port}.log"
    log = log_path.open("w+")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}" + (f"/{base_path.strip('/')}" if base_path else "")
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"streamlit did not start:\n{log.read()[-3000:]}")
            time.sleep(0.3)
        yield AppServer(url=url, pid=process.pid, port=port, log_path=log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


@contextmanager
def running_app(model_dir: Path, extra_env: dict[str, str] | None = None,
                timeout_s: float = 90.0) -> Iterator[str]:
    """Run ``streamlit run app.py`` on 127.0.0.1 with the given model; yield its base URL."""
    with app_server(model_dir, extra_env, timeout_s) as server:
        yield server.url


@contextmanager
def chromium_page(viewport: dict[str, int] | None = None) -> Iterator[object]:
    """A Playwright page in Debian's chromium (``playwright install`` cannot download here)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(
            f"{CHROMIUM} is missing: install it with `apt-get install -y chromium` "
            "(.ci/run does this)."
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=viewport or {"width": 1400, "height": 1000})
            yield page
        finally:
            browser.close()


TABLE = "table.text-table"
"""The top-k (and ablation) tables: HTML tables of escaped text (``components.tables``)."""
_CELL = f"{TABLE} td"


def wait_for_cell(page, text: str, timeout: int = 60_000) -> None:
    """Wait until some table cell holds exactly ``text``."""
    page.wait_for_function(
        "([selector, text]) => [...document.querySelectorAll(selector)]"
        ".some(cell => cell.textContent === text)",
        arg=[_CELL, text], timeout=timeout)


def shown_cell(predictions) -> str:
    """A cell the top-k table of ``predictions`` (one mask's, best first) shows, computed from
    the pipeline's output: the sequence of the first prediction whose token decodes alone (the
    table shows exactly the pipeline's sequence for it), else the first token as ``[id N]``."""
    for prediction in predictions:
        if prediction.token_str and "\ufffd" not in prediction.token_str:
            return prediction.sequence
    return f"[id {int(predictions[0].token_id)}]"


def table_cells(table) -> list[str]:
    """The text of every cell of one table (a locator of ``TABLE``), row by row."""
    return table.locator("td").all_text_contents()
