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
    """Head numbers to label: every head (a reader looks for "head 7" without counting cells;
    above 16 heads the tick font shrinks, :func:`head_tick_font`, so they stay level)."""
    return list(range(1, heads + 1))


def head_tick_font(heads: int) -> dict[str, int]:
    """Tick labels small enough that every head's number fits a grid two per row at 1024 px."""
    return {"size": 12 if heads <= 16 else 9 if heads <= 24 else 7}


def statistic_grid(values: np.ndarray, title: str, colour_title: str, zmin: float,
                   zmax: float, unit: str = "") -> go.Figure:
    """``values[layer, head]`` as a heatmap whose colours sit on the FIXED scale ``zmin``–
    ``zmax`` (stated on the colour bar), never stretched to the data; the tooltip names the
    head ("layer 2 head 3", 1-based) and gives its raw value.

    A second trace of invisible square markers, one per cell, makes each cell clickable
    (plotly selects points, not heatmap cells): :func:`grid_cell_click` reads the click."""
    layers, heads = values.shape
    layer_numbers, head_numbers = np.arange(1, layers + 1), np.arange(1, heads + 1)
    value_text = "%{z:.4f}" + (f" {unit}" if unit else "")
    figure = go.Figure(go.Heatmap(
        z=values, x=head_numbers, y=layer_numbers, zmin=zmin, zmax=zmax, zauto=False,
        colorscale="Viridis", xgap=1, ygap=1,
        hovertemplate="layer %{y} head %{x}<br>" + value_text + "<extra></extra>",
        colorbar={"title": {"text": f"{html.escape(colour_title)}<br>"
                                    f"({scale_label(zmin, zmax, unit)})"}, "thickness": 12},
    ))
    layer_grid, head_grid = np.meshgrid(layer_numbers, head_numbers, indexing="ij")
    figure.add_trace(go.Scatter(
        x=head_grid.ravel(), y=layer_grid.ravel(), mode="markers", showlegend=False,
        marker={"symbol": "square", "size": 22, "opacity": 0},
        text=[f"{v:.4f}" + (f" {unit}" if unit else "") for v in values.ravel()],
        hovertemplate="layer %{y} head %{x}<br>%{text}<br>click: open this head in the "
                      "Explorer on the current text<extra></extra>",
    ))
    figure.update_layout(
        title={"text": html.escape(title)},  # "to <s>" would be read as an HTML tag
        xaxis={"title": {"text": "head"}, "tickmode": "array", "tickvals": head_ticks(heads),
               "tickangle": 0, "tickfont": head_tick_font(heads),
               "range": [0.5, heads + 0.5], "showgrid": False, "zeroline": False},
        yaxis={"title": {"text": "layer"}, "tickmode": "array",
               "tickvals": list(layer_numbers), "range": [layers + 0.5, 0.5],
               "showgrid": False, "zeroline": False},
        height=150 + 26 * layers, margin=_MARGIN, clickmode="event+select", dragmode=False,
    )
    return figure


def grid_cell_click(event: object, num_layers: int, num_heads: int) -> tuple[int, int] | None:
    """0-based ``(layer, head)`` of the :func:`statistic_grid` cell a click selected, or None
    (read from the clicked point's own head and layer numbers, 1-based on the axes)."""
    selection = getattr(event, "selection", None) or {}
    for point in selection.get("points", None) or []:
        try:
            layer, head = int(point["y"]) - 1, int(point["x"]) - 1
        except (KeyError, TypeError, ValueError):
            continue
        if 0 <= layer < num_layers and 0 <= head < num_heads:
            return layer, head
    return None


def robust_range(values: np.ndarray, pad: float = 0.08) -> tuple[tuple[float, float], np.ndarray]:
    """An axis range for ``values`` that one far point cannot stretch: the points within 1.5
    inter-decile spans of the 10th–90th percentile, padded; and which points lie outside it."""
    values = np.asarray(values, dtype=float)
    low, high = np.percentile(values, [10, 90])
    span = max(high - low, 1e-12)
    inside = (values >= low - 1.5 * span) & (values <= high + 1.5 * span)
    kept = values[inside] if inside.any() else values
    lo, hi = float(kept.min()), float(kept.max())
    margin = pad * max(hi - lo, 1e-9)
    return (lo - margin, hi + margin), ~inside


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
    x_range, x_out = robust_range(xy[:, 0])
    y_range, y_out = robust_range(xy[:, 1])
    annotations = []
    for index in np.flatnonzero(x_out | y_out):  # off the map: named at the edge they lie past
        x = float(np.clip(xy[index, 0], *x_range))
        y = float(np.clip(xy[index, 1], *y_range))
        name = f"layer {index // num_heads + 1} head {index % num_heads + 1}"
        annotations.append({"x": x, "y": y, "text": f"{name} (further out)", "showarrow": True,
                            "arrowhead": 2,
                            "ax": float(-40 * np.sign(xy[index, 0] - x)) if x_out[index] else 0.0,
                            "ay": float(30 * np.sign(xy[index, 1] - y)) if y_out[index] else 0.0,
                            "font": {"size": 11}})
    figure.update_layout(
        title={"text": "Heads by Jensen–Shannon distance (MDS)"},  # fits 1024 px
        xaxis={"title": {"text": "MDS 1"}, "zeroline": False, "showticklabels": False,
               "range": list(x_range)},
        yaxis={"title": {"text": "MDS 2"}, "zeroline": False, "showticklabels": False,
               "scaleanchor": "x", "scaleratio": 1, "range": list(y_range)},
        height=560, margin=_MARGIN, legend={"title": {"text": "colour = layer"}},
        annotations=annotations,
    )
    return figure
