"""Issue 13: a fast, honest start offline; the models on this machine offered; set-up offline."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

import explorer.hub as hub
import explorer.model as model_module
from explorer.local_models import discover, hub_cache_models
from explorer.model import ALLOWED_MODELS_ENV_VAR, MODEL_ENV_VAR, ModelLoadError, load
from tests.conftest import ROOT
from tests.model_folders import build_headless_bert, put_in_hub_cache
from tests.tables import prediction_tables
from ui.markdown import escape_markdown

APP = str(ROOT / "app.py")
REPO_ID = "tiny-org/tiny-roberta"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture()
def unreachable_hub(monkeypatch):
    """The hub at a closed loopback port, HF_HUB_OFFLINE unset: it must be found out."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    hub.forget_hub_status()
    yield
    hub.forget_hub_status()


@pytest.fixture()
def temp_hub_cache(monkeypatch, tmp_path, tiny_model_dir):
    """An HF cache in a temp folder holding the tiny model as ``tiny-org/tiny-roberta``."""
    cache = tmp_path / "hf" / "hub"
    put_in_hub_cache(tiny_model_dir, cache, REPO_ID)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv(MODEL_ENV_VAR, raising=False)
    monkeypatch.delenv(ALLOWED_MODELS_ENV_VAR, raising=False)
    return cache


def test_unreachable_hub_is_probed_once_and_remembered(unreachable_hub, monkeypatch):
    connects = []
    real = socket.create_connection

    def counting(address, *args, **kwargs):
        connects.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", counting)
    first = hub.hub_status()
    assert not first.reachable and "could not be reached" in first.reason
    assert hub.hub_status() is first and not hub.hub_reachable()
    assert len(connects) == 1


def test_a_listening_endpoint_is_reachable(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
        hub.forget_hub_status()
        assert hub.hub_status().reachable
    hub.forget_hub_status()


def test_offline_load_skips_the_download_and_says_why(unreachable_hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf"))
    calls = []
    real = model_module._from_pretrained

    def recording(source, local_only):
        calls.append(local_only)
        return real(source, local_only)

    monkeypatch.setattr(model_module, "_from_pretrained", recording)
    with pytest.raises(ModelLoadError) as caught:
        load("distilroberta-base")
    assert False not in calls  # no download attempt (transformers retries it for a minute)
    message = str(caught.value)
    assert "hub download: skipped because" in message and "could not be reached" in message
    assert "scripts/download_model.py distilroberta-base" in message


def test_models_in_the_hub_cache_and_models_folder_are_found(temp_hub_cache, tmp_path,
                                                              tiny_model_dir, monkeypatch):
    encoder = build_headless_bert(tmp_path / "encoder")
    put_in_hub_cache(encoder, temp_hub_cache, "someone/encoder")
    (temp_hub_cache / "models--broken--repo" / "snapshots").mkdir(parents=True)
    found = {m.name: m for m in hub_cache_models()}
    assert set(found) == {REPO_ID, "someone/encoder"}
    tiny = found[REPO_ID]
    assert tiny.family == "roberta" and tiny.has_lm_head
    reference = load(str(tiny_model_dir))
    assert tiny.num_parameters == reference.info.num_parameters
    assert tiny.size_bytes == (tiny_model_dir / "model.safetensors").stat().st_size
    assert not found["someone/encoder"].has_lm_head
    monkeypatch.setenv(MODEL_ENV_VAR, str(tiny_model_dir))
    everything = discover()
    assert everything[0].where == "$EXPLORER_MODEL"
    assert REPO_ID in [m.name for m in everything]
    assert [m.name for m in discover(include_hub_cache=False)] == [str(tiny_model_dir)]


def test_a_model_in_the_hub_cache_is_offered_and_loads_on_click(temp_hub_cache,
                                                                unreachable_hub):
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    assert "Could not load the model 'distilroberta\\-base'" in at.error[0].value
    offered = [b for b in at.button if b.label == escape_markdown(REPO_ID)]
    assert offered and not prediction_tables(at)
    assert any("roberta" in c.value and "MiB" in c.value for c in at.caption)
    offered[0].click().run()
    assert not at.exception, at.exception
    assert at.sidebar.text_input(key="model_name").value == REPO_ID
    assert not at.error
    assert len(prediction_tables(at)) == 1  # the cached model answered


def test_with_no_model_anywhere_the_two_ways_are_shown(unreachable_hub, tmp_path,
                                                       monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf"))
    monkeypatch.delenv(MODEL_ENV_VAR, raising=False)
    monkeypatch.delenv(ALLOWED_MODELS_ENV_VAR, raising=False)
    monkeypatch.setattr("explorer.local_models.PROJECT_MODELS", tmp_path / "no-models")
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    commands = [c.value for c in at.code]
    assert "python scripts/download_model.py distilroberta-base" in commands
    assert any("models/distilroberta-base" in c and "scp -r" in c for c in commands)


def _setup(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "scripts/setup-app.sh"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=env)


def test_setup_script_skips_the_download_offline_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env.update(EXPLORER_SETUP_SKIP_INSTALL="1", HF_HOME=str(tmp_path / "hf"),
               HF_ENDPOINT=f"http://127.0.0.1:{closed_port()}")
    result = _setup(env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Skipped downloading distilroberta-base")
    assert "could not be reached" in lines[0]
    assert not (tmp_path / "hf").exists()  # nothing was written


def test_download_script_copies_a_model_folder_from_another_machine(tmp_path, tiny_model_dir):
    folder = tmp_path / "models" / "copied"
    result = subprocess.run([sys.executable, "scripts/download_model.py", str(tiny_model_dir),
                             str(folder)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert load(str(folder)).info.fingerprint == load(str(tiny_model_dir)).info.fingerprint
