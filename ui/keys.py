"""Session-state keys shared by pages, so URL state, pages and tests agree on names; and the
one maker of cache keys (:func:`cache_key`).

Layer and head indices are 0-based in state and in the URL; views show them 1-based.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from explorer.analysis import Analysis
    from explorer.model import Loaded


class CacheKey(NamedTuple):
    """What an entry of the one budgeted cache (ui/cache.py) is: its kind, the weights it came
    from, the input (text and the pair's second text), the analysis's length (a word-level copy
    has the same text but fewer units) and the settings it was computed with."""

    kind: str  # "analysis", "flow", "bertviz" …
    models: tuple[str, ...]  # weights fingerprints: one model, or the Models page's A and B
    text: str | None
    text_pair: str | None  # the second text of a sentence pair; None for one text
    num_tokens: int | None  # units of the analysis the entry was derived from (None: raw text)
    settings: tuple[Hashable, ...]


def model_fingerprint(loaded: Loaded) -> str:
    """What a model is known by in caches: the fingerprint of its weights and tokenizer (new
    weights under the same name, new key), else its name (models described without one)."""
    return loaded.info.fingerprint or loaded.info.name


def cache_key(kind: str, model: Loaded | Sequence[Loaded], source: Analysis | str | None = None,
              *settings: Hashable, text_pair: str | None = None) -> CacheKey:
    """The key of every cache entry: ``kind``, the weights fingerprint of ``model`` (or of each
    model of a sequence), the input and the ``settings``. ``source`` is an analysis (its text,
    its pair's second text and its length are taken from it) or a text (with ``text_pair``)."""
    models = tuple(model_fingerprint(one) for one in model) \
        if isinstance(model, Sequence) else (model_fingerprint(model),)
    if source is None or isinstance(source, str):
        return CacheKey(kind, models, source, text_pair, None, tuple(settings))
    if text_pair is not None:
        raise ValueError("an analysis carries its own text pair")
    return CacheKey(kind, models, source.text, source.text_pair, int(source.num_tokens),
                    tuple(settings))


MODEL = "model_name"  # hub id or local folder
TEXT = "text"  # the explorer's input text
TOP_K = "top_k"  # predictions shown per mask
LAYER = "layer"  # selected layer
HEAD = "head"  # single head of the heatmap view, or the string "mean"
HEADS = "heads"  # selected heads of the attention graph (list[int])
SELECTED_TOKEN = "token"  # selected token index, or None
THRESHOLD = "threshold"  # share of attention mass kept per token in the graph
TEXT_A = "text_a"  # compare page, input A
TEXT_B = "text_b"  # compare page, input B
# Corpus search page
CORPUS_SOURCE = "corpus_source"  # "bundled" or "upload"
CORPUS_UPLOAD = "corpus_upload"  # the file uploader
CORPUS_STORAGE = "corpus_storage"  # "fp16", "sq8" or "flat"
CORPUS_WITH_HEADS = "corpus_with_heads"  # also index head outputs
CORPUS_QUERY = "corpus_query"  # text the query token is taken from
CORPUS_QUERY_FROM = "corpus_query_from"  # the explorer text the query field last copied
CORPUS_TOKEN = "corpus_token"  # query token index
CORPUS_LAYER = "corpus_layer"  # hidden-state index: 0 = embeddings, l = output of layer l
CORPUS_MODE = "corpus_mode"  # "embedding" or "heads"
CORPUS_HEADS = "corpus_heads"  # selected heads (0-based) for head-output search
CORPUS_K = "corpus_k"  # number of matches
COMBINE = "combine"  # how the graph combines the selected heads: "mean" or "sum"
HIDE_SPECIAL = "hide_special"  # the graph hides <s>, </s> (bool)
SELECTED_SIDE = "token_side"  # side of the selected token in the graph: "left" or "right"
GRAPH = "attention_graph"  # the attention-graph component's own state (selection, heads ...)
MASK_ORIGINALS = "mask_originals"  # {"text": str, "originals": {char start: replaced piece}}
MASK_MESSAGE = "mask_message"  # why the last mask/unmask did nothing, shown once
BERTVIZ_VIEW = "bertviz_view"  # which bertviz view is shown: "off" or one of its views
# Models page (two models side by side); URL parameter names too (explorer/models_state.py)
MODEL_A = "model_a"  # hub id or folder of model A
MODEL_B = "model_b"  # hub id or folder of model B
HEAD_A = "head_a"  # head of A opened from the head-to-head map: flat index layer * heads + head
HEAD_B = "head_b"  # head of B, likewise
SENTENCES = "sentences"  # how many bundled-corpus sentences the pooled map reads
WORDS = "words"  # the "Words, not pieces" switch of the Layers and Compare pages (bool)
TEXT_PAIR = "text_pair"  # the Layers page's optional second text of a sentence pair
LAYERS_TAB = "layers_tab"  # the Layers page's open tab
STATISTIC = "layers_statistic"  # the Layers page's head-grid statistic
ABLATED = "layers_ablated_heads"  # the Layers page's switched-off heads, [(layer, head)]
ABLATION_MEAN = "layers_ablation_mean"  # whose mean mean-ablation uses: "text" or "corpus"
SCRIPT_RUNS = "script_runs"  # full runs of the explorer page in this session (fragment runs not)
GRAPH_WEIGHTING = "graph_weighting"  # the graph draws "weights" or "value_norm" shares
GRAPH_WORDS = "graph_words"  # the graph merges pieces into words (bool)
SHOWN_ATTRIBUTION = "attribution_shown"  # {"key": cache key, "label": str} of the last shown
GRAPH_ACK = "attention_graph_ack"  # the last event number Python got from the attention view
# Head patterns page (corpus-wide head statistics)
PATTERNS_SOURCE = "patterns_source"  # "bundled" or "upload"
PATTERNS_UPLOAD = "patterns_upload"  # the file uploader
