"""The top-k tables' sentences (:mod:`explorer.prediction_text`), computed once per analysis and
kept in the one budgeted cache."""

from __future__ import annotations

from explorer.analysis import Analysis
from explorer.model import Loaded
from explorer.prediction_text import FilledText, filled_text, token_shown
from ui.cache import cached_in_budget
from ui.keys import cache_key


def cached_prediction_parts(loaded: Loaded, analysis: Analysis, mask_index: int, top_k: int
                            ) -> tuple[tuple[str, FilledText], ...]:
    """``(token as shown, sentence)`` for the first ``top_k`` predictions of mask
    ``mask_index``."""
    mask = analysis.predictions[mask_index]

    def compute() -> tuple[tuple[str, FilledText], ...]:
        special = analysis.special_mask.tolist()
        return tuple(
            (token_shown(loaded.tokenizer, p.token_id),
             filled_text(loaded.tokenizer, analysis.token_ids, special, analysis.mask_positions,
                         mask.position, p.token_id))
            for p in mask.predictions[:top_k])

    return cached_in_budget(cache_key("prediction text", loaded, analysis, int(mask_index),
                                      int(top_k)), compute)
