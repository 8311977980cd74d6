"""Refuse analyses whose numbers are not finite (damaged weights give NaN or infinity).

A NaN score shows as a blank cell, and the attention view fails with "NaN is not valid JSON";
better one clear message and nothing drawn.
"""

from __future__ import annotations

import math

import numpy as np

from explorer.analysis import Analysis, InputError


class NonFiniteOutputError(InputError):
    """The model's outputs for this text hold NaN or infinity; ``str(error)`` is for the user."""


def non_finite_parts(analysis: Analysis) -> list[str]:
    """The names of the analysis' outputs that hold NaN or infinity (empty when all finite)."""
    parts = []
    if not np.isfinite(analysis.attentions).all():
        parts.append("attention weights")
    if not np.isfinite(analysis.hidden_states).all():
        parts.append("hidden states")
    scores = [p.score for mask in analysis.predictions for p in mask.predictions]
    if not all(math.isfinite(s) for s in scores) or not np.isfinite(
            analysis.mask_probabilities).all():
        parts.append("prediction scores")
    return parts


def check_finite(analysis: Analysis) -> Analysis:
    """Return ``analysis`` when every output is finite; raise :class:`NonFiniteOutputError`."""
    parts = non_finite_parts(analysis)
    if parts:
        raise NonFiniteOutputError(
            f"The model produced invalid numbers (NaN or infinity) in its {', '.join(parts)} "
            "for this text, so nothing is shown. Its weights are probably damaged: reload or "
            "re-download the model."
        )
    return analysis
