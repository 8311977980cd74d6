"""The attention view's Python ↔ JS contract, checked on both sides against one definition.

- The file header's TypedDict (:class:`explorer.graph.GraphHeader`) is what ``graph_file``
  builds (every field, nothing else, the right JSON types) and what ``graph.js`` parses (read
  back under node); ``graph.js`` carries the generated JSDoc typedefs verbatim and reads only
  fields they declare.
- ``graph.js``'s maths (units, head rows, combine, prune) run under node on real files give the
  edges of the Python reference (``pack.dense()`` or ``packed_value_shares``, then
  ``merge_attention`` for words, ``combine_heads`` and ``prune_edges``) on 90 cases.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from components.attention_graph import GraphData, GraphView
from components.attention_graph.contract import GRAPH_JS, carried_block, typedef_block
from explorer.analysis import analyze
from explorer.attribution import value_vector_norms
from explorer.graph import (
    PACK_VERSION,
    GraphHeader,
    TokenEntry,
    ValuePackHeader,
    WordMap,
    WordsHeader,
    combine_heads,
    graph_file,
    packed_value_shares,
    prune_edges,
    read_graph_file,
    read_value_norms,
    visible_tokens,
)
from explorer.model import load
from explorer.tiny import build_tiny_bert_model
from explorer.typed_json import field_names, problems
from explorer.word_level import words_of
from explorer.words import merge_attention

ROOT = Path(__file__).resolve().parents[1]
NODE_SCRIPT = ROOT / "tests" / "js" / "graph_maths.mjs"
ROBERTA_TEXT = "The capital of France is <mask>, unbelievably Paris."
BERT_TEXT = "The capital of France is [MASK], unbelievably Paris."
CASES = 90

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


@pytest.fixture(scope="module")
def files(tiny, tmp_path_factory):
    """Real graph files: RoBERTa (value norms, words, tooltip predictions), BERT (value norms,
    words) and RoBERTa without either (a model without a value projection)."""
    bert = load(str(build_tiny_bert_model(tmp_path_factory.mktemp("bert-contract"))))
    folder = tmp_path_factory.mktemp("graph-files")
    made = {}
    for name, loaded, text, full in (("roberta", tiny, ROBERTA_TEXT, True),
                                     ("bert", bert, BERT_TEXT, True),
                                     ("plain", tiny, "A <mask> sat on the mat.", False)):
        analysis = analyze(loaded, text)
        words = words_of(loaded.tokenizer, analysis)
        predictions = [[("the", 0.5), ("a", 0.25)]] * analysis.num_tokens if full else None
        blob = graph_file(
            analysis.attentions, analysis.labels, analysis.special_mask,
            analysis.mask_positions, predictions, special_label="<s>, </s>",
            value_norms=value_vector_norms(loaded, analysis.hidden_states) if full else None,
            value_note="" if full else "no value projection",
            words=WordMap(words.word_of_token, words.labels, words.special) if full else None)
        path = folder / f"{name}.bin"
        path.write_bytes(blob)
        made[name] = (path, blob, words)
    return made


def run_node(request: dict) -> dict:
    done = subprocess.run(["node", str(NODE_SCRIPT)], input=json.dumps(request), text=True,
                          capture_output=True, timeout=120, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# ------------------------------------------------------------------ one definition, two sides
def test_graph_js_carries_the_generated_typedefs():
    """Change a TypedDict without regenerating (python -m components.attention_graph.contract),
    or edit the typedefs in graph.js by hand, and this fails."""
    carried = carried_block(GRAPH_JS.read_text(encoding="utf-8"))
    assert carried is not None, "graph.js lost its contract block"
    assert carried == typedef_block()


def test_the_validator_sees_drift():
    """The checker used below is not a rubber stamp: a missing, extra or mistyped field fails."""
    header: dict = {"version": 2, "num_layers": 1, "num_heads": 1, "num_tokens": 1, "mass": 0.99,
                    "max_keys": 16, "entries": 1, "tokens": [{"t": "<s>", "s": 1}],
                    "special_label": "", "offsets": [8, 12, 16], "value": None,
                    "value_note": "", "words": None}
    assert problems(header, GraphHeader) == []
    assert problems({**header, "extra": 1}, GraphHeader) == ["$.extra: not a field of GraphHeader"]
    assert problems({k: v for k, v in header.items() if k != "words"}, GraphHeader) == \
        ["$.words: missing"]
    assert problems({**header, "num_tokens": "1"}, GraphHeader)
    assert problems({**header, "tokens": [{"t": "x", "s": 2}]}, GraphHeader)
    assert problems({**header, "value": {"offsets": ["8"]}}, GraphHeader)


def test_graph_file_builds_the_typed_header(files):
    for _, blob, _ in files.values():
        header, _ = read_graph_file(blob)
        assert problems(header, GraphHeader) == []
        assert header["version"] == PACK_VERSION
    assert read_graph_file(files["roberta"][1])[0]["value"] is not None
    assert read_graph_file(files["plain"][1])[0]["words"] is None


@needs_node
def test_graph_js_parses_the_typed_header(files):
    """What graph.js's parseFile reads is the header, field for field, and conforms."""
    answer = run_node({"files": {name: str(path) for name, (path, _, _) in files.items()},
                       "cases": []})
    for name, (_, blob, _) in files.items():
        header = answer["headers"][name]
        assert problems(header, GraphHeader) == []
        assert header == read_graph_file(blob)[0]


def _read_fields(source: str, variable: str) -> set[str]:
    return set(re.findall(rf"\b{variable}\.([A-Za-z_]\w*)", source))


def test_graph_js_reads_only_declared_fields():
    """Every field graph.js reads from the header, its parts, the run's data and Python's view
    is one the Python types declare (a renamed field on either side fails here)."""
    source = GRAPH_JS.read_text(encoding="utf-8")
    source = source.replace(carried_block(source) or "", "")
    header_reads = _read_fields(source, "header") - {"value", "words"}
    assert header_reads <= field_names(GraphHeader), header_reads - field_names(GraphHeader)
    value_reads = set(re.findall(r"\bheader\.value\.(\w+)", source))
    assert value_reads and value_reads <= field_names(ValuePackHeader)
    words_reads = set(re.findall(r"(?<![.\w])words\.(\w+)", source))  # header.words in buildUnits
    assert words_reads and words_reads <= field_names(WordsHeader), words_reads
    data_reads = _read_fields(source, "data")
    assert data_reads and data_reads <= field_names(GraphData), data_reads - field_names(GraphData)
    view_reads = _read_fields(source, "pythonView")
    assert view_reads and view_reads <= field_names(GraphView), view_reads
    token_reads = set(re.findall(r"\btokens\[[^\]]+\]\.(\w+)", source))
    assert token_reads and token_reads <= field_names(TokenEntry), token_reads
    assert f"const PACK_VERSION = {PACK_VERSION};" in source


# -------------------------------------------------------------------- the maths under node
def _cases(files) -> list[dict]:
    rng = np.random.default_rng(21)
    cases = []
    names = sorted(files)
    for index in range(CASES):
        name = names[index % len(names)]
        header = read_graph_file(files[name][1])[0]
        full = header["value"] is not None
        num_heads = header["num_heads"]
        heads = sorted(rng.choice(num_heads, size=int(rng.integers(0, num_heads + 1)),
                                  replace=False).tolist())
        cases.append({
            "file": name, "layer": int(rng.integers(header["num_layers"])), "heads": heads,
            "combine": str(rng.choice(["mean", "max"])),
            "threshold": float(rng.choice([0.05, 0.3, 0.5, 0.7, 0.9, 1.0])),
            "hide_special": bool(rng.integers(2)),
            "weighting": str(rng.choice(["weights", "value_norm"])) if full else "weights",
            "words": bool(rng.integers(2)) if full else False,
        })
    return cases


def _reference(blob: bytes, words, case: dict) -> dict[tuple[int, int], float]:
    header, pack = read_graph_file(blob)
    attention = pack.dense() if case["weighting"] == "weights" else \
        packed_value_shares(pack, *read_value_norms(blob))
    special = np.array([bool(token.get("s")) for token in header["tokens"]])
    if case["words"]:
        attention = merge_attention(attention, words)
        special = np.array([special[words.pieces(w)].all() for w in range(words.num_words)])
    matrix = combine_heads(attention, case["layer"], case["heads"], case["combine"])
    edges = prune_edges(matrix, case["threshold"], visible_tokens(special, case["hide_special"]))
    return {(int(q), int(k)): float(w) for q, k, w in zip(edges.query, edges.key, edges.weight,
                                                          strict=True)}


@needs_node
def test_graph_js_maths_equal_explorer_graph(files):
    cases = _cases(files)
    assert {c["weighting"] for c in cases} == {"weights", "value_norm"}
    assert {c["words"] for c in cases} == {True, False}
    answer = run_node({"files": {name: str(path) for name, (path, _, _) in files.items()},
                       "cases": cases})
    assert len(answer["edges"]) == CASES
    matched = 0
    for case, drawn in zip(cases, answer["edges"], strict=True):
        _, blob, words = files[case["file"]]
        reference = _reference(blob, words, case)
        got = {(q, k): w for q, k, w in zip(drawn["query"], drawn["key"], drawn["weight"],
                                            strict=True)}
        assert got.keys() == reference.keys(), case
        assert np.allclose([got[e] for e in reference], list(reference.values()),
                           rtol=1e-4, atol=1e-6), case
        matched += 1
    assert matched == CASES
    assert any(answer["edges"][i]["query"] for i in range(CASES))  # not 90 empty drawings
