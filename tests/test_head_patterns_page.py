"""The Head patterns page (corpus-wide head statistics, Clark et al. 2019) under AppTest with
the tiny RoBERTa: the statistics it draws equal a plain computation on three sentences written
here with loops, its colour scales are fixed, the map names heads 1-based, and a second
computation is read from the disk cache without any forward pass."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon
from streamlit.testing.v1 import AppTest

from explorer.corpus import CACHE_ENV_VAR, cache_entries, evict, read_corpus
from explorer.corpus.head_cache import patterns_folder, patterns_or_compute
from explorer.head_patterns import head_map
from explorer.model import MODEL_ENV_VAR, Loaded, load
from tests.forward_counter import count_forwards
from tests.model_folders import build_headless_bert
from tests.test_app_pages import APP, messages
from tests.test_compare_page import array
from tests.test_corpus_page import as_html, as_text
from tests.test_head_patterns import add_row
from ui.cache import _load_model, analysis_cache

PAGE = "pages/head_patterns.py"
SENTENCES = (
    "The capital of France is Paris, and the capital of Italy is Rome.",
    "Hello world!",
    "A cat sat on the mat while the dog slept in the garden.",
)
FILE = ("three.txt", ("\n".join(SENTENCES) + "\n").encode())
SHARES = ("to_start", "to_end", "to_punctuation", "to_self", "to_previous", "to_next")
TITLES = {  # as the tiny RoBERTa names its special tokens, escaped for plotly
    "to_start": "to &lt;s&gt;", "to_end": "to &lt;/s&gt;", "to_punctuation": "to punctuation",
    "to_self": "to self", "to_previous": "to previous token", "to_next": "to next token",
    "entropy": "entropy (bits)",
}


def direct_statistics(loaded: Loaded, sentences: Sequence[str]
                      ) -> tuple[dict[str, np.ndarray], np.ndarray, list[int]]:
    """Every statistic summed plainly over each query token of each sentence, from the model's
    own attentions (one forward pass per sentence); the JS divergence of every pair of heads
    by scipy; each sentence's token count. The start token is the first, the end token the last."""
    tokenizer = loaded.tokenizer
    layers, heads = loaded.info.num_layers, loaded.info.num_heads
    sums = {name: np.zeros((layers, heads)) for name in (*SHARES, "entropy")}
    divergence = np.zeros((layers * heads, layers * heads))
    queries = pairs = 0
    lengths = []
    for sentence in sentences:
        ids = tokenizer(sentence)["input_ids"]
        with torch.no_grad():
            output = loaded.model(input_ids=torch.tensor([ids]), output_attentions=True)
        attention = np.stack([a[0].double().numpy() for a in output.attentions])
        texts = [tokenizer.decode([i]).strip() for i in ids]
        n = len(ids)
        lengths.append(n)
        queries += n
        pairs += n - 1
        for layer in range(layers):
            for head in range(heads):
                for q in range(n):
                    add_row(sums, layer, head, q, attention[layer, head, q], texts)
        flat = attention.reshape(layers * heads, n, n)
        for a in range(layers * heads):
            for b in range(layers * heads):
                divergence[a, b] += sum(jensenshannon(flat[a, q], flat[b, q], base=2) ** 2
                                        for q in range(n))
    averages = {name: value / (pairs if name in ("to_previous", "to_next") else queries)
                for name, value in sums.items()}
    return averages, divergence / queries, lengths


def figures(at: AppTest) -> dict[str, dict]:
    shown = {}
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        shown[spec["layout"].get("title", {}).get("text", "")] = spec
    return shown


def grid(shown: dict[str, dict], name: str) -> dict:
    return shown[TITLES[name]]["data"][0]


def open_page() -> AppTest:
    """The page opened directly (no Explorer analysis runs first)."""
    at = AppTest.from_file(APP, default_timeout=180)
    return at.switch_page(PAGE).run()


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.radio(key="patterns_source").set_value("upload").run()
    return at.get("file_uploader")[0].set_value((name, data, "text/plain")).run()


@pytest.fixture(scope="module")
def env(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The app on the tiny model, caching in a fresh folder (for this module's tests)."""
    cache = tmp_path_factory.mktemp("patterns-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(MODEL_ENV_VAR, str(tiny_model_dir))
        patch.setenv(CACHE_ENV_VAR, str(cache))
        analysis_cache.clear()
        yield cache
    analysis_cache.clear()


@pytest.fixture(scope="module")
def computed(env: Path, tiny_model_dir: Path):
    """The page after uploading the three sentences and clicking "Compute", and the forward
    passes counted before and during the click."""
    at = open_page()
    loaded = _load_model(str(tiny_model_dir))  # the object the app's runs use
    with count_forwards(loaded) as before:
        at = upload(at, *FILE)
    assert not at.exception, at.exception
    assert "has no head statistics for this model yet" in messages(at)
    with count_forwards(loaded) as during:
        at.button(key="patterns_compute").click().run()
    assert not at.exception, at.exception
    return at, before, during


@pytest.fixture(scope="module")
def direct(tiny_model_dir: Path):
    return direct_statistics(load(str(tiny_model_dir)), SENTENCES)


def test_statistics_equal_a_direct_computation_on_three_sentences(computed, direct):
    at, before, during = computed
    expected, _, lengths = direct
    assert not before.any  # nothing runs before the click
    assert during.encoder >= 1
    shown = figures(at)
    for name, values in expected.items():
        drawn = grid(shown, name)
        np.testing.assert_allclose(array(drawn["z"]), values, atol=1e-5, err_msg=name)
        assert array(drawn["x"]).tolist() == [1, 2, 3, 4]  # heads and layers from 1
        assert array(drawn["y"]).tolist() == [1, 2]
    assert np.all(expected["to_punctuation"] > 0)  # the punctuation was there to be found
    assert any(f"3 lines, {sum(lengths)} tokens" in c.value for c in at.caption)


def test_colour_scales_are_fixed_and_labelled(computed, direct):
    at, _, _ = computed
    _, _, lengths = direct
    shown = figures(at)
    for name in SHARES:
        drawn = grid(shown, name)
        assert (drawn["zmin"], drawn["zmax"], drawn["zauto"]) == (0.0, 1.0, False), name
        assert "(0–1)" in drawn["colorbar"]["title"]["text"]
        values = array(drawn["z"])
        assert values.max() < 1.0  # a raw share, not stretched to the top of the scale
    entropy = grid(shown, "entropy")
    # n = the mean sentence length, each sentence weighted by its tokens as the statistics are
    n = sum(length * length for length in lengths) / sum(lengths)
    limit = math.log2(n)
    assert np.all(array(entropy["z"]) <= limit)
    assert entropy["zmin"] == 0.0 and entropy["zmax"] == pytest.approx(limit, abs=1e-12)
    assert f"(0–{limit:.3g} bits)" in entropy["colorbar"]["title"]["text"]
    assert "%{z:.4f}" in entropy["hovertemplate"]  # the raw value in the tooltip
    assert "layer %{y} head %{x}" in entropy["hovertemplate"]
    assert any(f"0–{limit:.2f} bits" in c.value for c in at.caption)


def test_map_of_heads_by_jensen_shannon_distance(computed, direct):
    at, _, _ = computed
    expected, divergence, _ = direct
    (spec,) = [s for title, s in figures(at).items() if title.startswith("Heads by Jensen–Shannon")]
    traces = spec["data"]
    assert [t["name"] for t in traces] == ["layer 1", "layer 2"]
    assert len({json.dumps(t["marker"]["color"]) for t in traces}) == 2  # one colour per layer
    names = [text.split("<br>")[0] for t in traces for text in t["text"]]
    assert names == [f"layer {layer} head {head}" for layer in (1, 2) for head in (1, 2, 3, 4)]
    first = traces[0]["text"][1]  # layer 1 head 2
    assert f"to self: {expected['to_self'][0, 1]:.3f}" in first
    xy = np.concatenate([np.stack([array(t["x"]), array(t["y"])], axis=1) for t in traces])
    drawn = ((xy[:, None] - xy[None]) ** 2).sum(axis=-1)
    reference = head_map(divergence)  # classical MDS (tested on its own) of scipy's JS
    wanted = ((reference[:, None] - reference[None]) ** 2).sum(axis=-1)
    np.testing.assert_allclose(drawn, wanted, atol=1e-6)


def test_second_computation_reads_the_disk_cache(computed, env, tiny_model_dir):
    at, _, _ = computed
    loaded = _load_model(str(tiny_model_dir))
    folder = patterns_folder(loaded, read_corpus(FILE[1], name=FILE[0]), env)
    assert folder in [entry for entry, _, _ in cache_entries(env)]  # an entry like an index's
    assert (folder / "patterns.npz").is_file()
    analysis_cache.clear()  # a restarted server: nothing in memory
    fresh = open_page()
    with count_forwards(loaded) as again:
        fresh = upload(fresh, *FILE)
    assert not fresh.exception, fresh.exception
    assert not again.any, again
    assert "has no head statistics" not in messages(fresh)
    assert any("loaded from the disk cache" in c.value for c in fresh.caption)
    np.testing.assert_array_equal(array(grid(figures(fresh), "entropy")["z"]),
                                  array(grid(figures(at), "entropy")["z"]))


def test_disk_entry_counts_against_the_cache_size(tiny, tmp_path):
    corpus = read_corpus(FILE[1], name="three.txt")
    with count_forwards(tiny) as first:
        computed = patterns_or_compute(tiny, corpus, root=tmp_path)
    with count_forwards(tiny) as second:
        cached = patterns_or_compute(tiny, corpus, root=tmp_path)
    assert first.encoder >= 1 and not second.any
    assert not computed.from_cache and cached.from_cache
    np.testing.assert_array_equal(cached.patterns.divergence, computed.patterns.divergence)
    folder = patterns_folder(tiny, corpus, tmp_path)
    ((listed, size, _),) = cache_entries(tmp_path)
    assert listed == folder and size == sum(f.stat().st_size for f in folder.iterdir()) > 0
    assert evict(tmp_path, max_bytes=size - 1) == [folder]  # the size bound removes it


def test_upload_limits_and_hostile_names(env, monkeypatch):
    monkeypatch.setenv("EXPLORER_CORPUS_MAX_TOKENS", "12")
    at = open_page()
    assert not at.exception, at.exception
    assert any("5,000 lines and 12 tokens" in c.value for c in at.caption)
    assert "has no head statistics for this model yet" in messages(at)  # the bundled corpus
    at = upload(at, "bad.txt", "ok\n\u00e9t\u00e9".encode("latin-1"))
    assert not at.exception and "not UTF-8 text: line 2" in messages(at)
    at = upload(at, "long.txt", b"We sat on the bank of the river.\n" * 3)  # ~3 x 10 tokens
    assert not at.exception
    assert "the head statistics read at most 12 tokens" in messages(at)
    assert not [b for b in at.button if b.key == "patterns_compute"]
    at = upload(at, "[x](http://127.0.0.1:1/a).txt", b"Hi.")
    (offer,) = [m.value for m in at.info if "has no head statistics" in m.value]
    assert "<a " not in as_html(offer)  # the file name is shown as text, not as a link
    assert "[x](http://127.0.0.1:1/a).txt" in as_text(offer)


def test_a_model_without_a_masked_lm_head(tmp_path, monkeypatch, env):
    folder = build_headless_bert(tmp_path / "encoder")
    monkeypatch.setenv(MODEL_ENV_VAR, str(folder))
    loaded = load(str(folder))
    assert loaded.info.has_lm_head is False
    sentences = ("the cat sat on the mat.", "a dog, a cat.")
    at = upload(open_page(), "pair.txt", "\n".join(sentences).encode())
    at.button(key="patterns_compute").click().run()
    assert not at.exception, at.exception
    expected, _, _ = direct_statistics(loaded, sentences)  # [CLS] first, [SEP] last
    shown = figures(at)
    to_cls = shown["to [CLS]"]["data"][0]
    np.testing.assert_allclose(array(to_cls["z"]), expected["to_start"], atol=1e-5)
    to_sep = shown["to [SEP]"]["data"][0]
    np.testing.assert_allclose(array(to_sep["z"]), expected["to_end"], atol=1e-5)
    punctuation = shown["to punctuation"]["data"][0]
    np.testing.assert_allclose(array(punctuation["z"]), expected["to_punctuation"], atol=1e-5)



def test_an_encoder_only_checkpoint_hits_the_disk_cache_after_a_reload(tmp_path):
    """transformers draws the missing masked-LM head at random on every load; the weights'
    fingerprint leaves it out, so a restarted server finds the statistics on disk."""
    folder = build_headless_bert(tmp_path / "encoder")
    first, second = load(str(folder)), load(str(folder))
    assert not first.info.has_lm_head
    assert first.info.fingerprint == second.info.fingerprint
    corpus = read_corpus(b"the cat sat on the mat.\n", name="one.txt")
    computed = patterns_or_compute(first, corpus, root=tmp_path / "cache")
    again = patterns_or_compute(second, corpus, root=tmp_path / "cache")
    assert not computed.from_cache and again.from_cache
    # a real change of the encoder's weights still gives a new fingerprint
    changed = build_headless_bert(tmp_path / "other", seed=1)
    assert load(str(changed)).info.fingerprint != first.info.fingerprint


def test_grids_label_every_head_and_keep_the_labels_level():
    from components.head_pattern_charts import head_ticks, statistic_grid

    assert head_ticks(4) == [1, 2, 3, 4]
    assert head_ticks(12) == list(range(1, 13))
    for heads in (12, 32):
        figure = statistic_grid(np.zeros((6, heads)), "to <s>", "share", 0.0, 1.0)
        assert list(figure.layout.xaxis.tickvals) == list(range(1, heads + 1))
        assert figure.layout.xaxis.tickangle == 0 and figure.layout.title.text == "to &lt;s&gt;"
    # a 32-head grid two per row at 1024 px (about 400 px of plot): a label fits its cell
    assert figure.layout.xaxis.tickfont.size * 0.6 * 2 <= 400 / 32
