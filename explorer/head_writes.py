"""What each head and each feed-forward block writes at one token, read through the model's own
masked-LM head (no Streamlit here).

Head ``h`` of layer ``l`` adds ``write[h] = Σ_key α^h[token, key] (x_key W_V^h + b_V^h) W_O^h``
to the token's attention output; the writes of all heads plus the projection's bias are that
output exactly (before the residual and the LayerNorm). The feed-forward block adds
``W_2 act(W_1 h + b_1) + b_2`` of the block's LayerNorm output ``h``. Each vector goes through
the architecture table's lens (the family's final norm where it has one, then the masked-LM head):
the tokens it promotes are its highest logits, those it suppresses its lowest.

The masked-LM heads of these families are not linear (dense → activation → LayerNorm → decoder),
and post-norm blocks renormalise the stream after each block, so a write read alone shows which
tokens its direction points to, not its additive share of the final prediction (see
:data:`READING_NOTE`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from explorer.analysis import Analysis
from explorer.architectures import architecture_for
from explorer.contributions import ContributionError, _block, _value_projections, layer_parts
from explorer.model import Loaded

READING_NOTE = (
    "The masked-LM head is not linear (dense, activation, LayerNorm, decoder) and each block's "
    "LayerNorm rescales what the heads wrote, so a single write read through the head shows the "
    "tokens its direction points to, not how much it adds to the final prediction. Use ablation "
    "or patching for effects.")


@dataclass(frozen=True)
class TokenReading:
    """The ``top_k`` tokens a vector promotes and suppresses, as (token text, logit)."""

    promoted: tuple[tuple[str, float], ...]
    suppressed: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Writes:
    """Layer ``layer``'s writes at ``token``: ``heads[head, dim]``, the projection's
    ``attention_bias[dim]`` (which includes what the value biases carry), ``ffn[dim]``, and a
    :class:`TokenReading` per head (``head_readings[head]``) and for the block."""

    layer: int
    token: int
    heads: np.ndarray
    attention_bias: np.ndarray
    ffn: np.ndarray
    head_readings: tuple[TokenReading, ...]
    ffn_reading: TokenReading


def _reading(loaded: Loaded, logits: torch.Tensor, top_k: int) -> TokenReading:
    decode = loaded.tokenizer.decode
    high, low = logits.topk(top_k), (-logits).topk(top_k)
    return TokenReading(
        promoted=tuple((decode([int(i)]), float(v)) for v, i in zip(*high)),
        suppressed=tuple((decode([int(i)]), -float(v)) for v, i in zip(*low)))


@torch.inference_mode()
def read_through_head(loaded: Loaded, vectors: torch.Tensor) -> torch.Tensor:
    """``logits[row, vocab]`` of ``vectors[row, dim]`` through the family's lens (float32)."""
    model = loaded.model
    lens = architecture_for(model).lens_function(model)
    parameter = next(model.parameters())
    return lens(vectors.to(device=parameter.device, dtype=parameter.dtype), False).float().cpu()


def layer_writes(loaded: Loaded, analysis: Analysis, layer: int, token: int,
                 top_k: int = 5) -> Writes:
    """Every head's and the feed-forward block's write at ``token`` in layer ``layer``
    (both 0-based), with what each promotes and suppresses."""
    if not (0 <= layer < analysis.num_layers and 0 <= token < analysis.num_tokens):
        raise ContributionError(f"There is no layer {layer + 1} or token {token + 1} here.")
    block = _block(loaded, layer)
    x = torch.from_numpy(np.array(analysis.hidden_states[layer], dtype=np.float32))
    heads = analysis.num_heads
    projected = _value_projections(block, x, heads)  # [key, head, dim]
    alpha = torch.from_numpy(np.array(analysis.attentions[layer][:, token], dtype=np.float32))
    value_bias_out = torch.einsum("he,dhe->hd", block.value_bias.view(heads, -1),
                                  block.out_weight.view(x.shape[1], heads, -1))
    # each head's write includes its value bias, weighted by its attention row (which sums to 1)
    head_writes = torch.einsum("hn,nhd->hd", alpha, projected) + \
        alpha.sum(-1)[:, None] * value_bias_out
    normed = layer_parts(loaded, analysis, layer, np.array([token]), through_ffn=False).output
    with torch.no_grad():
        inner = block.activation(normed @ block.ffn_in_weight.T + block.ffn_in_bias)
    ffn = (inner @ block.ffn_out_weight.T + block.ffn_out_bias)[0]
    logits = read_through_head(loaded, torch.cat([head_writes, ffn[None]]))
    readings = [_reading(loaded, row, top_k) for row in logits]
    return Writes(layer=layer, token=token, heads=head_writes.numpy(),
                  attention_bias=block.out_bias.numpy(), ffn=ffn.numpy(),
                  head_readings=tuple(readings[:heads]), ffn_reading=readings[heads])
