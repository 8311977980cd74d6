"""Downloadable files built from an :class:`~explorer.analysis.Analysis` (no Streamlit here).

- :func:`predictions_csv`: the top-k tables, one row per (mask, rank)
- :func:`analysis_json`: tokens, attentions, hidden-state norms and predictions as JSON
- :func:`analysis_npz`: the same plus the full hidden states and mask probabilities, as a
  NumPy archive that loads with ``np.load(..., allow_pickle=False)``
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

import numpy as np

from explorer.analysis import Analysis
from explorer.compare import TokenChange
from explorer.metrics import hidden_state_norms

JSON_MAX_ATTENTION_VALUES = 2_000_000
"""Above this many attention weights JSON gets too big (~45 MB, seconds to write); use NPZ.
distilroberta (6 × 12 heads) stays under it up to 166 tokens."""

PREDICTION_COLUMNS = ("mask", "position", "rank", "token_id", "token", "score", "sequence")
CHANGE_COLUMNS = ("mask", "token_id", "token", "probability_a", "probability_b",
                  "difference", "rank_a", "rank_b")


def predictions_rows(analysis: Analysis, top_k: int) -> list[dict[str, object]]:
    """One dict per shown prediction; ``mask`` counts from 1 in text order."""
    return [
        {
            "mask": number,
            "position": mask.position,
            "rank": p.rank,
            "token_id": p.token_id,
            "token": p.token_str,
            "score": p.score,
            "sequence": p.sequence,
        }
        for number, mask in enumerate(analysis.predictions, start=1)
        for p in mask.predictions[:top_k]
    ]


def _csv(rows: Sequence[dict[str, object]], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def predictions_csv(analysis: Analysis, top_k: int) -> str:
    """The top-k tables of every mask as CSV (scores at full float precision)."""
    return _csv(predictions_rows(analysis, top_k), PREDICTION_COLUMNS)


def changes_csv(changes_per_mask: Sequence[Sequence[TokenChange]]) -> str:
    """The compare page's prediction changes as CSV, one row per (mask, token)."""
    rows = [
        {"mask": number, "token_id": c.token_id, "token": c.token_str,
         "probability_a": c.probability_a, "probability_b": c.probability_b,
         "difference": c.difference, "rank_a": c.rank_a, "rank_b": c.rank_b}
        for number, changes in enumerate(changes_per_mask, start=1)
        for c in changes
    ]
    return _csv(rows, CHANGE_COLUMNS)


def _meta(analysis: Analysis) -> dict[str, object]:
    return {
        "model_name": analysis.model_name,
        "text": analysis.text,
        "tokens": list(analysis.tokens),
        "labels": list(analysis.labels),
        "mask_positions": list(analysis.mask_positions),
        "input_token_count": analysis.input_token_count,
        "truncated": analysis.truncated,
        "masks_dropped": analysis.masks_dropped,
        "notes": list(analysis.notes),
    }


def json_fits(analysis: Analysis) -> bool:
    """Whether :func:`analysis_json` stays a reasonable size for this analysis."""
    return analysis.attentions.size <= JSON_MAX_ATTENTION_VALUES


def analysis_json(analysis: Analysis, top_k: int) -> str:
    """Tokens, ``attentions[layer][head][query][key]``, ``hidden_state_norms[layer + 1][token]``
    and the top-k predictions as a JSON document."""
    document = {
        **_meta(analysis),
        "token_ids": analysis.token_ids.tolist(),
        "special_mask": analysis.special_mask.tolist(),
        "attentions": analysis.attentions.tolist(),
        "hidden_state_norms": hidden_state_norms(analysis).tolist(),
        "predictions": predictions_rows(analysis, top_k),
    }
    return json.dumps(document, ensure_ascii=False)


def analysis_npz(analysis: Analysis, top_k: int) -> bytes:
    """An ``.npz`` with every array of the analysis; ``meta`` holds JSON text.

    Predictions are ``prediction_token_ids[mask, rank]`` and ``prediction_scores[mask, rank]``.
    """
    shown = [mask.predictions[:top_k] for mask in analysis.predictions]
    width = max((len(rows) for rows in shown), default=0)
    prediction_ids = np.full((len(shown), width), -1, dtype=np.int64)
    prediction_scores = np.zeros((len(shown), width), dtype=np.float64)
    for mask, rows in enumerate(shown):
        prediction_ids[mask, : len(rows)] = [p.token_id for p in rows]
        prediction_scores[mask, : len(rows)] = [p.score for p in rows]
    buffer = io.BytesIO()
    np.savez(  # compression saves ~10% on float weights and costs 30× the time
        buffer,
        meta=np.array(json.dumps(_meta(analysis), ensure_ascii=False)),
        tokens=np.array(analysis.tokens, dtype=str),
        token_ids=analysis.token_ids,
        special_mask=analysis.special_mask,
        mask_positions=np.array(analysis.mask_positions, dtype=np.int64),
        attentions=analysis.attentions,
        hidden_states=analysis.hidden_states,
        hidden_state_norms=hidden_state_norms(analysis),
        mask_probabilities=analysis.mask_probabilities,
        prediction_token_ids=prediction_ids,
        prediction_scores=prediction_scores,
    )
    return buffer.getvalue()
