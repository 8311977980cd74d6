"""The Models page under AppTest, on a tiny "student" (2 layers) and "teacher" (4 layers) RoBERTa
sharing one tokenizer, and a tiny BERT (another tokenizer). Figures are checked against
independent computations: the analyses' own softmax, scipy's Jensen–Shannon distance and the
debiased linear CKA of pooled tokens gathered one sentence at a time."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from streamlit.testing.v1 import AppTest

from explorer.analysis import analyze
from explorer.corpus import bundled_corpus
from explorer.model import load
from explorer.model_compare import MIN_TEXT_CKA_TOKENS, linear_cka
from explorer.models_state import DEFAULT_SENTENCES
from explorer.state import DEFAULT_TEXT
from explorer.tiny import build_tiny_bert_model, build_tiny_model_sharing_tokenizer
from tests.conftest import ROOT
from tests.tables import assert_token_cell, prediction_tables
from tests.test_compare_page import array

APP = str(ROOT / "app.py")
MODELS = "pages/models.py"
MAP_TITLE = "Head-to-head similarity on this text"


@pytest.fixture(scope="module")
def student_dir(tiny_model_dir, tmp_path_factory):
    return build_tiny_model_sharing_tokenizer(tmp_path_factory.mktemp("student"), tiny_model_dir,
                                              layers=2, initializer_range=0.3, seed=1)


@pytest.fixture(scope="module")
def teacher_dir(tiny_model_dir, tmp_path_factory):
    return build_tiny_model_sharing_tokenizer(tmp_path_factory.mktemp("teacher"), tiny_model_dir,
                                              layers=4, initializer_range=0.3, seed=2)


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    return build_tiny_bert_model(tmp_path_factory.mktemp("bert"))


def open_models(query: dict[str, str]) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in query.items():
        at.query_params[key] = value
    at.switch_page(MODELS)
    return at.run()


def figures(at: AppTest) -> dict[str, dict]:
    result = {}
    for chart in at.get("plotly_chart"):
        figure = json.loads(chart.proto.spec)
        result[figure["layout"]["title"]["text"].replace("<br>", " ")] = figure  # as read
    return result


def figure_starting(at: AppTest, prefix: str) -> dict:
    return next(f for title, f in figures(at).items() if title.startswith(prefix))


@pytest.fixture(scope="module")
def pair_page(app_env_module, student_dir, teacher_dir):
    return open_models({"model_a": str(student_dir), "model_b": str(teacher_dir)})


@pytest.fixture(scope="module")
def app_env_module(tiny_model_dir):
    mp = pytest.MonkeyPatch()
    mp.setenv("EXPLORER_MODEL", str(tiny_model_dir))
    yield tiny_model_dir
    mp.undo()


def test_two_models_side_by_side(pair_page, student_dir, teacher_dir):
    at = pair_page
    assert not at.exception, at.exception
    assert not at.error
    student, teacher = load(str(student_dir)), load(str(teacher_dir))
    a, b = analyze(student, DEFAULT_TEXT), analyze(teacher, DEFAULT_TEXT)
    tables = prediction_tables(at)
    assert len(tables) == 2
    for table, analysis in zip(tables, (a, b)):
        rows = analysis.predictions[0].predictions[:5]
        assert len(table.value) == len(rows)
        for row, token in zip(rows, table.value["token"]):
            assert_token_cell(row, token)  # "�" is shown as [id N]
    changes = next(d.value for d in at.dataframe if "P(B)" in d.value.columns)
    candidates = {p.token_id: p.token_str for side in (a, b)
                  for p in side.predictions[0].predictions[:5]}
    assert len(changes) == len(candidates)  # the union of both top-5s
    for _, row in changes.iterrows():  # each candidate's probability and rank under A and B
        # pieces of one character may decode alike ("�"): tell them apart by P(A)
        token_id = next(i for i, text in candidates.items() if text == row["token"] and abs(
            a.mask_probabilities[0, i] - row["P(A)"]) < 1e-6)
        for column, rank, analysis in (("P(A)", "rank in A", a), ("P(B)", "rank in B", b)):
            probabilities = analysis.mask_probabilities[0]
            assert row[column] == pytest.approx(probabilities[token_id], abs=1e-6)
            assert row[rank] == 1 + int(np.sum(probabilities > probabilities[token_id]))
        assert row["rank change"] == row["rank in B"] - row["rank in A"]
    captions = "\n".join(str(c.value) for c in at.caption)
    assert "MiB in memory" in captions


def test_head_to_head_map_and_layer_cka(pair_page, student_dir, teacher_dir):
    at = pair_page
    student, teacher = load(str(student_dir)), load(str(teacher_dir))
    a, b = analyze(student, DEFAULT_TEXT), analyze(teacher, DEFAULT_TEXT)
    grid = figure_starting(at, MAP_TITLE)["data"][0]
    colours = array(grid["marker"]["color"]).reshape(2 * 4, 4 * 4)  # A heads × B heads
    for a_head, b_head in ((0, 0), (3, 9), (7, 15)):
        rows_a = a.attentions[divmod(a_head, 4)]
        rows_b = b.attentions[divmod(b_head, 4)]
        expected = 1 - np.mean([jensenshannon(p, q, base=2) ** 2 for p, q in zip(rows_a, rows_b)])
        assert colours[a_head, b_head] == pytest.approx(expected, abs=1e-5)
    assert "A L1 H4 × B L3 H2" in array(grid["text"]).tolist()[3 * 16 + 9]
    assert "Layer CKA on this text" not in figures(at)  # 7 tokens: refused, and said why
    captions = "\n".join(str(c.value) for c in at.caption)
    assert f"below {MIN_TEXT_CKA_TOKENS} tokens" in captions
    # the default: pooled over the bundled corpus, on tokens gathered one sentence at a time
    sentences = bundled_corpus().sentences[:DEFAULT_SENTENCES]
    cka = array(figures(at)[f"Layer CKA over {DEFAULT_SENTENCES} corpus sentences"]["data"][0]["z"])
    assert cka.shape == (3, 5)  # embeddings + layers
    states_a, states_b = [], []
    for sentence in sentences:
        one_a, one_b = analyze(student, sentence), analyze(teacher, sentence)
        words = ~one_a.special_mask
        states_a.append(one_a.hidden_states[:, words])
        states_b.append(one_b.hidden_states[:, words])
    pooled_a, pooled_b = np.concatenate(states_a, axis=1), np.concatenate(states_b, axis=1)
    assert f"Rests on {pooled_a.shape[1]:,} non-special tokens" in captions
    for layer_a, layer_b in ((0, 0), (2, 4), (1, 3)):
        assert cka[layer_a, layer_b] == pytest.approx(linear_cka(
            pooled_a[layer_a], pooled_b[layer_b]), abs=1e-5)


def test_choosing_a_head_pair_shows_both_heads(pair_page, student_dir, teacher_dir):
    at = pair_page
    at.selectbox(key="head_a").set_value((1, 2)).run()
    at.selectbox(key="head_b").set_value((3, 0)).run()
    assert not at.exception
    a = analyze(load(str(student_dir)), DEFAULT_TEXT)
    b = analyze(load(str(teacher_dir)), DEFAULT_TEXT)
    charts = figures(at)
    np.testing.assert_allclose(array(charts["Model A: L2 H3"]["data"][0]["z"]), a.attentions[1, 2],
                               atol=1e-6)
    np.testing.assert_allclose(array(charts["Model B: L4 H1"]["data"][0]["z"]), b.attentions[3, 0],
                               atol=1e-6)
    assert at.query_params["head_a"] == "L2H3" and at.query_params["head_b"] == "L4H1"


def test_speed_and_sentences_on_request(pair_page):
    at = pair_page
    assert not any(title.startswith("Layer CKA over 3") for title in figures(at))
    at.button(key="models_measure").click().run()
    values = [m.value for m in at.metric]
    assert len(values) == 3 and values[0].endswith(" ms") and values[2].endswith("×")
    at.number_input(key="sentences").set_value(3).run()
    at.button(key="models_compare_sentences").click().run()
    assert not at.exception
    assert "Layer CKA over 3 sentences" in figures(at)
    pooled = figure_starting(at, "Head-to-head similarity over 3 sentences")
    assert array(pooled["data"][0]["marker"]["color"]).size == 8 * 16
    assert at.query_params["sentences"] == "3"


def test_different_tokenizers_say_what_cannot_be_compared(app_env_module, tiny_model_dir,
                                                          bert_dir):
    at = open_models({"model_a": str(tiny_model_dir), "model_b": str(bert_dir),
                      "text": "the man worked as a <mask> ."})
    assert not at.exception, at.exception
    assert not at.error
    message = "\n".join(str(w.value).replace("\\", "") for w in at.warning)
    assert "different tokenizers" in message and "Not comparable" in message
    assert len(prediction_tables(at)) == 2
    assert not any("P(B)" in d.value.columns for d in at.dataframe)
    titles = figures(at)
    assert not any(t.startswith(("Head-to-head", "Layer CKA")) for t in titles)


def test_bad_links_and_missing_models_get_messages(app_env_module, student_dir):
    at = open_models({"model_a": str(student_dir), "model_b": str(student_dir),
                      "head_a": "L9H9", "head_b": "x"})
    assert not at.exception
    notes = "\n".join(str(w.value).replace("\\", "") for w in at.warning)
    assert "head_b" in notes and "no head L9 H9" in notes
    at = open_models({"model_a": str(student_dir), "model_b": "/no/such/folder"})
    assert not at.exception
    assert at.error  # the loader's own message, and the page stops
    assert not prediction_tables(at)
