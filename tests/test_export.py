"""Export files read back equal to the analysis they came from."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd

from explorer.analysis import analyze
from explorer.compare import prediction_changes
from explorer.export import (
    CHANGE_COLUMNS,
    PREDICTION_COLUMNS,
    analysis_json,
    analysis_npz,
    changes_csv,
    predictions_csv,
)
from explorer.metrics import hidden_state_norms
from ui.export import file_stem

TEXT = 'He said "<mask>", then <mask>, 1,2 — naïve.'


def _read_csv(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), keep_default_na=False,
                       dtype={"token": str, "sequence": str})


def test_predictions_csv_round_trip(tiny):
    analysis = analyze(tiny, TEXT, top_k=8)
    frame = _read_csv(predictions_csv(analysis, top_k=6))
    assert list(frame.columns) == list(PREDICTION_COLUMNS)
    assert len(frame) == 2 * 6
    expected = [(n, m.position, p.rank, p.token_id, p.token_str, p.score, p.sequence)
                for n, m in enumerate(analysis.predictions, start=1) for p in m.predictions[:6]]
    got = list(frame.itertuples(index=False, name=None))
    assert got == expected  # token strings with spaces, quotes and commas survive; full floats


def test_predictions_csv_without_masks_has_only_the_header(tiny):
    analysis = analyze(tiny, "No mask here.")
    assert predictions_csv(analysis, 5).strip() == ",".join(PREDICTION_COLUMNS)


def test_analysis_json_round_trip(tiny):
    analysis = analyze(tiny, TEXT, top_k=5)
    document = json.loads(analysis_json(analysis, top_k=3))
    np.testing.assert_array_equal(np.array(document["attentions"], dtype=np.float32),
                                  analysis.attentions)
    np.testing.assert_array_equal(np.array(document["hidden_state_norms"], dtype=np.float32),
                                  hidden_state_norms(analysis))
    assert document["tokens"] == list(analysis.tokens)
    assert document["token_ids"] == analysis.token_ids.tolist()
    assert document["mask_positions"] == list(analysis.mask_positions)
    assert document["text"] == analysis.text
    assert [(row["mask"], row["rank"], row["token_id"], row["score"])
            for row in document["predictions"]] == [
        (n, p.rank, p.token_id, p.score)
        for n, m in enumerate(analysis.predictions, start=1) for p in m.predictions[:3]]


def test_analysis_npz_round_trip(tiny):
    analysis = analyze(tiny, TEXT, top_k=7)
    archive = np.load(io.BytesIO(analysis_npz(analysis, top_k=4)), allow_pickle=False)
    np.testing.assert_array_equal(archive["attentions"], analysis.attentions)
    np.testing.assert_array_equal(archive["hidden_states"], analysis.hidden_states)
    np.testing.assert_array_equal(archive["hidden_state_norms"], hidden_state_norms(analysis))
    np.testing.assert_array_equal(archive["mask_probabilities"], analysis.mask_probabilities)
    np.testing.assert_array_equal(archive["token_ids"], analysis.token_ids)
    np.testing.assert_array_equal(archive["special_mask"], analysis.special_mask)
    assert archive["tokens"].tolist() == list(analysis.tokens)
    assert archive["mask_positions"].tolist() == list(analysis.mask_positions)
    assert archive["prediction_token_ids"].tolist() == [
        [p.token_id for p in m.predictions[:4]] for m in analysis.predictions]
    assert archive["prediction_scores"].tolist() == [
        [p.score for p in m.predictions[:4]] for m in analysis.predictions]
    meta = json.loads(str(archive["meta"]))
    assert meta["text"] == analysis.text and meta["model_name"] == analysis.model_name
    assert archive["attentions"].shape == (tiny.info.num_layers, tiny.info.num_heads,
                                           analysis.num_tokens, analysis.num_tokens)


def test_npz_without_masks(tiny):
    analysis = analyze(tiny, "No mask here.")
    archive = np.load(io.BytesIO(analysis_npz(analysis, top_k=5)), allow_pickle=False)
    assert archive["prediction_token_ids"].shape == (0, 0)
    assert archive["mask_probabilities"].shape == (0, tiny.info.vocab_size)


def test_changes_csv_round_trip(tiny):
    a = analyze(tiny, "The man worked as a <mask>.")
    b = analyze(tiny, "The woman worked as a <mask>.")
    changes = prediction_changes(a, b, 0, top_k=5)
    frame = _read_csv(changes_csv([changes]))
    assert list(frame.columns) == list(CHANGE_COLUMNS)
    assert frame["token_id"].tolist() == [c.token_id for c in changes]
    assert frame["token"].tolist() == [c.token_str for c in changes]
    assert frame["probability_a"].tolist() == [c.probability_a for c in changes]
    assert frame["rank_b"].tolist() == [c.rank_b for c in changes]


def test_file_stem_is_safe():
    assert file_stem("The man worked as a <mask>.") == "the-man-worked-as-a-mask"
    assert file_stem("../../etc/passwd") == "etc-passwd"
    assert file_stem("日本語") == "analysis"
    assert len(file_stem("word " * 50)) <= 40


def test_json_is_offered_only_up_to_a_size(tiny, monkeypatch):
    import explorer.export as export

    analysis = analyze(tiny, TEXT)
    assert export.json_fits(analysis)
    monkeypatch.setattr(export, "JSON_MAX_ATTENTION_VALUES", analysis.attentions.size - 1)
    assert not export.json_fits(analysis)
