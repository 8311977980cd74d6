"""Plotly figures for the "Layers & heads" page, drawn from plain arrays and labels."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from components.charts import _token_axis
from components.margins import fit_margins, wrap_title

_MARGIN = {"l": 40, "r": 20, "t": 50, "b": 40}


def _escaped(labels: Sequence[str]) -> list[str]:
    """Plotly reads a subset of HTML in text: tokens such as ``<b>`` must show as typed."""
    return [html.escape(label) for label in labels]


def layer_names(count: int) -> list[str]:
    """``emb, L1, L2 …`` for ``count`` rows of ``[layer + 1]`` arrays."""
    return ["emb"] + [f"L{layer}" for layer in range(1, count)]


def _layer_axis(count: int, title: str = "layer") -> dict:
    return {"tickmode": "array", "tickvals": list(range(count)), "ticktext": layer_names(count),
            "title": {"text": title}}


def lens_chart(top_probs: np.ndarray, top_tokens: Sequence[Sequence[str]]) -> go.Figure:
    """``top_probs[layer + 1, rank]`` as a heatmap with each cell's predicted token written in.

    ``top_tokens[layer + 1][rank]`` are display labels (the page strips leading spaces)."""
    layers, k = top_probs.shape
    text = [_escaped(row) for row in top_tokens]
    figure = go.Figure(go.Heatmap(
        z=top_probs, x=np.arange(1, k + 1), y=np.arange(layers), text=text,
        texttemplate="%{text}", zmin=0.0, zmax=1.0, colorscale="Oranges",
        hovertemplate="layer %{y}, rank %{x}: %{text}<br>p = %{z:.4f}<extra></extra>",
        colorbar={"title": {"text": "p"}},
    ))
    figure.update_layout(
        title={"text": "Per-layer top predictions (logit lens; emb = embeddings)"},
        xaxis={"title": {"text": "rank"}, "dtick": 1},
        yaxis={**_layer_axis(layers), "autorange": "reversed"},
        height=200 + 36 * layers, margin=_MARGIN,
    )
    return wrap_title(figure)


_RANK_TICKS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000]


def target_rank_chart(ranks: np.ndarray, probs: np.ndarray, target: str) -> go.Figure:
    """Rank (log scale, left) and probability (right) of one target token at each layer."""
    layers = np.arange(len(ranks))
    names = layer_names(len(ranks))
    figure = go.Figure()
    figure.add_trace(go.Scatter(
        x=layers, y=ranks, mode="lines+markers", name="rank", customdata=names,
        hovertemplate="%{customdata}: rank %{y}<extra></extra>",
    ))
    figure.add_trace(go.Scatter(
        x=layers, y=probs, mode="lines+markers", name="probability", yaxis="y2",
        customdata=names, hovertemplate="%{customdata}: p = %{y:.4f}<extra></extra>",
    ))
    figure.update_layout(
        title={"text": f"Rank and probability of {html.escape(target)!r} across layers"},
        xaxis=_layer_axis(len(ranks)),
        yaxis={"title": {"text": "rank (1 = top)"}, "type": "log",
               "tickvals": _RANK_TICKS,
               "range": [math.log10(max(1, int(np.max(ranks))) * 1.5), -0.05]},
        yaxis2={"title": {"text": "probability"}, "overlaying": "y", "side": "right",
                "range": [0, 1]},
        height=320, margin={**_MARGIN, "r": 60}, legend={"orientation": "h", "y": -0.25},
    )
    return wrap_title(figure)


def layer_token_heatmap(
    values: np.ndarray, labels: Sequence[str], title: str, colour_title: str,
    row_names: Sequence[str], zmin: float | None = None, zmax: float | None = None,
    colorscale: str = "Viridis",
) -> go.Figure:
    """Heatmap of ``values[row, token]`` with layer-like rows and token columns."""
    labels = _escaped(labels)
    rows = np.arange(values.shape[0])
    figure = go.Figure(go.Heatmap(
        z=values, x=np.arange(len(labels)), y=rows, zmin=zmin, zmax=zmax, colorscale=colorscale,
        customdata=np.array([[(name, label) for label in labels] for name in row_names],
                            dtype=object),
        hovertemplate="%{customdata[0]}, token %{customdata[1]}<br>%{z:.3f}<extra></extra>",
        colorbar={"title": {"text": colour_title}},
    ))
    figure.update_layout(
        title={"text": title}, xaxis=_token_axis(labels),
        yaxis={"tickmode": "array", "tickvals": list(rows), "ticktext": list(row_names),
               "autorange": "reversed"},
        height=240 + 22 * values.shape[0], margin=_MARGIN,
    )
    return fit_margins(figure, labels, list(row_names), plot_height=60 + 22 * values.shape[0])


def token_matrix_heatmap(
    matrix: np.ndarray, labels: Sequence[str], title: str, colour_title: str,
    zmin: float | None = None, zmax: float | None = None, colorscale: str = "Blues",
    row_title: str = "token", column_title: str = "token",
) -> go.Figure:
    """Heatmap of a ``matrix[token, token]`` (cosine similarity, rollout …)."""
    labels = _escaped(labels)
    positions = np.arange(len(labels))
    figure = go.Figure(go.Heatmap(
        z=matrix, x=positions, y=positions, zmin=zmin, zmax=zmax, colorscale=colorscale,
        customdata=np.array([[(q, k) for k in labels] for q in labels], dtype=object),
        hovertemplate="%{customdata[0]} → %{customdata[1]}<br>%{z:.3f}<extra></extra>",
        colorbar={"title": {"text": colour_title}},
    ))
    figure.update_layout(
        title={"text": title},
        xaxis={**_token_axis(labels), "title": {"text": column_title}},
        yaxis={**_token_axis(labels), "title": {"text": row_title}, "autorange": "reversed"},
        height=min(900, 240 + 18 * len(labels)), margin=_MARGIN,
    )
    return fit_margins(figure, labels, labels, plot_height=min(760, 120 + 18 * len(labels)))


def projection_scatter(coords: np.ndarray, labels: Sequence[str], explained: np.ndarray
                       ) -> go.Figure:
    """``coords[layer + 1, token, 2]`` as points coloured by layer; hover shows the token."""
    labels = _escaped(labels)
    names = layer_names(coords.shape[0])
    figure = go.Figure()
    for layer, name in enumerate(names):
        figure.add_trace(go.Scatter(
            x=coords[layer, :, 0], y=coords[layer, :, 1], mode="markers", name=name,
            text=list(labels), customdata=np.arange(len(labels)),
            hovertemplate=f"{name}, token %{{customdata}}: %{{text}}<extra></extra>",
            marker={"size": 8, "color": layer, "colorscale": "Viridis",
                    "cmin": 0, "cmax": max(1, len(names) - 1)},
        ))
    figure.update_layout(
        title={"text": "Hidden states of all tokens and layers, PCA (one plane for all layers)"},
        xaxis={"title": {"text": f"PC1 ({explained[0]:.0%} of variance)"}},
        yaxis={"title": {"text": f"PC2 ({explained[1]:.0%} of variance)"}},
        height=480, margin=_MARGIN, legend={"title": {"text": "layer"}},
    )
    return wrap_title(figure)


def statistic_range(name: str, num_tokens: int) -> tuple[float, float]:
    """The fixed colour range of a head statistic: 0–log2(tokens) bits for an entropy, 0–1 for
    a share (so a share spanning 0.05–0.17 looks like one, not like 0 to 1)."""
    if "entropy" in name:
        return 0.0, max(math.log2(max(int(num_tokens), 2)), 1e-9)
    return 0.0, 1.0


def head_grid(values: np.ndarray, title: str, colour_title: str,
              zmin: float = 0.0, zmax: float = 1.0) -> go.Figure:
    """``values[layer, head]`` as a grid of square markers (clickable: one point per head).

    Colours sit on the fixed scale ``zmin``–``zmax`` (labelled on the colour bar), never
    stretched to the data; the tooltip shows the raw value. Points, not a heatmap, so that a
    click selects a cell through Streamlit's plotly selection. ``customdata`` holds the 0-based
    (layer, head).
    """
    layers, heads = values.shape
    layer_index, head_index = np.meshgrid(np.arange(layers), np.arange(heads), indexing="ij")
    figure = go.Figure(go.Scatter(
        x=head_index.ravel() + 1, y=layer_index.ravel() + 1, mode="markers",
        customdata=np.stack([layer_index.ravel(), head_index.ravel()], axis=1),
        marker={"symbol": "square", "size": 30, "color": values.ravel(),
                "colorscale": "Viridis", "showscale": True, "cmin": zmin, "cmax": zmax,
                "colorbar": {"title": {"text": f"{html.escape(colour_title)}<br>"
                                               f"({zmin:g}–{zmax:.3g})"}}},
        text=[f"{v:.3f}" for v in values.ravel()],
        hovertemplate="layer %{y}, head %{x}: %{text}<br>click to open in the attention view"
        "<extra></extra>",
    ))
    figure.update_layout(
        title={"text": html.escape(title)},  # "to <s>" would be read as an HTML tag
        xaxis={"title": {"text": "head"}, "dtick": 1, "range": [0.4, heads + 0.6]},
        yaxis={"title": {"text": "layer"}, "dtick": 1, "range": [layers + 0.6, 0.4]},
        height=140 + 44 * layers, margin=_MARGIN, clickmode="event+select", dragmode=False,
    )
    return wrap_title(figure)


def segment_strip(labels: Sequence[str], segment: np.ndarray) -> go.Figure:
    """One row of cells under the tokens of a sentence pair: text A, text B, special tokens."""
    names = {0: "A", 1: "B", -1: "special"}
    values = np.asarray(segment, dtype=float)[None, :]
    escaped = _escaped(labels)
    figure = go.Figure(go.Heatmap(
        z=values, x=np.arange(len(labels)), y=[0], zmin=-1, zmax=1, showscale=False,
        colorscale=[[0.0, "#d9d9d9"], [0.5, "#9ecae1"], [1.0, "#fdae6b"]],
        text=[[names[int(s)] for s in segment]], texttemplate="%{text}",
        customdata=[escaped], hovertemplate="%{customdata}: text %{text}<extra></extra>",
    ))
    figure.update_layout(
        title={"text": "Segments of the pair: A (blue), B (orange), special tokens (grey)"},
        xaxis=_token_axis(labels), yaxis={"visible": False}, height=150, margin=_MARGIN,
    )
    return fit_margins(figure, labels, None, plot_height=40)


def head_grid_click(event: object, num_layers: int, num_heads: int) -> tuple[int, int] | None:
    """0-based (layer, head) of the :func:`head_grid` point a click selected, or None.

    Reads ``point_indices`` of Streamlit's plotly selection state (the grid's points are
    layer-major); Streamlit hands ``customdata`` back as a dict, so it is not used.
    """
    selection = getattr(event, "selection", None) or {}
    indices = list(selection.get("point_indices", None) or [])
    if not indices:
        return None
    index = int(indices[0])
    if not 0 <= index < num_layers * num_heads:
        return None
    return index // num_heads, index % num_heads
