"""Tables for the "Layers & heads" page as dataframes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from components.layer_charts import layer_names
from explorer.analysis import MaskPredictions


def lens_frame(top_probs: np.ndarray, top_tokens: Sequence[Sequence[str]], k: int
               ) -> pd.DataFrame:
    """One row per layer (emb, L1 …): the top-``k`` tokens with their probabilities."""
    names = layer_names(top_probs.shape[0])
    rows = []
    for name, probs, tokens in zip(names, top_probs, top_tokens):
        row = {"layer": name}
        for rank in range(min(k, len(tokens))):
            row[f"#{rank + 1}"] = f"{tokens[rank]} ({probs[rank]:.3f})"
        rows.append(row)
    return pd.DataFrame(rows)


def ablation_frame(plain: MaskPredictions, ablated: MaskPredictions, k: int) -> pd.DataFrame:
    """Side by side: the unablated and the ablated top-``k`` of one mask."""
    rows = []
    for rank, (before, after) in enumerate(zip(plain.predictions[:k], ablated.predictions[:k]),
                                           start=1):
        rows.append({
            "rank": rank,
            "token": before.token_str,
            "score": round(before.score, 4),
            "token (ablated)": after.token_str,
            "score (ablated)": round(after.score, 4),
        })
    return pd.DataFrame(rows, columns=["rank", "token", "score", "token (ablated)",
                                       "score (ablated)"])
