"""The shared analysis cache: bounded in bytes, LRU, safe when many sessions use it at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from explorer.analysis import InputError, analyze
from explorer.lru import BoundedCache
from explorer.memory import analysis_nbytes, rss_bytes


def test_evicts_least_recently_used_when_over_the_byte_budget():
    cache: BoundedCache[bytes] = BoundedCache(max_bytes=100, size_of=len)
    for key in "abc":
        cache.get(key, lambda: b"x" * 40)  # 3 × 40 > 100: "a" goes
    assert "a" not in cache and "b" in cache and "c" in cache
    assert cache.total_bytes == 80
    cache.get("b", lambda: pytest.fail("b is cached"))  # touch b: c is now the oldest
    cache.get("d", lambda: b"y" * 40)
    assert "c" not in cache and "b" in cache and "d" in cache
    assert cache.hits == 1 and cache.misses == 4


def test_entry_count_is_bounded_too_and_oversized_values_are_not_kept():
    cache: BoundedCache[bytes] = BoundedCache(max_bytes=10_000, size_of=len, max_entries=3)
    for key in range(10):
        cache.get(key, lambda: b"z")
    assert len(cache) == 3
    big = cache.get("big", lambda: b"q" * 20_000)
    assert len(big) == 20_000 and "big" not in cache


def test_failed_computations_are_not_cached():
    cache: BoundedCache[int] = BoundedCache(max_bytes=100, size_of=lambda v: 1)
    with pytest.raises(ValueError):
        cache.get("k", lambda: (_ for _ in ()).throw(ValueError("bad")))
    assert "k" not in cache and cache.get("k", lambda: 7) == 7


def test_analysis_nbytes_counts_arrays_and_strings(tiny):
    analysis = analyze(tiny, "The cat sat on the <mask>.", top_k=50)
    arrays = analysis.attentions.nbytes + analysis.hidden_states.nbytes
    size = analysis_nbytes(analysis)
    sequences = sum(len(p.sequence) for p in analysis.predictions[0].predictions)
    assert size >= arrays + analysis.token_ids.nbytes + sequences
    assert size < 2 * (arrays + sequences) + 50_000


def test_rss_is_read_from_proc():
    before = rss_bytes()
    block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
    grown = rss_bytes() - before
    assert 48 * 2**20 < grown < 128 * 2**20
    del block


def test_many_threads_share_one_model_and_one_cache(tiny):
    """16 sessions at once, 8 different texts: every one gets its own text's analysis."""
    texts = [f"Session {n} says the cat sat on the <mask>." for n in range(8)]
    expected = {t: analyze(tiny, t, top_k=50) for t in texts}
    one = analysis_nbytes(expected[texts[0]])
    cache = BoundedCache(max_bytes=4 * one, size_of=analysis_nbytes)  # room for ~4 of 8
    start = threading.Barrier(16)

    def session(index: int) -> tuple[str, object]:
        text = texts[index % len(texts)]
        start.wait(timeout=30)
        results = [cache.get((tiny.info.name, text), lambda: analyze(tiny, text, top_k=50))
                   for _ in range(3)]
        return text, results

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(session, range(16), timeout=120))
    for text, results in outcomes:
        want = expected[text]
        for got in results:
            assert got.text == text
            assert [p.sequence for p in got.predictions[0].predictions] == \
                [p.sequence for p in want.predictions[0].predictions]
            np.testing.assert_allclose(got.attentions, want.attentions, atol=1e-6)
    assert cache.total_bytes <= 4 * one and len(cache) <= 4


def test_bad_text_in_the_cache_raises_each_time(tiny):
    cache = BoundedCache(max_bytes=2**20, size_of=analysis_nbytes)
    for _ in range(2):
        with pytest.raises(InputError):
            cache.get("empty", lambda: analyze(tiny, "   "))
    assert len(cache) == 0
