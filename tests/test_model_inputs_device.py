"""Every model input goes to the model's device (no GPU needed to check it).

The model is moved to PyTorch's ``meta`` device, which has shapes but no data. The explorer's
functions then run against it while two independent recorders watch: a forward pre-hook on every
module records the device of each tensor it is given, and a ``TorchFunctionMode`` records every
torch operation that mixes a CPU tensor with a meta one (PyTorch lets meta tensors mix with CPU
ones silently, where CUDA raises). A function that builds an input on the CPU and hands it to the
model is caught by both. Each run stops with an error where real data is needed (``.item()`` in
the model's mask code, or copying a result back): the inputs were checked before that.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch.overrides import TorchFunctionMode

from explorer.ablation import ablated_logits
from explorer.analysis import analyze
from explorer.attention_passes import forward_sentences
from explorer.attribution import (
    attribute,
    layer_value_weighted_attention,
    value_vector_norms,
)
from explorer.devices import model_device
from explorer.model import Loaded, load
from explorer.model_compare import forward_seconds
from explorer.tiny import build_tiny_bert_model


class MixedDevices(TorchFunctionMode):
    """Records each torch operation given both a CPU tensor (not a 0-d scalar) and a meta one,
    and counts the operations on meta tensors."""

    def __init__(self) -> None:
        super().__init__()
        self.mixed: list[str] = []
        self.meta_operations = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        tensors: list[torch.Tensor] = []

        def collect(value) -> None:
            if isinstance(value, torch.Tensor):
                tensors.append(value)
            elif isinstance(value, (list, tuple)):
                for item in value:
                    collect(item)
            elif isinstance(value, dict):
                for item in value.values():
                    collect(item)

        collect(args)
        collect(kwargs)
        kinds = {t.device.type for t in tensors if t.dim() > 0}
        if "meta" in kinds:
            self.meta_operations += 1
            if "cpu" in kinds:
                self.mixed.append(getattr(func, "__name__", str(func)))
        return func(*args, **kwargs)


@pytest.fixture(scope="module")
def bert(tmp_path_factory) -> Loaded:
    return load(str(build_tiny_bert_model(tmp_path_factory.mktemp("bert-devices"))))


@pytest.fixture(scope="module")
def on_meta(bert) -> Loaded:
    """The same model with its weights on the ``meta`` device (its ``info`` still says cpu)."""
    return Loaded(bert.tokenizer, copy.deepcopy(bert.model).to("meta"), bert.info)


@pytest.fixture(scope="module")
def pair(bert):
    return analyze(bert, "The capital of France is [MASK].", text_pair="Paris is big.")


def _devices_given_to_modules(run, loaded: Loaded) -> tuple[set[str], MixedDevices]:
    """Run ``run()``; the device types of every tensor any module of the model was given."""
    seen: set[str] = set()

    def record(module, args, kwargs) -> None:
        for value in (*args, *kwargs.values()):
            if isinstance(value, torch.Tensor) and value.dim() > 0:
                seen.add(value.device.type)

    handles = [m.register_forward_pre_hook(record, with_kwargs=True)
               for m in loaded.model.modules()]
    mode = MixedDevices()
    try:
        with mode:
            run()
    except (RuntimeError, NotImplementedError, TypeError) as error:  # no data on meta
        assert "meta" in str(error), error
    finally:
        for handle in handles:
            handle.remove()
    return seen, mode


RUNS = {
    "analyze a pair": lambda m, a: analyze(m, a.text, text_pair=a.text_pair),
    "ablation": lambda m, a: ablated_logits(m, heads=[(0, 1)], **a.model_inputs()),
    "gradient × input": lambda m, a: attribute(
        m, position=a.mask_positions[0], target_id=5, method="gradient_x_input",
        **a.model_inputs()),
    "integrated gradients": lambda m, a: attribute(
        m, position=a.mask_positions[0], target_id=5, steps=2, **a.model_inputs()),
    "forward_sentences": lambda m, a: forward_sentences(m, [a.token_ids.tolist(), [2, 5, 3]],
                                                        hidden=True),
    "forward_seconds": lambda m, a: forward_seconds(m, a.token_ids, repeats=1),
    "value norms": lambda m, a: value_vector_norms(m, a.hidden_states),
    "layer value norms": lambda m, a: layer_value_weighted_attention(m, a.attentions,
                                                                     a.hidden_states),
}


@pytest.mark.parametrize("name", RUNS)
def test_every_model_input_is_on_the_models_device(name, on_meta, pair):
    assert model_device(on_meta.model).type == "meta"
    seen, mode = _devices_given_to_modules(lambda: RUNS[name](on_meta, pair), on_meta)
    assert mode.meta_operations > 0, "the run never reached the model"
    assert not mode.mixed, f"{name}: CPU tensors met the model's in {mode.mixed}"
    assert seen <= {"meta"}, f"{name}: modules were given tensors on {seen}"
