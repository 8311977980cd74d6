"""Corpus search, exBERT-style: nearest contextual embeddings and head outputs (no Streamlit).

Every token of every corpus sentence (special tokens and padding excluded) is stored with its
sentence id and token position, once per layer:

- **by embedding**: ``hidden_states[layer]`` (0 = embedding output, ``l`` = output of layer
  ``l``), L2-normalised, so inner product = cosine similarity;
- **by head output**: the concatenated per-head context vectors of layer ``l`` (1-based), i.e. the
  input of the attention output projection (``RobertaSelfOutput.dense``), captured with a forward
  pre-hook. Each head's slice is L2-normalised on its own and the whole vector is scaled by
  ``1/sqrt(num_heads)``. A query that keeps only the selected heads' unit slices (zeros elsewhere,
  same scale) then has inner product ``sum(cos_h for h in selected) / num_heads`` with every stored
  vector; :func:`search` rescales it to the **mean cosine similarity over the selected heads**.
  One index per layer thus serves any choice of heads exactly, and a head with a large norm
  cannot drown the others.

Vectors live in one faiss index per layer and kind: exact ``IndexFlatIP`` (float32), or
``IndexScalarQuantizer`` with float16 (half the bytes) or 8-bit codes (a quarter). Indices are
cached on disk under :func:`cache_dir`, keyed by the model, the corpus text and the settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import faiss
import numpy as np
import torch

from explorer.analysis import token_label
from explorer.model import Loaded

ROOT = Path(__file__).resolve().parent.parent
BUNDLED_CORPUS = ROOT / "data" / "corpus.txt"
CACHE_ENV_VAR = "EXPLORER_CACHE_DIR"
"""Environment variable overriding where indices are cached (default ``.explorer_cache/``)."""

MAX_CORPUS_BYTES = 256 * 1024
"""Largest corpus file accepted (about exBERT's 207 KB corpus)."""
MAX_CORPUS_LINES = 5_000
FORMAT_VERSION = 2  # bump when the on-disk layout or the vectors change

Storage = Literal["flat", "fp16", "sq8"]
Mode = Literal["embedding", "heads"]
STORAGES: tuple[str, ...] = ("flat", "fp16", "sq8")
ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(sentences_done, sentences_total)`` while indexing."""

_EPS = 1e-12
_TRAIN_ROWS = 8_192  # rows an 8-bit quantizer learns its per-dimension ranges from


class CorpusError(ValueError):
    """The corpus cannot be used; ``str(error)`` is a message fit for a user."""


# ---------------------------------------------------------------------------------------------
# Reading a corpus


@dataclass(frozen=True)
class Corpus:
    """Sentences (one per non-blank line) and a digest of them that keys the index cache."""

    name: str
    sentences: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def digest(self) -> str:
        return hashlib.sha256("\n".join(self.sentences).encode("utf-8")).hexdigest()


def read_corpus(
    data: bytes,
    name: str = "uploaded corpus",
    *,
    max_bytes: int = MAX_CORPUS_BYTES,
    max_lines: int = MAX_CORPUS_LINES,
) -> Corpus:
    """Parse a UTF-8 text file holding one sentence or paragraph per line.

    Blank lines are skipped and control characters dropped. Raises :class:`CorpusError` for a
    file that is too large, not UTF-8 (naming the line), or has no text.
    """
    if len(data) > max_bytes:
        raise CorpusError(
            f"The file has {len(data):,} bytes; the corpus search accepts at most "
            f"{max_bytes:,} bytes. Upload a shorter file."
        )
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise CorpusError(
            f"The file is not UTF-8 text: line {line} has the byte 0x{data[error.start]:02X} "
            f"at byte {column}, which is not valid UTF-8. Save the file as UTF-8 and upload it "
            "again."
        ) from None
    sentences: list[str] = []
    removed = 0
    for raw in text.splitlines():
        kept = "".join(ch for ch in raw if unicodedata.category(ch) not in {"Cc", "Cs"}
                       or ch == "\t")
        removed += len(raw) - len(kept)
        kept = " ".join(kept.split())
        if kept:
            sentences.append(kept)
    if not sentences:
        raise CorpusError("The file has no text: write one sentence or paragraph per line.")
    if len(sentences) > max_lines:
        raise CorpusError(
            f"The file has {len(sentences):,} non-blank lines; the corpus search accepts at "
            f"most {max_lines:,}."
        )
    notes = (f"Removed {removed} control character(s).",) if removed else ()
    return Corpus(name=name, sentences=tuple(sentences), notes=notes)


def bundled_corpus() -> Corpus:
    """The corpus shipped with the app (``data/corpus.txt``)."""
    return read_corpus(BUNDLED_CORPUS.read_bytes(), name="bundled corpus")


# ---------------------------------------------------------------------------------------------
# Forward passes


@dataclass(frozen=True)
class EncodedBatch:
    """Raw (unnormalised) vectors of the kept tokens of a few sentences.

    ``hidden[layer + 1, row, dim]`` (index 0 = embeddings) and ``heads[layer, row, dim]``
    (concatenated head contexts, ``None`` unless asked for), one row per kept token.
    """

    sentence_ids: np.ndarray  # sentence_ids[row]
    positions: np.ndarray  # positions[row]: token index in the sentence, <s> = 0
    hidden: np.ndarray
    heads: np.ndarray | None


def _attention_projections(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The attention output projection (input = concatenated head contexts) of each layer, from
    the architecture table; a module shared by several layers (ALBERT) is listed once: its hook
    then fires once per layer, in layer order."""
    from explorer.architectures import ArchitectureError, architecture_for

    try:
        projections = architecture_for(model).attention_outputs(model)
    except ArchitectureError as error:
        raise CorpusError(f"Corpus search does not support this model: {error}") from error
    return list({id(p): p for p in projections}.values())


def tokenize(loaded: Loaded, sentences: Sequence[str]) -> tuple[list[list[int]], int]:
    """Token ids per sentence, cut to the model's limit; also how many sentences were cut."""
    tokenizer = loaded.tokenizer
    limit = loaded.info.max_tokens
    encoded = tokenizer(list(sentences), add_special_tokens=True, truncation=False,
                        verbose=False)["input_ids"]
    ids: list[list[int]] = []
    cut = 0
    for row in encoded:
        if len(row) > limit:
            cut += 1
            end = [row[-1]] if row[-1] == tokenizer.sep_token_id else []
            row = row[: limit - len(end)] + end
        ids.append(list(row))
    return ids, cut


@torch.inference_mode()
def forward_batch(
    loaded: Loaded, id_lists: Sequence[Sequence[int]], with_heads: bool
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """One padded forward pass of the encoder (no LM head).

    Returns ``hidden[layer + 1, sentence, token, dim]``, ``heads[layer, sentence, token, dim]``
    (or ``None``) and ``valid[sentence, token]`` (False on padding).
    """
    tokenizer = loaded.tokenizer
    width = max(len(ids) for ids in id_lists)
    input_ids = torch.full((len(id_lists), width), tokenizer.pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(id_lists), width), dtype=torch.long)
    for row, ids in enumerate(id_lists):
        input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention_mask[row, : len(ids)] = 1

    captured: list[torch.Tensor] = []
    owner = threading.get_ident()  # the model is shared: ignore other sessions' forward passes

    def capture(_module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        if threading.get_ident() == owner:
            captured.append(args[0].detach().float())

    handles = []
    if with_heads:
        handles = [p.register_forward_pre_hook(capture)
                   for p in _attention_projections(loaded.model)]
    try:
        output = loaded.model.base_model(
            input_ids=input_ids, attention_mask=attention_mask,
            output_hidden_states=True, return_dict=True,
        )
    finally:
        for handle in handles:
            handle.remove()
    hidden = torch.stack(output.hidden_states).float().numpy()
    heads = None
    if with_heads:
        if len(captured) != loaded.info.num_layers:
            raise RuntimeError(f"captured {len(captured)} head outputs, expected "
                               f"{loaded.info.num_layers}")
        heads = torch.stack(captured).numpy()
    return hidden, heads, attention_mask.numpy().astype(bool)


def _batches(lengths: Sequence[int], batch_tokens: int, max_batch: int = 64) -> list[list[int]]:
    """Sentence indices grouped by similar length so that padding stays small."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        width = lengths[current[0]] if current else lengths[index]
        if current and (width * (len(current) + 1) > batch_tokens or len(current) >= max_batch):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


def encode_corpus(
    loaded: Loaded,
    id_lists: Sequence[Sequence[int]],
    *,
    with_heads: bool = True,
    batch_tokens: int = 2_048,
    progress: ProgressCallback | None = None,
) -> Iterator[EncodedBatch]:
    """Run every sentence through the model in batches; yield the kept tokens' vectors."""
    special = set(loaded.tokenizer.all_special_ids) - {loaded.tokenizer.mask_token_id}
    done = 0
    total = len(id_lists)
    if progress:
        progress(0, total)
    for batch in _batches([len(ids) for ids in id_lists], batch_tokens):
        hidden, heads, valid = forward_batch(loaded, [id_lists[i] for i in batch], with_heads)
        keep = valid.copy()
        for row, sentence in enumerate(batch):
            for position, token_id in enumerate(id_lists[sentence]):
                if token_id in special:
                    keep[row, position] = False
        rows, positions = np.nonzero(keep)
        yield EncodedBatch(
            sentence_ids=np.asarray(batch, dtype=np.int32)[rows],
            positions=positions.astype(np.int32),
            hidden=hidden[:, rows, positions],
            heads=None if heads is None else heads[:, rows, positions],
        )
        done += len(batch)
        if progress:
            progress(done, total)


# ---------------------------------------------------------------------------------------------
# Vectors and faiss indices


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


# ---------------------------------------------------------------------------------------------
# The index


@dataclass(frozen=True)
class IndexSettings:
    storage: Storage = "fp16"
    heads: bool = True  # also index the attention heads' outputs
    batch_tokens: int = 2_048

    def __post_init__(self) -> None:
        if self.storage not in STORAGES:
            raise ValueError(f"unknown storage {self.storage!r}; choose one of {STORAGES}")


@dataclass
class CorpusIndex:
    """The searchable corpus: faiss indices plus what each row is.

    ``hidden[layer]`` (0 = embeddings) and ``heads[layer - 1]`` (layer 1-based) are faiss
    indices whose row ``r`` is token ``positions[r]`` of sentence ``sentence_ids[r]``.
    ``token_texts[sentence]`` are what the sentence's tokens decode to (`` bank``), special
    tokens included, so that ``token_texts[s][p]`` is the matched token.
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


def _decoder(loaded: Loaded) -> Callable[[int], str]:
    """What one token id decodes to, memoised (most ids repeat)."""
    decoded: dict[int, str] = {}

    def decode(token_id: int) -> str:
        if token_id not in decoded:
            decoded[token_id] = loaded.tokenizer.decode([token_id])
        return decoded[token_id]

    return decode


def build_index(
    loaded: Loaded,
    corpus: Corpus,
    settings: IndexSettings | None = None,
    progress: ProgressCallback | None = None,
    on_batch: Callable[[EncodedBatch], None] | None = None,
) -> CorpusIndex:
    """Index every token of ``corpus`` at every layer (see the module docstring).

    ``on_batch`` sees each batch's raw vectors (the benchmark keeps some for exact search).
    """
    settings = settings or IndexSettings()
    info = loaded.info
    started = time.perf_counter()
    id_lists, cut = tokenize(loaded, corpus.sentences)
    hidden_fillers = [_IndexFiller(info.hidden_size, settings.storage)
                      for _ in range(info.num_layers + 1)]
    head_fillers = ([_IndexFiller(info.hidden_size, settings.storage)
                     for _ in range(info.num_layers)] if settings.heads else None)
    sentence_ids: list[np.ndarray] = []
    positions: list[np.ndarray] = []
    for batch in encode_corpus(loaded, id_lists, with_heads=settings.heads,
                               batch_tokens=settings.batch_tokens, progress=progress):
        if on_batch:
            on_batch(batch)
        sentence_ids.append(batch.sentence_ids)
        positions.append(batch.positions)
        for layer, filler in enumerate(hidden_fillers):
            filler.add(unit_rows(batch.hidden[layer]))
        if head_fillers is not None and batch.heads is not None:
            for layer, filler in enumerate(head_fillers):
                filler.add(head_unit_rows(batch.heads[layer], info.num_heads))
    decode = _decoder(loaded)
    notes = list(corpus.notes)
    if cut:
        notes.append(f"{cut} line(s) were longer than {info.max_tokens} tokens and were cut.")
    return CorpusIndex(
        model_name=info.name,
        settings=settings,
        num_heads=info.num_heads,
        sentences=corpus.sentences,
        token_texts=tuple(tuple(decode(i) for i in ids) for ids in id_lists),
        sentence_ids=np.concatenate(sentence_ids) if sentence_ids else np.zeros(0, np.int32),
        positions=np.concatenate(positions) if positions else np.zeros(0, np.int32),
        hidden=[filler.finish() for filler in hidden_fillers],
        heads=None if head_fillers is None else [filler.finish() for filler in head_fillers],
        truncated_sentences=cut,
        seconds=time.perf_counter() - started,
        notes=tuple(notes),
    )


# ---------------------------------------------------------------------------------------------
# Queries and search


@dataclass(frozen=True)
class QueryTokens:
    """Vectors of every token of a query text, computed like the corpus's.

    ``hidden[layer + 1, token, dim]`` and ``heads[layer, token, dim]`` (raw, unnormalised).
    """

    text: str
    labels: tuple[str, ...]
    special_mask: np.ndarray
    hidden: np.ndarray
    heads: np.ndarray


def encode_query(loaded: Loaded, text: str) -> QueryTokens:
    """Run ``text`` once through the model (cut to its limit) and keep every token's vectors."""
    if not text.strip():
        raise CorpusError("Type some text to take the query token from.")
    (ids,), _ = tokenize(loaded, [text])
    hidden, heads, _valid = forward_batch(loaded, [ids], with_heads=True)
    assert heads is not None
    special = set(loaded.tokenizer.all_special_ids) - {loaded.tokenizer.mask_token_id}
    decode = _decoder(loaded)
    return QueryTokens(
        text=text,
        labels=tuple(token_label(decode(i)) for i in ids),
        special_mask=np.array([i in special for i in ids], dtype=bool),
        hidden=hidden[:, 0],
        heads=heads[:, 0],
    )


@dataclass(frozen=True)
class Match:
    rank: int
    score: float  # cosine similarity (mean over the selected heads in head mode)
    sentence_id: int
    position: int
    token: str
    sentence: str


def _check_layer(index: CorpusIndex, layer: int, mode: Mode) -> None:
    if mode == "embedding":
        if not 0 <= layer <= index.num_layers:
            raise ValueError(f"layer {layer} is outside 0..{index.num_layers}")
    elif mode == "heads":
        if index.heads is None:
            raise CorpusError("This index holds no head outputs; rebuild it with heads.")
        if not 1 <= layer <= index.num_layers:
            raise ValueError(f"layer {layer} is outside 1..{index.num_layers}")
    else:
        raise ValueError(f"unknown mode {mode!r}")


def search_vectors(
    index: CorpusIndex,
    vector: np.ndarray,
    layer: int,
    mode: Mode = "embedding",
    heads: Sequence[int] | None = None,
    k: int = 10,
) -> list[Match]:
    """The ``k`` corpus tokens nearest to a raw query vector.

    ``mode="embedding"``: ``vector`` is a hidden state and ``layer`` its hidden-state index
    (0 = embeddings). ``mode="heads"``: ``vector`` holds a layer's concatenated head contexts,
    ``layer`` is 1-based and ``heads`` (0-based, default all) picks the heads compared.
    """
    if index.num_tokens == 0:
        return []
    k = max(1, min(int(k), index.num_tokens))
    query = np.asarray(vector, dtype=np.float32)[None, :]
    _check_layer(index, layer, mode)
    if mode == "embedding":
        faiss_index, scale = index.hidden[layer], 1.0
        query = unit_rows(query)
    else:
        assert index.heads is not None
        selected = sorted(set(range(index.num_heads) if heads is None else heads))
        if not selected or not all(0 <= h < index.num_heads for h in selected):
            raise CorpusError("Select at least one head.")
        faiss_index = index.heads[layer - 1]
        query = head_unit_rows(query, index.num_heads, selected)
        scale = index.num_heads / len(selected)  # sum of cosines / heads → mean over selected
    scores, rows = faiss_index.search(query, k)
    matches = []
    for rank, (score, row) in enumerate(zip(scores[0].tolist(), rows[0].tolist()), start=1):
        if row < 0:
            continue
        sentence_id = int(index.sentence_ids[row])
        position = int(index.positions[row])
        matches.append(Match(
            rank=rank,
            score=float(score) * scale,
            sentence_id=sentence_id,
            position=position,
            token=token_label(index.token_texts[sentence_id][position]),
            sentence=index.sentences[sentence_id],
        ))
    return matches


def search(
    index: CorpusIndex,
    query: QueryTokens,
    token: int,
    layer: int,
    mode: Mode = "embedding",
    heads: Sequence[int] | None = None,
    k: int = 10,
) -> list[Match]:
    """Nearest corpus tokens to token ``token`` of ``query`` (see :func:`search_vectors`)."""
    if not 0 <= token < len(query.labels):
        raise ValueError(f"token {token} is outside 0..{len(query.labels) - 1}")
    _check_layer(index, layer, mode)
    vector = query.hidden[layer, token] if mode == "embedding" else query.heads[layer - 1, token]
    return search_vectors(index, vector, layer, mode, heads, k)


@dataclass(frozen=True)
class Context:
    """Decoded token texts around a match: ``"".join(before) + token + "".join(after)``."""

    before: tuple[str, ...]
    token: str
    after: tuple[str, ...]
    cut_before: bool  # more tokens precede ``before``
    cut_after: bool


def match_context(index: CorpusIndex, match: Match, width: int = 5) -> Context:
    """Up to ``width`` tokens either side of the match (special tokens left out)."""
    tokens = index.token_texts[match.sentence_id]
    first, last = 1, len(tokens) - 1  # <s> ... </s>
    start = max(first, match.position - width)
    end = min(last, match.position + 1 + width)
    return Context(
        before=tokens[start: match.position],
        token=tokens[match.position],
        after=tokens[match.position + 1: end],
        cut_before=start > first,
        cut_after=end < last,
    )


def recall_at_k(exact_rows: np.ndarray, approx_rows: np.ndarray) -> float:
    """Mean share of each query's exact top-k rows that the approximate top-k also holds."""
    hits = [len(set(e.tolist()) & set(a.tolist())) / max(1, len(e))
            for e, a in zip(exact_rows, approx_rows)]
    return float(np.mean(hits)) if hits else 0.0


def tie_aware_recall(
    queries: np.ndarray, vectors: np.ndarray, exact_scores: np.ndarray,
    approx_rows: np.ndarray, tolerance: float = 1e-4,
) -> float:
    """Share of approximate top-k rows whose exact similarity reaches the exact k-th best.

    Row-id recall undercounts when many vectors tie (the same token at the same position has
    the same embedding; random test models tie a lot): any of the tied rows is a right answer.
    ``vectors[row, dim]`` are the exact unit vectors, ``exact_scores[query, rank]`` the exact
    top-k similarities.
    """
    true_scores = np.einsum("qd,qkd->qk", queries, vectors[approx_rows])
    return float(np.mean(true_scores >= exact_scores[:, -1:] - tolerance))


# ---------------------------------------------------------------------------------------------
# Disk cache


def cache_dir() -> Path:
    """Where indices are cached: ``$EXPLORER_CACHE_DIR`` or ``.explorer_cache/`` in the repo."""
    configured = os.environ.get(CACHE_ENV_VAR, "").strip()
    return Path(configured).expanduser() if configured else ROOT / ".explorer_cache"


def model_fingerprint(loaded: Loaded) -> str:
    """Model name, config and a checksum of the word embeddings (a re-saved model differs)."""
    digest = hashlib.sha256(loaded.info.name.encode("utf-8"))
    digest.update(loaded.model.config.to_json_string(use_diff=False).encode("utf-8"))
    embeddings = loaded.model.get_input_embeddings().weight.detach()
    digest.update(embeddings[:64].float().numpy().tobytes())
    return digest.hexdigest()


def index_key(loaded: Loaded, corpus: Corpus, settings: IndexSettings) -> str:
    parts = {"format": FORMAT_VERSION, "model": model_fingerprint(loaded),
             "corpus": corpus.digest, "storage": settings.storage, "heads": settings.heads}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()[:32]


def save_index(index: CorpusIndex, folder: Path) -> None:
    """Write ``index`` into ``folder`` atomically (a temp folder renamed at the end)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        for layer, faiss_index in enumerate(index.hidden):
            faiss.write_index(faiss_index, str(temporary / f"hidden_{layer}.faiss"))
        for layer, faiss_index in enumerate(index.heads or [], start=1):
            faiss.write_index(faiss_index, str(temporary / f"heads_{layer}.faiss"))
        np.savez(temporary / "rows.npz", sentence_ids=index.sentence_ids,
                 positions=index.positions)
        meta = {
            "format": FORMAT_VERSION,
            "model_name": index.model_name,
            "settings": asdict(index.settings),
            "num_heads": index.num_heads,
            "num_layers": index.num_layers,
            "sentences": list(index.sentences),
            "token_texts": [list(t) for t in index.token_texts],
            "truncated_sentences": index.truncated_sentences,
            "notes": list(index.notes),
        }
        (temporary / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(temporary, folder)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def load_index(folder: Path) -> CorpusIndex:
    """Read an index written by :func:`save_index`."""
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError("index written by another version")
    settings = IndexSettings(**meta["settings"])
    rows = np.load(folder / "rows.npz")
    layers = int(meta["num_layers"])
    hidden = [faiss.read_index(str(folder / f"hidden_{i}.faiss")) for i in range(layers + 1)]
    heads = ([faiss.read_index(str(folder / f"heads_{i}.faiss")) for i in range(1, layers + 1)]
             if settings.heads else None)
    return CorpusIndex(
        model_name=meta["model_name"],
        settings=settings,
        num_heads=int(meta["num_heads"]),
        sentences=tuple(meta["sentences"]),
        token_texts=tuple(tuple(t) for t in meta["token_texts"]),
        sentence_ids=rows["sentence_ids"],
        positions=rows["positions"],
        hidden=hidden,
        heads=heads,
        truncated_sentences=int(meta["truncated_sentences"]),
        from_cache=True,
        notes=tuple(meta["notes"]),
    )


def disk_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.iterdir() if path.is_file())


def cached_index_folder(loaded: Loaded, corpus: Corpus, settings: IndexSettings,
                        root: Path | None = None) -> Path:
    return (root or cache_dir()) / index_key(loaded, corpus, settings)


def load_cached(loaded: Loaded, corpus: Corpus, settings: IndexSettings,
                root: Path | None = None) -> CorpusIndex | None:
    """The cached index, or ``None`` when there is none (or it cannot be read)."""
    folder = cached_index_folder(loaded, corpus, settings, root)
    if not (folder / "meta.json").is_file():
        return None
    try:
        return load_index(folder)
    except Exception:  # a damaged or foreign cache entry is rebuilt, never fatal
        return None


def build_or_load(
    loaded: Loaded,
    corpus: Corpus,
    settings: IndexSettings | None = None,
    progress: ProgressCallback | None = None,
    root: Path | None = None,
) -> CorpusIndex:
    """The index from the disk cache, or built now and saved there."""
    settings = settings or IndexSettings()
    cached = load_cached(loaded, corpus, settings, root)
    if cached is not None:
        return cached
    index = build_index(loaded, corpus, settings, progress)
    try:
        save_index(index, cached_index_folder(loaded, corpus, settings, root))
    except OSError as error:  # a read-only disk costs a rebuild next time, nothing more
        index.notes = (*index.notes, f"The index could not be cached on disk: {error}")
    return index
