"""Patching B with A on the Compare page (AppTest, tiny RoBERTa): the two maps it draws hold
what a hand-made patched run gives, and inputs of different lengths get a message."""

from __future__ import annotations

import json

import numpy as np
import torch
from streamlit.testing.v1 import AppTest

from explorer.analysis import analyze
from explorer.model import load
from tests.test_compare_page import array
from tests.test_reading_pages import run_compare

TEXT_A = "The man worked as a <mask>."
TEXT_B = "The cat worked as a <mask>."


def chart(at: AppTest, key: str) -> dict:
    (found,) = [c for c in at.get("plotly_chart") if c.proto.id.endswith(key) or
                key in c.proto.id]
    return json.loads(found.proto.spec)


@torch.inference_mode()
def by_hand(loaded, a, b, token_id: int, layer: int, position: int) -> float:
    """B's log p(token) at its mask with the hidden state entering ``layer`` at ``position``
    replaced by A's, run layer by layer through the encoder's own modules."""
    model = loaded.model
    ids = torch.tensor([b.token_ids])
    hidden = model.roberta.embeddings(input_ids=ids)
    states_a = [torch.from_numpy(np.array(s)) for s in a.hidden_states]
    for index, block in enumerate(model.roberta.encoder.layer):
        if index == layer:
            hidden = hidden.clone()
            hidden[0, position] = states_a[layer][position]
        out = block(hidden)
        hidden = out[0] if isinstance(out, tuple) else out
    logits = model.lm_head(hidden)[0, b.mask_positions[0]]
    return float(torch.log_softmax(logits.float(), -1)[token_id])


def test_patching_maps_match_a_patched_run_by_hand(app_env):
    loaded = load(str(app_env))
    a, b = analyze(loaded, TEXT_A), analyze(loaded, TEXT_B)
    assert a.num_tokens == b.num_tokens
    at = run_compare(text_a=TEXT_A, text_b=TEXT_B, patching_run=True)
    assert not at.exception, at.exception
    token_id = int(at.selectbox(key="patching_token").value)
    assert token_id == a.predictions[0].predictions[0].token_id  # A's top prediction first
    heads = array(chart(at, "patching_heads")["data"][0]["z"])
    positions = array(chart(at, "patching_positions")["data"][0]["z"])
    assert heads.shape == (loaded.info.num_layers, loaded.info.num_heads)
    assert positions.shape == (loaded.info.num_layers, b.num_tokens)
    base = by_hand(loaded, b, b, token_id, 0, 0)  # B's own state: no change
    for layer, position in [(0, 2), (1, 2), (1, b.mask_positions[0])]:
        expected = by_hand(loaded, a, b, token_id, layer, position) - base
        np.testing.assert_allclose(positions[layer, position], expected, atol=1e-4)
    # where A and B share the token and everything before it at layer 0, nothing changes
    assert abs(positions[0, 0]) < 1e-5
    assert np.abs(positions).max() > 1e-4  # the differing word moves something


def test_inputs_of_different_lengths_get_a_message(app_env):
    at = run_compare(text_a="The man worked as a <mask>.",
                     text_b="The tall young man worked as a <mask>.", patching_run=True)
    assert not at.exception, at.exception
    assert any("same length" in info.value for info in at.info)
    assert not [c for c in at.get("plotly_chart") if "patching" in c.proto.id]


def test_patching_an_input_with_itself_reads_as_no_effect(app_env):
    """The null: A = B, so no component of A can move B's prediction."""
    at = run_compare(text_a=TEXT_B, text_b=TEXT_B, patching_run=True)
    assert not at.exception, at.exception
    np.testing.assert_allclose(array(chart(at, "patching_heads")["data"][0]["z"]), 0, atol=1e-5)
    np.testing.assert_allclose(array(chart(at, "patching_positions")["data"][0]["z"]), 0,
                               atol=1e-5)
