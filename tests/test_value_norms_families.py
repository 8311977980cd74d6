"""Value-weighted attention through the architecture table, for every family: the heads' moved
vectors Σ_j α_ij f_h(x_j), summed over heads plus the output bias, are exactly what the model's
own attention output projection returns (captured with a forward hook during a real forward)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.analysis import analyze
from explorer.architectures import architecture_for
from explorer.attribution import transformed_values, value_weighted_attention
from explorer.model import load
from explorer.tiny import FAMILIES, build_tiny_family

TEXT = "The cat sat on the mat while the dog slept."


@pytest.mark.parametrize("family", FAMILIES)
def test_heads_moved_vectors_add_up_to_the_attention_output(family, tmp_path):
    loaded = load(str(build_tiny_family(tmp_path / family, family)))
    analysis = analyze(loaded, TEXT)
    architecture = architecture_for(loaded.model)
    outputs = architecture.attention_outputs(loaded.model)
    captured: list[torch.Tensor] = []
    handles = [module.register_forward_hook(
        lambda _m, _i, out: captured.append(out[0].detach().float()))
        for module in dict.fromkeys(outputs)]  # ALBERT shares one module: hook it once
    try:
        with torch.no_grad():
            loaded.model(input_ids=torch.tensor(analysis.token_ids)[None])
    finally:
        for handle in handles:
            handle.remove()
    assert len(captured) == loaded.info.num_layers
    for layer in range(loaded.info.num_layers):
        moved = transformed_values(loaded, analysis.hidden_states, layer)  # [head, key, dim]
        weights = torch.tensor(analysis.attentions[layer], dtype=torch.float32)
        rebuilt = torch.einsum("hqk,hkd->qd", weights, moved)
        bias = outputs[layer].bias
        if bias is not None:
            rebuilt = rebuilt + bias.detach().float()
        torch.testing.assert_close(rebuilt, captured[layer], atol=1e-4, rtol=1e-4)
    weighted = value_weighted_attention(loaded, analysis.attentions, analysis.hidden_states)
    assert weighted.shape == analysis.attentions.shape
    assert np.all(weighted >= 0)
