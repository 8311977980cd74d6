"""Model-side core of the attention explorer: loading, analysis and maths. No Streamlit here."""

from explorer.analysis import Analysis, InputError, MaskPredictions, Prediction, analyze
from explorer.model import DEFAULT_MODEL, MODEL_ENV_VAR, Loaded, ModelInfo, ModelLoadError, load

__all__ = [
    "DEFAULT_MODEL",
    "MODEL_ENV_VAR",
    "Analysis",
    "InputError",
    "Loaded",
    "MaskPredictions",
    "ModelInfo",
    "ModelLoadError",
    "Prediction",
    "analyze",
    "load",
]
