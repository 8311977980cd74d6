"""The corpus-search page, run headless with AppTest against the tiny model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from explorer.corpus import (
    CACHE_ENV_VAR,
    IndexSettings,
    build_index,
    bundled_corpus,
    encode_query,
    match_context,
    read_corpus,
    search,
)
from explorer.model import load
from tests.tables import prediction_tables
from tests.test_app_pages import APP, messages
from ui.corpus_cache import index_memory

PAGE = "pages/corpus.py"


@pytest.fixture()
def corpus_env(app_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The app on the tiny model, caching indices in a fresh folder."""
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "cache"))
    index_memory.clear()  # indices held in memory by earlier tests
    return app_env


def open_page(**session: object) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    for key, value in session.items():
        at.session_state[key] = value
    at.run()
    return at.switch_page(PAGE).run()


def contexts(at: AppTest) -> list[str]:
    return [h.proto.body for h in at.get("html") if "corpus-match" in h.proto.body]


def build(at: AppTest) -> AppTest:
    assert "has no index for this model yet" in messages(at)
    return at.button(key="corpus_build").click().run()


def test_build_and_search_the_bundled_corpus(corpus_env, tmp_path):
    at = build(open_page())
    assert not at.exception, at.exception
    loaded = load(str(corpus_env))
    index = build_index(loaded, bundled_corpus(), IndexSettings())
    query = encode_query(loaded, at.text_input(key="corpus_query").value)
    token = at.selectbox(key="corpus_token").value
    layer = at.selectbox(key="corpus_layer").value
    assert layer == loaded.info.num_layers  # last layer by default
    expected = search(index, query, token, layer, k=10)
    shown = contexts(at)
    assert len(shown) == len(expected) == 10
    for match, body in zip(expected, shown):
        assert f">{match.token}</mark>" in body
    scores = [m.value for m in at.markdown if re.fullmatch(r"-?\d\.\d{3}", m.value)]
    assert scores == [f"{m.score:.3f}" for m in expected]
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert sum(figure["data"][0]["y"]) == 10
    assert any(f"{index.num_tokens:,} tokens in" in c.value for c in at.caption)
    # The index went to the disk cache: a fresh session loads it instead of rebuilding.
    assert any((tmp_path / "cache").iterdir())
    index_memory.clear()
    fresh = open_page()
    assert not fresh.exception and "has no index" not in messages(fresh)
    assert any("loaded from the disk cache" in c.value for c in fresh.caption)


def test_head_mode_layers_and_k(corpus_env):
    at = build(open_page())
    at.radio(key="corpus_mode").set_value("heads").run()
    assert not at.exception
    assert at.selectbox(key="corpus_layer").options == ["layer 1", "layer 2"]
    at.multiselect(key="corpus_heads").set_value([1, 2])
    at.selectbox(key="corpus_layer").set_value(1)
    at.number_input(key="corpus_k").set_value(4).run()
    assert not at.exception
    loaded = load(str(corpus_env))
    index = build_index(loaded, bundled_corpus(), IndexSettings())
    query = encode_query(loaded, at.text_input(key="corpus_query").value)
    expected = search(index, query, at.selectbox(key="corpus_token").value, 1, "heads", [1, 2], 4)
    shown = contexts(at)
    assert len(shown) == 4
    for match, body in zip(expected, shown):
        assert f">{match.token}</mark>" in body
    at.multiselect(key="corpus_heads").set_value([]).run()
    assert not at.exception and "Select at least one head" in messages(at)


def test_query_follows_the_explorer_text_and_token(corpus_env):
    text = "The bat flew over the bank."
    at = build(open_page(text=text, token=3))
    assert not at.exception
    assert at.text_input(key="corpus_query").value == text
    assert at.selectbox(key="corpus_token").value == 3
    at.text_input(key="corpus_query").set_value("   ").run()
    assert not at.exception and "Type some text" in messages(at)


def test_open_a_match_in_the_explorer(corpus_env):
    at = build(open_page())
    loaded = load(str(corpus_env))
    index = build_index(loaded, bundled_corpus(), IndexSettings())
    query = encode_query(loaded, at.text_input(key="corpus_query").value)
    match = search(index, query, at.selectbox(key="corpus_token").value,
                   at.selectbox(key="corpus_layer").value, k=3)[2]
    at.button(key="corpus_open_3").click().run()
    assert not at.exception
    assert at.text_area(key="text").value == match.sentence  # now on the explorer page
    assert at.session_state["token"] == match.position
    assert match_context(index, match).token == match.token


def test_upload_a_corpus_and_upload_errors(corpus_env):
    at = open_page()
    at.radio(key="corpus_source").set_value("upload").run()
    assert "Upload a text file" in messages(at)
    uploader = at.get("file_uploader")[0]
    uploader.set_value(("bad.txt", "ok\n\u00e9t\u00e9".encode("latin-1"), "text/plain")).run()
    assert not at.exception and "not UTF-8 text: line 2" in messages(at)
    at.get("file_uploader")[0].set_value(("empty.txt", b"\n \n", "text/plain")).run()
    assert not at.exception and "has no text" in messages(at)
    at.get("file_uploader")[0].set_value(("big.txt", b"word " * 60_000, "text/plain")).run()
    assert not at.exception and "at most 262,144 bytes" in messages(at)
    lines = "The <b>bank</b> was closed.\nWe fished from the bank.\nA bat & a ball.\n"
    at.get("file_uploader")[0].set_value(("mine.txt", lines.encode(), "text/plain")).run()
    at = build(at)
    assert not at.exception
    assert any(c.value.startswith("mine\\.txt: ") for c in at.caption)  # name escaped
    bodies = contexts(at)
    assert bodies and all("<b>" not in body for body in bodies)
    assert any("&lt;" in body or "&amp;" in body for body in bodies)
    expected = read_corpus(lines.encode())
    assert len(expected.sentences) == 3


def test_explorer_text_survives_a_visit_to_the_corpus_page(corpus_env):
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.text_area(key="text").set_value("The bank was closed on <mask>.").run()
    at = build(at.switch_page(PAGE).run())
    assert at.text_input(key="corpus_query").value == "The bank was closed on <mask>."
    at.switch_page("pages/explorer.py").run()
    assert not at.exception
    assert at.text_area(key="text").value == "The bank was closed on <mask>."
    assert len(prediction_tables(at)) == 1
