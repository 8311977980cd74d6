"""Hostile input on every page: a clear message or a correct result, never an exception, never
markup from the user executed or rendered.

``PAGES`` lists each page with the keys of its text inputs; a new page is one line there (and,
if its results can be checked against ``analyze``, a checker function). ``HOSTILE`` lists the
inputs with what each must produce.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from bench.memory import text_of_tokens
from explorer.analysis import MAX_TEXT_CHARS, InputError, analyze
from explorer.model import ALLOWED_MODELS_ENV_VAR, Loaded
from tests.browser import chromium_page, running_app, shown_cell, wait_for_cell
from tests.conftest import ROOT, TINY_MAX_TOKENS
from tests.tables import PICTURES, assert_token_cell, prediction_tables, shown_sequence
from ui import keys

APP = str(ROOT / "app.py")


def check_explorer(at: AppTest, loaded: Loaded) -> None:
    """The explorer's tables are exactly what ``analyze`` returns for the text in the box."""
    text = at.text_area(key=keys.TEXT).value
    top_k = int(at.number_input(key=keys.TOP_K).value)
    try:
        expected = analyze(loaded, text, top_k=top_k)
    except InputError:
        assert len(prediction_tables(at)) == 0
        return
    assert len(prediction_tables(at)) == len(expected.predictions)
    special = set(loaded.tokenizer.all_special_ids)
    for table, mask in zip(prediction_tables(at), expected.predictions):
        for row, token, sequence in zip(mask.predictions, table.value["token"],
                                        table.value["sequence"]):
            assert_token_cell(row, token)
            if row.token_id not in special and token == row.token_str.translate(PICTURES):
                assert sequence == shown_sequence(row.sequence, loaded.tokenizer)


@dataclass(frozen=True)
class PageCase:
    path: str  # as given to st.Page in app.py
    text_keys: tuple[str, ...]  # session-state keys of the page's text inputs
    check: Callable[[AppTest, Loaded], None] | None = None  # result must equal analyze()


PAGES = [
    PageCase("pages/explorer.py", (keys.TEXT,), check_explorer),
    PageCase("pages/layers.py", (keys.TEXT,)),
    PageCase("pages/compare.py", (keys.TEXT_A, keys.TEXT_B)),
]


@dataclass(frozen=True)
class Hostile:
    name: str
    text: str | Callable[[Loaded], str]
    message: str | None = None  # must appear in an error/warning/info; None: a result is due
    tables: int | None = None  # how many prediction tables (explorer-like pages)


HOSTILE = [
    Hostile("empty", "", "The text is empty", 0),
    Hostile("only spaces", "   \n\t   ", "The text is empty", 0),
    Hostile("10 000 characters", "The <mask> sat. " + "x" * 9_984,
            f"reads at most {TINY_MAX_TOKENS}", 1),
    Hostile("over the character limit", "a " * (MAX_TEXT_CHARS // 2 + 1), "accepts at most", 0),
    Hostile("600 tokens", lambda loaded: text_of_tokens(loaded.tokenizer, 600, 0),
            "has 600 tokens; this model reads at most", None),
    Hostile("only one mask", "<mask>", None, 1),
    Hostile("only masks", "<mask><mask><mask>", None, 3),
    Hostile("50 masks", "<mask> " * 50, None, 50),
    Hostile("masks past the limit", "<mask> " * 80, "mask(s) after the cut were dropped", 62),
    Hostile("BERT mask alias", "Paris is the [MASK] of France.", "Read [MASK]", 1),
    Hostile("emoji CJK RTL zero-width",
            "I ❤️ 🐱🐶 東京は<mask>です مرحبا בעולם \u200b\u200d\u2066x\u2069 \u202egnp.exe",
            None, 1),
    Hostile("combining marks", "Z\u0351\u0352\u0353a\u0300\u0301\u0302 <mask> e\u0301", None, 1),
    Hostile("NUL bytes", "The cat\x00 sat on the <mask>.\x00", "Removed 2 control character", 1),
    Hostile("only NUL bytes", "\x00\x00\x00", "The text is empty", 0),
    Hostile("HTML tags", "<b>bold</b> <i>it</i> <u>u</u> <mask>", None, 1),
    Hostile("script tag", "<script>window.__pwned=1</script> The <mask>.", None, 1),
    Hostile("img onerror", "<img src=x onerror=\"window.__pwned=1\"> <mask>", None, 1),
    Hostile("closing script", "</script><script>window.__pwned=1</script> <mask>", None, 1),
    Hostile("iframe and style", "<mask> <iframe src=\"javascript:window.__pwned=1\"></iframe>"
            "<style>body{display:none}</style>", None, 1),
    Hostile("markdown injection", "<mask> **bold** [link](javascript:alert(1)) "
            "![img](http://127.0.0.1:9/x.png) :red[red] $x^2$ `code` # head", None, 1),
    Hostile("special tokens typed", "<s> </s> <pad> <unk> <mask>", None, 1),
    Hostile("markdown links", "[Sign in](http://127.0.0.1:1/phish)<mask>", None, 1),
    Hostile("markdown image", "![t](http://127.0.0.1:1/pixel)<mask>", None, 1),
    Hostile("markdown look-alikes", "2*3*4 is ~~x~~ or $a+b$ <mask> __u__ `c` | a | b |",
            None, 1),
    Hostile("autolinks", "<mask> www.example.com http://127.0.0.1:1/x a@b.co <http://h/>",
            None, 1),
    Hostile("entities", "&lt;script&gt; &amp; &#60;b&#62; <mask>", None, 1),
]

USER_TAGS = {"script", "img", "iframe", "b", "i", "u", "svg", "a", "object", "embed"}
"""Elements the hostile texts type; the app's own HTML (token chips, tables, heat strips,
contexts) uses none of them."""


class _Elements(HTMLParser):
    """The start tags (with attributes) and the CSS a browser would build from one body."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs) -> None:
        self.found.append((tag, attrs))
        self._in_style = tag == "style"

    def handle_endtag(self, tag) -> None:
        self._in_style = False

    def handle_data(self, data) -> None:
        if self._in_style:
            self.styles.append(data)


STRAY_LT = re.compile(r"<(?![a-zA-Z/!])")
MARKDOWN_LINK = re.compile(r"!?\[[^\]]*\]\((javascript|http)")


def run_page(page: PageCase, text: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    if page is not PAGES[0]:
        at.switch_page(page.path).run()
    for key in page.text_keys:
        widget = next((w for w in (*at.text_area, *at.text_input) if w.key == key), None)
        assert widget is not None, f"{page.path} has no text input with key {key!r}"
        widget.set_value(text)
    return at.run()


def messages(at: AppTest) -> str:
    return "\n".join(str(e.value) for e in (*at.error, *at.warning, *at.info))


# characters that make markdown of plain text (links, images, emphasis, code, maths, tables,
# Streamlit's :colour[...] directives, autolinks)
MARKDOWN_SPECIAL = re.compile(r"[\[\]()!*_~`$|<>:@#]")


def raw_user_markdown(body: str, text: str) -> list[str]:
    """Pieces of ``text`` holding markdown characters that appear unescaped in ``body``."""
    pieces = [p for p in re.split(r"\s+", text) if len(p) >= 2 and MARKDOWN_SPECIAL.search(p)]
    return [p for p in pieces if p.rstrip(".,;") not in _SAFE_PIECES and _raw_in(p, body)]


def _raw_in(piece: str, body: str) -> bool:
    """``piece`` occurs in ``body`` with a markdown character not backslash-escaped."""
    start = body.find(piece)
    while start >= 0:
        if any(MARKDOWN_SPECIAL.match(ch) and (start + j == 0 or body[start + j - 1] != "\\")
               for j, ch in enumerate(piece)):
            return True
        start = body.find(piece, start + 1)
    return False


_SAFE_PIECES = {"<mask>", "<s>", "</s>", "<pad>", "<unk>", "[MASK]"}  # the app names these itself


def assert_no_user_text_as_markdown(at: AppTest, text: str) -> None:
    """Tables that render markdown (st.table) hold no user text, and every markdown body
    (messages, captions, markdown, subheaders) shows the user's markdown characters escaped."""
    for table in at.table:
        cells = [str(v) for v in table.value.to_numpy().ravel()]
        assert not [c for c in cells if raw_user_markdown(c, text)], cells[:5]
    bodies = [str(e.value) for e in (*at.error, *at.warning, *at.info, *at.caption,
                                     *at.markdown, *at.subheader)]
    for body in bodies:
        assert not raw_user_markdown(body, text), (raw_user_markdown(body, text), body[:300])


def assert_no_user_markup(at: AppTest, text: str) -> None:
    """No user markup in raw HTML (st.html, unsafe markdown), no user links in markdown."""
    assert_no_user_text_as_markdown(at, text)
    raw_html = [e.proto.body for e in at.get("html")]
    markdown = [e.proto.body for e in at.markdown]
    raw_html += [e.proto.body for e in at.markdown if e.proto.allow_html]
    for body in raw_html:
        elements = _Elements()
        elements.feed(body)
        # what the browser's parser makes of the body: only the app's own elements, no handler
        # attributes, no script URLs; text (escaped) may say anything
        assert not {tag for tag, _ in elements.found} & USER_TAGS, (elements.found, body[:300])
        assert not [(tag, name) for tag, attrs in elements.found for name, value in attrs
                    if name.lower().startswith("on") or "javascript:" in (value or "").lower()
                    ], body[:300]
        assert not [css for css in elements.styles if text.strip() and text.strip() in css]
        if "<" in text:  # a bare "<" (one token of "<script>") must arrive as &lt;
            assert not STRAY_LT.search(body), f"unescaped '<' in {body[:300]}"
    for body in (*markdown, messages(at)):
        assert not MARKDOWN_LINK.search(body) or not MARKDOWN_LINK.search(text), body[:300]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: Path(p.path).stem)
@pytest.mark.parametrize("case", HOSTILE, ids=lambda c: c.name)
def test_hostile_input(app_env, tiny, page: PageCase, case: Hostile):
    text = case.text(tiny) if callable(case.text) else case.text
    at = run_page(page, text)
    assert not at.exception, [e.value for e in at.exception]
    shown = messages(at)
    if case.message is not None:
        assert case.message in shown, shown
    else:
        assert not at.error, shown
    if case.tables is not None and page.check is check_explorer:
        assert len(prediction_tables(at)) == case.tables
    if page.check is not None:
        page.check(at, tiny)
    assert_no_user_markup(at, text)
    # the session keeps working after the hostile input
    for key in page.text_keys:
        next(w for w in (*at.text_area, *at.text_input) if w.key == key).set_value(
            "A cat sat on the <mask>.")
    at.run()
    assert not at.exception and not at.error
    if page.check is not None:
        page.check(at, tiny)


LINK = "[Sign in](http://127.0.0.1:1/phish)"


def test_layers_target_token_warning_shows_the_word_as_text(app_env):
    """The "Target token" field echoes what was typed in a warning."""
    at = run_page(PAGES[1], "The cat sat on the <mask>.")
    target = next(w for w in at.text_input if w.key == "layers_target")
    target.set_value(LINK + " ![t](http://127.0.0.1:1/pixel)").run()
    assert not at.exception
    shown = [str(w.value) for w in at.warning]
    assert any("is not one token" in body for body in shown), shown
    assert_no_user_text_as_markdown(at, LINK + " ![t](http://127.0.0.1:1/pixel)")


def test_an_uploaded_file_name_is_shown_as_text(app_env, tmp_path, monkeypatch):
    from explorer.corpus import CACHE_ENV_VAR

    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "cache"))
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page("pages/corpus.py").run()
    at.radio(key=keys.CORPUS_SOURCE).set_value("upload").run()
    name = "![t](http:__127.0.0.1:1_pixel) [Sign in](javascript:x) *x*.txt"
    at.get("file_uploader")[0].set_value((name, b"The bank was closed.\n", "text/plain")).run()
    assert not at.exception, at.exception
    shown = " ".join(str(e.value) for e in (*at.info, *at.caption))
    assert "Sign in" in shown  # the name is shown …
    assert_no_user_text_as_markdown(at, name)  # … as text


TAMPERED_QUERIES = [
    {"text": "<script>window.__pwned=1</script><mask>", "layer": "999", "head": "-4"},
    {"top_k": "1e9", "layer": "NaN", "head": "mean; drop table", "heads": "x,y,99"},
    {"model": "attacker/huge-repo", "model_name": "/etc", "token": "-1", "threshold": "inf"},
    {"text": "\x00" * 10, "page": "../../etc/passwd", "a" * 500: "b" * 5000},
    {"text": ["<mask>", "two values"], "layer": ["1", "2"], "text_a": "x" * 30_000},
]


@pytest.mark.parametrize("query", TAMPERED_QUERIES, ids=lambda q: ",".join(map(str, q))[:40])
def test_tampered_url_parameters_are_ignored_or_validated(app_env, tiny, monkeypatch, query):
    """Whatever the URL holds (public-demo settings: an allow-list): no exception, no model
    outside the allow-list, valid widget values, and results that match the text shown.
    Pages read their state from the URL (explorer/state.py), which must validate it."""
    monkeypatch.setenv(ALLOWED_MODELS_ENV_VAR, str(app_env))
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(query)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert_no_user_markup(at, " ".join(str(v) for v in query.values()))
    shown = messages(at)
    if "Could not load the model" in shown:  # a URL may name a model; the list still rules
        assert "only loads the models its operator allowed" in shown, shown
        return
    if "The text is empty" in shown:  # a link whose text is only control characters
        return
    assert "2 layers × 4 heads" in at.sidebar.caption[0].value  # the allowed tiny model
    assert 0 <= int(at.session_state[keys.LAYER]) < tiny.info.num_layers
    assert 1 <= int(at.number_input(key=keys.TOP_K).value) <= 50
    check_explorer(at, tiny)


XSS_PAYLOADS = [
    "<mask> <img src=x onerror=\"window.__pwned=1\">",
    "<mask> </script><script>window.__pwned=1</script>",
    "<mask> <svg onload=\"window.__pwned=1\"></svg>",
    "<mask> <iframe srcdoc=\"<script>parent.__pwned=1</script>\"></iframe>",
]


def test_markup_in_the_text_never_runs_in_a_real_browser(tiny_model_dir, tiny):
    """Each payload sets window.__pwned if it runs; it must stay undefined, and the text must be
    shown literally (the top-1 sequence, payload included, appears as text)."""
    with running_app(tiny_model_dir) as url, chromium_page() as page:
        page.goto(url)
        box = page.get_by_role("textbox", name="Text")
        box.wait_for(timeout=60_000)
        for payload in XSS_PAYLOADS:
            expected = shown_cell(analyze(tiny, payload, top_k=5).predictions[0].predictions)
            box.fill(payload)
            box.press("Control+Enter")
            wait_for_cell(page, expected)
            page.wait_for_timeout(1_000)  # let any injected handler fire
            assert page.evaluate("() => window.__pwned") is None, payload
            assert page.locator("[data-testid='stMain']").count() == 1
            injected = "img[src='x'], svg[onload], iframe[srcdoc], script:not([src])"
            assert page.locator(f"[data-testid='stMain'] :is({injected})").count() == 0
            frames = [f for f in page.frames if f != page.main_frame]
            assert all(f.evaluate("() => window.__pwned") is None for f in frames), payload
