"""Smoke test: the analysis-speed benchmark's functions run on the tiny model."""

from __future__ import annotations

import importlib.util

from tests.conftest import ROOT


def _bench():
    spec = importlib.util.spec_from_file_location("analysis_speed",
                                                  ROOT / "bench" / "analysis_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_runs_at_a_tiny_size(tiny, capsys):
    bench = _bench()
    text = bench.text_with_tokens(tiny, 16)
    assert len(tiny.tokenizer(text)["input_ids"]) == 16 and "<mask>" in text
    rows = bench.report(tiny, [16, 24], repeats=2)
    assert [row["tokens"] for row in rows] == [16, 24]
    for row in rows:
        assert row["bare"] > 0 and row["analysis"] > 0 and row["lens"] > 0
        assert row["ratio"] == row["analysis"] / row["bare"]
    printed = capsys.readouterr().out
    assert "ratio" in printed and "lens ms" in printed
