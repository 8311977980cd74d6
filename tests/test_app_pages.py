"""The Streamlit pages, run headless with AppTest against the tiny model."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from explorer.analysis import analyze
from explorer.model import load
from tests.conftest import ROOT, TINY_MAX_TOKENS
from tests.tables import assert_token_cell, prediction_tables

APP = str(ROOT / "app.py")


def run_app(**session: object) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in session.items():
        at.session_state[key] = value
    return at.run()


def messages(at: AppTest) -> str:
    parts = [e.value for e in (*at.error, *at.warning, *at.info)]
    return "\n".join(str(p) for p in parts)


def test_main_page_shows_tables_and_charts(app_env):
    at = run_app()
    assert not at.exception, at.exception
    assert len(prediction_tables(at)) == 1  # the default text has one mask
    table = prediction_tables(at)[0].value
    assert list(table.columns) == ["rank", "token", "score", "sequence"]
    assert len(table) == 5
    expected = analyze(load(str(app_env)), at.text_area(key="text").value, top_k=5)
    # cells are user text, escaped in the HTML and read back as the browser shows them
    rows = expected.predictions[0].predictions
    for row, token, sequence in zip(rows, table["token"], table["sequence"]):
        assert_token_cell(row, token, sequence)
    charts = at.get("plotly_chart")
    assert len(charts) == 2  # hidden-state norms; the attention heatmap is in the component


def test_top_k_and_several_masks(app_env):
    at = run_app()
    at.text_area(key="text").set_value("The <mask> worked as a <mask>.")
    at.number_input(key="top_k").set_value(7)
    at.run()
    assert not at.exception
    assert len(prediction_tables(at)) == 2
    assert all(len(t.value) == 7 for t in prediction_tables(at))


def graph_element(at):
    """The attention view's component element (the sidebar's link button is another one)."""
    (element,) = [e for e in at.get("bidi_component")
                  if e.proto.component_name == "attention_explorer.attention_graph"]
    return element


def test_layer_and_head_selection_rerender_without_error(app_env):
    at = run_app(layer=1, head=3)  # as the Layers page or a link sets them
    assert not at.exception
    import json
    graph = graph_element(at)  # the attention view draws that layer's heatmap
    view = json.loads(graph.proto.json)["view"]
    assert (view["layer"], view["head"]) == (1, 3)


@pytest.mark.parametrize("text,expected", [
    ("", "The text is empty"),
    ("    \n ", "The text is empty"),
    ("A sentence without a mask.", "no prediction is made"),
])
def test_bad_input_gets_a_clear_message(app_env, text, expected):
    at = run_app()
    at.text_area(key="text").set_value(text).run()
    assert not at.exception
    assert expected in messages(at)


def test_too_long_input_is_truncated_with_a_warning(app_env):
    at = run_app()
    at.text_area(key="text").set_value("The cat sat on the mat. " * 30 + "<mask>").run()
    assert not at.exception
    text = messages(at)
    assert f"reads at most {TINY_MAX_TOKENS}" in text and "dropped" in text


def test_html_in_text_is_shown_as_text(app_env):
    at = run_app()
    at.text_area(key="text").set_value("<script>alert(1)</script> <b>bold</b> <mask>").run()
    assert not at.exception
    chips = next(h.proto.body for h in at.get("html") if "token-chips" in h.proto.body)
    assert "<script>" not in chips and "<b>" not in chips
    assert "&lt;" in chips


def test_missing_model_folder_shows_a_message_and_sidebar_still_works(tmp_path, monkeypatch,
                                                                        tiny_model_dir):
    monkeypatch.setenv("EXPLORER_MODEL", str(tmp_path / "no-model-here"))
    at = run_app()
    assert not at.exception
    assert "Could not load the model" in messages(at)
    assert "How to fix it" in messages(at)
    at.sidebar.text_input(key="model_name").set_value(str(tiny_model_dir)).run()
    assert not at.exception
    assert len(prediction_tables(at)) == 1


def test_widget_changes_do_not_call_the_model_again(app_env):
    from tests.forward_counter import count_forwards
    from ui.cache import _load_model

    at = run_app()
    loaded = _load_model(str(app_env))  # the same cached object the app uses
    with count_forwards(loaded) as counts:
        at.session_state["layer"] = 1  # what the attention view's own controls send
        at.session_state["head"] = 2
        at.run()
        at.number_input(key="top_k").set_value(3).run()
        assert not counts.any and not at.exception, counts
        text = "A brand new <mask> text."
        at.text_area(key="text").set_value(text).run()
        tokens = len(loaded.tokenizer(text)["input_ids"])
        # one encoder pass; the LM head once per token (masks for the table, the rest for the
        # tooltips), never the whole model, never a position twice
        assert (counts.model, counts.encoder, counts.head_rows) == (0, 1, tokens), counts
        at.number_input(key="top_k").set_value(5).run()
        at.text_area(key="text").set_value("The capital of France is <mask>.").run()
        assert (counts.model, counts.encoder, counts.head_rows) == (0, 1, tokens), counts
