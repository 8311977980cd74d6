"""Smoke test: bench/memory.py's functions at a tiny size, so the script cannot rot."""

from __future__ import annotations

from bench.memory import report, run, text_of_tokens


def test_texts_have_the_asked_token_count(tiny):
    texts = [text_of_tokens(tiny.tokenizer, 40, seed) for seed in range(3)]
    assert len(set(texts)) == 3
    for text in texts:
        assert len(tiny.tokenizer(text)["input_ids"]) == 40
        assert text.count("<mask>") == 1


def test_memory_bench_runs_at_a_tiny_size():
    figures = run(analyses=3, tokens=16, layers=2, hidden=32, heads=4, max_tokens=64, vocab=0)
    assert figures["tokens_min"] == figures["tokens_max"] == 16
    assert figures["cached_entries"] == 3
    assert figures["after_load_mib"] >= figures["baseline_mib"] > 50
    # 2 layers × 4 heads × 16² float32 attentions alone are 8 KiB per entry
    assert figures["entry_mib"] * 2**20 > 2 * 4 * 16 * 16 * 4
    assert figures["entry_at_max_tokens_mib"] > figures["entry_mib"]
    text = report(figures)
    assert "RSS after 3 cached analyses" in text and "per entry" in text


def test_app_memory_bench_runs_at_a_tiny_size():
    from bench.app_memory import report as app_report
    from bench.app_memory import run as app_run

    figures = app_run(analyses=2, tokens=16, layers=2, hidden=32, heads=4, max_tokens=64,
                      vocab=0)
    assert figures["after_load_mib"] > figures["started_mib"]  # torch and the model arrived
    assert figures["after_analyses_mib"] > figures["started_mib"]
    assert "after 2 analyses of 16 tokens" in app_report(figures)
