"""The Models page's view state ⇄ URL query parameters, validated (no Streamlit here).

Parameters (names are the session keys of ``ui/keys.py``): ``model_a``, ``model_b`` (hub ids or
folders; whether a model may be loaded is decided by :func:`explorer.model.load` and the
allow-list, not here), ``text`` and ``top_k`` (validated as on every page, by
:mod:`explorer.state`), ``head_a`` / ``head_b`` (the head pair opened from the head-to-head map,
written as the page labels them: ``L1H2`` is layer 1, head 2) and ``sentences`` (how many corpus
sentences the pooled map uses). Numbers count as the page shows them, from 1.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from explorer.model import (
    DEFAULT_MODEL,
    MAX_NAME_CHARS,
    ModelLoadError,
    check_allowed,
    check_model_name,
    check_public_folder,
)
from explorer.state import Limits, read_query

DEFAULT_MODEL_A = DEFAULT_MODEL
DEFAULT_MODEL_B = "roberta-base"  # distilroberta-base's teacher
DEFAULT_SENTENCES = 20
MAX_SENTENCES = 500
MODELS_QUERY_KEYS = ("model_a", "model_b", "text", "top_k", "head_a", "head_b", "sentences")

_HEAD = re.compile(r"L(\d{1,4})\s*H(\d{1,4})", re.ASCII | re.IGNORECASE)
_INT = re.compile(r"\d{1,6}", re.ASCII)
_SHOWN = 40

Head = tuple[int, int]
"""``(layer, head)``, 0-based."""


def head_label(layer: int, head: int, separator: str = " ") -> str:
    """``L1 H1`` for the 0-based ``(0, 0)``: the one numbering users see."""
    return f"L{layer + 1}{separator}H{head + 1}"


def parse_head(text: str) -> Head | None:
    """The 0-based ``(layer, head)`` of ``L<layer>H<head>`` (1-based), or None."""
    match = _HEAD.fullmatch(text.strip())
    if not match or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        return None
    return int(match.group(1)) - 1, int(match.group(2)) - 1


def _single(value: object) -> str | None:
    if isinstance(value, list | tuple):
        value = value[-1] if value else None
    return value if isinstance(value, str) else None


def _shown(value: str) -> str:
    return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "…")


def read_models_query(params: Mapping[str, object], max_top_k: int
                      ) -> tuple[dict[str, object], list[str]]:
    """Validated values (only for the parameters present and usable) and notes for the user
    about the ones ignored. Never raises. Heads are 0-based ``(layer, head)`` here; whether they
    exist in the loaded model is checked by the page."""
    values: dict[str, object] = {}
    notes: list[str] = []
    shared = {key: params[key] for key in ("text", "top_k") if key in params}
    state, rejected, _ = read_query(shared, Limits(num_layers=1, num_heads=1, max_tokens=1,
                                                   max_top_k=max_top_k))
    for key in shared:
        if key in rejected:
            notes.append(rejected[key])
        else:
            values[key] = getattr(state, key)
    for key in ("model_a", "model_b"):
        if key not in params:
            continue
        name = _single(params[key])
        if name is None or not name.strip() or len(name) > MAX_NAME_CHARS:
            notes.append(f"Ignored the link's {key}: it is not a model name. Using the default.")
            continue
        try:
            check_model_name(name.strip())
            check_allowed(name.strip())
            check_public_folder(name.strip())
        except (ModelLoadError, OSError, ValueError):
            notes.append(f"Ignored the link's {key}={_shown(name)}: this server does not load "
                         "that model. Using the default.")
            continue
        values[key] = name.strip()
    for key in ("head_a", "head_b"):
        if key not in params:
            continue
        raw = _single(params[key]) or ""
        head = parse_head(raw)
        if head is None:
            notes.append(f"Ignored the link's {key}={_shown(raw)}: a head is written like L1H2 "
                         "(layer 1, head 2).")
        else:
            values[key] = head
    if "sentences" in params:
        raw = (_single(params["sentences"]) or "").strip()
        if _INT.fullmatch(raw) and 1 <= int(raw) <= MAX_SENTENCES:
            values["sentences"] = int(raw)
        else:
            notes.append(f"Ignored the link's sentences={_shown(raw)}: a whole number from 1 to "
                         f"{MAX_SENTENCES}. Using {DEFAULT_SENTENCES}.")
    return values, notes


def models_query(values: Mapping[str, object], defaults: Mapping[str, object]
                 ) -> dict[str, str]:
    """Query parameters for the page's current ``values``: only those that differ from
    ``defaults``; heads written as ``L1H2``."""
    query: dict[str, str] = {}
    for key in MODELS_QUERY_KEYS:
        value = values.get(key)
        if value is None or value == defaults.get(key):
            continue
        if key in ("head_a", "head_b"):
            layer, head = value  # type: ignore[misc]
            query[key] = head_label(int(layer), int(head), separator="")
        else:
            query[key] = str(value)
    return query
