"""Plotly figures built from plain arrays and token labels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go


def _token_axis(labels: Sequence[str]) -> dict:
    # Numeric positions with text ticks: repeated tokens ("the", "the") stay separate.
    return {
        "tickmode": "array",
        "tickvals": list(range(len(labels))),
        "ticktext": list(labels),
        "tickangle": -45,
    }


def attention_heatmap(
    attention: np.ndarray, labels: Sequence[str], title: str
) -> go.Figure:
    """Heatmap of ``attention[query, key]``: rows are queries, columns are keys."""
    positions = np.arange(len(labels))
    figure = go.Figure(go.Heatmap(
        z=attention,
        x=positions,
        y=positions,
        zmin=0.0,
        zmax=float(max(attention.max(initial=0.0), 1e-9)),
        colorscale="Blues",
        customdata=np.array([[(q, k) for k in labels] for q in labels], dtype=object),
        hovertemplate="query %{customdata[0]} → key %{customdata[1]}<br>weight %{z:.3f}"
        "<extra></extra>",
        colorbar={"title": {"text": "weight"}},
    ))
    size = min(900, 240 + 18 * len(labels))
    figure.update_layout(
        title={"text": title},
        xaxis={**_token_axis(labels), "title": {"text": "key (attended to)"}},
        yaxis={**_token_axis(labels), "title": {"text": "query (attending)"},
               "autorange": "reversed"},
        height=size,
        margin={"l": 40, "r": 20, "t": 50, "b": 40},
    )
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
        customdata=np.array([[label for label in labels] for _ in layers], dtype=object),
        hovertemplate="layer %{y}, token %{customdata}<br>norm %{z:.2f}<extra></extra>",
        colorbar={"title": {"text": "‖h‖"}},
    ))
    figure.update_layout(
        title={"text": "Hidden-state norm per layer and token (layer 0 = embeddings)"},
        xaxis=_token_axis(labels),
        yaxis={"tickmode": "array", "tickvals": list(layers), "ticktext": layer_names,
               "title": {"text": "layer"}},
        height=260 + 12 * norms.shape[0],
        margin={"l": 40, "r": 20, "t": 50, "b": 40},
    )
    return figure


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
    return figure
