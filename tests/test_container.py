"""The hosted demo for real (issue 20): the image built by scripts/build-image.sh with podman,
with a distilroberta-shaped random model baked in, run as a visitor would meet it.

Marked ``container`` (slow: the first build takes minutes, later builds reuse the cached layers);
skipped only where podman is absent. scripts/setup-test.sh installs podman, so CI runs it.
Containers use host networking and listen on 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from explorer.analysis import analyze
from explorer.model import load
from explorer.tiny import build_tiny_model
from tests.browser import TABLE, chromium_page, free_port, shown_cell, table_cells, wait_for_cell
from tests.conftest import ROOT

PODMAN = shutil.which("podman")
if PODMAN is None:
    pytest.skip("podman is not installed (scripts/setup-test.sh installs it)",
                allow_module_level=True)

# The first build (base image, apt, wheels, npm) can take 10+ minutes on a fresh machine.
pytestmark = [pytest.mark.container, pytest.mark.timeout(3000)]

IMAGE = "localhost/attention-explorer:test"
GRAPH_TOKEN = "[data-testid='attention-graph'] .ag-tok"
TEXT = "The capital of France is <mask>."


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([PODMAN, *args], capture_output=True, text=True, timeout=timeout,
                          check=check)


@dataclass
class Container:
    name: str
    url: str
    started: float  # time.monotonic() when `podman run` was called
    healthy_after_s: float = 0.0

    def logs(self) -> str:
        result = podman("logs", self.name, check=False)
        return result.stdout + result.stderr

    def state(self) -> dict:
        return json.loads(podman("inspect", self.name).stdout)[0]["State"]

    def wait_healthy(self, timeout_s: float = 180) -> float:
        """Seconds from `podman run` until /_stcore/health answers 200."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        return time.monotonic() - self.started
            except OSError:
                pass
            state = self.state()
            if not state["Running"] or time.monotonic() > deadline:
                raise AssertionError(f"container not healthy ({state['Status']}):\n"
                                     f"{self.logs()[-3000:]}")
            time.sleep(0.3)


@contextmanager
def container(*run_args: str) -> Iterator[Container]:
    """`podman run` the test image on a free loopback port; removed afterwards."""
    name = f"explorer-test-{uuid.uuid4().hex[:10]}"
    port = free_port()
    started = time.monotonic()
    podman("run", "-d", "--name", name, "--network", "host", "-e", "HOST=127.0.0.1",
           "-e", f"PORT={port}", *run_args, IMAGE)
    try:
        yield Container(name=name, url=f"http://127.0.0.1:{port}", started=started)
    finally:
        podman("rm", "-f", "-t", "0", name, check=False)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """distilroberta-base's shape (6 layers, 768 wide, 12 heads), random weights, 512 tokens;
    seeded, so the same bytes each run and the image's model layer stays cached."""
    return build_tiny_model(tmp_path_factory.mktemp("distil-shaped") / "model", layers=6,
                            hidden=768, heads=12, max_tokens=512)


@pytest.fixture(scope="module")
def image(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    work = Path(os.environ.get("EXPLORER_IMAGE_WORKDIR")
                or Path.home() / ".cache" / "attention-explorer-image-test")
    result = subprocess.run(
        ["bash", "scripts/build-image.sh", "-t", IMAGE, "--model", str(model_dir)], cwd=ROOT,
        env={**os.environ, "EXPLORER_IMAGE_WORKDIR": str(work), "CONTAINER_ENGINE": "podman"},
        capture_output=True, text=True, timeout=3000)
    assert result.returncode == 0, result.stderr[-5000:]
    assert "built " in result.stderr
    return IMAGE


@pytest.fixture(scope="module")
def cache_volume(image: str) -> Iterator[str]:
    name = f"explorer-test-cache-{uuid.uuid4().hex[:10]}"
    podman("volume", "create", name)
    yield name
    podman("volume", "rm", "-f", name, check=False)


@pytest.fixture(scope="module")
def demo(image: str, cache_volume: str) -> Iterator[Container]:
    """The container as docs/deploy.md runs a public demo: read-only, /tmp in memory, the disk
    cache on a volume."""
    with container("--read-only", "--tmpfs", "/tmp",
                   "-v", f"{cache_volume}:/app/.explorer_cache") as running:
        running.healthy_after_s = running.wait_healthy()
        yield running


def test_image_uses_cpu_torch_and_reports_its_size(image: str, record_property):
    size_mb = int(podman("image", "inspect", "--format", "{{.Size}}", image).stdout) / 1e6
    record_property("image_size_mb", round(size_mb))
    print(f"\nimage size: {size_mb:.0f} MB")
    check = podman("run", "--rm", "--network", "host", "--entrypoint", "python", image, "-c",
                   "import torch; print(torch.__version__, torch.version.cuda)")
    assert check.stdout.split() == ["2.13.0+cpu", "None"]
    listing = podman("run", "--rm", "--network", "host", "--entrypoint", "sh", image, "-c",
                     "ls /opt/venv/lib/python3.11/site-packages | grep -ci nvidia || true")
    assert listing.stdout.strip() == "0"


def test_a_visitor_types_a_mask_and_sees_predictions_and_the_graph(
        demo: Container, model_dir: Path, record_property):
    expected = analyze(load(str(model_dir)), TEXT, top_k=5).predictions[0].predictions
    with chromium_page() as page:
        page.goto(demo.url)
        page.locator(TABLE).first.wait_for(timeout=120_000)  # the default text's predictions
        first_page_s = time.monotonic() - demo.started
        box = page.get_by_role("textbox", name="Text")
        box.fill(TEXT)
        box.press("Control+Enter")
        wait_for_cell(page, shown_cell(expected), timeout=120_000)
        cells = table_cells(page.locator(TABLE).first)
        assert [c for c in cells if c in {p.sequence for p in expected}] == [
            p.sequence for p in expected]
        page.locator(GRAPH_TOKEN).first.wait_for(timeout=60_000)
        assert page.locator(GRAPH_TOKEN).count() >= 2 * 8  # both columns, every token
    record_property("run_to_first_table_s", round(first_page_s, 1))
    print(f"\nrun -> /_stcore/health: {demo.healthy_after_s:.1f} s; "
          f"run -> first prediction table in chromium: {first_page_s:.1f} s")


@pytest.mark.parametrize("linked", ["/etc", "/models/../app", "roberta-base"])
def test_a_visitor_cannot_load_another_model_or_a_path(demo: Container, linked: str):
    with chromium_page() as page:
        page.goto(f"{demo.url}/?model_name={urllib.parse.quote(linked)}")
        page.get_by_text("this server does not load that model").first.wait_for(timeout=60_000)
        page.locator(TABLE).first.wait_for(timeout=120_000)  # the operator's model instead
        sidebar = page.locator("[data-testid='stSidebar']")
        assert "6 layers × 12 heads" in sidebar.inner_text()
        assert sidebar.locator("[data-testid='stSelectbox']").count() == 1
        assert sidebar.locator("[data-testid='stTextInput']").count() == 0  # no free field


def test_runs_as_uid_1000_and_its_healthcheck_passes(demo: Container):
    assert podman("exec", demo.name, "id", "-u").stdout.strip() == "1000"
    status = podman("top", demo.name, "user", "args").stdout
    assert "streamlit run app.py" in status and "root" not in status
    # podman runs the image's HEALTHCHECK command itself (exit 0 = healthy)
    assert podman("healthcheck", "run", demo.name, check=False).returncode == 0
    assert podman("inspect", "--format", "{{.Config.Healthcheck.Test}}", demo.name).stdout \
        .strip() == "[CMD python scripts/healthcheck.py]"


def test_a_restart_keeps_nothing_but_the_disk_cache(demo: Container):
    marker = "/app/.explorer_cache/test-marker"
    podman("exec", demo.name, "sh", "-c", f"echo kept > {marker} && echo gone > /tmp/marker")
    read_only = podman("exec", demo.name, "sh", "-c", "touch /app/x 2>&1; echo $?").stdout
    assert read_only.strip().endswith("1")  # the image's files cannot be written
    before = podman("exec", demo.name, "cat", "/proc/1/stat").stdout.split()[21]  # start time
    podman("restart", "-t", "10", demo.name)
    demo.started = time.monotonic()
    demo.wait_healthy()
    assert podman("exec", demo.name, "cat", "/proc/1/stat").stdout.split()[21] != before
    assert podman("exec", demo.name, "cat", marker).stdout.strip() == "kept"
    assert podman("exec", demo.name, "ls", "-A", "/tmp").stdout.strip() == ""
    # nothing written outside the volume and tmpfs; /etc holds podman's own bind mounts
    written = set(podman("diff", demo.name).stdout.split("\n")) - {""}
    assert written <= {"C /etc", "A /etc/hosts", "A /etc/resolv.conf", "A /etc/hostname"}, written
    with chromium_page() as page:  # and the app serves again, fresh
        page.goto(demo.url)
        page.locator(TABLE).first.wait_for(timeout=120_000)


def test_without_a_model_folder_or_internet_it_shows_the_offline_page(image: str):
    # an empty /models over the image's (notmpcopyup: podman would copy the image's files in)
    with container("--mount", "type=tmpfs,destination=/models,notmpcopyup") as bare:
        bare.wait_healthy()
        with chromium_page() as page:
            page.goto(bare.url)
            page.get_by_text("Could not load the model 'distilroberta-base'").first.wait_for(
                timeout=90_000)
            assert "could not be reached" in page.locator("[data-testid='stMain']").inner_text()
        state = bare.state()
        assert state["Running"] and state.get("RestartCount", 0) == 0  # no crash loop
        assert "No model folder at /models/distilroberta-base" in bare.logs()


def test_a_model_folder_unreadable_by_uid_1000_gets_a_clear_message(
        image: str, model_dir: Path, tmp_path: Path):
    locked = tmp_path / "locked"
    shutil.copytree(model_dir, locked)
    os.chown(locked, 0, 0)
    locked.chmod(0o700)  # root's only: the app's user (UID 1000) cannot list it
    with container("-v", f"{locked}:/models/distilroberta-base:ro") as running:
        running.wait_healthy()
        assert "cannot be read by the app's user (UID 1000)" in running.logs()
        with chromium_page() as page:
            page.goto(running.url)
            page.get_by_text("permission denied").first.wait_for(timeout=90_000)
            shown = page.locator("[data-testid='stMain']").inner_text()
            assert "chmod -R a+rX" in shown
            assert "Traceback" not in shown and "PermissionError" not in shown
        assert running.state()["Running"]


def test_sigterm_stops_the_container_within_10_s(image: str):
    with container() as running:
        running.wait_healthy()
        stopping = time.monotonic()
        podman("stop", "-t", "10", running.name, timeout=60)
        stop_s = time.monotonic() - stopping
        state = running.state()
        print(f"\nstop (SIGTERM) took {stop_s:.1f} s, exit code {state['ExitCode']}")
        # 137 would mean podman gave up after 10 s and killed it (SIGKILL)
        assert state["ExitCode"] != 137
        assert not state["Running"]
