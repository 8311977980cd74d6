"""The model-free core on the tiny model: loading, tokenisation, shapes, fill-mask equality."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import pipeline

from explorer.analysis import MAX_TEXT_CHARS, InputError, analyze
from explorer.metrics import hidden_state_norms
from explorer.model import ModelLoadError, load
from tests.conftest import TINY_MAX_TOKENS


def test_tiny_tokenizer_really_splits_text(tiny):
    tokens = tiny.tokenizer.tokenize("The capital of France is Paris.")
    assert len(tokens) >= 6
    assert "".join(tokens).replace("Ġ", " ") == "The capital of France is Paris."
    assert len(tiny.tokenizer) > 100  # a naive transformers 5 build has only the 5 specials


def test_mask_token_is_one_token(tiny):
    ids = tiny.tokenizer("The capital is <mask>.")["input_ids"]
    assert ids.count(tiny.tokenizer.mask_token_id) == 1


def test_loaded_with_eager_attention(tiny):
    assert tiny.model.config._attn_implementation == "eager"
    assert not tiny.model.training
    assert tiny.info.num_layers == 2 and tiny.info.num_heads == 4
    assert tiny.info.max_tokens == TINY_MAX_TOKENS
    assert tiny.info.source == "local folder"


def test_shapes_and_attention_rows_sum_to_one(tiny):
    analysis = analyze(tiny, "The man worked as a <mask>.")
    n = analysis.num_tokens
    assert analysis.attentions.shape == (2, 4, n, n)
    assert analysis.hidden_states.shape == (3, n, 32)  # layers + 1
    np.testing.assert_allclose(analysis.attentions.sum(axis=-1), 1.0, atol=1e-5)
    assert (analysis.attentions >= 0).all()
    assert analysis.tokens[0] == "<s>" and analysis.tokens[-1] == "</s>"
    assert analysis.special_mask[0] and analysis.special_mask[-1]
    assert not analysis.special_mask[1:-1].any()
    assert len(analysis.tokens) == len(analysis.token_texts) == len(analysis.labels) == n


def test_arrays_are_read_only(tiny):
    analysis = analyze(tiny, "A cat sat on the <mask>.")
    with pytest.raises(ValueError):
        analysis.attentions[0, 0, 0, 0] = 1.0
    with pytest.raises(ValueError):
        analysis.hidden_states[0, 0, 0] = 1.0


def test_hidden_states_match_a_plain_forward_pass(tiny):
    import torch

    analysis = analyze(tiny, "The dog slept in the <mask>.")
    with torch.no_grad():
        logits = tiny.model(torch.tensor([analysis.token_ids.tolist()])).logits[0]
    head_logits = tiny.model.lm_head(torch.from_numpy(analysis.hidden_states[-1].copy()))
    np.testing.assert_allclose(head_logits.detach().numpy(), logits.numpy(), atol=1e-4)


@pytest.mark.parametrize("text", [
    "The capital of France is <mask>.",
    "The <mask> worked as a <mask>.",
    "<mask> <mask> <mask>",
    "Emoji 😀 and 日本語 and עברית are <mask> too.",
])
@pytest.mark.parametrize("top_k", [1, 5, 12])
def test_predictions_equal_the_fill_mask_pipeline(tiny, text, top_k):
    fill_mask = pipeline("fill-mask", model=tiny.model, tokenizer=tiny.tokenizer)
    expected = fill_mask(text, top_k=top_k)
    if text.count("<mask>") == 1:
        expected = [expected]
    analysis = analyze(tiny, text, top_k=top_k)
    assert len(analysis.predictions) == text.count("<mask>") == len(expected)
    for mask, rows in zip(analysis.predictions, expected):
        assert analysis.token_ids[mask.position] == tiny.tokenizer.mask_token_id
        assert [p.token_id for p in mask.predictions] == [r["token"] for r in rows]
        assert [p.token_str for p in mask.predictions] == [r["token_str"] for r in rows]
        assert [p.sequence for p in mask.predictions] == [r["sequence"] for r in rows]
        np.testing.assert_allclose([p.score for p in mask.predictions],
                                   [r["score"] for r in rows], rtol=1e-5)
        assert [p.rank for p in mask.predictions] == list(range(1, top_k + 1))


def test_no_mask_still_gives_attention(tiny):
    analysis = analyze(tiny, "No mask in this sentence.")
    assert analysis.predictions == ()
    assert analysis.mask_positions == ()
    assert analysis.attentions.shape[2] == analysis.num_tokens > 3


def test_bert_style_mask_alias_is_read_as_mask(tiny):
    analysis = analyze(tiny, "The capital of France is [MASK].")
    assert len(analysis.predictions) == 1
    assert any("[MASK]" in note for note in analysis.notes)


@pytest.mark.parametrize("text", ["", "   ", "\n\t ", "\x00\x00"])
def test_empty_text_is_refused_with_a_message(tiny, text):
    with pytest.raises(InputError, match="empty"):
        analyze(tiny, text)


def test_oversized_text_is_refused(tiny):
    with pytest.raises(InputError, match="at most"):
        analyze(tiny, "a" * (MAX_TEXT_CHARS + 1))


def test_control_characters_are_removed_and_noted(tiny):
    analysis = analyze(tiny, "The cat\x00 sat on the <mask>.")
    assert "\x00" not in analysis.text
    assert analysis.notes and "control" in analysis.notes[0]


def test_too_long_input_is_truncated_visibly(tiny):
    text = "The cat sat on the mat. " * 30 + "<mask>"
    analysis = analyze(tiny, text)
    assert analysis.truncated
    assert analysis.num_tokens == TINY_MAX_TOKENS
    assert analysis.input_token_count > TINY_MAX_TOKENS
    assert analysis.tokens[-1] == "</s>"
    assert analysis.masks_dropped == 1 and analysis.predictions == ()
    np.testing.assert_allclose(analysis.attentions.sum(axis=-1), 1.0, atol=1e-5)


def test_input_at_the_limit_is_not_truncated(tiny):
    text = "The" + " the" * (TINY_MAX_TOKENS - 3)
    assert len(tiny.tokenizer(text)["input_ids"]) == TINY_MAX_TOKENS
    analysis = analyze(tiny, text)
    assert analysis.num_tokens == TINY_MAX_TOKENS and not analysis.truncated


def test_unicode_and_emoji_survive(tiny):
    text = "Zero\u200bwidth, RTL שלום, CJK 漢字, emoji 👩‍🔬 <mask>."
    analysis = analyze(tiny, text)
    assert analysis.text == text
    decoded = tiny.tokenizer.decode(analysis.token_ids, skip_special_tokens=False)
    assert "漢字" in decoded and "👩‍🔬" in decoded
    assert len(analysis.predictions) == 1


def test_hidden_state_norms_shape(tiny):
    analysis = analyze(tiny, "A cat <mask>.")
    norms = hidden_state_norms(analysis)
    assert norms.shape == (3, analysis.num_tokens)
    assert (norms > 0).all()


def test_missing_folder_gives_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError) as caught:
        load(str(tmp_path / "nowhere"))
    message = str(caught.value)
    assert "no such folder" in message and "How to fix it" in message


def test_broken_folder_gives_a_clear_error(tmp_path, tiny_model_dir):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((tiny_model_dir / "config.json").read_text())
    with pytest.raises(ModelLoadError, match="safetensors"):
        load(str(broken))
    (broken / "model.safetensors").write_bytes(b"not really safetensors")
    with pytest.raises(ModelLoadError, match="local folder"):
        load(str(broken))


def test_pytorch_bin_weights_are_not_loaded(tmp_path, tiny):
    folder = tmp_path / "bin-only"
    tiny.model.save_pretrained(folder, safe_serialization=False)
    tiny.tokenizer.save_pretrained(folder)
    for file in folder.glob("*.safetensors"):
        file.unlink()
    with pytest.raises(ModelLoadError, match="safetensors"):
        load(str(folder))


def test_hub_id_offline_says_what_was_tried(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", "/nonexistent-hf-home")
    with pytest.raises(ModelLoadError) as caught:
        load("distilroberta-base")
    message = str(caught.value)
    assert "hub cache" in message and "HF_HUB_OFFLINE" in message
    assert "download it once" in message


def test_token_labels_make_control_characters_visible():
    from explorer.analysis import token_label

    assert token_label("\x0f") == "␏"  # a byte-level token: invisible, and invalid in SVG/XML
    assert token_label("\n") == "␊" and token_label("\x7f") == "␡"
    assert token_label(" the") == "the" and token_label(" ") == "␣" and token_label("") == "∅"


def test_every_vocabulary_label_is_printable(tiny):
    from explorer.analysis import token_label

    for token_id in range(len(tiny.tokenizer)):
        label = token_label(tiny.tokenizer.decode([token_id]))
        assert label and all(ch.isprintable() for ch in label), (token_id, label)
