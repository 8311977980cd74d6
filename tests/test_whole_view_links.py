"""Links restore the whole view (issue 14): build a view → its URL → open the URL in a new
session → the page shows the same view and writes the same URL back. Hypothesis draws the views;
AppTest opens them on the tiny model (2 layers, 4 heads)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from streamlit.testing.v1 import AppTest

from explorer.analysis import analyze
from explorer.corpus import CACHE_ENV_VAR
from explorer.graph import COMBINE_MODES, WEIGHTINGS
from explorer.model import ALLOWED_MODELS_ENV_VAR, MODEL_ENV_VAR
from explorer.state import (
    BERTVIZ_OFF,
    BERTVIZ_VIEWS,
    LAYERS_TABS,
    ViewState,
    session_values,
    to_query,
)
from explorer.tiny import build_tiny_model
from tests.conftest import ROOT
from tests.test_share_links import open_link
from tests.test_share_links import warnings as notes
from ui import keys
from ui.graph_state import apply_view_event
from ui.url_state import COMPARE_FIELDS, CORPUS_FIELDS, EXPLORER_FIELDS, LAYERS_FIELDS

APP = str(ROOT / "app.py")
LAYERS, HEADS = 2, 4  # the tiny model's shape
TEXTS = ["The capital of France is <mask>.", "A <mask> sat on the mat.", "Hi <mask>, you!"]
PROPERTY = settings(max_examples=5, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def shown_query(at: AppTest) -> dict[str, str]:
    return {key: str(value) for key, value in at.query_params.items()}


def model_line(at: AppTest) -> str:
    """The sidebar's line about the loaded model."""
    return next(c.value for c in at.sidebar.caption if "layers ×" in c.value)


def graph_view(at: AppTest) -> dict:
    (graph,) = [e for e in at.main.get("bidi_component")
                if e.proto.component_name == "attention_explorer.attention_graph"]
    return json.loads(graph.proto.json)["view"]


def control(at: AppTest, kind: str, key: str) -> object:
    """A control's value: the widget's where its tab is open (drawn), else the session state
    the closed tab keeps for it (only the open tab of the Layers page runs)."""
    drawn = [widget for widget in at.get(kind) if widget.key == key]
    if drawn:
        return drawn[0].value
    return at.session_state[key] if key in at.session_state else None  # noqa: SIM401


def page_only(state: ViewState, fields: tuple[str, ...]) -> dict[str, str]:
    return {key: value for key, value in to_query(state).items() if key in fields}


head_sets = hs.sets(hs.integers(0, HEADS - 1)).map(lambda s: tuple(sorted(s)))
# every head is the page's default selection (None in the state)
heads_or_default = hs.none() | head_sets.filter(lambda h: h != tuple(range(HEADS)))


@PROPERTY
@given(data=hs.data())
def test_an_explorer_link_opens_the_same_view(app_env, tiny, data):
    text = data.draw(hs.sampled_from(TEXTS))
    tokens = analyze(tiny, text).num_tokens
    state = ViewState(
        text=text, top_k=data.draw(hs.integers(1, 50)),
        layer=data.draw(hs.integers(0, LAYERS - 1)),
        head=data.draw(hs.none() | hs.integers(0, HEADS - 1)),
        heads=data.draw(heads_or_default),
        token=data.draw(hs.none() | hs.integers(0, tokens - 1)),
        threshold=data.draw(hs.integers(1, 20).map(lambda steps: round(steps * 0.05, 2))),
        combine=data.draw(hs.sampled_from(COMBINE_MODES)),
        hide_special=data.draw(hs.booleans()),
        bertviz_view=data.draw(hs.sampled_from(["", "head", "model"])),
        graph_weighting=data.draw(hs.sampled_from(WEIGHTINGS)),
        graph_words=data.draw(hs.booleans()),
    )
    query = to_query(state)
    at = open_link(query)
    assert not at.exception, at.exception
    assert not at.warning, notes(at)
    assert at.text_area(key=keys.TEXT).value == text
    assert at.number_input(key=keys.TOP_K).value == state.top_k
    # the attention view is drawn with every control of the link
    assert graph_view(at) == {
        "layer": state.layer,
        "heads": list(range(HEADS)) if state.heads is None else list(state.heads),
        "combine": state.combine, "threshold": state.threshold,
        "hide_special": state.hide_special,
        "head": "mean" if state.head is None else state.head,
        "selected": state.token, "selected_side": "left",
        "weighting": state.graph_weighting, "words": state.graph_words,
    }
    assert at.segmented_control(key=keys.BERTVIZ_VIEW).value == BERTVIZ_VIEWS.get(
        state.bertviz_view, BERTVIZ_OFF)
    # … and the page writes the same link back
    assert shown_query(at) == page_only(state, EXPLORER_FIELDS)


def test_the_graphs_controls_reach_the_link(app_env):
    """What the attention view reports (its view event, as the browser sends it) is in the URL:
    combine and hide-special too."""
    at = open_link({})
    event = {"layer": 1, "heads": [0, 2], "combine": "max", "threshold": 0.35,
             "hide_special": True, "head": 3, "weighting": "value_norm", "words": True,
             "seq": 1}
    values: dict[str, object] = {}
    apply_view_event(values, event, LAYERS, HEADS)  # what the page's callback does
    for key, value in values.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    assert shown_query(at) == {"layer": "2", "heads": "1,3", "combine": "max",
                               "threshold": "0.35", "hide_special": "1", "head": "4",
                               "graph_weighting": "value_norm", "graph_words": "1"}


@PROPERTY
@given(data=hs.data())
def test_a_layers_link_opens_the_same_view(app_env, tiny, data):
    text = data.draw(hs.sampled_from(TEXTS))
    state = ViewState(
        page="layers", text=text,
        token=data.draw(hs.integers(0, 4)),  # within every text, pieces or words
        text_pair=data.draw(hs.sampled_from(["", "The dog ran."])),
        words=data.draw(hs.booleans()),
        layers_tab=data.draw(hs.sampled_from(["", *LAYERS_TABS])),
        layers_statistic=data.draw(hs.sampled_from(["", "to self", "entropy (bits)"])),
        layers_ablated_heads=tuple(sorted(data.draw(hs.sets(
            hs.tuples(hs.integers(0, LAYERS - 1), hs.integers(0, HEADS - 1)), max_size=3)))),
    )
    at = open_link(to_query(state), "pages/layers.py")
    assert not at.exception, at.exception
    assert not at.warning, notes(at)
    shown = session_values(state)
    assert at.text_area(key=keys.TEXT).value == text
    assert at.text_input(key=keys.TEXT_PAIR).value == state.text_pair
    assert at.toggle(key=keys.WORDS).value is state.words
    assert at.selectbox(key=keys.SELECTED_TOKEN).value == state.token
    assert at.session_state[keys.LAYERS_TAB] == (shown[keys.LAYERS_TAB]
                                                 or LAYERS_TABS["lens"])
    statistic = control(at, "selectbox", keys.STATISTIC)
    if state.layers_statistic:
        assert statistic == state.layers_statistic
    assert list(control(at, "multiselect", keys.ABLATED) or []) == list(
        state.layers_ablated_heads)
    expected = page_only(state, LAYERS_FIELDS)
    if not state.layers_statistic and statistic:  # the open tab shows its first statistic
        expected[keys.STATISTIC] = str(statistic)
    expected[keys.LAYERS_TAB] = state.layers_tab or "lens"
    assert shown_query(at) == expected


@PROPERTY
@given(data=hs.data())
def test_a_compare_link_opens_the_same_view(app_env, tiny, data):
    text_a, text_b = data.draw(hs.sampled_from(TEXTS)), data.draw(hs.sampled_from(TEXTS))
    shorter = min(analyze(tiny, text_a).num_tokens, analyze(tiny, text_b).num_tokens)
    state = ViewState(
        page="compare", text_a=text_a, text_b=text_b, top_k=data.draw(hs.integers(1, 50)),
        layer=data.draw(hs.integers(0, LAYERS - 1)),
        head=data.draw(hs.none() | hs.integers(0, HEADS - 1)),
        token=data.draw(hs.none() | hs.integers(0, min(shorter, 5) - 1)),
        words=data.draw(hs.booleans()),
    )
    at = open_link(to_query(state), "pages/compare.py")
    assert not at.exception, at.exception
    assert not at.warning, notes(at)
    assert at.text_area(key=keys.TEXT_A).value == text_a
    assert at.text_area(key=keys.TEXT_B).value == text_b
    assert at.number_input(key=keys.TOP_K).value == state.top_k
    assert at.selectbox(key=keys.LAYER).value == state.layer
    assert at.selectbox(key=keys.HEAD).value == ("mean" if state.head is None else state.head)
    assert at.selectbox(key=keys.SELECTED_TOKEN).value == state.token
    assert at.toggle(key=keys.WORDS).value is state.words
    assert shown_query(at) == page_only(state, COMPARE_FIELDS)


@pytest.fixture(scope="module")
def corpus_cache(tmp_path_factory) -> Iterator[Path]:
    """One disk cache for the module: the bundled corpus is indexed once."""
    folder = tmp_path_factory.mktemp("corpus-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV_VAR, str(folder))
        yield folder


@pytest.fixture()
def indexed(app_env, corpus_cache) -> Path:
    at = open_link({}, "pages/corpus.py")
    if _has_button(at, "corpus_build"):  # the first test here builds the index, once
        at.button(key="corpus_build").click().run()
    assert not at.exception, at.exception
    return corpus_cache


def _has_button(at: AppTest, key: str) -> bool:
    return any(button.key == key for button in at.button)


@PROPERTY
@given(data=hs.data())
def test_a_corpus_link_opens_the_same_view(indexed, tiny, data):
    query_text = data.draw(hs.sampled_from(TEXTS))
    query = analyze(tiny, query_text)
    choices = [i for i, special in enumerate(query.special_mask.tolist()) if not special]
    mode = data.draw(hs.sampled_from(["embedding", "heads"]))
    state = ViewState(
        page="corpus", corpus_query=query_text,
        corpus_token=data.draw(hs.sampled_from(choices)),
        corpus_mode=mode,
        corpus_layer=data.draw(hs.none() | hs.integers(0 if mode == "embedding" else 1,
                                                       LAYERS - 1)),
        corpus_heads=data.draw(hs.none() | head_sets.filter(
            lambda h: h and h != tuple(range(HEADS)))) if mode == "heads" else None,
    )
    at = open_link(to_query(state), "pages/corpus.py")
    assert not at.exception, at.exception
    assert not at.warning, notes(at)
    assert at.text_input(key=keys.CORPUS_QUERY).value == query_text
    assert at.selectbox(key=keys.CORPUS_TOKEN).value == state.corpus_token
    assert at.radio(key=keys.CORPUS_MODE).value == mode
    layer = LAYERS if state.corpus_layer is None else state.corpus_layer
    assert at.selectbox(key=keys.CORPUS_LAYER).value == layer
    if mode == "heads":
        assert at.multiselect(key=keys.CORPUS_HEADS).value == (
            list(range(HEADS)) if state.corpus_heads is None else list(state.corpus_heads))
    assert shown_query(at) == page_only(state, CORPUS_FIELDS)
    # the results are the ones for that token and layer
    where = "embeddings" if layer == 0 else f"layer {layer}"
    assert any(f"at {where}" in h.value for h in at.subheader)


def test_a_corpus_link_beats_the_explorers_text(indexed):
    at = open_link({"text": "The capital of France is <mask>.",
                    "corpus_query": "A <mask> sat on the mat."}, "pages/corpus.py")
    assert not at.exception
    assert at.text_input(key=keys.CORPUS_QUERY).value == "A <mask> sat on the mat."


@pytest.mark.parametrize("token,says", [
    ("0", "Token 0 (<s>) is a special token, which the corpus index does not hold; "
          "searching token 1: A instead."),
    ("40", "Token 40 is past the end of the query (12 tokens, 0 to 11); searching token 1: A "
           "instead."),
])
def test_a_corpus_link_to_a_token_it_cannot_search_says_so(indexed, tiny, token, says):
    query_text = "A <mask> sat on the mat."
    labels = analyze(tiny, query_text).token_texts
    assert (labels[0], labels[1], len(labels)) == ("<s>", "A", 12)  # what the notes name
    at = open_link({"corpus_query": query_text, "corpus_token": token}, "pages/corpus.py")
    assert not at.exception, at.exception
    assert notes(at) == says
    assert at.selectbox(key=keys.CORPUS_TOKEN).value == 1
    assert shown_query(at)["corpus_token"] == "1"


@pytest.fixture(scope="module")
def other_model(tmp_path_factory) -> Path:
    """A second model of another shape: 3 layers, 2 heads."""
    return build_tiny_model(tmp_path_factory.mktemp("other-model"), layers=3, heads=2)


def test_a_link_carries_the_model(app_env, other_model):
    # layer 3 and head 2 exist in the linked model only: they are read with its limits
    query = {"model_name": str(other_model), "layer": "3", "head": "2", "combine": "max"}
    at = open_link(query)
    assert not at.exception, at.exception
    assert not at.warning, notes(at)
    assert "3 layers × 2 heads" in model_line(at)
    assert at.sidebar.text_input(key=keys.MODEL).value == str(other_model)
    assert (graph_view(at)["layer"], graph_view(at)["head"]) == (2, 1)
    assert shown_query(at) == query
    # the default model stays out of the link
    at.sidebar.text_input(key=keys.MODEL).set_value(str(app_env)).run()
    assert "model_name" not in shown_query(at)


def test_a_server_that_refuses_the_linked_model_says_so_and_shows_the_default(
        app_env, other_model, monkeypatch):
    monkeypatch.setenv(ALLOWED_MODELS_ENV_VAR, str(app_env))
    monkeypatch.setenv(MODEL_ENV_VAR, str(app_env))
    name = "[evil](http://127.0.0.1:1/x) **bold**"
    at = open_link({"model_name": name, "layer": "2"})
    assert not at.exception, at.exception
    assert "this server does not load that model" in notes(at)
    assert any("\\[evil\\]" in w.proto.body for w in at.warning)  # the name, as text
    assert "2 layers × 4 heads" in model_line(at)  # the default model
    assert graph_view(at)["layer"] == 1  # the rest of the link still counts
    assert "model_name" not in shown_query(at)
    at = open_link({"model_name": str(other_model)})  # a real folder, not on the list
    assert "this server does not load that model" in notes(at)
    assert "2 layers × 4 heads" in model_line(at)


def test_every_page_has_a_short_copy_link_button(app_env):
    for page in (None, "pages/layers.py", "pages/compare.py", "pages/models.py"):
        at = open_link({}, page)
        assert not at.exception, (page, at.exception)
        buttons = [e for e in at.sidebar.get("bidi_component")
                   if e.proto.component_name == "attention_explorer.copy_link"]
        assert len(buttons) == 1, page
        assert not at.sidebar.code  # no 1 000-character link spread over the sidebar
