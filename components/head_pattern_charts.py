"""Plotly figures for the Head patterns page: per-statistic layer × head grids on fixed scales
and the 2-D map of heads (Clark et al. 2019, Figure 6), drawn from plain arrays."""

from __future__ import annotations

import html
from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

_MARGIN = {"l": 50, "r": 20, "t": 50, "b": 45}


def scale_label(low: float, high: float, unit: str = "") -> str:
    """``0–1`` or ``0–4.32 bits``: a colour bar's range, as its title states it."""
    return f"{low:g}–{high:.3g}{' ' + unit if unit else ''}"


def head_ticks(heads: int) -> list[int]:
    """Head numbers to label: every head up to 8; else 1 and every second (every fourth above
    16), so that the labels of a narrow grid (two per row at 1024 px) never overlap or turn."""
    if heads <= 8:
        return list(range(1, heads + 1))
    step = 2 if heads <= 16 else 4
    return [1, *range(step, heads + 1, step)]


def statistic_grid(values: np.ndarray, title: str, colour_title: str, zmin: float,
                   zmax: float, unit: str = "") -> go.Figure:
    """``values[layer, head]`` as a heatmap whose colours sit on the FIXED scale ``zmin``–
    ``zmax`` (stated on the colour bar), never stretched to the data; the tooltip names the
    head ("layer 2 head 3", 1-based) and gives its raw value."""
    layers, heads = values.shape
    layer_numbers, head_numbers = np.arange(1, layers + 1), np.arange(1, heads + 1)
    figure = go.Figure(go.Heatmap(
        z=values, x=head_numbers, y=layer_numbers, zmin=zmin, zmax=zmax, zauto=False,
        colorscale="Viridis", xgap=1, ygap=1,
        hovertemplate="layer %{y} head %{x}<br>%{z:.4f}" + (f" {unit}" if unit else "")
        + "<extra></extra>",
        colorbar={"title": {"text": f"{html.escape(colour_title)}<br>"
                                    f"({scale_label(zmin, zmax, unit)})"}, "thickness": 12},
    ))
    figure.update_layout(
        title={"text": html.escape(title)},  # "to <s>" would be read as an HTML tag
        xaxis={"title": {"text": "head"}, "tickmode": "array", "tickvals": head_ticks(heads),
               "tickangle": 0},
        yaxis={"title": {"text": "layer"}, "tickmode": "array",
               "tickvals": list(layer_numbers), "autorange": "reversed"},
        height=150 + 26 * layers, margin=_MARGIN,
    )
    return figure


def layer_colours(num_layers: int) -> list[str]:
    """One colour per layer, from dark (layer 1) to light (the last), as in Clark et al.'s
    Figure 6."""
    points = [i / max(1, num_layers - 1) for i in range(num_layers)]
    return sample_colorscale("Viridis", points)


def head_map_chart(xy: np.ndarray, num_layers: int, num_heads: int,
                   details: Mapping[str, np.ndarray] | None = None) -> go.Figure:
    """``xy[layer · heads + head, 2]`` (an MDS embedding of the heads' Jensen–Shannon
    distances) as points coloured by layer, one legend entry per layer; the tooltip names the
    head ("layer 1 head 2", 1-based) and lists ``details`` (``{label: values[layer, head]}``)."""
    colours = layer_colours(num_layers)
    figure = go.Figure()
    for layer in range(num_layers):
        rows = slice(layer * num_heads, (layer + 1) * num_heads)
        names = [f"layer {layer + 1} head {head + 1}" for head in range(num_heads)]
        lines = []
        for head, name in enumerate(names):
            extra = "".join(f"<br>{html.escape(label)}: {float(values[layer, head]):.3f}"
                            for label, values in (details or {}).items())
            lines.append(name + extra)
        figure.add_trace(go.Scatter(
            x=xy[rows, 0], y=xy[rows, 1], mode="markers", name=f"layer {layer + 1}",
            text=lines, hovertemplate="%{text}<extra></extra>",
            marker={"size": 10, "color": colours[layer],
                    "line": {"width": 0.5, "color": "#333"}},
        ))
    figure.update_layout(
        title={"text": "Heads by Jensen–Shannon distance (MDS)"},  # fits 1024 px
        xaxis={"title": {"text": "MDS 1"}, "zeroline": False, "showticklabels": False},
        yaxis={"title": {"text": "MDS 2"}, "zeroline": False, "showticklabels": False,
               "scaleanchor": "x", "scaleratio": 1},
        height=560, margin=_MARGIN, legend={"title": {"text": "colour = layer"}},
    )
    return figure
