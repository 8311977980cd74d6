"""The disk cache of corpus indices: keys, save and load, size bound with LRU eviction.

Each index is a folder named by :func:`index_key` (model fingerprint, corpus digest, settings)
under :func:`cache_dir`. Loading an entry marks it used (its ``meta.json`` modification time);
after each save, the least recently used entries are removed until the cache holds at most
:func:`~explorer.corpus.limits.disk_cache_bytes`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TypeVar

import faiss
import numpy as np

from explorer.corpus.encoding import ProgressCallback
from explorer.corpus.index import CorpusIndex, IndexSettings, build_index
from explorer.corpus.limits import MIB, disk_cache_bytes
from explorer.corpus.reading import ROOT, Corpus
from explorer.model import Loaded

CACHE_ENV_VAR = "EXPLORER_CACHE_DIR"
"""Environment variable overriding where indices are cached (default ``.explorer_cache/``)."""
FORMAT_VERSION = 3  # bump when the on-disk layout or the vectors change
_ENTRY_NAME = re.compile(r"^[0-9a-f]{32}$")
_STALE_TEMPORARY_S = 3600  # a half-written entry older than this was left by a crash


def cache_dir() -> Path:
    """Where indices are cached: ``$EXPLORER_CACHE_DIR`` or ``.explorer_cache/`` in the repo."""
    configured = os.environ.get(CACHE_ENV_VAR, "").strip()
    return Path(configured).expanduser() if configured else ROOT / ".explorer_cache"


def model_fingerprint(loaded: Loaded) -> str:
    """The weights' fingerprint taken at load (:attr:`ModelInfo.fingerprint`); for a model
    described without one: its name, config and a checksum of the word embeddings."""
    if loaded.info.fingerprint:
        return loaded.info.fingerprint
    digest = hashlib.sha256(loaded.info.name.encode("utf-8"))
    digest.update(loaded.model.config.to_json_string(use_diff=False).encode("utf-8"))
    embeddings = loaded.model.get_input_embeddings().weight.detach()
    digest.update(embeddings[:64].float().cpu().numpy().tobytes())
    return digest.hexdigest()


def index_key(loaded: Loaded, corpus: Corpus, settings: IndexSettings) -> str:
    parts = {"format": FORMAT_VERSION, "model": model_fingerprint(loaded),
             "corpus": corpus.digest, "storage": settings.storage, "heads": settings.heads}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()[:32]


_Entry = TypeVar("_Entry")


def write_entry(folder: Path, write: Callable[[Path], None]) -> None:
    """Make the cache entry ``folder`` atomically: ``write(temporary)`` fills a temp folder
    beside it, which then replaces ``folder`` (a failed or stopped write leaves nothing)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        write(temporary)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(temporary, folder)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def write_meta(folder: Path, meta: dict) -> None:
    """An entry's ``meta.json`` (inside :func:`write_entry`'s temporary folder)."""
    (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")


def read_meta(folder: Path, entry_format: int, kind: str) -> dict:
    """An entry's ``meta.json``; ValueError when another version (format) or another kind of
    entry wrote it."""
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    if meta.get("format") != entry_format or meta.get("kind") != kind:
        raise ValueError(f"{kind} written by another version")
    return meta


def read_entry(folder: Path, read: Callable[[Path], _Entry]) -> _Entry | None:
    """``read(folder)`` for the cache entry ``folder`` (now marked as used), or ``None`` when
    there is none or it cannot be read (a damaged or foreign entry is made again, never
    fatal)."""
    if not (folder / "meta.json").is_file():
        return None
    try:
        value = read(folder)
    except Exception:
        return None
    mark_used(folder)
    return value


def save_index(index: CorpusIndex, folder: Path) -> None:
    """Write ``index`` into ``folder`` atomically (a temp folder renamed at the end)."""

    def write(temporary: Path) -> None:
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

    write_entry(folder, write)


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


def mark_used(folder: Path) -> None:
    now = time.time_ns()  # explicit: the file system's own clock ticks only every few ms
    with contextlib.suppress(OSError):
        os.utime(folder / "meta.json", ns=(now, now))


def _last_used(folder: Path) -> int:
    try:
        return (folder / "meta.json").stat().st_mtime_ns
    except OSError:
        return 0


def cache_entries(root: Path | None = None) -> list[tuple[Path, int, int]]:
    """``(folder, bytes, last used in ns)`` of every cached index, least recently used first."""
    root = root or cache_dir()
    if not root.is_dir():
        return []
    entries = []
    for folder in root.iterdir():
        if folder.is_dir() and _ENTRY_NAME.match(folder.name):
            try:
                entries.append((folder, disk_bytes(folder), _last_used(folder)))
            except OSError:  # removed meanwhile by another session
                continue
    return sorted(entries, key=lambda entry: entry[2])


def evict(root: Path | None = None, max_bytes: int | None = None) -> list[Path]:
    """Remove the least recently used indices until the cache holds at most ``max_bytes``
    (default :func:`~explorer.corpus.limits.disk_cache_bytes`), and half-written entries left by
    a crash. Returns the folders removed."""
    root = root or cache_dir()
    max_bytes = disk_cache_bytes() if max_bytes is None else max_bytes
    removed = []
    if root.is_dir():
        now = time.time()
        for folder in root.iterdir():
            stem = folder.name.split(".", 1)[0]
            if (folder.is_dir() and "." in folder.name and _ENTRY_NAME.match(stem)
                    and now - folder.stat().st_mtime > _STALE_TEMPORARY_S):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    entries = cache_entries(root)
    total = sum(size for _, size, _ in entries)
    for folder, size, _ in entries:
        if total <= max_bytes:
            break
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
        total -= size
    return removed


def load_cached(loaded: Loaded, corpus: Corpus, settings: IndexSettings,
                root: Path | None = None) -> CorpusIndex | None:
    """The cached index (now marked as used), or ``None`` when there is none or it cannot be
    read."""
    return read_entry(cached_index_folder(loaded, corpus, settings, root), load_index)


def build_or_load(
    loaded: Loaded,
    corpus: Corpus,
    settings: IndexSettings | None = None,
    progress: ProgressCallback | None = None,
    root: Path | None = None,
) -> CorpusIndex:
    """The index from the disk cache, or built now and saved there (then the cache is held to
    its size, least recently used entries first)."""
    settings = settings or IndexSettings()
    cached = load_cached(loaded, corpus, settings, root)
    if cached is not None:
        return cached
    index = build_index(loaded, corpus, settings, progress)
    folder = cached_index_folder(loaded, corpus, settings, root)
    limit = disk_cache_bytes()
    try:
        save_index(index, folder)
        mark_used(folder)
        if folder in evict(root, limit):
            index.notes = (*index.notes, "The index is larger than the disk cache "
                           f"({limit / MIB:,.0f} MiB), so it was not kept on disk.")
    except OSError:  # a read-only or full disk costs a rebuild next time, nothing more
        index.notes = (*index.notes, "The index could not be saved in the disk cache; it will "
                       "be built again next time.")
    return index
