"""Which tokens built each token's representation, layer by layer (no Streamlit here).

Raw attention says where a head looks, not what reaches the next layer: in a post-LayerNorm
encoder block (RoBERTa, BERT, DistilBERT …) the residual stream, the LayerNorms and the
feed-forward block all change how much of each token a layer's output holds. This module splits
each layer's output exactly into one vector per layer-input token plus a bias:

    out[q] = Σ_key parts[q, key] + bias[q]                     (exact, to float tolerance)

- attention + residual (ALTI, Ferrando et al. 2022, arXiv 2203.04212): the attention output of
  query ``q`` is ``Σ_h Σ_key α^h[q, key] (x_key W_V^h) W_O^h`` plus biases; the residual adds
  ``x_q`` to key ``q``'s part.
- LayerNorm: ``LN(Σ parts + bias) = Σ g(part) + g(bias) + β`` with ``g(v) = γ ⊙ (v − mean v) / σ``
  and ``σ`` the standard deviation of the whole sum (fixed by the actual input): exact, linear.
- feed-forward block (DecompX, Modarressi et al. ACL 2023, arXiv 2306.02873): each neuron's
  activation is split in proportion to its input, ``act(z) = (act(z) / z) · Σ z_part``, which
  keeps the sum exact.

Each part's share is ALTI's: ``c[q, key] = max(0, ‖y_q‖₁ − ‖y_q − part[q, key]‖₁)``, normalised
over keys (rows sum to 1). Across layers the shares compose by matrix product (ALTI's rollout):
``total[layer] = c[layer] @ total[layer − 1]``.

Memory: queries are processed in chunks, ``chunk × tokens × max(dim, ffn)`` floats at a time;
per-head maps use ``‖g(α P)‖ = α ‖g(P)‖`` so no ``tokens² × heads × dim`` array is ever built.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from explorer.analysis import Analysis
from explorer.architectures import CONTRIBUTIONS, ArchitectureError, architecture_for
from explorer.model import Loaded

CHUNK_BYTES = 64 * 2**20
"""Bytes of float32 one chunk of queries may hold (``chunk × tokens × ffn``)."""


class ContributionError(ValueError):
    """Contributions cannot be computed for this model; ``str(error)`` is fit for a user."""


@dataclass(frozen=True)
class _Norm:
    weight: torch.Tensor  # γ[dim]
    bias: torch.Tensor  # β[dim]
    eps: float


@dataclass(frozen=True)
class _Block:
    """One layer's weights, float32 on the CPU: ``value_weight[head * head_size + i, dim]``,
    ``out_weight[dim, head * head_size + i]`` (W_O), the two norms and the feed-forward maps."""

    value_weight: torch.Tensor
    value_bias: torch.Tensor
    out_weight: torch.Tensor
    out_bias: torch.Tensor
    norm1: _Norm
    ffn_in_weight: torch.Tensor
    ffn_in_bias: torch.Tensor
    activation: torch.nn.Module
    ffn_out_weight: torch.Tensor
    ffn_out_bias: torch.Tensor
    norm2: _Norm


def _cpu(tensor: torch.Tensor | None, size: int) -> torch.Tensor:
    if tensor is None:
        return torch.zeros(size)
    return tensor.detach().float().cpu()


def _norm(module: torch.nn.Module) -> _Norm:
    weight = getattr(module, "weight", None)
    if weight is None or not hasattr(module, "eps"):
        raise ContributionError("The contribution graph needs LayerNorms with a weight.")
    return _Norm(weight=_cpu(weight, 0), bias=_cpu(getattr(module, "bias", None),
                                                   weight.shape[0]), eps=float(module.eps))


def _block(loaded: Loaded, layer: int) -> _Block:
    model = loaded.model
    architecture = architecture_for(model)
    if not architecture.supports(CONTRIBUTIONS):
        raise ContributionError(architecture.why_not(CONTRIBUTIONS))
    try:
        values = architecture.value_projection(model, layer)
        parts = architecture.block_parts(model, layer)
    except ArchitectureError as error:
        raise ContributionError(str(error)) from error
    if values.input_norm is not None:
        raise ContributionError(f"{architecture.family} is a pre-norm model; the contribution "
                                "graph follows post-norm blocks only.")
    dim = values.output.weight.shape[0]
    ffn_in, ffn_out = parts["ffn_in"], parts["ffn_out"]
    return _Block(
        value_weight=_cpu(values.weight, 0), value_bias=_cpu(values.bias, values.weight.shape[0]),
        out_weight=_cpu(values.output.weight, 0), out_bias=_cpu(values.output.bias, dim),
        norm1=_norm(parts["attention_norm"]),
        ffn_in_weight=_cpu(ffn_in.weight, 0), ffn_in_bias=_cpu(ffn_in.bias, ffn_in.out_features),
        activation=parts["ffn_activation"],
        ffn_out_weight=_cpu(ffn_out.weight, 0), ffn_out_bias=_cpu(ffn_out.bias, dim),
        norm2=_norm(parts["output_norm"]))


def _sigma(total: torch.Tensor, eps: float) -> torch.Tensor:
    """``σ[q]`` of LayerNorm for ``total[q, dim]``: sqrt of the biased variance plus eps."""
    return torch.sqrt(total.var(dim=-1, unbiased=False) + eps)


def _centre(vectors: torch.Tensor) -> torch.Tensor:
    return vectors - vectors.mean(dim=-1, keepdim=True)


@dataclass(frozen=True)
class LayerParts:
    """Layer ``layer``'s output at ``queries`` split by layer-input token:
    ``output[q] = parts[q, key].sum(key) + bias[q]``; ``through_ffn=False`` stops after the
    attention block's LayerNorm (ALTI's scope), ``True`` goes through the whole layer."""

    queries: np.ndarray
    parts: torch.Tensor  # parts[query, key, dim]
    bias: torch.Tensor  # bias[query, dim]

    @property
    def output(self) -> torch.Tensor:
        return self.parts.sum(dim=1) + self.bias


def _value_projections(block: _Block, x: torch.Tensor, heads: int) -> torch.Tensor:
    """``projected[key, head, dim] = (x_key W_V^h) W_O^h`` (values without their bias)."""
    n, dim = x.shape
    values = (x @ block.value_weight.T).view(n, heads, -1)  # values[key, head, i]
    out = block.out_weight.view(dim, heads, -1)  # W_O[dim, head, i]
    return torch.einsum("nhe,dhe->nhd", values, out)


def layer_parts(loaded: Loaded, analysis: Analysis, layer: int,
                queries: np.ndarray | None = None, *, through_ffn: bool = True) -> LayerParts:
    """The exact split of layer ``layer`` (0-based) at ``queries`` (default: all tokens)."""
    block = _block(loaded, layer)
    x = torch.from_numpy(np.array(analysis.hidden_states[layer], dtype=np.float32))
    heads = analysis.num_heads
    projected = _value_projections(block, x, heads)
    value_bias_out = torch.einsum("he,dhe->hd", block.value_bias.view(heads, -1),
                                  block.out_weight.view(x.shape[1], heads, -1))
    queries = np.arange(analysis.num_tokens) if queries is None else np.asarray(queries)
    return _parts(block, x, projected, value_bias_out, analysis.attentions[layer], queries,
                  through_ffn)


def _parts(block: _Block, x: torch.Tensor, projected: torch.Tensor,
           value_bias_out: torch.Tensor, layer_attentions: np.ndarray, queries: np.ndarray,
           through_ffn: bool) -> LayerParts:
    # alpha[head, query, key] for the chunk's queries
    alpha = torch.from_numpy(np.array(layer_attentions[:, queries, :], dtype=np.float32))
    parts = torch.einsum("hqn,nhd->qnd", alpha, projected)  # attention: parts[query, key, dim]
    rows = torch.arange(len(queries))
    parts[rows, torch.from_numpy(queries)] += x[torch.from_numpy(queries)]  # the residual
    # biases: Σ_h (Σ_key α) b_V^h W_O^h + b_O (each head's row sums to 1, up to rounding)
    bias = torch.einsum("hq,hd->qd", alpha.sum(dim=-1), value_bias_out) + block.out_bias
    sigma = _sigma(parts.sum(dim=1) + bias, block.norm1.eps)[:, None]
    gamma, beta = block.norm1.weight, block.norm1.bias
    parts = gamma * _centre(parts) / sigma[:, None]
    bias = gamma * _centre(bias) / sigma + beta
    if not through_ffn:
        return LayerParts(queries=queries, parts=parts, bias=bias)
    z_parts = parts @ block.ffn_in_weight.T  # z_parts[query, key, neuron]
    z_bias = bias @ block.ffn_in_weight.T + block.ffn_in_bias
    z = z_parts.sum(dim=1) + z_bias
    with torch.no_grad():
        activated = block.activation(z)
    ratio = torch.where(z != 0, activated / torch.where(z != 0, z, 1.0), 0.0)
    ffn_parts = (ratio[:, None, :] * z_parts) @ block.ffn_out_weight.T
    ffn_bias = (ratio * z_bias) @ block.ffn_out_weight.T + block.ffn_out_bias
    parts, bias = parts + ffn_parts, bias + ffn_bias
    sigma = _sigma(parts.sum(dim=1) + bias, block.norm2.eps)[:, None]
    gamma, beta = block.norm2.weight, block.norm2.bias
    return LayerParts(queries=queries, parts=gamma * _centre(parts) / sigma[:, None],
                      bias=gamma * _centre(bias) / sigma + beta)


def alti_shares(parts: LayerParts) -> np.ndarray:
    """``shares[query, key]``: ALTI's ``max(0, ‖y‖₁ − ‖y − part‖₁)``, each row summing to 1."""
    output = parts.output[:, None, :]
    scores = (output.abs().sum(-1) - (output - parts.parts).abs().sum(-1)).clamp(min=0)
    total = scores.sum(dim=-1, keepdim=True)
    return (scores / torch.where(total > 0, total, 1.0)).numpy()


def _chunk(tokens: int, width: int) -> int:
    return max(1, min(tokens, CHUNK_BYTES // max(1, 4 * tokens * width)))


@dataclass(frozen=True)
class Contributions:
    """``shares[layer, query, key]``: how much of layer ``layer``'s output at ``query`` came
    from its input at ``key`` (rows sum to 1); ``through_ffn`` says whether the feed-forward
    block and second LayerNorm were followed (else ALTI's attention block alone)."""

    shares: np.ndarray
    through_ffn: bool

    @property
    def num_layers(self) -> int:
        return int(self.shares.shape[0])

    def rollout(self) -> np.ndarray:
        """``total[layer + 1, query, input token]``: shares composed from the embeddings
        (index 0 is the identity), ALTI's rollout; rows sum to 1."""
        n = self.shares.shape[-1]
        total = [np.eye(n, dtype=np.float32)]
        for layer in range(self.num_layers):
            total.append(self.shares[layer] @ total[-1])
        return np.stack(total)


def contributions(loaded: Loaded, analysis: Analysis, *, through_ffn: bool = True,
                  chunk: int | None = None) -> Contributions:
    """Every layer's :func:`alti_shares` for every token, computed in chunks of queries."""
    n = analysis.num_tokens
    shares = np.zeros((analysis.num_layers, n, n), dtype=np.float32)
    for layer in range(analysis.num_layers):
        block = _block(loaded, layer)
        x = torch.from_numpy(np.array(analysis.hidden_states[layer], dtype=np.float32))
        heads = analysis.num_heads
        projected = _value_projections(block, x, heads)
        value_bias_out = torch.einsum("he,dhe->hd", block.value_bias.view(heads, -1),
                                      block.out_weight.view(x.shape[1], heads, -1))
        step = chunk or _chunk(n, block.ffn_in_weight.shape[0] if through_ffn else x.shape[1])
        for start in range(0, n, step):
            queries = np.arange(start, min(n, start + step))
            parts = _parts(block, x, projected, value_bias_out, analysis.attentions[layer],
                           queries, through_ffn)
            shares[layer, queries] = alti_shares(parts)
    shares.setflags(write=False)
    return Contributions(shares=shares, through_ffn=through_ffn)


def head_contribution_maps(loaded: Loaded, analysis: Analysis, layer: int) -> np.ndarray:
    """``maps[head, query, key]``: the size (L1 norm) of what head ``head`` moves from ``key``
    into ``query``'s attention-block output, after the LayerNorm's scaling (the norm-based
    analysis of Kobayashi et al. 2020 with GlobEnc's LayerNorm, Modarressi et al. 2022).

    Uses ``‖γ ⊙ centre(α P)‖ / σ = α ‖γ ⊙ centre(P)‖ / σ``: no ``tokens² × heads × dim`` array.
    """
    block = _block(loaded, layer)
    x = torch.from_numpy(np.array(analysis.hidden_states[layer], dtype=np.float32))
    heads = analysis.num_heads
    projected = _value_projections(block, x, heads)  # [key, head, dim]
    sizes = (block.norm1.weight * _centre(projected)).abs().sum(-1)  # sizes[key, head]
    alpha = torch.from_numpy(np.array(analysis.attentions[layer], dtype=np.float32))
    value_bias_out = torch.einsum("he,dhe->hd", block.value_bias.view(heads, -1),
                                  block.out_weight.view(x.shape[1], heads, -1))
    # σ of each query's LayerNorm input: the attention output plus the residual
    attention_output = torch.einsum("hqn,nhd->qd", alpha, projected) + \
        torch.einsum("hq,hd->qd", alpha.sum(-1), value_bias_out) + block.out_bias
    sigma = _sigma(attention_output + x, block.norm1.eps)  # sigma[query]
    maps = alpha * sizes.T[:, None, :] / sigma[None, :, None]
    return maps.numpy()


@dataclass(frozen=True)
class Edge:
    """``weight`` of layer ``layer``'s (0-based) input token ``source`` in its output token
    ``target``."""

    layer: int
    source: int
    target: int
    weight: float


def paths_into(shares: np.ndarray, token: int, threshold: float) -> list[Edge]:
    """The edges of ``shares[layer, query, key]`` at or above ``threshold`` on a path into
    ``token`` at the last layer, walking back layer by layer (what the graph draws)."""
    targets = {int(token)}
    edges: list[Edge] = []
    for layer in range(shares.shape[0] - 1, -1, -1):
        sources: set[int] = set()
        for target in sorted(targets):
            for source in np.flatnonzero(shares[layer, target] >= threshold):
                edges.append(Edge(layer, int(source), target, float(shares[layer, target,
                                                                            source])))
                sources.add(int(source))
        targets = sources
    return edges
