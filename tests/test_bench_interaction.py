"""The interaction benchmark's core runs end to end on the tiny model (so it cannot rot), and
what it measures holds: controls redraw with no page run, and the figures are real times."""

from __future__ import annotations

from bench.interaction_latency import report, run


def test_interaction_benchmark_runs_small():
    rows, extra = run(lengths=(20,), controls=("layer", "threshold", "hover", "click-to-freeze"),
                      repeats=1, tiny=True)
    assert [row.control for row in rows] == ["layer", "threshold", "hover", "click-to-freeze"]
    for row in rows:
        assert row.tokens == 20 and row.median_ms > 0 and row.longest_task_ms >= 0
        assert row.page_runs == 0, row  # answered in the browser (a fragment at most)
    ours, theirs = extra["timings"][20]
    assert ours > 0 and theirs > 0 and extra["file_bytes"][20] > 0
    table = report(rows, extra)
    assert "| layer |" in table and "ratio" in table
