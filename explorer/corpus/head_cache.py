"""Corpus-wide head statistics (:mod:`explorer.head_patterns`) of one model over one corpus,
computed once and kept in the disk cache beside the corpus indices (no Streamlit).

An entry is a folder named by :func:`patterns_key` (model fingerprint, corpus digest) under
:func:`~explorer.corpus.disk_cache.cache_dir`, holding ``patterns.npz`` and ``meta.json``; it
is an entry like an index's (LRU by ``meta.json``'s time, same size bound
``$EXPLORER_CORPUS_CACHE_MB``, evicted by :func:`~explorer.corpus.disk_cache.evict`).
Sentences are cleaned and tokenised as the Explorer and the corpus index read them
(:func:`~explorer.corpus.encoding.tokenize`), so "token i" means the same everywhere.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

from explorer.corpus.disk_cache import (
    FORMAT_VERSION,
    cache_dir,
    evict,
    mark_used,
    model_fingerprint,
    read_entry,
    read_meta,
    write_entry,
    write_meta,
)
from explorer.corpus.encoding import ProgressCallback, tokenize
from explorer.corpus.limits import MIB, disk_cache_bytes
from explorer.corpus.reading import Corpus
from explorer.head_patterns import HeadPatterns, patterns_of_ids
from explorer.model import Loaded

PATTERNS_FORMAT = 1  # bump when the statistics or their storage change


@dataclass(frozen=True)
class CorpusHeadPatterns:
    """The statistics of one model over one corpus, and how they were obtained."""

    patterns: HeadPatterns
    model_name: str
    corpus_name: str
    truncated_sentences: int  # lines longer than the model reads, cut
    seconds: float  # computing time (0 when loaded from the cache)
    from_cache: bool = False
    notes: tuple[str, ...] = ()

    def memory_bytes(self) -> int:
        """Bytes held, for the one memory budget."""
        return self.patterns.memory_bytes() + 200 + sum(len(n) for n in self.notes)


def patterns_key(loaded: Loaded, corpus: Corpus) -> str:
    """The cache folder's name: 32 hex digits, like an index's (so eviction sees it)."""
    parts = {"format": FORMAT_VERSION, "kind": "head patterns", "patterns": PATTERNS_FORMAT,
             "model": model_fingerprint(loaded), "corpus": corpus.digest}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()[:32]


def patterns_folder(loaded: Loaded, corpus: Corpus, root: Path | None = None) -> Path:
    return (root or cache_dir()) / patterns_key(loaded, corpus)


def save_patterns(result: CorpusHeadPatterns, folder: Path) -> None:
    """Write ``result`` into ``folder`` atomically (a temp folder renamed at the end)."""

    def write(temporary: Path) -> None:
        result.patterns.save(temporary / "patterns.npz")
        write_meta(temporary, {
            "format": PATTERNS_FORMAT, "kind": "head patterns",
            "model_name": result.model_name, "corpus_name": result.corpus_name,
            "truncated_sentences": result.truncated_sentences, "seconds": result.seconds,
            "notes": list(result.notes)})

    write_entry(folder, write)


def load_patterns(folder: Path) -> CorpusHeadPatterns:
    """Read what :func:`save_patterns` wrote."""
    meta = read_meta(folder, PATTERNS_FORMAT, "head patterns")
    return CorpusHeadPatterns(
        patterns=HeadPatterns.load(folder / "patterns.npz"),
        model_name=str(meta["model_name"]),
        corpus_name=str(meta["corpus_name"]),
        truncated_sentences=int(meta["truncated_sentences"]),
        seconds=float(meta["seconds"]),
        from_cache=True,
        notes=tuple(str(n) for n in meta["notes"]),
    )


def load_cached_patterns(loaded: Loaded, corpus: Corpus,
                         root: Path | None = None) -> CorpusHeadPatterns | None:
    """The cached statistics (now marked as used), or ``None`` when there are none or they
    cannot be read."""
    result = read_entry(patterns_folder(loaded, corpus, root), load_patterns)
    # the file name is the one of this upload (the digest covers only the sentences)
    return None if result is None else replace(result, corpus_name=corpus.name)


def compute_patterns(loaded: Loaded, corpus: Corpus,
                     progress: ProgressCallback | None = None) -> CorpusHeadPatterns:
    """Run the model over every line of ``corpus`` (batches; ``progress(done, total)`` after
    each) and average each head's statistics."""
    started = time.perf_counter()
    id_lists, cut = tokenize(loaded, corpus.sentences)
    patterns = patterns_of_ids(loaded, id_lists, progress=progress)
    notes = list(corpus.notes)
    if cut:
        notes.append(f"{cut} line(s) were longer than {loaded.info.max_tokens} tokens and "
                     "were cut.")
    return CorpusHeadPatterns(
        patterns=patterns, model_name=loaded.info.name, corpus_name=corpus.name,
        truncated_sentences=cut, seconds=time.perf_counter() - started, notes=tuple(notes))


def patterns_or_compute(loaded: Loaded, corpus: Corpus,
                        progress: ProgressCallback | None = None,
                        root: Path | None = None) -> CorpusHeadPatterns:
    """The statistics from the disk cache, or computed now and saved there (then the cache
    is held to its size, least recently used entries first)."""
    cached = load_cached_patterns(loaded, corpus, root)
    if cached is not None:
        return cached
    result = compute_patterns(loaded, corpus, progress)
    folder = patterns_folder(loaded, corpus, root)
    limit = disk_cache_bytes()
    try:
        save_patterns(result, folder)
        mark_used(folder)
        if folder in evict(root, limit):
            result = replace(result, notes=(*result.notes, "The statistics are larger than "
                             f"the disk cache ({limit / MIB:,.0f} MiB), so they were not kept "
                             "on disk."))
    except OSError:  # a read-only or full disk costs a new computation next time, nothing more
        result = replace(result, notes=(*result.notes, "The statistics could not be saved in "
                         "the disk cache; they will be computed again next time."))
    return result
