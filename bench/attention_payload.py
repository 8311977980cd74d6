"""Bytes the attention graph sends to the browser vs. the size of bertviz's head_view HTML.

Both are measured in the same run, on the same input, with a distilroberta-shaped RoBERTa
(6 layers, 768 hidden, 12 heads, random weights; built in a temp folder, no download). Our
payload: the file the attention view fetches once per text (:func:`explorer.graph.graph_file`:
every layer and head, each attention row's strongest keys up to 99 % of its mass, at most 16,
uint16 weights) plus tooltips with 5 predictions per token, the "weights × value norm" data
(float32 value norms and row totals, 8 bytes per attention row) and the word map of the
"words, not pieces" switch; every rerun after that sends only a few hundred bytes. The "weights
only" column is the same file without the two switches' data (what the file held before them),
measured in the same run. bertviz: ``head_view(..., html_action="return")`` as a user would
call it, every layer and head (without the require.js,
d3 and jQuery it fetches from a CDN on top).

Random weights spread attention almost evenly, so the 16-keys-per-row cap decides; a trained
model's peaked attention keeps fewer.

    python bench/attention_payload.py            # 32, 128, 256, 512 tokens
    python bench/attention_payload.py 32 64      # other lengths
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from explorer.analysis import Analysis, analyze
from explorer.attribution import value_vector_norms
from explorer.graph import WordMap, graph_file
from explorer.model import Loaded, load
from explorer.tiny import build_tiny_model
from explorer.token_predictions import top_predictions_per_token
from explorer.word_level import words_of

LENGTHS = (32, 128, 256, 512)
SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank. "


@dataclass(frozen=True)
class Row:
    tokens: int
    weights_only_bytes: int
    ours_bytes: int
    edges: int
    bertviz_bytes: int
    ours_s: float
    bertviz_s: float

    @property
    def ratio(self) -> float:
        return self.bertviz_bytes / max(self.ours_bytes, 1)


def text_of_length(loaded: Loaded, tokens: int) -> str:
    """A text that tokenises to exactly ``tokens`` tokens, special tokens included."""
    words = (SENTENCE * (tokens // 4 + 2)).split(" ")
    ids = loaded.tokenizer(" ".join(words), add_special_tokens=False)["input_ids"][: tokens - 2]
    text = loaded.tokenizer.decode(ids)
    while len(loaded.tokenizer(text)["input_ids"]) > tokens:  # decode/encode may differ at the end
        text = text[:-1]
    return text


def our_payload_bytes(loaded: Loaded, analysis: Analysis, switches: bool = True
                      ) -> tuple[int, int]:
    """Bytes of the file the view fetches once, and the weights' kept entries. ``switches``:
    with the value-norm shares and the word map (as the app sends it)."""
    extra = {}
    if switches:
        words = words_of(loaded.tokenizer, analysis)
        extra = {"value_norms": value_vector_norms(loaded, analysis.hidden_states),
                 "words": WordMap(words.word_of_token, words.labels, words.special)}
    blob = graph_file(analysis.attentions, analysis.labels, analysis.special_mask,
                      analysis.mask_positions, top_predictions_per_token(loaded, analysis, 5),
                      **extra)
    header = json.loads(blob[8:8 + int.from_bytes(blob[4:8], "little")])
    return len(blob), int(header["entries"])


def bertviz_head_view_bytes(analysis: Analysis) -> int:
    import torch
    from bertviz import head_view

    attention = [torch.from_numpy(layer.copy())[None] for layer in analysis.attentions]
    html = head_view(attention, list(analysis.tokens), html_action="return").data
    return len(html.encode("utf-8"))


def measure(loaded: Loaded, tokens: int) -> Row:
    analysis = analyze(loaded, text_of_length(loaded, tokens))
    weights_only, _ = our_payload_bytes(loaded, analysis, switches=False)
    start = time.perf_counter()
    ours, edges = our_payload_bytes(loaded, analysis)
    middle = time.perf_counter()
    theirs = bertviz_head_view_bytes(analysis)
    end = time.perf_counter()
    return Row(analysis.num_tokens, weights_only, ours, edges, theirs, middle - start,
               end - middle)


def build_model(folder: Path, max_tokens: int = 512, small: bool = False) -> Loaded:
    shape = {"layers": 2, "hidden": 32, "heads": 4} if small else \
        {"layers": 6, "hidden": 768, "heads": 12}
    return load(str(build_tiny_model(folder, max_tokens=max_tokens, **shape)))


def main(lengths: tuple[int, ...] = LENGTHS) -> list[Row]:
    from transformers.utils import logging

    logging.set_verbosity_error()  # long helper texts trip the "longer than max length" note
    with tempfile.TemporaryDirectory() as folder:
        loaded = build_model(Path(folder))
        print(f"{'tokens':>6} {'weights only':>13} {'our payload':>12} {'kept':>6} "
              f"{'bertviz head_view':>18} {'ratio':>7} {'ours s':>7} {'bertviz s':>9}")
        rows = []
        for tokens in lengths:
            row = measure(loaded, tokens)
            rows.append(row)
            print(f"{row.tokens:>6} {row.weights_only_bytes:>13,} {row.ours_bytes:>12,} "
                  f"{row.edges:>6} "
                  f"{row.bertviz_bytes:>18,} {row.ratio:>6.0f}× {row.ours_s:>7.2f} "
                  f"{row.bertviz_s:>9.2f}", flush=True)
    return rows


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or LENGTHS)
