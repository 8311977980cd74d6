"""The Corpus search page opens an index built by the command line (explorer index), run
headless with AppTest against the tiny model."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer.corpus import CACHE_ENV_VAR, IndexSettings, build_index, encode_query, read_corpus
from explorer.corpus import search as exact_search
from explorer.corpus.large import build_corpus_index
from explorer.model import load
from explorer.tiny import build_tiny_model
from tests.test_app_pages import APP, messages
from ui.cache import analysis_cache
from ui.corpus_built import CHOICE_KEY, DEFAULT_INDEX, INDEX_DIR_ENV_VAR, TOGGLE_KEY

PAGE = "pages/corpus.py"
LINES = ("The river bank was muddy after the storm.",
         "She opened an account at the bank on Monday.",
         "A cat sat on the mat while the dog slept in the garden.",
         "Students explore language models in the browser with heads and layers.")


@pytest.fixture()
def built_env(app_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two CLI indices of the tiny model and one of another model in $EXPLORER_INDEX_DIR."""
    loaded = load(str(app_env))
    root = tmp_path / "indexes"
    corpus = read_corpus("\n".join(LINES).encode("utf-8"), name="four <b>lines</b>.txt")
    build_corpus_index(loaded, corpus, root / "four-lines")
    other = load(str(build_tiny_model(tmp_path / "other", seed=3)))
    build_corpus_index(other, corpus, root / "other-model")
    (root / "half.tmp").mkdir()  # a stopped build's leftovers: never offered
    monkeypatch.setenv(INDEX_DIR_ENV_VAR, str(root))
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "cache"))
    analysis_cache.clear()
    return app_env


def open_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    return at.switch_page(PAGE).run()


def test_the_page_searches_an_index_built_by_the_command_line(built_env):
    at = open_page()
    assert not at.exception, at.exception
    toggle = at.toggle(key=TOGGLE_KEY)
    assert "1 for this model" in toggle.label  # the other model's index is not offered
    at = toggle.set_value(True).run()
    assert not at.exception, at.exception
    choice = at.selectbox(key=CHOICE_KEY)
    assert choice.options == ["four-lines: four <b>lines</b>.txt, " + choice.options[0].split(
        ".txt, ", 1)[1]]
    assert "has no index for this model yet" not in messages(at)
    assert any("built with `explorer index`, memory-mapped" in c.value for c in at.caption)
    at.text_input(key="corpus_query").set_value("The bank of the river.").run()
    assert not at.exception, at.exception
    scores = [float(m.value) for m in at.markdown if re.fullmatch(r"-?\d+\.\d{3}", m.value)]
    loaded = load(str(built_env))
    reference = build_index(loaded, read_corpus("\n".join(LINES).encode("utf-8")),
                            IndexSettings(storage="flat"))
    query = encode_query(loaded, "The bank of the river.")
    token = at.selectbox(key="corpus_token").value
    layer = at.selectbox(key="corpus_layer").value
    expected = exact_search(reference, query, token, layer, k=10)
    np.testing.assert_allclose(scores, [round(m.score, 3) for m in expected], atol=2e-3)


def test_without_built_indices_the_page_is_unchanged(app_env, tmp_path, monkeypatch):
    monkeypatch.setenv(INDEX_DIR_ENV_VAR, str(tmp_path / "none"))
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "cache"))
    analysis_cache.clear()
    at = open_page()
    assert not at.exception, at.exception
    assert not [t for t in at.toggle if t.key == TOGGLE_KEY]
    assert "has no index for this model yet" in messages(at)


def test_the_large_english_index_opens_by_default(app_env, tmp_path, monkeypatch):
    """An index named `english` (explorer index data/large/english.txt -o indexes/english) is
    the page's default where it was built; the bundled corpus stays one click away."""
    loaded = load(str(app_env))
    root = tmp_path / "indexes"
    corpus = read_corpus("\n".join(LINES).encode("utf-8"), name="english.txt")
    build_corpus_index(loaded, corpus, root / "a-first")
    build_corpus_index(loaded, corpus, root / DEFAULT_INDEX)
    monkeypatch.setenv(INDEX_DIR_ENV_VAR, str(root))
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "cache"))
    analysis_cache.clear()
    at = open_page()
    assert not at.exception, at.exception
    assert at.toggle(key=TOGGLE_KEY).value is True
    assert at.selectbox(key=CHOICE_KEY).value == DEFAULT_INDEX
    assert any("built with `explorer index`, memory-mapped" in c.value for c in at.caption)
    at = at.toggle(key=TOGGLE_KEY).set_value(False).run()
    assert not at.exception, at.exception
    assert not [s for s in at.selectbox if s.key == CHOICE_KEY]
