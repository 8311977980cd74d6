"""Work that runs the model over a whole corpus (an index, head statistics): offered with a
button first, then shown with a progress bar (Streamlit glue shared by the corpus pages)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from ui.jobs import place_text


def offer_to_start(message: str, label: str, key: str) -> None:
    """Show ``message`` (markdown: escape user text in it) and a start button; end the page run
    here until the button is clicked, then clear both."""
    offer = st.empty()
    with offer.container():
        st.info(message)
        clicked = st.button(label, type="primary", key=key)
    if not clicked:
        st.stop()
    offer.empty()


@dataclass(frozen=True)
class Progress:
    """A progress bar and the two callbacks the corpus builders take."""

    bar: object
    show_progress: Callable[[int, int], None]  # (lines done, lines in all)
    show_waiting: Callable[[int], None]  # (jobs ahead): this one waits in the limiter's queue


def progress_bar(start_text: str, line_text: str, what: str) -> Progress:
    """A bar reading ``start_text``, then ``line_text`` with the line counts (``{done}``,
    ``{total}``), or, while queued, the place of this ``what`` ("index build") in the queue.
    Streamlit raises in ``show_progress`` when the tab is closed or the page reruns: the work
    stops there and gives its memory back."""
    bar = st.progress(0.0, text=start_text)

    def show_progress(done: int, total: int) -> None:
        bar.progress(done / max(1, total), text=line_text.format(done=f"{done:,}",
                                                                   total=f"{total:,}"))

    def show_waiting(ahead: int) -> None:
        bar.progress(0.0, text=place_text(ahead, what))

    return Progress(bar, show_progress, show_waiting)
