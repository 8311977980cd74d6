"""Smoke test: the corpus-search benchmark runs at a tiny size and prints its figures."""

from __future__ import annotations

import re

from bench.corpus_search import main, synthetic_corpus
from explorer.corpus import tokenize


def test_synthetic_corpus_reaches_the_token_count(tiny):
    corpus = synthetic_corpus(tiny, 2_000, seed=3)
    ids, _ = tokenize(tiny, corpus.sentences)
    assert sum(len(row) - 2 for row in ids) >= 2_000
    assert len(set(corpus.sentences)) == len(corpus.sentences)


def test_benchmark_prints_throughput_size_recall_and_latency(capsys):
    main(["--tokens", "1500", "--queries", "20", "--layers", "2", "--hidden", "32",
          "--heads", "4", "--no-bundled"])
    out = capsys.readouterr().out
    assert re.search(r"indexed .* [\d,]+ tokens/s", out)
    assert "bytes per token, all layers and heads: flat 640, fp16 320, sq8 160" in out
    assert "(measured fp16: 320)" in out
    rows = re.findall(r"^(flat|fp16|sq8)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)",
                      out, flags=re.M)
    assert [r[0] for r in rows] == ["flat", "fp16", "sq8"] * 2
    assert [int(r[1]) for r in rows[:3]] == [128, 64, 32]
    assert all(0.0 <= float(r[3]) <= 1.0 and 0.0 <= float(r[4]) <= 1.0 for r in rows)
    # recall is measured against a brute-force numpy search: faiss's exact index finds the
    # same top-k similarities (row ids may differ among tied vectors), the 8-bit one may not
    assert float(rows[0][4]) == 1.0 and float(rows[3][4]) == 1.0
