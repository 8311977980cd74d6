"""The explorer page's attention view, masking and bertviz views, run headless with AppTest."""

from __future__ import annotations

import json

import numpy as np
import pytest

from components.bertviz_html import REQUIRE_CDN_TAG
from explorer.analysis import analyze
from explorer.attribution import attribute, value_vector_norms
from explorer.graph import (
    WordMap,
    file_id,
    graph_file,
    pack_attention,
    read_graph_file,
)
from explorer.model import load
from explorer.word_level import words_of
from tests.tables import prediction_tables
from tests.test_app_pages import graph_element, messages, run_app
from ui import keys

TEXT = "The capital of France is <mask>."


def graph_data(at) -> dict:
    return json.loads(graph_element(at).proto.json)


def expected_file(app_env, analysis) -> bytes:
    """The file the view should get, built here from the analysis (the same bytes give the
    same ``file_id``, which is what the browser's copy is named by)."""
    from explorer.token_predictions import top_predictions_per_token

    loaded = load(str(app_env))
    tooltips = top_predictions_per_token(loaded, analysis, 5)
    norms = value_vector_norms(loaded, analysis.hidden_states)
    words = words_of(loaded.tokenizer, analysis)
    return graph_file(analysis.attentions, analysis.labels, analysis.special_mask,
                      analysis.mask_positions, tooltips, special_label="<s>, </s>",
                      value_norms=norms,
                      words=WordMap(words.word_of_token, words.labels, words.special))


@pytest.fixture()
def expected(app_env):
    return analyze(load(str(app_env)), TEXT)


def test_view_gets_the_whole_analysis_once_as_a_small_file(app_env, expected):
    at = run_app()
    assert not at.exception
    data = graph_data(at)
    assert set(data) == {"file_url", "file_id", "view", "script_runs", "ack", "attribution"}
    assert data["view"] == {"layer": 0, "heads": list(range(expected.num_heads)),
                            "combine": "mean", "threshold": 0.7, "hide_special": False,
                            "head": "mean", "selected": None, "selected_side": "left",
                            "weighting": "weights", "words": False}
    assert data["attribution"] is None  # nothing computed: nothing shown, nothing computed
    blob = expected_file(app_env, expected)
    assert data["file_id"] == file_id(blob) and "/media/" in data["file_url"]
    header, pack = read_graph_file(blob)
    assert [t["t"] for t in header["tokens"]] == list(expected.labels)
    assert header["special_label"] == "<s>, </s>"  # "Hide <s>, </s>": RoBERTa's own names
    reference = pack_attention(expected.attentions)  # every layer and head, pruned rows
    np.testing.assert_array_equal(pack.keys, reference.keys)
    np.testing.assert_array_equal(pack.counts, reference.counts)
    # tooltips: what the model predicts at each position; at the mask, the table's top rows
    mask = expected.predictions[0]
    tooltip = header["tokens"][mask.position]["p"]
    assert [text for text, _ in tooltip] == [p.token_str for p in mask.predictions[:5]]
    assert len(data["file_url"]) + len(json.dumps(data["view"])) < 400  # every rerun: tiny


def test_a_rerun_without_a_new_text_sends_the_same_file(app_env):
    at = run_app()
    first = graph_data(at)
    at.number_input(key=keys.TOP_K).set_value(3).run()
    second = graph_data(at)
    assert second["file_id"] == first["file_id"] and second["file_url"] == first["file_url"]
    assert second["script_runs"] == first["script_runs"] + 1
    at.text_area(key=keys.TEXT).set_value("A cat sat on the <mask>.").run()
    assert graph_data(at)["file_id"] != first["file_id"]


def test_view_state_from_the_session_reaches_the_component_and_the_url(app_env):
    at = run_app(**{keys.LAYER: 1, keys.HEADS: [3, 1], keys.COMBINE: "max",
                    keys.THRESHOLD: 0.4, keys.HIDE_SPECIAL: True, keys.HEAD: 2,
                    keys.SELECTED_TOKEN: 2, keys.GRAPH_WEIGHTING: "value_norm",
                    keys.GRAPH_WORDS: True})
    assert not at.exception
    view = graph_data(at)["view"]
    assert view == {"layer": 1, "heads": [1, 3], "combine": "max", "threshold": 0.4,
                    "hide_special": True, "head": 2, "selected": 2, "selected_side": "left",
                    "weighting": "value_norm", "words": True}
    params = {key: str(value) for key, value in at.query_params.items()}
    # the URL counts layers and heads as the view shows them (from 1); tokens as the picker (0)
    assert params["layer"] == "2" and params["heads"] == "2,4" and params["token"] == "2"
    assert params["threshold"] == "0.4" and params["head"] == "3"


def test_selected_token_is_shown_and_can_be_masked(app_env, expected):
    at = run_app(**{keys.SELECTED_TOKEN: 2})
    assert not at.exception
    assert "Selected token **2**" in "".join(m.value for m in at.markdown)
    at.button(key="mask_selected").click().run()
    assert not at.exception
    assert at.text_area(key=keys.TEXT).value == "The <mask> of France is <mask>."
    assert len(prediction_tables(at)) == 2
    at.button(key="mask_selected").click().run()  # token 2 is now a mask: unmask it
    assert at.text_area(key=keys.TEXT).value == TEXT
    assert len(prediction_tables(at)) == 1


def test_no_selection_keeps_the_line_and_a_disabled_button(app_env):
    at = run_app()
    assert "No token selected" in "".join(m.value for m in at.markdown)
    assert at.button(key="mask_selected").disabled


def test_refused_mask_shows_a_message(app_env):
    at = run_app(**{keys.SELECTED_TOKEN: 0})  # <s>
    at.button(key="mask_selected").click().run()
    assert not at.exception
    assert "special token" in messages(at)
    assert at.text_area(key=keys.TEXT).value == TEXT


@pytest.mark.parametrize("state", [
    {keys.LAYER: 9, keys.HEADS: [99, 1], keys.SELECTED_TOKEN: 999, keys.THRESHOLD: 5.0},
    {keys.HEADS: "all", keys.SELECTED_TOKEN: "3", keys.COMBINE: "sum", keys.HIDE_SPECIAL: 2,
     keys.HEAD: 7, keys.GRAPH_WEIGHTING: "norms", keys.GRAPH_WORDS: "yes"},
])
def test_bad_state_values_are_replaced(app_env, state):
    at = run_app(**state)
    assert not at.exception
    view = graph_data(at)["view"]
    assert 0 <= view["layer"] < 2 and view["selected"] is None
    assert set(view["heads"]) <= {0, 1, 2, 3} and view["combine"] in ("mean", "max")
    assert 0.05 <= view["threshold"] <= 1 and view["head"] in ("mean", 0, 1, 2, 3)
    assert view["weighting"] in ("weights", "value_norm") and isinstance(view["words"], bool)


def test_view_events_keep_only_valid_values():
    from ui.graph_state import apply_view_event

    state = {keys.LAYER: 0, keys.COMBINE: "mean", keys.HIDE_SPECIAL: False, keys.HEAD: 1}
    # what the component could send, good and bad values mixed
    apply_view_event(state, {"layer": 1, "heads": [3, 0, 17, "x", True], "combine": "sum",
                             "threshold": 0.3, "hide_special": "yes", "head": 9,
                             "weighting": "norm", "words": 1, "seq": 4},
                     num_layers=2, num_heads=4)
    assert state == {keys.LAYER: 1, keys.HEADS: [0, 3], keys.COMBINE: "mean",
                     keys.THRESHOLD: 0.3, keys.HIDE_SPECIAL: False, keys.HEAD: 1,
                     keys.GRAPH_ACK: 4}
    apply_view_event(state, {"weighting": "value_norm", "words": True, "seq": 5}, 2, 4)
    assert state[keys.GRAPH_WEIGHTING] == "value_norm" and state[keys.GRAPH_WORDS] is True
    apply_view_event(state, {"layer": 5, "threshold": 0.01, "head": "mean", "seq": 2}, 2, 4)
    assert state[keys.LAYER] == 1 and state[keys.THRESHOLD] == 0.3
    assert state[keys.HEAD] == "mean" and state[keys.GRAPH_ACK] == 5  # acks never go back
    apply_view_event(state, "not a dict", 2, 4)
    assert state[keys.LAYER] == 1


def test_bertviz_views_are_embedded_offline(app_env):
    at = run_app()
    assert not at.get("iframe")  # off by default: nothing heavy is sent
    for view in ("head view", "model view", "neuron view"):
        at.button_group(key=keys.BERTVIZ_VIEW).set_value(view).run()
        assert not at.exception, view
        (frame,) = at.get("iframe")
        page = frame.proto.srcdoc
        assert REQUIRE_CDN_TAG not in page and "define('d3'" in page, view


def test_reruns_do_not_call_the_model_again(app_env):
    from tests.forward_counter import count_forwards
    from ui.cache import _load_model

    at = run_app()
    with count_forwards(_load_model(str(app_env))) as counts:
        at.number_input(key=keys.TOP_K).set_value(3).run()
        at.button_group(key=keys.BERTVIZ_VIEW).set_value("head view").run()
        assert not counts.any and not at.exception, counts


def test_graph_tooltips_get_a_computed_attribution_from_the_cache(app_env, expected):
    """After "Compute attribution", the graph's data carries that result (scores per token and
    what was attributed); it equals an attribution computed here directly."""
    at = run_app()
    assert graph_data(at)["attribution"] is None
    at.toggle(key="show_attribution").set_value(True).run()
    at.radio(key="attribution_method").set_value("gradient_x_input").run()
    assert graph_data(at)["attribution"] is None  # not computed yet: never computed for the graph
    at.button(key="attribution_run").click().run()
    assert not at.exception
    tip = graph_data(at)["attribution"]
    mask = expected.predictions[0]
    top = mask.predictions[0]
    reference = attribute(load(str(app_env)), expected.token_ids, mask.position, top.token_id,
                          method="gradient_x_input")
    assert tip["label"].startswith("gradient × input of log p(")
    assert f"at mask 1 (token {mask.position})" in tip["label"]
    assert (top.token_str.strip() or top.token_str) in tip["label"]
    np.testing.assert_allclose(tip["scores"], reference.scores, rtol=1e-3, atol=1e-6)
    # switched off, the result stays cached and the graph still shows it
    at.toggle(key="show_attribution").set_value(False).run()
    assert graph_data(at)["attribution"]["label"] == tip["label"]
    # another text: that result does not belong to it
    at.text_area(key=keys.TEXT).set_value("A cat sat on the <mask>.").run()
    assert graph_data(at)["attribution"] is None


def test_graph_never_computes_an_attribution(app_env, monkeypatch):
    import explorer.attribution
    import ui.attribution_view

    def refuse(*_args, **_kwargs):
        raise AssertionError("the graph computed an attribution")

    for module in (explorer.attribution, ui.attribution_view):
        monkeypatch.setattr(module, "attribute", refuse)
    # the last shown result points at a key the cache does not hold (evicted, or never there)
    key = ("attribution", "not-held", TEXT, 6, 1, None, "gradient_x_input", None, None)
    at = run_app(**{keys.SHOWN_ATTRIBUTION: {"key": key, "label": "x"}})
    assert not at.exception
    assert graph_data(at)["attribution"] is None
