"""Count what a model computes: forward passes of the whole model, of its encoder, and the rows
its masked-LM head computes (so a test can tell "the LM head ran once per token" from "twice")."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from explorer.architectures import architecture_for
from explorer.model import Loaded


@dataclass
class ForwardCounts:
    model: int = 0  # calls of the Hugging Face masked LM as a whole
    encoder: int = 0  # calls of its encoder (embeddings + layers), the expensive part
    head_calls: int = 0  # calls of the vocabulary projection every LM head ends in
    head_rows: int = 0  # hidden-state rows those calls projected

    @property
    def any(self) -> bool:
        return bool(self.model or self.encoder or self.head_calls)


@contextmanager
def count_forwards(loaded: Loaded) -> Iterator[ForwardCounts]:
    """Within the block, count every forward of ``loaded``'s model, encoder and LM head."""
    counts = ForwardCounts()
    model = loaded.model
    encoder = architecture_for(model).encoder_of(model)
    projection = model.get_output_embeddings()  # logits = projection(transformed hidden)

    def on_model(module, args):
        counts.model += 1

    def on_encoder(module, args):
        counts.encoder += 1

    def on_head(module, args):
        counts.head_calls += 1
        counts.head_rows += int(args[0].reshape(-1, args[0].shape[-1]).shape[0])

    handles = [model.register_forward_pre_hook(on_model),
               encoder.register_forward_pre_hook(on_encoder),
               projection.register_forward_pre_hook(on_head)]
    try:
        yield counts
    finally:
        for handle in handles:
            handle.remove()
