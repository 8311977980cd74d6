"""The attribution cost benchmark still runs (tiny model, short input), so it cannot rot."""

from __future__ import annotations

from bench.attribution_cost import measure


def test_attribution_benchmark_runs_small(tiny, capsys):
    result = measure(tiny, tokens=20, steps=4, batch_sizes=[2, 4], repeats=1)
    assert result["tokens"] == 20
    assert result["IG b=2"] > 0 and result["grad×input"] > 0 and result["value norms"] > 0
    assert "completeness error" in capsys.readouterr().out
