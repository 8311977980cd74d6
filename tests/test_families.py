"""Every family of the architecture table × every weight dtype, end to end.

Tiny random models of each family (a real tokenizer that splits text, random weights) are built
in temporary folders and loaded through the app's own :func:`explorer.model.load`. References are
independent of the app: the Hugging Face fill-mask pipeline and the plain Hugging Face model
called as a whole (``model(ids).logits``). Adding a family to ``explorer/architectures.py`` means
adding it to ``explorer.tiny.FAMILIES``; this matrix then covers it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from explorer.ablation import ablated_logits, attention_output_projection, predictions_without
from explorer.analysis import analyze
from explorer.architectures import ARCHITECTURES, NEURON_VIEW, architecture_for
from explorer.lens import logit_lens
from explorer.model import MODEL_ENV_VAR, Loaded, load
from explorer.neuron import NeuronViewUnsupported, neuron_view_model
from explorer.tiny import FAMILIES, build_tiny_family
from explorer.token_predictions import top_predictions_per_token
from tests.conftest import ROOT

DTYPES = ("float32", "float16", "bfloat16")
# Half precision: logits are rounded to ~3 significant digits before the float32 softmax.
RTOL = {"float32": 1e-5, "float16": 2e-2, "bfloat16": 5e-2}
ATOL = {"float32": 1e-5, "float16": 2e-3, "bfloat16": 2e-2}
TEXT = "The capital of France is <mask>, and the dog slept in the garden."
TWO_MASKS = "The <mask> sat on the <mask>."


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run faster on one thread than on two busy, shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


_BUILT: dict[tuple[str, str], Loaded] = {}


def _tiny_family(model_type: str, dtype: str, tmp_path_factory) -> tuple[str, str, Loaded]:
    """One tiny model per (family, dtype), built once for the module's two fixtures."""
    if (model_type, dtype) not in _BUILT:
        folder = build_tiny_family(tmp_path_factory.mktemp(f"{model_type}-{dtype}"), model_type,
                                   dtype=dtype)
        _BUILT[model_type, dtype] = load(str(folder))
    return model_type, dtype, _BUILT[model_type, dtype]


@pytest.fixture(scope="module", params=[(f, d) for f in FAMILIES for d in DTYPES],
                ids=lambda p: f"{p[0]}-{p[1]}")
def family(request, tmp_path_factory) -> tuple[str, str, Loaded]:
    """Every family in every weight dtype (the maths)."""
    return _tiny_family(*request.param, tmp_path_factory)


@pytest.fixture(scope="module", params=FAMILIES)
def float32_family(request, tmp_path_factory) -> tuple[str, str, Loaded]:
    """Every family in float32: the neuron view (bertviz copies weights into its own float32
    model) and the pages (checked once per family; the maths above covers every dtype)."""
    return _tiny_family(request.param, "float32", tmp_path_factory)


def full_model_logits(loaded: Loaded, token_ids: np.ndarray) -> torch.Tensor:
    """``logits[token, vocab]`` of the whole Hugging Face model (the reference)."""
    ids = torch.tensor(np.array(token_ids))[None, :]
    with torch.no_grad():
        return loaded.model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0].float()


def test_table_has_an_entry_per_family():
    assert {architecture_for(t).model_types[0] for t in FAMILIES} == \
        {a.model_types[0] for a in ARCHITECTURES}


def test_load(family):
    model_type, dtype, loaded = family
    info = loaded.info
    assert info.model_type == model_type and info.dtype == dtype and info.device == "cpu"
    assert info.family == architecture_for(model_type).family
    assert info.start_token == loaded.tokenizer.cls_token
    assert info.end_token == loaded.tokenizer.sep_token
    assert info.special_label == f"{info.start_token}, {info.end_token}"
    assert len(loaded.tokenizer.tokenize("The capital of France is Paris.")) >= 5
    projections = architecture_for(loaded.model).attention_outputs(loaded.model)
    assert len(projections) == info.num_layers


def test_analyze_equals_the_fill_mask_pipeline(family):
    from transformers import pipeline

    _, dtype, loaded = family
    info = loaded.info
    for text in (TEXT, TWO_MASKS):
        analysis = analyze(loaded, text, top_k=5)
        n = analysis.num_tokens
        assert analysis.attentions.shape == (info.num_layers, info.num_heads, n, n)
        assert analysis.attentions.dtype in (np.float32, np.float16)
        assert analysis.hidden_states.shape == (info.num_layers + 1, n, info.hidden_size)
        assert analysis.hidden_states.dtype == np.float32
        np.testing.assert_allclose(analysis.attentions.astype(np.float64).sum(-1), 1.0,
                                   atol=ATOL[dtype] * 2)
        expected = pipeline("fill-mask", model=loaded.model, tokenizer=loaded.tokenizer,
                            top_k=5)(analysis.text)
        if len(analysis.predictions) == 1:
            expected = [expected]
        assert len(analysis.predictions) == text.count("<mask>")
        for index, (ours, theirs) in enumerate(zip(analysis.predictions, expected)):
            np.testing.assert_allclose([p.score for p in ours.predictions],
                                       [t["score"] for t in theirs], rtol=RTOL[dtype])
            # tie-proof: our probability of each token the pipeline lists is its score
            np.testing.assert_allclose(
                analysis.mask_probabilities[index, [t["token"] for t in theirs]],
                [t["score"] for t in theirs], rtol=RTOL[dtype])
            if dtype == "float32":
                assert [(p.token_id, p.token_str, p.sequence) for p in ours.predictions] == \
                    [(t["token"], t["token_str"], t["sequence"]) for t in theirs]


def test_lens_last_layer_is_the_models_prediction(family):
    _, dtype, loaded = family
    analysis = analyze(loaded, TEXT)
    reference = full_model_logits(loaded, analysis.token_ids).log_softmax(-1)
    for position in (analysis.mask_positions[0], 1):
        lens = logit_lens(loaded, analysis, position, top_k=5)
        assert lens.log_probs.shape == (loaded.info.num_layers + 1, loaded.info.vocab_size)
        np.testing.assert_allclose(np.exp(lens.log_probs[-1]),
                                   reference[position].exp().numpy(), atol=ATOL[dtype])
        assert not np.allclose(lens.log_probs[0], lens.log_probs[-1])


def test_ablating_no_head_changes_nothing_and_one_head_removes_its_term(family):
    _, dtype, loaded = family
    analysis = analyze(loaded, TEXT, top_k=5)
    reference = full_model_logits(loaded, analysis.token_ids)
    np.testing.assert_allclose(ablated_logits(loaded, analysis.token_ids, []).numpy(),
                               reference.numpy(), atol=ATOL[dtype] * 10, rtol=RTOL[dtype])
    assert predictions_without(loaded, analysis, [], top_k=5) == analysis.predictions

    layer, head = 0, 1
    projection = attention_output_projection(loaded.model, layer)
    head_size = loaded.info.hidden_size // loaded.info.num_heads
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    handle = projection.register_forward_hook(
        lambda module, args, output: seen.append((args[0].float(), output.float())))
    try:
        ablated_logits(loaded, analysis.token_ids, [])
        ablated_logits(loaded, analysis.token_ids, [(layer, head)])
    finally:
        handle.remove()
    runs = len(seen) // 2  # ALBERT's shared projection runs once per layer
    (context, plain), (_, ablated) = seen[0], seen[runs]
    part = slice(head * head_size, (head + 1) * head_size)
    with torch.no_grad():  # textbook: the head's term W_h · context_h
        term = context[..., part].clone() @ projection.weight.float()[:, part].T
    np.testing.assert_allclose((plain - ablated).numpy(), term.numpy(),
                               atol=ATOL[dtype] * 5 + 1e-6)
    assert term.abs().max() > 0


def test_token_tooltips_equal_the_models_softmax(family):
    _, dtype, loaded = family
    analysis = analyze(loaded, TEXT)
    rows = top_predictions_per_token(loaded, analysis, top_k=3)
    assert len(rows) == analysis.num_tokens and all(len(row) == 3 for row in rows)
    probabilities = full_model_logits(loaded, analysis.token_ids).softmax(-1)
    top = probabilities.topk(3, dim=-1).values.numpy()
    np.testing.assert_allclose([[p for _, p in row] for row in rows], top, rtol=RTOL[dtype],
                               atol=1e-6)


def test_neuron_view_where_bertviz_has_the_family(float32_family):
    model_type, _dtype, loaded = float32_family
    architecture = architecture_for(model_type)
    if architecture.neuron_view_type is None:
        assert loaded.info.why_not(NEURON_VIEW)
        with pytest.raises(NeuronViewUnsupported, match="BERT and RoBERTa only"):
            neuron_view_model(loaded)
    else:
        _model, bertviz_type = neuron_view_model(loaded)
        assert bertviz_type == architecture.neuron_view_type and not loaded.info.why_not(
            NEURON_VIEW)


@pytest.mark.parametrize("page", ["app.py", "pages/layers.py", "pages/compare.py"])
def test_pages_run_without_errors(float32_family, page, monkeypatch):
    _model_type, _dtype, loaded = float32_family
    monkeypatch.setenv(MODEL_ENV_VAR, loaded.info.name)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    if page != "app.py":
        at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    if page == "app.py":  # the attention view's "Hide …" names this model's special tokens
        from explorer.graph import read_graph_file
        from ui.cache import analysis_cache, held_in_budget

        files = [held_in_budget(key) for key in analysis_cache().held_keys()
                 if key.kind == "graph_file" and key.models == (loaded.info.fingerprint,)]
        assert files, "the Explorer page built no attention-view file"
        header, _pack = read_graph_file(files[-1][0])
        tokenizer = loaded.tokenizer
        start = tokenizer.cls_token or tokenizer.bos_token
        end = tokenizer.sep_token or tokenizer.eos_token
        assert header["special_label"] == f"{start}, {end}", header["special_label"]
        for view in ("head view", "model view"):  # bertviz's views of any family's attentions
            at.button_group(key="bertviz_view").set_value(view).run()
            assert not at.exception and not at.error, (view, at.exception)
            frames = [f.proto.srcdoc for f in at.get("iframe")]
            assert any("head_view" in f or "model_view" in f or "bertviz" in f.lower()
                       for f in frames), view


CORPUS_LINES = ("The dog slept in the garden.", "A cat sat on the mat by the door.",
                "The capital of France is Paris.", "We walked to the river bank at dawn.")


def test_corpus_encode_and_search(family):
    """The query's own token, indexed in the corpus, comes back first, by the score an
    independent reference gives: the plain model's last hidden states, one sentence at a time,
    compared by cosine similarity with numpy. Head outputs are indexed for every family too."""
    from explorer.corpus import Corpus, IndexSettings, build_index, encode_query, search

    _, dtype, loaded = family
    corpus = Corpus(name="four lines", sentences=CORPUS_LINES)
    index = build_index(loaded, corpus, IndexSettings(storage="flat", heads=True))
    query_text = CORPUS_LINES[3]
    query = encode_query(loaded, query_text)
    token = len(query.labels) // 2  # a word piece in the middle of the sentence
    top_layer = loaded.info.num_layers
    matches = search(index, query, token, top_layer, k=3)
    special = set(loaded.tokenizer.all_special_ids)
    reference = []  # (score, sentence, position) of every indexed token, from the plain model
    ids = torch.tensor(loaded.tokenizer(query_text)["input_ids"])[None, :]
    with torch.no_grad():
        wanted = loaded.model.base_model(input_ids=ids, output_hidden_states=True
                                         ).hidden_states[-1][0, token].float().numpy()
    for sentence_id, line in enumerate(CORPUS_LINES):
        ids = torch.tensor(loaded.tokenizer(line)["input_ids"])[None, :]
        with torch.no_grad():
            hidden = loaded.model.base_model(input_ids=ids, output_hidden_states=True
                                             ).hidden_states[-1][0].float().numpy()
        for position, token_id in enumerate(ids[0].tolist()):
            if token_id in special:
                continue
            vector = hidden[position]
            score = float(vector @ wanted / (np.linalg.norm(vector) * np.linalg.norm(wanted)))
            reference.append((score, sentence_id, position))
    best = max(reference)
    assert (matches[0].sentence_id, matches[0].position) == (3, token)
    assert matches[0].score == pytest.approx(best[0], abs=ATOL[dtype] * 10 + 1e-4)
    by_heads = search(index, query, token, top_layer, mode="heads",
                      heads=list(range(loaded.info.num_heads)), k=1)
    assert (by_heads[0].sentence_id, by_heads[0].position) == (3, token)


def test_attribution_in_every_family_and_dtype(family):
    """Gradients on float16/bfloat16 weights: the path is integrated in float32, the model
    runs in its dtype. f(x) is the plain model's log-probability; integrated gradients keep
    completeness within the dtype's rounding."""
    from explorer.attribution import attribute

    _, dtype, loaded = family
    analysis = analyze(loaded, TEXT, top_k=5)
    position = analysis.mask_positions[0]
    reference = full_model_logits(loaded, analysis.token_ids).log_softmax(-1)[position]
    target = analysis.predictions[0].predictions[0].token_id
    tolerance = {"float32": 1e-4, "float16": 2e-2, "bfloat16": 1e-1}[dtype]
    for method in ("gradient_x_input", "integrated_gradients"):
        result = attribute(loaded, position=position, target_id=target, method=method,
                           steps=16, **analysis.model_inputs())
        assert result.scores.dtype == np.float32
        assert result.scores.shape == (analysis.num_tokens,)
        assert np.isfinite(result.scores).all() and np.abs(result.scores).max() > 0
        assert result.value == pytest.approx(float(reference[target]), abs=tolerance)
    gap = abs(result.completeness_gap)
    assert abs(result.completeness_error) <= 0.05 * gap + 5 * tolerance, (dtype, result)


def test_attribution_reads_the_vocabulary_of_non_legacy_deberta(tmp_path):
    """Non-legacy DeBERTa-v2/v3: ``get_output_embeddings()`` is a hidden × hidden map, so the
    vocabulary size must come from the architecture table; every top-5 candidate (and the last
    token id) is attributable, with f(x) the plain model's log-probability."""
    import transformers as tf

    from explorer.attribution import attribute
    from explorer.tiny import build_family_tokenizer

    build_family_tokenizer(tmp_path, "deberta-v2")
    tokenizer = tf.AutoTokenizer.from_pretrained(tmp_path)
    torch.manual_seed(0)
    config = tf.DebertaV2Config(
        vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, hidden_size=32,
        num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=64, relative_attention=True, pos_att_type=["p2c", "c2p"],
        position_buckets=16, max_relative_positions=-1, norm_rel_ebd="layer_norm",
        share_att_key=True, position_biased_input=False, type_vocab_size=0, legacy=False)
    tf.DebertaV2ForMaskedLM(config).save_pretrained(tmp_path, safe_serialization=True)
    loaded = load(str(tmp_path))
    assert not loaded.model.legacy
    assert loaded.model.get_output_embeddings().weight.shape[0] < len(tokenizer)
    analysis = analyze(loaded, TEXT, top_k=5)
    position = analysis.mask_positions[0]
    reference = full_model_logits(loaded, analysis.token_ids).log_softmax(-1)[position]
    candidates = [p.token_id for p in analysis.predictions[0].predictions] + [len(tokenizer) - 1]
    for target in candidates:
        result = attribute(loaded, position=position, target_id=target,
                           method="gradient_x_input", **analysis.model_inputs())
        assert result.value == pytest.approx(float(reference[target]), abs=1e-4)
