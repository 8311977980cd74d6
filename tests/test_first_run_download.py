"""Issue 13, with the hub reachable: a download into the cache (safetensors, configs and tokenizer
files only) that reports its progress, in the library, in the app and in the set-up script.

Nothing here reaches the real hub: tests/fake_hub.py serves the tiny model as
``fake-org/tiny-roberta`` on a loopback port, with a ``pytorch_model.bin`` beside it that must
never be fetched."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import huggingface_hub.constants
import numpy as np
import pytest
from tqdm import tqdm
from transformers import pipeline

import explorer.hub as hub
from explorer.analysis import analyze
from explorer.local_models import hub_cache_dir, hub_cache_models
from explorer.model import ALLOWED_MODELS_ENV_VAR, MODEL_ENV_VAR, load
from explorer.state import DEFAULT_TEXT
from tests.browser import TABLE, app_server, chromium_page, wait_for_cell
from tests.conftest import ROOT
from tests.fake_hub import fake_hub

REPO_ID = "fake-org/tiny-roberta"
TEXT = "The capital of France is <mask>."
NEVER_FETCHED = ("pytorch_model.bin", "README.md", ".gitattributes")


@pytest.fixture(scope="module")
def fake_repo(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """The tiny model's folder as a hub repo holds it: with a PyTorch pickle copy of the weights
    (junk bytes here: it must never be fetched), a model card and .gitattributes."""
    folder = tmp_path_factory.mktemp("fake-repo")
    for file in tiny_model_dir.iterdir():
        shutil.copyfile(file, folder / file.name)
    (folder / "pytorch_model.bin").write_bytes(os.urandom(64 * 1024))
    (folder / "README.md").write_text("# tiny-roberta\nA random-weight test model.\n")
    (folder / ".gitattributes").write_text("*.bin filter=lfs diff=lfs merge=lfs -text\n")
    return folder


def model_files(folder: Path) -> set[str]:
    """What a download should fetch, by the repo's own listing: configs and safetensors."""
    return {p.name for p in folder.iterdir() if p.suffix in (".json", ".safetensors")}


@pytest.fixture()
def online(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """This process online (conftest sets HF_HUB_OFFLINE=1, which huggingface_hub read at
    import), with an empty hub cache in a temp folder; returns the cache folder."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    hub.forget_hub_status()
    yield hub_cache_dir()
    hub.forget_hub_status()


def test_download_snapshot_fetches_model_files_only_and_reports_every_byte(
        fake_repo: Path, tiny_model_dir: Path, online: Path, monkeypatch: pytest.MonkeyPatch):
    reports: list[tuple[int, int]] = []
    with fake_hub({REPO_ID: fake_repo}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        assert hub.hub_status().reachable
        snapshot = Path(hub.download_snapshot(
            REPO_ID, on_progress=lambda done, total: reports.append((done, total)),
            cache_dir=str(online)))
        fetched = server.fetched_files(REPO_ID)
        logged = server.logged()

    wanted = model_files(fake_repo)
    assert wanted >= {"config.json", "model.safetensors", "tokenizer.json"}
    assert sorted(fetched) == sorted(wanted)  # each once, and nothing else
    assert not [path for _, path in logged if path.endswith(NEVER_FETCHED)]  # not even a HEAD

    served = sum((fake_repo / name).stat().st_size for name in wanted)
    done = [d for d, _ in reports]
    assert done == sorted(done) and len(set(done)) >= 2  # several steps, never backwards
    assert {total for _, total in reports} == {served}  # the total is known from the start
    assert reports[-1] == (served, served)

    repo_folder = online.resolve() / "models--fake-org--tiny-roberta"
    assert snapshot.is_relative_to(repo_folder / "snapshots")
    assert {p.name for p in snapshot.iterdir()} == wanted
    for name in wanted:
        assert (snapshot / name).read_bytes() == (fake_repo / name).read_bytes()

    # The app loads it by its hub id, from the cache; it predicts what the source folder does.
    loaded = load(REPO_ID)
    assert loaded.info.num_layers == 2
    expected = pipeline("fill-mask", model=str(tiny_model_dir), top_k=5)(TEXT)
    predictions = analyze(loaded, TEXT, top_k=5).predictions[0].predictions
    assert [p.token_id for p in predictions] == [row["token"] for row in expected]
    assert [p.sequence for p in predictions] == [row["sequence"] for row in expected]
    np.testing.assert_allclose([p.score for p in predictions], [row["score"] for row in expected],
                               rtol=1e-5)


PROGRESS = re.compile(r"Downloading fake-org/tiny-roberta: ([\d.,]+) of ([\d.,]+) MiB "
                      r"\((\d+)%\)")


def test_the_app_shows_the_download_progress_then_the_explorer(fake_repo: Path,
                                                               tiny_model_dir: Path,
                                                               tmp_path: Path):
    expected = analyze(load(str(tiny_model_dir)), DEFAULT_TEXT, top_k=5).predictions[0]
    # Throttled so that the safetensors file takes a few seconds: progress stays on screen.
    rate = max(16_000, (fake_repo / "model.safetensors").stat().st_size // 4)
    served = sum((fake_repo / name).stat().st_size for name in model_files(fake_repo))
    with fake_hub({REPO_ID: fake_repo}, bytes_per_second=rate) as server:
        env = {"HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": server.url,
               MODEL_ENV_VAR: REPO_ID, ALLOWED_MODELS_ENV_VAR: ""}
        with app_server(Path(REPO_ID), extra_env=env) as app, chromium_page() as page:
            page.goto(app.url)
            progress = page.get_by_text(PROGRESS)
            progress.wait_for(timeout=90_000)
            shown = PROGRESS.search(progress.inner_text())
            assert shown is not None
            done, total, percent = float(shown[1]), float(shown[2]), int(shown[3])
            assert total == round(served / 2**20, 1) and 0 <= done <= total
            assert 0 <= percent <= 100
            page.get_by_role("textbox", name="Text").wait_for(timeout=90_000)
            page.locator(TABLE).first.wait_for(state="attached", timeout=60_000)
            wait_for_cell(page, expected.predictions[0].sequence)
            assert page.get_by_text(PROGRESS).count() == 0  # the bar is gone once done
            assert page.get_by_text("Could not load the model").count() == 0
        fetched = server.fetched_files(REPO_ID)
    assert sorted(fetched) == sorted(model_files(fake_repo))
    cached = {m.name: m for m in hub_cache_models(tmp_path / "hf" / "hub")}
    assert cached[REPO_ID].has_lm_head


def test_setup_script_downloads_into_the_cache_with_a_progress_bar(fake_repo: Path,
                                                                  tmp_path: Path):
    """The set-up script (its install steps skipped) in a terminal: a pseudo-terminal 100
    columns wide, because huggingface_hub draws its progress bars only on a terminal (and tqdm
    draws nothing on one 0 columns wide)."""
    import fcntl
    import pty
    import struct
    import termios

    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_OFFLINE")}
    env.update(EXPLORER_SETUP_SKIP_INSTALL="1", EXPLORER_SETUP_MODEL=REPO_ID,
               HF_HOME=str(tmp_path / "hf"))
    with fake_hub({REPO_ID: fake_repo}, bytes_per_second=400_000) as server:
        env["HF_ENDPOINT"] = server.url
        controller, terminal = pty.openpty()
        fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
        try:
            process = subprocess.Popen(["bash", "scripts/setup-app.sh"], cwd=ROOT, env=env,
                                       stdin=subprocess.DEVNULL, stdout=terminal,
                                       stderr=terminal)
            os.close(terminal)
            output = _read_all(controller)
            assert process.wait(timeout=120) == 0, output
        finally:
            os.close(controller)
        fetched = server.fetched_files(REPO_ID)
    # The closing line comes last, on a line of its own (not drawn over by the bars at exit).
    assert re.split(r"[\r\n]+", output.strip())[-1] == \
        f"Downloaded {REPO_ID} into the Hugging Face cache."
    bars = [line for line in re.split(r"[\r\n]+", output) if "%|" in line]  # tqdm's bars
    wanted = model_files(fake_repo)
    size = tqdm.format_sizeof(sum((fake_repo / name).stat().st_size for name in wanted), "B")
    assert any(line.startswith(f"Fetching {len(wanted)} files: 100%") for line in bars), output
    assert any(line.startswith("Reconstruct") and "100%" in line and line.count(size) == 2
               for line in bars), output  # every byte, as "188kB / 188kB"
    assert sorted(fetched) == sorted(wanted)
    cached = {m.name: m for m in hub_cache_models(tmp_path / "hf" / "hub")}
    assert cached[REPO_ID].has_lm_head
    assert cached[REPO_ID].size_bytes == (fake_repo / "model.safetensors").stat().st_size


def _read_all(controller: int) -> str:
    """Everything written to the pseudo-terminal until the process closes it."""
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: every writer has closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def test_progress_from_many_download_threads_is_reported_in_order():
    """snapshot_download's files arrive on up to 8 threads, all counting into one bar; a slow
    listener (here: one that yields its thread before it records) must still see the bytes
    grow, never shrink, and end at the total."""
    import threading
    import time

    reports: list[tuple[int, int]] = []

    def slow_listener(done: int, total: int) -> None:
        time.sleep(0.0005)  # another thread runs here: the race this guards against
        reports.append((done, total))

    chunks_per_thread, threads, chunk = 40, 8, 1000
    total = chunks_per_thread * threads * chunk
    bar = hub._reporting_tqdm(slow_listener, total)(desc="Reconstructing", total=0, unit="B")
    others = hub._reporting_tqdm(slow_listener, total)(desc="Fetching 8 files", total=8)

    def download_one_file() -> None:
        for _ in range(chunks_per_thread):
            bar.update(chunk)
        others.update(1)  # the file count is not bytes: never reported

    workers = [threading.Thread(target=download_one_file) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    done = [d for d, _ in reports]
    assert len(reports) == chunks_per_thread * threads
    assert done == sorted(done) and done[-1] == total
    assert {t for _, t in reports} == {total}
