"""The payload benchmark still runs (tiny shape, short input), so the script cannot rot."""

from __future__ import annotations

from bench.attention_payload import build_model, measure, text_of_length


def test_payload_benchmark_runs_small(tmp_path):
    loaded = build_model(tmp_path, max_tokens=64, small=True)
    assert len(loaded.tokenizer(text_of_length(loaded, 24))["input_ids"]) == 24
    row = measure(loaded, 24)
    assert row.tokens == 24 and row.edges > 0
    assert 0 < row.ours_bytes < row.bertviz_bytes  # one layer, pruned vs. every layer and head
