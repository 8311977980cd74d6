"""The corpus-search page, run headless with AppTest against the tiny model."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
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
from ui.cache import analysis_cache
from ui.markdown import WORD_JOINER

PAGE = "pages/corpus.py"
MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def as_html(markdown: str) -> str:
    """What a markdown message becomes in the page (CommonMark, as Streamlit renders it)."""
    return MARKDOWN.render(markdown)


def as_text(markdown: str) -> str:
    """The text a reader sees in a markdown message (the invisible word joiner that breaks
    autolinks, ui.markdown.WORD_JOINER, is not seen)."""
    seen = html.unescape(re.sub(r"<[^>]+>", "", as_html(markdown))).strip()
    return seen.replace(WORD_JOINER, "")


@pytest.fixture()
def corpus_env(app_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The app on the tiny model, caching indices in a fresh folder."""
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "cache"))
    analysis_cache.clear()  # indices held in memory by earlier tests; budget re-read
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
    analysis_cache.clear()
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
    assert any("mine.txt: " in as_text(c.value) for c in at.caption)
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


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.radio(key="corpus_source").set_value("upload").run()
    return at.get("file_uploader")[0].set_value((name, data, "text/plain")).run()


def test_limits_are_stated_and_an_upload_over_the_token_limit_is_refused(corpus_env,
                                                                         monkeypatch):
    monkeypatch.setenv("EXPLORER_CORPUS_MAX_TOKENS", "30")
    monkeypatch.setenv("EXPLORER_CORPUS_CACHE_MB", "64")
    at = open_page()
    stated = " ".join(c.value for c in at.caption)
    assert "256 KB, 5,000 lines and 30 tokens" in stated and "64 MiB of indices" in stated
    at = upload(at, "long.txt", b"We sat on the bank of the river.\n" * 3)  # ~3 x 20 tokens
    assert not at.exception
    assert "tokens for this model; the corpus search indexes at most 30" in messages(at)
    assert not [b for b in at.button if b.key == "corpus_build"]
    at = upload(at, "short.txt", b"The bank.")
    assert "has no index for this model yet" in messages(at)


def test_an_index_larger_than_the_memory_budget_is_refused(corpus_env, monkeypatch):
    monkeypatch.setenv("EXPLORER_ANALYSIS_CACHE_MB", "1")
    analysis_cache.clear()  # the budget is read when the cache is made
    at = open_page()
    assert not at.exception
    assert "1 MiB memory budget" in " ".join(c.value for c in at.caption)
    assert "would take" in messages(at) and "8-bit storage" in messages(at)
    assert not [b for b in at.button if b.key == "corpus_build"]
    analysis_cache.clear()


HOSTILE_NAME = "[x](http://127.0.0.1:1/a).txt"
HOSTILE_LINE = "**bold** ![i](http://127.0.0.1:1/p) by the bank"


def test_file_names_and_sentences_are_shown_as_literal_text(corpus_env):
    at = build(upload(open_page(), HOSTILE_NAME, (HOSTILE_LINE + "\nThe bank.\n").encode()))
    assert not at.exception
    at.text_input(key="corpus_query").set_value("**bank** [MASK] ![i](x)").run()
    assert not at.exception
    markdown = [*(c.value for c in at.caption), *(e.value for e in at.info),
                *(e.value for e in at.warning), *(e.value for e in at.error),
                *(m.value for m in at.markdown), *(s.value for s in at.subheader)]
    for source in markdown:  # nothing a visitor typed becomes a link, an image or emphasis
        rendered = as_html(source)
        assert "<a " not in rendered and "<img" not in rendered
        assert "<strong>bold" not in rendered and "<strong>bank" not in rendered
    shown = [as_text(source) for source in markdown]
    assert any(text.startswith(HOSTILE_NAME + ": ") for text in shown)
    query = encode_query(load(str(corpus_env)), "**bank** [MASK] ![i](x)")
    label = query.labels[at.selectbox(key="corpus_token").value]
    assert set(label) & set("*[]!()")  # a token that markdown would eat
    heading = as_text(at.subheader[0].value)
    assert heading.startswith(f"Nearest to “{label}” at ")
    assert "Read [MASK] as this model's mask token <mask>." in shown  # the query's notes
    bodies = [h.proto.body for h in at.get("html")]
    matches = [b for b in bodies if "corpus-match" in b]
    assert matches
    texts = [html.unescape(re.sub(r"<[^>]+>", "", b)).strip().removeprefix("… ")
             .removesuffix(" …") for b in matches]
    assert all(text in HOSTILE_LINE or text in "The bank." for text in texts)  # as typed
    assert any(set(text) & set("*![]()") for text in texts)
    for body in bodies:
        assert "<img" not in body and "<a " not in body and "<strong" not in body
