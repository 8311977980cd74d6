"""Plotly figures of the compare page: B − A maps, per-head grids, prediction changes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from components.charts import _token_axis
from components.margins import HALF_WIDTH_CHARS, fit_margins, wrap_title

_MARGIN = {"l": 40, "r": 20, "t": 50, "b": 40}


def _symmetric_range(values: np.ndarray) -> float:
    return float(max(np.abs(values).max(initial=0.0), 1e-9))


def attention_difference_heatmap(
    difference: np.ndarray, labels_a: Sequence[str], labels_b: Sequence[str], title: str
) -> go.Figure:
    """Heatmap of ``difference[query, key]`` (B − A), red where B attends more, blue where less.

    Axis ticks show ``A token / B token`` where the two differ.
    """
    labels = [a if a == b else f"{a} / {b}" for a, b in zip(labels_a, labels_b)]
    limit = _symmetric_range(difference)
    positions = np.arange(len(labels))
    figure = go.Figure(go.Heatmap(
        z=difference, x=positions, y=positions, zmin=-limit, zmax=limit, zmid=0.0,
        colorscale="RdBu_r",
        customdata=np.array([[(q, k) for k in labels] for q in labels], dtype=object),
        hovertemplate="query %{customdata[0]} → key %{customdata[1]}<br>B − A %{z:+.3f}"
        "<extra></extra>",
        colorbar={"title": {"text": "B − A"}},
    ))
    figure.update_layout(
        title={"text": title},
        xaxis={**_token_axis(labels), "title": {"text": "key (attended to)"}},
        yaxis={**_token_axis(labels), "title": {"text": "query (attending)"},
               "autorange": "reversed"},
        height=min(900, 240 + 18 * len(labels)),
        margin=_MARGIN,
    )
    return fit_margins(figure, labels, labels, plot_height=min(760, 120 + 18 * len(labels)))


def head_grid_heatmap(values: np.ndarray, title: str, value_name: str,
                      diverging: bool = True, limit: float | None = None) -> go.Figure:
    """Heatmap of ``values[layer, head]``; layers and heads are labelled from 1.

    With ``limit`` the colours sit on the fixed scale −limit…limit (diverging) or 0…limit, as
    the colour bar's title says; the tooltip shows the raw value. Without it the scale follows
    the data (only for values with no natural range)."""
    layers, heads = values.shape
    if diverging:
        limit = _symmetric_range(values) if limit is None else float(limit)
        colour = {"colorscale": "RdBu_r", "zmin": -limit, "zmax": limit, "zmid": 0.0}
        scale = f"<br>(±{limit:.3g})"
    else:
        colour = {"colorscale": "Viridis"} if limit is None else {
            "colorscale": "Viridis", "zmin": 0.0, "zmax": float(limit)}
        scale = "" if limit is None else f"<br>(0–{limit:.3g})"
    sign = "+" if diverging else ""
    figure = go.Figure(go.Heatmap(
        z=values, x=np.arange(1, heads + 1), y=np.arange(1, layers + 1), **colour,
        hovertemplate=f"layer %{{y}}, head %{{x}}<br>{value_name} %{{z:{sign}.3f}}"
        "<extra></extra>",
        colorbar={"title": {"text": value_name + scale}},
    ))
    figure.update_layout(
        title={"text": title},
        xaxis={"title": {"text": "head"}, "dtick": 1},
        yaxis={"title": {"text": "layer"}, "dtick": 1, "autorange": "reversed"},
        height=200 + 30 * layers,
        margin=_MARGIN,
    )
    return wrap_title(figure, HALF_WIDTH_CHARS)  # drawn in one of two columns


def prediction_change_chart(tokens: Sequence[str], probabilities_a: Sequence[float],
                            probabilities_b: Sequence[float], title: str) -> go.Figure:
    """Grouped bars: each candidate token's probability under A and under B."""
    positions = list(range(len(tokens)))
    figure = go.Figure()
    for name, values in (("A", probabilities_a), ("B", probabilities_b)):
        figure.add_trace(go.Bar(
            x=positions, y=list(values), name=name, customdata=list(tokens),
            hovertemplate=f"{name}: %{{customdata}}<br>p %{{y:.4f}}<extra></extra>",
        ))
    figure.update_layout(
        title={"text": title}, barmode="group",
        xaxis={"tickmode": "array", "tickvals": positions, "ticktext": list(tokens),
               "tickangle": -45},
        yaxis={"title": {"text": "probability"}},
        height=360, margin=_MARGIN,
    )
    return fit_margins(figure, tokens, ["0.0000"])  # rotated tokens below, p to the left


def attention_row_chart(weights: np.ndarray, labels: Sequence[str], title: str) -> go.Figure:
    """Bars of one query's ``weights[key]`` over the input's tokens."""
    positions = list(range(len(labels)))
    figure = go.Figure(go.Bar(
        x=positions, y=weights, customdata=list(labels),
        hovertemplate="key %{customdata}<br>weight %{y:.3f}<extra></extra>",
    ))
    figure.update_layout(
        title={"text": title}, xaxis=_token_axis(labels),
        yaxis={"title": {"text": "attention weight"}, "range": [0, 1]},
        height=300, margin=_MARGIN,
    )
    # rotated tokens below, weights to the left; drawn in one of two columns
    return wrap_title(fit_margins(figure, labels, ["0.0"]), HALF_WIDTH_CHARS)
