"""The explorer page's attention graph, masking and bertviz views, run headless with AppTest."""

from __future__ import annotations

import json

import numpy as np
import pytest

from components.bertviz_html import REQUIRE_CDN_TAG
from explorer.analysis import analyze
from explorer.graph import combine_heads, prune_edges, unpack_edges
from explorer.model import load
from tests.tables import prediction_tables
from tests.test_app_pages import messages, run_app
from ui import keys

TEXT = "The capital of France is <mask>."


def payload(at) -> dict:
    (element,) = at.get("bidi_component")
    assert element.proto.component_name == "attention_explorer.attention_graph"
    return json.loads(element.proto.json)


@pytest.fixture()
def expected(app_env):
    return analyze(load(str(app_env)), TEXT)


def test_graph_gets_the_default_view(app_env, expected):
    at = run_app()
    assert not at.exception
    data = payload(at)
    assert [t["t"] for t in data["tokens"]] == list(expected.labels)
    assert data["layer"] == 0 and data["heads"] == list(range(expected.num_heads))
    assert data["combine"] == "mean" and data["threshold"] == 0.7
    matrix = combine_heads(expected.attentions, 0, range(expected.num_heads), "mean")
    edges = prune_edges(matrix, 0.7)
    assert data["edge_count"] == len(edges)
    query, key, weight = unpack_edges(data["edges"], data["scale"])
    assert query.tolist() == edges.query.tolist() and key.tolist() == edges.key.tolist()
    np.testing.assert_allclose(weight, edges.weight, atol=1e-4)
    # tooltips: what the model predicts at each position; at the mask, the table's top rows
    mask = expected.predictions[0]
    tooltip = next(t["p"] for t in data["tokens"] if t["i"] == mask.position)
    assert [text for text, _ in tooltip] == [p.token_str for p in mask.predictions[:5]]
    assert data["selected"] is None and data["summaries"] == []


def test_controls_change_what_the_graph_receives(app_env, expected):
    at = run_app()
    at.selectbox(key=keys.LAYER).set_value(1)
    at.multiselect(key=keys.HEADS).set_value([1, 3])
    at.radio(key=keys.COMBINE).set_value("sum")
    at.slider(key=keys.THRESHOLD).set_value(0.4)
    at.toggle(key=keys.HIDE_SPECIAL).set_value(True)
    at.run()
    assert not at.exception
    data = payload(at)
    assert data["layer"] == 1 and data["heads"] == [1, 3] and data["combine"] == "sum"
    visible = np.arange(1, expected.num_tokens - 1)
    assert [t["i"] for t in data["tokens"]] == visible.tolist()
    edges = prune_edges(combine_heads(expected.attentions, 1, [1, 3], "sum"), 0.4, visible)
    assert data["edge_count"] == len(edges)
    at.button[1].click().run()  # "No heads"
    assert payload(at)["heads"] == [] and payload(at)["edge_count"] == 0
    at.button[0].click().run()  # "All heads"
    assert payload(at)["heads"] == list(range(expected.num_heads))


def test_selected_token_gets_head_summaries_and_can_be_masked(app_env, expected):
    at = run_app(**{keys.SELECTED_TOKEN: 2})
    assert not at.exception
    data = payload(at)
    assert data["selected"] == 2 and len(data["summaries"]) == expected.num_heads
    first = data["summaries"][0]
    assert first["to"][0][0] == int(np.argmax(expected.attentions[0, 0, 2]))
    assert "Selected token **2**" in "".join(m.value for m in at.markdown)
    at.button(key="mask_selected").click().run()
    assert not at.exception
    assert at.text_area(key=keys.TEXT).value == "The <mask> of France is <mask>."
    assert len(prediction_tables(at)) == 2
    at.button(key="mask_selected").click().run()  # token 2 is now a mask: unmask it
    assert at.text_area(key=keys.TEXT).value == TEXT
    assert len(prediction_tables(at)) == 1


def test_refused_mask_shows_a_message(app_env):
    at = run_app(**{keys.SELECTED_TOKEN: 0})  # <s>
    at.button(key="mask_selected").click().run()
    assert not at.exception
    assert "special token" in messages(at)
    assert at.text_area(key=keys.TEXT).value == TEXT


@pytest.mark.parametrize("state", [
    {keys.LAYER: 9, keys.HEADS: [99, 1], keys.SELECTED_TOKEN: 999, keys.THRESHOLD: 5.0},
    {keys.HEADS: "all", keys.SELECTED_TOKEN: "3", keys.COMBINE: "max", keys.HIDE_SPECIAL: 2},
])
def test_bad_state_values_are_replaced(app_env, state):
    at = run_app(**state)
    assert not at.exception
    data = payload(at)
    assert 0 <= data["layer"] < 2 and data["selected"] is None
    assert set(data["heads"]) <= {0, 1, 2, 3} and data["combine"] in ("mean", "sum")


def test_bertviz_views_are_embedded_offline(app_env):
    at = run_app()
    assert not at.get("iframe")  # off by default: nothing heavy is sent
    for view in ("head view", "model view", "neuron view"):
        at.button_group(key=keys.BERTVIZ_VIEW).set_value(view).run()
        assert not at.exception, view
        (frame,) = at.get("iframe")
        page = frame.proto.srcdoc
        assert REQUIRE_CDN_TAG not in page and "define('d3'" in page, view


def test_graph_widgets_do_not_call_the_model_again(app_env):
    from tests.forward_counter import count_forwards
    from ui.cache import _load_model

    at = run_app()
    with count_forwards(_load_model(str(app_env))) as counts:
        at.multiselect(key=keys.HEADS).set_value([0]).run()
        at.slider(key=keys.THRESHOLD).set_value(0.3).run()
        at.toggle(key=keys.HIDE_SPECIAL).set_value(True).run()
        at.button_group(key=keys.BERTVIZ_VIEW).set_value("head view").run()
        assert not counts.any and not at.exception, counts
