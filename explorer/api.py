"""The public Python API of the attention explorer, in one place (no Streamlit).

Import what you need from here; everything listed is documented where it is defined and
tested. Shapes use the app's names: ``attentions[layer, head, query, key]`` with every query
row summing to 1, ``hidden_states[layer + 1, token, dim]`` (0 = embedding output). Layers and
heads are 0-based in arrays and 1-based wherever a page or the command line shows them.

Models
    :func:`load` (``"distilroberta-base"``, a hub id in the local cache, or a folder holding a
    safetensors checkpoint) → :class:`Loaded` (``tokenizer``, ``model`` in eval mode with eager
    attention, ``info``: :class:`ModelInfo` with ``num_layers``, ``num_heads``,
    ``hidden_size``, ``max_tokens`` …). :class:`ModelLoadError` says why a model cannot load.

One text
    :func:`analyze` ``(loaded, text, top_k=5)`` → :class:`Analysis`: ``token_ids[token]``,
    ``tokens[token]``, ``attentions[layer, head, query, key]``,
    ``hidden_states[layer + 1, token, dim]``, ``predictions`` (one :class:`MaskPredictions` per
    ``<mask>``, rows equal to the Hugging Face fill-mask pipeline's), ``mask_probabilities[mask,
    vocab]``. :class:`InputError` for empty or unusable text.

Logit lens
    :func:`logit_lens` ``(loaded, analysis, position, top_k=10)`` → :class:`LayerLens`:
    ``log_probs[layer + 1, vocab]``, ``top_ids[layer + 1, k]``, ``top_probs[layer + 1, k]``.

Attribution
    :func:`attribute` ``(loaded, token_ids, position, target_id, method=
    "integrated_gradients" | "gradient_x_input")`` → :class:`TokenAttribution` with
    ``scores[token]`` (integrated gradients: they sum to ``f(x) − f(baseline)``).

Head statistics over many sentences
    :func:`head_patterns` ``(loaded, sentences)`` → :class:`HeadPatterns`: ``to_start``,
    ``to_end``, ``to_punctuation``, ``to_self``, ``to_previous``, ``to_next`` and ``entropy``
    (bits), each ``[layer, head]``; ``divergence[head, head]`` (Jensen–Shannon, heads numbered
    ``layer · heads + head``) and ``map_xy[head, 2]``; ``.csv()`` is the table the Head patterns
    page shows. :func:`batch_head_patterns` computes the same as a map-reduce of per-batch sums
    (shards, optionally on a Ray cluster: :mod:`explorer.batch`).

Corpus search (exBERT-style)
    :func:`read_corpus` (bytes, one sentence per line) / :func:`read_corpus_file` → :class:`Corpus`;
    :func:`build_index` ``(loaded, corpus)`` → :class:`CorpusIndex` (in memory; one faiss index per
    layer, ``hidden[layer + 1]`` and ``heads[layer]``); :func:`encode_query` ``(loaded, text)`` →
    :class:`QueryTokens`; :func:`search` ``(index, query, token, layer, mode="embedding" |
    "heads", heads=None, k=10)`` → ``list[Match]`` (``score`` = cosine, or the mean cosine over
    the selected heads). :func:`build_corpus_index` writes an index to a folder (exact, or
    IVF-PQ with exact re-ranking above an interactive size) that :func:`open_index`
    memory-maps; the command line's ``explorer index`` does the same with shards.

Model comparison
    :func:`compare_over_sentences` ``(loaded_a, loaded_b, sentences)`` →
    :class:`SentencesComparison`: ``head_similarity[a_head, b_head]``,
    ``cka[layer_a + 1, layer_b + 1]`` (linear CKA); :func:`analysis_head_similarity` for one
    text; :func:`compare_tokenizers`.

Command line: ``explorer analyze | head-stats | index`` (``python -m explorer --help``).
"""

from __future__ import annotations

from explorer.analysis import Analysis, InputError, MaskPredictions, Prediction, analyze
from explorer.attribution import AttributionError, TokenAttribution, attribute
from explorer.batch import batch_head_patterns
from explorer.corpus import (
    Corpus,
    CorpusError,
    CorpusIndex,
    IndexSettings,
    Match,
    QueryTokens,
    build_index,
    encode_query,
    read_corpus,
    search,
    search_vectors,
)
from explorer.corpus.large import build_corpus_index, open_index, read_corpus_file
from explorer.head_patterns import HeadPatterns, head_patterns
from explorer.lens import LayerLens, LensError, logit_lens
from explorer.model import DEFAULT_MODEL, Loaded, ModelInfo, ModelLoadError, load
from explorer.model_compare import (
    ComparisonError,
    SentencesComparison,
    analysis_head_similarity,
    compare_over_sentences,
    compare_tokenizers,
)

__all__ = [
    "DEFAULT_MODEL",
    "Analysis",
    "AttributionError",
    "ComparisonError",
    "Corpus",
    "CorpusError",
    "CorpusIndex",
    "HeadPatterns",
    "IndexSettings",
    "InputError",
    "LayerLens",
    "LensError",
    "Loaded",
    "MaskPredictions",
    "Match",
    "ModelInfo",
    "ModelLoadError",
    "Prediction",
    "QueryTokens",
    "SentencesComparison",
    "TokenAttribution",
    "analysis_head_similarity",
    "analyze",
    "attribute",
    "batch_head_patterns",
    "build_corpus_index",
    "build_index",
    "compare_over_sentences",
    "compare_tokenizers",
    "encode_query",
    "head_patterns",
    "load",
    "logit_lens",
    "open_index",
    "read_corpus",
    "read_corpus_file",
    "search",
    "search_vectors",
]
