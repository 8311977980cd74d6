"""Start-up times of the app in a real browser: from ``streamlit run app.py`` to the first page,
and to the first prediction, offline and with a cached model.

    python bench/startup.py                      # the two scenarios below, this checkout
    python bench/startup.py --before /work/main  # also the offline start of another checkout

Scenarios (the hub is unreachable in both: ``HF_ENDPOINT`` points at a closed loopback port and
``HF_HUB_OFFLINE`` is not set, as on a machine without network):

- **offline, no default model**: distilroberta-base is not cached; a tiny model sits in a
  temporary HF cache. First page = the error message and the one-click local-model choice.
- **cached model**: a distilroberta-shaped model (6 layers × 12 heads × 768, 50 265-token
  vocabulary, 82 M parameters, random weights) as a local folder in ``$EXPLORER_MODEL``.
  First page = the text box; first prediction = the first top-k table.

Each figure is measured from the moment the server process is started; "reload" is a second
page load in the same browser after the first page was complete. Needs Debian's chromium.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
_TIMEOUT_MS = 240_000


@contextmanager
def _server(app_root: Path, env: dict[str, str]) -> Iterator[tuple[str, float]]:
    """Start ``streamlit run app.py`` in ``app_root``; yield its URL and its start time."""
    from tests.browser import free_port

    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "app.py",
               "--server.address", "127.0.0.1", "--server.port", str(port),
               "--server.headless", "true", "--server.fileWatcherType", "none"]
    full_env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    full_env.update(STREAMLIT_BROWSER_GATHER_USAGE_STATS="false", **env)
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=app_root, env=full_env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.05)
            if process.poll() is not None:
                raise RuntimeError("streamlit exited")
        yield url, started
    finally:
        process.terminate()
        process.wait(timeout=20)


def _closed_endpoint() -> str:
    from tests.browser import free_port

    return f"http://127.0.0.1:{free_port()}"


def offline_start(app_root: Path, cache: Path, choice: str | None) -> dict[str, float]:
    """Seconds to the offline first page (message and, when ``choice``, the local model) and
    to a reload of it."""
    from tests.browser import chromium_page

    env = {"HF_HOME": str(cache), "HF_ENDPOINT": _closed_endpoint(), "EXPLORER_MODEL": "",
           "EXPLORER_ALLOWED_MODELS": ""}

    def complete(page) -> None:
        page.get_by_text("Could not load the model").first.wait_for(timeout=_TIMEOUT_MS)
        if choice:
            page.locator("[data-testid='stMain']").get_by_role(
                "button", name=choice).wait_for(timeout=_TIMEOUT_MS)

    with _server(app_root, env) as (url, started), chromium_page() as page:
        healthy = time.monotonic() - started
        page.goto(url)
        complete(page)
        first = time.monotonic() - started
        reload_started = time.monotonic()
        page.reload()
        complete(page)
        reload = time.monotonic() - reload_started
    return {"server_s": healthy, "first_page_s": first, "reload_s": reload}


def cached_start(model_dir: Path) -> dict[str, float]:
    """Seconds to the first page and the first prediction with a cached local model."""
    from tests.browser import TABLE, chromium_page

    cell = f"{TABLE} td"  # a prediction table's first cell drawn
    env = {"EXPLORER_MODEL": str(model_dir), "HF_ENDPOINT": _closed_endpoint(),
           "EXPLORER_ALLOWED_MODELS": ""}
    with _server(ROOT, env) as (url, started), chromium_page() as page:
        healthy = time.monotonic() - started
        page.goto(url)
        page.get_by_role("textbox", name="Text").wait_for(timeout=_TIMEOUT_MS)
        first_page = time.monotonic() - started
        page.locator(cell).first.wait_for(state="attached", timeout=_TIMEOUT_MS)
        first_prediction = time.monotonic() - started
        reload_started = time.monotonic()
        page.reload()
        page.locator(cell).first.wait_for(state="attached", timeout=_TIMEOUT_MS)
        reload = time.monotonic() - reload_started
    return {"server_s": healthy, "first_page_s": first_page,
            "first_prediction_s": first_prediction, "reload_s": reload}


def run(before: Path | None = None) -> dict[str, dict[str, float]]:
    from bench.memory import build_model
    from explorer.tiny import build_tiny_model
    from tests.model_folders import put_in_hub_cache

    results = {}
    with tempfile.TemporaryDirectory() as temp:
        cache = Path(temp) / "hf"
        tiny = build_tiny_model(Path(temp) / "tiny")
        put_in_hub_cache(tiny, cache / "hub", "tiny-org/tiny-roberta")
        results["offline"] = offline_start(ROOT, cache, "tiny-org/tiny-roberta")
        if before is not None:
            results["offline, before"] = offline_start(before, Path(temp) / "empty-hf", None)
        folder = build_model(Path(temp) / "distilroberta-shaped")
        results["cached model"] = cached_start(folder)
    return results


def report(results: dict[str, dict[str, float]]) -> str:
    lines = ["| scenario | server up | first page | first prediction | reload |",
             "|---|---:|---:|---:|---:|"]
    for name, figures in results.items():
        prediction = figures.get("first_prediction_s")
        lines.append(
            f"| {name} | {figures['server_s']:.1f} s | {figures['first_page_s']:.1f} s | "
            f"{f'{prediction:.1f} s' if prediction is not None else '—'} | "
            f"{figures['reload_s']:.1f} s |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, default=None,
                        help="also time the offline start of another checkout (e.g. /work/main)")
    args = parser.parse_args(argv)
    print(report(run(args.before)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
