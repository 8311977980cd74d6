"""Issue 14 on the Layers page under AppTest (tiny RoBERTa): words, not pieces; sentence pairs
typed in one field or the second field; fixed colour scales of the head grids."""

from __future__ import annotations

import json
import math

import numpy as np
from streamlit.testing.v1 import AppTest

from explorer.analysis import analyze
from explorer.model import load
from explorer.pairs import crossing_attention
from explorer.words import merge_attention, words_for
from tests.conftest import ROOT
from tests.test_compare_page import array

APP = str(ROOT / "app.py")
TEXT = "The capital of France is <mask>, unbelievably Paris."


def run_layers(**session: object) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in session.items():
        at.session_state[key] = value
    at.switch_page("pages/layers.py")
    return at.run()


def figures(at: AppTest) -> dict[str, dict]:
    shown = {}
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        shown[spec["layout"].get("title", {}).get("text", "").replace("<br>", " ")] = spec
    return shown


def find(shown: dict[str, dict], part: str) -> dict:
    matches = [spec for title, spec in shown.items() if part in title]
    assert matches, (part, list(shown))
    return matches[0]


def test_words_switch_draws_words_and_rows_sum_to_one(app_env):
    at = run_layers(text=TEXT, words=True, layers_rollout_layer=1,
                    layers_tab="Attention summaries")
    assert not at.exception, at.exception
    loaded = load(str(app_env))
    analysis = analyze(loaded, TEXT)
    words = words_for(loaded.tokenizer, analysis.token_ids, analysis.special_mask, TEXT)
    picker = at.selectbox(key="token")
    assert len(picker.options) == words.num_words < analysis.num_tokens
    assert any("unbelievably" in option for option in picker.options)
    rollout = find(figures(at), "Attention rollout after layer 2")
    matrix = array(rollout["data"][0]["z"])
    assert matrix.shape == (words.num_words, words.num_words)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-4)
    # the rollout of merged attention, written out here: 0.5·mean-over-heads + 0.5·I
    merged = merge_attention(analysis.attentions, words).mean(axis=1)
    eye = np.eye(words.num_words)
    expected = eye
    for layer in range(2):
        expected = (0.5 * merged[layer] + 0.5 * eye) @ expected
    np.testing.assert_allclose(matrix, expected, atol=1e-4)
    assert at.toggle(key="words").value is True


def test_pair_typed_in_one_field_marks_segments_and_crossing(app_env):
    at = run_layers(text="The cat sat. </s></s> The dog ran.", layers_tab="Attention summaries")
    assert not at.exception, at.exception
    shown = figures(at)
    strip = find(shown, "Segments of the pair")
    segments = array(strip["data"][0]["z"])[0].tolist()
    assert set(segments) == {-1, 0, 1}
    loaded = load(str(app_env))
    analysis = analyze(loaded, "The cat sat.", text_pair="The dog ran.")
    assert segments == analysis.segment.tolist()
    crossing = crossing_attention(analysis.attentions, analysis.segment)
    a_to_b = find(shown, "A → B")
    np.testing.assert_allclose(array(a_to_b["data"][0]["z"]), crossing.a_to_b, atol=1e-5)
    assert (a_to_b["data"][0]["zmin"], a_to_b["data"][0]["zmax"]) == (0.0, 1.0)
    assert any(option.endswith("(B)") for option in at.selectbox(key="token").options)


def test_second_field_builds_the_same_pair(app_env):
    at = run_layers(text="The cat sat.", text_pair="The dog ran.")
    assert not at.exception, at.exception
    strip = find(figures(at), "Segments of the pair")
    loaded = load(str(app_env))
    analysis = analyze(loaded, "The cat sat.", text_pair="The dog ran.")
    assert array(strip["data"][0]["z"])[0].tolist() == analysis.segment.tolist()


def test_badly_typed_pair_is_read_as_one_text(app_env):
    at = run_layers(text="a </s> b </s></s> c </s> d")
    assert not at.exception, at.exception
    assert any("separators" in str(w.value) for w in at.warning)
    assert not any("Segments" in title for title in figures(at))


def test_head_grid_uses_fixed_labelled_scales(app_env):
    at = run_layers(text="The capital of France is <mask>.", layers_tab="Attention summaries")
    loaded = load(str(app_env))
    n = analyze(loaded, "The capital of France is <mask>.").num_tokens
    grid = find(figures(at), "per head")
    marker = grid["data"][0]["marker"]
    name = at.selectbox(key="layers_statistic").value
    assert "entropy" in name  # the first statistic
    assert marker["cmin"] == 0.0 and marker["cmax"] == math.log2(n)
    assert f"{math.log2(n):.3g}" in marker["colorbar"]["title"]["text"]
    at.selectbox(key="layers_statistic").select_index(1).run()
    marker = find(figures(at), "per head")["data"][0]["marker"]
    assert (marker["cmin"], marker["cmax"]) == (0.0, 1.0)
    values = array(marker["color"])
    assert values.max() < 1.0 or values.min() > 0.0  # raw values, not rescaled
    assert all(text == f"{v:.3f}" for text, v in zip(find(figures(at), "per head")["data"][0]
                                                      ["text"], values))


def run_compare(**session: object) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in session.items():
        at.session_state[key] = value
    at.switch_page("pages/compare.py")
    return at.run()


def test_compare_words_and_fixed_difference_scales(app_env):
    text_a, text_b = "Unbelievably, the man worked.", "Unbelievably, the woman worked."
    at = run_compare(text_a=text_a, text_b=text_b, words=True)
    assert not at.exception, at.exception
    loaded = load(str(app_env))
    a, b = analyze(loaded, text_a), analyze(loaded, text_b)
    words_a = words_for(loaded.tokenizer, a.token_ids, a.special_mask, text_a)
    shown = figures(at)
    heatmap = find(shown, "A: layer 1")
    assert len(heatmap["layout"]["xaxis"]["ticktext"]) == words_a.num_words < a.num_tokens
    entropy = find(shown, "entropy (bits), B − A")["data"][0]
    limit = math.log2(max(words_a.num_words, 2, len(
        words_for(loaded.tokenizer, b.token_ids, b.special_mask, text_b).labels)))
    assert (entropy["zmin"], entropy["zmax"]) == (-limit, limit)
    special = find(shown, "special tokens, B − A")["data"][0]
    assert (special["zmin"], special["zmax"]) == (-1.0, 1.0)
    # label-sized margins: the longest tick label fits below the plot
    margin = heatmap["layout"]["margin"]
    assert margin["b"] >= 7 * len("Unbelievably") * math.sin(math.radians(45))


def test_guide_page_shows_the_guide(app_env):
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/guide.py")
    at.run()
    assert not at.exception, at.exception
    text = "\n".join(str(m.value) for m in at.markdown)
    for expected in ("How to read the explorer", "rollout", "Attention flow", "logit lens",
                     "ablation", "integrated gradients", "Words, not pieces", "Sentence pairs",
                     "Jensen–Shannon", "Clark, Khandelwal"):
        assert expected.lower() in text.lower(), expected


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as hs  # noqa: E402

from explorer.state import LAYERS_TABS, Limits, ViewState, from_query, to_query  # noqa: E402

LIMITS = Limits(num_layers=6, num_heads=12, max_tokens=512)


@settings(max_examples=200, deadline=None)
@given(
    layer=hs.integers(0, 5), head=hs.none() | hs.integers(0, 11),
    words=hs.booleans(), text_pair=hs.text(max_size=30),
    tab=hs.sampled_from(["", *LAYERS_TABS]), statistic=hs.sampled_from(["", "to self",
                                                                          "entropy (bits)"]),
    ablated=hs.sets(hs.tuples(hs.integers(0, 5), hs.integers(0, 11)), max_size=6),
)
def test_layers_state_survives_the_url(layer, head, words, text_pair, tab, statistic, ablated):
    state = ViewState(page="layers", layer=layer, head=head, words=words, text_pair=text_pair,
                      layers_tab=tab, layers_statistic=statistic,
                      layers_ablated_heads=tuple(sorted(ablated)))
    query = to_query(state)
    assert from_query(query, LIMITS, "layers") == (state, [])
    if "layer" in query:  # numbered as the page shows it
        assert query["layer"] == str(layer + 1)
    for layer_head in query.get("layers_ablated_heads", "").split(","):
        if layer_head:
            assert layer_head.startswith("L") and "H" in layer_head


def test_a_full_layers_link_restores_every_control(app_env):
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page("pages/layers.py")
    for key, value in {"text": "The cat sat.", "text_pair": "The dog ran.", "words": "1",
                       "token": "2", "layers_tab": "ablation", "layers_statistic": "to self",
                       "layers_ablated_heads": "L1H2,L2H4"}.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    assert not at.warning, [w.value for w in at.warning]
    assert at.text_area(key="text").value == "The cat sat."
    assert at.text_input(key="text_pair").value == "The dog ran."
    assert at.toggle(key="words").value is True
    assert at.selectbox(key="token").value == 2
    assert at.session_state["layers_tab"] == "Head ablation"
    # the ablation tab is open (drawn); the closed summaries tab keeps its statistic
    assert at.session_state["layers_statistic"] == "to self"
    assert at.multiselect(key="layers_ablated_heads").value == [(0, 1), (1, 3)]
    assert at.query_params["layers_ablated_heads"] == "L1H2,L2H4"
