"""Compare page and shareable URLs, run headless with AppTest against the tiny model."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer.analysis import analyze
from explorer.compare import head_summary_difference, prediction_changes, same_length
from explorer.model import load
from explorer.state import DEFAULT_TEXT_A, DEFAULT_TEXT_B, Limits, ViewState, to_query
from tests.conftest import ROOT
from tests.tables import assert_token_cell, prediction_tables

APP = str(ROOT / "app.py")
COMPARE = "pages/compare.py"


def open_app(query: dict[str, str] | None = None, page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    if page:
        at.switch_page(page)
    return at.run()


def figures(at: AppTest) -> dict[str, dict]:
    """Plotly figures by title."""
    result = {}
    for chart in at.get("plotly_chart"):
        figure = json.loads(chart.proto.spec)
        result[figure["layout"]["title"]["text"].replace("<br>", " ")] = figure  # as read
    return result


def array(value: object) -> np.ndarray:
    """A plotly JSON array: a plain list, or a typed array ``{dtype, bdata, shape}``."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = value.get("shape")
        if isinstance(shape, str):
            shape = [int(n) for n in shape.split(",")]
        return flat.reshape(shape) if shape else flat
    return np.asarray(value)


def warnings(at: AppTest) -> str:
    return "\n".join(str(w.value).replace("\\", "") for w in at.warning)


def _equal_length_texts(tiny) -> tuple[str, str]:
    a = "a b c <mask>."
    for word in ("d", "e", "f", "g", "x"):
        b = f"a b {word} <mask>."
        if same_length(analyze(tiny, a), analyze(tiny, b)):
            return a, b
    pytest.fail("no equal-length pair found")


def test_compare_page_defaults_show_both_tables_and_changes(app_env):
    at = open_app(page=COMPARE)
    assert not at.exception, at.exception
    loaded = load(str(app_env))
    a, b = analyze(loaded, DEFAULT_TEXT_A, top_k=5), analyze(loaded, DEFAULT_TEXT_B, top_k=5)
    assert at.text_area(key="text_a").value == DEFAULT_TEXT_A
    assert at.text_area(key="text_b").value == DEFAULT_TEXT_B
    assert len(prediction_tables(at)) == 2
    for table, analysis in zip(prediction_tables(at), (a, b)):
        for row, token in zip(analysis.predictions[0].predictions, table.value["token"]):
            assert_token_cell(row, token)
    changes = prediction_changes(a, b, 0, top_k=5)
    change_table = next(d.value for d in at.dataframe if "P(A)" in d.value.columns)
    for change, token in zip(changes, change_table["token"]):
        assert_token_cell(change, token)
    np.testing.assert_allclose(change_table["P(A)"], [c.probability_a for c in changes])
    np.testing.assert_allclose(change_table["P(B)"], [c.probability_b for c in changes])
    charts = figures(at)
    bars = charts["Mask 1: probability under A and under B"]["data"]
    np.testing.assert_allclose(array(bars[1]["y"]), [c.probability_b for c in changes])
    summary = head_summary_difference(a, b)
    np.testing.assert_allclose(array(charts["Attention entropy (bits), B − A"]["data"][0]["z"]),
                               summary.entropy_difference)
    np.testing.assert_allclose(
        array(charts["Attention share on special tokens, B − A"]["data"][0]["z"]),
        summary.special_difference)
    assert len(at.get("download_button")) == 7  # changes CSV + (CSV, JSON, NPZ) × 2


def test_equal_lengths_show_the_difference_heatmap(app_env, tiny):
    text_a, text_b = _equal_length_texts(tiny)
    # the link numbers layers and heads as the page does: layer=2, head=3
    at = open_app({"text_a": text_a, "text_b": text_b, "layer": "2", "head": "3"}, COMPARE)
    assert not at.exception
    a, b = analyze(tiny, text_a), analyze(tiny, text_b)
    charts = figures(at)
    difference = charts["B − A: layer 2, head 3"]["data"][0]["z"]
    np.testing.assert_allclose(array(difference), b.attentions[1, 2] - a.attentions[1, 2],
                               atol=1e-6)
    heatmap_a = charts["A: layer 2, head 3"]["data"][0]["z"]
    np.testing.assert_allclose(array(heatmap_a), a.attentions[1, 2])
    assert "cannot be subtracted" not in "\n".join(str(i.value) for i in at.info)


def test_different_lengths_explain_and_skip_the_difference(app_env):
    at = open_app({"text_a": "Hi <mask>.", "text_b": "A far longer sentence, with a <mask>."},
                  COMPARE)
    assert not at.exception
    assert "cannot be subtracted" in "\n".join(str(i.value) for i in at.info)
    assert not any(title.startswith("B − A:") for title in figures(at))
    assert "Attention entropy (bits), B − A" in figures(at)


def test_synced_controls_drive_both_sides(app_env):
    at = open_app(page=COMPARE)
    at.selectbox(key="layer").set_value(1)
    at.selectbox(key="head").set_value(3)
    at.selectbox(key="token").set_value(2)
    at.run()
    assert not at.exception
    titles = set(figures(at))
    assert {"A: layer 2, head 4", "B: layer 2, head 4"} <= titles
    assert sum(title.endswith("looks") for title in titles) == 2
    assert at.query_params["layer"] == "2" and at.query_params["head"] == "4"  # as shown
    assert at.query_params["token"] == "2"


def test_preset_fills_both_inputs_and_the_url(app_env):
    at = open_app(page=COMPARE)
    at.selectbox(key="compare_preset").set_value("he / she is a").run()
    assert not at.exception
    assert at.text_area(key="text_a").value == "He is a <mask>."
    assert at.text_area(key="text_b").value == "She is a <mask>."
    assert at.query_params["text_a"] == "He is a <mask>."


def test_one_bad_input_is_reported_and_the_page_survives(app_env):
    at = open_app({"text_b": "   "}, COMPARE)
    assert not at.exception
    assert "Input B: The text is empty" in warnings(at)
    at.text_area(key="text_b").set_value("She is a <mask>.").run()
    assert not at.exception and len(prediction_tables(at)) == 2


def test_compare_url_round_trip(app_env, tiny):
    state = ViewState(page="compare", text_a="He is a <mask>.", text_b="She is a <mask>.",
                      top_k=7, layer=1, head=0, token=1)
    query = to_query(state)
    at = open_app(query, COMPARE)
    assert not at.exception and not at.warning
    assert at.text_area(key="text_a").value == state.text_a
    assert at.text_area(key="text_b").value == state.text_b
    assert at.number_input(key="top_k").value == 7
    assert at.selectbox(key="layer").value == 1
    assert at.selectbox(key="head").value == 0
    assert at.selectbox(key="token").value == 1
    assert all(len(t.value) == 7 for t in prediction_tables(at))
    assert {"A: layer 2, head 1", "B: layer 2, head 1"} <= set(figures(at))
    # the app writes the same state back, and the share link carries it
    assert at.query_params == query
    (button,) = at.sidebar.get("bidi_component")  # "Copy link" copies the page's address
    assert button.proto.component_name == "attention_explorer.copy_link"


def test_explorer_url_round_trip(app_env, tiny):
    state = ViewState(text="The <mask> sat on the <mask>.", top_k=3, layer=1, head=2)
    at = open_app(to_query(state))
    assert not at.exception and not at.warning
    assert at.text_area(key="text").value == state.text
    assert len(prediction_tables(at)) == 2 and all(len(t.value) == 3 for t in prediction_tables(at))
    assert (at.session_state["layer"], at.session_state["head"]) == (1, 2)  # layer 2, head 3
    assert len(at.get("download_button")) == 3  # top-k CSV, JSON, NPZ
    assert at.query_params == to_query(state)
    # changing a widget updates the URL; going back to the default removes the parameter
    at.session_state["head"] = "mean"  # what the attention view sends for "mean of all heads"
    at.run()
    assert "head" not in at.query_params and at.query_params["layer"] == "2"


@pytest.mark.parametrize("page", [None, COMPARE])
def test_bad_url_parameters_fall_back_with_a_note(app_env, page):
    query = {"layer": "99", "head": "-1", "top_k": "1e9", "token": "abc", "threshold": "nan",
             "text": "x" * 30_000, "text_a": "y" * 30_000, "junk": "1"}
    at = open_app(query, page)
    assert not at.exception
    shown = warnings(at)
    assert "Ignored the link's layer='99'" in shown
    assert "Ignored the link's top_k='1e9'" in shown
    assert "Ignored the link's head='-1'" in shown
    assert "junk" not in shown
    assert at.session_state["layer"] == 0  # the attention view shows its first layer
    assert at.number_input(key="top_k").value == 5
    assert "layer" not in at.query_params and "junk" not in at.query_params
    if page == COMPARE:
        assert "text_a" in shown and at.text_area(key="text_a").value == DEFAULT_TEXT_A
    else:
        assert "threshold" in shown and at.text_area(key="text").value != "x" * 30_000


def test_token_past_the_shorter_input_is_dropped_with_a_note(app_env, tiny):
    limits = Limits(tiny.info.num_layers, tiny.info.num_heads, tiny.info.max_tokens)
    assert limits.max_tokens > 40  # a valid token index, but past both inputs' ends
    at = open_app({"text_a": "Hi <mask>.", "token": "40"}, COMPARE)
    assert not at.exception
    assert "past the end of the shorter input" in warnings(at)
    assert at.selectbox(key="token").value is None
    assert "token" not in at.query_params


def test_markdown_in_a_bad_parameter_is_shown_as_text(app_env):
    at = open_app({"layer": "[click](javascript:alert(1)) **x**"})
    assert not at.exception
    body = str(at.warning[0].value)
    assert "\\[click\\]\\(javascript" in body and "\\*\\*x" in body
