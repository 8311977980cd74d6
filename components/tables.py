"""Fill-mask top-k tables: the data, and how any table holding user text is drawn."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer.analysis import MaskPredictions

_COLUMNS = {
    "rank": st.column_config.NumberColumn("rank", width="small"),
    "score": st.column_config.NumberColumn("score", format="%.4f", width="small"),
    "score (ablated)": st.column_config.NumberColumn("score (ablated)", format="%.4f",
                                                     width="small"),
    "sequence": st.column_config.TextColumn("sequence", width="large"),
}


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


def text_table(frame: pd.DataFrame, key: str) -> None:
    """Draw a table whose cells hold user or model text, shown as plain text.

    ``st.dataframe`` draws every cell as text on a canvas: ``[Sign in](http://…)`` stays those
    characters, ``![t](http://…)`` fetches nothing, ``2*3*4`` keeps its stars. (``st.table``
    renders GitHub-flavoured markdown in each cell, so it must never get user text.)
    """
    st.dataframe(frame, hide_index=True, key=key, width="stretch",
                 column_config={name: config for name, config in _COLUMNS.items()
                                if name in frame.columns})
