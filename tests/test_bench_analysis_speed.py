"""Smoke test: the analysis-speed benchmark's functions run on the tiny model, and what it times
side by side is the same work (the analysis's tables equal the fill-mask pipeline's)."""

from __future__ import annotations

import importlib.util

import numpy as np

from tests.conftest import ROOT


def _bench():
    spec = importlib.util.spec_from_file_location("analysis_speed",
                                                  ROOT / "bench" / "analysis_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_timed_steps_compute_what_they_claim(tiny):
    bench = _bench()
    text = bench.text_with_tokens(tiny, 16)
    assert len(tiny.tokenizer(text)["input_ids"]) == 16 and "<mask>" in text
    steps = bench.make_steps(tiny, text)
    assert set(steps) == set(bench.NAMES)
    analysis, pipeline_rows = steps["analysis"](), steps["pipeline"]()
    ours = analysis.predictions[0].predictions[:5]
    assert [p.token_id for p in ours] == [row["token"] for row in pipeline_rows]
    np.testing.assert_allclose([p.score for p in ours], [row["score"] for row in pipeline_rows],
                               rtol=1e-5)
    logits = steps["bare"]().logits[0]  # the whole model: LM head at every token
    tooltips = steps["tooltips"]()
    assert len(tooltips) == 16
    np.testing.assert_allclose([row[0][1] for row in tooltips],
                               logits.softmax(-1).max(-1).values.numpy(), rtol=1e-5)
    lens = steps["lens"]()
    assert lens.top_ids[-1, 0] == ours[0].token_id


def test_benchmark_prints_the_ratio_to_the_pipeline(tiny, capsys):
    bench = _bench()
    rows = bench.report(tiny, [16, 24], repeats=2)
    assert [row["tokens"] for row in rows] == [16, 24]
    printed = capsys.readouterr().out
    assert "analysis÷pipeline" in printed
    for row in rows:
        assert all(row[name] > 0 for name in bench.NAMES)
        assert f"{row['ratio']:.2f}" in printed
