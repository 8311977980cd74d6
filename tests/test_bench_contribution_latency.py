"""The contribution graph's latency benchmark runs end to end on the tiny model (so it cannot
rot), and what it measures holds: every control redraws with no page run, the figures are real
times, and the CPU profile names functions."""

from __future__ import annotations

from bench.contribution_latency import CONTROLS, p95, report, run


def test_contribution_latency_benchmark_runs_small():
    rows, hot = run(tokens=30, repeats=2, tiny=True, profile="threshold")
    assert [row.control for row in rows] == list(CONTROLS)
    for row in rows:
        assert row.tokens == 30 and row.repeats == 2
        assert 0 < row.median_ms <= row.p95_ms and row.longest_task_ms >= 0
        assert row.page_runs == 0, row  # answered in the browser (a fragment run at most)
    assert hot and all(ms >= 0 for _, ms in hot) and any("@" in where for where, _ in hot)
    table = report(rows, hot, "threshold")
    assert "| threshold |" in table and "| edge click |" in table and "CPU profile" in table


def test_p95_is_the_inclusive_95th_percentile():
    values = [float(v) for v in range(1, 21)]  # 1 … 20: the 95th percentile lies at 19.05
    assert abs(p95(values) - 19.05) < 1e-9
    assert p95([7.0]) == 7.0
