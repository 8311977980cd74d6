"""URL ⇄ view state: validation, defaults, notes, and round trips (pure, with hypothesis)."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from explorer.graph import COMBINE_MODES
from explorer.model import ALLOWED_MODELS_ENV_VAR, MODEL_ENV_VAR, PUBLIC_ENV_VAR
from explorer.state import (
    BERTVIZ_OFF,
    BERTVIZ_VIEWS,
    CORPUS_MODES,
    DEFAULT_STATE,
    LAYERS_TABS,
    NO_HEADS,
    QUERY_KEYS,
    TEXT_KEYS,
    THRESHOLD_MAX,
    THRESHOLD_MIN,
    THRESHOLD_STEP,
    Limits,
    ViewState,
    from_query,
    from_session,
    parse_query,
    query_string,
    read_query,
    session_values,
    to_query,
    token_past_the_end,
)
from tests.conftest import ROOT
from ui import keys

LIMITS = Limits(num_layers=6, num_heads=12, max_tokens=512, max_top_k=50, max_text_chars=2000)


def test_query_keys_are_the_shared_session_keys():
    shared = {keys.MODEL, keys.TEXT, keys.TOP_K, keys.LAYER, keys.HEAD, keys.HEADS,
              keys.SELECTED_TOKEN, keys.THRESHOLD, keys.COMBINE, keys.HIDE_SPECIAL,
              keys.BERTVIZ_VIEW, keys.TEXT_A, keys.TEXT_B, keys.WORDS, keys.TEXT_PAIR,
              keys.LAYERS_TAB, keys.STATISTIC, keys.ABLATED, keys.CORPUS_QUERY,
              keys.CORPUS_TOKEN, keys.CORPUS_LAYER, keys.CORPUS_MODE, keys.CORPUS_HEADS,
              keys.GRAPH_WEIGHTING, keys.GRAPH_WORDS}
    assert set(QUERY_KEYS) == shared


def test_defaults_give_an_empty_query_and_back():
    assert to_query(DEFAULT_STATE) == {}
    assert from_query({}, LIMITS) == (DEFAULT_STATE, [])


def test_a_full_link_is_read():
    # layers and heads numbered as the pages show them: layer=6 is index 5
    params = {"text": "Hi <mask>!", "top_k": "12", "layer": "6", "head": "12",
              "heads": "4,2,2", "token": "4", "threshold": "0.25", "text_a": "a", "text_b": "b"}
    state, notes = from_query(params, LIMITS, page="compare")
    assert notes == []
    assert state == ViewState(page="compare", text="Hi <mask>!", text_a="a", text_b="b",
                              top_k=12, layer=5, head=11, heads=(1, 3), token=4, threshold=0.25)


def test_lists_take_the_last_value_and_heads_join():
    state, notes = from_query({"layer": ["2", "3"], "heads": ["1", "3,5"]}, LIMITS)
    assert notes == [] and state.layer == 2 and state.heads == (0, 2, 4)


def test_unknown_keys_are_ignored_silently():
    state, notes = from_query({"utm_source": "x", "embed": "true", "page": "zzz"}, LIMITS)
    assert state == DEFAULT_STATE and notes == []


@pytest.mark.parametrize("key,value", [
    ("layer", "7"), ("layer", "0"), ("layer", "-1"), ("layer", "abc"), ("layer", "1.0"),
    ("layer", ""), ("layer", "٣"), ("layer", "1_0"), ("layer", "9" * 40),
    ("top_k", "0"), ("top_k", "51"), ("top_k", "five"),
    ("head", "13"), ("head", "0"), ("head", "Mean"), ("head", "-3"),
    ("heads", "0,12"), ("heads", "a,b"), ("heads", "1," * 500),
    ("token", "512"), ("token", "none"),
    ("threshold", "nan"), ("threshold", "inf"), ("threshold", "1.5"), ("threshold", "-0.1"),
    ("threshold", "0_5"), ("threshold", "1e400"),
    ("text", "x" * 2001), ("text_a", "y" * 5000),
])
def test_a_bad_value_falls_back_to_the_default_with_a_note(key, value):
    state, rejected = parse_query({key: value, "layer" if key != "layer" else "top_k":
                                   "3"}, LIMITS)
    assert getattr(state, key) == getattr(DEFAULT_STATE, key)
    assert list(rejected) == [key]
    assert rejected[key].startswith(f"Ignored the link's {key}=")
    assert len(rejected[key]) < 300  # a huge value is not repeated in full
    other = "layer" if key != "layer" else "top_k"
    # the good parameter still counts (layer=3 is the third layer, index 2)
    assert getattr(state, other) == (2 if other == "layer" else 3)


def test_non_text_values_do_not_crash():
    state, notes = from_query({"layer": 3, "text": None, "heads": [1, 2], "top_k": []}, LIMITS)
    assert state == DEFAULT_STATE and len(notes) == 4


params_strategy = st.dictionaries(
    st.sampled_from([*QUERY_KEYS, "other"]) | st.text(max_size=8),
    st.text(max_size=60) | st.lists(st.text(max_size=20), max_size=3),
    max_size=12,
)


def _on_the_threshold_grid(value: float) -> bool:
    steps = value / THRESHOLD_STEP
    return THRESHOLD_MIN <= value <= THRESHOLD_MAX and abs(steps - round(steps)) < 1e-9


def _valid_heads(heads: tuple[int, ...] | None) -> bool:
    return heads is None or (all(0 <= h < LIMITS.num_heads for h in heads)
                             and list(heads) == sorted(set(heads)))


def _is_valid(state: ViewState) -> bool:
    return (1 <= state.top_k <= LIMITS.max_top_k
            and 0 <= state.layer < LIMITS.num_layers
            and (state.head is None or 0 <= state.head < LIMITS.num_heads)
            and _valid_heads(state.heads) and _valid_heads(state.corpus_heads)
            and (state.token is None or 0 <= state.token < LIMITS.max_tokens)
            and (state.corpus_token is None or 0 <= state.corpus_token < LIMITS.max_tokens)
            and (state.corpus_layer is None or 0 <= state.corpus_layer <= LIMITS.num_layers)
            and _on_the_threshold_grid(state.threshold)
            and state.combine in COMBINE_MODES and state.corpus_mode in CORPUS_MODES
            and state.bertviz_view in ("", *BERTVIZ_VIEWS)
            and state.layers_tab in ("", *LAYERS_TABS)
            and isinstance(state.hide_special, bool) and isinstance(state.words, bool)
            and all(len(getattr(state, k)) <= LIMITS.max_text_chars for k in TEXT_KEYS))


@settings(max_examples=300, deadline=None)
@given(params_strategy)
def test_arbitrary_params_never_raise_and_give_a_valid_state(params):
    state, notes = from_query(params, LIMITS)
    assert _is_valid(state)
    assert len(notes) <= len(QUERY_KEYS)
    # whatever came in, the state written back reads the same
    assert from_query(to_query(state), LIMITS) == (state, [])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_query_strings_never_raise(raw):
    state, _ = from_query(parse_qs(raw, keep_blank_values=True), LIMITS)
    assert _is_valid(state)


# every head is the page's default selection (None); the empty selection is () ("none")
HEAD_SETS = st.sets(st.integers(0, LIMITS.num_heads - 1)).map(lambda s: tuple(sorted(s))).filter(
    lambda heads: heads != tuple(range(LIMITS.num_heads)))

valid_states = st.builds(
    ViewState,
    page=st.sampled_from(["explorer", "compare"]),
    text=st.text(max_size=200),
    text_a=st.text(max_size=200),
    text_b=st.text(max_size=200),
    top_k=st.integers(1, LIMITS.max_top_k),
    layer=st.integers(0, LIMITS.num_layers - 1),
    head=st.none() | st.integers(0, LIMITS.num_heads - 1),
    # every head is the default selection, written as ()
    heads=st.none() | HEAD_SETS,
    token=st.none() | st.integers(0, LIMITS.max_tokens - 1),
    threshold=st.integers(1, 20).map(lambda steps: round(steps * 0.05, 2)),
    combine=st.sampled_from(COMBINE_MODES),
    hide_special=st.booleans(),
    bertviz_view=st.sampled_from(["", *BERTVIZ_VIEWS]),
    words=st.booleans(),
    text_pair=st.text(max_size=60),
    layers_tab=st.sampled_from(["", *LAYERS_TABS]),
    layers_statistic=st.sampled_from(["", "to self", "entropy (bits)", "to <s>"]),
    layers_ablated_heads=st.sets(st.tuples(st.integers(0, LIMITS.num_layers - 1),
                                           st.integers(0, LIMITS.num_heads - 1)),
                                 max_size=8).map(lambda s: tuple(sorted(s))),
    corpus_query=st.text(max_size=100),
    corpus_token=st.none() | st.integers(0, LIMITS.max_tokens - 1),
    corpus_layer=st.none() | st.integers(0, LIMITS.num_layers - 1),  # the last: the default
    corpus_mode=st.sampled_from(CORPUS_MODES),
    corpus_heads=st.none() | HEAD_SETS,
    model_name=st.sampled_from(["", "bert-base-cased", "FacebookAI/xlm-roberta-base",
                                "models/my-model", "./models/a b"]),
)
"""Every field of the view: built → URL → read back must give the same view."""


@settings(max_examples=300, deadline=None)
@given(valid_states)
def test_to_query_then_from_query_is_the_identity_on_valid_states(state):
    query = to_query(state)
    assert all(isinstance(v, str) for v in query.values())
    assert from_query(query, LIMITS, page=state.page) == (state, [])
    # and through a real URL query string
    parsed = parse_qs(query_string(state), keep_blank_values=True)
    assert from_query(parsed, LIMITS, page=state.page) == (state, [])


@settings(max_examples=200, deadline=None)
@given(valid_states)
def test_session_values_round_trip(state):
    values = session_values(state)
    assert values["head"] == ("mean" if state.head is None else state.head)
    assert from_session(values, LIMITS, state.page) == (state, [])


def test_from_session_validates_widget_values():
    state, notes = from_session({"layer": 99, "head": "mean", "token": None, "top_k": True},
                                LIMITS, "explorer")
    assert state.layer == 0 and state.head is None and state.token is None
    assert len(notes) == 1


@pytest.mark.parametrize("raw,shown", [
    ("0.01", 0.05), ("0", 0.05), ("0.0", 0.05), ("0.049", 0.05), ("0.33", 0.35), ("0.999", 1.0),
    ("1e-3", 0.05), (".62", 0.6),
])
def test_a_threshold_off_the_controls_grid_is_moved_onto_it_with_a_note(raw, shown):
    """Before the fix ``?threshold=0.01`` was accepted as 0.01, the page showed 0.7 and the
    link kept 0.01."""
    state, rejected, corrected = read_query({"threshold": raw}, LIMITS)
    assert state.threshold == shown and rejected == {}
    assert corrected["threshold"].startswith(f"Changed the link's threshold='{raw}' to {shown:g}")
    # the link written back is what the page shows, and reads back without a note
    assert to_query(state) == ({} if shown == DEFAULT_STATE.threshold else
                               {"threshold": f"{shown:g}"})
    assert from_query(to_query(state), LIMITS) == (state, [])


@settings(max_examples=300, deadline=None)
@given(st.floats(0.0, 1.0, allow_nan=False))
def test_every_threshold_in_range_gives_one_the_control_shows(value):
    state, notes = from_query({"threshold": repr(value)}, LIMITS)
    assert _on_the_threshold_grid(state.threshold)
    assert abs(state.threshold - value) <= max(THRESHOLD_STEP / 2, THRESHOLD_MIN - value) + 1e-9
    assert (notes == []) == (abs(state.threshold - value) <= 1e-9)
    assert from_query(to_query(state), LIMITS) == (state, [])


def test_a_token_past_the_end_of_the_text_gets_a_note():
    assert token_past_the_end(None, 9) is None
    assert token_past_the_end(8, 9) is None
    note = token_past_the_end(40, 9)
    assert note is not None and "Token 40 is past the end of the text (9 tokens" in note
    assert token_past_the_end(True, 9) is not None
    assert "shorter input" in token_past_the_end(3, 3, "the shorter input")


def test_every_head_selected_is_the_default_and_stays_out_of_the_link():
    values = {"heads": list(range(LIMITS.num_heads)), "layer": 1}
    state, notes = from_session(values, LIMITS, "explorer")
    assert state.heads is None and notes == [] and to_query(state) == {"layer": "2"}


def test_no_head_selected_is_its_own_link():
    """Before, a link of a view with no heads selected restored every head."""
    state, notes = from_session({"heads": [], "corpus_heads": []}, LIMITS, "explorer")
    assert state.heads == () and state.corpus_heads == () and notes == []
    assert to_query(state) == {"heads": NO_HEADS, "corpus_heads": NO_HEADS}
    assert session_values(from_query(to_query(state), LIMITS)[0])["heads"] == []


def test_the_link_counts_as_the_pages_do():
    state = ViewState(layer=2, head=0, heads=(0, 11), token=0, corpus_layer=1,
                      corpus_token=0, corpus_heads=(2,), layers_ablated_heads=((0, 0),))
    query = to_query(state)
    assert (query["layer"], query["head"], query["heads"], query["token"]) == ("3", "1",
                                                                               "1,12", "0")
    # the Corpus page's layer picker: 0 = "embeddings", 1 = "layer 1"; its heads "head 3"
    assert (query["corpus_layer"], query["corpus_token"], query["corpus_heads"]) == ("1", "0",
                                                                                     "3")
    assert query["layers_ablated_heads"] == "L1H1"


def test_the_explorers_controls_are_read_by_their_names():
    state, notes = from_query({"combine": "max", "hide_special": "1", "bertviz_view": "neuron"},
                              LIMITS)
    assert notes == [] and (state.combine, state.hide_special, state.bertviz_view) == (
        "max", True, "neuron")
    values = session_values(state)
    assert values["bertviz_view"] == "neuron view" and values["combine"] == "max"
    assert session_values(DEFAULT_STATE)["bertviz_view"] == BERTVIZ_OFF


def test_the_url_names_of_views_and_tabs_are_the_pages_own():
    from components.bertviz_views import VIEWS
    from ui.graph_state import BERTVIZ_OFF as PAGE_OFF

    assert tuple(BERTVIZ_VIEWS.values()) == VIEWS and BERTVIZ_OFF == PAGE_OFF
    layers_page = (ROOT / "pages" / "layers.py").read_text()
    for label in LAYERS_TABS.values():  # every tab of the page, by its label
        assert f'"{label}"' in layers_page, label


@pytest.mark.parametrize("key,value", [
    ("combine", "sum"), ("hide_special", "yes"), ("bertviz_view", "head view"),
    ("bertviz_view", "<script>"), ("corpus_mode", "Heads"), ("corpus_layer", "7"),
    ("corpus_layer", "-1"), ("corpus_heads", "0"), ("corpus_token", "x"),
    ("corpus_query", "q" * 2001), ("layers_tab", "Attribution"),
    ("model_name", ""), ("model_name", "a\x00b"), ("model_name", "x" * 2000),
])
def test_a_bad_new_field_falls_back_with_a_note(key, value):
    state, rejected = parse_query({key: value}, LIMITS)
    assert getattr(state, key) == getattr(DEFAULT_STATE, key)
    assert list(rejected) == [key] and rejected[key].startswith(f"Ignored the link's {key}=")
    assert len(rejected[key]) < 300


def test_a_model_the_server_refuses_falls_back_to_the_default(monkeypatch):
    monkeypatch.setenv(ALLOWED_MODELS_ENV_VAR, "roberta-base, bert-base-cased")
    monkeypatch.delenv(MODEL_ENV_VAR, raising=False)
    state, rejected = parse_query({"model_name": "attacker/huge-repo"}, LIMITS)
    assert state.model_name == ""
    assert rejected["model_name"] == ("Ignored the link's model_name='attacker/huge-repo': this "
                                      "server does not load that model. Using the default "
                                      "(roberta-base).")
    state, rejected = parse_query({"model_name": "bert-base-cased"}, LIMITS)
    assert state.model_name == "bert-base-cased" and rejected == {}
    state, rejected = parse_query({"model_name": "roberta-base"}, LIMITS)  # the default
    assert state.model_name == "" and rejected == {} and to_query(state) == {}


def test_a_public_server_refuses_a_linked_folder_outside_its_model_root(monkeypatch, tmp_path):
    monkeypatch.setenv(PUBLIC_ENV_VAR, "1")
    monkeypatch.setenv("EXPLORER_MODEL_ROOT", str(tmp_path / "models"))
    (tmp_path / "models" / "mine").mkdir(parents=True)
    _, rejected = parse_query({"model_name": "/etc"}, LIMITS)
    assert "this server does not load that model" in rejected["model_name"]
    _, rejected = parse_query({"model_name": str(tmp_path / "models" / ".." / "x")}, LIMITS)
    assert "model_name" in rejected
    state, rejected = parse_query({"model_name": str(tmp_path / "models" / "mine")}, LIMITS)
    assert rejected == {} and state.model_name == str(tmp_path / "models" / "mine")
