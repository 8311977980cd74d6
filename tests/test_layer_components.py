"""Components of the Layers & heads page: figures hold what they were given, clicks decode."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from components.layer_charts import head_grid, head_grid_click, lens_chart, projection_scatter
from components.layer_tables import lens_frame


def test_head_grid_points_are_layer_major_and_clicks_decode():
    values = np.arange(2 * 3, dtype=float).reshape(2, 3)  # values[layer, head]
    figure = head_grid(values, "t", "v")
    trace = figure.data[0]
    assert list(trace.marker.color) == values.ravel().tolist()
    for index in range(6):
        layer, head = head_grid_click(
            SimpleNamespace(selection={"point_indices": [index], "points": []}), 2, 3)
        assert values[layer, head] == trace.marker.color[index]
        assert (trace.y[index], trace.x[index]) == (layer + 1, head + 1)
    empty = SimpleNamespace(selection={"point_indices": [], "points": []})
    assert head_grid_click(empty, 2, 3) is None
    assert head_grid_click(None, 2, 3) is None
    outside = SimpleNamespace(selection={"point_indices": [6]})
    assert head_grid_click(outside, 2, 3) is None


def test_token_text_is_escaped_in_figures():
    tokens = [["<b>x</b>", "a"], ["&", "b"]]
    figure = lens_chart(np.array([[0.5, 0.2], [0.4, 0.1]]), tokens)
    assert figure.data[0].text[0][0] == "&lt;b&gt;x&lt;/b&gt;"
    scatter = projection_scatter(np.zeros((2, 2, 2)), ["<i>", "ok"], np.array([0.5, 0.2]))
    assert scatter.data[0].text[0] == "&lt;i&gt;"


def test_lens_frame_rows_per_layer():
    frame = lens_frame(np.array([[0.5, 0.2], [0.4, 0.1], [0.9, 0.05]]),
                       [["a", "b"], ["c", "d"], ["e", "f"]], k=2)
    assert isinstance(frame, pd.DataFrame)
    assert frame["layer"].tolist() == ["emb", "L1", "L2"]
    assert frame.iloc[2].tolist() == ["L2", "e (0.900)", "f (0.050)"]
