"""The contribution graph in a real browser on the tiny model: the threshold, the target token
and hide-special change the drawing without a Streamlit page run (the page counts its own full
runs on the server and the graph shows the count as ``data-script-runs``; a fragment run that
only acknowledges the change is allowed), and the counter does move on a real page run.

A random tiny model builds every token from itself alone (its attention output is small beside
the residual stream), so no threshold would change its drawing: here its attention output
projection is scaled ×100 and its queries and keys ×8, so that other tokens hold shares."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import expect

from components.contribution_graph import sparse_rows
from explorer.analysis import analyze
from explorer.contributions import contributions, paths_into
from explorer.model import load
from tests.browser import chromium_page, running_app
from ui import contributions_view as view

TEXT = "The capital of France is <mask>, said the man in the long grey coat."
GRAPH = "[data-testid='contribution-graph']"


def _python_answered(page, root) -> None:
    """Wait until Python has received the last change the graph sent (its fragment run is
    back): a page run, if the change caused one, has happened by then."""
    page.wait_for_function(
        "(r) => Number(r.dataset.ack) >= Number(r.dataset.sent || 0)",
        arg=root.element_handle(), timeout=60_000)
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')",
                           timeout=60_000)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    import torch
    from transformers import RobertaForMaskedLM

    from explorer.tiny import build_tiny_model

    folder = build_tiny_model(tmp_path_factory.mktemp("mixing-tiny"), max_tokens=64)
    model = RobertaForMaskedLM.from_pretrained(folder)
    with torch.no_grad():
        for layer in model.roberta.encoder.layer:
            layer.attention.output.dense.weight *= 100
            layer.attention.self.query.weight *= 8
            layer.attention.self.key.weight *= 8
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def expected(model_dir):
    loaded = load(str(model_dir))
    analysis = analyze(loaded, TEXT)
    rows = sparse_rows(contributions(loaded, analysis).shares)
    shares = np.zeros((analysis.num_layers, analysis.num_tokens, analysis.num_tokens))
    for layer, layer_rows in enumerate(rows):  # what the browser holds: permille, ≥ 1 %
        for query, row in enumerate(layer_rows):
            shares[layer, query, row[0::2]] = np.array(row[1::2]) / 1000
    return analysis, shares


def test_threshold_target_and_hide_special_redraw_without_a_page_run(model_dir, expected):
    analysis, shares = expected
    mask = analysis.mask_positions[0]
    with running_app(model_dir) as url, chromium_page() as page:
        page.goto(url)
        page.get_by_role("heading", name="Attention explorer").wait_for(timeout=60_000)
        page.get_by_role("link", name="Contributions").click()
        box = page.get_by_role("textbox", name="Text (shared across pages)")
        box.fill(TEXT)
        box.press("Control+Enter")
        root = page.locator(GRAPH)
        expect(root).to_have_attribute("data-ready", re.compile(rf"\|{analysis.num_tokens}\|"),
                                       timeout=60_000)
        expect(root).to_have_attribute("data-target", str(mask))
        runs = root.get_attribute("data-script-runs")
        assert int(runs) >= 1
        threshold = float(root.get_attribute("data-threshold"))
        assert threshold == view.DEFAULT_THRESHOLD
        assert root.locator("line.cg-edge").count() == len(paths_into(shares, mask, threshold))

        # the target: another token's paths, its label marked, no page run
        other = next(t for t in range(1, analysis.num_tokens - 1) if t != mask)
        root.get_by_role("combobox", name="Into token").select_option(str(other))
        expect(root).to_have_attribute("data-target", str(other))
        assert root.locator("line.cg-edge").count() == len(paths_into(shares, other, threshold))
        assert root.locator("text.cg-target").text_content() == analysis.labels[other]
        targets = {int(t) for t in root.locator("line.cg-edge[data-layer='"
                                                f"{analysis.num_layers}']").evaluate_all(
            "(lines) => lines.map((l) => l.dataset.target)")}
        assert targets == {other}  # the last layer's edges all end at the new target
        _python_answered(page, root)
        expect(root).to_have_attribute("data-script-runs", runs)

        # the threshold, moved with the keyboard: the edges drawn follow it
        slider = root.get_by_role("slider", name="Share at least")
        counts = {}
        for step in range(1, 16):
            slider.press("ArrowLeft" if step < 5 else "ArrowRight")
            now = float(root.get_attribute("data-threshold"))
            counts[now] = root.locator("line.cg-edge").count()
            assert counts[now] == len(paths_into(shares, other, now)), now
        assert len(set(counts.values())) > 1, counts  # the drawing did change
        _python_answered(page, root)
        expect(root).to_have_attribute("data-script-runs", runs)

        # hide-special: the special tokens' labels leave the drawing
        specials = int(analysis.special_mask.sum())
        labels = root.locator("text.cg-token[data-side='left']").count()
        root.get_by_role("checkbox", name="Hide special tokens").check()
        expect(root.locator("text.cg-token[data-side='left']")).to_have_count(labels - specials)
        _python_answered(page, root)
        expect(root).to_have_attribute("data-script-runs", runs)

        # the counter is real: a new text is a page run, and it moves
        box.fill(TEXT.replace("grey", "blue"))
        box.press("Control+Enter")
        expect(root).not_to_have_attribute("data-script-runs", runs, timeout=60_000)
