"""Which device the model runs on (no Streamlit here).

CUDA when present, else Apple's MPS, else the CPU; ``$EXPLORER_DEVICE`` chooses (``auto``,
``cpu``, ``cuda``, ``cuda:1``, ``mps``). Results always come back to the CPU as numpy arrays.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import torch

DEVICE_ENV_VAR = "EXPLORER_DEVICE"
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda)(:\d+)?$")


class DeviceError(ValueError):
    """``$EXPLORER_DEVICE`` names a device that is not valid or not present; the message says
    which ones are."""


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> tuple[str, ...]:
    """``cpu`` and whichever accelerators torch sees here."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if _mps_available():
        found.append("mps")
    return tuple(found)


def choose_device(environ: Mapping[str, str] | None = None) -> torch.device:
    """The device named by ``$EXPLORER_DEVICE`` (default ``auto``: CUDA, else MPS, else CPU)."""
    raw = (environ if environ is not None else os.environ).get(DEVICE_ENV_VAR, "")
    wanted = raw.strip().lower() or "auto"
    if not _DEVICE.match(wanted) or wanted.startswith("auto:"):
        raise DeviceError(f"{DEVICE_ENV_VAR}={raw!r} is not a device; use auto, cpu, cuda, "
                          "cuda:N or mps.")
    if wanted == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    if wanted not in available_devices():
        raise DeviceError(f"{DEVICE_ENV_VAR}={raw!r}: no such device here; available: "
                          f"{', '.join(available_devices())}.")
    return torch.device(wanted)


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of the model's weights: where every input it reads must be."""
    return next(model.parameters()).device


def inputs_on_device(model: torch.nn.Module, **tensors: torch.Tensor | None
                     ) -> dict[str, torch.Tensor]:
    """The model's keyword inputs (``input_ids``, ``attention_mask``, ``token_type_ids``,
    ``inputs_embeds`` …) moved to its device, the None ones left out: the one place where
    inputs built on the CPU go to the model, as TransformerLens does in its forward."""
    device = model_device(model)
    return {name: tensor.to(device) for name, tensor in tensors.items() if tensor is not None}
