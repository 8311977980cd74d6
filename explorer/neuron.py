"""bertviz's neuron view needs bertviz's own model classes (they also return queries and keys).
Build one from the loaded model's weights (no download, no Streamlit)."""

from __future__ import annotations

from typing import Any

import torch

from explorer.architectures import (
    ARCHITECTURES,
    NEURON_VIEW,
    ArchitectureError,
    architecture_for,
)
from explorer.model import Loaded

NEURON_MODEL_TYPES = tuple(t for a in ARCHITECTURES if a.neuron_view_type for t in a.model_types)
"""Model types whose weights map onto bertviz's neuron-view classes (the architecture table's
``neuron_view_type``: BERT, and RoBERTa-architecture models)."""


class NeuronViewUnsupported(ValueError):
    """bertviz's neuron view cannot show this model; ``str(error)`` says why."""


def neuron_view_model(loaded: Loaded) -> tuple[Any, str]:
    """bertviz's ``RobertaModel``/``BertModel`` with the loaded model's encoder weights, and its
    bertviz model type. Raises :class:`NeuronViewUnsupported` for other models."""
    from bertviz.transformers_neuron_view import modeling_bert, modeling_roberta

    config = loaded.model.config
    try:
        architecture = architecture_for(config)
    except ArchitectureError as error:
        raise NeuronViewUnsupported(str(error)) from error
    model_type = architecture.neuron_view_type
    if model_type is None:
        raise NeuronViewUnsupported(architecture.why_not(NEURON_VIEW) + f" This model is "
                                    f"{architecture.family}.")
    if model_type == "roberta" and getattr(config, "pad_token_id", 1) != 1:
        raise NeuronViewUnsupported("bertviz's RoBERTa assumes padding id 1; this model differs.")
    classes = {"roberta": (modeling_roberta.RobertaConfig, modeling_roberta.RobertaModel),
               "bert": (modeling_bert.BertConfig, modeling_bert.BertModel)}
    config_class, model_class = classes[model_type]
    neuron_config = config_class(
        vocab_size_or_config_json_file=int(config.vocab_size),
        hidden_size=int(config.hidden_size),
        num_hidden_layers=int(config.num_hidden_layers),
        num_attention_heads=int(config.num_attention_heads),
        intermediate_size=int(config.intermediate_size),
        hidden_act=str(config.hidden_act),
        max_position_embeddings=int(config.max_position_embeddings),
        type_vocab_size=int(config.type_vocab_size),
        layer_norm_eps=float(config.layer_norm_eps),
    )
    neuron_config.output_attentions = True
    model = model_class(neuron_config)
    encoder = architecture.encoder_of(loaded.model)
    missing, unexpected = _load_encoder(model, encoder.state_dict())
    if missing or unexpected:
        raise NeuronViewUnsupported(
            "bertviz's neuron-view model does not match this model's weights "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})."
        )
    model.eval()
    return model, model_type


def _load_encoder(model: torch.nn.Module, weights: dict) -> tuple[list[str], list[str]]:
    # bertviz's models always have a pooler; masked LMs have none. Keep its random pooler (the
    # neuron view never reads it) and require every other weight to match by name.
    weights = {k: v for k, v in weights.items() if not k.endswith("position_ids")}
    result = model.load_state_dict(weights, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith("pooler.")]
    return missing, list(result.unexpected_keys)


class FixedTokens:
    """A stand-in tokenizer for bertviz's ``get_attention``: it yields exactly the analysis's
    tokens and ids, so the neuron view shows the same input the rest of the app does (bertviz
    would re-tokenise and, with transformers 5, turn ``<mask>`` into ``<unk>``)."""

    def __init__(self, tokens: tuple[str, ...], token_ids: list[int]) -> None:
        if len(tokens) < 2:
            raise NeuronViewUnsupported("The neuron view needs at least one token of text.")
        self.cls_token, self.sep_token = tokens[0], tokens[-1]
        self._inner = list(tokens[1:-1])
        self._ids = list(token_ids)

    def tokenize(self, text: str) -> list[str]:
        return list(self._inner)

    def convert_tokens_to_ids(self, tokens: list[str]) -> list[int]:
        if len(tokens) != len(self._ids):
            raise NeuronViewUnsupported("bertviz asked for tokens the analysis does not have.")
        return list(self._ids)


NEURON_DECIMALS = 4


def neuron_view_html(model: Any, model_type: str, tokens: tuple[str, ...], token_ids: list[int],
                     layer: int, head: int) -> str:
    """bertviz's neuron-view HTML for exactly these tokens (runs bertviz's model once)."""
    from bertviz import neuron_view

    html = neuron_view.show(
        model, model_type, FixedTokens(tokens, token_ids), sentence_a="(tokens given)",
        layer=layer, head=head, display_mode="light", html_action="return",
    ).data
    return str(html)
