"""The attribution section (ui/attribution_view.py) under AppTest, on the Layers page's
"Attribution" tab, with a tiny RoBERTa whose predictions depend on its input. The strip's scores
are checked against the model's own probabilities (completeness: they sum to
log p(candidate | x) − log p(candidate | baseline)), the raw-weights chart against the analysis,
and the value-weighted chart against the model's value and output projections."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from explorer.analysis import analyze
from explorer.model import MODEL_ENV_VAR, load
from explorer.tiny import build_tiny_model_sharing_tokenizer
from tests.conftest import ROOT
from tests.test_compare_page import array

TEXT = "The man worked as a <mask> in the garden."


@pytest.fixture(scope="module")
def sensitive_dir(tiny_model_dir, tmp_path_factory):
    return build_tiny_model_sharing_tokenizer(tmp_path_factory.mktemp("sensitive"),
                                              tiny_model_dir, layers=2, initializer_range=0.3)


@pytest.fixture(scope="module")
def page(sensitive_dir):
    patch = pytest.MonkeyPatch()
    patch.setenv(MODEL_ENV_VAR, str(sensitive_dir))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["text"] = TEXT
    at.query_params["layers_tab"] = "attribution"  # only the open tab runs
    at.switch_page("pages/layers.py")
    yield at.run()
    patch.undo()


def strip_scores(at: AppTest) -> np.ndarray:
    strips = [h.proto.body for h in at.get("html") if "heat-strip" in h.proto.body]
    assert len(strips) == 1
    return np.array([float(v) for v in re.findall(r'data-score="([^"]+)"', strips[0])])


def test_attribution_runs_on_request_and_meets_completeness(page, sensitive_dir):
    at = page
    assert not at.exception, at.exception
    assert not [h for h in at.get("html") if "heat-strip" in h.proto.body]  # on request only
    at.button(key="attribution_run").click().run()
    assert not at.exception, at.exception
    loaded = load(str(sensitive_dir))
    analysis = analyze(loaded, TEXT)
    scores = strip_scores(at)
    assert len(scores) == analysis.num_tokens
    # f(x) is the model's own log-probability of its top-1 candidate at the mask
    top = analysis.predictions[0].predictions[0]
    message = str(at.success[0].value).replace("\\", "")
    assert "Completeness" in message
    f_x = float(re.search(r"= ([+-][\d.]+) − \(", message).group(1))
    assert f_x == pytest.approx(np.log(analysis.mask_probabilities[0, top.token_id]), abs=1e-3)
    # the baseline value, recomputed here: every word replaced by <pad>; <s>, </s> and the
    # <mask> keep their embeddings
    ids = torch.tensor(analysis.token_ids)
    special = torch.tensor(analysis.special_mask) | (ids == loaded.tokenizer.mask_token_id)
    embeddings = loaded.model.get_input_embeddings()
    with torch.no_grad():
        baseline = torch.where(special[:, None], embeddings(ids),
                               embeddings(torch.tensor([loaded.tokenizer.pad_token_id])))
        logits = loaded.model(inputs_embeds=baseline[None]).logits[0, analysis.mask_positions[0]]
    f_baseline = float(logits.log_softmax(-1)[top.token_id])
    assert scores.sum() == pytest.approx(f_x - f_baseline, abs=2e-3)
    assert np.all(scores[analysis.special_mask] == 0)
    assert [b.label for b in at.get("download_button")][-2:] == ["Attribution (CSV)",
                                                                 "Attribution (JSON)"]


def _computed(at: AppTest) -> np.ndarray:
    """The strip's scores, pressing "Compute attribution" first when they are not held."""
    if not any("heat-strip" in h.proto.body for h in at.get("html")):
        at.button(key="attribution_run").click().run()
    assert not at.exception, at.exception
    return strip_scores(at)


def test_contrastive_attribution_is_the_difference(page):
    at = page
    plain = _computed(at)  # top-1 candidate alone (integrated gradients, 32 steps)
    at.selectbox(key="attribution_contrast").select_index(1).run()  # rather than the runner-up
    runner_up = at.session_state["attribution_contrast"]
    assert runner_up is not None
    both = _computed(at)
    at.selectbox(key="attribution_contrast").select_index(0).run()
    at.selectbox(key="attribution_candidate").set_value(runner_up).run()
    alone = _computed(at)
    np.testing.assert_allclose(both, plain - alone, atol=2e-4)


def test_value_weighted_attention_beside_the_weights(page, sensitive_dir):
    at = page
    at.selectbox(key="attribution_value_layer").set_value(1).run()
    at.selectbox(key="attribution_value_head").set_value(2).run()
    assert not at.exception
    loaded = load(str(sensitive_dir))
    analysis = analyze(loaded, TEXT)
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    # titles of a pair are wrapped to half the page's width
    charts = {spec["layout"]["title"]["text"].replace("<br>", " "): spec for spec in specs}
    np.testing.assert_allclose(array(charts["Weights: layer 2, head 3"]["data"][0]["z"]),
                               analysis.attentions[1, 2], atol=1e-6)
    moved = array(charts["Weights × value norm ‖α·f(x)‖: layer 2, head 3"]["data"][0]["z"])
    block = loaded.model.roberta.encoder.layer[1].attention
    size = loaded.info.hidden_size // loaded.info.num_heads
    part = slice(2 * size, 3 * size)
    with torch.no_grad():
        x = torch.tensor(analysis.hidden_states[1])
        values = x @ block.self.value.weight[part].T + block.self.value.bias[part]
        norms = (values @ block.output.dense.weight[:, part].T).norm(dim=-1).numpy()
    np.testing.assert_allclose(moved, analysis.attentions[1, 2] * norms[None, :], rtol=1e-4,
                               atol=1e-6)
    assert "Norm-based rollout after layer 2" in charts
    np.testing.assert_allclose(array(charts["Norm-based rollout after layer 2"]["data"][0]["z"])
                               .sum(axis=-1), 1.0, atol=1e-5)
