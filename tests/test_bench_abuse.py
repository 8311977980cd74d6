"""The abuse benchmark (issue 25) still runs: ``bench/abuse.py`` in its small configuration (a
tiny model, one visitor pasting sentences and one asking for attribution at once, in public
mode), so the script cannot rot; its report has every column, and the public-mode rules hold on
the pages a new visitor sees (the model named, never its folder)."""

from __future__ import annotations

import math

from bench.abuse import SMALL, report, run


def test_abuse_quick_run_reports_every_column_and_shows_no_folder():
    results = run(["mix2"], SMALL, small=True)
    assert len(results) == 1
    result = results[0]
    assert result.case == "mix2" and result.visitors == 2 and not result.notes
    # both abusive visitors got their job (the small sizes fit the public limits)
    assert (result.started, result.refused) == (2, 0)
    assert result.steps == SMALL.steps
    # public mode: the pages name the model by its folder's last part, never the folder
    assert result.pages_showing_path == 0 and result.pages_naming_model == 2
    assert 0 < result.idle_first_table_s < math.inf and 0 < result.busy_first_table_s < math.inf
    assert result.loaded_rss_mib > 50 and result.peak_rss_mib >= result.loaded_rss_mib
    assert result.rss_after_mib > 50 and result.cpu_after_leaving_s >= 0
    header, rule, row = report(results).splitlines()
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    assert columns == ["case", "visitors", "peak RSS (MiB)", "loaded → after (MiB)",
                       "CPU s held after leaving", "first table idle → busy (s)", "ratio",
                       "pages showing the folder",
                       "abusers started · refused (attribution steps)"]
    assert rule.count("---") == len(columns)
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert len(cells) == len(columns)
    assert cells[:2] == ["mix2", "2"] and cells[7] == "0 of 2"
    assert cells[8] == f"2 · 0 ({SMALL.steps})"
    assert float(cells[6].removesuffix("×")) == round(
        result.busy_first_table_s / result.idle_first_table_s, 1)
