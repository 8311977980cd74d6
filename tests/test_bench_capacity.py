"""The capacity benchmark still runs (``--quick``: tiny model, 1 and 2 simulated visitors over
Streamlit's websocket protocol), so the script cannot rot; and its check that a prediction table
belongs to the text sent can tell one text's table from another's."""

from __future__ import annotations

import pandas as pd

from bench.capacity import main, percentile
from bench.streamlit_session import TABLE_MARK, table_shows
from components.tables import table_html


def test_capacity_quick_run_reports_every_cell_without_errors(capsys):
    assert main(["--quick"]) == 0  # non-zero when any visitor saw an error
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| 24 |")]
    # each cell printed as measured and again in the final table: 1 and 2 visitors
    assert [row.split("|")[2].strip() for row in rows] == ["1", "2", "1", "2"]
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        visitors, texts, errors = int(cells[1]), int(cells[2]), int(cells[3])
        assert texts == visitors and errors == 0
        p50, p95 = float(cells[4].removesuffix(" s")), float(cells[5].removesuffix(" s"))
        assert 0 < p50 <= p95
        assert float(cells[10].removesuffix(" s")) > 0  # server CPU per text
        assert all(int(cells[i].removesuffix(" MiB")) > 50 for i in range(11, 15))  # RSS


def test_table_check_tells_the_texts_table_from_another():
    text = "one two three four five six seven <mask> eight nine"
    frame = pd.DataFrame({"rank": [1], "token": [" cat"], "score": [0.5],
                          "sequence": ["one two three four five six seven cat eight nine"]})
    body = table_html(frame, "predictions_1")
    assert TABLE_MARK in body
    assert table_shows(body, text)
    assert not table_shows(body, "one two three four five SIX seven <mask> eight nine")
    assert not table_shows(body.replace("four", "for"), text)
    tagged = "a <b> & c one <mask> d"  # the table shows user text escaped; read unescaped
    tagged_body = table_html(frame.assign(sequence=["a <b> & c one cat d"]), "predictions_1")
    assert "&lt;b&gt;" in tagged_body and table_shows(tagged_body, tagged)


def test_percentile_is_the_nearest_rank():
    values = [float(v) for v in range(1, 21)]  # 1 … 20
    assert percentile(values, 0.5) == 10.0 and percentile(values, 0.95) == 19.0
    assert percentile([3.0], 0.95) == 3.0
