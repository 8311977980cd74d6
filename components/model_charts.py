"""Plotly figures for the Models page (two models side by side), from plain arrays."""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

from components.layer_charts import layer_names
from components.margins import wrap_title

_MARGIN = {"l": 70, "r": 20, "t": 50, "b": 60}


def _layer_ticks(layers: int, heads: int) -> dict:
    """One tick per layer, at its first head: ``L1, L2 …`` (1-based, as everywhere)."""
    return {"tickmode": "array", "tickvals": [layer * heads for layer in range(layers)],
            "ticktext": [f"L{layer + 1}" for layer in range(layers)]}


def head_pair_grid(similarity: np.ndarray, layers_a: int, heads_a: int, layers_b: int,
                   heads_b: int, title: str) -> go.Figure:
    """``similarity[a_head, b_head]`` (heads numbered ``layer · heads + head``) as a grid of square
    markers, A's heads as rows, B's as columns; hover reads "A L1 H2 × B L3 H4".

    Points, not a heatmap, so that a click selects a cell through Streamlit's plotly selection
    (:func:`head_pair_click`). The points are A-major: point ``a · heads_b + b``.
    """
    count_a, count_b = similarity.shape
    rows, columns = np.meshgrid(np.arange(count_a), np.arange(count_b), indexing="ij")
    names_a = [f"L{i // heads_a + 1} H{i % heads_a + 1}" for i in range(count_a)]
    names_b = [f"L{j // heads_b + 1} H{j % heads_b + 1}" for j in range(count_b)]
    text = [f"A {names_a[i]} × B {names_b[j]}: {similarity[i, j]:.3f}"
            for i, j in zip(rows.ravel(), columns.ravel())]
    width = 900
    size = max(3, min(30, int((width - 150) / max(count_b, 1)) - 1))
    figure = go.Figure(go.Scatter(
        x=columns.ravel(), y=rows.ravel(), mode="markers", text=text,
        marker={"symbol": "square", "size": size, "color": similarity.ravel(),
                "colorscale": "Viridis", "cmin": 0.0, "cmax": 1.0, "showscale": True,
                "colorbar": {"title": {"text": "1 − JS"}}},
        hovertemplate="%{text}<br>click to compare the two heads<extra></extra>",
    ))
    figure.update_layout(
        title={"text": html.escape(title)},
        xaxis={**_layer_ticks(layers_b, heads_b), "title": {"text": "model B heads"},
               "range": [-0.6, count_b - 0.4], "showgrid": False, "zeroline": False},
        yaxis={**_layer_ticks(layers_a, heads_a), "title": {"text": "model A heads"},
               "range": [count_a - 0.4, -0.6], "showgrid": False, "zeroline": False},
        height=int(min(1400, 160 + count_a * (size + 1))), margin=_MARGIN,
        clickmode="event+select", dragmode=False,
    )
    return wrap_title(figure)


def head_pair_click(event: object, count_a: int, count_b: int) -> tuple[int, int] | None:
    """``(a_head, b_head)`` (flat, 0-based) of the :func:`head_pair_grid` point a click selected,
    or None."""
    selection = getattr(event, "selection", None) or {}
    indices = list(selection.get("point_indices", None) or [])
    if not indices:
        return None
    index = int(indices[0])
    if not 0 <= index < count_a * count_b:
        return None
    return index // count_b, index % count_b


def cka_heatmap(cka: np.ndarray, title: str) -> go.Figure:
    """``cka[layer_a + 1, layer_b + 1]`` (index 0: the embeddings) as a heatmap on 0–1."""
    rows, columns = cka.shape
    names_a, names_b = layer_names(rows), layer_names(columns)
    figure = go.Figure(go.Heatmap(
        z=cka, x=list(range(columns)), y=list(range(rows)), zmin=0.0, zmax=1.0,
        colorscale="Viridis", texttemplate="%{z:.2f}" if rows * columns <= 400 else None,
        customdata=np.array([[(a, b) for b in names_b] for a in names_a], dtype=object),
        hovertemplate="A %{customdata[0]} × B %{customdata[1]}<br>CKA %{z:.3f}<extra></extra>",
        colorbar={"title": {"text": "CKA"}},
    ))
    figure.update_layout(
        title={"text": html.escape(title)},
        xaxis={"tickmode": "array", "tickvals": list(range(columns)), "ticktext": names_b,
               "title": {"text": "model B layer"}},
        yaxis={"tickmode": "array", "tickvals": list(range(rows)), "ticktext": names_a,
               "title": {"text": "model A layer"}, "autorange": "reversed"},
        height=200 + 30 * rows, margin=_MARGIN,
    )
    return wrap_title(figure)
