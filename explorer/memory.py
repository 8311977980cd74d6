"""Memory figures: a process's resident set size and the size of an analysis (no Streamlit)."""

from __future__ import annotations

import os
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
