"""Memory figures: a process's resident set size and the size of an analysis (no Streamlit)."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import numpy as np

from explorer.analysis import Analysis


def rss_bytes(pid: int | None = None) -> int:
    """Resident set size of process ``pid`` (default: this one), from ``/proc/<pid>/status``."""
    status = Path(f"/proc/{pid or os.getpid()}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024  # reported in kB
    raise RuntimeError(f"no VmRSS line in /proc/{pid or os.getpid()}/status")


def _text_bytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass")) + 50  # + object overhead, roughly


def analysis_nbytes(analysis: Analysis) -> int:
    """Approximate memory held by ``analysis``: its arrays plus its strings.

    Prediction sequences count too: each of the top-k rows of each mask holds the whole text.
    """
    arrays = sum(
        int(value.nbytes) for value in vars(analysis).values() if isinstance(value, np.ndarray)
    )
    strings = _text_bytes(analysis.text) + sum(
        _text_bytes(t) for t in (*analysis.tokens, *analysis.token_texts, *analysis.notes)
    )
    for mask in analysis.predictions:
        strings += sum(_text_bytes(p.token_str) + _text_bytes(p.sequence) + 100
                       for p in mask.predictions)
    return arrays + strings


_SCALAR_BYTES = 32  # a Python int, float or bool object, roughly


def nbytes(value: object) -> int:
    """Approximate memory held by ``value``, for the one cache budget: an :class:`Analysis` by
    :func:`analysis_nbytes`; numpy arrays by their buffers; strings by their UTF-8 size;
    containers and dataclasses by what they hold (each object counted once)."""
    return _nbytes(value, set())


def _nbytes(value: object, seen: set[int]) -> int:
    if value is None or isinstance(value, bool | int | float | np.generic):
        return _SCALAR_BYTES
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if isinstance(value, Analysis):
        return analysis_nbytes(value)
    if isinstance(value, np.ndarray):  # a view holds its whole base array alive
        owner = value
        while isinstance(owner.base, np.ndarray):
            owner = owner.base
        if owner is not value:
            if id(owner) in seen:
                return 0
            seen.add(id(owner))
        return int(owner.nbytes)
    if isinstance(value, str):
        return _text_bytes(value)
    if isinstance(value, bytes | bytearray):
        return len(value) + 40
    if isinstance(value, dict):
        return 64 + sum(_nbytes(k, seen) + _nbytes(v, seen) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return 56 + 8 * len(value) + sum(_nbytes(item, seen) for item in value)
    if dataclasses.is_dataclass(value):
        return 64 + sum(_nbytes(getattr(value, f.name), seen)
                        for f in dataclasses.fields(value))
    if hasattr(value, "__dict__"):
        return 64 + _nbytes(vars(value), seen)
    return sys.getsizeof(value)
