"""Shared fixtures: a tiny RoBERTa masked LM built on the spot, loaded through explorer.load."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach a hub
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from explorer.model import MODEL_ENV_VAR, Loaded, load
from explorer.tiny import build_tiny_model

ROOT = Path(__file__).resolve().parent.parent
TINY_MAX_TOKENS = 64


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a 2-layer, 4-head RoBERTa masked LM that reads at most 64 tokens."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-roberta"), max_tokens=TINY_MAX_TOKENS)


@pytest.fixture(scope="session")
def tiny(tiny_model_dir: Path) -> Loaded:
    """The tiny model loaded through the app's own loader."""
    return load(str(tiny_model_dir))


@pytest.fixture()
def app_env(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the app at the tiny model, as a user would with $EXPLORER_MODEL."""
    monkeypatch.setenv(MODEL_ENV_VAR, str(tiny_model_dir))
    return tiny_model_dir
