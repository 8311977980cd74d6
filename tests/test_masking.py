"""Click-to-mask on the tiny model's real tokenizer: mask a token, re-analyse, unmask."""

from __future__ import annotations

import pytest

from explorer.analysis import analyze
from explorer.masking import MaskEditError, mask_token_in_text, unmask_token_in_text

TEXT = "The capital of France is Paris."


def test_mask_a_word_then_unmask_restores_the_text(tiny):
    before = analyze(tiny, TEXT)
    index = before.tokens.index("Ġcapital")
    edit = mask_token_in_text(tiny, analyze(tiny, TEXT), index)
    assert edit.text == "The <mask> of France is Paris."
    after = analyze(tiny, edit.text)
    assert after.mask_positions == (index,)  # the same position is now the mask
    assert after.num_tokens == before.num_tokens
    assert len(after.predictions) == 1
    assert dict(edit.originals) == {4: "capital"}
    restored = unmask_token_in_text(tiny, analyze(tiny, edit.text), index, edit.originals)
    assert restored.text == TEXT and dict(restored.originals) == {}


def test_two_masks_unmasked_in_any_order(tiny):
    tokens = analyze(tiny, TEXT).tokens
    first = mask_token_in_text(tiny, analyze(tiny, TEXT), tokens.index("Ġcapital"))
    second_index = analyze(tiny, first.text).tokens.index("Ġis")
    second = mask_token_in_text(tiny, analyze(tiny, first.text), second_index, first.originals)
    assert second.text == "The <mask> of France <mask> Paris."
    masks = analyze(tiny, second.text).mask_positions
    assert len(masks) == 2
    # unmask the first mask: the second's recorded offset must move with the text
    one = unmask_token_in_text(tiny, analyze(tiny, second.text), masks[0], second.originals)
    assert one.text == "The capital of France <mask> Paris."
    last = analyze(tiny, one.text).mask_positions[0]
    assert unmask_token_in_text(tiny, analyze(tiny, one.text), last, one.originals).text == TEXT


def test_mask_part_of_a_word(tiny):
    analysis = analyze(tiny, TEXT)
    pieces = [(i, t) for i, t in enumerate(analysis.tokens) if t in {"an", "Fr", "ce"}]
    assert pieces, analysis.tokens
    index, piece = pieces[0]
    edit = mask_token_in_text(tiny, analyze(tiny, TEXT), index)
    assert edit.text.count("<mask>") == 1 and piece not in edit.text.split("<mask>")[0][-1:]
    masked = analyze(tiny, edit.text)
    assert unmask_token_in_text(tiny, masked, masked.mask_positions[0],
                                edit.originals).text == TEXT


def test_typed_masks_special_tokens_and_spaces_are_refused(tiny):
    text = "The capital of France is <mask>."
    analysis = analyze(tiny, text)
    with pytest.raises(MaskEditError, match="typed"):
        unmask_token_in_text(tiny, analyze(tiny, text), analysis.mask_positions[0], {})
    with pytest.raises(MaskEditError, match="already a mask"):
        mask_token_in_text(tiny, analyze(tiny, text), analysis.mask_positions[0])
    with pytest.raises(MaskEditError, match="special"):
        mask_token_in_text(tiny, analyze(tiny, text), 0)
    with pytest.raises(MaskEditError, match="special"):
        mask_token_in_text(tiny, analyze(tiny, text), analysis.num_tokens - 1)
    with pytest.raises(MaskEditError, match="not a mask"):
        unmask_token_in_text(tiny, analyze(tiny, text), 1, {})
    with pytest.raises(MaskEditError, match="no token"):
        mask_token_in_text(tiny, analyze(tiny, text), 999)
    bare_space = analysis.tokens.index("Ġ")  # "of France": the tiny BPE splits off a bare space
    with pytest.raises(MaskEditError, match="white space"):
        mask_token_in_text(tiny, analyze(tiny, text), bare_space)


@pytest.mark.parametrize("text", [
    "A cat sat on the mat while the dog slept.",
    "Emoji 😀 and 日本語 are here <mask> too.",
    "<b>bold</b> & </script> tags",
])
def test_every_maskable_token_round_trips(tiny, text):
    analysis = analyze(tiny, text)
    masked_any = False
    for index in range(analysis.num_tokens):
        try:
            edit = mask_token_in_text(tiny, analyze(tiny, text), index)
        except MaskEditError:
            continue
        masked_any = True
        assert edit.text.count("<mask>") == text.count("<mask>") + 1
        restored = []
        masked = analyze(tiny, edit.text)
        for position in masked.mask_positions:
            try:
                restored.append(unmask_token_in_text(tiny, masked, position, edit.originals))
            except MaskEditError:
                continue  # a mask the text already had: nothing to restore
        assert [r.text for r in restored] == [text]
    assert masked_any


def _long_text(tiny) -> tuple[str, int]:
    """A text longer than the tiny model reads, and its full token count."""
    text = " ".join(["The cat sat on the mat."] * 30)
    count = len(tiny.tokenizer(text)["input_ids"])
    assert count > tiny.info.max_tokens
    return text, count


def test_masking_a_truncated_text_edits_the_clicked_word(tiny):
    """The token index is the truncated analysis' index; the edit lands on that very word."""
    text, _ = _long_text(tiny)
    analysis = analyze(tiny, text)
    assert analysis.truncated
    last_word = max(i for i, t in enumerate(analysis.token_texts) if t.strip().isalpha())
    edit = mask_token_in_text(tiny, analysis, last_word)
    after = analyze(tiny, edit.text)
    assert after.mask_positions == (last_word,)
    assert after.token_ids[:last_word].tolist() == analysis.token_ids[:last_word].tolist()
    start = edit.text.index("<mask>")
    word = analysis.token_texts[last_word].strip()
    assert dict(edit.originals) == {start: word}
    assert edit.text.replace("<mask>", word, 1) == text
    # everything before the mask is exactly what the analysis shows before the clicked token
    assert edit.text[:start].rstrip() == tiny.tokenizer.decode(
        analysis.token_ids[1:last_word].tolist()).rstrip()


def test_the_end_token_of_a_truncated_text_is_refused(tiny):
    """Index 63 is ``</s>`` in the truncated analysis but a word of the full text: refused, the
    text is left alone (before the fix it turned a word mid-text into a mask)."""
    text, _ = _long_text(tiny)
    analysis = analyze(tiny, text)
    end = analysis.num_tokens - 1
    assert analysis.token_ids[end] == tiny.tokenizer.sep_token_id
    with pytest.raises(MaskEditError, match="end token"):
        mask_token_in_text(tiny, analysis, end)
    with pytest.raises(MaskEditError, match="special token"):
        mask_token_in_text(tiny, analysis, 0)
    with pytest.raises(MaskEditError, match="end token"):
        unmask_token_in_text(tiny, analysis, end, {})


def test_an_analysis_that_does_not_match_its_text_is_refused(tiny):
    analysis = analyze(tiny, TEXT)
    other = analyze(tiny, "A dog ran far away from the house.")
    stale = type(analysis)(**{**vars(analysis), "text": other.text})
    with pytest.raises(MaskEditError, match="no longer matches"):
        mask_token_in_text(tiny, stale, 2)
