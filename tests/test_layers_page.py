"""The "Layers & heads" page under AppTest, against the tiny model.

AppTest runs a switched-to file under ``pages/`` on its own, without ``app.py``; sharing the
text between pages through ``app.py`` is checked in a real browser (test_layers_browser.py).
"""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from explorer.ablation import ablated_predictions
from explorer.analysis import analyze, token_label
from explorer.lens import logit_lens
from explorer.model import load
from explorer.state import LAYERS_TABS
from tests.conftest import ROOT
from tests.tables import prediction_tables
from tests.test_app_pages import graph_element
from ui import keys

APP = str(ROOT / "app.py")
PAGE = "pages/layers.py"


def run_layers(**session: object) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in session.items():
        at.session_state[key] = value
    at.switch_page(PAGE)
    return at.run()


def open_tab(at: AppTest, tab: str) -> AppTest:
    """Open one of the page's tabs (``LAYERS_TABS`` key: lens, hidden, attention, ablation,
    attribution) as a click would: only the open tab runs."""
    at.session_state[keys.LAYERS_TAB] = LAYERS_TABS[tab]
    return at.run()


def titles(at: AppTest) -> list[str]:
    return [json.loads(c.proto.spec)["layout"]["title"]["text"].replace("<br>", " ")
            for c in at.get("plotly_chart")]  # as read: a wrapped title's lines joined


def messages(at: AppTest) -> str:
    return "\n".join(str(e.value) for e in (*at.error, *at.warning, *at.info))


def test_page_shows_every_section_for_the_default_text(app_env):
    at = run_layers()
    assert not at.exception, at.exception
    assert at.title[0].value == "Layers & heads"
    text = at.text_area(key="text").value
    loaded = load(str(app_env))
    analysis = analyze(loaded, text, top_k=5)
    mask = analysis.predictions[0]
    assert at.selectbox(key="token").value == mask.position  # default: the first mask
    lens_table = at.dataframe[0].value
    assert lens_table["layer"].tolist() == ["emb", "L1", "L2"]
    last_row = lens_table.iloc[-1]
    for rank, prediction in enumerate(mask.predictions, start=1):
        shown = (token_label(prediction.token_str) if "\ufffd" not in prediction.token_str
                 else f"[id {prediction.token_id}]")  # a piece of a multi-byte character
        assert last_row[f"#{rank}"].startswith(shown + " (")
    for tab, sections in (("lens", ("Per-layer top predictions", "Rank and probability")),
                          ("hidden", ("consecutive layers", "Token × token cosine", "PCA")),
                          ("attention", ("Rollout of token", "Attention flow of",
                                         "Attention rollout after layer 2", "per head"))):
        shown = titles(open_tab(at, tab))
        assert not at.exception, at.exception
        for expected in sections:
            assert any(expected in title for title in shown), (tab, expected, shown)


def test_selecting_another_token_shows_its_lens(app_env):
    at = run_layers()
    at.selectbox(key="token").set_value(2).run()
    assert not at.exception
    loaded = load(str(app_env))
    analysis = analyze(loaded, at.text_area(key="text").value)
    lens = logit_lens(loaded, analysis, 2, top_k=5)
    table = at.dataframe[0].value
    for layer in range(lens.num_layers):
        expected = [token_label(loaded.tokenizer.decode([token_id]))
                    if "\ufffd" not in loaded.tokenizer.decode([token_id])
                    else f"[id {token_id}]"  # a piece of a multi-byte character
                    for token_id in lens.top_ids[layer].tolist()]
        assert [cell.rsplit(" (", 1)[0] for cell in table.iloc[layer, 1:]] == expected


def test_the_lens_table_shows_an_undecodable_token_as_its_id(app_env):
    """The random byte-level RoBERTa predicts pieces of multi-byte characters, which decode
    alone to U+FFFD: the table names them by vocabulary id, never as '\ufffd'."""
    at = run_layers()
    loaded = load(str(app_env))
    undecodable = 0
    for position in range(len(analyze(loaded, at.text_area(key="text").value).tokens)):
        at.selectbox(key="token").set_value(position).run()
        assert not at.exception
        at.number_input(key="layers_lens_top_k").set_value(20).run()
        table = at.dataframe[0].value
        cells = [cell.rsplit(" (", 1)[0] for cell in table.iloc[:, 1:].values.ravel()]
        assert not any("\ufffd" in cell for cell in cells)
        for cell in cells:
            if cell.startswith("[id "):
                undecodable += 1
                assert "\ufffd" in loaded.tokenizer.decode([int(cell[4:-1])])
    assert undecodable  # the check ran on at least one such token


def test_target_token_rank_and_bad_target(app_env):
    at = run_layers()
    at.text_input(key="layers_target").set_value("the").run()
    assert not at.exception
    assert any("Rank and probability of ' the'" in t for t in titles(at))
    at.text_input(key="layers_target").set_value("xqzjv wibble").run()
    assert not at.exception
    assert "not one token" in messages(at)


def test_ablation_tables_match_the_ablated_model(app_env):
    at = open_tab(run_layers(), "ablation")
    table = prediction_tables(at)[0].value
    assert table["token"].tolist() == table["token (ablated)"].tolist()  # nothing ablated
    heads = [(0, 1), (1, 3)]
    at.multiselect(key="layers_ablated_heads").set_value(heads).run()
    assert not at.exception
    loaded = load(str(app_env))
    analysis = analyze(loaded, at.text_area(key="text").value, top_k=5)
    expected = ablated_predictions(loaded, analysis.token_ids, heads, top_k=5)[0].predictions
    table = prediction_tables(at)[0].value
    assert table["token (ablated)"].tolist() == [p.token_str for p in expected]
    assert table["token"].tolist() == [p.token_str for p in analysis.predictions[0].predictions]
    assert table["score (ablated)"].tolist() == [round(p.score, 4) for p in expected]


def test_open_head_goes_to_the_explorer_with_that_head(app_env):
    at = open_tab(run_layers(), "attention")
    at.selectbox(key="layers_open_layer").set_value(1)
    at.selectbox(key="layers_open_head").set_value(2)
    at.button(key="layers_open_button").click().run()
    assert not at.exception
    assert not at.exception
    # AppTest pins the page chosen with at.switch_page and drops the state st.switch_page
    # carries, so the click's navigation is checked in chromium (tests/test_layers_browser.py);
    # here: the explorer opens the head named by keys.LAYER / keys.HEAD.
    at.session_state["layer"], at.session_state["head"] = 1, 2
    at.switch_page("pages/explorer.py").run()
    assert not at.exception
    assert at.title[0].value != "Layers & heads"
    graph = graph_element(at)  # the attention view opens on that layer and head
    view = json.loads(graph.proto.json)["view"]
    assert (view["layer"], view["head"]) == (1, 2)


@pytest.mark.parametrize("text,expected,tab", [
    ("", "The text is empty", "lens"),
    ("No mask in this sentence.", "add a mask", "ablation"),  # ablation compares predictions
])
def test_bad_input_gets_a_message(app_env, text, expected, tab):
    at = open_tab(run_layers(), tab)
    at.text_area(key="text").set_value(text).run()
    assert not at.exception
    assert expected in messages(at)


def test_long_text_skips_flow_with_a_note(tmp_path, monkeypatch):
    from explorer.model import MODEL_ENV_VAR
    from explorer.tiny import build_tiny_model

    monkeypatch.setenv(MODEL_ENV_VAR, str(build_tiny_model(tmp_path / "long", max_tokens=200)))
    at = open_tab(run_layers(text="The cat sat on the mat. " * 22 + "<mask>"), "attention")
    assert not at.exception
    assert "Attention flow is computed for texts of at most 128 tokens" in messages(at)
    shown = titles(at)
    assert any("Rollout of token" in t for t in shown)
    assert not any("Attention flow of" in t for t in shown)


def test_widget_changes_do_not_call_the_model_again(app_env):
    from tests.forward_counter import count_forwards
    from ui.cache import _load_model

    at = run_layers()
    # a text no other test used: the page's caches are process-wide
    at.text_area(key="text").set_value("Counting forwards, the <mask> sat on a mat.").run()
    loaded = _load_model(str(app_env))
    with count_forwards(loaded) as counts:
        at.selectbox(key="token").set_value(1).run()
        at.number_input(key="layers_lens_top_k").set_value(8).run()
        open_tab(at, "attention").selectbox(key="layers_statistic").set_value("to self").run()
        open_tab(at, "hidden").selectbox(key="layers_cosine_layer").set_value(0).run()
        assert (counts.model, counts.encoder) == (0, 0) and not at.exception, counts
        lens_rows = counts.head_rows  # the lens of token 1: one row per layer, no encoder
        assert lens_rows == loaded.info.num_layers + 1, counts
        open_tab(at, "ablation").multiselect(key="layers_ablated_heads").set_value(
            [(0, 0)]).run()
        # zero- and mean-ablation: one encoder pass each
        assert (counts.model, counts.encoder) == (0, 2), counts
        assert counts.head_rows == lens_rows + 2  # the head at the (one) mask only
        open_tab(at, "lens").selectbox(key="token").set_value(2).run()
        at.selectbox(key="token").set_value(1).run()
        open_tab(at, "ablation")
        assert counts.encoder == 2  # the ablations are cached by (model, text, heads, mode)
        assert counts.head_rows == lens_rows * 2 + 2  # token 1's lens was cached
        # the closed tabs' controls kept their values
        assert at.multiselect(key="layers_ablated_heads").value == [(0, 0)]
        assert open_tab(at, "attention").selectbox(key="layers_statistic").value == "to self"
        assert open_tab(at, "lens").number_input(key="layers_lens_top_k").value == 8
        open_tab(at, "ablation").multiselect(key="layers_ablated_heads").set_value([]).run()
        at.text_area(key="text").set_value("A new <mask> for the counted layers page.").run()
        # a new text is one encoder pass: the page's "no heads off" ablation is the analysis
        assert (counts.model, counts.encoder) == (0, 3) and not at.exception, counts


def test_selection_follows_the_first_mask_when_the_text_changes(app_env):
    at = run_layers()
    at.selectbox(key="token").set_value(1).run()
    at.text_area(key="text").set_value("The dog slept in the garden <mask>.").run()
    analysis = analyze(load(str(app_env)), "The dog slept in the garden <mask>.")
    assert at.selectbox(key="token").value == analysis.mask_positions[0]


# What each tab computes, counted where the page's caches call it.
TAB_WORK = {"lens": {"lens"}, "hidden": {"summaries"}, "attention": {"summaries", "flow"},
            "ablation": {"ablation"}, "attribution": {"value norms"}}


@pytest.mark.parametrize("tab", list(LAYERS_TABS))
def test_only_the_open_tab_is_computed(app_env, monkeypatch, tab):
    """Before, every run computed all five tabs (flow's max-flows and the ablation pass
    included) whichever was open."""
    import ui.attribution_view
    import ui.layers_cache
    from ui.cache import analysis_cache

    calls: dict[str, int] = {}

    def counted(name, module, function):
        real = getattr(module, function)

        def wrapper(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            return real(*args, **kwargs)
        monkeypatch.setattr(module, function, wrapper)

    counted("lens", ui.layers_cache, "logit_lens")
    counted("summaries", ui.layers_cache, "pca_projection")
    counted("flow", ui.layers_cache, "attention_flow_by_layer")
    counted("ablation", ui.layers_cache, "predictions_without")
    counted("value norms", ui.attribution_view, "value_weighted_attention")
    analysis_cache().clear()
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state[keys.LAYERS_TAB] = LAYERS_TABS[tab]
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert set(calls) == TAB_WORK[tab], calls
    assert at.session_state[keys.LAYERS_TAB] == LAYERS_TABS[tab]
