"""Shared links restore the Layers & heads and Corpus search pages too."""

from __future__ import annotations

import pytest

from explorer.corpus import CACHE_ENV_VAR
from explorer.state import ViewState, to_query
from tests.test_compare_page import open_app


def test_layers_url_round_trip(app_env, tiny):
    state = ViewState(page="layers", text="A <mask> sat on the mat.", token=3)
    at = open_app(to_query(state), "pages/layers.py")
    assert not at.exception and not at.warning
    assert at.title[0].value == "Layers & heads"
    assert at.text_area(key="text").value == state.text
    assert at.selectbox(key="token").value == 3
    assert at.query_params["text"] == state.text and at.query_params["token"] == "3"


def test_corpus_url_restores_the_query_text(app_env, tiny, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "cache"))
    state = ViewState(page="corpus", corpus_query="The bank of the river.")
    at = open_app(to_query(state), "pages/corpus.py")
    assert not at.exception and not at.warning
    assert at.title[0].value == "Corpus search"
    assert at.query_params["corpus_query"] == state.corpus_query


@pytest.mark.parametrize("page", ["pages/layers.py", "pages/corpus.py"])
def test_tampered_parameters_fall_back_with_a_note(app_env, page, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "cache"))
    corpus = page == "pages/corpus.py"
    at = open_app({"corpus_token" if corpus else "token": "-7",
                   "corpus_query" if corpus else "text": "x" * 30_000}, page)
    assert not at.exception
    notes = " ".join(str(w.value) for w in at.warning)
    assert "Ignored the link" in notes
    if page == "pages/layers.py":  # the page selects the mask: the link says so
        assert at.query_params["token"] == str(at.selectbox(key="token").value)
    else:  # the bad values are gone (with an index at hand the page may select a word itself)
        assert at.query_params.get("corpus_token") != "-7"
        assert at.query_params.get("corpus_query", "") != "x" * 30_000
