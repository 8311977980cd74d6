"""Load a masked language model for exploration (no Streamlit here).

One entry point, :func:`load`, used by the app, the tests and the benchmarks alike. It accepts a
local folder or a hub id, loads weights from safetensors only, never runs remote code, forces the
eager attention implementation (SDPA returns no attention weights) and turns every failure into a
:class:`ModelLoadError` that says what was tried and how to fix it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from explorer.architectures import Architecture, ArchitectureError, architecture_for
from explorer.devices import DeviceError, choose_device

DEFAULT_MODEL = "distilroberta-base"
MODEL_ENV_VAR = "EXPLORER_MODEL"
"""Environment variable naming the model (hub id or folder) the app starts with."""
ALLOWED_MODELS_ENV_VAR = "EXPLORER_ALLOWED_MODELS"
"""Comma-separated hub ids / folders a public demo may load; unset or empty: any model."""
PUBLIC_ENV_VAR = "EXPLORER_PUBLIC"
"""Set to 1 on a public server: names typed by visitors get one neutral error message, and
folders outside ``$EXPLORER_MODEL_ROOT`` are refused (the Docker image sets it)."""
MODEL_ROOT_ENV_VAR = "EXPLORER_MODEL_ROOT"
"""The only folder (with its sub-folders) visitors of a public server may load models from."""
MAX_HUB_ID_PART = 96  # the hub's own limit for an owner or a repository name
MAX_PATH_PART_BYTES = 255  # NAME_MAX of Linux file systems
MAX_NAME_CHARS = 1024

log = logging.getLogger(__name__)

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")
_UNBOUNDED_LENGTH = 10**6  # tokenizers report ~1e30 when they know no limit
ATTENTION_BUDGET_ENV_VAR = "EXPLORER_ATTENTION_MB"
"""MiB one analysis's attentions may take (default 256); decides the token cap of long-context
models and when attentions are kept as float16 instead of float32."""
DEFAULT_ATTENTION_MB = 256
MIN_TOKEN_CAP = 512  # every model reads at least this many tokens (BERT's own limit)


class ModelLoadError(RuntimeError):
    """The model could not be loaded; ``str(error)`` is a message fit for a user."""

    def __init__(self, name: str, tried: list[str], fix: str) -> None:
        self.name = name if len(name) <= 120 else name[:117] + "…"
        self.tried = tried
        self.fix = fix
        lines = [f"Could not load the model '{self.name}'."]
        lines += [f"- {attempt}" for attempt in tried]
        lines.append(f"How to fix it: {fix}")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class ModelInfo:
    """What the views need to know about a loaded model."""

    name: str
    source: str  # "local folder", "hub cache" or "hub download"
    model_type: str
    num_layers: int
    num_heads: int
    hidden_size: int
    vocab_size: int
    max_tokens: int  # longest input, special tokens included
    mask_token: str
    special_tokens: tuple[str, ...]
    num_parameters: int
    # Added with the architecture table (defaults keep hand-made ModelInfo objects working):
    family: str = ""  # "RoBERTa", "BERT" … (explorer.architectures)
    start_token: str = "<s>"  # the tokenizer's own sequence start / end tokens, for labels
    end_token: str = "</s>"
    model_max_tokens: int = 0  # what the model itself reads; max_tokens may be capped below it
    dtype: str = "float32"  # the weights' dtype
    device: str = "cpu"
    attention_dtype: str = "float32"  # how analyses keep attentions at max_tokens
    unsupported_views: tuple[tuple[str, str], ...] = ()  # (view, why not), e.g. neuron view
    fingerprint: str = ""  # hash of the weights and tokenizer in memory: caches key on it
    has_lm_head: bool = True  # False: the checkpoint has no trained masked-LM head

    @property
    def special_label(self) -> str:
        """``<s>, </s>`` for RoBERTa, ``[CLS], [SEP]`` for BERT: for "Hide …" labels."""
        return f"{self.start_token}, {self.end_token}"

    @property
    def architecture(self) -> Architecture:
        """This model's entry of :data:`explorer.architectures.ARCHITECTURES`."""
        return architecture_for(self.model_type)

    def why_not(self, view: str) -> str:
        """Why ``view`` (e.g. :data:`explorer.architectures.NEURON_VIEW`) is not available for
        this model, or "" when it is."""
        return dict(self.unsupported_views).get(view, "")


@dataclass(frozen=True)
class Loaded:
    """A tokenizer and a masked LM in eval mode, with eager attention."""

    tokenizer: Any
    model: Any
    info: ModelInfo = field(repr=False)


def default_model_name() -> str:
    """The model the app starts with: ``$EXPLORER_MODEL``, else distilroberta-base, else (when an
    allow-list is set that does not name distilroberta-base) the first allowed model."""
    chosen = os.environ.get(MODEL_ENV_VAR, "").strip()
    if chosen:
        return chosen
    allowed = allowed_models()
    if allowed and not is_allowed(DEFAULT_MODEL, allowed):
        return allowed[0]
    return DEFAULT_MODEL


def allowed_models() -> tuple[str, ...] | None:
    """The models visitors may load, or None when any model may be loaded.

    Read from ``$EXPLORER_ALLOWED_MODELS`` (comma-separated hub ids or folders). The operator's
    own ``$EXPLORER_MODEL`` is always allowed, so setting both never locks the app out.
    """
    listed = [n.strip() for n in os.environ.get(ALLOWED_MODELS_ENV_VAR, "").split(",")]
    names = [n for n in listed if n]
    if not names:
        return None
    chosen = os.environ.get(MODEL_ENV_VAR, "").strip()
    if chosen and not is_allowed(chosen, names):
        names.insert(0, chosen)
    return tuple(dict.fromkeys(names))


def _same_model(a: str, b: str) -> bool:
    if a == b:
        return True
    if _looks_like_path(a) and _looks_like_path(b):  # ./models/x and models/x/ are one folder
        return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()
    return False


def is_allowed(name: str, allowed: tuple[str, ...] | list[str] | None) -> bool:
    """Whether ``name`` is on the ``allowed`` list (None: everything is allowed)."""
    name = name.strip()
    return allowed is None or any(_same_model(name, entry) for entry in allowed)


def check_allowed(name: str) -> None:
    """Refuse a model that ``$EXPLORER_ALLOWED_MODELS`` does not list, before any file access.

    Public demos set the allow-list so a visitor cannot make the server download arbitrary
    repositories or probe its folders.
    """
    allowed = allowed_models()
    if not is_allowed(name, allowed):
        raise ModelLoadError(
            name,
            ["refused: this server only loads the models its operator allowed "
             f"(${ALLOWED_MODELS_ENV_VAR}); nothing was downloaded"],
            "choose one of: " + ", ".join(allowed or ()) + ".",
        )


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _looks_like_path(name: str) -> bool:
    return (
        name.startswith(("/", ".", "~"))
        or "\\" in name
        or name.count("/") > 1
        or not _HUB_ID.match(name)
    )


def looks_like_folder(name: str) -> bool:
    """Whether ``name`` is read as a folder path rather than a hub id."""
    return _looks_like_path(name)


def _check_folder(folder: Path, name: str) -> None:
    tried = [f"looked for a local folder at {name}"]
    if not folder.is_dir():
        raise ModelLoadError(
            name,
            [*tried, "no such folder"],
            "point the model field at a folder made by save_pretrained(), or give a hub id "
            f"such as {DEFAULT_MODEL}.",
        )
    if not os.access(folder, os.R_OK | os.X_OK) or any(
            path.is_file() and not os.access(path, os.R_OK) for path in folder.iterdir()):
        raise ModelLoadError(
            name,
            [*tried, "permission denied: the user the app runs as cannot read the folder"],
            "make it readable for that user, e.g. chmod -R a+rX on the folder (the Docker "
            "image runs the app as UID 1000).",
        )
    missing = [n for n in ("config.json",) if not (folder / n).is_file()]
    if not any(folder.glob("*.safetensors")):
        missing.append("model.safetensors")
    if missing:
        raise ModelLoadError(
            name,
            [*tried, f"the folder has no {', '.join(missing)}"],
            "the folder must hold config.json, the tokenizer files and the weights as "
            "safetensors (save it with model.save_pretrained(folder, safe_serialization=True)).",
        )


_BUILD_LOCK = threading.Lock()
"""One model is built at a time in this process: transformers builds a model's modules on the
``meta`` device through process-wide patches, so two loads in two threads (two sessions, or the
Models page's A and B) could each receive the other's empty tensors ("Cannot copy out of meta
tensor")."""


def _from_pretrained(source: str, local_only: bool) -> tuple[Any, Any, dict[str, Any]]:
    """Tokenizer, model and transformers' loading info (missing / unexpected keys)."""
    with _BUILD_LOCK:
        return _from_pretrained_unlocked(source, local_only)


def _from_pretrained_unlocked(source: str, local_only: bool) -> tuple[Any, Any, dict[str, Any]]:
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    cache = _hub_cache_kwargs(source)
    tokenizer = AutoTokenizer.from_pretrained(
        source, local_files_only=local_only, trust_remote_code=False, **cache
    )
    model, loading_info = AutoModelForMaskedLM.from_pretrained(
        source,
        local_files_only=local_only,
        trust_remote_code=False,
        use_safetensors=True,
        attn_implementation="eager",
        dtype="auto",  # keep float16 / bfloat16 weights as saved
        **cache,
        **_in_memory_weights_kwargs(),
    )
    return tokenizer, model, loading_info


def _model_max_tokens(tokenizer: Any, config: Any, architecture: Architecture) -> int:
    limits = []
    if 0 < getattr(tokenizer, "model_max_length", 0) < _UNBOUNDED_LENGTH:
        limits.append(int(tokenizer.model_max_length))
    positions = getattr(config, "max_position_embeddings", None)
    if positions:  # RoBERTa-family positions start at padding_idx + 1
        limits.append(int(positions) - architecture.position_offset(config))
    return min(limits) if limits else MIN_TOKEN_CAP


def attention_budget_bytes() -> int:
    """``$EXPLORER_ATTENTION_MB`` MiB (default 256): what one analysis's attentions may take."""
    raw = os.environ.get(ATTENTION_BUDGET_ENV_VAR, "").strip()
    try:
        megabytes = float(raw) if raw else DEFAULT_ATTENTION_MB
    except ValueError:
        megabytes = DEFAULT_ATTENTION_MB
    return int(max(megabytes, 1) * 2**20)


def attention_bytes(num_layers: int, num_heads: int, tokens: int, itemsize: int) -> int:
    """Size of ``attentions[layer, head, query, key]`` for ``tokens`` tokens."""
    return num_layers * num_heads * tokens * tokens * itemsize


def token_cap(model_max_tokens: int, num_layers: int, num_heads: int,
              budget: int | None = None) -> int:
    """How many tokens the explorer reads: the model's limit, unless its attentions in float16
    would exceed the budget (ModernBERT reads 8 192 tokens: 22 × 12 × 8 192² halves = 35 GB);
    then as many as fit, and never fewer than :data:`MIN_TOKEN_CAP`."""
    budget = attention_budget_bytes() if budget is None else budget
    fitting = int((budget / (num_layers * num_heads * 2)) ** 0.5)
    return min(model_max_tokens, max(MIN_TOKEN_CAP, fitting))


def attention_dtype_for(num_layers: int, num_heads: int, tokens: int,
                        budget: int | None = None) -> str:
    """"float32" when the attentions of ``tokens`` tokens fit the budget in float32, else
    "float16" (rows still sum to 1 within 1e-3)."""
    budget = attention_budget_bytes() if budget is None else budget
    return "float32" if attention_bytes(num_layers, num_heads, tokens, 4) <= budget \
        else "float16"


def _describe(name: str, source: str, tokenizer: Any, model: Any) -> ModelInfo:
    config = model.config
    architecture = architecture_for(config)
    layers, heads = int(config.num_hidden_layers), int(config.num_attention_heads)
    model_limit = _model_max_tokens(tokenizer, config, architecture)
    cap = token_cap(model_limit, layers, heads)
    parameter = next(model.parameters())
    return ModelInfo(
        name=name,
        source=source,
        model_type=str(config.model_type),
        num_layers=layers,
        num_heads=heads,
        hidden_size=int(config.hidden_size),
        vocab_size=int(config.vocab_size),
        max_tokens=cap,
        mask_token=str(tokenizer.mask_token),
        special_tokens=tuple(str(t) for t in tokenizer.all_special_tokens),
        num_parameters=int(sum(p.numel() for p in model.parameters())),
        family=architecture.family,
        start_token=str(tokenizer.cls_token or architecture.start_token),
        end_token=str(tokenizer.sep_token or architecture.end_token),
        model_max_tokens=model_limit,
        dtype=str(parameter.dtype).removeprefix("torch."),
        device=str(parameter.device),
        attention_dtype=attention_dtype_for(layers, heads, cap),
        unsupported_views=tuple(architecture.unsupported.items()),
    )


def load(name_or_path: str | os.PathLike[str] | None = None) -> Loaded:
    """Load a BERT/RoBERTa-family masked LM from a local folder or the hub.

    A hub id is first looked up in the local cache, then (unless ``HF_HUB_OFFLINE`` is set)
    downloaded. A name not on ``$EXPLORER_ALLOWED_MODELS`` (when set) is refused first.
    Raises :class:`ModelLoadError` with a user-facing message on any failure.
    """
    name = str(name_or_path or default_model_name()).strip()
    try:
        return _load_named(name)
    except ModelLoadError as error:
        raise _for_audience(name, error) from None
    except Exception as error:  # an unforeseen failure: logged here, never shown raw
        log.exception("loading model %r failed", name[:200])
        unexpected = ModelLoadError(
            name, [f"loading failed unexpectedly ({type(error).__name__})"],
            "check that the name is a hub id or a folder made by save_pretrained().")
        raise _for_audience(name, unexpected) from None


def _load_named(name: str) -> Loaded:
    check_model_name(name)
    check_allowed(name)
    check_public_folder(name)
    try:
        device = choose_device()
    except DeviceError as error:
        raise ModelLoadError(name, [str(error)], "unset it or name a device this machine has.") \
            from error
    folder = Path(name).expanduser()
    if _looks_like_path(name) or folder.is_dir():
        _check_folder(folder, name)
        attempts = [(str(folder), True, "local folder")]
    else:
        attempts = [(name, True, "hub cache")]
        offline_reason = "the hub could not be reached"
        if not _hub_offline():
            from explorer.hub import hub_status

            status = hub_status()  # probed once per process, seconds at most
            if status.reachable:
                attempts.append((name, False, "hub download"))
            else:
                offline_reason = status.reason

    tried: list[str] = []
    hub_id = attempts[0][2] == "hub cache"
    if hub_id and not _in_hub_cache(name):
        tried.append("hub cache: not in the Hugging Face cache on this machine")
        attempts = attempts[1:]  # nothing to read: skip transformers' own lookup
    for source, local_only, label in attempts:
        try:
            tokenizer, model, loading_info = _from_pretrained(source, local_only)
        except Exception as error:  # transformers raises many kinds; all mean "not here"
            reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            reason = scrub_paths(reason, name)
            tried.append(f"{label}: {type(error).__name__}: {reason[:300]}")
            continue
        return _finish(name, label, tokenizer, model, loading_info, device)

    if hub_id and not any(label == "hub download" for _, _, label in attempts):
        if _hub_offline():
            tried.append("hub download: skipped because HF_HUB_OFFLINE is set")
        else:
            tried.append(f"hub download: skipped because {offline_reason}")
    fix = (
        f"download it once with internet (python scripts/download_model.py {name}), or save "
        f"it with save_pretrained() on another machine and copy that folder into models/ (or "
        f"put its path in the model field or in ${MODEL_ENV_VAR})."
    )
    if attempts and attempts[0][2] == "local folder":
        fix = ("check that the folder holds a complete save_pretrained() model with "
               "safetensors weights.")
    raise ModelLoadError(name, tried, fix)


def _finish(name: str, label: str, tokenizer: Any, model: Any,
            loading_info: dict[str, Any] | None = None, device: Any = "cpu") -> Loaded:
    if tokenizer.mask_token is None:
        raise ModelLoadError(
            name, [f"{label}: loaded, but the tokenizer has no mask token"],
            "choose a masked language model (BERT/RoBERTa family).",
        )
    implementation = getattr(model.config, "_attn_implementation", "eager")
    if implementation != "eager":
        raise ModelLoadError(
            name, [f"{label}: attention implementation is {implementation!r}, not eager"],
            "this model type does not support eager attention, which the explorer needs.",
        )
    try:
        architecture_for(model.config).attention_outputs(model)
    except ArchitectureError as error:
        raise ModelLoadError(name, [f"{label}: loaded, but {error}"],
                             "choose a model of one of the supported families.") from error
    model.to(device).eval()
    check_finite_probe(name, label, tokenizer, model)
    info = replace(
        _describe(name, label, tokenizer, model),
        fingerprint=weights_fingerprint(tokenizer, model, (loading_info or {}).get(
            "missing_keys", ())),
        has_lm_head=lm_head_loaded(model, loading_info),
    )
    return Loaded(tokenizer=tokenizer, model=model, info=info)


# --- Names, audiences and safe loading (issue 12 items 3-6, issue 13) -------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])(?:~|/)[^\s'\"`,;()<>]*")


def check_model_name(name: str) -> None:
    """Refuse names no file system or hub accepts, with a message that says why (no OSError)."""
    fix = (f"give a hub id such as {DEFAULT_MODEL} (owner/name, at most {MAX_HUB_ID_PART} "
           "characters each) or the path of a folder made by save_pretrained().")
    problem = ""
    if not name:
        problem = "the model name is empty"
    elif _CONTROL.search(name):
        problem = "the model name contains control characters"
    elif len(name) > MAX_NAME_CHARS:
        problem = f"the model name is {len(name):,} characters long (at most {MAX_NAME_CHARS})"
    elif not _looks_like_path(name):
        longest = max(len(part) for part in name.split("/"))
        if longest > MAX_HUB_ID_PART:
            problem = (f"a hub id part is {longest} characters long; the hub allows at most "
                       f"{MAX_HUB_ID_PART}")
    else:
        longest = max(len(part.encode("utf-8", "surrogatepass")) for part in name.split("/"))
        if longest > MAX_PATH_PART_BYTES:
            problem = (f"a folder name in the path is {longest} bytes long; file systems allow "
                       f"at most {MAX_PATH_PART_BYTES}")
    if problem:
        raise ModelLoadError(name, [problem], fix)


def public_mode() -> bool:
    """Whether ``$EXPLORER_PUBLIC`` marks this server as public."""
    return os.environ.get(PUBLIC_ENV_VAR, "").strip().lower() in {"1", "true", "yes", "on"}


def shown_model_name(name: str) -> str:
    """How a model is named to a visitor: on a public server a folder is shown by its last part
    (``/models/distilroberta-base`` → ``distilroberta-base``), never the server's path; hub ids
    and every name on a private server as they are."""
    name = str(name)
    if not public_mode() or not _looks_like_path(name):
        return name
    return Path(name.rstrip("/")).name or name


def is_operator_model(name: str) -> bool:
    """Whether ``name`` is the operator's choice (``$EXPLORER_MODEL`` or an allow-list entry)
    rather than a name a visitor typed."""
    chosen = os.environ.get(MODEL_ENV_VAR, "").strip()
    listed = [n.strip() for n in os.environ.get(ALLOWED_MODELS_ENV_VAR, "").split(",")]
    operator = [n for n in [chosen, *listed] if n]
    try:
        return any(_same_model(name.strip(), entry) for entry in operator)
    except (OSError, ValueError):
        return False


def model_root() -> Path | None:
    """``$EXPLORER_MODEL_ROOT`` resolved, or None when unset."""
    root = os.environ.get(MODEL_ROOT_ENV_VAR, "").strip()
    return Path(os.path.realpath(Path(root).expanduser())) if root else None


def _refused_for_visitor(name: str) -> ModelLoadError:
    return ModelLoadError(
        name, ["this server cannot load that model"],
        "choose one of the models this server offers, or the hub id of a masked language model.",
    )


def check_public_folder(name: str) -> None:
    """On a public server, refuse a visitor's folder outside ``$EXPLORER_MODEL_ROOT`` (every
    folder when it is unset), before anything is read from it."""
    if not public_mode() or is_operator_model(name) or not _looks_like_path(name):
        return
    root = model_root()
    resolved = Path(os.path.realpath(Path(name).expanduser()))  # symlinks and .. resolved
    if root is None or not resolved.is_relative_to(root):
        raise _refused_for_visitor(name)


def _for_audience(name: str, error: ModelLoadError) -> ModelLoadError:
    """The error as the person who chose ``name`` may see it: on a public server a visitor's
    name gets one neutral message, whatever went wrong (so folders cannot be probed)."""
    if public_mode() and not is_operator_model(name):
        return _refused_for_visitor(name)
    return error


def scrub_paths(message: str, typed: str = "") -> str:
    """``message`` with server paths cut to their last part (``…/config.json``); the path the
    user typed is kept as typed."""

    def shorten(match: re.Match[str]) -> str:
        path = match.group(0)
        if typed and path.rstrip("/") == typed.rstrip("/"):
            return path
        last = path.rstrip("/").rsplit("/", 1)[-1]
        return f"…/{last}" if last else "…"

    return _ABSOLUTE_PATH.sub(shorten, message)


def _hub_cache_kwargs(source: str) -> dict[str, Any]:
    """For a hub id: the cache folder read from the environment now (huggingface_hub reads it
    once, at import), so the cache the start page lists is the cache that is loaded."""
    if Path(source).is_dir():
        return {}
    from explorer.local_models import hub_cache_dir

    return {"cache_dir": str(hub_cache_dir())}


def _in_hub_cache(repo_id: str) -> bool:
    """Whether the hub cache holds a snapshot of ``repo_id`` (a quick look, no transformers)."""
    from explorer.local_models import cached_snapshot, hub_cache_dir

    repo = hub_cache_dir() / ("models--" + repo_id.replace("/", "--"))
    return repo.is_dir() and cached_snapshot(repo) is not None


def _in_memory_weights_kwargs() -> dict[str, Any]:
    """Read safetensors into memory instead of memory-mapping them: a file truncated or
    rewritten under a running app must not crash it (SIGBUS) or change its weights silently."""
    return {"disable_mmap": True, "output_loading_info": True}


def weights_fingerprint(tokenizer: Any, model: Any, initialised: Collection[str] = ()) -> str:
    """A hash of the weights in memory (names, shapes, dtypes, bytes) and of the tokenizer:
    two loads of the same files share it; any change to either gives a new one. Weights the
    checkpoint lacked (``initialised``: transformers drew them at random, e.g. the masked-LM head
    of an encoder-only checkpoint) are left out, or every load would get a new fingerprint and
    no disk cache (corpus indices, head statistics) would ever be hit again."""
    import torch

    digest = hashlib.sha256()  # OpenSSL's, with CPU support: ~1 GB/s
    skipped = set(initialised)
    for key, tensor in sorted(model.state_dict().items()):
        if key in skipped:
            continue
        data = tensor.detach().cpu().contiguous()
        digest.update(f"{key}:{tuple(data.shape)}:{data.dtype};".encode())
        digest.update(data.reshape(-1).view(torch.uint8).numpy())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    vocabulary = backend.to_str() if backend is not None else repr(sorted(
        tokenizer.get_vocab().items()))
    digest.update(vocabulary.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:32]


def lm_head_loaded(model: Any, loading_info: dict[str, Any] | None) -> bool:
    """False when the checkpoint lacked masked-LM head weights, so transformers initialised
    them at random: a missing key outside the base model (``bert.``, ``roberta.`` …) is the
    head's, whatever the family."""
    if not loading_info:
        return True
    prefix = getattr(model, "base_model_prefix", "") + "."
    missing = [*loading_info.get("missing_keys", ()), *(
        entry[0] if isinstance(entry, tuple) else entry
        for entry in loading_info.get("mismatched_keys", ()))]
    return not any(not str(key).startswith(prefix) for key in missing)


def check_finite_probe(name: str, label: str, tokenizer: Any, model: Any) -> None:
    """Run one short input and refuse weights that give NaN or infinite outputs."""
    import torch

    encoded = tokenizer(f"Hello {tokenizer.mask_token}.", return_tensors="pt").to(model.device)
    with torch.no_grad():
        output = model(**encoded, output_attentions=True)
    tensors = [output.logits, *(output.attentions or ())]
    if not all(bool(torch.isfinite(t).all()) for t in tensors):
        raise ModelLoadError(
            name, [f"{label}: loaded, but its outputs are not finite numbers (NaN or infinity)"],
            "the weights are damaged: download or save the model again.",
        )
