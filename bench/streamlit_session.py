"""A simulated visitor of a Streamlit app: one real browser session over Streamlit's own protocol.

A browser tab talks to ``streamlit run`` through one websocket at ``/_stcore/stream``: it sends
``BackMsg`` protobufs (``rerun_script`` with the page and the widgets' values) and receives
``ForwardMsg`` protobufs (``new_session`` at the start of each script run, one ``delta`` per
element, ``script_finished``). :class:`Visitor` does the same with the protobuf classes of the
installed Streamlit (``streamlit.proto``), so the server does exactly the work it does for a
browser (a session, a script run per text, every element sent), without a browser's cost on the
measuring machine. What a browser adds and this does not: drawing, fetching static files, and
messages from components (the attention view acknowledging a state).

    visitor = await Visitor.connect("http://127.0.0.1:8501")
    first = await visitor.run()                    # the first page, default text
    run = await visitor.type_text("A <mask> text")  # new text: time to its prediction table
"""

from __future__ import annotations

import asyncio
import html
import re
import time
from dataclasses import dataclass, field

from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState, WidgetStates

TABLE_MARK = "data-table='predictions_1'"
"""The first prediction table's HTML (components.tables.table_html, key ``predictions_1``)."""
TEXT_KEY_SUFFIX = "-text"
"""Streamlit widget ids end in ``-<key>``; the Explorer's text area has key ``text``."""
_TAGS = re.compile(r"<style>.*?</style>|<[^>]+>", re.S)


def _compact(text: str) -> str:
    return "".join(text.split())


def table_shows(body: str, text: str, mask: str = "<mask>", words: int = 6) -> bool:
    """Whether a prediction table's HTML shows ``text``: its sequences are the text with the
    mask filled in (a window of words either side of the mask for a long text), so the
    ``words`` words before the mask must appear (whitespace ignored)."""
    before = " ".join(text.split(mask)[0].split()[-words:])
    return _compact(before) in _compact(html.unescape(_TAGS.sub(" ", body)))


@dataclass
class Run:
    """One script run as this visitor saw it, times in seconds from the request."""

    table_s: float | None = None  # first prediction table received
    finished_s: float | None = None  # script_finished received
    table_body: str = ""
    errors: list[str] = field(default_factory=list)  # error alerts, exceptions, bad status
    text_area_id: str = ""
    page_hash: str = ""
    messages: int = 0
    bytes_received: int = 0


class Visitor:
    """One browser session (one websocket) of a Streamlit app."""

    def __init__(self, websocket) -> None:
        self._websocket = websocket
        self.page_hash = ""
        self.text_area_id = ""

    @classmethod
    async def connect(cls, url: str, timeout_s: float = 60.0) -> Visitor:
        import websockets

        stream = url.replace("http://", "ws://", 1).rstrip("/") + "/_stcore/stream"
        # No client pings: a busy server answering a ping late must not count as a lost visitor.
        websocket = await websockets.connect(stream, subprotocols=["streamlit"], max_size=None,
                                             ping_interval=None, open_timeout=timeout_s)
        return cls(websocket)

    async def close(self) -> None:
        await self._websocket.close()

    async def run(self, widgets: list[WidgetState] | None = None,
                  timeout_s: float = 300.0) -> Run:
        """Ask for a script run with ``widgets`` and read until it finishes."""
        state = ClientState(page_script_hash=self.page_hash,
                            widget_states=WidgetStates(widgets=widgets or []))
        message = BackMsg()
        message.rerun_script.CopyFrom(state)
        started = time.monotonic()
        await self._websocket.send(message.SerializeToString())
        run = Run()
        deadline = started + timeout_s
        while run.finished_s is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                run.errors.append(f"no script_finished within {timeout_s:.0f} s")
                break
            data = await asyncio.wait_for(self._websocket.recv(), remaining)
            run.messages += 1
            run.bytes_received += len(data)
            self._read(ForwardMsg.FromString(data), run, time.monotonic() - started)
        if run.page_hash:
            self.page_hash = run.page_hash
        if run.text_area_id:
            self.text_area_id = run.text_area_id
        return run

    async def type_text(self, text: str, timeout_s: float = 300.0) -> Run:
        """Send a new text (as Ctrl+Enter in the text area does); the run must show its table."""
        if not self.text_area_id:
            raise RuntimeError("no text area seen yet: call run() for the first page first")
        run = await self.run([WidgetState(id=self.text_area_id, string_value=text)], timeout_s)
        if run.table_s is not None and not table_shows(run.table_body, text):
            run.errors.append("the prediction table does not show the text sent")
        return run

    @staticmethod
    def _read(message: ForwardMsg, run: Run, elapsed_s: float) -> None:
        kind = message.WhichOneof("type")
        if kind == "new_session":
            run.page_hash = message.new_session.page_script_hash
        elif kind == "script_finished":
            run.finished_s = elapsed_s
            if message.script_finished not in (ForwardMsg.FINISHED_SUCCESSFULLY,
                                                ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY):
                run.errors.append(f"script finished with status {message.script_finished}")
        elif kind == "delta" and message.delta.WhichOneof("type") == "new_element":
            element = message.delta.new_element
            element_kind = element.WhichOneof("type")
            if element_kind == "text_area" and element.text_area.id.endswith(TEXT_KEY_SUFFIX):
                run.text_area_id = element.text_area.id
            elif element_kind == "html" and TABLE_MARK in element.html.body and \
                    run.table_s is None:
                run.table_s = elapsed_s
                run.table_body = element.html.body
            elif element_kind == "exception":
                run.errors.append(f"exception: {element.exception.message[:200]}")
            elif element_kind == "alert" and element.alert.format == Alert.ERROR:
                run.errors.append(f"error message: {element.alert.body[:200]}")
