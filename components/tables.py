"""Fill-mask top-k tables as dataframes."""

from __future__ import annotations

import pandas as pd

from explorer.analysis import MaskPredictions


def predictions_frame(mask: MaskPredictions, top_k: int) -> pd.DataFrame:
    """Rank, token, score and full sequence for the first ``top_k`` predictions of one mask."""
    rows = [
        {
            "rank": p.rank,
            "token": p.token_str,
            "score": round(p.score, 4),
            "sequence": p.sequence,
        }
        for p in mask.predictions[:top_k]
    ]
    return pd.DataFrame(rows, columns=["rank", "token", "score", "sequence"])
