"""Plotly figures built from plain arrays and token labels."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from components.margins import (
    HALF_WIDTH_CHARS,
    TITLE_LINE_PX,
    fit_margins,
    short_label,
    wrap_title,
)

PAIR_CELL_PX = 26  # a cell of a paired heatmap, while the pair fits its columns
PAIR_PLOT_PX = (180, 460)  # the plot area of a paired heatmap: at least, at most
PAIR_TITLE_LINES = 2  # room kept above each half for a title of this many lines
PAIR_TOP_PX = 50


def _token_axis(labels: Sequence[str]) -> dict:
    # Numeric positions with text ticks: repeated tokens ("the", "the") stay separate.
    return {
        "tickmode": "array",
        "tickvals": list(range(len(labels))),
        "ticktext": [html.escape(label) for label in labels],
        "tickangle": -45,
        "automargin": False,  # auto-margins made plotly resize the page in a loop
        "showticklabels": len(labels) <= 100,
    }


def attention_heatmap(
    attention: np.ndarray, labels: Sequence[str], title: str
) -> go.Figure:
    """Heatmap of ``attention[query, key]``: rows are queries, columns are keys.

    Axes are categories named ``#index label`` (repeated tokens stay separate) with the plain
    labels as tick text; hover reads the names, so no n² customdata is sent (5 MB at 512 tokens).
    """
    # plotly reads a few HTML tags in text (<b>, <s> ...): escape, tokens come from users
    names = [html.escape(f"#{index} {label}") for index, label in enumerate(labels)]
    short = [html.escape(label if len(label) <= 12 else label[:11] + "…") for label in labels]
    # Fixed margins, no automargin: plotly's auto-margins kept resizing the chart (and the
    # page under it) in a loop. Tick labels only while they can be read.
    axis = {"tickmode": "array", "tickvals": names, "ticktext": short, "type": "category",
            "automargin": False, "showticklabels": len(labels) <= 100}
    figure = go.Figure(go.Heatmap(
        z=np.asarray(attention, dtype=np.float32),
        x=names,
        y=names,
        zmin=0.0,
        zmax=float(max(attention.max(initial=0.0), 1e-9)),
        colorscale="Blues",
        hovertemplate="query %{y} → key %{x}<br>weight %{z:.3f}<extra></extra>",
        colorbar={"title": {"text": "weight"}},
    ))
    size = min(900, 240 + 18 * len(labels))
    figure.update_layout(
        title={"text": title},
        xaxis={**axis, "tickangle": -45, "title": {"text": "key (attended to)"}},
        yaxis={**axis, "tickangle": 0, "title": {"text": "query (attending)"},
               "autorange": "reversed"},
        height=size + 80,
        margin={"l": 130, "r": 20, "t": 50, "b": 120},
    )
    return wrap_title(figure)


def paired_heatmap(
    matrix: np.ndarray, labels: Sequence[str], title: str, colour_title: str, *,
    zmin: float | None = 0.0, zmax: float | None = None, colorscale: str = "Blues",
    row_title: str = "query (attending)", column_title: str = "key (attended to)",
) -> go.Figure:
    """One of a pair of ``matrix[row token, column token]`` heatmaps shown side by side (raw
    weights beside value-weighted ones, rollout beside norm-based rollout). Every pair is drawn
    by this one function, so both halves share their plot size, square cells, label style
    (escaped, long tokens cut with "…", column labels at 45°) and colour-bar place; hover names
    the tokens with their index (no n² customdata)."""
    names = [html.escape(f"#{index} {label}") for index, label in enumerate(labels)]
    ticks = [html.escape(short_label(label)) for label in labels]
    readable = len(labels) <= 100
    axis = {"tickmode": "array", "tickvals": names, "ticktext": ticks, "type": "category",
            "showticklabels": readable, "tickfont": {"size": 11}, "constrain": "domain"}
    matrix = np.asarray(matrix, dtype=np.float32)
    figure = go.Figure(go.Heatmap(
        z=matrix, x=names, y=names, zmin=zmin,
        zmax=zmax if zmax is not None else float(max(matrix.max(initial=0.0), 1e-9)),
        colorscale=colorscale,
        hovertemplate="%{y} → %{x}<br>%{z:.3f}<extra></extra>",
        colorbar={"title": {"text": html.escape(colour_title)}, "thickness": 12, "len": 0.9},
    ))
    figure.update_layout(
        title={"text": html.escape(title)},
        xaxis={**axis, "tickangle": -45, "title": {"text": column_title}},
        yaxis={**axis, "tickangle": 0, "title": {"text": row_title}, "autorange": "reversed",
               "scaleanchor": "x", "scaleratio": 1},
    )
    low, high = PAIR_PLOT_PX
    plot = int(min(high, max(low, PAIR_CELL_PX * len(labels))))
    shown = labels if readable else None
    figure = fit_margins(figure, shown, shown, plot_height=plot)
    figure.update_layout(title={"text": html.escape(title)})
    figure = wrap_title(figure, HALF_WIDTH_CHARS)
    # the same room for the title in both halves, so their plots start level
    lines = max(PAIR_TITLE_LINES, (figure.layout.title.text or "").count("<br>") + 1)
    margin = figure.layout.margin
    top = PAIR_TOP_PX + TITLE_LINE_PX * (lines - 1)
    figure.update_layout(margin={"t": top}, height=plot + top + margin.b)
    return figure


def hidden_norms_chart(norms: np.ndarray, labels: Sequence[str]) -> go.Figure:
    """Heatmap of ``norms[layer + 1, token]`` with the per-layer mean as a line above it."""
    layers = np.arange(norms.shape[0])
    layer_names = ["emb"] + [f"L{layer}" for layer in layers[1:]]
    figure = go.Figure()
    figure.add_trace(go.Heatmap(
        z=norms,
        x=np.arange(len(labels)),
        y=layers,
        colorscale="Viridis",
        customdata=np.array([[html.escape(label) for label in labels] for _ in layers],
                            dtype=object),
        hovertemplate="layer %{y}, token %{customdata}<br>norm %{z:.2f}<extra></extra>",
        colorbar={"title": {"text": "‖h‖"}},
    ))
    figure.update_layout(
        title={"text": "Hidden-state norm per layer and token (layer 0 = embeddings)"},
        xaxis=_token_axis(labels),
        yaxis={"tickmode": "array", "tickvals": list(layers), "ticktext": layer_names,
               "title": {"text": "layer"}},
        height=320 + 12 * norms.shape[0],
        margin={"l": 50, "r": 20, "t": 50, "b": 100},
    )
    return wrap_title(figure, HALF_WIDTH_CHARS)  # drawn in one of two columns


def mean_norm_chart(norms: np.ndarray) -> go.Figure:
    """Line chart of the mean hidden-state norm over tokens, per layer."""
    layers = np.arange(norms.shape[0])
    figure = go.Figure(go.Scatter(
        x=layers, y=norms.mean(axis=1), mode="lines+markers", name="mean ‖h‖",
        hovertemplate="layer %{x}<br>mean norm %{y:.2f}<extra></extra>",
    ))
    figure.update_layout(
        title={"text": "Mean hidden-state norm per layer"},
        xaxis={"title": {"text": "layer (0 = embeddings)"}, "dtick": 1},
        yaxis={"title": {"text": "mean L2 norm"}},
        height=300,
        margin={"l": 40, "r": 20, "t": 50, "b": 40},
    )
    return wrap_title(figure, HALF_WIDTH_CHARS)  # drawn in one of two columns
