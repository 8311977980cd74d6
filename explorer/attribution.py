"""Attribution beside attention, for one mask and one candidate token (no Streamlit here).

Two families of explanation, both on request (never on the interactive path):

**Gradients of the candidate's log-probability** with respect to each input token's *word
embedding* (``model.get_input_embeddings()``; position and token-type embeddings are added inside
the model and are not attributed):

- :func:`gradient_times_input`: ``x · ∂f/∂x`` (Shrikumar et al. 2016; Denil et al. 2014).
- :func:`integrated_gradients`: ``(x − x') · ∫₀¹ ∂f/∂x(x' + α(x − x')) dα`` (Sundararajan,
  Taly & Yan 2017, "Axiomatic Attribution for Deep Networks"), the integral by Gauss–Legendre
  quadrature (as captum's default) with ``steps`` points, evaluated in batches. *Completeness*:
  the attributions sum to ``f(x) − f(x')``; :class:`TokenAttribution` reports the error of that
  sum, which shrinks as ``steps`` grows.
- *Contrastive* attribution (Yin & Neubig 2022, "Interpreting Language Models with Contrastive
  Explanations"): the same methods applied to ``log p(target) − log p(foil)`` — "why *nurse*
  rather than *carpenter*?". Both methods are linear in ``f``, so it equals the difference of
  the two single attributions.

``f(x)`` is ``log p(target | x)`` at the chosen mask position (``log_softmax`` of the masked-LM
head's logits). A token's score is the attribution vector summed over the embedding dimension.

Baselines ``x'`` (:data:`BASELINES`); special tokens (``<s>``, ``</s>``, ``<mask>``…) keep their
own embedding in every baseline, so the baseline is still a well-formed input with the mask where
it was, and special tokens get exactly zero integrated-gradients attribution:

- ``"pad"`` (default): every other token replaced by the ``<pad>`` embedding — "no content";
- ``"mask"``: every other token replaced by the ``<mask>`` embedding — "every word hidden";
- ``"zero"``: every other token's embedding set to zeros (the paper's black-image analogue; off
  the embedding manifold).

**Norms of what attention moves** (Kobayashi, Kuribayashi, Yokoi & Inui 2020, "Attention is Not
Only a Weight: Analyzing Transformers with Vector Norms"): head ``h`` of a layer adds
``Σ_j α_ij f_h(x_j)`` to token ``i``, with ``f_h(x) = (x W_V^h + b_V^h) W_O^h``, ``x_j`` the
layer's input (``hidden_states[layer]``). :func:`value_weighted_attention` gives
``‖α_ij f_h(x_j)‖`` per layer and head, :func:`layer_value_weighted_attention` the whole layer's
``‖Σ_h α_ij^h f_h(x_j)‖``, and :func:`norm_rollout` rolls the latter up the layers as attention
rollout does (Abnar & Zuidema 2020) with each row normalised to sum to 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from explorer.architectures import ArchitectureError, architecture_for
from explorer.attention_stats import rollout
from explorer.forward import model_device, model_dtype, sequence_inputs
from explorer.lens import lm_head
from explorer.model import Loaded

BASELINES = ("pad", "mask", "zero")
"""Baselines for integrated gradients; see the module docstring."""

METHODS = ("integrated_gradients", "gradient_x_input")

ProgressCallback = Callable[[int, int], None]
"""``progress(done, total)``: path points evaluated so far, out of ``steps``."""


class AttributionError(ValueError):
    """The attribution cannot be computed; ``str(error)`` is a message fit for a user."""


# ---------------------------------------------------------------------------------------------
# Integrated gradients core (any differentiable function of one tensor)


def quadrature(steps: int, method: str = "gausslegendre") -> tuple[np.ndarray, np.ndarray]:
    """Points ``alphas[step]`` in (0, 1) and weights ``weights[step]`` summing to 1 for the path
    integral: ``gausslegendre`` (exact for polynomials of degree < 2·steps) or ``riemann_middle``.
    """
    if steps < 1:
        raise AttributionError("Integrated gradients needs at least 1 step.")
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        return (nodes + 1) / 2, weights / 2
    if method == "riemann_middle":
        return (np.arange(steps) + 0.5) / steps, np.full(steps, 1 / steps)
    raise AttributionError(f"Unknown integration method {method!r}.")


@dataclass(frozen=True)
class PathIntegral:
    """``attributions`` (the shape of the input), ``f(input)`` and ``f(baseline)``."""

    attributions: torch.Tensor
    value_at_input: float
    value_at_baseline: float

    @property
    def completeness_error(self) -> float:
        """``Σ attributions − (f(input) − f(baseline))``; 0 for an exact integral."""
        return float(self.attributions.sum()) - (self.value_at_input - self.value_at_baseline)


def _gradients(function: Callable[[torch.Tensor], torch.Tensor],
               points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``function`` values ``[batch]`` and gradients ``[batch, ...]`` at ``points[batch, ...]``.

    The batch items are independent (the model is in eval mode), so the gradient of the sum is
    each item's own gradient.
    """
    with torch.enable_grad():
        points = points.detach().requires_grad_(True)
        values = function(points)
        (gradients,) = torch.autograd.grad(values.sum(), points)
    return values.detach(), gradients


def integrated_gradients(
    function: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    baseline: torch.Tensor,
    *,
    steps: int = 32,
    batch_size: int = 8,
    method: str = "gausslegendre",
    progress: ProgressCallback | None = None,
) -> PathIntegral:
    """Integrated gradients of ``function`` (``[batch, *shape] → [batch]``) at ``inputs[*shape]``
    along the straight path from ``baseline[*shape]`` (Sundararajan et al. 2017, eq. 1)."""
    if inputs.shape != baseline.shape:
        raise AttributionError("The baseline must have the input's shape.")
    alphas, weights = quadrature(steps, method)
    delta = (inputs - baseline).detach()
    total = torch.zeros_like(inputs)
    done = 0
    if progress:
        progress(0, steps)
    for start in range(0, steps, max(1, batch_size)):
        alpha = torch.as_tensor(alphas[start:start + batch_size], dtype=inputs.dtype,
                                device=inputs.device)
        weight = torch.as_tensor(weights[start:start + batch_size], dtype=inputs.dtype,
                                 device=inputs.device)
        shape = (-1,) + (1,) * inputs.dim()
        points = baseline[None] + alpha.view(shape) * delta[None]
        _, gradients = _gradients(function, points)
        total += (weight.view(shape) * gradients).sum(dim=0)
        done += len(alpha)
        if progress:
            progress(done, steps)
    with torch.no_grad():
        ends = function(torch.stack([inputs, baseline]).detach())
    return PathIntegral(
        attributions=delta * total,
        value_at_input=float(ends[0]),
        value_at_baseline=float(ends[1]),
    )


def gradient_times_input_core(
    function: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor
) -> tuple[torch.Tensor, float]:
    """``inputs · ∂function/∂inputs`` at ``inputs[*shape]`` and ``function(inputs)``."""
    values, gradients = _gradients(function, inputs[None])
    return inputs.detach() * gradients[0], float(values[0])


# ---------------------------------------------------------------------------------------------
# The masked LM's log-probability as a function of the word embeddings


def log_probability_function(
    loaded: Loaded,
    token_ids: np.ndarray,
    position: int,
    target_id: int,
    contrast_id: int | None = None,
    token_type_ids: np.ndarray | None = None,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``f(embeddings[batch, token, dim]) → [batch]``: ``log p(target_id)`` at ``position``
    (minus ``log p(contrast_id)`` when given), with the word embeddings replaced by the argument
    (float32 on the model's device; the model runs in its own dtype). A pair's
    ``token_type_ids`` go in with every call (take them from the Analysis).

    Only the mask position goes through the masked-LM head (not every token), which saves most
    of a forward pass for a 50 k vocabulary.
    """
    model = loaded.model
    head = lm_head(model)
    base = model.base_model
    dtype = model_dtype(loaded)
    count = len(token_ids)
    vocab = architecture_for(model).vocab_size(model)
    for token in (target_id, contrast_id):
        if token is not None and not 0 <= int(token) < vocab:
            raise AttributionError(f"Token id {token} is outside the vocabulary.")
    if not 0 <= position < count:
        raise AttributionError(f"No token at position {position}.")

    def function(embeddings: torch.Tensor) -> torch.Tensor:
        inputs = sequence_inputs(loaded, token_ids, token_type_ids, batch=embeddings.shape[0])
        del inputs["input_ids"]
        # float32 path points, cast to the weights' dtype: the gradient comes back as float32
        output = base(inputs_embeds=embeddings.to(dtype), return_dict=True, **inputs)
        log_probs = head(output.last_hidden_state[:, position]).float().log_softmax(dim=-1)
        value = log_probs[:, int(target_id)]
        if contrast_id is not None:
            value = value - log_probs[:, int(contrast_id)]
        return value

    return function


def special_token_mask(loaded: Loaded, token_ids: np.ndarray) -> np.ndarray:
    """``special[token]``: True for the tokenizer's special tokens, the mask token included."""
    special_ids = set(loaded.tokenizer.all_special_ids)
    return np.array([int(i) in special_ids for i in token_ids], dtype=bool)


@torch.no_grad()
def word_embeddings(loaded: Loaded, token_ids: np.ndarray) -> torch.Tensor:
    """``embeddings[token, dim]``: the word embeddings of ``token_ids``, float32 on the model's
    device (the integration path is kept in float32 whatever the weights' dtype)."""
    ids = sequence_inputs(loaded, np.asarray(token_ids, dtype=np.int64))["input_ids"][0]
    return loaded.model.get_input_embeddings()(ids).float()


def baseline_embeddings(loaded: Loaded, token_ids: np.ndarray, kind: str = "pad") -> torch.Tensor:
    """``baseline[token, dim]`` of :data:`BASELINES` kind ``kind``; special tokens kept."""
    if kind not in BASELINES:
        raise AttributionError(f"Unknown baseline {kind!r}; choose one of {', '.join(BASELINES)}.")
    tokenizer = loaded.tokenizer
    inputs = word_embeddings(loaded, token_ids)
    keep = torch.from_numpy(special_token_mask(loaded, np.asarray(token_ids)))[:, None].to(
        inputs.device)
    with torch.no_grad():
        if kind == "zero":
            replacement = torch.zeros_like(inputs)
        else:
            replacement_id = tokenizer.pad_token_id if kind == "pad" else tokenizer.mask_token_id
            if replacement_id is None:
                raise AttributionError(f"This tokenizer has no {kind} token; choose another "
                                       "baseline.")
            replacement = word_embeddings(loaded, [replacement_id]).expand_as(inputs)
        return torch.where(keep, inputs, replacement)


def default_batch_size(tokens: int) -> int:
    """Path points per forward/backward pass: 16 up to 64 tokens (measured 4.5× faster than one
    at a time), fewer for longer inputs so that the saved activations stay ~≤ 0.5 GB (two points
    at 512 tokens: +534 MiB, at the speed of four, which took +1 081 MiB; docs/public-demo.md)."""
    return max(1, min(16, 1024 // max(1, tokens)))


@dataclass(frozen=True)
class TokenAttribution:
    """One attribution of a candidate at a mask. ``scores[token]`` (summed over the embedding
    dimension) sum to ``completeness_gap`` for integrated gradients.

    ``value``: ``f(x)`` — ``log p(target)`` (minus ``log p(contrast)`` when contrastive);
    ``baseline_value``: ``f(x')`` (None for gradient × input); ``completeness_error``:
    ``Σ scores − (f(x) − f(x'))`` (None for gradient × input).
    """

    method: str
    position: int
    target_id: int
    contrast_id: int | None
    scores: np.ndarray
    value: float
    baseline: str | None = None
    steps: int | None = None
    baseline_value: float | None = None
    completeness_error: float | None = None

    @property
    def completeness_gap(self) -> float | None:
        """``f(x) − f(x')``: what the integrated-gradients scores should sum to."""
        return None if self.baseline_value is None else self.value - self.baseline_value

    @property
    def relative_completeness_error(self) -> float | None:
        """``|completeness_error| / max(|f(x) − f(x')|, 1e-6)``."""
        if self.completeness_error is None or self.completeness_gap is None:
            return None
        return abs(self.completeness_error) / max(abs(self.completeness_gap), 1e-6)

    def as_rows(self, tokens: tuple[str, ...]) -> list[dict[str, object]]:
        """One row per token (for CSV/JSON export)."""
        return [{"position": i, "token": token, "score": float(score)}
                for i, (token, score) in enumerate(zip(tokens, self.scores))]


def attribute(
    loaded: Loaded,
    token_ids: np.ndarray,
    position: int,
    target_id: int,
    *,
    contrast_id: int | None = None,
    method: str = "integrated_gradients",
    baseline: str = "pad",
    steps: int = 32,
    batch_size: int | None = None,
    token_type_ids: np.ndarray | None = None,
    progress: ProgressCallback | None = None,
) -> TokenAttribution:
    """Attribute ``log p(target_id)`` at token ``position`` (a ``<mask>``) to every input token.

    ``method``: ``"integrated_gradients"`` or ``"gradient_x_input"``; ``contrast_id``: attribute
    ``log p(target) − log p(contrast)`` instead (Yin & Neubig 2022). Cost: integrated gradients
    is ``steps`` forward + backward passes, ``batch_size`` path points at a time (default:
    :func:`default_batch_size`) — see ``bench/attribution_cost.py``.
    """
    token_ids = np.array(token_ids, dtype=np.int64)  # a writable copy for torch
    batch_size = batch_size or default_batch_size(len(token_ids))
    function = log_probability_function(loaded, token_ids, position, target_id, contrast_id,
                                        token_type_ids)
    inputs = word_embeddings(loaded, token_ids)
    common = dict(position=int(position), target_id=int(target_id),
                  contrast_id=None if contrast_id is None else int(contrast_id))
    if method == "gradient_x_input":
        vectors, value = gradient_times_input_core(function, inputs)
        return TokenAttribution(method=method, scores=vectors.sum(dim=-1).cpu().numpy(),
                                value=value, **common)
    if method != "integrated_gradients":
        raise AttributionError(f"Unknown attribution method {method!r}.")
    result = integrated_gradients(
        function, inputs, baseline_embeddings(loaded, token_ids, baseline),
        steps=steps, batch_size=batch_size, progress=progress,
    )
    return TokenAttribution(
        method=method, scores=result.attributions.sum(dim=-1).cpu().numpy(),
        value=result.value_at_input, baseline=baseline, steps=steps,
        baseline_value=result.value_at_baseline,
        completeness_error=result.completeness_error, **common,
    )


# ---------------------------------------------------------------------------------------------
# Value-weighted attention (Kobayashi et al. 2020)


def _head_transforms(
    loaded: Loaded, layer: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, nn.Module | None]:
    """``value_weight[head, dim, head_dim]``, ``value_bias[head, head_dim]``,
    ``output_weight[head, head_dim, dim]`` and the pre-attention norm (or None) of ``layer``:
    ``f_h(x) = (norm(x) W_V^h + b_V^h) W_O^h``, from the architecture table."""
    try:
        parts = architecture_for(loaded.model).value_projection(loaded.model, layer)
    except ArchitectureError as error:
        raise AttributionError(str(error)) from error
    heads = loaded.info.num_heads
    out_features, dim = parts.weight.shape
    head_dim = out_features // heads
    # x @ weight.T + bias; weight is [out, in].
    value_weight = parts.weight.float().T.reshape(dim, heads, head_dim).transpose(0, 1)
    value_bias = (parts.bias.float() if parts.bias is not None
                  else torch.zeros(out_features, device=parts.weight.device)
                  ).reshape(heads, head_dim)
    output_weight = parts.output.weight.detach().float().T.reshape(heads, head_dim, -1)
    return value_weight, value_bias, output_weight, parts.input_norm


@torch.no_grad()
def transformed_values(loaded: Loaded, hidden_states: np.ndarray, layer: int) -> torch.Tensor:
    """``f[head, key, dim]`` = ``f_h(x_key)``, for ``layer``'s input ``hidden_states[layer]``."""
    value_weight, value_bias, output_weight, input_norm = _head_transforms(loaded, layer)
    inputs = torch.tensor(np.asarray(hidden_states[layer]), dtype=torch.float32).to(
        model_device(loaded))
    if input_norm is not None:
        parameter = next(input_norm.parameters(), None)
        dtype = parameter.dtype if parameter is not None else torch.float32
        inputs = input_norm(inputs.to(dtype)).float()
    values = torch.einsum("kd,hde->hke", inputs, value_weight) + value_bias[:, None]
    return torch.einsum("hke,heo->hko", values, output_weight)


def value_vector_norms(loaded: Loaded, hidden_states: np.ndarray) -> np.ndarray:
    """``norms[layer, head, key]`` = ``‖f_h(x_key)‖``, from
    ``hidden_states[layer + 1, token, dim]``."""
    layers = loaded.info.num_layers
    return np.stack([
        transformed_values(loaded, hidden_states, layer).norm(dim=-1).cpu().numpy()
        for layer in range(layers)
    ])


def value_weighted_attention(
    loaded: Loaded, attentions: np.ndarray, hidden_states: np.ndarray
) -> np.ndarray:
    """``weighted[layer, head, query, key]`` = ``‖α_qk f_h(x_k)‖`` (= ``α_qk ‖f_h(x_k)‖``).

    ``attentions[layer, head, query, key]`` and ``hidden_states[layer + 1, token, dim]`` as in an
    :class:`~explorer.analysis.Analysis`. Rows no longer sum to 1: a weight on a token whose
    transformed value is small counts little (Kobayashi et al. 2020 show ``<s>``/``</s>``/
    punctuation get large weights but small norms).
    """
    norms = value_vector_norms(loaded, hidden_states)
    return np.asarray(attentions, dtype=np.float32) * norms[:, :, None, :]


@torch.no_grad()
def layer_value_weighted_attention(
    loaded: Loaded, attentions: np.ndarray, hidden_states: np.ndarray, query_chunk: int = 32
) -> np.ndarray:
    """``combined[layer, query, key]`` = ``‖Σ_h α^h_qk f_h(x_k)‖``: how much of token ``key``
    the whole attention layer moves into ``query`` (heads combined before the norm)."""
    layers, _, count, _ = np.shape(attentions)
    result = np.empty((layers, count, count), dtype=np.float32)
    for layer in range(layers):
        values = transformed_values(loaded, hidden_states, layer)  # [head, key, dim]
        weights = torch.tensor(np.asarray(attentions[layer]), dtype=torch.float32).to(
            values.device)
        for start in range(0, count, query_chunk):
            block = torch.einsum("hqk,hkd->qkd", weights[:, start:start + query_chunk], values)
            result[layer, start:start + query_chunk] = block.norm(dim=-1).cpu().numpy()
    return result


def norm_rollout(combined: np.ndarray) -> np.ndarray:
    """``rollout[layer, query, key]``: attention rollout (Abnar & Zuidema 2020) of the row-
    normalised :func:`layer_value_weighted_attention` — the residual path mixed in as
    ``0.5 · A + 0.5 · I`` and the layers multiplied from layer 1 up. Rows sum to 1."""
    combined = np.asarray(combined, dtype=np.float64)
    rows = combined / np.maximum(combined.sum(axis=-1, keepdims=True), 1e-12)
    return rollout(rows[:, None])  # one "head" per layer
