"""Smoke test: bench/contributions_cost.py at a tiny size, so the script cannot rot."""

from __future__ import annotations

import numpy as np

from bench.contributions_cost import PeakRss, report, run


def test_peak_rss_sees_a_transient_allocation():
    with PeakRss() as rss:
        block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched, then freed
        del block
    assert rss.rise_mib > 32


def test_contributions_bench_runs_at_a_tiny_size(tiny):
    figures = run(tiny, tokens=16, repeats=1)
    assert figures["tokens"][0] == 16
    assert {"analysis", "contributions", "attention block only",
            "head maps, one layer"} <= set(figures)
    assert all(seconds > 0 for name, (seconds, _) in figures.items() if name != "tokens")
    text = report(figures)
    assert text.startswith("16 tokens") and "| contributions |" in text


def test_the_graphs_cost_follows_the_measured_ratios(monkeypatch):
    from explorer.cost import PUBLIC_MAX_JOB, contribution_cost

    monkeypatch.setenv("EXPLORER_PUBLIC", "1")
    monkeypatch.delenv("EXPLORER_MAX_JOB_TOKEN_PASSES", raising=False)
    through, attention_only = contribution_cost(512, True), contribution_cost(512, False)
    assert (through.passes, attention_only.passes) == (256, 43)
    assert through.token_passes > PUBLIC_MAX_JOB >= attention_only.token_passes
    assert "token-passes" in through.problem() and not attention_only.problem()
    assert contribution_cost(1, True).passes == 1
