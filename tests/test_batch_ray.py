"""Batch jobs on a local Ray instance (ray.init(num_cpus=2)) against the single-machine path:
the same head statistics and the same search results (explorer.batch, explorer.corpus.large)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from explorer.batch import batch_head_patterns
from explorer.corpus import encode_query, read_corpus, search
from explorer.corpus.large import build_corpus_index, open_index

ray = pytest.importorskip("ray", reason="install requirements-dev.txt (ray[data])")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM":
                                       "false", "HF_HUB_OFFLINE": "1"}})
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus():
    lines = (ROOT / "data" / "corpus.txt").read_text(encoding="utf-8").splitlines()[:60]
    return read_corpus("\n".join(lines).encode("utf-8"), name="first lines")


def test_head_statistics_on_ray_equal_the_single_machine_path(local_ray, tiny,
                                                              tiny_model_dir, corpus, tmp_path):
    plain, plain_cut = batch_head_patterns(tiny, corpus.sentences, tmp_path / "plain",
                                           shard_lines=20)
    on_ray, ray_cut = batch_head_patterns(tiny, corpus.sentences, tmp_path / "ray",
                                          shard_lines=20, ray_address="local",
                                          model_name=str(tiny_model_dir))
    assert ray.is_initialized()  # it used the instance given, and left it running
    assert (on_ray.sentences, on_ray.tokens, ray_cut) == (plain.sentences, plain.tokens,
                                                          plain_cut)
    assert plain.sentences == 60 and plain.tokens > 60
    assert on_ray.csv() == plain.csv()
    for name, values in plain.statistics().items():
        np.testing.assert_allclose(getattr(on_ray, name), values, rtol=1e-6, err_msg=name)
    np.testing.assert_allclose(on_ray.divergence, plain.divergence, rtol=1e-6, atol=1e-12)


def test_an_index_encoded_on_ray_searches_like_the_single_machine_one(local_ray, tiny,
                                                                      tiny_model_dir, corpus,
                                                                      tmp_path):
    plain = build_corpus_index(tiny, corpus, tmp_path / "plain", shard_lines=15)
    on_ray = build_corpus_index(tiny, corpus, tmp_path / "ray", shard_lines=15,
                                ray_address="local", model_name=str(tiny_model_dir))
    assert (on_ray.tokens, on_ray.shards) == (plain.tokens, plain.shards) == (plain.tokens, 4)
    for name in ("rows.npy", "sentences.txt", "pieces.txt"):
        assert (on_ray.folder / name).read_bytes() == (plain.folder / name).read_bytes()
    a, b = open_index(plain.folder, tiny), open_index(on_ray.folder, tiny)
    query = encode_query(tiny, "The river bank was muddy after the storm.")
    for mode, layer, heads in [("embedding", 2, None), ("heads", 1, [1, 3])]:
        for token in (1, 3):
            got = search(b, query, token, layer, mode, heads, k=8)
            expected = search(a, query, token, layer, mode, heads, k=8)
            assert [(m.sentence_id, m.position) for m in got] == \
                [(m.sentence_id, m.position) for m in expected]
            np.testing.assert_allclose([m.score for m in got], [m.score for m in expected],
                                       atol=1e-3)
