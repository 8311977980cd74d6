"""The attention view's file and its tooltip predictions go through the job limiter (issue 25):
with the one-pass lane full they wait their turn, their cost is checked before they start, and
what they make equals the Hugging Face model's own top-k at every token."""

from __future__ import annotations

import threading
import time

import pytest
import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer

from explorer.analysis import analyze
from explorer.cost import MAX_JOB_ENV_VAR
from explorer.graph import read_graph_file
from explorer.jobs import BATCH, MAX_PASS_JOBS_ENV_VAR, PASS, limiter, reset_limiters
from ui.cache import analysis_cache, cached_token_predictions
from ui.graph_state import _graph_file
from ui.jobs import JobRefused
from ui.keys import cache_key

TEXT = "The cat sat on the <mask> near the old river bank."
TOOLTIP_K = 5
WAIT_S = 30.0


def _until(condition, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


@pytest.fixture()
def one_pass_worker(monkeypatch):
    """A fresh cache and a one-pass lane of a single worker."""
    monkeypatch.setenv(MAX_PASS_JOBS_ENV_VAR, "1")
    reset_limiters()
    analysis_cache().clear()
    yield limiter(PASS)
    analysis_cache().clear()
    reset_limiters()


def _reference_top_k(model_dir, text: str, k: int) -> list[list[tuple[str, float]]]:
    """Top-k (decoded token, probability) at every position, from the plain Hugging Face
    masked-LM model (not the explorer's loader or LM head)."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForMaskedLM.from_pretrained(model_dir).eval()
    encoded = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        probabilities = model(**encoded).logits[0].softmax(-1)
    values, indices = probabilities.topk(k, dim=-1)
    return [[(tokenizer.decode([int(i)]), float(p)) for p, i in zip(row_p, row_i)]
            for row_p, row_i in zip(values, indices)]


def _waits_behind_another_visitor(lane, call) -> dict[str, object]:
    """Run ``call()`` in a thread while another visitor's job holds ``lane``'s only worker;
    check it waits in the queue until that job ends, then return ``{"value"|"error": …}``."""
    started, gate = threading.Event(), threading.Event()

    def another_visitors_job(progress):
        started.set()
        gate.wait(WAIT_S)
        return "done"

    blocker = lane.submit(("analysis", "another visitor"), another_visitors_job)
    box: dict[str, object] = {}

    def waiting_call():
        try:
            box["value"] = call()
        except BaseException as error:  # reported by the caller
            box["error"] = error

    try:
        _until(started.is_set)
        caller = threading.Thread(target=waiting_call, daemon=True)
        caller.start()
        _until(lambda: lane.queued() == 1)  # it waits behind the other visitor's job
        assert caller.is_alive() and not box
        assert lane.running() == 1
        box["held while waiting"] = set(analysis_cache().held_keys())
        gate.set()
        caller.join(WAIT_S)
    finally:
        gate.set()
        lane.leave(blocker)
    return box


def test_the_attention_view_waits_for_a_full_pass_lane(tiny, tiny_model_dir, one_pass_worker):
    lane = one_pass_worker
    analysis = analyze(tiny, TEXT, top_k=10)
    box = _waits_behind_another_visitor(lane, lambda: _graph_file(tiny, analysis, TOOLTIP_K))
    # the tooltip predictions waited behind the other visitor's job, not yet computed
    assert cache_key("token_predictions", tiny, analysis) not in box["held while waiting"]
    assert "error" not in box, box.get("error")
    assert lane.started == 3  # the blocker, then the predictions, then the file: one at a time
    blob, _ = box["value"]
    header, _ = read_graph_file(blob)
    expected = _reference_top_k(tiny_model_dir, TEXT, TOOLTIP_K)
    assert len(header["tokens"]) == len(expected) == analysis.num_tokens
    for token, reference in zip(header["tokens"], expected):
        assert [text for text, _ in token["p"]] == [text for text, _ in reference]
        assert [p for _, p in token["p"]] == pytest.approx([p for _, p in reference], abs=2e-4)
    # kept in the one cache: asking again computes nothing
    assert _graph_file(tiny, analysis, TOOLTIP_K)[0] is blob and lane.started == 3


def test_their_cost_is_checked_before_they_start(tiny, one_pass_worker, monkeypatch):
    lane = one_pass_worker
    analysis = analyze(tiny, TEXT, top_k=10)
    monkeypatch.setenv(MAX_JOB_ENV_VAR, str(analysis.num_tokens - 1))
    with pytest.raises(JobRefused, match="tooltip predictions would cost"):
        _graph_file(tiny, analysis, TOOLTIP_K)
    assert lane.started == 0 and not analysis_cache().held_keys()
    monkeypatch.setenv(MAX_JOB_ENV_VAR, str(analysis.num_tokens))  # exactly at the limit: runs
    predictions = cached_token_predictions(tiny, analysis, TOOLTIP_K)
    assert lane.started == 1 and len(predictions) == analysis.num_tokens
    monkeypatch.setenv(MAX_JOB_ENV_VAR, str(analysis.num_tokens - 1))
    with pytest.raises(JobRefused, match=f"attention view would cost {analysis.num_tokens:,}"):
        _graph_file(tiny, analysis, TOOLTIP_K)
    assert lane.started == 1  # the predictions were held; the file never started


def test_value_norms_wait_for_a_full_batch_lane_and_are_refused_over_the_limit(
        tiny, monkeypatch, request):
    """Value-weighted attention (5.6 CPU s at 512 tokens) ran in each visitor's own thread; now
    it waits its turn in the batch lane (not ahead of anyone's first table in the one-pass
    lane) and its cost is checked first. Its maths is tested
    against a direct computation in test_attribution.py; here, that what comes back is it."""
    from explorer.attribution import value_weighted_attention
    from ui.attribution_view import cached_value_norms

    monkeypatch.setenv("EXPLORER_MAX_JOBS", "1")
    reset_limiters()
    analysis_cache().clear()
    request.addfinalizer(reset_limiters)
    request.addfinalizer(analysis_cache().clear)
    lane = limiter(BATCH)
    analysis = analyze(tiny, TEXT, top_k=10)
    monkeypatch.setenv(MAX_JOB_ENV_VAR, str(analysis.num_tokens - 1))
    with pytest.raises(JobRefused, match="value norms would cost"):
        cached_value_norms(tiny, analysis)
    assert lane.started == 0
    monkeypatch.delenv(MAX_JOB_ENV_VAR)
    box = _waits_behind_another_visitor(lane, lambda: cached_value_norms(tiny, analysis))
    assert "error" not in box, box.get("error")
    assert lane.started == 2
    weighted = box["value"][0]
    direct = value_weighted_attention(tiny, analysis.attentions, analysis.hidden_states)
    assert weighted.shape == (analysis.num_layers, analysis.num_heads, analysis.num_tokens,
                              analysis.num_tokens)
    assert weighted == pytest.approx(direct)
