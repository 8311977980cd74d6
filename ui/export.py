"""Download controls: top-k CSV, analysis JSON/NPZ, and the chart image format.

Files are built only when a button is clicked (``st.download_button`` with a callable), so
drawing the buttons costs nothing on each rerun. Chart images are made in the browser by
plotly's own modebar camera button (works offline); :func:`chart_config` picks PNG or SVG.
"""

from __future__ import annotations

import re

import streamlit as st

from explorer.analysis import Analysis
from explorer.export import analysis_json, analysis_npz, json_fits, predictions_csv

IMAGE_FORMAT = "chart_image_format"  # session key of the sidebar choice (not part of the URL)


def chart_config(file_name: str = "chart") -> dict[str, object]:
    """Plotly config for ``st.plotly_chart``: the camera button saves in the chosen format."""
    image_format = st.session_state.get(IMAGE_FORMAT, "png")
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": image_format, "filename": file_name, "scale": 2},
    }


def image_format_choice() -> None:
    """Sidebar radio choosing what the charts' camera button downloads."""
    with st.sidebar:
        st.radio("Chart download format (camera button in each chart's toolbar)", ["png", "svg"],
                 key=IMAGE_FORMAT, horizontal=True)


def file_stem(text: str, fallback: str = "analysis") -> str:
    """A short, safe file name from the input text."""
    stem = re.sub(r"[^A-Za-z0-9]+", "-", text.replace("<mask>", "mask")).strip("-").lower()
    return stem[:40].strip("-") or fallback


def analysis_downloads(analysis: Analysis, top_k: int, name: str, key: str,
                       predicts: bool = True) -> None:
    """Three buttons: top-k CSV, analysis JSON, analysis NPZ for one analysis (in a row that
    wraps, so a narrow column never cuts their labels). ``predicts`` False (a checkpoint without
    a masked-LM head): no top-k button."""
    row = st.container(horizontal=True, wrap=True)
    columns = (row, row, row)
    if predicts:
        columns[0].download_button(
            "Top-k (CSV)", lambda: predictions_csv(analysis, top_k),
            file_name=f"{name}-top{top_k}.csv", mime="text/csv", key=f"{key}_csv",
            on_click="ignore", disabled=not analysis.predictions, icon=":material/table:",
        )
    columns[1].download_button(
        "Analysis (JSON)", lambda: analysis_json(analysis, top_k), file_name=f"{name}.json",
        mime="application/json", key=f"{key}_json", on_click="ignore",
        icon=":material/data_object:", disabled=not json_fits(analysis),
        help=None if json_fits(analysis) else "Too many attention weights for JSON; use NPZ.",
    )
    columns[2].download_button(
        "Analysis (NPZ)", lambda: analysis_npz(analysis, top_k), file_name=f"{name}.npz",
        mime="application/octet-stream", key=f"{key}_npz", on_click="ignore",
        icon=":material/download:",
    )
