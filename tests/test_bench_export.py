"""The export benchmark runs at a tiny size, so the script cannot rot."""

from __future__ import annotations

from bench.export_bench import main


def test_export_bench_runs_small():
    lines = main(layers=2, hidden=32, heads=4, max_tokens=64, sizes=(3, 80))
    assert lines[0].endswith("(baseline)")
    assert any(line.strip().startswith("npz:") for line in lines)
    assert any(line.strip().startswith("json:") for line in lines)
