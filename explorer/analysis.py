"""One forward pass → everything the views show (no Streamlit here).

:func:`analyze` runs the model once with attentions and hidden states switched on and returns an
:class:`Analysis` of read-only numpy arrays. Views re-render from it without touching the model.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

import numpy as np
import torch

from explorer.model import Loaded, attention_dtype_for

MAX_TEXT_CHARS = 20_000
"""Longer text is refused before tokenisation: no masked LM here reads that much."""

MASK_ALIASES = ("<mask>", "[MASK]")
"""What users type for a mask; each is mapped to the model's own mask token."""


class InputError(ValueError):
    """The text cannot be analysed; ``str(error)`` is a message fit for a user."""


@dataclass(frozen=True)
class Prediction:
    """One row of a fill-mask table, as the Hugging Face fill-mask pipeline returns it."""

    rank: int
    token_id: int
    token_str: str
    score: float
    sequence: str


@dataclass(frozen=True)
class MaskPredictions:
    """The top-k predictions for the mask at ``position`` (a token index)."""

    position: int
    predictions: tuple[Prediction, ...]


@dataclass(frozen=True)
class Analysis:
    """Result of one forward pass. Arrays are read-only.

    - ``token_ids[token]``, ``tokens[token]`` (tokenizer pieces, e.g. ``Ġthe``) and
      ``token_texts[token]`` (what each piece decodes to, e.g. `` the``)
    - ``attentions[layer, head, query, key]``: each query row sums to 1
    - ``hidden_states[layer + 1, token, dim]``: index 0 is the embedding output
    - ``predictions``: one :class:`MaskPredictions` per ``<mask>``, in text order
    """

    model_name: str
    text: str
    token_ids: np.ndarray
    tokens: tuple[str, ...]
    token_texts: tuple[str, ...]
    special_mask: np.ndarray  # special_mask[token] is True for <s>, </s>, <pad> ...
    mask_positions: tuple[int, ...]
    attentions: np.ndarray
    hidden_states: np.ndarray
    predictions: tuple[MaskPredictions, ...]
    top_k: int
    input_token_count: int  # before truncation, special tokens included
    truncated: bool
    masks_dropped: int  # masks lost by truncation
    notes: tuple[str, ...]  # what was changed in the text (NUL bytes removed, aliases mapped)
    # mask_probabilities[mask, vocab]: the full softmax at each mask (float32), mask order as in
    # predictions; lets views compare any token's probability between inputs.
    mask_probabilities: np.ndarray = field(
        default_factory=lambda: _readonly(np.zeros((0, 0), dtype=np.float32)))
    # A sentence pair (analyze(..., text_pair=...)): the second text, and segment[token]
    # (0 = text A, 1 = text B, -1 = special tokens); None for a single text.
    text_pair: str | None = None
    segment: np.ndarray | None = None
    # token_type_ids[token] of a pair when the tokenizer makes them (BERT: 1 for text B); None
    # for a single text and for families with one token type (RoBERTa)
    token_type_ids: np.ndarray | None = None

    def model_inputs(self) -> dict[str, np.ndarray | None]:
        """What the model read (``token_ids``, ``token_type_ids``), as keyword arguments of
        every function that runs the model again on this text (ablation, attribution …), so a
        re-run reads exactly the analysed input (:func:`explorer.forward.sequence_inputs`)."""
        return {"token_ids": self.token_ids, "token_type_ids": self.token_type_ids}

    @property
    def labels(self) -> tuple[str, ...]:
        """Readable token labels for views: leading space dropped, a bare space shown as ␣."""
        return tuple(token_label(text) for text in self.token_texts)

    @property
    def num_tokens(self) -> int:
        return int(self.token_ids.shape[0])

    @property
    def num_layers(self) -> int:
        return int(self.attentions.shape[0])

    @property
    def num_heads(self) -> int:
        return int(self.attentions.shape[1])


_CONTROL_PICTURES = {code: 0x2400 + code for code in range(32)} | {127: 0x2421}


def token_label(token_text: str) -> str:
    """How a token's decoded text is shown: ``" the"`` → ``the``, ``" "`` → ``␣``.

    Control characters (byte-level tokens such as ``\\x0f``) become their visible Unicode
    pictures: invisible in tables otherwise, and invalid XML that breaks plotly's image export.
    """
    token_text = token_text.translate(_CONTROL_PICTURES)
    if not token_text.strip():
        return "␣" * max(1, len(token_text)) if token_text else "∅"
    return token_text.lstrip(" ")


def clean_text(text: str, mask_token: str) -> tuple[str, tuple[str, ...]]:
    """Normalise user text: drop control characters, map mask aliases to ``mask_token``.

    Returns the cleaned text and notes saying what changed. Raises :class:`InputError` for text
    that is empty or too long.
    """
    if not isinstance(text, str):
        raise InputError("The input must be text.")
    notes: list[str] = []
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(
            f"The text has {len(text):,} characters; the explorer accepts at most "
            f"{MAX_TEXT_CHARS:,}. Shorten it."
        )
    kept = "".join(
        ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in {"Cc", "Cs"}
    )
    if kept != text:
        notes.append(f"Removed {len(text) - len(kept)} control character(s) from the text.")
    for alias in MASK_ALIASES:
        if alias != mask_token and alias in kept:
            kept = kept.replace(alias, mask_token)
            notes.append(f"Read {alias} as this model's mask token {mask_token}.")
    if not kept.strip():
        raise InputError("The text is empty. Type a sentence, with <mask> where a word should be "
                         "predicted.")
    return kept, tuple(notes)


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def _encode(loaded: Loaded, text: str) -> tuple[list[int], int, bool]:
    tokenizer = loaded.tokenizer
    ids = tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"]
    limit = loaded.info.max_tokens
    if len(ids) <= limit:
        return list(ids), len(ids), False
    end = [ids[-1]] if ids[-1] == tokenizer.sep_token_id else []
    return list(ids[: limit - len(end)]) + end, len(ids), True


def truncation_message(analysis: Analysis, max_tokens: int, subject: str = "The text",
                       model_max_tokens: int = 0) -> str:
    """What to tell the user about a truncated input ("" when nothing was cut).

    ``model_max_tokens`` above ``max_tokens`` means the explorer capped a long-context model
    (ModernBERT reads 8 192 tokens) to keep its attentions within the memory budget."""
    if not analysis.truncated:
        return ""
    dropped = (f" {analysis.masks_dropped} mask(s) after the cut were dropped."
               if analysis.masks_dropped else "")
    limit = (f"the explorer reads at most {max_tokens} of this model's {model_max_tokens} "
             "(attentions grow with tokens²; $EXPLORER_ATTENTION_MB sets the budget)"
             if model_max_tokens > max_tokens else f"this model reads at most {max_tokens}")
    return (f"{subject} has {analysis.input_token_count} tokens; {limit}. Showing the first "
            f"{analysis.num_tokens - 1} tokens and the end token.{dropped}")


def fill_mask_predictions(
    loaded: Loaded, token_ids: np.ndarray, mask_logits: torch.Tensor, top_k: int
) -> tuple[MaskPredictions, ...]:
    """Top-k per mask, with the fill-mask pipeline's scores, token strings and sequences."""
    tokenizer = loaded.tokenizer
    mask_positions = np.flatnonzero(token_ids == tokenizer.mask_token_id)
    if len(mask_positions) == 0:
        return ()
    top_k = max(1, min(int(top_k), mask_logits.shape[-1]))
    probabilities = mask_logits.float().softmax(dim=-1)
    values, indices = probabilities.topk(top_k)
    single_mask = len(mask_positions) == 1  # the pipeline keeps specials for several masks
    result = []
    for mask_index, position in enumerate(mask_positions):
        rows = []
        for rank, (score, token_id) in enumerate(
            zip(values[mask_index].tolist(), indices[mask_index].tolist()), start=1
        ):
            filled = token_ids.copy()
            filled[position] = token_id
            filled = filled[filled != tokenizer.pad_token_id]
            rows.append(Prediction(
                rank=rank,
                token_id=int(token_id),
                token_str=tokenizer.decode([token_id]),
                score=float(score),
                sequence=tokenizer.decode(filled, skip_special_tokens=single_mask),
            ))
        result.append(MaskPredictions(position=int(position), predictions=tuple(rows)))
    return tuple(result)


def _to_numpy(tensors: list[torch.Tensor], dtype: np.dtype) -> np.ndarray:
    """``result[i] = tensors[i]`` on the CPU, as one ``dtype`` array: copied layer by layer into
    one preallocated array (a third of the time of ``torch.stack`` at 512 tokens)."""
    result = np.empty((len(tensors), *tensors[0].shape), dtype=dtype)
    torch_dtype = getattr(torch, dtype.name)
    for index, tensor in enumerate(tensors):
        result[index] = tensor.to(torch_dtype).cpu().numpy()
    return result


@torch.inference_mode()
def analyze(loaded: Loaded, text: str, top_k: int = 5, text_pair: str | None = None) -> Analysis:
    """Run ``text`` through the model once and collect attentions, hidden states and top-k.

    One encoder pass; the masked-LM head runs only at the masks (the per-token tooltips apply it
    to the other tokens later, from ``hidden_states``: :mod:`explorer.token_predictions`).
    Input longer than the model's limit is truncated (kept: the first tokens and the final
    ``</s>``); ``truncated`` and ``input_token_count`` say so. Raises :class:`InputError` for
    empty or oversized text. With ``text_pair`` the input is the pair ``(text, text_pair)`` as
    the tokenizer builds it (:func:`explorer.pairs.encode_pair`, cut longest-first), with its
    ``token_type_ids`` (BERT reads text B as type 1).
    """
    from explorer.forward import lm_logits, run_encoder

    info = loaded.info
    cleaned, notes = clean_text(text, info.mask_token)
    masks_before = cleaned.count(info.mask_token)
    segment = token_type_ids = None
    if text_pair is None:
        ids, input_count, truncated = _encode(loaded, cleaned)
    else:
        from explorer.pairs import PairError, encode_pair

        cleaned_pair, pair_notes = clean_text(text_pair, info.mask_token)
        notes = (*notes, *pair_notes)
        masks_before += cleaned_pair.count(info.mask_token)
        try:
            pair = encode_pair(loaded.tokenizer, cleaned, cleaned_pair, info.max_tokens)
        except PairError as error:
            raise InputError(str(error)) from error
        ids, input_count, truncated = pair.token_ids.tolist(), pair.input_token_count, \
            pair.truncated
        segment, token_type_ids = _readonly(pair.segment), pair.token_type_ids
    token_ids = np.asarray(ids, dtype=np.int64)

    output = run_encoder(loaded, token_ids, attentions=True, hidden_states=True,
                         token_type_ids=token_type_ids)
    if not output.attentions or len(output.attentions) != info.num_layers:
        raise RuntimeError(
            "The model returned no attention weights; it must be loaded with "
            "attn_implementation='eager'."
        )
    n = len(ids)
    kept = np.dtype(attention_dtype_for(info.num_layers, info.num_heads, n))
    # attentions[layer, head, query, key], float32 (float16 beyond the attention budget)
    attentions = _to_numpy([a[0] for a in output.attentions], kept)
    # hidden_states[layer + 1, token, dim]
    hidden_states = _to_numpy([h[0] for h in output.hidden_states], np.dtype(np.float32))
    assert attentions.shape == (info.num_layers, info.num_heads, n, n), attentions.shape
    assert hidden_states.shape == (info.num_layers + 1, n, info.hidden_size), hidden_states.shape

    mask_positions = np.flatnonzero(token_ids == loaded.tokenizer.mask_token_id)
    # logits[mask, vocab]: the LM head at the masks only
    mask_logits = lm_logits(loaded, output.last_hidden_state[0, torch.from_numpy(
        mask_positions).to(output.last_hidden_state.device)])
    predictions = fill_mask_predictions(loaded, token_ids, mask_logits, top_k)
    mask_probabilities = mask_logits.softmax(dim=-1).numpy()

    tokenizer = loaded.tokenizer
    special_ids = set(tokenizer.all_special_ids) - {tokenizer.mask_token_id}
    return Analysis(
        model_name=info.name,
        text=cleaned,
        token_ids=_readonly(token_ids),
        tokens=tuple(tokenizer.convert_ids_to_tokens(ids)),
        token_texts=tuple(tokenizer.decode([i]) for i in ids),
        special_mask=_readonly(np.array([i in special_ids for i in ids], dtype=bool)),
        mask_positions=tuple(int(p) for p in mask_positions),
        attentions=_readonly(attentions),
        hidden_states=_readonly(hidden_states),
        predictions=predictions,
        top_k=top_k,
        input_token_count=input_count,
        truncated=truncated,
        masks_dropped=max(0, masks_before - len(mask_positions)),
        notes=notes,
        mask_probabilities=_readonly(mask_probabilities),
        text_pair=None if text_pair is None else cleaned_pair,
        segment=segment,
        token_type_ids=None if token_type_ids is None else _readonly(
            np.asarray(token_type_ids, dtype=np.int64)),
    )
