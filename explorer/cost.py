"""What each expensive action costs, known before it starts, and the limits a server sets
(no Streamlit here).

One unit for every action: **token-passes**, the tokens a job reads times the forward passes it
runs over them (a backward pass counts as two forward passes, so one gradient step is 3):

| action | tokens | passes |
| --- | --- | --- |
| analysis, ablation, attention flow | the text's | 1 |
| tooltip predictions (the LM head at every token), attention-view file | the text's | 1 |
| attribution, gradient × input | the text's | 3 |
| attribution, integrated gradients | the text's | 3 × steps |
| Models comparison over sentences | every sentence's | 2 (model A, model B) |
| contribution graph, through the FFN (attention only) | the text's | tokens ÷ 2 (÷ 12) |
| patching B with A (Compare) | the texts' | layers × (heads + tokens) + 2 |
| corpus index, head patterns | every line's | 1 |

Limits (each stated on the page that applies it; in public mode, ``$EXPLORER_PUBLIC=1``, the
defaults are lower):

- one job at most :func:`max_job_token_passes` (``$EXPLORER_MAX_JOB_TOKEN_PASSES``; 1 000 000,
  public 100 000): refused before it starts, with what would fit (fewer steps, fewer lines);
- pasted sentences (Models page) at most :func:`max_pasted_tokens`
  (``$EXPLORER_MAX_PASTED_TOKENS``; 20 000, public 5 000);
- an uploaded corpus at most :func:`explorer.corpus.limits.max_upload_tokens`
  (``$EXPLORER_CORPUS_MAX_TOKENS``; 20 000, public 5 000).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from explorer.jobs import BATCH, PASS

MAX_JOB_ENV_VAR = "EXPLORER_MAX_JOB_TOKEN_PASSES"
DEFAULT_MAX_JOB = 1_000_000
PUBLIC_MAX_JOB = 100_000
MAX_PASTED_ENV_VAR = "EXPLORER_MAX_PASTED_TOKENS"
DEFAULT_MAX_PASTED = 20_000
PUBLIC_MAX_PASTED = 5_000
GRADIENT_PASSES = 3
"""A forward and a backward pass (the backward costs about two forward passes)."""
MAX_ATTRIBUTION_STEPS = 512


def public_mode() -> bool:
    from explorer.model import public_mode as is_public
    return is_public()


def _limit(name: str, default: int, public: int) -> int:
    raw = os.environ.get(name, "").strip()
    try:
        value = int(float(raw)) if raw else 0
    except ValueError:
        value = 0
    return value if value > 0 else (public if public_mode() else default)


def max_job_token_passes() -> int:
    """The most token-passes one job may cost on this server."""
    return _limit(MAX_JOB_ENV_VAR, DEFAULT_MAX_JOB, PUBLIC_MAX_JOB)


def max_pasted_tokens() -> int:
    """The most tokens of sentences typed or pasted into one box (Models page)."""
    return _limit(MAX_PASTED_ENV_VAR, DEFAULT_MAX_PASTED, PUBLIC_MAX_PASTED)


@dataclass(frozen=True)
class Cost:
    """An action's cost before it starts: ``tokens`` × ``passes`` token-passes."""

    action: str
    tokens: int
    passes: int
    batch: bool = False  # corpus work of one pass over many lines: the batch lane all the same

    @property
    def token_passes(self) -> int:
        return int(self.tokens) * int(self.passes)

    @property
    def lane(self) -> str:
        """Which limiter runs it (:func:`explorer.jobs.limiter`): one-pass work, or batches."""
        return PASS if self.passes <= 1 and not self.batch else BATCH

    def problem(self, limit: int | None = None) -> str:
        """Why this server will not run it ("" when it will), stating the limit."""
        limit = max_job_token_passes() if limit is None else limit
        if self.token_passes <= limit:
            return ""
        return (f"This {self.action} would cost {self.token_passes:,} token-passes "
                f"({self.tokens:,} tokens × {self.passes:,} passes); this server runs at most "
                f"{limit:,} per request.")


def analysis_cost(tokens: int) -> Cost:
    return Cost("analysis", tokens, 1)


def token_predictions_cost(tokens: int) -> Cost:
    """The LM head at every position of an analysed text (the tooltips' guesses): a
    ``hidden × vocabulary`` product per token, about what the encoder costs, so one pass."""
    return Cost("tooltip predictions", tokens, 1)


def graph_file_cost(tokens: int) -> Cost:
    """The attention view's file: value-vector norms (one projection per layer) and the packed
    attentions of an analysed text; less than a pass, counted as one."""
    return Cost("attention view", tokens, 1)


def value_norms_cost(tokens: int) -> Cost:
    """Value-weighted attention and its rollouts: one value projection and one output
    projection per layer and head over the analysed text (5.6 CPU s and +236 MiB at 512
    tokens, measured by bench/abuse.py's profile); counted as one pass, but run in the batch
    lane: in the one-pass lane 32 visitors' value norms queued ahead of a new visitor's first
    table (no table within 240 s in bench/abuse.py mix32). It is an on-demand view; the
    first table is not."""
    return Cost("value norms", tokens, 1, batch=True)


def ablation_cost(tokens: int) -> Cost:
    return Cost("ablation", tokens, 1)


def flow_cost(tokens: int) -> Cost:
    """One max-flow per token and layer on a graph of ``tokens`` nodes per layer (at most 128
    tokens): counted as one pass."""
    return Cost("attention flow", tokens, 1)


def contribution_cost(tokens: int, through_ffn: bool) -> Cost:
    """The decomposition costs ``tokens² × hidden × ffn`` per layer (every query's split over
    every key goes through the feed-forward block), not a forward pass: measured at 512 tokens on
    the distilroberta-shaped model, 259× one analysis through the FFN and 41× for the attention
    block alone (``bench/contributions_cost.py``), i.e. about tokens ÷ 2 and tokens ÷ 12 passes."""
    divisor = 2 if through_ffn else 12
    return Cost("contribution graph", tokens, max(1, -(-int(tokens) // divisor)))


def patching_cost(layers: int, heads: int, tokens: int) -> Cost:
    """One batched pass per layer with a row per head, one per layer with a row per position,
    and the two unpatched runs."""
    return Cost("patching", tokens, layers * (heads + tokens) + 2)


def attribution_passes(method: str, steps: int) -> int:
    return GRADIENT_PASSES * (int(steps) if method == "integrated_gradients" else 1)


def attribution_cost(tokens: int, method: str, steps: int) -> Cost:
    return Cost("attribution", tokens, attribution_passes(method, steps))


def max_attribution_steps(tokens: int, limit: int | None = None) -> int:
    """The most integrated-gradients steps a text of ``tokens`` tokens may take here (≥ 1)."""
    limit = max_job_token_passes() if limit is None else limit
    return max(1, min(MAX_ATTRIBUTION_STEPS, limit // (GRADIENT_PASSES * max(1, tokens))))


def sentences_cost(tokens: int) -> Cost:
    return Cost("comparison over sentences", tokens, 2)


def corpus_index_cost(tokens: int) -> Cost:
    return Cost("corpus index", tokens, 1)


def head_patterns_cost(tokens: int) -> Cost:
    return Cost("head statistics run", tokens, 1)


def corpus_mean_cost(tokens: int) -> Cost:
    """Each head's mean output over the corpus: one pass over its lines (``tokens`` in all), in
    batches, in the batch lane like the other corpus work."""
    return Cost("corpus mean of the heads", tokens, 1, batch=True)


def pasted_problem(tokens: int, limit: int | None = None) -> str:
    """Why pasted sentences of ``tokens`` tokens are refused ("" when they fit)."""
    limit = max_pasted_tokens() if limit is None else limit
    if tokens <= limit:
        return ""
    return (f"These sentences have {tokens:,} tokens; this server compares at most {limit:,} "
            "tokens of typed sentences. Remove some lines.")
