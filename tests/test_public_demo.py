"""A public demo one visitor cannot exhaust (issue 25): the cost model and its stated limits,
models shown by name and never by folder, Model B's local default, refused link fields."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from explorer.cost import (
    PUBLIC_MAX_JOB,
    PUBLIC_MAX_PASTED,
    attribution_cost,
    max_attribution_steps,
    max_job_token_passes,
    max_pasted_tokens,
    sentences_cost,
)
from explorer.model import shown_model_name
from explorer.tiny import build_tiny_model
from tests.conftest import ROOT

APP = str(ROOT / "app.py")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A model folder under a model root, as the Docker image serves it."""
    root = tmp_path_factory.mktemp("models")
    return root, build_tiny_model(root / "distilroberta-shaped", max_tokens=64)


@pytest.fixture
def public(monkeypatch, served):
    root, folder = served
    monkeypatch.setenv("EXPLORER_PUBLIC", "1")
    monkeypatch.setenv("EXPLORER_MODEL_ROOT", str(root))
    monkeypatch.setenv("EXPLORER_MODEL", str(folder))
    monkeypatch.delenv("EXPLORER_ALLOWED_MODELS", raising=False)
    for name in ("EXPLORER_MAX_JOB_TOKEN_PASSES", "EXPLORER_MAX_PASTED_TOKENS"):
        monkeypatch.delenv(name, raising=False)
    return folder


def test_costs_are_tokens_times_passes_and_public_limits_are_lower(monkeypatch):
    monkeypatch.delenv("EXPLORER_PUBLIC", raising=False)
    monkeypatch.delenv("EXPLORER_MAX_JOB_TOKEN_PASSES", raising=False)
    private_job, private_pasted = max_job_token_passes(), max_pasted_tokens()
    assert attribution_cost(512, "integrated_gradients", 512).token_passes == 512 * 512 * 3
    assert attribution_cost(512, "gradient_x_input", 512).token_passes == 512 * 3
    assert sentences_cost(1_000).token_passes == 2_000 and sentences_cost(1).lane == "batch"
    assert max_attribution_steps(512) == 512  # a private server allows the widget's maximum
    monkeypatch.setenv("EXPLORER_PUBLIC", "1")
    assert max_job_token_passes() == PUBLIC_MAX_JOB < private_job
    assert max_pasted_tokens() == PUBLIC_MAX_PASTED < private_pasted
    steps = max_attribution_steps(512)
    assert attribution_cost(512, "integrated_gradients", steps).problem() == ""
    refused = attribution_cost(512, "integrated_gradients", steps + 1).problem()
    assert f"at most {PUBLIC_MAX_JOB:,}" in refused
    # The case 1 (500 lines of ~300 words, ~256 000 tokens) is over every limit.
    assert sentences_cost(256_000).problem() != ""
    monkeypatch.setenv("EXPLORER_MAX_JOB_TOKEN_PASSES", "1000")
    assert max_job_token_passes() == 1000 and max_attribution_steps(512) == 1


def test_public_mode_names_models_without_their_folder(public):
    assert shown_model_name(str(public)) == "distilroberta-shaped"
    assert shown_model_name("distilroberta-base") == "distilroberta-base"
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page("pages/models.py")
    at.run()
    assert not at.exception, at.exception
    shown = [str(box.proto.options) + str(box.proto.default) for box in at.selectbox] + \
        [str(element.proto) for element in at.caption] + [text.value for text in at.text_input]
    assert not any(str(public) in text for text in shown), shown
    model_a, model_b = at.selectbox(key="model_a"), at.selectbox(key="model_b")
    assert model_a.value == model_b.value == str(public)  # B: the local model, not a hub id
    assert "distilroberta-shaped" in model_a.options
    sidebar = at.sidebar.selectbox(key="model_name")
    assert sidebar.value == str(public) and str(public) not in sidebar.options
    assert not at.error  # both models loaded


def test_a_refused_model_in_a_link_gets_a_note(public):
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["model_b"] = "/etc"
    at.query_params["model_a"] = "attacker/../../x"
    at.switch_page("pages/models.py")
    at.run()
    notes = [w.value.replace("\\", "") for w in at.warning]  # shown escaped
    assert any("model_b='/etc'" in n and "does not load that model" in n for n in notes), notes
    assert at.selectbox(key="model_b").value == str(public)


def test_pasted_sentences_over_the_limit_are_refused_with_the_limit_stated(public, monkeypatch):
    monkeypatch.setenv("EXPLORER_MAX_PASTED_TOKENS", "40")
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page("pages/models.py")
    at.run()
    at.radio(key="models_sentence_source").set_value("my sentences").run()
    assert "40 tokens" in at.text_area(key="models_own_sentences").help
    at.text_area(key="models_own_sentences").set_value(
        "\n".join(["the cat sat on the mat and looked at the bank"] * 8)).run()
    assert any("this server compares at most 40 tokens" in w.value.replace("\\", "")
               for w in at.warning)
    assert not any(b.label.startswith("Compare A and B") for b in at.button)
    at.text_area(key="models_own_sentences").set_value("the cat sat.").run()
    assert any(b.label.startswith("Compare A and B") for b in at.button)
    assert any("token-passes" in c.value for c in at.caption)  # the cost, stated
