"""Device choice ($EXPLORER_DEVICE) and the memory budget of long-context models."""

from __future__ import annotations

import pytest
import torch

from explorer.analysis import analyze, truncation_message
from explorer.devices import DEVICE_ENV_VAR, DeviceError, available_devices, choose_device
from explorer.model import (
    ATTENTION_BUDGET_ENV_VAR,
    ModelLoadError,
    attention_bytes,
    attention_dtype_for,
    load,
    token_cap,
)
from explorer.tiny import build_tiny_family


def test_auto_picks_the_cpu_when_there_is_no_accelerator():
    assert choose_device({}) == torch.device("cpu")
    assert choose_device({DEVICE_ENV_VAR: " Auto "}) == torch.device("cpu")
    assert choose_device({DEVICE_ENV_VAR: "cpu"}) == torch.device("cpu")
    assert available_devices()[0] == "cpu"


def test_auto_prefers_cuda_when_present(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert choose_device({}) == torch.device("cuda")
    assert choose_device({DEVICE_ENV_VAR: "cuda:1"}) == torch.device("cuda:1")
    with pytest.raises(DeviceError, match="no such device"):
        choose_device({DEVICE_ENV_VAR: "cuda:2"})


@pytest.mark.parametrize("value", ["gpu", "cuda:x", "auto:0", "cpu; rm -rf /"])
def test_a_bad_device_name_is_refused_with_the_choices(value):
    with pytest.raises(DeviceError, match="auto, cpu, cuda"):
        choose_device({DEVICE_ENV_VAR: value})


def test_an_absent_device_is_refused_by_the_loader(tiny_model_dir, monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.setenv(DEVICE_ENV_VAR, "cuda")
    with pytest.raises(ModelLoadError, match="available: cpu"):
        load(str(tiny_model_dir))


def test_modernbert_is_capped_to_the_attention_budget():
    # ModernBERT-base: 22 layers × 12 heads, 8 192 tokens: 35 GB of float16 attentions
    assert attention_bytes(22, 12, 8192, 2) > 30e9
    cap = token_cap(8192, 22, 12, budget=256 * 2**20)
    assert 512 <= cap < 8192 and attention_bytes(22, 12, cap, 2) <= 256 * 2**20
    assert token_cap(512, 6, 12, budget=256 * 2**20) == 512  # distilroberta: never capped
    assert token_cap(8192, 22, 12, budget=1) == 512  # never below BERT's own limit
    assert attention_dtype_for(6, 12, 512, budget=256 * 2**20) == "float32"
    assert attention_dtype_for(22, 12, cap, budget=256 * 2**20) == "float16"


def test_a_capped_long_context_model_says_so_and_keeps_float16(tmp_path, monkeypatch):
    monkeypatch.setenv(ATTENTION_BUDGET_ENV_VAR, "0.01")  # 10 KiB: forces the smallest cap
    folder = build_tiny_family(tmp_path, "modernbert", max_tokens=1024)
    loaded = load(str(folder))
    info = loaded.info
    assert (info.model_max_tokens, info.max_tokens, info.attention_dtype) == \
        (1024, 512, "float16")
    analysis = analyze(loaded, "the cat sat on the mat. " * 120 + "<mask>")
    assert analysis.truncated and analysis.num_tokens == 512
    assert analysis.attentions.dtype == "float16"
    assert abs(analysis.attentions.astype("float64").sum(-1) - 1).max() < 2e-3
    message = truncation_message(analysis, info.max_tokens, "The text", info.model_max_tokens)
    assert "at most 512 of this model's 1024" in message and "EXPLORER_ATTENTION_MB" in message
