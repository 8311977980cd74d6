"""``components.tables.table_html``: user text drawn as an HTML table stays text.

The reference is the standard library's HTML parser (what a browser's parser does with the
same bytes): every cell reads back as the exact string that went in, and the only elements are
the table's own.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pandas as pd
import pytest

from components.tables import table_html
from tests.tables import read_tables

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "</td></tr></table><script>alert(1)</script>",
    "[Sign in](http://example.invalid/phish)",
    "![t](http://example.invalid/pixel)",
    "a &amp; b & c &lt;",
    "2*3*4 _x_ `code` # head",
    "' onmouseover='alert(1)",
    '" onmouseover="alert(1)',
    "  two leading spaces",
    "line\nbreak",
]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append(tag)


@pytest.mark.parametrize("text", HOSTILE)
def test_every_cell_reads_back_as_the_text_that_went_in(text):
    frame = pd.DataFrame([{"rank": 1, "token": text, "score": 0.25, "sequence": f"x {text} y"}])
    (table,) = read_tables(table_html(frame, key=text))
    assert table.value["token"].tolist() == [text]
    assert table.value["sequence"].tolist() == [f"x {text} y"]
    assert table.key == text
    parser = _Tags()
    parser.feed(table_html(frame, key=text))
    assert set(parser.tags) <= {"style", "table", "thead", "tbody", "tr", "th", "td"}
    assert parser.tags.count("td") == 4


def test_numbers_are_formatted_as_the_old_grid_showed_them():
    frame = pd.DataFrame([{"rank": 3, "token": "a", "score": 0.25, "score (ablated)": 0.03125,
                           "sequence": "s"}])
    (table,) = read_tables(table_html(frame, key="k"))
    assert list(table.value.columns) == ["rank", "token", "score", "score (ablated)", "sequence"]
    assert "<td class='num'>3</td>" in table.html
    assert "<td class='num'>0.2500</td>" in table.html
    assert "<td class='num'>0.0312</td>" in table.html
    assert table.value["score"].tolist() == [0.25]
