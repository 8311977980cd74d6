"""Search: encode a query text, find the nearest corpus tokens, show a match in context.

The query is cleaned and tokenised by the Explorer's own path (:func:`~explorer.corpus.encoding.
encode_text`), so token ``i`` here is token ``i`` in the Explorer's analysis of the same text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from explorer.analysis import token_label
from explorer.corpus.encoding import encode_text, forward_batch, special_ids
from explorer.corpus.index import CorpusIndex, head_unit_rows, unit_rows
from explorer.corpus.reading import CorpusError
from explorer.model import Loaded

Mode = Literal["embedding", "heads"]


@dataclass(frozen=True)
class QueryTokens:
    """Vectors of every token of a query text, computed like the corpus's.

    ``token_ids[token]`` and ``labels[token]`` as the Explorer shows them; ``hidden[layer + 1,
    token, dim]`` and ``heads[layer, token, dim]`` (raw, unnormalised).
    """

    text: str  # the cleaned text (as the Explorer analyses it)
    token_ids: np.ndarray
    labels: tuple[str, ...]
    special_mask: np.ndarray
    hidden: np.ndarray
    heads: np.ndarray
    notes: tuple[str, ...] = ()

    def memory_bytes(self) -> int:
        """Bytes held, for cache budgets."""
        return int(self.hidden.nbytes + self.heads.nbytes + self.token_ids.nbytes
                   + len(self.text.encode("utf-8")) + 60 * len(self.labels) + 200)


def encode_query(loaded: Loaded, text: str) -> QueryTokens:
    """Run ``text`` once through the model (cut to its limit) and keep every token's vectors."""
    if not text.strip():
        raise CorpusError("Type some text to take the query token from.")
    encoded = encode_text(loaded, text)
    ids = list(encoded.ids)
    hidden, heads, _valid = forward_batch(loaded, [ids], with_heads=True)
    assert heads is not None
    special = special_ids(loaded)
    return QueryTokens(
        text=encoded.text,
        token_ids=np.asarray(ids, dtype=np.int64),
        labels=tuple(token_label(loaded.tokenizer.decode([i])) for i in ids),
        special_mask=np.array([i in special for i in ids], dtype=bool),
        hidden=hidden[:, 0],
        heads=heads[:, 0],
        notes=encoded.notes,
    )


@dataclass(frozen=True)
class Match:
    rank: int
    score: float  # cosine similarity (mean over the selected heads in head mode)
    sentence_id: int
    position: int
    token: str
    sentence: str


def _check_layer(index: CorpusIndex, layer: int, mode: Mode) -> None:
    if mode == "embedding":
        if not 0 <= layer <= index.num_layers:
            raise ValueError(f"layer {layer} is outside 0..{index.num_layers}")
    elif mode == "heads":
        if index.heads is None:
            raise CorpusError("This index holds no head outputs; rebuild it with heads.")
        if not 1 <= layer <= index.num_layers:
            raise ValueError(f"layer {layer} is outside 1..{index.num_layers}")
    else:
        raise ValueError(f"unknown mode {mode!r}")


def search_vectors(
    index: CorpusIndex,
    vector: np.ndarray,
    layer: int,
    mode: Mode = "embedding",
    heads: Sequence[int] | None = None,
    k: int = 10,
) -> list[Match]:
    """The ``k`` corpus tokens nearest to a raw query vector.

    ``mode="embedding"``: ``vector`` is a hidden state and ``layer`` its hidden-state index
    (0 = embeddings). ``mode="heads"``: ``vector`` holds a layer's concatenated head contexts,
    ``layer`` is 1-based and ``heads`` (0-based, default all) picks the heads compared.
    """
    if index.num_tokens == 0:
        return []
    k = max(1, min(int(k), index.num_tokens))
    query = np.asarray(vector, dtype=np.float32)[None, :]
    _check_layer(index, layer, mode)
    if mode == "embedding":
        faiss_index, scale = index.hidden[layer], 1.0
        query = unit_rows(query)
    else:
        assert index.heads is not None
        selected = sorted(set(range(index.num_heads) if heads is None else heads))
        if not selected or not all(0 <= h < index.num_heads for h in selected):
            raise CorpusError("Select at least one head.")
        faiss_index = index.heads[layer - 1]
        query = head_unit_rows(query, index.num_heads, selected)
        scale = index.num_heads / len(selected)  # sum of cosines / heads → mean over selected
    scores, rows = faiss_index.search(query, k)
    matches = []
    for rank, (score, row) in enumerate(zip(scores[0].tolist(), rows[0].tolist()), start=1):
        if row < 0:
            continue
        sentence_id = int(index.sentence_ids[row])
        position = int(index.positions[row])
        matches.append(Match(
            rank=rank,
            score=float(score) * scale,
            sentence_id=sentence_id,
            position=position,
            token=token_label(index.token_texts[sentence_id][position]),
            sentence=index.sentences[sentence_id],
        ))
    return matches


def search(
    index: CorpusIndex,
    query: QueryTokens,
    token: int,
    layer: int,
    mode: Mode = "embedding",
    heads: Sequence[int] | None = None,
    k: int = 10,
) -> list[Match]:
    """Nearest corpus tokens to token ``token`` of ``query`` (see :func:`search_vectors`)."""
    if not 0 <= token < len(query.labels):
        raise ValueError(f"token {token} is outside 0..{len(query.labels) - 1}")
    _check_layer(index, layer, mode)
    vector = query.hidden[layer, token] if mode == "embedding" else query.heads[layer - 1, token]
    return search_vectors(index, vector, layer, mode, heads, k)


@dataclass(frozen=True)
class Context:
    """Token pieces around a match: ``"".join(before) + token + "".join(after)`` is the text."""

    before: tuple[str, ...]
    token: str
    after: tuple[str, ...]
    cut_before: bool  # more tokens precede ``before``
    cut_after: bool


def match_context(index: CorpusIndex, match: Match, width: int = 5) -> Context:
    """Up to ``width`` tokens either side of the match (special tokens left out)."""
    tokens = index.token_texts[match.sentence_id]
    first, last = 1, len(tokens) - 1  # <s> ... </s>
    start = max(first, match.position - width)
    end = min(last, match.position + 1 + width)
    return Context(
        before=tokens[start: match.position],
        token=tokens[match.position],
        after=tokens[match.position + 1: end],
        cut_before=start > first,
        cut_after=end < last,
    )
