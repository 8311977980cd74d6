"""Model comparison (explorer.model_compare) on a tiny "student" (2 layers) and "teacher"
(4 layers) of one family sharing one tokenizer, against independent references (scipy's
Jensen–Shannon distance, Song et al.'s unbiased HSIC written as explicit sums, one-at-a-time
analyses)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import ortho_group

from explorer.analysis import analyze
from explorer.model import load
from explorer.model_compare import (
    MIN_TEXT_CKA_TOKENS,
    ComparisonError,
    analysis_head_similarity,
    candidate_changes,
    compare_over_sentences,
    compare_tokenizers,
    forward_seconds,
    head_divergence,
    head_of_index,
    head_similarity,
    layer_cka,
    linear_cka,
    parameter_bytes,
    text_cka_refusal,
    unbiased_hsic,
)
from explorer.tiny import build_tiny_bert_model, build_tiny_model_sharing_tokenizer

TEXT = "The capital of France is <mask>, and the capital of Italy is Rome."
SENTENCES = (
    "A cat sat on the mat.",
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Hello world!",
)


@pytest.fixture(scope="module")
def student(tiny_model_dir, tmp_path_factory):
    folder = build_tiny_model_sharing_tokenizer(
        tmp_path_factory.mktemp("student"), tiny_model_dir, layers=2, initializer_range=0.3,
        seed=1)
    return load(str(folder))


@pytest.fixture(scope="module")
def teacher(tiny_model_dir, tmp_path_factory):
    folder = build_tiny_model_sharing_tokenizer(
        tmp_path_factory.mktemp("teacher"), tiny_model_dir, layers=4, initializer_range=0.3,
        seed=2)
    return load(str(folder))


@pytest.fixture(scope="module")
def analyses(student, teacher):
    return analyze(student, TEXT), analyze(teacher, TEXT)


def test_head_similarity_of_a_model_with_itself_is_maximal_on_the_diagonal(analyses):
    a, _ = analyses
    similarity = analysis_head_similarity(a, a)
    heads = a.num_layers * a.num_heads
    assert similarity.shape == (heads, heads)
    np.testing.assert_allclose(np.diag(similarity), 1.0, atol=1e-9)
    off_diagonal = similarity[~np.eye(heads, dtype=bool)]
    assert off_diagonal.max() < 1.0 - 1e-4
    assert np.all(similarity.argmax(axis=1) == np.arange(heads))


def test_head_similarity_student_against_teacher(analyses, student, teacher):
    a, b = analyses
    similarity = analysis_head_similarity(a, b)
    assert similarity.shape == (2 * student.info.num_heads, 4 * teacher.info.num_heads)
    assert np.all((similarity >= 0) & (similarity <= 1))
    assert head_of_index(5, student.info.num_heads) == (1, 1)


def test_head_divergence_equals_scipy_jensen_shannon(analyses):
    a, b = analyses
    queries = ~np.asarray(a.special_mask)
    divergence = head_divergence(a.attentions, b.attentions, queries)
    rows = np.flatnonzero(queries)
    for layer_a, head_a in [(0, 0), (1, 3)]:
        for layer_b, head_b in [(0, 1), (3, 2)]:
            expected = np.mean([
                jensenshannon(a.attentions[layer_a, head_a, q], b.attentions[layer_b, head_b, q],
                              base=2) ** 2
                for q in rows
            ])
            got = divergence[layer_a * a.num_heads + head_a, layer_b * b.num_heads + head_b]
            assert got == pytest.approx(expected, abs=1e-6)  # scipy renormalises float32 rows


def test_head_similarity_refuses_different_tokens(student):
    a = analyze(student, "A cat sat on the mat.")
    b = analyze(student, "A dog sat on the mat today.")
    with pytest.raises(ComparisonError):
        analysis_head_similarity(a, b)
    with pytest.raises(ComparisonError):
        head_similarity(a.attentions, b.attentions)


def _textbook_unbiased_hsic(x: np.ndarray, y: np.ndarray) -> float:
    """Song et al. (2012), eq. 5, with explicit sums over distinct token indices:
    HSIC₁ = [Σ_{i≠j} K̃_ij L̃_ij + (Σ_{i≠j} K̃_ij)(Σ_{i≠j} L̃_ij) / ((n−1)(n−2))
             − 2/(n−2) Σ_i Σ_{j≠i} Σ_{q≠i} K̃_ij L̃_iq] / (n (n − 3)),
    K̃, L̃ the linear Gram matrices with zeroed diagonals."""
    n = x.shape[0]
    k = [[float(x[i] @ x[j]) if i != j else 0.0 for j in range(n)] for i in range(n)]
    l_ = [[float(y[i] @ y[j]) if i != j else 0.0 for j in range(n)] for i in range(n)]
    trace = sum(k[i][j] * l_[i][j] for i in range(n) for j in range(n) if i != j)
    sum_k = sum(k[i][j] for i in range(n) for j in range(n) if i != j)
    sum_l = sum(l_[i][j] for i in range(n) for j in range(n) if i != j)
    cross = sum(k[i][j] * l_[i][q] for i in range(n) for j in range(n) for q in range(n)
                if j != i and q != i)
    return (trace + sum_k * sum_l / ((n - 1) * (n - 2)) - 2 * cross / (n - 2)) / (n * (n - 3))


def _textbook_cka(x: np.ndarray, y: np.ndarray) -> float:
    return _textbook_unbiased_hsic(x, y) / np.sqrt(
        _textbook_unbiased_hsic(x, x) * _textbook_unbiased_hsic(y, y))


def _biased_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Kornblith et al. (2019), eq. 5: the biased estimator, HSIC₀ = tr(K H L H) / (n − 1)²."""
    n = x.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    k, l_ = x @ x.T, y @ y.T
    return float(np.trace(k @ h @ l_ @ h) / np.sqrt(np.trace(k @ h @ k @ h)
                                                     * np.trace(l_ @ h @ l_ @ h)))


def test_unbiased_hsic_equals_the_textbook_sums():
    rng = np.random.default_rng(0)
    for n, dims in ((4, (3, 5)), (9, (6, 2)), (17, (12, 7))):
        x = rng.normal(size=(n, dims[0])) + 2.0  # not centred: HSIC₁ must not care
        y = x[:, :1] @ rng.normal(size=(1, dims[1])) + rng.normal(size=(n, dims[1]))
        assert unbiased_hsic(x, y) == pytest.approx(_textbook_unbiased_hsic(x, y), rel=1e-9)
        assert linear_cka(x, y) == pytest.approx(_textbook_cka(x, y), rel=1e-9)
    with pytest.raises(ComparisonError, match="at least 4 tokens"):
        linear_cka(x[:3], y[:3])


def test_linear_cka_reads_unrelated_random_matrices_as_unrelated():
    """The null: independent Gaussian representations. The biased estimator reads ~0.98 at 7
    tokens in 768 dimensions; the debiased one is ≈ 0 on average there (one draw spreads
    ±0.26, which is why the Models page refuses one-text CKA on few tokens) and for one draw
    of 2 000 tokens."""
    rng = np.random.default_rng(1)
    few = [(rng.normal(size=(7, 768)), rng.normal(size=(7, 768))) for _ in range(200)]
    assert np.mean([_biased_cka(x, y) for x, y in few[:20]]) > 0.9
    assert abs(np.mean([linear_cka(x, y) for x, y in few])) < 0.1
    x, y = rng.normal(size=(2000, 768)), rng.normal(size=(2000, 768))
    assert abs(linear_cka(x, y)) < 0.1
    assert abs(layer_cka(x[None], y[None])[0, 0]) < 0.1


def test_linear_cka_invariances():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 12))
    y = x @ rng.normal(size=(12, 7)) + 0.5 * rng.normal(size=(40, 7))
    unrelated = rng.normal(size=(40, 30))
    assert linear_cka(x, unrelated) < linear_cka(x, y)
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    rotation = ortho_group.rvs(12, random_state=1)
    assert linear_cka(x, 3.7 * x @ rotation) == pytest.approx(1.0, abs=1e-10)
    assert linear_cka(x, y) == pytest.approx(linear_cka(x @ rotation, 0.2 * y), abs=1e-10)
    wide = rng.normal(size=(2000, 96))
    orthogonal = np.linalg.qr(rng.normal(size=(96, 96)))[0]
    assert np.allclose(orthogonal.T @ orthogonal, np.eye(96))
    assert linear_cka(wide, wide @ orthogonal) == pytest.approx(1.0, abs=1e-9)
    # not invariant to an arbitrary invertible linear map (what distinguishes CKA from CCA)
    stretch = np.diag(np.linspace(0.1, 10, 12))
    assert linear_cka(x, x @ stretch) < 0.99


def test_layer_cka_of_identical_hidden_states_is_one_on_the_diagonal(analyses):
    a, b = analyses
    same = layer_cka(a.hidden_states, a.hidden_states)
    assert same.shape == (3, 3)
    np.testing.assert_allclose(np.diag(same), 1.0, atol=1e-9)
    across = layer_cka(a.hidden_states, b.hidden_states, tokens=~np.asarray(a.special_mask))
    assert across.shape == (3, 5)
    keep = ~np.asarray(a.special_mask)
    assert across[2, 3] == pytest.approx(
        _textbook_cka(a.hidden_states[2][keep].astype(float),
                      b.hidden_states[3][keep].astype(float)), abs=1e-6)


def test_tokenizer_comparison(student, teacher, tmp_path_factory):
    assert compare_tokenizers(student.tokenizer, teacher.tokenizer).same
    bert = load(str(build_tiny_bert_model(tmp_path_factory.mktemp("bert-cmp"))))
    result = compare_tokenizers(student.tokenizer, bert.tokenizer)
    assert not result.same
    assert any("vocabularies differ" in d for d in result.differences)
    assert result.not_comparable and result.comparable


def test_candidate_changes_read_both_models_probabilities(analyses):
    a, b = analyses
    changes = candidate_changes(a, b, mask=0, top_k=3)
    ids = {p.token_id for p in a.predictions[0].predictions[:3]}
    ids |= {p.token_id for p in b.predictions[0].predictions[:3]}
    assert {c.token_id for c in changes} == ids
    for change in changes:
        assert change.probability_a == pytest.approx(a.mask_probabilities[0, change.token_id])
        assert change.probability_b == pytest.approx(b.mask_probabilities[0, change.token_id])
        order_b = np.argsort(-b.mask_probabilities[0], kind="stable")
        assert change.rank_b == int(np.flatnonzero(order_b == change.token_id)[0]) + 1
    top_a = a.predictions[0].predictions[0].token_id
    assert next(c for c in changes if c.token_id == top_a).rank_a == 1


def test_comparison_over_sentences_equals_one_sentence_at_a_time(student, teacher):
    progress = []
    pooled = compare_over_sentences(student, teacher, SENTENCES, batch_size=2,
                                    progress=lambda d, t: progress.append((d, t)))
    assert progress[0] == (0, 3) and progress[-1] == (3, 3)
    weighted, queries = 0.0, 0
    for sentence in SENTENCES:
        a, b = analyze(student, sentence), analyze(teacher, sentence)
        keep = ~np.asarray(a.special_mask)
        weighted = weighted + head_divergence(a.attentions, b.attentions, keep) * keep.sum()
        queries += int(keep.sum())
    np.testing.assert_allclose(pooled.head_similarity, 1 - weighted / queries, atol=1e-5)
    assert pooled.query_tokens == queries and pooled.sentences == 3
    assert pooled.cka.shape == (3, 5)
    itself = compare_over_sentences(student, student, SENTENCES)
    np.testing.assert_allclose(np.diag(itself.cka), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.diag(itself.head_similarity), 1.0, atol=1e-6)


def test_speed_and_size(student, analyses):
    a, _ = analyses
    assert forward_seconds(student, a.token_ids, repeats=2) > 0
    parameters = sum(p.numel() for p in student.model.parameters())
    assert parameter_bytes(student) >= parameters * 4


def test_one_text_cka_is_refused_below_the_token_count_where_noise_reads_as_noise():
    """At :data:`MIN_TEXT_CKA_TOKENS` tokens random representations (full rank and rank 3, in
    768 dimensions) stay within |0.1|; at 7 tokens they do not, and the page refuses."""
    rng = np.random.default_rng(3)
    n = MIN_TEXT_CKA_TOKENS
    for rank in (3, 768):
        values = [linear_cka(rng.normal(size=(n, rank)) @ rng.normal(size=(rank, 768)),
                             rng.normal(size=(n, rank)) @ rng.normal(size=(rank, 768)))
                  for _ in range(10)]
        assert max(abs(v) for v in values) < 0.1
    few = [abs(linear_cka(rng.normal(size=(7, 768)), rng.normal(size=(7, 768))))
           for _ in range(10)]
    assert max(few) > 0.1
    assert text_cka_refusal(7) and "7 non-special" in text_cka_refusal(7)
    assert text_cka_refusal(n) == ""
