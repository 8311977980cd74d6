"""Every cache counts against one byte budget (issue 12, item 11).

The Layers page's rollouts, flows and lenses, the tooltips' predictions and bertviz's pages live
in the same least-recently-used cache as the analyses, sized by ``explorer.memory.nbytes``.
"""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer.analysis import analyze
from explorer.attention_stats import rollout
from explorer.memory import analysis_nbytes, nbytes
from explorer.state import LAYERS_TABS
from tests.conftest import ROOT
from ui import keys
from ui.cache import ANALYSIS_CACHE_ENV_VAR, analysis_cache

APP = str(ROOT / "app.py")


def test_nbytes_counts_arrays_once_and_what_containers_hold(tiny):
    block = np.zeros((64, 64), dtype=np.float64)
    assert nbytes(block) == block.nbytes
    assert nbytes((block, block)) < block.nbytes + 200  # the same array is held once
    assert nbytes((block[:2], block[3:])) < block.nbytes + 200  # views keep their base alive
    assert nbytes(block[:1]) == block.nbytes
    assert nbytes(["x" * 1000, {"a": block}]) >= block.nbytes + 1000
    analysis = analyze(tiny, "The cat sat on the <mask>.")
    assert nbytes(analysis) == analysis_nbytes(analysis)
    rolled = rollout(analysis.attentions)
    assert nbytes(("summary", rolled)) >= rolled.nbytes


@pytest.fixture()
def small_budget(app_env, monkeypatch):
    """A 1 MiB budget; the shared cache is made afresh for it and cleared afterwards."""
    monkeypatch.setenv(ANALYSIS_CACHE_ENV_VAR, "1")
    analysis_cache.clear()
    yield 2**20
    analysis_cache.clear()


def _texts(count: int) -> list[str]:
    words = ["cat", "dog", "bird", "fish", "horse", "mouse", "lion", "bear", "wolf", "fox"]
    return [" ".join(f"The {words[i]} saw {w}." for w in words * 2) + " <mask>"
            for i in range(count)]


def test_layers_page_results_count_against_the_one_budget(small_budget):
    """Before the fix the Layers page kept a rollout per text for up to 32 texts in its own
    ``st.cache_resource``, outside the analyses' budget."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page("pages/layers.py")
    at.run()
    texts = _texts(8)
    for text in texts:
        at.text_area(key=keys.TEXT).set_value(text)
        at.session_state[keys.LAYERS_TAB] = LAYERS_TABS["lens"]
        at.run()
        at.session_state[keys.LAYERS_TAB] = LAYERS_TABS["attention"]  # only the open tab runs
        at.run()
        assert not at.exception, at.exception
        cache = analysis_cache()
        assert cache.max_bytes == small_budget
        assert cache.total_bytes <= small_budget
        held = {key[0]: key for key in cache.held_keys() if key[2] == text}
        assert {"analysis", "summaries", "flow", "lens"} <= set(held), cache.held_keys()
        assert cache.total_bytes >= 0.25 * small_budget or text is texts[0]
    # the budget dropped the oldest texts' results, rollouts included
    cache = analysis_cache()
    kept_texts = {key[2] for key in cache.held_keys()}
    assert texts[0] not in kept_texts and texts[-1] in kept_texts
    assert cache.total_bytes <= small_budget


def test_tooltip_predictions_count_against_the_budget_too(small_budget):
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    kinds = {key[0] for key in analysis_cache().held_keys()}
    assert {"analysis", "token_predictions"} <= kinds
