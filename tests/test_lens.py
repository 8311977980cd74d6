"""Logit lens on the tiny model: the last layer is the model's own prediction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.analysis import analyze
from explorer.lens import LensError, lm_head, logit_lens


@pytest.mark.parametrize("text", ["The man worked as a <mask>.", "<mask> sat on the <mask>."])
def test_last_layer_equals_the_models_top_k(tiny, text):
    analysis = analyze(tiny, text, top_k=10)
    for mask in analysis.predictions:
        lens = logit_lens(tiny, analysis, mask.position, top_k=10)
        assert lens.top_ids.shape == (tiny.info.num_layers + 1, 10)
        assert lens.top_ids[-1].tolist() == [p.token_id for p in mask.predictions]
        assert list(lens.top_tokens[-1]) == [p.token_str for p in mask.predictions]
        np.testing.assert_allclose(lens.top_probs[-1], [p.score for p in mask.predictions],
                                   rtol=1e-5)


def textbook_roberta_head(model, hidden: torch.Tensor) -> torch.Tensor:
    """RoBERTa's masked-LM head written out from its weights (Liu et al. 2019 / BERT's
    transform): decoder(layer_norm(gelu(dense(h))))."""
    import torch.nn.functional as F

    head = model.lm_head
    x = F.gelu(F.linear(hidden, head.dense.weight, head.dense.bias))
    x = F.layer_norm(x, (x.shape[-1],), head.layer_norm.weight, head.layer_norm.bias,
                     eps=head.layer_norm.eps)
    return F.linear(x, head.decoder.weight, head.decoder.bias)


def test_every_layer_is_the_head_applied_to_that_layers_hidden_state(tiny):
    analysis = analyze(tiny, "A cat sat on the <mask>.")
    position = 3  # any token, not only masks
    lens = logit_lens(tiny, analysis, position, top_k=5)
    with torch.no_grad():
        logits = tiny.model(torch.tensor([analysis.token_ids.tolist()])).logits[0, position]
        expected = textbook_roberta_head(
            tiny.model, torch.from_numpy(np.array(analysis.hidden_states[:, position])))
    np.testing.assert_allclose(lens.log_probs[-1], logits.log_softmax(-1).numpy(), atol=1e-5)
    np.testing.assert_allclose(lens.log_probs, expected.log_softmax(-1).numpy(), atol=1e-5)
    # layers differ from each other: the lens really reads each layer
    assert not np.allclose(lens.log_probs[0], lens.log_probs[-1])
    np.testing.assert_allclose(np.exp(lens.log_probs).sum(axis=-1), 1.0, atol=1e-4)


def test_rank_and_probability_of_a_target(tiny):
    analysis = analyze(tiny, "The capital of France is <mask>.")
    lens = logit_lens(tiny, analysis, analysis.mask_positions[0], top_k=5)
    for layer in range(lens.num_layers):
        best, third = lens.top_ids[layer, 0], lens.top_ids[layer, 2]
        assert lens.rank_of(int(best))[layer] == 1
        assert lens.rank_of(int(third))[layer] == 3
        np.testing.assert_allclose(lens.probability_of(int(third))[layer],
                                   lens.top_probs[layer, 2], rtol=1e-5)
    ranks = lens.rank_of(0)
    assert ranks.shape == (lens.num_layers,)
    assert ((ranks >= 1) & (ranks <= len(tiny.tokenizer))).all()


def test_bad_position_is_refused(tiny):
    analysis = analyze(tiny, "A <mask>.")
    with pytest.raises(LensError, match="does not exist"):
        logit_lens(tiny, analysis, analysis.num_tokens)


def test_unknown_head_is_a_clear_error():
    class NoHead(torch.nn.Module):
        def get_output_embeddings(self):
            return None

    with pytest.raises(LensError, match="does not know"):
        lm_head(NoHead())


def test_bert_head_is_found(tmp_path):
    from transformers import BertConfig, BertForMaskedLM

    model = BertForMaskedLM(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1,
                                       num_attention_heads=2, intermediate_size=32)).eval()
    ids = torch.tensor([[1, 5, 7, 2]])
    with torch.no_grad():
        output = model(ids, output_hidden_states=True)
        np.testing.assert_allclose(lm_head(model)(output.hidden_states[-1]).numpy(),
                                   output.logits.numpy(), atol=1e-5)
