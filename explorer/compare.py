"""Differences between the analyses of two inputs A and B (numpy only, no model calls).

Differences are always B − A. Attention maps can be subtracted only when both inputs have the
same number of tokens; per-head summaries (entropy, attention to special tokens) and the
probabilities of the masked token can be compared for any two inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explorer.analysis import Analysis


def same_length(a: Analysis, b: Analysis) -> bool:
    return a.num_tokens == b.num_tokens


def attention_map(analysis: Analysis, layer: int, head: int | None) -> np.ndarray:
    """``attention[query, key]`` of one head, or the mean of all heads when ``head`` is None."""
    if head is None:
        return analysis.attentions[layer].mean(axis=0)
    return analysis.attentions[layer, head]


def attention_difference(a: Analysis, b: Analysis, layer: int, head: int | None) -> np.ndarray:
    """``difference[query, key]`` = B − A for one layer and head (or the head mean).

    Raises ValueError when the inputs have different token counts.
    """
    if not same_length(a, b):
        raise ValueError(f"A has {a.num_tokens} tokens and B has {b.num_tokens}; attention maps "
                         "can only be subtracted for inputs of the same length.")
    return attention_map(b, layer, head) - attention_map(a, layer, head)


def head_entropy(analysis: Analysis) -> np.ndarray:
    """``entropy[layer, head]``: the mean over queries of each attention row's entropy, in bits.

    0 means every query looks at a single token; log2(tokens) means uniform attention.
    """
    weights = analysis.attentions.astype(np.float64)
    logs = np.log2(np.where(weights > 0, weights, 1.0))
    return -(weights * logs).sum(axis=-1).mean(axis=-1)


def special_token_share(analysis: Analysis) -> np.ndarray:
    """``share[layer, head]``: the mean over queries of the attention mass on special tokens
    (``<s>``, ``</s>`` …; not ``<mask>``), a common "no-op" pattern of heads."""
    on_special = analysis.attentions[..., analysis.special_mask].sum(axis=-1)
    return on_special.astype(np.float64).mean(axis=-1)


@dataclass(frozen=True)
class HeadSummaryDifference:
    """Per-head summaries of A and B, each ``[layer, head]``."""

    entropy_a: np.ndarray
    entropy_b: np.ndarray
    special_a: np.ndarray
    special_b: np.ndarray

    @property
    def entropy_difference(self) -> np.ndarray:
        return self.entropy_b - self.entropy_a

    @property
    def special_difference(self) -> np.ndarray:
        return self.special_b - self.special_a


def head_summary_difference(a: Analysis, b: Analysis) -> HeadSummaryDifference:
    if a.attentions.shape[:2] != b.attentions.shape[:2]:
        raise ValueError("A and B come from models of different shapes.")
    return HeadSummaryDifference(
        entropy_a=head_entropy(a), entropy_b=head_entropy(b),
        special_a=special_token_share(a), special_b=special_token_share(b),
    )


@dataclass(frozen=True)
class TokenChange:
    """One candidate token for a mask, with its probability and rank under A and under B."""

    token_id: int
    token_str: str
    probability_a: float
    probability_b: float
    rank_a: int  # 1 = most likely, over the whole vocabulary
    rank_b: int

    @property
    def difference(self) -> float:
        return self.probability_b - self.probability_a


def _rank(probabilities: np.ndarray, token_id: int) -> int:
    return int((probabilities > probabilities[token_id]).sum()) + 1


def prediction_changes(a: Analysis, b: Analysis, mask: int, top_k: int) -> list[TokenChange]:
    """The union of A's and B's top-k tokens at their ``mask``-th mask, with both probabilities.

    Sorted by the larger of the two probabilities, most likely first. Raises IndexError when
    either input has fewer masks.
    """
    if mask >= len(a.predictions) or mask >= len(b.predictions):
        raise IndexError(f"mask {mask + 1} is missing from A or B")
    probabilities_a = a.mask_probabilities[mask]
    probabilities_b = b.mask_probabilities[mask]
    names: dict[int, str] = {}
    for analysis in (a, b):
        for prediction in analysis.predictions[mask].predictions[:top_k]:
            names.setdefault(prediction.token_id, prediction.token_str)
    changes = [
        TokenChange(
            token_id=token_id,
            token_str=name,
            probability_a=float(probabilities_a[token_id]),
            probability_b=float(probabilities_b[token_id]),
            rank_a=_rank(probabilities_a, token_id),
            rank_b=_rank(probabilities_b, token_id),
        )
        for token_id, name in names.items()
    ]
    changes.sort(key=lambda c: (-max(c.probability_a, c.probability_b), c.token_id))
    return changes
