"""Share links restore what the page shows; every correction rewrites the URL, with a note
(issue 12, item 9). AppTest, against the tiny model."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from explorer.analysis import analyze
from explorer.state import THRESHOLD_MIN
from tests.conftest import ROOT
from ui import keys

APP = str(ROOT / "app.py")
SHORT = "A cat sat on the <mask>."


def open_link(query: dict[str, str], page: str | None = None) -> AppTest:
    """A new session opened on ``query`` (a fresh AppTest is a fresh browser tab)."""
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update(query)
    if page:
        at.switch_page(page)
    return at.run()


def warnings(at: AppTest) -> str:
    """The warnings as the visitor reads them (markdown escapes removed)."""
    return "\n".join(re.sub(r"\\(.)", r"\1", str(w.value)) for w in at.warning)


def test_a_threshold_below_the_control_is_shown_and_linked_as_its_minimum(app_env):
    at = open_link({"threshold": "0.01"})
    assert not at.exception, at.exception
    assert at.session_state[keys.THRESHOLD] == THRESHOLD_MIN  # not the default 0.7
    assert at.query_params["threshold"] == f"{THRESHOLD_MIN:g}"
    assert "Changed the link's threshold" in warnings(at)
    at.run()  # and it stays so
    assert at.session_state[keys.THRESHOLD] == THRESHOLD_MIN
    assert at.query_params["threshold"] == f"{THRESHOLD_MIN:g}"


def test_a_token_past_the_end_is_dropped_from_the_link_with_a_note(app_env, tiny):
    assert analyze(tiny, SHORT).num_tokens < 40
    at = open_link({"text": SHORT, "token": "40"})
    assert not at.exception, at.exception
    assert at.session_state[keys.SELECTED_TOKEN] is None
    assert "token" not in at.query_params
    assert "Token 40 is past the end of the text" in warnings(at)


def test_layers_page_moves_a_token_past_the_end_to_the_mask_and_says_so(app_env, tiny):
    mask = analyze(tiny, SHORT).mask_positions[0]
    at = open_link({"text": SHORT, "token": "40"}, "pages/layers.py")
    assert not at.exception, at.exception
    assert at.selectbox(key=keys.SELECTED_TOKEN).value == mask
    assert at.query_params["token"] == str(mask)
    assert "Token 40 is past the end of the text" in warnings(at)


# layer=2 head=3 heads=2,4 in the link: indices 1, 2 and [1, 3] (the pages number from 1)
VIEW = {"layer": "2", "head": "3", "heads": "2,4", "threshold": "0.3", "token": "2"}


@pytest.mark.parametrize("bad_text", ["", "x" * 20_001], ids=["empty", "20001 chars"])
def test_the_view_survives_a_bad_text(app_env, bad_text):
    at = open_link({**VIEW, "text": SHORT})
    assert not at.exception and not at.warning, warnings(at)
    at.text_area(key=keys.TEXT).set_value(bad_text).run()
    assert not at.exception and at.warning
    at.text_area(key=keys.TEXT).set_value(SHORT).run()
    assert not at.exception and not at.warning, warnings(at)
    state = at.session_state
    assert (state[keys.LAYER], state[keys.HEAD], state[keys.HEADS], state[keys.THRESHOLD],
            state[keys.SELECTED_TOKEN]) == (1, 2, [1, 3], 0.3, 2)
    assert {key: at.query_params[key] for key in VIEW} == VIEW


def test_the_view_survives_a_model_error(app_env):
    at = open_link({**VIEW, "text": SHORT})
    at.sidebar.text_input(key=keys.MODEL).set_value("/no/such/model").run()
    assert not at.exception and at.error
    at.sidebar.text_input(key=keys.MODEL).set_value(str(app_env)).run()
    assert not at.exception and not at.error
    state = at.session_state
    assert (state[keys.LAYER], state[keys.HEAD], state[keys.HEADS], state[keys.THRESHOLD]) == (
        1, 2, [1, 3], 0.3)
    assert {key: at.query_params[key] for key in VIEW} == VIEW


def test_notes_about_a_link_show_its_values_as_text(app_env):
    at = open_link({"token": "[x](http://127.0.0.1:1/phish)", "threshold": "0.011"})
    assert not at.exception
    bodies = [w.proto.body for w in at.warning]
    assert any("Ignored the link" in body for body in bodies), bodies
    for body in bodies:
        assert "[x](http" not in body  # escaped: \[x\]\(http…
