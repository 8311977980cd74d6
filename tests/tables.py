"""Find the fill-mask (and ablation) tables of a page under AppTest.

They are drawn by ``components.tables.text_table`` as HTML tables whose cells are escaped text
(``st.html``); ``st.table`` would render the user's text as markdown. Here they are read back
with the standard library's HTML parser, which undoes the escaping: a cell's ``value`` is the
text the browser shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser

import pandas as pd
from streamlit.testing.v1 import AppTest

TABLE_CLASS = "text-table"
_NUMBERS = {"rank": int, "score": float, "score (ablated)": float}


class _TableReader(HTMLParser):
    """Collects the header and body cells of every ``<table class="text-table">``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[dict] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._in_table = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table" and TABLE_CLASS in (attributes.get("class") or "").split():
            self._in_table = True
            self.tables.append({"key": attributes.get("data-table"), "head": [], "rows": []})
        elif self._in_table and tag == "tr":
            self._row = []
        elif self._in_table and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if not self._in_table:
            return
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            table = self.tables[-1]
            if not table["head"]:
                table["head"] = self._row
            else:
                table["rows"].append(self._row)
            self._row = None
        elif tag == "table":
            self._in_table = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


@dataclass(frozen=True)
class TextTable:
    """One drawn table: ``value`` as a DataFrame (numbers parsed back), ``key`` its name and
    ``html`` what was sent to the browser."""

    key: str | None
    value: pd.DataFrame
    html: str


def read_tables(body: str) -> list[TextTable]:
    """Every text table in one HTML body."""
    reader = _TableReader()
    reader.feed(body)
    tables = []
    for table in reader.tables:
        frame = pd.DataFrame(table["rows"], columns=table["head"])
        for column, kind in _NUMBERS.items():
            if column in frame.columns:
                frame[column] = frame[column].map(kind)
        tables.append(TextTable(table["key"], frame, body))
    return tables


def text_tables(at: AppTest) -> list[TextTable]:
    """Every table drawn by ``text_table``, in page order."""
    return [table for element in at.get("html") for table in read_tables(element.proto.body)]


def prediction_tables(at: AppTest) -> list[TextTable]:
    """The page's top-k tables (first columns "rank", "token"), in page order."""
    return [table for table in text_tables(at)
            if list(table.value.columns)[:2] == ["rank", "token"]]


PICTURES = {code: 0x2400 + code for code in range(32)} | {127: 0x2421}


BLANK = "___"  # another mask of the text, as the tables show it (explorer.prediction_text)


def shown_sequence(sequence: str, tokenizer) -> str:
    """The pipeline's ``sequence`` as the top-k tables must read it: special tokens dropped
    (the pipeline keeps them when a text has several masks), the other masks blank, control
    characters as their pictures — the reference the display is checked against."""
    for special in (tokenizer.cls_token, tokenizer.sep_token, tokenizer.bos_token,
                    tokenizer.eos_token):
        if special:
            sequence = sequence.replace(special + " ", "").replace(" " + special, "")
            sequence = sequence.replace(special, "")
    return sequence.replace(tokenizer.mask_token, BLANK).translate(PICTURES).strip()


def assert_token_cell(prediction, token: str, sequence: str | None = None) -> None:
    """A top-k row as the tables must show it: the pipeline's token string (control characters
    as their visible pictures, ``\\x0f`` → ``␏``) and, for a text with one mask, the pipeline's
    sequence; a token that is part of a UTF-8 character (the pipeline decodes it to "�") or
    decodes to nothing is ``[id N]``, in the token cell and in the sequence, never a blank."""
    text = prediction.token_str
    if text and "\ufffd" not in text:
        assert token == text.translate(PICTURES), (token, text)
        if sequence is not None:
            assert sequence == prediction.sequence.translate(PICTURES)
    else:
        assert token == f"[id {prediction.token_id}]", (token, text)
        if sequence is not None:
            assert token in sequence and "\ufffd" not in sequence
