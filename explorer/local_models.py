"""Find the masked language models already on this machine, without loading any of them.

Three places are looked at: the folder or hub id in ``$EXPLORER_MODEL``, the project's
``models/`` folder (and ``$EXPLORER_MODEL_ROOT`` when set), and the Hugging Face hub cache
(``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, laid out as ``models--org--name/snapshots/<rev>/``).
Only small files are read: ``config.json`` and the JSON header of each safetensors file, so a
scan of a cache with many models takes milliseconds.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

PROJECT_MODELS = Path(__file__).resolve().parent.parent / "models"
MODEL_ROOT_ENV_VAR = "EXPLORER_MODEL_ROOT"
_MAX_HEADER_BYTES = 100 * 2**20
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "sentencepiece.bpe.model",
                    "spiece.model")


@dataclass(frozen=True)
class LocalModel:
    """A model found on disk: what to put in the model field, and what to show beside it."""

    name: str  # a hub id (hub cache) or a folder path: what load() takes
    where: str  # "$EXPLORER_MODEL", "models/", "model root" or "hub cache"
    family: str  # config.json's model_type, e.g. "roberta"
    size_bytes: int  # the safetensors files
    num_parameters: int  # from the safetensors headers
    has_lm_head: bool  # the config names a masked-LM (or pre-training) architecture
    folder: Path

    @property
    def label(self) -> str:
        head = "" if self.has_lm_head else ", no prediction head"
        return (f"{self.name} · {self.family}, {self.num_parameters / 1e6:.0f} M parameters, "
                f"{self.size_bytes / 2**20:.0f} MiB{head}")


def hub_cache_dir() -> Path:
    """The hub cache folder as huggingface_hub computes it, read from the environment now."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("HF_HOME")
    if home:
        return Path(home).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(xdg).expanduser() / "huggingface" / "hub"


def _masked_lm_families() -> frozenset[str]:
    try:
        from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES
    except ImportError:  # pragma: no cover - transformers always has it
        return frozenset()
    return frozenset(MODEL_FOR_MASKED_LM_MAPPING_NAMES)


def safetensors_parameters(file: Path) -> int:
    """The number of values stored in one safetensors file, read from its JSON header only."""
    with file.open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        if not 0 < length <= _MAX_HEADER_BYTES:
            raise ValueError("not a safetensors header")
        header = json.loads(handle.read(length))
    total = 0
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        count = 1
        for dim in entry["shape"]:
            count *= int(dim)
        total += count
    return total


def describe_folder(folder: Path, name: str, where: str) -> LocalModel | None:
    """A :class:`LocalModel` for ``folder`` when it holds a masked LM the app can load."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        family = str(config.get("model_type", ""))
        if family not in _masked_lm_families():
            return None
        weights = sorted(folder.glob("*.safetensors"))
        if not weights or not any((folder / f).is_file() for f in _TOKENIZER_FILES):
            return None
        size = sum(f.stat().st_size for f in weights)
        parameters = sum(safetensors_parameters(f) for f in weights)
    except (OSError, ValueError, KeyError, TypeError, struct.error):
        return None
    architectures = config.get("architectures") or []
    has_head = any(str(a).endswith(("ForMaskedLM", "ForPreTraining")) for a in architectures)
    return LocalModel(name=name, where=where, family=family, size_bytes=size,
                      num_parameters=parameters, has_lm_head=has_head, folder=folder)


def cached_snapshot(repo_folder: Path) -> Path | None:
    """The snapshot folder a hub-cache repo folder's ``main`` ref points at (else the newest)."""
    snapshots = repo_folder / "snapshots"
    ref = repo_folder / "refs" / "main"
    try:
        if ref.is_file():
            revision = ref.read_text(encoding="utf-8").strip()
            if (snapshots / revision).is_dir():
                return snapshots / revision
        candidates = [p for p in snapshots.iterdir() if p.is_dir()]
    except OSError:
        return None
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def hub_cache_models(cache: Path | None = None) -> list[LocalModel]:
    """Masked LMs in the hub cache, by repo id (``models--org--name`` → ``org/name``)."""
    cache = cache or hub_cache_dir()
    found = []
    try:
        repos = sorted(p for p in cache.iterdir() if p.name.startswith("models--"))
    except OSError:
        return []
    for repo in repos:
        snapshot = cached_snapshot(repo)
        if snapshot is None:
            continue
        repo_id = repo.name[len("models--"):].replace("--", "/")
        model = describe_folder(snapshot, repo_id, "hub cache")
        if model is not None:
            found.append(model)
    return found


def folder_models(root: Path, where: str) -> list[LocalModel]:
    """Masked LMs in ``root`` itself or in its direct sub-folders."""
    found = []
    try:
        candidates = [root, *sorted(p for p in root.iterdir() if p.is_dir())]
    except OSError:
        return []
    for folder in candidates:
        try:
            has_config = (folder / "config.json").is_file()
        except OSError:  # a folder the server's user may not read is not offered (issue 20)
            continue
        if has_config:
            model = describe_folder(folder, str(folder), where)
            if model is not None:
                found.append(model)
    return found


def operator_model(name: str) -> LocalModel | None:
    """``$EXPLORER_MODEL`` described, when it is a folder or a hub id already in the cache."""
    folder = Path(name).expanduser()
    if folder.is_dir():
        return describe_folder(folder, name, "$EXPLORER_MODEL")
    repo = hub_cache_dir() / ("models--" + name.replace("/", "--"))
    snapshot = cached_snapshot(repo) if repo.is_dir() else None
    if snapshot is None:
        return None
    model = describe_folder(snapshot, name, "$EXPLORER_MODEL")
    return model


def discover(include_hub_cache: bool = True) -> list[LocalModel]:
    """Every loadable masked LM on this machine, ``$EXPLORER_MODEL`` first, without duplicates.

    A public server (``EXPLORER_PUBLIC=1``) passes ``include_hub_cache=False``: it offers only
    the operator's model and the folders under ``$EXPLORER_MODEL_ROOT``.
    """
    found: list[LocalModel] = []
    chosen = os.environ.get("EXPLORER_MODEL", "").strip()
    if chosen:
        model = operator_model(chosen)
        if model is not None:
            found.append(model)
    root = os.environ.get(MODEL_ROOT_ENV_VAR, "").strip()
    if root:
        found += folder_models(Path(root).expanduser(), "model root")
    if include_hub_cache:
        found += folder_models(PROJECT_MODELS, "models/")
        found += hub_cache_models()
    unique: dict[str, LocalModel] = {}
    for model in found:
        key = str(model.folder.resolve())
        unique.setdefault(key, model)
    return list(unique.values())
