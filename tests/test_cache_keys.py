"""Cache keys (issue 21, item 4): one function (:func:`ui.keys.cache_key`) makes every key of the
one budgeted cache from (weights fingerprint, text, text pair, length, settings).

Before, keys were built by hand: the value norms, tooltip predictions, attention-view file and
attribution omitted the pair's second text, so the Layers page's pair ``(A, B)`` and the
Explorer's single text ``A`` shared entries (the second one read the first one's arrays, of the
wrong length); bertviz's views keyed on the model's *name*, so a folder saved again with other
weights showed the old weights' views.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from components.bertviz_views import _head_or_model_html, _neuron_html
from explorer.graph import read_graph_file
from explorer.model import load
from explorer.tiny import build_tiny_model
from ui.attribution_view import _attribution_key, cached_value_norms
from ui.cache import analysis_cache, cached_analysis, cached_in_budget, cached_token_predictions
from ui.graph_state import _graph_file
from ui.keys import CacheKey, cache_key
from ui.layers_cache import cached_ablation, cached_flow, cached_lens, cached_summaries
from ui.reading import cached_words

FIRST = "The cat sat on the <mask>."
SECOND = "It was very tired."


@pytest.fixture()
def fresh_cache():
    analysis_cache().clear()
    yield analysis_cache()
    analysis_cache().clear()


def _everything(loaded, analysis) -> dict[str, int]:
    """Every per-analysis entry the Explorer and Layers pages make, each as the number of
    tokens it covers (what goes wrong when a pair and a single text share an entry); the logit
    lens and bertviz's page are made too (their keys are checked below)."""
    mask = int(analysis.mask_positions[0])
    blob, _ = _graph_file(loaded, analysis, 5)
    cached_lens(loaded, analysis, mask)
    _head_or_model_html("head view", 0, (0,), loaded, analysis)
    return {
        "token predictions": len(cached_token_predictions(loaded, analysis, 5)),
        "value norms": cached_value_norms(loaded, analysis)[0].shape[-1],
        "graph file": read_graph_file(blob)[0]["num_tokens"],
        "words": cached_words(loaded, analysis)[1].num_tokens,
        "summaries": cached_summaries(loaded, analysis)[1].shape[-1],
        "flow": cached_flow(loaded, analysis, mask).shape[-1],
    }


@pytest.mark.parametrize("pair_first", [True, False], ids=["layers-then-explorer",
                                                           "explorer-then-layers"])
def test_a_pair_and_its_first_text_alone_never_share_an_entry(tiny, fresh_cache, pair_first):
    order = [SECOND, None] if pair_first else [None, SECOND]
    held_before: set = set()
    sizes = {}
    keys_of = {}
    for second in order:
        analysis = cached_analysis(tiny, FIRST, second)
        cached_ablation(tiny, analysis, ((0, 0),))
        sizes[second] = (analysis.num_tokens, _everything(tiny, analysis))
        held = set(fresh_cache.held_keys())
        keys_of[second] = held - held_before
        held_before = held
    pair_tokens, pair_sizes = sizes[SECOND]
    single_tokens, single_sizes = sizes[None]
    assert pair_tokens > single_tokens
    assert set(pair_sizes.values()) == {pair_tokens}, pair_sizes
    assert set(single_sizes.values()) == {single_tokens}, single_sizes
    # the second input made its own entry of every kind; none is the first input's
    kinds = {key.kind for key in keys_of[order[1]]}
    assert {"analysis", "token_predictions", "value norms", "graph_file", "words", "summaries",
            "flow", "lens", "ablation", "bertviz"} <= kinds, kinds
    assert all(isinstance(key, CacheKey) for key in fresh_cache.held_keys())
    assert {key.text_pair for key in keys_of[SECOND]} == {SECOND}
    assert {key.text_pair for key in keys_of[None]} == {None}


def test_attribution_keys_tell_a_pair_from_its_first_text(tiny):
    single = cached_analysis(tiny, FIRST)
    pair = cached_analysis(tiny, FIRST, SECOND)
    position = int(single.mask_positions[0])
    args = (position, 5, None, "gradient_x_input", "pad", 8)
    assert _attribution_key(tiny, single, *args) != _attribution_key(tiny, pair, *args)
    assert _attribution_key(tiny, single, *args) == _attribution_key(tiny, single, *args)


def test_a_key_built_by_hand_is_refused(fresh_cache):
    with pytest.raises(TypeError):
        cached_in_budget(("value norms", "model", FIRST), lambda: 1)
    key = cache_key("value norms", _FakeLoaded("weights-a"), FIRST)
    assert key == cache_key("value norms", _FakeLoaded("weights-a"), FIRST)
    assert key != cache_key("value norms", _FakeLoaded("weights-b"), FIRST)
    assert key != cache_key("value norms", _FakeLoaded("weights-a"), FIRST, text_pair="")


class _FakeInfo:
    def __init__(self, fingerprint: str) -> None:
        self.fingerprint, self.name = fingerprint, "same-name"


class _FakeLoaded:
    def __init__(self, fingerprint: str) -> None:
        self.info = _FakeInfo(fingerprint)


def test_bertviz_views_of_other_weights_under_the_same_name_are_other_entries(
        tmp_path: Path, fresh_cache):
    """A folder saved again with other weights: same name, other fingerprint, other views."""
    folder = tmp_path / "model"
    old = load(str(build_tiny_model(folder, seed=0)))
    new = load(str(build_tiny_model(folder, seed=7)))
    assert old.info.name == new.info.name
    assert old.info.fingerprint != new.info.fingerprint
    views = {}
    for loaded in (old, new):
        analysis = cached_analysis(loaded, FIRST)
        assert analysis.model_name == old.info.name
        views[loaded.info.fingerprint] = (
            _head_or_model_html("head view", 1, (0, 1), loaded, analysis)[0],
            _neuron_html(1, 0, loaded, analysis)[0])
    old_views, new_views = views[old.info.fingerprint], views[new.info.fingerprint]
    assert old_views[0] != new_views[0]  # the other weights' attention
    assert old_views[1] != new_views[1]  # the other weights' queries and keys
    bertviz = [key for key in fresh_cache.held_keys() if key.kind.startswith("bertviz")]
    assert len(bertviz) == 4
    assert {key.models for key in bertviz} == {(old.info.fingerprint,),
                                               (new.info.fingerprint,)}
    assert not np.array_equal(cached_analysis(old, FIRST).attentions,
                              cached_analysis(new, FIRST).attentions)
