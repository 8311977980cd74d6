"""The index: every corpus token's vectors in one faiss index per layer and kind (no Streamlit).

- **by embedding**: ``hidden_states[layer]`` (0 = embedding output), L2-normalised, so inner
  product = cosine similarity;
- **by head output**: layer ``l``'s concatenated per-head contexts (1-based ``l``). Each head's
  slice is L2-normalised on its own and the whole vector scaled by ``1/sqrt(num_heads)``; a query
  keeping only the selected heads' unit slices then scores ``sum(cos_h) / num_heads``, which
  :mod:`explorer.corpus.search` rescales to the mean cosine over the selected heads. One index
  per layer serves any choice of heads exactly, and no head drowns the others.

Storage kinds: exact ``IndexFlatIP`` (float32) or ``IndexScalarQuantizer`` with float16 (half
the bytes) or 8-bit codes (a quarter).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import faiss
import numpy as np

from explorer.corpus.encoding import (
    EncodedBatch,
    ProgressCallback,
    encode_corpus,
    encode_text,
    special_ids,
    token_pieces,
)
from explorer.corpus.reading import Corpus
from explorer.model import Loaded, ModelInfo

Storage = Literal["flat", "fp16", "sq8"]
STORAGES: tuple[str, ...] = ("flat", "fp16", "sq8")
BYTES_PER_VALUE = {"flat": 4, "fp16": 2, "sq8": 1}
_EPS = 1e-12
_TRAIN_ROWS = 8_192  # rows an 8-bit quantizer learns its per-dimension ranges from
_ROW_BYTES = 8 + 60  # sentence id and position (int32 each) + the token's text (str object)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """``vectors[row, dim]`` scaled to unit L2 norm (all-zero rows stay zero), float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, _EPS)


def head_unit_rows(vectors: np.ndarray, num_heads: int,
                   selected: Sequence[int] | None = None) -> np.ndarray:
    """Each head's slice at unit norm, unselected heads zeroed, all scaled by 1/sqrt(heads)."""
    rows, dim = vectors.shape
    per_head = unit_rows(vectors.reshape(rows, num_heads, dim // num_heads))
    if selected is not None:
        keep = np.zeros(num_heads, dtype=bool)
        keep[list(selected)] = True
        per_head[:, ~keep] = 0.0
    return (per_head / np.sqrt(num_heads)).reshape(rows, dim).astype(np.float32)


def new_index(dim: int, storage: Storage) -> faiss.Index:
    """An empty inner-product index of the given storage kind."""
    if storage == "flat":
        return faiss.IndexFlatIP(dim)
    kinds = {"fp16": faiss.ScalarQuantizer.QT_fp16, "sq8": faiss.ScalarQuantizer.QT_8bit}
    if storage not in kinds:
        raise ValueError(f"unknown storage {storage!r}; choose one of {STORAGES}")
    return faiss.IndexScalarQuantizer(dim, kinds[storage], faiss.METRIC_INNER_PRODUCT)


class _IndexFiller:
    """Adds vectors to an index, holding the first rows back until an 8-bit one is trained."""

    def __init__(self, dim: int, storage: Storage) -> None:
        self.index = new_index(dim, storage)
        self._pending: list[np.ndarray] = []
        self._pending_rows = 0

    def add(self, vectors: np.ndarray) -> None:
        if self.index.is_trained:
            self.index.add(vectors)
            return
        self._pending.append(vectors)
        self._pending_rows += len(vectors)
        if self._pending_rows >= _TRAIN_ROWS:
            self.finish()

    def finish(self) -> faiss.Index:
        if self._pending:
            sample = np.concatenate(self._pending)
            self._pending, self._pending_rows = [], 0
            if not self.index.is_trained:
                self.index.train(sample)
            self.index.add(sample)
        return self.index


@dataclass(frozen=True)
class IndexSettings:
    storage: Storage = "fp16"
    heads: bool = True  # also index the attention heads' outputs
    batch_tokens: int = 2_048

    def __post_init__(self) -> None:
        if self.storage not in STORAGES:
            raise ValueError(f"unknown storage {self.storage!r}; choose one of {STORAGES}")


def vectors_per_token(info: ModelInfo, settings: IndexSettings) -> int:
    """Stored vectors per token: every hidden state (embeddings too) and, with heads, one head
    output per layer."""
    return info.num_layers + 1 + (info.num_layers if settings.heads else 0)


def estimated_index_bytes(info: ModelInfo, tokens: int, settings: IndexSettings) -> int:
    """Memory an index of ``tokens`` tokens will hold (vectors plus what each row is)."""
    per_token = vectors_per_token(info, settings) * info.hidden_size * BYTES_PER_VALUE[
        settings.storage]
    return int(tokens * (per_token + _ROW_BYTES))


def count_tokens(loaded: Loaded, corpus: Corpus) -> int:
    """Tokens an index of ``corpus`` holds (special tokens left out, long lines cut)."""
    special = special_ids(loaded)
    return sum(sum(i not in special for i in encode_text(loaded, s).ids)
               for s in corpus.sentences)


@dataclass
class CorpusIndex:
    """The searchable corpus: faiss indices plus what each row is.

    ``hidden[layer]`` (0 = embeddings) and ``heads[layer - 1]`` (layer 1-based) are faiss
    indices whose row ``r`` is token ``positions[r]`` of sentence ``sentence_ids[r]``.
    ``token_texts[sentence]`` are what each token of the sentence covers in it, with the space
    before it (`` bank``; special tokens as themselves), so that ``token_texts[s][p]`` is the
    matched token and the pieces joined give the sentence back, for every tokenizer family.
    """

    model_name: str
    settings: IndexSettings
    num_heads: int
    sentences: tuple[str, ...]
    token_texts: tuple[tuple[str, ...], ...]
    sentence_ids: np.ndarray
    positions: np.ndarray
    hidden: list[faiss.Index]
    heads: list[faiss.Index] | None
    truncated_sentences: int = 0
    seconds: float = 0.0  # indexing time (0 when loaded from the cache)
    from_cache: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def num_tokens(self) -> int:
        return int(self.sentence_ids.shape[0])

    @property
    def num_layers(self) -> int:
        return len(self.hidden) - 1

    def vector_bytes(self) -> int:
        """Bytes of stored vector codes over all faiss indices."""
        indices = [*self.hidden, *(self.heads or [])]
        return int(sum(index.code_size * index.ntotal for index in indices))

    def bytes_per_token(self) -> float:
        return self.vector_bytes() / max(1, self.num_tokens)

    def memory_bytes(self) -> int:
        """What the index holds in memory: vectors, row arrays and texts (for cache budgets)."""
        texts = sum(len(s.encode("utf-8")) + 50 for s in self.sentences)
        texts += sum(len(t) + 50 for tokens in self.token_texts for t in tokens)
        return (self.vector_bytes() + int(self.sentence_ids.nbytes) + int(self.positions.nbytes)
                + texts)


def release_freed_memory() -> None:
    """Give freed heap memory back to the system (glibc keeps it otherwise): after an aborted or
    finished build, the process's resident size drops back instead of staying at its peak."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def build_index(
    loaded: Loaded,
    corpus: Corpus,
    settings: IndexSettings | None = None,
    progress: ProgressCallback | None = None,
    on_batch: Callable[[EncodedBatch], None] | None = None,
) -> CorpusIndex:
    """Index every token of ``corpus`` at every layer (see the module docstring).

    ``progress`` may raise to stop the build (Streamlit does when the tab is closed or the page
    reruns): the partial indices are dropped and their memory given back before the error goes
    on. ``on_batch`` sees each batch's raw vectors (the benchmark keeps some for exact search).
    """
    settings = settings or IndexSettings()
    info = loaded.info
    started = time.perf_counter()
    texts = [encode_text(loaded, sentence) for sentence in corpus.sentences]
    id_lists = [list(t.ids) for t in texts]
    cut = sum(t.truncated for t in texts)
    hidden_fillers = [_IndexFiller(info.hidden_size, settings.storage)
                      for _ in range(info.num_layers + 1)]
    head_fillers = ([_IndexFiller(info.hidden_size, settings.storage)
                     for _ in range(info.num_layers)] if settings.heads else [])
    sentence_ids: list[np.ndarray] = []
    positions: list[np.ndarray] = []
    batch: EncodedBatch | None = None
    filler: _IndexFiller | None = None
    try:
        for batch in encode_corpus(loaded, id_lists, with_heads=settings.heads,
                                   batch_tokens=settings.batch_tokens, progress=progress):
            if on_batch:
                on_batch(batch)
            sentence_ids.append(batch.sentence_ids)
            positions.append(batch.positions)
            for layer, filler in enumerate(hidden_fillers):
                filler.add(unit_rows(batch.hidden[layer]))
            if head_fillers and batch.heads is not None:
                for layer, filler in enumerate(head_fillers):
                    filler.add(head_unit_rows(batch.heads[layer], info.num_heads))
            del batch
        hidden = [filler.finish() for filler in hidden_fillers]
        heads = [filler.finish() for filler in head_fillers] if settings.heads else None
    except BaseException:
        # A stopped build keeps nothing: the traceback's frames must not hold the partial index.
        batch = filler = None  # noqa: F841 (frame locals live on in the traceback)
        hidden_fillers.clear()
        head_fillers.clear()
        sentence_ids.clear()
        positions.clear()
        release_freed_memory()
        raise
    notes = list(corpus.notes)
    if cut:
        notes.append(f"{cut} line(s) were longer than {info.max_tokens} tokens and were cut.")
    return CorpusIndex(
        model_name=info.name,
        settings=settings,
        num_heads=info.num_heads,
        sentences=corpus.sentences,
        token_texts=tuple(token_pieces(loaded, t.text, t.ids) for t in texts),
        sentence_ids=np.concatenate(sentence_ids) if sentence_ids else np.zeros(0, np.int32),
        positions=np.concatenate(positions) if positions else np.zeros(0, np.int32),
        hidden=hidden,
        heads=heads,
        truncated_sentences=cut,
        seconds=time.perf_counter() - started,
        notes=tuple(notes),
    )
