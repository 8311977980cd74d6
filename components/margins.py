"""Margins computed from the tick labels, so rotated token labels and axis titles are never
clipped. Plotly's ``automargin`` is not used: it made charts resize the page in a loop (see
``components/charts.py``); a margin computed once from the labels cannot loop."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

import plotly.graph_objects as go

CHAR_PX = 7.0  # a tick label character at plotly's default 12 px font, generously
TITLE_PX = 36  # an axis title and its gaps to the ticks and the edge
MAX_LABEL_CHARS = 24  # longer labels are cut with "…" on axes (hover shows them whole)
MIN_PLOT_PX = 160  # the plot area a heatmap keeps at least, whatever its margins
TITLE_FONT_PX = 15
TITLE_LINE_CHARS = 56  # a title line that fits the page's width at 1024 px (about 600 px)
HALF_WIDTH_CHARS = 36  # … and half of it (a chart in one of two columns, about 270 px)
TITLE_LINE_PX = 20


def short_label(label: str) -> str:
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"


def label_extent(labels: Sequence[str], angle_degrees: float) -> float:
    """Pixels the longest label needs perpendicular to its axis at ``angle_degrees``."""
    longest = max((len(short_label(str(label))) for label in labels), default=0)
    return CHAR_PX * longest * abs(math.sin(math.radians(angle_degrees))) + 14


def token_margins(x_labels: Sequence[str] | None, y_labels: Sequence[str] | None,
                  x_angle: float = 45.0, right: int = 20, top: int = 50) -> dict[str, int]:
    """``margin`` for a figure with token tick labels below (rotated by ``x_angle``) and/or
    to the left (horizontal), plus room for the axis titles."""
    bottom = label_extent(x_labels, x_angle) + TITLE_PX if x_labels else 40
    left = label_extent(y_labels, 90.0) + TITLE_PX if y_labels else 50
    return {"l": math.ceil(max(left, 50)), "r": right, "t": top,
            "b": math.ceil(max(bottom, 40))}


def fit_margins(figure: go.Figure, x_labels: Sequence[str] | None,
                y_labels: Sequence[str] | None, plot_height: int | None = None) -> go.Figure:
    """Set ``figure``'s margins from its labels; its height grows by the margins so the plot
    area keeps ``plot_height`` (default: its height less the old margins), at least
    :data:`MIN_PLOT_PX`."""
    margin = token_margins(x_labels, y_labels)
    layout = figure.layout
    if plot_height is None:
        old = layout.margin
        plot_height = int((layout.height or 450) - (old.t or 0) - (old.b or 0))
    figure.update_layout(margin=margin,
                         height=max(plot_height, MIN_PLOT_PX) + margin["t"] + margin["b"])
    figure.update_xaxes(automargin=False, title_standoff=6)  # the title just past the labels
    figure.update_yaxes(automargin=False, title_standoff=6)
    return wrap_title(figure)


def wrap_title(figure: go.Figure, line_chars: int = TITLE_LINE_CHARS) -> go.Figure:
    """Break ``figure``'s title into lines of at most ``line_chars`` characters (at spaces), at
    :data:`TITLE_FONT_PX`, and give the extra lines room above the plot: plotly never wraps a
    title, so a long one ran past narrow charts' edges and was cut."""
    title = figure.layout.title.text
    lines = [line for part in (title or "").split("<br>")
             for line in textwrap.wrap(part, line_chars, break_long_words=False) or [""]]
    extra = TITLE_LINE_PX * max(0, len(lines) - 1)
    margin = figure.layout.margin
    top = (margin.t if margin.t is not None else 80) + extra
    figure.update_layout(title={"text": "<br>".join(lines) if title else title,
                                "font": {"size": TITLE_FONT_PX}},
                         margin={"t": top})
    if extra and figure.layout.height:
        figure.update_layout(height=figure.layout.height + extra)
    return figure
