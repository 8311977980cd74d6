"""The attention graph's two switches, as the file the browser gets carries them, on a tiny
byte-level BPE RoBERTa and a tiny WordPiece BERT:

- "weights × value norm" (Kobayashi et al. 2020): the norms and row totals in the file, and the
  shares the browser draws from them, equal ‖α_ij f_h(x_j)‖ / Σ_k ‖α_ik f_h(x_k)‖ recomputed here
  from the model's OWN value projection (its ``value`` Linear's output captured with a forward
  hook during a real forward) and output projection weights;
- "words, not pieces" (Clark et al. 2019): the file's word map is the tokenizer's grouping, and
  the merged rows the browser draws still sum to 1.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.analysis import analyze
from explorer.attribution import value_vector_norms, value_weighted_attention
from explorer.graph import (
    PACK_MAX_KEYS,
    WEIGHT_LEVELS,
    WordMap,
    combine_heads,
    graph_file,
    packed_value_shares,
    prune_edges,
    read_graph_file,
    read_value_norms,
    value_norm_shares,
)
from explorer.model import load
from explorer.tiny import build_tiny_bert_model
from explorer.word_level import words_of
from explorer.words import merge_attention

ROBERTA_TEXT = "The capital of France is <mask>, unbelievably Paris."
BERT_TEXT = "The capital of France is [MASK], unbelievably Paris."


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return load(str(build_tiny_bert_model(tmp_path_factory.mktemp("bert-graph"))))


@pytest.fixture(scope="module", params=["roberta-bpe", "bert-wordpiece"])
def case(request, tiny, bert):
    loaded, text = (tiny, ROBERTA_TEXT) if request.param == "roberta-bpe" else (bert, BERT_TEXT)
    analysis = analyze(loaded, text)
    words = words_of(loaded.tokenizer, analysis)
    blob = graph_file(
        analysis.attentions, analysis.labels, analysis.special_mask, analysis.mask_positions,
        value_norms=value_vector_norms(loaded, analysis.hidden_states),
        words=WordMap(words.word_of_token, words.labels, words.special))
    return request.param, loaded, analysis, words, blob


def _from_the_models_own_projections(loaded, token_ids) -> tuple[np.ndarray, np.ndarray]:
    """``norms[layer, head, key]`` = ‖f_h(x_key)‖ and ``shares[layer, head, query, key]`` from a
    real forward: each layer's value Linear output (hooked), its attention output projection's
    weight, and the attention weights."""
    model = loaded.model
    values_of: dict[str, torch.Tensor] = {}
    handles = []
    value_names, output_names = [], []
    for name, module in model.named_modules():
        if name.endswith("attention.self.value"):
            value_names.append(name)
            handles.append(module.register_forward_hook(
                lambda _m, _i, out, name=name: values_of.__setitem__(name, out[0].detach())))
        elif name.endswith("attention.output.dense"):
            output_names.append(name)
    modules = dict(model.named_modules())
    try:
        with torch.no_grad():
            output = model(input_ids=torch.tensor(np.asarray(token_ids))[None],
                           output_attentions=True)
    finally:
        for handle in handles:
            handle.remove()
    assert len(value_names) == len(output_names) == loaded.info.num_layers
    heads = loaded.info.num_heads
    result, norms = [], []
    for layer, (value_name, output_name) in enumerate(zip(value_names, output_names)):
        values = values_of[value_name].numpy().astype(np.float64)  # [key, heads * size]
        w_o = modules[output_name].weight.detach().numpy().astype(np.float64)  # [dim, heads*size]
        alpha = output.attentions[layer][0].numpy().astype(np.float64)  # [head, query, key]
        size = values.shape[1] // heads
        per_head, layer_norms = [], []
        for h in range(heads):
            part = slice(h * size, (h + 1) * size)
            moved_norm = np.linalg.norm(values[:, part] @ w_o[:, part].T, axis=1)  # ‖f_h(x_j)‖
            weighted = alpha[h] * moved_norm[None, :]  # ‖α_ij f_h(x_j)‖, α ≥ 0
            per_head.append(weighted / weighted.sum(axis=1, keepdims=True))
            layer_norms.append(moved_norm)
        result.append(per_head)
        norms.append(layer_norms)
    return np.array(norms), np.array(result)


def test_value_norms_in_the_file_equal_the_models_own_value_projection(case):
    _, loaded, analysis, _, blob = case
    norms, reference = _from_the_models_own_projections(loaded, analysis.token_ids)
    np.testing.assert_allclose(reference.sum(axis=-1), 1.0, atol=1e-9)
    file_norms, totals = read_value_norms(blob)
    np.testing.assert_allclose(file_norms, norms, rtol=1e-4, atol=1e-6)
    # the full shares (explorer.graph.value_norm_shares of value_weighted_attention) ...
    full = value_norm_shares(value_weighted_attention(loaded, analysis.attentions,
                                                      analysis.hidden_states))
    np.testing.assert_allclose(full, reference, atol=1e-5)
    # ... and what the browser draws: every packed weight's share of its row's total
    _, pack = read_graph_file(blob)
    shown = packed_value_shares(pack, file_norms, totals)
    kept = pack.dense() > 0
    assert kept.any() and not shown[~kept].any()
    # error: the weight's quantisation (1/65535 × ‖f(x_k)‖ / total) and float32 rounding
    tolerance = (file_norms[:, :, None, :] / totals[..., None]) / WEIGHT_LEVELS + 2e-5
    assert (np.abs(shown - reference) <= tolerance)[kept].all()
    # and the mode draws something else than the weights: a real switch
    assert not np.allclose(shown, pack.dense(), atol=1e-3)


def test_value_norm_rows_are_shares_and_the_graph_prunes_them_like_weights(case):
    _, _, analysis, _, blob = case
    _, pack = read_graph_file(blob)
    shares = packed_value_shares(pack, *read_value_norms(blob))
    assert (shares.sum(axis=-1) <= 1.0 + 1e-4).all()
    if analysis.num_tokens <= PACK_MAX_KEYS:  # no key cut by the cap: 99 % of α is kept
        assert (shares.sum(axis=-1) >= 0.9).all()
    combined = combine_heads(shares, 1, range(analysis.num_heads), "mean")
    assert len(prune_edges(combined, 0.7)) > 0
    header, _ = read_graph_file(blob)
    assert header["value_note"] == ""
    assert all(offset % 4 == 0 for offset in [*header["offsets"], *header["value"]["offsets"]])


def test_value_norm_shares_of_a_row_without_mass_stay_zero():
    weighted = np.array([[[[0.0, 0.0], [1.0, 3.0]]]], dtype=np.float32)
    np.testing.assert_array_equal(value_norm_shares(weighted),
                                  [[[[0.0, 0.0], [0.25, 0.75]]]])


def test_a_file_without_value_pack_says_why(tiny):
    analysis = analyze(tiny, ROBERTA_TEXT)
    blob = graph_file(analysis.attentions, analysis.labels, analysis.special_mask,
                      analysis.mask_positions, value_note="no value projection")
    header, _ = read_graph_file(blob)
    assert header["value"] is None and header["value_note"] == "no value projection"
    assert read_value_norms(blob) is None and header["words"] is None
    with pytest.raises(ValueError):
        graph_file(analysis.attentions, analysis.labels, analysis.special_mask, (),
                   value_norms=analysis.attentions[:, :, 0, :-1])  # a key short


def test_word_map_in_the_file_and_merged_rows_sum_to_one(case):
    _, _, analysis, words, blob = case
    header, pack = read_graph_file(blob)
    assert header["words"]["of_token"] == words.word_of_token.tolist()
    assert header["words"]["labels"] == list(words.labels)
    assert "unbelievably" in header["words"]["labels"]  # several pieces, one word label
    assert words.num_words < analysis.num_tokens
    assert header["words"]["special"] == [int(s) for s in words.special]
    # merged rows of the full attention sum to 1 (Clark et al. 2019) ...
    np.testing.assert_allclose(merge_attention(analysis.attentions, words).sum(axis=-1), 1.0,
                               atol=1e-5)
    # ... and the browser merges the packed rows (each holds 99 % of its row, or its 16
    # strongest keys) without losing or adding mass: a word's row holds the mean of its
    # pieces' row masses, for the weights and for the value-norm shares alike
    for dense in (pack.dense(), packed_value_shares(pack, *read_value_norms(blob))):
        merged = merge_attention(dense, words)
        assert merged.shape == (*analysis.attentions.shape[:2], words.num_words,
                                words.num_words)
        piece_mass = dense.sum(axis=-1)
        word_mass = np.stack([piece_mass[..., words.pieces(w)].mean(axis=-1)
                              for w in range(words.num_words)], axis=-1)
        np.testing.assert_allclose(merged.sum(axis=-1), word_mass, atol=1e-6)
        assert (merged.sum(axis=-1) <= 1.0 + 1e-4).all()


def test_payload_stays_bounded(case):
    """The switches add 8 bytes per attention row (a value norm and a row total) to the
    weights pack's own bound: counts (2 bytes a row) plus at most 16 keys of 4 bytes a row."""
    _, _, analysis, _, blob = case
    header, _ = read_graph_file(blob)
    rows = int(np.prod(analysis.attentions.shape[:3]))
    header_bytes = header["offsets"][0]
    assert len(blob) - header_bytes <= rows * (2 + PACK_MAX_KEYS * 4 + 8) + 8
    assert header["value"]["offsets"][1] - header["value"]["offsets"][0] == rows * 4
