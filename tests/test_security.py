"""Security of model loading: allow-list, safetensors only, no remote code, escaped messages."""

from __future__ import annotations

import json
import pickle
import re
import shutil

import pytest
from streamlit.testing.v1 import AppTest

import explorer.model as model_module
from explorer.model import (
    ALLOWED_MODELS_ENV_VAR,
    DEFAULT_MODEL,
    MODEL_ENV_VAR,
    ModelLoadError,
    allowed_models,
    check_allowed,
    default_model_name,
    load,
)
from tests.conftest import ROOT
from tests.tables import prediction_tables
from ui.markdown import WORD_JOINER, error_markdown, escape_markdown

APP = str(ROOT / "app.py")


@pytest.fixture()
def no_loading(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every attempt to read weights; the allow-list must refuse before any."""
    attempts: list[str] = []

    def refuse(source: str, local_only: bool):
        attempts.append(source)
        raise AssertionError("the loader was reached")

    monkeypatch.setattr(model_module, "_from_pretrained", refuse)
    return attempts


def test_without_an_allow_list_any_model_may_be_loaded(monkeypatch, tiny_model_dir):
    monkeypatch.delenv(ALLOWED_MODELS_ENV_VAR, raising=False)
    monkeypatch.delenv(MODEL_ENV_VAR, raising=False)
    assert allowed_models() is None
    check_allowed("someone/anything")  # no error
    assert load(str(tiny_model_dir)).info.num_layers == 2


@pytest.mark.parametrize("name", ["someone/huge-model", "gpt2", "/etc", "../../../root"])
def test_allow_list_refuses_other_names_before_any_download(monkeypatch, no_loading, name):
    monkeypatch.delenv(MODEL_ENV_VAR, raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # a download would be attempted
    monkeypatch.setenv(ALLOWED_MODELS_ENV_VAR, "distilroberta-base, roberta-base")
    with pytest.raises(ModelLoadError) as caught:
        load(name)
    message = str(caught.value)
    assert "nothing was downloaded" in message
    assert "distilroberta-base, roberta-base" in message
    assert "no such folder" not in message  # server folders are not probed either
    assert no_loading == []


def test_allow_list_accepts_listed_models_in_any_spelling_of_the_folder(
        monkeypatch, tiny_model_dir, tmp_path):
    monkeypatch.delenv(MODEL_ENV_VAR, raising=False)
    monkeypatch.setenv(ALLOWED_MODELS_ENV_VAR, f"distilroberta-base,{tiny_model_dir}/")
    monkeypatch.chdir(tiny_model_dir.parent)
    loaded = load(f"./{tiny_model_dir.name}")
    assert loaded.info.num_heads == 4
    # a sibling folder is not on the list
    sibling = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, sibling)
    with pytest.raises(ModelLoadError, match="only loads the models its operator allowed"):
        load(str(sibling))


def test_operator_model_is_always_allowed_and_is_the_default(monkeypatch, tiny_model_dir):
    monkeypatch.setenv(ALLOWED_MODELS_ENV_VAR, "distilroberta-base")
    monkeypatch.setenv(MODEL_ENV_VAR, str(tiny_model_dir))
    assert allowed_models() == (str(tiny_model_dir), "distilroberta-base")
    assert default_model_name() == str(tiny_model_dir)
    assert load(None).info.num_layers == 2


def test_default_is_the_first_allowed_model_when_distilroberta_is_not_listed(monkeypatch):
    monkeypatch.delenv(MODEL_ENV_VAR, raising=False)
    monkeypatch.setenv(ALLOWED_MODELS_ENV_VAR, "roberta-base,bert-base-cased")
    assert default_model_name() == "roberta-base"
    monkeypatch.setenv(ALLOWED_MODELS_ENV_VAR, f"roberta-base,{DEFAULT_MODEL}")
    assert default_model_name() == DEFAULT_MODEL
    monkeypatch.setenv(ALLOWED_MODELS_ENV_VAR, " , ")
    assert allowed_models() is None


def test_remote_code_in_a_model_folder_never_runs(tmp_path, tiny_model_dir):
    folder = tmp_path / "with-remote-code"
    shutil.copytree(tiny_model_dir, folder)
    marker = tmp_path / "remote-code-ran"
    (folder / "evil.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\n"
        "from transformers import RobertaConfig, RobertaForMaskedLM\n"
        "class EvilConfig(RobertaConfig):\n    pass\n"
        "class EvilModel(RobertaForMaskedLM):\n    config_class = EvilConfig\n"
    )
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig",
                          "AutoModelForMaskedLM": "evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(config))
    try:
        loaded = load(str(folder))
    except ModelLoadError:
        loaded = None  # refusing the folder is as good as ignoring its code
    assert not marker.exists()
    if loaded is not None:
        assert type(loaded.model).__name__ == "RobertaForMaskedLM"


def test_a_pickle_beside_the_safetensors_is_never_unpickled(tmp_path, tiny_model_dir):
    folder = tmp_path / "with-pickle"
    shutil.copytree(tiny_model_dir, folder)
    marker = tmp_path / "pickle-ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(Payload()))
    loaded = load(str(folder))
    assert loaded.info.num_layers == 2
    assert not marker.exists()


def test_escape_markdown_shows_markup_literally():
    hostile = "![x](http://127.0.0.1:9/p.png) [a](javascript:alert(1)) :red[x] <b>b</b> *i*"
    escaped = escape_markdown(hostile)
    for raw in ("![", "](", ":red[", "<b>", "*i*"):
        assert raw not in escaped
    assert escaped.replace("\\", "").replace(WORD_JOINER, "") == hostile  # only escaped
    assert "http:" not in escaped.replace("\\", "")  # no GFM autolink either


def test_error_markdown_escapes_the_name_and_keeps_bullets():
    error = ModelLoadError("![x](http://e/p.png)", ["local folder: no [such](x) folder"], "fix it")
    body = error_markdown(error)
    assert "![x](" not in body and "[such](x)" not in body
    assert body.splitlines()[1].startswith("- ")


def _run(**session: object) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in session.items():
        at.session_state[key] = value
    return at.run()


def test_sidebar_is_a_selectbox_of_allowed_models(monkeypatch, tiny_model_dir):
    monkeypatch.setenv(MODEL_ENV_VAR, str(tiny_model_dir))
    monkeypatch.setenv(ALLOWED_MODELS_ENV_VAR, "distilroberta-base")
    at = _run()
    assert not at.exception, at.exception
    assert len(at.sidebar.text_input) == 0
    choice = at.sidebar.selectbox(key="model_name")
    assert list(choice.options) == [str(tiny_model_dir), "distilroberta-base"]
    assert choice.value == str(tiny_model_dir)
    assert len(prediction_tables(at)) == 1  # the tiny model answered


def test_a_name_outside_the_allow_list_in_session_state_falls_back(monkeypatch, tiny_model_dir):
    monkeypatch.setenv(MODEL_ENV_VAR, str(tiny_model_dir))
    monkeypatch.setenv(ALLOWED_MODELS_ENV_VAR, "distilroberta-base")
    sources: list[str] = []

    def recording(source: str, local_only: bool):
        sources.append(source)
        return _real_from_pretrained(source, local_only)

    monkeypatch.setattr(model_module, "_from_pretrained", recording)
    at = _run(model_name="attacker/huge-repo")
    assert not at.exception, at.exception
    assert at.sidebar.selectbox(key="model_name").value == str(tiny_model_dir)
    assert len(prediction_tables(at)) == 1
    assert not any("attacker" in source for source in sources), sources  # never reached


_real_from_pretrained = model_module._from_pretrained


def test_hostile_model_name_in_the_text_field_is_shown_escaped(monkeypatch, tiny_model_dir):
    monkeypatch.setenv(MODEL_ENV_VAR, str(tiny_model_dir))
    monkeypatch.delenv(ALLOWED_MODELS_ENV_VAR, raising=False)
    at = _run()
    name = "![t](http://127.0.0.1:9/p.png)<img src=x onerror=alert(1)>"
    at.sidebar.text_input(key="model_name").set_value(name).run()
    assert not at.exception
    body = at.error[0].value
    assert "Could not load the model" in body
    assert "![t](" not in body
    unescaped = [re.findall(r"(?<!\\)[<>\[\]()!*_`]", line.removeprefix("- "))
                 for line in body.splitlines()]
    assert unescaped == [[] for _ in unescaped], body
