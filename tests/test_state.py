"""URL ⇄ view state: validation, defaults, notes, and round trips (pure, with hypothesis)."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from explorer.state import (
    DEFAULT_STATE,
    QUERY_KEYS,
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
from ui import keys

LIMITS = Limits(num_layers=6, num_heads=12, max_tokens=512, max_top_k=50, max_text_chars=2000)


def test_query_keys_are_the_shared_session_keys():
    shared = {keys.TEXT, keys.TOP_K, keys.LAYER, keys.HEAD, keys.HEADS, keys.SELECTED_TOKEN,
              keys.THRESHOLD, keys.TEXT_A, keys.TEXT_B, keys.WORDS, keys.TEXT_PAIR,
              keys.LAYERS_TAB, keys.STATISTIC, keys.ABLATED}
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


def _is_valid(state: ViewState) -> bool:
    return (1 <= state.top_k <= LIMITS.max_top_k
            and 0 <= state.layer < LIMITS.num_layers
            and (state.head is None or 0 <= state.head < LIMITS.num_heads)
            and all(0 <= h < LIMITS.num_heads for h in state.heads)
            and list(state.heads) == sorted(set(state.heads))
            and (state.token is None or 0 <= state.token < LIMITS.max_tokens)
            and _on_the_threshold_grid(state.threshold)
            and all(len(getattr(state, k)) <= LIMITS.max_text_chars
                    for k in ("text", "text_a", "text_b")))


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
    heads=st.sets(st.integers(0, LIMITS.num_heads - 1)).map(lambda s: tuple(sorted(s))).filter(
        lambda heads: heads != tuple(range(LIMITS.num_heads))),
    token=st.none() | st.integers(0, LIMITS.max_tokens - 1),
    threshold=st.integers(1, 20).map(lambda steps: round(steps * 0.05, 2)),
)


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
    assert state.heads == () and notes == [] and to_query(state) == {"layer": "2"}
