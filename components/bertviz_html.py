"""bertviz's HTML made safe and offline (pure functions, no Streamlit).

bertviz returns a page that loads require.js from a CDN, whose config then loads d3 and jQuery
from the CDN, and embeds its data as JSON inside ``<script>``. Here:

- :func:`escape_script_bodies` makes ``</script>`` or ``<!--`` typed by a user harmless inside
  those scripts (``<\\/`` means the same in JavaScript strings);
- :func:`make_offline` puts the npm-installed copies of jQuery, d3 and require.js inline
  (``node_modules/``, installed by ``npm ci`` in ``scripts/setup-app.sh``) and registers them as
  the ``jquery`` / ``d3`` modules, so nothing is fetched; without ``node_modules`` the CDN tags
  stay as the fallback;
- :func:`bertviz_budget` picks the layers and heads that fit a size budget (bertviz issue #82:
  512 tokens × every layer and head is too much for a browser).
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
REQUIRE_CDN_TAG = (
    '<script src="https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.6/require.min.js">'
    "</script>"
)
NODE_MODULES_ENV = "EXPLORER_NODE_MODULES"
"""Environment variable naming another ``node_modules`` folder to take the scripts from."""
ASSET_FILES = {
    "jquery": Path("jquery/dist/jquery.min.js"),
    "d3": Path("d3/dist/d3.min.js"),
    "requirejs": Path("requirejs/require.js"),
}
# bertviz ends each inline script with "\n</script>\n"; its JSON has no raw newlines, so user
# text can never end a script body early in this pattern.
_SCRIPT_BODY = re.compile(r'(<script type="text/javascript">\n)(.*?)(\n</script>\n)', re.DOTALL)
MAX_BERTVIZ_VALUES = 300_000
"""Attention values one embedded head/model view may carry (about 2 MB of JSON)."""
NEURON_MAX_TOKENS = 32
"""The neuron view also carries queries and keys of every layer; longer inputs are refused."""


def escape_script_body(body: str) -> str:
    """``</`` → ``<\\/`` and ``<!--`` → ``<\\!--``: same JavaScript, cannot close the script."""
    return body.replace("</", "<\\/").replace("<!--", "<\\!--")


def escape_script_bodies(html: str) -> tuple[str, int]:
    """Escape every bertviz inline script body; return the HTML and how many were found."""
    html, count = _SCRIPT_BODY.subn(
        lambda m: m.group(1) + escape_script_body(m.group(2)) + m.group(3), html
    )
    return html, count


def node_modules() -> Path:
    """Where ``npm ci`` put the scripts: ``$EXPLORER_NODE_MODULES`` or ``./node_modules``."""
    return Path(os.environ.get(NODE_MODULES_ENV) or ROOT / "node_modules")


def local_assets() -> dict[str, str] | None:
    """The npm-installed scripts' text, or None when any is missing (then the CDN is used)."""
    return _read_assets(node_modules())


@functools.cache
def _read_assets(folder: Path) -> dict[str, str] | None:
    texts = {}
    for name, relative in ASSET_FILES.items():
        path = folder / relative
        if not path.is_file():
            return None
        texts[name] = path.read_text(encoding="utf-8")
    return texts


def _inline(script: str) -> str:
    return "<script>" + escape_script_body(script) + "</script>"


def make_offline(html: str, assets: dict[str, str] | None) -> tuple[str, bool]:
    """bertviz HTML with user text escaped and, when ``assets`` are given, no CDN request.

    Returns the HTML and whether it is self-contained. jQuery and d3 are loaded before
    require.js (so they set ``window.jQuery`` / ``window.d3`` instead of calling ``define``)
    and then defined as the modules bertviz requires.
    """
    html, scripts = escape_script_bodies(html)
    if scripts == 0:
        raise ValueError("bertviz's HTML changed: no inline script found to escape")
    if assets is None or REQUIRE_CDN_TAG not in html:
        return html, False
    inline = "".join([
        _inline(assets["jquery"]),
        _inline(assets["d3"]),
        _inline(assets["requirejs"]),
        _inline("define('jquery', [], function () { return window.jQuery; });"
                "define('d3', [], function () { return window.d3; });"),
    ])
    return html.replace(REQUIRE_CDN_TAG, inline, 1), True


@dataclass(frozen=True)
class BertvizBudget:
    """Which layers and heads an embedded bertviz view shows, and whether that is all."""

    layers: tuple[int, ...]
    heads: tuple[int, ...]
    complete: bool
    max_values: int = MAX_BERTVIZ_VALUES

    def describe(self, num_layers: int, num_heads: int) -> str:
        if self.complete:
            return "All layers and heads."
        layers = ", ".join(str(layer + 1) for layer in self.layers)
        heads = ("all heads" if len(self.heads) == num_heads
                 else "heads " + ", ".join(str(h + 1) for h in self.heads))
        return (f"Long input: bertviz shows layer(s) {layers} of {num_layers}, {heads} of "
                f"{num_heads}, to stay under {self.max_values:,} attention values "
                "(bertviz slows down and breaks on long inputs).")


def bertviz_budget(
    num_tokens: int,
    num_layers: int,
    num_heads: int,
    layer: int,
    heads: tuple[int, ...] | list[int],
    max_values: int = MAX_BERTVIZ_VALUES,
) -> BertvizBudget:
    """Layers (around ``layer``) and heads (``heads`` first) whose ``n²`` attention values fit
    in ``max_values``. Always at least the chosen layer and one head."""
    per_head = num_tokens * num_tokens
    per_layer = per_head * num_heads
    if per_layer * num_layers <= max_values:
        return BertvizBudget(tuple(range(num_layers)), tuple(range(num_heads)), True, max_values)
    if per_layer <= max_values:
        count = max(1, max_values // per_layer)
        start = min(max(0, layer - count // 2), num_layers - count)
        return BertvizBudget(tuple(range(start, start + count)), tuple(range(num_heads)), False,
                             max_values)
    count = max(1, max_values // per_head)
    preferred = [h for h in sorted(set(heads)) if 0 <= h < num_heads]
    others = [h for h in range(num_heads) if h not in preferred]
    return BertvizBudget((layer,), tuple(sorted((preferred + others)[:count])), False, max_values)


def rounded(array: np.ndarray, decimals: int = 4) -> np.ndarray:
    """Float64 copy rounded to ``decimals``: JSON of ``0.1234`` instead of float32 noise like
    ``0.12340000271797180`` (about a third of the size)."""
    return np.round(np.asarray(array, dtype=np.float64), decimals)


def round_neuron_params(html: str, decimals: int = 4) -> str:
    """Round the numbers in the neuron view's ``window.bertviz_params = {...}`` line."""
    prefix = "window.bertviz_params = "
    start = html.find(prefix)
    if start < 0:
        raise ValueError("bertviz's neuron-view HTML changed: no bertviz_params found")
    end = html.find("\n", start)
    params = json.loads(html[start + len(prefix):end])

    def walk(value: object) -> object:
        if isinstance(value, float):
            return round(value, decimals)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value

    return html[:start] + prefix + json.dumps(walk(params)) + html[end:]


def _layer_tensors(attentions: np.ndarray, budget: BertvizBudget, slice_heads: bool) -> list:
    """bertviz's input: one ``(1, heads, n, n)`` tensor per layer; layers left out of the budget
    get an empty placeholder that bertviz never reads."""
    import torch

    heads = list(budget.heads)
    tensors = []
    for layer in range(attentions.shape[0]):
        if layer not in budget.layers:
            tensors.append(torch.empty(0))
            continue
        values = attentions[layer, heads] if slice_heads else attentions[layer]
        tensors.append(torch.from_numpy(rounded(values))[None])
    return tensors


def head_view_html(attentions: np.ndarray, tokens: list[str], budget: BertvizBudget,
                   layer: int, heads: list[int]) -> str:
    """bertviz's head view (raw, with CDN tags) of ``attentions[layer, head, query, key]``,
    limited to the budget. When heads are left out, bertviz numbers the kept ones 1..k."""
    from bertviz import head_view

    initial = [budget.heads.index(h) for h in heads if h in budget.heads] or None
    return str(head_view(
        attention=_layer_tensors(attentions, budget, slice_heads=True),
        tokens=list(tokens), layer=layer if layer in budget.layers else budget.layers[0],
        heads=initial, include_layers=list(budget.layers), html_action="return",
    ).data)


def model_view_html(attentions: np.ndarray, tokens: list[str], budget: BertvizBudget) -> str:
    """bertviz's model view (raw, with CDN tags), limited to the budget's layers and heads."""
    from bertviz import model_view

    return str(model_view(
        attention=_layer_tensors(attentions, budget, slice_heads=False),
        tokens=list(tokens), include_layers=list(budget.layers),
        include_heads=list(budget.heads), display_mode="light", html_action="return",
    ).data)
