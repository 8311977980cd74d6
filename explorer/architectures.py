"""Everything model-specific, in one table: one :class:`Architecture` per masked-LM family.

Every other module asks this table where a family keeps its encoder, its layers, the attention
output projection of each layer (the head-output hook point used by ablation, corpus search and
the neuron view), its masked-LM head, how its special tokens are named and what it cannot do.
Nothing else probes module paths. Adding a family is one entry here plus its row in the test
matrix (``tests/test_families.py``), as TransformerLens' per-architecture adapters do.

No Streamlit here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

HeadFunction = Callable[[torch.Tensor], torch.Tensor]
"""``logits[..., vocab] = head(hidden[..., dim])``."""

# Views a family may lack; pages ask :meth:`Architecture.supports` and show ``why_not``.
NEURON_VIEW = "neuron view"
VALUE_NORMS = "value-weighted attention"


class ArchitectureError(ValueError):
    """The model is not in the table, or does not have the parts its entry names; ``str(error)``
    is a message fit for a user."""


def _path(root: Any, dotted: str) -> Any:
    """``root.a.b.c`` for ``dotted = "a.b.c"``; integer parts index lists."""
    value = root
    for part in dotted.split("."):
        value = value[int(part)] if part.isdigit() else getattr(value, part)
    return value


def _sequential(*paths: str) -> Callable[[nn.Module], HeadFunction]:
    """A head made of modules applied one after the other (paths relative to the masked LM)."""
    def head(model: nn.Module) -> HeadFunction:
        modules = [_path(model, p) for p in paths]

        def apply(hidden: torch.Tensor) -> torch.Tensor:
            for module in modules:
                hidden = module(hidden)
            return hidden
        return apply
    return head


def _deberta_head(model: nn.Module) -> HeadFunction:
    if getattr(model, "legacy", True):
        return model.cls
    words = model.deberta.embeddings.word_embeddings
    return lambda hidden: model.lm_predictions(hidden, words)


def _albert_layers(encoder: nn.Module, config: Any) -> list[nn.Module]:
    """ALBERT shares layers: layer ``i`` runs group ``i * groups // layers``."""
    if int(getattr(config, "inner_group_num", 1)) != 1:
        raise ArchitectureError("ALBERT models with several layers per group are not supported.")
    groups = encoder.albert_layer_groups
    count = int(config.num_hidden_layers)
    return [groups[int(i / (count / len(groups)))].albert_layers[0] for i in range(count)]


@dataclass(frozen=True)
class ValueProjection:
    """What one layer's heads do to the token they read: ``weight[head * head_size + i, dim]``
    and ``bias`` of the value map (``x @ weight.T + bias``), the pre-attention norm (None for
    post-norm families) and the attention output projection ``output`` (``W_O``)."""

    weight: torch.Tensor
    bias: torch.Tensor | None
    input_norm: nn.Module | None
    output: nn.Linear


@dataclass(frozen=True)
class PostNormBlock:
    """Paths (relative to one layer) of a post-LayerNorm encoder block, the form
    ``h = norm1(x + attention(x))``, ``out = norm2(h + ffn_out(act(ffn_in(h))))`` that the
    contribution decomposition (:mod:`explorer.contributions`) follows exactly."""

    attention_norm: str
    ffn_in: str
    ffn_activation: str
    ffn_out: str
    output_norm: str


_BERT_BLOCK = PostNormBlock(attention_norm="attention.output.LayerNorm",
                            ffn_in="intermediate.dense",
                            ffn_activation="intermediate.intermediate_act_fn",
                            ffn_out="output.dense", output_norm="output.LayerNorm")
_DISTILBERT_BLOCK = PostNormBlock(attention_norm="sa_layer_norm", ffn_in="ffn.lin1",
                                  ffn_activation="ffn.activation", ffn_out="ffn.lin2",
                                  output_norm="output_layer_norm")
_ALBERT_BLOCK = PostNormBlock(attention_norm="attention.LayerNorm", ffn_in="ffn",
                              ffn_activation="activation", ffn_out="ffn_output",
                              output_norm="full_layer_layer_norm")
CONTRIBUTIONS = "contribution graph"


@dataclass(frozen=True)
class Architecture:
    """Where one family keeps its parts (paths relative to the masked-LM model object)."""

    family: str  # shown to users: "RoBERTa", "BERT" ...
    model_types: tuple[str, ...]  # config.model_type values
    encoder: str  # the base model (embeddings + layers), e.g. "roberta"
    embeddings: str  # relative to the encoder
    layers: str | Callable[[nn.Module, Any], list[nn.Module]]  # relative to the encoder
    attention_output: str  # relative to one layer: Linear whose input is the heads' contexts
    lm_head: Callable[[nn.Module], HeadFunction]
    # relative to the encoder: a norm the encoder applies after its last layer. transformers
    # returns that last hidden state already normed, the earlier ones not: the logit lens applies
    # it to every row but the last.
    final_norm: str | None = None
    start_token: str = "<s>"  # usual names; the loaded tokenizer's own are what is shown
    end_token: str = "</s>"
    # RoBERTa-style positions start at padding_idx + 1, so max_position_embeddings counts extra
    position_offset: Callable[[Any], int] = lambda config: 0
    neuron_view_type: str | None = None  # bertviz's neuron-view model class, None: unsupported
    # relative to one layer: the Linear giving every head's values (``head * head_size + i``)
    # from the layer's input; with ``fused_qkv`` it gives queries, keys and values, in that
    # order, and the values are its last third. None: value-weighted attention is unsupported.
    attention_value: str | None = None
    fused_qkv: bool = False
    # relative to one layer: a norm applied to the layer's input before attention (pre-norm
    # families); the values are computed from its output
    attention_input_norm: str | None = None
    long_context: bool = False  # reads thousands of tokens: the explorer caps its input
    # the post-norm block's parts, for the contribution graph; None: the family's block has
    # another form (pre-norm, gated FFN) and the graph is unsupported
    post_norm_block: PostNormBlock | None = None
    unsupported: dict[str, str] = field(default_factory=dict)  # view -> why not

    def supports(self, view: str) -> bool:
        return view not in self.unsupported

    def why_not(self, view: str) -> str:
        """A sentence for users saying why ``view`` is not available ("" when it is)."""
        return self.unsupported.get(view, "")

    def encoder_of(self, model: nn.Module) -> nn.Module:
        return _path(model, self.encoder)

    def layers_of(self, model: nn.Module) -> list[nn.Module]:
        encoder = self.encoder_of(model)
        if callable(self.layers):
            return list(self.layers(encoder, model.config))
        return list(_path(encoder, self.layers))

    def attention_outputs(self, model: nn.Module) -> list[nn.Linear]:
        """``projections[layer]``: the linear map from the concatenated head contexts
        (``context[..., head * head_size + i]``) to the layer's attention output. The same module
        may appear for several layers (ALBERT shares them); it then runs once per layer."""
        projections = [_path(layer, self.attention_output) for layer in self.layers_of(model)]
        if not all(isinstance(p, nn.Linear) for p in projections):
            raise ArchitectureError(f"{self.family}: the attention output projection "
                                    f"{self.attention_output!r} is not a linear layer.")
        return projections

    def value_projection(self, model: nn.Module, layer: int) -> ValueProjection:
        """Layer ``layer``'s (0-based) value map and attention output projection, for
        value-weighted attention (Kobayashi et al. 2020): head ``h`` moves
        ``f_h(x) = (norm(x) W_V^h + b_V^h) W_O^h`` from each token."""
        if self.attention_value is None:
            raise ArchitectureError(self.why_not(VALUE_NORMS) or
                                    f"{self.family}: value-weighted attention is unsupported.")
        blocks = self.layers_of(model)
        if not 0 <= layer < len(blocks):
            raise ArchitectureError(f"No layer {layer + 1} in this {self.family} model.")
        block = blocks[layer]
        linear = _path(block, self.attention_value)
        if not isinstance(linear, nn.Linear):
            raise ArchitectureError(f"{self.family}: the value projection "
                                    f"{self.attention_value!r} is not a linear layer.")
        weight, bias = linear.weight, linear.bias
        if self.fused_qkv:
            third = weight.shape[0] // 3
            weight = weight[2 * third:]
            bias = None if bias is None else bias[2 * third:]
        norm = None if self.attention_input_norm is None else \
            _path(block, self.attention_input_norm)
        return ValueProjection(weight=weight.detach(),
                               bias=None if bias is None else bias.detach(),
                               input_norm=norm, output=self.attention_outputs(model)[layer])

    def vocab_size(self, model: nn.Module) -> int:
        """How many tokens the masked-LM head scores: the config's ``vocab_size`` (not
        ``get_output_embeddings()``, which is a hidden × hidden map in non-legacy DeBERTa)."""
        return int(model.config.vocab_size)

    def block_parts(self, model: nn.Module, layer: int) -> dict[str, Any]:
        """Layer ``layer``'s (0-based) post-norm block modules, by :class:`PostNormBlock`
        field name; :class:`ArchitectureError` when the family's block has another form."""
        if self.post_norm_block is None:
            raise ArchitectureError(self.why_not(CONTRIBUTIONS) or
                                    f"{self.family}: the contribution graph is unsupported.")
        block = self.layers_of(model)[layer]
        spec = self.post_norm_block
        return {name: _path(block, getattr(spec, name)) for name in
                ("attention_norm", "ffn_in", "ffn_activation", "ffn_out", "output_norm")}

    def head_function(self, model: nn.Module) -> HeadFunction:
        """Last-layer hidden states → vocabulary logits, exactly as the model computes them."""
        try:
            return self.lm_head(model)
        except AttributeError as error:
            raise ArchitectureError(f"This {self.family} checkpoint has no masked-LM head.") \
                from error

    def lens_function(self, model: nn.Module) -> Callable[[torch.Tensor, bool], torch.Tensor]:
        """``lens(hidden, is_last)``: any layer's hidden state → logits. Applies the final norm
        (when the family has one) to rows that are not the already-normed last layer."""
        head = self.head_function(model)
        if self.final_norm is None:
            return lambda hidden, is_last: head(hidden)
        norm = _path(self.encoder_of(model), self.final_norm)
        return lambda hidden, is_last: head(hidden if is_last else norm(hidden))


def _roberta_offset(config: Any) -> int:
    return int(getattr(config, "pad_token_id", 1) or 0) + 1


_NO_NEURON = {NEURON_VIEW: "bertviz's neuron view has model classes for BERT and RoBERTa only."}

ARCHITECTURES: tuple[Architecture, ...] = (
    Architecture(
        post_norm_block=_BERT_BLOCK,
        family="RoBERTa", model_types=("roberta",), encoder="roberta", embeddings="embeddings",
        layers="encoder.layer", attention_output="attention.output.dense",
        lm_head=_sequential("lm_head"), position_offset=_roberta_offset,
        neuron_view_type="roberta", attention_value="attention.self.value",
    ),
    Architecture(
        post_norm_block=_BERT_BLOCK,
        family="XLM-RoBERTa", model_types=("xlm-roberta",), encoder="roberta",
        embeddings="embeddings", layers="encoder.layer",
        attention_output="attention.output.dense", lm_head=_sequential("lm_head"),
        position_offset=_roberta_offset, neuron_view_type="roberta",
        attention_value="attention.self.value",
    ),
    Architecture(
        post_norm_block=_BERT_BLOCK,
        family="CamemBERT", model_types=("camembert",), encoder="roberta",
        embeddings="embeddings", layers="encoder.layer",
        attention_output="attention.output.dense", lm_head=_sequential("lm_head"),
        position_offset=_roberta_offset, neuron_view_type="roberta",
        attention_value="attention.self.value",
    ),
    Architecture(
        post_norm_block=_BERT_BLOCK,
        family="BERT", model_types=("bert",), encoder="bert", embeddings="embeddings",
        layers="encoder.layer", attention_output="attention.output.dense",
        lm_head=_sequential("cls"), start_token="[CLS]", end_token="[SEP]",
        neuron_view_type="bert", attention_value="attention.self.value",
    ),
    Architecture(
        post_norm_block=_DISTILBERT_BLOCK,
        family="DistilBERT", model_types=("distilbert",), encoder="distilbert",
        embeddings="embeddings", layers="transformer.layer", attention_output="attention.out_lin",
        lm_head=_sequential("vocab_transform", "activation", "vocab_layer_norm",
                            "vocab_projector"),
        start_token="[CLS]", end_token="[SEP]", unsupported=_NO_NEURON,
        attention_value="attention.v_lin",
    ),
    Architecture(
        post_norm_block=_ALBERT_BLOCK,
        family="ALBERT", model_types=("albert",), encoder="albert", embeddings="embeddings",
        layers=lambda encoder, config: _albert_layers(encoder.encoder, config),
        attention_output="attention.dense", lm_head=_sequential("predictions"),
        start_token="[CLS]", end_token="[SEP]", unsupported=_NO_NEURON,
        attention_value="attention.value",
    ),
    Architecture(
        post_norm_block=_BERT_BLOCK,
        family="ELECTRA", model_types=("electra",), encoder="electra", embeddings="embeddings",
        layers="encoder.layer", attention_output="attention.output.dense",
        lm_head=_sequential("generator_predictions", "generator_lm_head"),
        start_token="[CLS]", end_token="[SEP]", unsupported=_NO_NEURON,
        attention_value="attention.self.value",
    ),
    Architecture(
        post_norm_block=_BERT_BLOCK,
        family="DeBERTa-v2/v3", model_types=("deberta-v2",), encoder="deberta",
        embeddings="embeddings", layers="encoder.layer",
        attention_output="attention.output.dense", lm_head=_deberta_head,
        start_token="[CLS]", end_token="[SEP]", unsupported=_NO_NEURON,
        attention_value="attention.self.value_proj",
    ),
    Architecture(
        family="ModernBERT", model_types=("modernbert",), encoder="model",
        embeddings="embeddings", layers="layers", attention_output="attn.Wo",
        lm_head=_sequential("head", "decoder"), final_norm="final_norm",
        start_token="[CLS]", end_token="[SEP]", long_context=True,
        attention_value="attn.Wqkv", fused_qkv=True, attention_input_norm="attn_norm",
        unsupported={**_NO_NEURON, CONTRIBUTIONS: "ModernBERT is a pre-norm model with a gated "
                     "feed-forward block; the contribution graph follows post-norm blocks only."},
    ),
)
"""The families the explorer supports. DistilRoBERTa is model type ``roberta``."""

_BY_TYPE = {model_type: entry for entry in ARCHITECTURES for model_type in entry.model_types}


def architecture_for(model_or_config: Any) -> Architecture:
    """The table entry of a model, its config or its model type; :class:`ArchitectureError` if
    it has none."""
    if isinstance(model_or_config, str):
        model_type = model_or_config
    else:
        config = getattr(model_or_config, "config", model_or_config)
        model_type = str(getattr(config, "model_type", "") or "")
    entry = _BY_TYPE.get(model_type)
    if entry is None:
        families = ", ".join(a.family for a in ARCHITECTURES)
        raise ArchitectureError(
            f"The explorer does not know the model type {model_type or '(none)'!r}; it supports "
            f"{families}."
        )
    return entry
