"""Pages ask here whether the loaded checkpoint can predict, and say so when it cannot.

A checkpoint saved without its masked-LM head (a sentence-transformers encoder, a BERT saved as
``BertModel``) loads with a head initialised at random: its "predictions" would be noise shown
as real. Attention, hidden states and corpus search do not use the head and stay available.
"""

from __future__ import annotations

import streamlit as st

from explorer.model import Loaded

NO_HEAD_MESSAGE = (
    "This checkpoint has no masked-LM prediction head (its head weights are missing: it was "
    "saved as an encoder only, e.g. a sentence-transformers model), so no predictions are "
    "shown — they would be random. Attention, hidden states and corpus search work as usual."
)


def has_prediction_head(loaded: Loaded) -> bool:
    """Whether the model's predictions come from trained head weights."""
    return bool(getattr(loaded.info, "has_lm_head", True))


def no_head_note(container=st) -> None:
    """The plain statement that this checkpoint cannot predict."""
    container.info(NO_HEAD_MESSAGE, icon=":material/block:")
