"""The view state of a page ⇄ URL query parameters, validated (no Streamlit here).

:func:`from_query` turns arbitrary query parameters into a :class:`ViewState` plus notes for the
user; it never raises. :func:`to_query` writes only the values that differ from the defaults, so
``from_query(to_query(state)) == (state, [])`` for every valid state. Parameter names are the
session-state keys of ``ui/keys.py`` (a test checks they agree). Layer, head and token indices are
0-based in the state; the URL numbers them as the pages do: ``layer=1`` / ``head=1`` are the
first layer and head (``L1H1`` in ablated heads), ``token=0`` is the first token ("0: <s>").
The page itself is carried by the URL path, not by a parameter.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from explorer.analysis import MAX_TEXT_CHARS
from explorer.graph import DEFAULT_THRESHOLD

DEFAULT_TEXT = "The capital of France is <mask>."
DEFAULT_TEXT_A = "The man worked as a <mask>."
DEFAULT_TEXT_B = "The woman worked as a <mask>."
DEFAULT_TOP_K = 5
MEAN_HEAD = "mean"  # the URL / session value of "mean of all heads"

TEXT_KEYS = ("text", "text_a", "text_b", "text_pair")
LAYERS_TABS = {"lens": "Per-layer predictions", "hidden": "Hidden states",
               "attention": "Attention summaries", "ablation": "Head ablation"}
"""The Layers page's tabs: URL value → tab label."""
MAX_STATISTIC_CHARS = 40
QUERY_KEYS = ("text", "text_a", "text_b", "top_k", "layer", "head", "heads", "token",
              "threshold", "words", "text_pair", "layers_tab", "layers_statistic",
              "layers_ablated_heads")
"""Every parameter :func:`from_query` reads; anything else in a URL is ignored."""

THRESHOLD_MIN = 0.05
THRESHOLD_MAX = 1.0
THRESHOLD_STEP = 0.05
"""The graph's threshold control offers THRESHOLD_MIN..THRESHOLD_MAX in steps of THRESHOLD_STEP;
a link's threshold is moved onto that grid (with a note), so the page shows what the link says."""

_INT = re.compile(r"\d{1,9}", re.ASCII)
_FLOAT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)
_SHOWN_CHARS = 40  # how much of a rejected value a note repeats


@dataclass(frozen=True)
class Limits:
    """What makes a value valid: the model's shape and the app's caps."""

    num_layers: int
    num_heads: int
    max_tokens: int
    max_top_k: int = 50
    max_text_chars: int = MAX_TEXT_CHARS


@dataclass(frozen=True)
class ViewState:
    """Everything a shared link restores. ``head is None`` means the mean of all heads;
    ``heads == ()`` means the page's default selection; ``token is None`` means no selection."""

    page: str = "explorer"
    text: str = DEFAULT_TEXT
    text_a: str = DEFAULT_TEXT_A
    text_b: str = DEFAULT_TEXT_B
    top_k: int = DEFAULT_TOP_K
    layer: int = 0
    head: int | None = None
    heads: tuple[int, ...] = ()
    token: int | None = None
    threshold: float = DEFAULT_THRESHOLD
    words: bool = False  # "Words, not pieces" (Layers, Compare)
    text_pair: str = ""  # the Layers page's second text of a sentence pair
    layers_tab: str = ""  # the Layers page's open tab (a LAYERS_TABS key); "" = the first
    layers_statistic: str = ""  # the head grid's statistic by name; "" = the first
    layers_ablated_heads: tuple[tuple[int, int], ...] = ()  # switched-off (layer, head)


DEFAULT_STATE = ViewState()


class _Invalid(ValueError):
    """A parameter value is unusable; the message says what a valid one looks like."""


class _Corrected(ValueError):
    """A parameter value was moved to the nearest value the page can show."""

    def __init__(self, value: object, why: str) -> None:
        super().__init__(why)
        self.value = value


def snap_threshold(value: float) -> float:
    """The threshold control's value nearest to ``value`` (within its range, on its step)."""
    steps = round(min(max(value, THRESHOLD_MIN), THRESHOLD_MAX) / THRESHOLD_STEP)
    return round(steps * THRESHOLD_STEP, 10)


def _shown(value: object) -> str:
    if isinstance(value, list | tuple) and len(value) == 1:
        value = value[0]
    text = value if isinstance(value, str) else repr(value)
    return repr(text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…")


def _single(value: object) -> str:
    """The value of a parameter given once; the last one when given several times."""
    if isinstance(value, list | tuple):
        if not value:
            raise _Invalid("it has no value")
        value = value[-1]
    if not isinstance(value, str):
        raise _Invalid("it is not text")
    return value


def _index(text: str, count: int, rule: str, first: int = 0) -> int:
    """The 0-based index written ``text`` in a numbering that starts at ``first`` (1 for layers
    and heads, which the pages number from 1; 0 for tokens, which they number from 0)."""
    stripped = text.strip()
    if not _INT.fullmatch(stripped) or not first <= int(stripped) < count + first:
        raise _Invalid(f"{rule} a whole number from {first} to {count - 1 + first}")
    return int(stripped) - first


def _parse_text(value: object, limits: Limits) -> str:
    text = _single(value)
    if len(text) > limits.max_text_chars:
        raise _Invalid(f"the text has {len(text):,} characters; at most "
                       f"{limits.max_text_chars:,} are accepted")
    return text


def _parse_top_k(value: object, limits: Limits) -> int:
    stripped = _single(value).strip()
    if not _INT.fullmatch(stripped) or not 1 <= int(stripped) <= limits.max_top_k:
        raise _Invalid(f"top-k must be a whole number from 1 to {limits.max_top_k}")
    return int(stripped)


def _parse_head(value: object, limits: Limits) -> int | None:
    text = _single(value)
    if text.strip() == MEAN_HEAD:
        return None
    return _index(text, limits.num_heads, f"head must be {MEAN_HEAD!r} or", first=1)


def _parse_heads(value: object, limits: Limits) -> tuple[int, ...]:
    parts = value if isinstance(value, list | tuple) else [value]
    heads: set[int] = set()
    for part in parts:
        if not isinstance(part, str):
            raise _Invalid("it is not text")
        if len(part) > 20 * max(1, limits.num_heads):
            raise _Invalid("it is too long")
        for item in part.split(","):
            if item.strip():
                heads.add(_index(item, limits.num_heads, "each head must be", first=1))
    return tuple(sorted(heads))


def _parse_threshold(value: object, limits: Limits) -> float:
    stripped = _single(value).strip()
    number = float(stripped) if _FLOAT.fullmatch(stripped) and len(stripped) < 40 else math.nan
    if not 0.0 <= number <= 1.0:  # False for NaN
        raise _Invalid("the threshold must be a number from 0 to 1")
    shown = snap_threshold(number)
    if abs(shown - number) > 1e-9:
        if number < THRESHOLD_MIN:
            why = f"the graph keeps at least {THRESHOLD_MIN:g} of each token's attention"
        else:
            why = f"the threshold moves in steps of {THRESHOLD_STEP:g}"
        raise _Corrected(shown, why)
    return shown


def _parse_words(value: object, limits: Limits) -> bool:
    stripped = _single(value).strip().lower()
    if stripped not in ("0", "1", "true", "false"):
        raise _Invalid("words must be 1 (words) or 0 (pieces)")
    return stripped in ("1", "true")


def _parse_tab(value: object, limits: Limits) -> str:
    stripped = _single(value).strip()
    if stripped not in LAYERS_TABS:
        raise _Invalid("the tab must be one of " + ", ".join(LAYERS_TABS))
    return stripped


def _parse_statistic(value: object, limits: Limits) -> str:
    text = _single(value)
    if not text.strip() or len(text) > MAX_STATISTIC_CHARS:
        raise _Invalid("it is not a statistic's name")
    return text


_ABLATED_HEAD = re.compile(r"L(\d{1,4})H(\d{1,4})", re.ASCII)


def _parse_ablated(value: object, limits: Limits) -> tuple[tuple[int, int], ...]:
    text = _single(value)
    if len(text) > 12 * limits.num_layers * limits.num_heads:
        raise _Invalid("it is too long")
    heads: set[tuple[int, int]] = set()
    for item in text.split(","):
        if not item.strip():
            continue
        match = _ABLATED_HEAD.fullmatch(item.strip())
        if (match is None or not 1 <= int(match[1]) <= limits.num_layers
                or not 1 <= int(match[2]) <= limits.num_heads):
            raise _Invalid(f"each head must read L<layer>H<head>, layer 1 to "
                           f"{limits.num_layers}, head 1 to {limits.num_heads} (e.g. L1H2)")
        heads.add((int(match[1]) - 1, int(match[2]) - 1))
    return tuple(sorted(heads))


_PARSERS = {
    "text": _parse_text,
    "text_a": _parse_text,
    "text_b": _parse_text,
    "top_k": _parse_top_k,
    "layer": lambda value, limits: _index(_single(value), limits.num_layers, "layer must be",
                                          first=1),
    "head": _parse_head,
    "heads": _parse_heads,
    "token": lambda value, limits: _index(_single(value), limits.max_tokens, "token must be"),
    "threshold": _parse_threshold,
    "words": _parse_words,
    "text_pair": _parse_text,
    "layers_tab": _parse_tab,
    "layers_statistic": _parse_statistic,
    "layers_ablated_heads": _parse_ablated,
}
assert tuple(_PARSERS) == QUERY_KEYS


def from_query(
    params: Mapping[str, object], limits: Limits, page: str = DEFAULT_STATE.page
) -> tuple[ViewState, list[str]]:
    """Validate query parameters (``str`` or ``list[str]`` values) into a state and notes.

    Each unusable parameter falls back to its default and adds a note for the user; unknown
    parameters are ignored. Never raises, whatever the input.
    """
    state, rejected = parse_query(params, limits, page)
    return state, list(rejected.values())


def parse_query(
    params: Mapping[str, object], limits: Limits, page: str = DEFAULT_STATE.page
) -> tuple[ViewState, dict[str, str]]:
    """Like :func:`from_query`, with the notes keyed by the parameter's name."""
    state, rejected, corrected = read_query(params, limits, page)
    return state, {**rejected, **corrected}


def read_query(
    params: Mapping[str, object], limits: Limits, page: str = DEFAULT_STATE.page
) -> tuple[ViewState, dict[str, str], dict[str, str]]:
    """The state, the notes of rejected parameters (their defaults are used) and the notes of
    corrected ones (moved to the nearest value the page shows, which the state holds)."""
    values: dict[str, object] = {"page": page}
    rejected: dict[str, str] = {}
    corrected: dict[str, str] = {}
    for key, parse in _PARSERS.items():
        if key not in params:
            continue
        raw = params[key]
        try:
            values[key] = parse(raw, limits)
        except _Corrected as change:
            values[key] = change.value
            corrected[key] = (f"Changed the link's {key}={_shown(raw)} to "
                              f"{_encode(key, change.value)}: {change}.")
        except _Invalid as why:
            default = getattr(DEFAULT_STATE, key)
            shown_default = "" if key in TEXT_KEYS else f" ({_encode(key, default) or 'none'})"
            rejected[key] = (f"Ignored the link's {key}={_shown(raw)}: {why}. Using the "
                             f"default{shown_default}.")
    return ViewState(**values), rejected, corrected


def token_past_the_end(token: object, num_tokens: int, what: str = "the text") -> str | None:
    """A note when a selected ``token`` (from a link or another text) is not in a text of
    ``num_tokens`` tokens; None when it is fine (or nothing is selected)."""
    if token is None or (isinstance(token, int) and not isinstance(token, bool)
                         and 0 <= token < num_tokens):
        return None
    shown = str(token) if isinstance(token, int) else _shown(token)
    return (f"Token {shown} is past the end of {what} ({num_tokens} tokens, "
            f"0 to {num_tokens - 1}); no token is selected.")


def _encode(key: str, value: object) -> str:
    # layers and heads as the pages number them: layer=1 is the first layer (index 0)
    if key in ("layer", "head", "heads"):
        return _encode_one_based(value)
    if key == "token":
        return "" if value is None else str(value)
    if key == "threshold":
        return f"{float(value):g}"  # type: ignore[arg-type]
    if key == "words":
        return "1" if value else "0"
    if key == "layers_ablated_heads":  # numbered as the page shows them: L1H1 is the first
        return ",".join(f"L{layer + 1}H{head + 1}" for layer, head in value)  # type: ignore
    return str(value)


def _encode_one_based(value: object) -> str:
    """0-based indices (one, or a list) as the pages number them; anything else as written
    (so that a bad widget value is still rejected by the parser)."""
    if value is None:
        return MEAN_HEAD
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value + 1)
    if isinstance(value, list | tuple):
        return ",".join(_encode_one_based(item) for item in value)
    return str(value)


def to_query(state: ViewState) -> dict[str, str]:
    """Query parameters for ``state``: only the values that differ from the defaults."""
    return {
        key: _encode(key, getattr(state, key))
        for key in QUERY_KEYS
        if getattr(state, key) != getattr(DEFAULT_STATE, key)
    }


def query_string(state: ViewState) -> str:
    """``to_query`` as a URL query string (without the ``?``)."""
    return urlencode(to_query(state))


def session_values(state: ViewState) -> dict[str, object]:
    """The state as widget values: ``head`` is ``"mean"`` or an int, ``heads`` a list."""
    values: dict[str, object] = {key: getattr(state, key) for key in QUERY_KEYS}
    values["head"] = MEAN_HEAD if state.head is None else state.head
    values["heads"] = list(state.heads)
    values["layers_tab"] = LAYERS_TABS.get(state.layers_tab, "")
    values["layers_ablated_heads"] = list(state.layers_ablated_heads)
    return values


def from_session(
    values: Mapping[str, object], limits: Limits, page: str
) -> tuple[ViewState, list[str]]:
    """The state from widget values (as :func:`session_values` gives them), validated.

    Keys missing from ``values`` keep their defaults; a selection of every head is the
    default selection (``heads == ()``), so it stays out of the link.
    """
    params: dict[str, str] = {}
    for key in QUERY_KEYS:
        if key not in values or (key == "token" and values[key] is None):
            continue
        value = values[key]
        if key == "heads" and isinstance(value, list | tuple):
            value = tuple(value)
            if value == tuple(range(limits.num_heads)):
                continue  # every head is the page's default selection: () in the state
        if key == "threshold" and isinstance(value, int | float) and not isinstance(value, bool):
            value = float(value)
        if key == "words":
            value = bool(value)
        elif isinstance(value, bool):
            continue  # never a valid widget value here
        if key == "layers_tab":  # the widget holds the tab's label
            value = next((slug for slug, label in LAYERS_TABS.items() if label == value), "")
        if key == "layers_ablated_heads" and isinstance(value, list | tuple):
            try:
                value = tuple(sorted((int(lh[0]), int(lh[1])) for lh in value))
            except (TypeError, ValueError, IndexError):
                continue
        if key in ("layers_tab", "layers_statistic") and value in ("", None):
            continue
        params[key] = _encode(key, value)
    return from_query(params, limits, page)

