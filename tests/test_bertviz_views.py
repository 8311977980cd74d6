"""bertviz's views made safe, offline and bounded; the neuron view's model matches ours."""

from __future__ import annotations

import html.parser
import json
from dataclasses import replace

import numpy as np
import pytest

from components.bertviz_html import (
    REQUIRE_CDN_TAG,
    bertviz_budget,
    escape_script_bodies,
    head_view_html,
    local_assets,
    make_offline,
    model_view_html,
    round_neuron_params,
)
from explorer.analysis import analyze
from explorer.neuron import NeuronViewUnsupported, neuron_view_html, neuron_view_model

HOSTILE = 'Hi </script><script>window.__xss=1</script> <img src=x onerror="window.__xss=2"> <mask>'


class _Scripts(html.parser.HTMLParser):
    """Counts <script> elements and collects their bodies, as a browser's parser splits them."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[str] = []
        self._open = False

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self._open = True
            self.bodies.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._open = False

    def handle_data(self, data):
        if self._open:
            self.bodies[-1] += data


@pytest.fixture(scope="module")
def hostile(tiny):
    analysis = analyze(tiny, HOSTILE)
    # make the raw token list carry the hostile strings whole, as a word-level tokenizer would
    tokens = list(analysis.tokens)
    tokens[1], tokens[2] = "</script><script>window.__xss=1</script>", "<!--"
    return analysis, tokens


def test_head_view_escaped_offline_and_parsed_as_three_plus_scripts(hostile):
    analysis, tokens = hostile
    budget = bertviz_budget(analysis.num_tokens, 2, 4, 0, [0])
    raw = head_view_html(analysis.attentions, tokens, budget, 0, [0])
    assert "</script><script>window.__xss=1" in raw  # bertviz alone would break out here
    assets = local_assets()
    assert assets is not None, "run npm ci (scripts/setup-app.sh)"
    page, offline = make_offline(raw, assets)
    assert offline and REQUIRE_CDN_TAG not in page
    parser = _Scripts()
    parser.feed(page)
    # jQuery, d3, require.js, the module definitions, bertviz's own script: nothing else
    assert len(parser.bodies) == 5
    vis = parser.bodies[-1]
    assert "PYTHON_PARAMS" not in vis and "window.__xss=1" in vis  # inside a JSON string
    params = json.loads(vis[vis.index("const params = ") + 15: vis.index("; // HACK")]
                        .replace("<\\/", "</").replace("<\\!--", "<!--"))
    assert params["attention"][0]["left_text"][1] == tokens[1]  # the text survives intact
    np.testing.assert_allclose(params["attention"][0]["attn"][0][0],
                               np.round(analysis.attentions[0, 0], 4), atol=1e-9)


def test_without_local_scripts_the_cdn_stays_as_fallback(hostile):
    analysis, tokens = hostile
    raw = model_view_html(analysis.attentions, tokens, bertviz_budget(analysis.num_tokens, 2, 4,
                                                                      0, [0]))
    page, offline = make_offline(raw, None)
    assert not offline and REQUIRE_CDN_TAG in page
    assert "</script><script>window.__xss" not in page
    assert escape_script_bodies(raw)[1] == 1


def test_budget_keeps_small_inputs_whole_and_bounds_long_ones():
    small = bertviz_budget(12, 6, 12, 3, [1])
    assert small.complete and small.layers == tuple(range(6)) and len(small.heads) == 12
    medium = bertviz_budget(128, 6, 12, 5, [1])
    assert not medium.complete and medium.layers == (5,) and len(medium.heads) == 12
    assert len(medium.layers) * 12 * 128 * 128 <= medium.max_values
    long = bertviz_budget(512, 6, 12, 2, [7, 3])
    assert long.layers == (2,) and long.heads == (3,)  # the first selected head
    assert "layer(s) 3 of 6" in long.describe(6, 12)
    huge = bertviz_budget(2000, 6, 12, 0, [])
    assert huge.layers == (0,) and len(huge.heads) == 1  # never empty


def test_bounded_head_view_of_long_input_is_small(tiny):
    text = " ".join(["The cat sat on the mat."] * 9)
    analysis = analyze(tiny, text)
    n = analysis.num_tokens
    budget = bertviz_budget(n, 2, 4, 1, [2], max_values=n * n * 2)
    assert budget.layers == (1,) and budget.heads == (0, 2)  # selected head 2, then head 0
    page = head_view_html(analysis.attentions, list(analysis.tokens), budget, 1, [2])
    whole = head_view_html(analysis.attentions, list(analysis.tokens),
                           replace(budget, layers=(0, 1), heads=(0, 1, 2, 3)), 1, [2])
    assert len(page) < len(whole) / 3


def test_neuron_view_model_reproduces_the_analysis(tiny):
    from bertviz.neuron_view import get_attention

    from explorer.neuron import FixedTokens

    analysis = analyze(tiny, "The capital of France is <mask>.")
    model, model_type = neuron_view_model(tiny)
    assert model_type == "roberta"
    data = get_attention(model, model_type, FixedTokens(analysis.tokens,
                                                         analysis.token_ids.tolist()),
                         "ignored", include_queries_and_keys=True)
    np.testing.assert_allclose(np.array(data["all"]["attn"]), analysis.attentions, atol=1e-5)
    raw = neuron_view_html(model, model_type, analysis.tokens, analysis.token_ids.tolist(), 1, 2)
    small = round_neuron_params(raw)

    def params(page: str) -> str:
        return next(line for line in page.splitlines() if "window.bertviz_params" in line)

    assert len(params(small)) < len(params(raw)) / 2
    rounded = json.loads(params(small).split(" = ", 1)[1])
    np.testing.assert_allclose(rounded["attention"]["all"]["attn"],
                               np.round(analysis.attentions, 4), atol=1e-9)
    page, offline = make_offline(small, local_assets())
    assert offline and "window.bertviz_params" in page


def test_neuron_view_refuses_other_model_types(tiny):
    from transformers import DistilBertConfig, DistilBertForMaskedLM

    from explorer.model import Loaded

    other = DistilBertForMaskedLM(DistilBertConfig(vocab_size=50, dim=16, n_layers=1, n_heads=2,
                                                   hidden_dim=32))
    with pytest.raises(NeuronViewUnsupported, match="DistilBERT"):
        neuron_view_model(Loaded(tiny.tokenizer, other, tiny.info))


def test_neuron_view_maps_bert_weights(tiny):
    import torch
    from transformers import BertConfig, BertForMaskedLM

    from explorer.model import Loaded

    torch.manual_seed(0)
    bert = BertForMaskedLM(BertConfig(vocab_size=60, hidden_size=16, num_hidden_layers=2,
                                      num_attention_heads=2, intermediate_size=32,
                                      attn_implementation="eager")).eval()
    model, _model_type = neuron_view_model(Loaded(tiny.tokenizer, bert, tiny.info))
    ids = torch.tensor([[2, 7, 9, 11, 3]])
    with torch.no_grad():
        expected = bert(ids, output_attentions=True).attentions
        got = model(ids)[-1]
    for layer, attention in enumerate(expected):
        np.testing.assert_allclose(got[layer]["attn"].numpy(), attention.numpy(), atol=1e-5)
