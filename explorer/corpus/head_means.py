"""Each head's mean output over a corpus, for mean-ablation against the corpus (no Streamlit).

Mean-ablation with the text's own mean (:mod:`explorer.ablation`, ``mode="mean"``) keeps what a
head writes at every position of *this* text; a short text's mean is mostly that text. The
corpus mean is what the head writes on average over ordinary sentences: the bundled corpus's
first lines within :data:`MEAN_TOKEN_BUDGET` tokens, each line read alone as the Explorer reads
it (:func:`~explorer.corpus.encoding.tokenize`: special tokens included, cut to the model's
limit), every token of every line counted once (padding not).

``means[layer, head * head_size + i]`` is the mean of the input of ``layer``'s attention output
projection, i.e. of the concatenated head contexts (a head's output before ``W_O``): the value
``mode="corpus"`` puts in the ablated head's columns.

Computed once per model weights (fingerprint) and corpus (digest) and token budget, kept in the
disk cache beside the corpus indices and head statistics (:mod:`explorer.corpus.disk_cache`:
same size bound, same LRU eviction): a folder with ``means.npy`` and ``meta.json``.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

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
from explorer.corpus.encoding import ProgressCallback, _batches, forward_batch, tokenize
from explorer.corpus.limits import disk_cache_bytes
from explorer.corpus.reading import Corpus, CorpusError
from explorer.model import Loaded

MEAN_TOKEN_BUDGET = 16_384
"""Tokens of corpus lines averaged over: the first lines whose tokens add up to at most this
(the whole bundled corpus for English models: 657 lines, 9 131 MiniLM tokens)."""
MEANS_FORMAT = 1  # bump when the means or their storage change
_BATCH_TOKENS = 2_048


@dataclass(frozen=True)
class CorpusHeadMeans:
    """``means[layer, hidden]``: each layer's mean concatenated head context over the corpus."""

    means: np.ndarray
    model_name: str
    corpus_name: str
    lines: int  # corpus lines averaged over (the first ones)
    tokens: int  # tokens averaged over (special tokens included)
    token_budget: int
    seconds: float  # computing time (0 when read from the disk cache)
    from_cache: bool = False

    def memory_bytes(self) -> int:
        """Bytes held, for the one memory budget."""
        return int(self.means.nbytes) + 200 + len(self.model_name) + len(self.corpus_name)

    def describe(self) -> str:
        return (f"the mean over {self.tokens:,} tokens of the first {self.lines:,} lines of the "
                f"{self.corpus_name} (token budget {self.token_budget:,})")


def first_lines(loaded: Loaded, corpus: Corpus, token_budget: int) -> list[list[int]]:
    """Token ids of the corpus's first lines whose tokens add up to at most ``token_budget``
    (at least one line); lines are tokenised one by one, only as far as the budget reaches."""
    id_lists: list[list[int]] = []
    total = 0
    for sentence in corpus.sentences:
        (ids,), _cut = tokenize(loaded, [sentence])
        if not ids:
            continue
        if id_lists and total + len(ids) > token_budget:
            break
        id_lists.append(ids)
        total += len(ids)
    return id_lists


def compute_head_means(loaded: Loaded, corpus: Corpus, progress: ProgressCallback | None = None,
                       token_budget: int = MEAN_TOKEN_BUDGET) -> CorpusHeadMeans:
    """Run the model over the corpus's first lines within ``token_budget`` tokens (padded
    batches; ``progress(lines_done, lines_total)`` after each) and average every layer's
    concatenated head contexts over their tokens."""
    started = time.perf_counter()
    id_lists = first_lines(loaded, corpus, token_budget)
    if not id_lists:
        raise CorpusError("The corpus has no lines to average over.")
    total = np.zeros((loaded.info.num_layers, loaded.info.hidden_size), dtype=np.float64)
    tokens = 0
    done = 0
    if progress:
        progress(0, len(id_lists))
    for batch in _batches([len(ids) for ids in id_lists], _BATCH_TOKENS):
        _hidden, heads, valid = forward_batch(loaded, [id_lists[i] for i in batch],
                                              with_heads=True)
        total += heads[:, valid].sum(axis=1, dtype=np.float64)  # heads[layer, row, token, dim]
        tokens += int(valid.sum())
        done += len(batch)
        if progress:
            progress(done, len(id_lists))
    return CorpusHeadMeans(
        means=(total / tokens).astype(np.float32), model_name=loaded.info.name,
        corpus_name=corpus.name, lines=len(id_lists), tokens=tokens, token_budget=token_budget,
        seconds=time.perf_counter() - started)


def means_key(loaded: Loaded, corpus: Corpus, token_budget: int = MEAN_TOKEN_BUDGET) -> str:
    """The cache folder's name: 32 hex digits, like an index's (so eviction sees it)."""
    parts = {"format": FORMAT_VERSION, "kind": "head means", "means": MEANS_FORMAT,
             "model": model_fingerprint(loaded), "corpus": corpus.digest,
             "budget": int(token_budget)}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()[:32]


def means_folder(loaded: Loaded, corpus: Corpus, token_budget: int = MEAN_TOKEN_BUDGET,
                 root: Path | None = None) -> Path:
    return (root or cache_dir()) / means_key(loaded, corpus, token_budget)


def save_means(result: CorpusHeadMeans, folder: Path) -> None:
    def write(temporary: Path) -> None:
        np.save(temporary / "means.npy", result.means)
        write_meta(temporary, {
            "format": MEANS_FORMAT, "kind": "head means", "model_name": result.model_name,
            "corpus_name": result.corpus_name, "lines": result.lines, "tokens": result.tokens,
            "token_budget": result.token_budget, "seconds": result.seconds})

    write_entry(folder, write)


def load_means(folder: Path) -> CorpusHeadMeans:
    meta = read_meta(folder, MEANS_FORMAT, "head means")
    means = np.load(folder / "means.npy", allow_pickle=False)
    if means.ndim != 2 or means.dtype != np.float32:
        raise ValueError("damaged head means")
    return CorpusHeadMeans(
        means=means, model_name=str(meta["model_name"]), corpus_name=str(meta["corpus_name"]),
        lines=int(meta["lines"]), tokens=int(meta["tokens"]),
        token_budget=int(meta["token_budget"]), seconds=float(meta["seconds"]),
        from_cache=True)


def load_cached_means(loaded: Loaded, corpus: Corpus, token_budget: int = MEAN_TOKEN_BUDGET,
                      root: Path | None = None) -> CorpusHeadMeans | None:
    """The cached means (now marked as used), or ``None``."""
    result = read_entry(means_folder(loaded, corpus, token_budget, root), load_means)
    if result is None or result.means.shape != (loaded.info.num_layers, loaded.info.hidden_size):
        return None
    return replace(result, corpus_name=corpus.name)


def means_or_compute(loaded: Loaded, corpus: Corpus, progress: ProgressCallback | None = None,
                     token_budget: int = MEAN_TOKEN_BUDGET,
                     root: Path | None = None) -> CorpusHeadMeans:
    """The means from the disk cache, or computed now and saved there (then the cache is held
    to its size, least recently used entries first; a read-only disk costs a new computation
    next time, nothing more)."""
    cached = load_cached_means(loaded, corpus, token_budget, root)
    if cached is not None:
        return cached
    result = compute_head_means(loaded, corpus, progress, token_budget)
    folder = means_folder(loaded, corpus, token_budget, root)
    try:
        save_means(result, folder)
        mark_used(folder)
        evict(root, disk_cache_bytes())
    except OSError:
        pass
    return result


def corpus_tokens(loaded: Loaded, corpus: Corpus, token_budget: int = MEAN_TOKEN_BUDGET) -> int:
    """Tokens the mean would read (for its cost, before it runs)."""
    return sum(len(ids) for ids in first_lines(loaded, corpus, token_budget))
