"""Corpus indices on disk, built in resumable shards and memory-mapped when opened (no Streamlit).

Files of an index folder (written under a temporary name, renamed when complete):

- ``meta.json``: format, kind, model name and fingerprint, sizes, the search settings;
- ``rows.npy``: ``rows[row] = (sentence, position)`` (int32) of every indexed token;
- ``sentences.txt`` + ``sentence_offsets.npy``, ``pieces.txt`` + ``piece_offsets.npy``: the
  lines and each line's token pieces (JSON), read one at a time when a match is shown;
- per layer, ``hidden_{layer}.faiss`` (0 = embeddings) and ``heads_{layer}.faiss`` (1-based),
  vectors normalised as :mod:`explorer.corpus.index` does (cosine; per-head unit slices);
- kind ``"exact"`` (at most :func:`exact_max_tokens` tokens): float16 flat faiss indices, the
  app's exact search;
- kind ``"ivfpq"`` (larger): faiss ``IndexIVFPQ`` (``m`` bytes per vector plus an 8-byte id)
  for candidates, and ``hidden_{layer}.f16`` / ``heads_{layer}.f16`` (float16 unit rows,
  ``[row, dim]``) from which the candidates are re-scored exactly: scores are exact cosines,
  the approximation is only in which candidates are found (recall, measured by
  ``bench/corpus_search.py``).

:func:`open_index` memory-maps everything (faiss ``IO_FLAG_MMAP``, ``np.memmap``): the resident
memory of a process that opened an index does not grow with its size, only with what queries
touch. With ``heads``, the per-head "mean cosine over selected heads" is exact for the
candidates; candidates come from the compressed vectors of the selected heads' slices (the IVF
lists are chosen with the query's selected heads only, as exact search would).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from explorer.batch import ShardPlan, WorkFolder, job_key, run_shards
from explorer.corpus.encoding import encode_corpus, encode_text, token_pieces
from explorer.corpus.index import CorpusIndex, IndexSettings, head_unit_rows, unit_rows
from explorer.corpus.reading import Corpus, CorpusError
from explorer.model import Loaded

INDEX_FORMAT = 1
EXACT_MAX_TOKENS_ENV_VAR = "EXPLORER_EXACT_INDEX_TOKENS"
DEFAULT_EXACT_MAX_TOKENS = 200_000
"""Above this many tokens an index is IVF-PQ with exact re-ranking (exact flat search of
200 000 float16 rows of 768 values takes about 30 ms per query here)."""
MAX_LINE_BYTES = 1_000_000
"""Longest line a corpus file may have (one sentence or paragraph per line)."""
DEFAULT_NPROBE = 64  # IVF lists searched per query
DEFAULT_RERANK = 1_000  # candidates re-scored exactly per query (at least 10 × k)
"""recall@10 0.963 at 1 M vectors shaped like real encodings, 22 ms median per query on this
2-core machine under load; (32, 200): 0.852, 7.8 ms (``bench/corpus_scale.py``, docs/library.md)."""
_CHUNK_ROWS = 65_536


def exact_max_tokens() -> int:
    raw = os.environ.get(EXACT_MAX_TOKENS_ENV_VAR, "").strip()
    try:
        return int(raw) if raw else DEFAULT_EXACT_MAX_TOKENS
    except ValueError:
        return DEFAULT_EXACT_MAX_TOKENS


# ---------------------------------------------------------------------------------------------
# Reading a large corpus file


def clean_line(raw: str) -> tuple[str, int]:
    """A line as :func:`~explorer.corpus.reading.read_corpus` keeps it (control characters
    dropped, white space collapsed) and how many characters were removed."""
    kept = "".join(ch for ch in raw if unicodedata.category(ch) not in {"Cc", "Cs"} or ch == "\t")
    return " ".join(kept.split()), len(raw) - len(kept)


def read_corpus_file(path: str | Path, *, max_line_bytes: int = MAX_LINE_BYTES) -> Corpus:
    """Read a UTF-8 text file of any size, one sentence or paragraph per line, streaming (a huge
    line is refused after ``max_line_bytes``, never read whole). Raises :class:`CorpusError`
    with a message naming the problem: unreadable, empty, binary, not UTF-8 (line and byte),
    a line too long, no text."""
    path = Path(path)
    name = path.name
    try:
        size = path.stat().st_size
        file = path.open("rb")
    except IsADirectoryError:
        raise CorpusError(f"{name} is a folder, not a text file.") from None
    except OSError as error:
        raise CorpusError(f"Cannot read {name}: {error.strerror or error}.") from None
    if size == 0 and path.is_file():
        file.close()
        raise CorpusError(f"{name} is empty (0 bytes): write one sentence or paragraph per "
                          "line.")
    sentences: list[str] = []
    removed = 0
    with file:
        number = 0
        while True:
            try:
                raw = file.readline(max_line_bytes + 1)
            except OSError as error:
                raise CorpusError(f"Cannot read {name}: {error.strerror or error}.") from None
            if not raw:
                break
            number += 1
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
                raise CorpusError(
                    f"{name}: line {number:,} is longer than {max_line_bytes:,} bytes. Put one "
                    "sentence or paragraph per line.")
            if b"\x00" in raw:
                raise CorpusError(f"{name} looks binary (line {number:,} holds NUL bytes); "
                                  "give a UTF-8 text file.")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise CorpusError(
                    f"{name} is not UTF-8 text: line {number:,} has the byte "
                    f"0x{raw[error.start]:02X} at byte {error.start + 1}, which is not valid "
                    "UTF-8. Save the file as UTF-8.") from None
            kept, dropped = clean_line(text)
            removed += dropped
            if kept:
                sentences.append(kept)
    if not sentences:
        raise CorpusError(f"{name} has no text: write one sentence or paragraph per line.")
    notes = (f"Removed {removed} control character(s).",) if removed else ()
    return Corpus(name=name, sentences=tuple(sentences), notes=notes)


# ---------------------------------------------------------------------------------------------
# Shards: the model over a few thousand lines, vectors saved as float16 unit rows


class _IndexShard:
    """Encode one shard: ``rows.npy`` (sentence, position), ``hidden_{l}.npy`` /
    ``heads_{l}.npy`` (float16 unit rows), ``pieces.json``, ``truncated.json``."""

    def __init__(self, heads: bool, batch_tokens: int) -> None:
        self.heads = heads
        self.batch_tokens = batch_tokens

    def __call__(self, loaded: Loaded, first_line: int, lines: Sequence[str],
                 folder: Path) -> None:
        info = loaded.info
        texts = [encode_text(loaded, line) for line in lines]
        hidden: list[list[np.ndarray]] = [[] for _ in range(info.num_layers + 1)]
        heads: list[list[np.ndarray]] = [[] for _ in range(info.num_layers)]
        rows = []
        for batch in encode_corpus(loaded, [list(t.ids) for t in texts],
                                   with_heads=self.heads, batch_tokens=self.batch_tokens):
            rows.append(np.stack([batch.sentence_ids + first_line, batch.positions], axis=1))
            for layer in range(info.num_layers + 1):
                hidden[layer].append(unit_rows(batch.hidden[layer]).astype(np.float16))
            if self.heads and batch.heads is not None:
                for layer in range(info.num_layers):
                    heads[layer].append(head_unit_rows(batch.heads[layer], info.num_heads)
                                        .astype(np.float16))
        dim = info.hidden_size
        rows_array = (np.concatenate(rows) if rows else np.zeros((0, 2))).astype(np.int32)
        order = np.lexsort((rows_array[:, 1], rows_array[:, 0]))  # line order, not batch order
        np.save(folder / "rows.npy", rows_array[order])
        for name, lists in (("hidden", hidden), ("heads", heads if self.heads else [])):
            for layer, parts in enumerate(lists):
                values = np.concatenate(parts) if parts else np.zeros((0, dim), np.float16)
                np.save(folder / f"{name}_{layer}.npy", values[order])
        pieces = [list(token_pieces(loaded, t.text, t.ids)) for t in texts]
        (folder / "pieces.json").write_text(json.dumps(pieces), encoding="utf-8")
        (folder / "truncated.json").write_text(json.dumps(sum(t.truncated for t in texts)))


# ---------------------------------------------------------------------------------------------
# Building


@dataclass(frozen=True)
class BuildReport:
    folder: Path
    kind: str
    tokens: int
    sentences: int
    shards: int
    shards_skipped: int  # done by an earlier, stopped run
    truncated_sentences: int
    seconds: float


def _pq_settings(dim: int, rows: int) -> tuple[int, int]:
    """(lists, subquantizers): about sqrt(rows) lists; 64 one-byte codes when the dimension
    allows (768 → 12 values per code), else the largest divisor of ``dim`` up to ``dim / 4``."""
    m = max(d for d in range(1, max(1, min(64, dim // 4)) + 1) if dim % d == 0)
    lists = int(min(4096, max(8, round(np.sqrt(rows)))))
    return lists, m


def train_ivfpq(vectors: np.ndarray, sample_rows: int = 65_536, seed: int = 0) -> faiss.Index:
    """An empty, trained inner-product IVF-PQ index for ``vectors[row, dim]`` (float16 or 32;
    trained on an even sample of at most ``sample_rows`` rows)."""
    rows, dim = vectors.shape
    lists, m = _pq_settings(dim, rows)
    lists = min(lists, max(1, rows // 39))
    step = max(1, rows // sample_rows)
    sample = np.ascontiguousarray(vectors[::step][:sample_rows], dtype=np.float32)
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFPQ(quantizer, dim, lists, m, 8, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = seed
    index.pq.cp.seed = seed
    index.pq.cp.max_points_per_centroid = 64  # 16 384 rows per sub-quantizer: PQ training
    index.pq.cp.niter = 15  # dominates the build otherwise (bench/corpus_search.py)
    index.cp.min_points_per_centroid = index.pq.cp.min_points_per_centroid = 1  # small: fine
    index.train(sample)
    return index


def _fill(index: faiss.Index, vectors: np.ndarray) -> faiss.Index:
    for start in range(0, vectors.shape[0], _CHUNK_ROWS):
        index.add(np.ascontiguousarray(vectors[start:start + _CHUNK_ROWS], dtype=np.float32))
    return index


def write_vector_layer(folder: Path, stem: str, vectors: np.ndarray, kind: str) -> None:
    """``{stem}.faiss`` (and for IVF-PQ ``{stem}.f16``, the re-ranking vectors) from
    ``vectors[row, dim]`` (unit rows)."""
    dim = vectors.shape[1]
    if kind == "exact":
        index = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16,
                                           faiss.METRIC_INNER_PRODUCT)
    else:
        index = train_ivfpq(vectors)
        path = folder / f"{stem}.f16.npy"
        written = (isinstance(vectors, np.memmap) and vectors.dtype == np.float16
                   and vectors.filename is not None and Path(vectors.filename) == path.resolve())
        if not written:  # (a caller that streamed the vectors into place saves a copy)
            stored = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16,
                                               shape=vectors.shape)
            for start in range(0, vectors.shape[0], _CHUNK_ROWS):
                stored[start:start + _CHUNK_ROWS] = vectors[start:start + _CHUNK_ROWS]
            stored.flush()
            del stored
    faiss.write_index(_fill(index, vectors), str(folder / f"{stem}.faiss"))


def _write_texts(folder: Path, stem: str, texts: Sequence[str]) -> None:
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    with (folder / f"{stem}.txt").open("wb") as file:
        for number, text in enumerate(texts):
            data = text.encode("utf-8")
            file.write(data)
            offsets[number + 1] = offsets[number] + len(data)
    np.save(folder / f"{stem}_offsets.npy", offsets)


def build_corpus_index(
    loaded: Loaded,
    corpus: Corpus,
    folder: str | Path,
    *,
    heads: bool = True,
    shard_lines: int = 2_000,
    kind: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    ray_address: str | None = None,
    model_name: str | None = None,
    batch_tokens: int = 2_048,
) -> BuildReport:
    """Index every token of ``corpus`` into ``folder`` (see the module docstring).

    Shards are kept in ``<folder>.work/`` until the index is complete, so a stopped build
    started again with the same model, corpus and settings resumes. ``kind``: ``"exact"``,
    ``"ivfpq"`` or ``None`` (exact up to :func:`exact_max_tokens` tokens). ``progress(done,
    total)`` counts shards.
    """
    from explorer.corpus.disk_cache import model_fingerprint
    from explorer.corpus.encoding import attention_output_projections

    if heads:
        attention_output_projections(loaded.model)  # a model the table lacks: say so first
    started = time.perf_counter()
    folder = Path(folder)
    plan = ShardPlan.of(len(corpus.sentences), shard_lines)
    fingerprint = model_fingerprint(loaded)
    key = job_key({"job": "index", "version": INDEX_FORMAT, "model": fingerprint,
                   "corpus": corpus.digest, "heads": heads, "shard_lines": shard_lines,
                   "batch_tokens": batch_tokens})
    work = WorkFolder(folder.with_name(folder.name + ".work"), key, len(plan.shards))
    skipped = run_shards(loaded, corpus.sentences, work, plan, _IndexShard(heads, batch_tokens),
                         progress=progress, ray_address=ray_address, model_name=model_name)
    info = loaded.info
    shard_folders = [work.shard_folder(s) for s in range(len(plan.shards))]
    counts = [np.load(f / "rows.npy", mmap_mode="r").shape[0] for f in shard_folders]
    tokens = int(sum(counts))
    kind = kind or ("exact" if tokens <= exact_max_tokens() else "ivfpq")
    if kind not in ("exact", "ivfpq"):
        raise ValueError(f"unknown index kind {kind!r}")
    if kind == "ivfpq" and tokens < 1_000:
        raise CorpusError("An IVF-PQ index needs at least 1,000 tokens; use the exact kind.")
    folder.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=folder.name + ".", suffix=".tmp", dir=folder.parent))
    truncated = 0
    try:
        rows = np.lib.format.open_memmap(temporary / "rows.npy", mode="w+", dtype=np.int32,
                                         shape=(tokens, 2))
        start = 0
        pieces: list[str] = []
        for shard_folder, count in zip(shard_folders, counts):
            rows[start:start + count] = np.load(shard_folder / "rows.npy")
            start += count
            pieces.extend(json.dumps(p) for p in json.loads(
                (shard_folder / "pieces.json").read_text(encoding="utf-8")))
            truncated += int(json.loads((shard_folder / "truncated.json").read_text()))
        rows.flush()
        del rows
        _write_texts(temporary, "sentences", corpus.sentences)
        _write_texts(temporary, "pieces", pieces)
        del pieces
        layers = [("hidden", layer) for layer in range(info.num_layers + 1)]
        if heads:
            layers += [("heads", layer) for layer in range(info.num_layers)]
        for name, layer in layers:
            merged = np.lib.format.open_memmap(temporary / "merging.npy", mode="w+",
                                               dtype=np.float16,
                                               shape=(tokens, info.hidden_size))
            start = 0
            for shard_folder, count in zip(shard_folders, counts):
                merged[start:start + count] = np.load(shard_folder / f"{name}_{layer}.npy")
                start += count
            stem = f"hidden_{layer}" if name == "hidden" else f"heads_{layer + 1}"
            write_vector_layer(temporary, stem, merged, kind)
            del merged
            os.unlink(temporary / "merging.npy")
        notes = list(corpus.notes)
        if truncated:
            notes.append(f"{truncated} line(s) were longer than {info.max_tokens} tokens and "
                         "were cut.")
        meta = {
            "format": INDEX_FORMAT, "kind": kind, "model_name": info.name,
            "fingerprint": fingerprint, "corpus_name": corpus.name,
            "corpus_digest": corpus.digest, "num_layers": info.num_layers,
            "num_heads": info.num_heads, "hidden_size": info.hidden_size, "heads": heads,
            "tokens": tokens, "sentences": len(corpus.sentences),
            "truncated_sentences": truncated, "notes": notes,
        }
        (temporary / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(temporary, folder)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    work.remove()
    return BuildReport(folder=folder, kind=kind, tokens=tokens,
                       sentences=len(corpus.sentences), shards=len(plan.shards),
                       shards_skipped=skipped, truncated_sentences=truncated,
                       seconds=time.perf_counter() - started)


# ---------------------------------------------------------------------------------------------
# Opening and searching


class MappedTexts(Sequence):
    """Texts stored one after another in a file, read one at a time by their offsets."""

    def __init__(self, folder: Path, stem: str, as_json: bool = False) -> None:
        path = folder / f"{stem}.txt"
        self._data = (np.memmap(path, dtype=np.uint8, mode="r") if path.stat().st_size
                      else np.zeros(0, np.uint8))  # numpy cannot map an empty file
        self._offsets = np.load(folder / f"{stem}_offsets.npy", mmap_mode="r")
        self._as_json = as_json

    def __len__(self) -> int:
        return int(self._offsets.shape[0] - 1)

    def __getitem__(self, number):  # type: ignore[override]
        if isinstance(number, slice):
            return [self[i] for i in range(*number.indices(len(self)))]
        if not -len(self) <= number < len(self):
            raise IndexError(number)
        number %= len(self)
        start, end = int(self._offsets[number]), int(self._offsets[number + 1])
        text = bytes(self._data[start:end]).decode("utf-8")
        return tuple(json.loads(text)) if self._as_json else text


class RerankedIndex:
    """An IVF-PQ faiss index for candidates, re-scored exactly from float16 vectors on disk.

    Quacks like a faiss index for :func:`~explorer.corpus.search.search_vectors`:
    ``search(query[1, dim], k) → (scores[1, k], rows[1, k])``, ``ntotal``, ``code_size``."""

    def __init__(self, ivfpq: faiss.Index, vectors: np.ndarray,
                 nprobe: int = DEFAULT_NPROBE, rerank: int = DEFAULT_RERANK) -> None:
        self.ivfpq = ivfpq
        self.vectors = vectors
        self.nprobe = nprobe
        self.rerank = rerank
        self.ntotal = int(ivfpq.ntotal)
        self.code_size = int(ivfpq.code_size) + 8  # the PQ code and its 8-byte id
        self.d = int(ivfpq.d)
        self._descriptor = (os.open(vectors.filename, os.O_RDONLY)
                            if isinstance(vectors, np.memmap) and vectors.filename else None)

    def __del__(self) -> None:
        if getattr(self, "_descriptor", None) is not None:
            os.close(self._descriptor)
            self._descriptor = None

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """``vectors[rows]`` as float32, read with ``os.pread`` from the file when the vectors
        are a ``np.memmap`` (a page fault maps the pages around each row into the process as
        well: 50 queries of 200 candidates would map about 1 GB of a 1 M-row file)."""
        vectors = self.vectors
        if not isinstance(vectors, np.memmap) or self._descriptor is None:
            return np.asarray(vectors[rows], dtype=np.float32)
        width = vectors.shape[1] * vectors.dtype.itemsize
        data = b"".join(os.pread(self._descriptor, width, vectors.offset + int(row) * width)
                        for row in rows)
        return np.frombuffer(data, dtype=vectors.dtype).reshape(len(rows), -1).astype(
            np.float32)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        candidates = min(self.ntotal, max(self.rerank, 10 * k))
        params = faiss.SearchParametersIVF(nprobe=self.nprobe)
        _, found = self.ivfpq.search(queries, candidates, params=params)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        rows = np.full((len(queries), k), -1, dtype=np.int64)
        for number, (query, candidate_rows) in enumerate(zip(queries, found)):
            candidate_rows = np.unique(candidate_rows[candidate_rows >= 0])  # sorted: disk order
            if not len(candidate_rows):
                continue
            exact = self.rows(candidate_rows) @ query
            best = np.argsort(-exact, kind="stable")[:k]
            scores[number, :len(best)] = exact[best]
            rows[number, :len(best)] = candidate_rows[best]
        return scores, rows


class MappedCorpusIndex(CorpusIndex):
    """A :class:`CorpusIndex` opened from a folder by :func:`open_index`, memory-mapped."""

    folder: Path
    kind: str
    disk_bytes: int

    def memory_bytes(self) -> int:
        """What opening it holds in memory (the files are mapped, not loaded): a small bound,
        whatever the index's size."""
        return 1 << 20

    def vector_bytes(self) -> int:
        indices = [*self.hidden, *(self.heads or [])]
        return int(sum(index.code_size * index.ntotal for index in indices))


def _read_faiss(path: Path) -> faiss.Index:
    return faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)


def read_meta(folder: str | Path) -> dict:
    """An index folder's ``meta.json``; :class:`CorpusError` when it is not a complete index."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise CorpusError(f"{folder.name} is not a complete corpus index (no readable "
                          "meta.json); build it with `explorer index`.") from None
    if meta.get("format") != INDEX_FORMAT:
        raise CorpusError(f"{folder.name} was written by another version; build it again.")
    return meta


def open_index(folder: str | Path, loaded: Loaded | None = None, *,
               nprobe: int = DEFAULT_NPROBE, rerank: int = DEFAULT_RERANK) -> MappedCorpusIndex:
    """Open an index written by :func:`build_corpus_index`, memory-mapped. With ``loaded``,
    refuse an index of another model (its vectors would not be comparable)."""
    from explorer.corpus.disk_cache import model_fingerprint

    folder = Path(folder)
    meta = read_meta(folder)
    if loaded is not None and meta["fingerprint"] != model_fingerprint(loaded):
        raise CorpusError(f"{folder.name} was built with another model "
                          f"({meta['model_name']}); open it with that model or build it again.")
    layers = int(meta["num_layers"])

    def layer(stem: str) -> faiss.Index | RerankedIndex:
        index = _read_faiss(folder / f"{stem}.faiss")
        if meta["kind"] == "exact":
            return index
        return RerankedIndex(index, np.load(folder / f"{stem}.f16.npy", mmap_mode="r"),
                             nprobe=nprobe, rerank=rerank)

    rows = np.load(folder / "rows.npy", mmap_mode="r")
    index = MappedCorpusIndex(
        model_name=str(meta["model_name"]),
        settings=IndexSettings(storage="fp16", heads=bool(meta["heads"])),
        num_heads=int(meta["num_heads"]),
        sentences=MappedTexts(folder, "sentences"),  # type: ignore[arg-type]
        token_texts=MappedTexts(folder, "pieces", as_json=True),  # type: ignore[arg-type]
        sentence_ids=rows[:, 0],
        positions=rows[:, 1],
        hidden=[layer(f"hidden_{i}") for i in range(layers + 1)],
        heads=[layer(f"heads_{i}") for i in range(1, layers + 1)] if meta["heads"] else None,
        truncated_sentences=int(meta["truncated_sentences"]),
        from_cache=True,
        notes=tuple(meta["notes"]),
    )
    index.folder = folder
    index.kind = str(meta["kind"])
    index.disk_bytes = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    return index
