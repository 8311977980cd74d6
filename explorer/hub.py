"""Can this process reach the model hub? Asked once, answered within seconds, remembered.

Without a network, every hub download in transformers retries for close to a minute before it
gives up, and the app used to pay that on every page view. Here a plain TCP connection to the
hub's host (``$HF_ENDPOINT``, else huggingface.co) is tried once per process with a short
timeout; the answer is kept, so later calls return at once. ``HF_HUB_OFFLINE`` answers "no"
without touching the network.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_ENDPOINT = "https://huggingface.co"
CONNECT_TIMEOUT_S = 3.0
"""How long the one reachability probe may take (DNS and TCP connect together)."""
RECHECK_AFTER_S = 600.0
"""A remembered "unreachable" is probed again after this long (the network may come back)."""

_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class HubStatus:
    """The answer of one probe: whether the hub answered, where we looked, and why not."""

    reachable: bool
    endpoint: str
    reason: str  # empty when reachable; a short sentence fit for the user otherwise
    checked_at: float  # time.monotonic() of the probe


_lock = threading.Lock()
_remembered: HubStatus | None = None


def hub_endpoint() -> str:
    """The hub's base URL: ``$HF_ENDPOINT`` or https://huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).strip().rstrip("/")


def hub_offline_set() -> bool:
    """Whether ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) switches the hub off."""
    return any(os.environ.get(var, "").strip().lower() in _TRUE
               for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _host_and_port(endpoint: str) -> tuple[str, int]:
    parts = urlsplit(endpoint)
    default_port = 80 if parts.scheme == "http" else 443
    return parts.hostname or "", parts.port or default_port


def _probe(endpoint: str, timeout_s: float) -> str:
    """Try one TCP connection to the endpoint; return "" on success, else why it failed."""
    host, port = _host_and_port(endpoint)
    if not host:
        return "the hub address is not a URL"
    outcome: list[str] = []

    def connect() -> None:  # getaddrinfo has no timeout of its own: run it in a thread
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                outcome.append("")
        except OSError as error:
            outcome.append(error.strerror or type(error).__name__)

    worker = threading.Thread(target=connect, daemon=True, name="hub-probe")
    worker.start()
    worker.join(timeout_s + 0.5)
    if not outcome:
        return f"no answer within {timeout_s:g} s"
    return outcome[0]


def hub_status(timeout_s: float = CONNECT_TIMEOUT_S, refresh: bool = False) -> HubStatus:
    """Whether the hub can be reached, probed at most once per process (and again after
    :data:`RECHECK_AFTER_S` when it could not). Thread-safe; concurrent callers share one
    probe."""
    global _remembered
    endpoint = hub_endpoint()
    if hub_offline_set():
        return HubStatus(False, endpoint, "HF_HUB_OFFLINE is set", time.monotonic())
    with _lock:
        known = _remembered
        fresh = (
            known is not None
            and known.endpoint == endpoint
            and (known.reachable or time.monotonic() - known.checked_at < RECHECK_AFTER_S)
        )
        if fresh and not refresh:
            return known  # type: ignore[return-value]
        failure = _probe(endpoint, timeout_s)
        reason = f"{endpoint} could not be reached ({failure})" if failure else ""
        _remembered = HubStatus(not failure, endpoint, reason, time.monotonic())
        return _remembered


def hub_reachable(timeout_s: float = CONNECT_TIMEOUT_S) -> bool:
    """Shorthand for ``hub_status(timeout_s).reachable``."""
    return hub_status(timeout_s).reachable


def forget_hub_status() -> None:
    """Drop the remembered answer (tests; a "check again" button)."""
    global _remembered
    with _lock:
        _remembered = None


MODEL_FILE_PATTERNS = ("*.json", "*.safetensors", "*.txt", "*.model", "vocab.*", "merges.*")
"""What a download fetches: configs, safetensors weights and tokenizer files (no .bin, .h5,
.onnx or other frameworks' copies)."""


def download_snapshot(repo_id: str, on_progress: Callable[[int, int], None] | None = None,
                      cache_dir: str | None = None) -> str:
    """Download ``repo_id``'s model files (safetensors only) into the hub cache; return the
    snapshot folder. ``on_progress(done_bytes, total_bytes)`` is called as bytes arrive; without
    it, huggingface_hub draws its usual progress bar on the terminal."""
    from huggingface_hub import snapshot_download

    # The endpoint read now, as hub_status() probes it (huggingface_hub reads it once, at import)
    where = {"allow_patterns": list(MODEL_FILE_PATTERNS), "cache_dir": cache_dir,
             "endpoint": hub_endpoint()}
    if on_progress is None:
        return snapshot_download(repo_id, **where)
    planned = snapshot_download(repo_id, dry_run=True, **where)
    total = sum(int(getattr(f, "file_size", 0) or 0) for f in planned
                if getattr(f, "will_download", True))
    return snapshot_download(repo_id, tqdm_class=_reporting_tqdm(on_progress, total), **where)


def _reporting_tqdm(on_progress: Callable[[int, int], None], total: int) -> type:
    """A tqdm class that prints nothing and reports the bytes written to ``on_progress``."""
    import io

    from tqdm.auto import tqdm

    reporting = threading.Lock()  # files arrive on several threads: count and report in order

    class ReportingTqdm(tqdm):  # type: ignore[misc, valid-type]
        def __init__(self, *args: object, **kwargs: object) -> None:
            self._reports = str(kwargs.get("desc", "")).startswith("Reconstructing")
            kwargs["file"] = io.StringIO()
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            if not self._reports:
                return super().update(n)
            with reporting:
                shown = super().update(n)
                on_progress(int(self.n), max(total, int(self.total or 0)))
            return shown

    return ReportingTqdm
