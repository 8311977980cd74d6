"""Issue 12 item 2: corpus uploads cannot exhaust the server (tiny model, small settings)."""

from __future__ import annotations

import gc
import time

import faiss
import numpy as np
import pytest

from explorer.corpus import (
    DISK_CACHE_ENV_VAR,
    MAX_TOKENS_ENV_VAR,
    IndexSettings,
    build_index,
    build_or_load,
    bundled_corpus,
    cache_entries,
    cached_index_folder,
    count_tokens,
    disk_bytes,
    estimated_index_bytes,
    read_corpus,
    size_problem,
)
from explorer.lru import BoundedCache
from ui.cache import cache_entry_nbytes

SENTENCES = [
    "We sat on the bank of the river.",
    "She went to the bank to get money.",
    "The cat sat on the mat.",
    "A bat flew out of the barn at night.",
    "He picked up the bat and hit the ball.",
    "In spring the garden is full of flowers.",
]


def corpus_of(*lines: str, name: str = "upload.txt"):
    return read_corpus("\n".join(lines).encode(), name=name)


def test_uploads_are_bounded_by_tokens_not_bytes(tiny, monkeypatch):
    corpus = corpus_of(*SENTENCES)
    expected = sum(len(tiny.tokenizer(s)["input_ids"]) - 2 for s in SENTENCES)
    assert count_tokens(tiny, corpus) == expected
    monkeypatch.setenv(MAX_TOKENS_ENV_VAR, str(expected - 1))
    problem = size_problem(expected, 0, bundled=False)
    assert f"{expected:,} tokens" in problem and f"at most {expected - 1:,} tokens" in problem
    monkeypatch.setenv(MAX_TOKENS_ENV_VAR, str(expected))
    assert size_problem(expected, 0, bundled=False) == ""
    # The bundled corpus comes with the app: only the memory bound applies to it.
    monkeypatch.setenv(MAX_TOKENS_ENV_VAR, "10")
    assert size_problem(expected, 0, bundled=True) == ""
    assert bundled_corpus().bundled and not corpus.bundled


@pytest.mark.parametrize("storage,heads", [("flat", True), ("fp16", False), ("sq8", True)])
def test_index_memory_estimate_is_what_the_index_holds(tiny, storage, heads):
    corpus = corpus_of(*SENTENCES)
    settings = IndexSettings(storage=storage, heads=heads)
    index = build_index(tiny, corpus, settings)
    info = tiny.info
    tokens = count_tokens(tiny, corpus)
    vectors = (info.num_layers + 1 + (info.num_layers if heads else 0)) * tokens
    value_bytes = {"flat": 4, "fp16": 2, "sq8": 1}[storage]
    assert index.num_tokens == tokens
    assert index.vector_bytes() == vectors * info.hidden_size * value_bytes
    assert index.memory_bytes() > index.vector_bytes()
    estimate = estimated_index_bytes(info, tokens, settings)
    assert index.vector_bytes() < estimate
    assert 0.5 < estimate / index.memory_bytes() < 2
    problem = size_problem(tokens, estimate, bundled=True, max_index_bytes=estimate - 1)
    assert "would take" in problem and "8-bit" in problem


def test_all_indices_in_memory_stay_within_one_budget(tiny):
    """Indices share the analyses' byte-bounded cache: together they never pass its budget."""
    indices = [build_index(tiny, corpus_of(*SENTENCES[i:i + 3]), IndexSettings(storage="flat"))
               for i in range(3)]
    sizes = [cache_entry_nbytes(index) for index in indices]
    assert sizes == [index.memory_bytes() for index in indices]
    budget = sizes[1] + sizes[2] + 10
    cache: BoundedCache = BoundedCache(budget, cache_entry_nbytes)
    for number, index in enumerate(indices):
        assert cache.get(("corpus-index", number), lambda index=index: index) is index
        assert cache.total_bytes <= budget
    assert ("corpus-index", 0) not in cache  # least recently used went first
    assert ("corpus-index", 1) in cache and ("corpus-index", 2) in cache


def test_disk_cache_is_bounded_least_recently_used_first(tiny, tmp_path, monkeypatch):
    settings = IndexSettings(storage="fp16")
    corpora = [corpus_of(*SENTENCES[i:i + 2]) for i in (0, 2, 4)]
    # Each entry's size, measured once with no bound in force.
    monkeypatch.setenv(DISK_CACHE_ENV_VAR, "1000")
    sizes = []
    for corpus in corpora:
        build_or_load(tiny, corpus, settings, root=tmp_path / "measure")
        sizes.append(disk_bytes(cached_index_folder(tiny, corpus, settings,
                                                    tmp_path / "measure")))
    root = tmp_path / "cache"
    limit = sizes[0] + sizes[2] + max(sizes) // 4  # room for two entries, not three
    monkeypatch.setenv(DISK_CACHE_ENV_VAR, str(limit / 2**20))
    first, second, third = (cached_index_folder(tiny, c, settings, root) for c in corpora)
    build_or_load(tiny, corpora[0], settings, root=root)
    build_or_load(tiny, corpora[1], settings, root=root)
    assert first.is_dir() and second.is_dir()
    assert build_or_load(tiny, corpora[0], settings, root=root).from_cache  # first used again
    build_or_load(tiny, corpora[2], settings, root=root)
    assert first.is_dir() and third.is_dir() and not second.exists()
    assert sum(size for _, size, _ in cache_entries(root)) <= limit
    # An index larger than the whole disk cache is used but not kept, with a note.
    monkeypatch.setenv(DISK_CACHE_ENV_VAR, str(min(sizes) / 2 / 2**20))
    index = build_or_load(tiny, corpora[1], settings, root=tmp_path / "small")
    assert not cache_entries(tmp_path / "small")
    assert any("not kept on disk" in note for note in index.notes)


class Stop(Exception):
    """What Streamlit raises in a progress update when the tab was closed."""


def live_faiss_indices() -> int:
    gc.collect()
    return sum(isinstance(o, faiss.Index) for o in gc.get_objects())


def test_an_abandoned_build_keeps_nothing(tiny, tmp_path):
    corpus = corpus_of(*SENTENCES * 4)
    before = live_faiss_indices()

    def stop_after_first_batch(done: int, total: int) -> None:
        if done > 0:
            raise Stop

    with pytest.raises(Stop) as raised:
        build_or_load(tiny, corpus, IndexSettings(batch_tokens=40), stop_after_first_batch,
                      root=tmp_path)
    # Even while the error (and its traceback's frames) is alive, no partial index is held.
    assert raised.value.__traceback__ is not None
    assert live_faiss_indices() == before
    assert not cache_entries(tmp_path) and not any(tmp_path.iterdir())


def test_an_abandoned_page_build_frees_its_job_slot(tiny, tmp_path, monkeypatch):
    from explorer.corpus import CACHE_ENV_VAR
    from explorer.jobs import limiter
    from ui.cache import analysis_cache
    from ui.corpus_cache import build_and_keep, cached_index

    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path))
    analysis_cache.clear()
    corpus, settings = corpus_of(*SENTENCES), IndexSettings(batch_tokens=40)

    def closed_tab(done: int = 0, total: int = 0) -> None:
        raise Stop  # the tab was closed: Streamlit raises at the first update of the page

    with pytest.raises(Stop):
        build_and_keep(tiny, corpus, settings, closed_tab, closed_tab)
    deadline = time.monotonic() + 30
    while limiter().running() or limiter().queued():  # stopped at its next batch
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert cached_index(tiny, corpus, settings) is None  # nothing kept in memory or on disk
    index = build_and_keep(tiny, corpus, settings, lambda d, t: None, lambda ahead: None)
    assert cached_index(tiny, corpus, settings) is index
    assert np.all(index.positions > 0)
