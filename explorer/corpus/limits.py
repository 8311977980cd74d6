"""The bounds that keep corpus search from exhausting a server (no Streamlit).

One place for every limit, so the page and docs/security.md can state them:

- an **upload** holds at most :data:`MAX_CORPUS_BYTES` bytes, :data:`MAX_CORPUS_LINES` lines and
  ``$EXPLORER_CORPUS_MAX_TOKENS`` indexed tokens (default :data:`DEFAULT_MAX_TOKENS`, on a
  public server, ``$EXPLORER_PUBLIC=1``, :data:`PUBLIC_MAX_TOKENS`): the
  vectors grow with tokens, not bytes (one byte of text is roughly 0.6 tokens, each token one
  vector per layer);
- **one index** must fit the memory budget it is kept in (the app's one cache budget), checked
  from the token count *before* the model runs;
- the **disk cache** holds at most ``$EXPLORER_CORPUS_CACHE_MB`` MiB (default
  :data:`DEFAULT_DISK_CACHE_MB`); the least recently used indices are removed first.
"""

from __future__ import annotations

import os

MAX_CORPUS_BYTES = 256 * 1024
"""Largest corpus file accepted (about exBERT's 207 KB corpus)."""
MAX_CORPUS_LINES = 5_000
MAX_TOKENS_ENV_VAR = "EXPLORER_CORPUS_MAX_TOKENS"
DEFAULT_MAX_TOKENS = 20_000
PUBLIC_MAX_TOKENS = 5_000
DISK_CACHE_ENV_VAR = "EXPLORER_CORPUS_CACHE_MB"
DEFAULT_DISK_CACHE_MB = 2_048
MIB = 2**20


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else float(default)
    except ValueError:
        value = float(default)
    return value if value > 0 else float(default)


def max_upload_tokens() -> int:
    """Indexed tokens an uploaded corpus may hold: ``$EXPLORER_CORPUS_MAX_TOKENS`` (20 000; on
    a public server 5 000)."""
    from explorer.model import public_mode
    default = PUBLIC_MAX_TOKENS if public_mode() else DEFAULT_MAX_TOKENS
    return int(_env_number(MAX_TOKENS_ENV_VAR, default))


def disk_cache_bytes() -> int:
    """Bytes the on-disk index cache may hold: ``$EXPLORER_CORPUS_CACHE_MB`` MiB (2 048)."""
    return int(_env_number(DISK_CACHE_ENV_VAR, DEFAULT_DISK_CACHE_MB) * MIB)


def size_problem(tokens: int, estimated_bytes: int, *, bundled: bool,
                 max_tokens: int | None = None, max_index_bytes: int | None = None,
                 reader: str = "the corpus search indexes") -> str:
    """Why a corpus of ``tokens`` tokens needing ``estimated_bytes`` cannot be indexed ("" if it
    can). Uploads are held to the token limit; every index to the memory limit. ``reader``
    says who is bounded ("the head statistics read")."""
    max_tokens = max_upload_tokens() if max_tokens is None else max_tokens
    if not bundled and tokens > max_tokens:
        return (f"The file has {tokens:,} tokens for this model; {reader} at most "
                f"{max_tokens:,} tokens of an uploaded file. Upload a shorter file.")
    if max_index_bytes is not None and estimated_bytes > max_index_bytes:
        return (f"The index of this corpus would take {estimated_bytes / MIB:,.0f} MiB of "
                f"memory; this server keeps at most {max_index_bytes / MIB:,.0f} MiB. Choose "
                "8-bit storage, leave out the head outputs, or use a shorter file.")
    return ""
