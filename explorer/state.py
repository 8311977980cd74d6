"""The view state of a page ⇄ URL query parameters, validated (no Streamlit here).

:func:`from_query` turns arbitrary query parameters into a :class:`ViewState` plus notes for the
user; it never raises. :func:`to_query` writes only the values that differ from the defaults, so
``from_query(to_query(state)) == (state, [])`` for every valid state. Parameter names are the
session-state keys of ``ui/keys.py`` (a test checks they agree). Layer, head and token indices are
0-based in the state; the URL numbers them as the pages do: ``layer=1`` / ``head=1`` are the
first layer and head (``L1H1`` in ablated heads), ``token=0`` is the first token ("0: <s>"),
``corpus_layer=0`` is the embeddings and ``corpus_layer=1`` the output of layer 1.
The page itself is carried by the URL path, not by a parameter.

A new field is one :class:`ViewState` attribute and one :data:`PARAMS` entry (e.g.
``"graph_words": flag()`` for a switch, ``choice(("a", "b"))`` for a fixed set of values);
the page then lists its session key in its ``*_FIELDS`` tuple (``ui/url_state.py``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlencode

from explorer.analysis import MAX_TEXT_CHARS
from explorer.graph import COMBINE_MODES, DEFAULT_THRESHOLD, WEIGHTINGS
from explorer.model import (
    ModelLoadError,
    check_allowed,
    check_model_name,
    check_public_folder,
    default_model_name,
    shown_model_name,
)

DEFAULT_TEXT = "The capital of France is <mask>."
DEFAULT_TEXT_A = "The man worked as a <mask>."
DEFAULT_TEXT_B = "The woman worked as a <mask>."
DEFAULT_CORPUS_QUERY = "We sat on the bank of the river."
DEFAULT_TOP_K = 5
MEAN_HEAD = "mean"  # the URL / session value of "mean of all heads"
NO_HEADS = "none"  # the URL value of an empty head selection

TEXT_KEYS = ("text", "text_a", "text_b", "text_pair", "corpus_query")
LAYERS_TABS = {"lens": "Per-layer predictions", "hidden": "Hidden states",
               "attention": "Attention summaries", "ablation": "Head ablation",
               "attribution": "Attribution"}
"""The Layers page's tabs: URL value → tab label."""
BERTVIZ_VIEWS = {"head": "head view", "model": "model view", "neuron": "neuron view"}
"""The Explorer's bertviz views: URL value → the view's name (components/bertviz_views.py)."""
BERTVIZ_OFF = "off"  # the bertviz control's value when no view is shown
CORPUS_MODES = ("embedding", "heads")
MAX_STATISTIC_CHARS = 40

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
    ``heads is None`` means the page's default selection (``()``: no head); ``token is None``
    means no selection; ``model_name == ""`` is the server's default model."""

    page: str = "explorer"
    model_name: str = ""  # hub id or folder; "" = the server's default (explorer.model)
    text: str = DEFAULT_TEXT
    text_a: str = DEFAULT_TEXT_A
    text_b: str = DEFAULT_TEXT_B
    top_k: int = DEFAULT_TOP_K
    layer: int = 0
    head: int | None = None
    heads: tuple[int, ...] | None = None
    token: int | None = None
    threshold: float = DEFAULT_THRESHOLD
    combine: str = COMBINE_MODES[0]  # how the graph combines its heads
    hide_special: bool = False  # the graph hides <s>, </s>
    graph_weighting: str = WEIGHTINGS[0]  # the graph draws weights or weights × value norm
    graph_words: bool = False  # the graph merges pieces into words
    bertviz_view: str = ""  # a BERTVIZ_VIEWS key; "" = no bertviz view
    words: bool = False  # "Words, not pieces" (Layers, Compare)
    text_pair: str = ""  # the Layers page's second text of a sentence pair
    layers_tab: str = ""  # the Layers page's open tab (a LAYERS_TABS key); "" = the first
    layers_statistic: str = ""  # the head grid's statistic by name; "" = the first
    layers_ablated_heads: tuple[tuple[int, int], ...] = ()  # switched-off (layer, head)
    corpus_query: str = DEFAULT_CORPUS_QUERY  # the Corpus page's query text
    corpus_token: int | None = None  # its query token; None = the page's first choice
    corpus_layer: int | None = None  # 0 = embeddings, l = layer l; None = the last layer
    corpus_mode: str = CORPUS_MODES[0]  # search by embedding or by heads' output
    corpus_heads: tuple[int, ...] | None = None  # heads compared; None = the page's default


DEFAULT_STATE = ViewState()


class _Invalid(ValueError):
    """A parameter value is unusable; the message says what a valid one looks like."""


class _Corrected(ValueError):
    """A parameter value was moved to the nearest value the page can show."""

    def __init__(self, value: object, why: str) -> None:
        super().__init__(why)
        self.value = value


SKIP = object()
"""What a :attr:`Param.from_widget` returns for a widget value that is the page's default."""


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
    """Heads numbered from 1, comma-separated (or repeated); ``none`` (or nothing) is an empty
    selection."""
    parts = value if isinstance(value, list | tuple) else [value]
    heads: set[int] = set()
    for part in parts:
        if not isinstance(part, str):
            raise _Invalid("it is not text")
        if len(part) > 20 * max(1, limits.num_heads):
            raise _Invalid("it is too long")
        if part.strip() == NO_HEADS:
            continue
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


def _parse_model(value: object, limits: Limits) -> str:
    """A model name this server may load (the rules of :func:`explorer.model.load`: a sane name,
    the allow-list, public mode's folders); "" for the server's default model."""
    name = _single(value).strip()
    try:
        check_model_name(name)
    except ModelLoadError as error:
        raise _Invalid("it is not a model name") from error
    try:
        check_allowed(name)
        check_public_folder(name)
    except (ModelLoadError, OSError, ValueError) as error:
        raise _Invalid("this server does not load that model") from error
    return "" if name == default_model_name() else name


# --- encoders: state value -> URL text (a bad widget value is written as is, so the parser
# rejects it) -------------------------------------------------------------------------------

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


def _encode_heads(value: object) -> str:
    if isinstance(value, list | tuple) and not value:
        return NO_HEADS
    return _encode_one_based(value)


def _encode_flag(value: object) -> str:
    return "1" if value is True else "0" if value is False else str(value)


def _encode_token(value: object) -> str:
    return "" if value is None else str(value)


def _encode_ablated(value: object) -> str:  # numbered as the page shows them: L1H1 is the first
    try:
        return ",".join(f"L{layer + 1}H{head + 1}" for layer, head in value)  # type: ignore
    except (TypeError, ValueError):
        return str(value)


# --- widget values -> state-like values (SKIP: the page's default) -----------------------------

def _as_is(value: object, limits: Limits) -> object:
    return SKIP if isinstance(value, bool) else value  # a bool is never a valid value here


def _optional(value: object, limits: Limits) -> object:
    return SKIP if value is None else _as_is(value, limits)


def _threshold_widget(value: object, limits: Limits) -> object:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return _as_is(value, limits)


def _flag_widget(value: object, limits: Limits) -> object:
    return bool(value)


def _heads_widget(value: object, limits: Limits) -> object:
    """Every head selected is the page's default selection: not in the link."""
    if value is None:
        return SKIP
    if isinstance(value, list | tuple):
        value = tuple(value)
        if value == tuple(range(limits.num_heads)):
            return SKIP
    return _as_is(value, limits)


def _labelled_widget(labels: Mapping[str, str]) -> Callable[[object, Limits], object]:
    """A widget that holds a label (a tab's, a view's name): its URL value, or SKIP."""
    def convert(value: object, limits: Limits) -> object:
        slug = next((slug for slug, label in labels.items() if label == value), None)
        return SKIP if slug is None else slug
    return convert


def _non_empty(value: object, limits: Limits) -> object:
    return SKIP if value in ("", None) else _as_is(value, limits)


def _ablated_widget(value: object, limits: Limits) -> object:
    if isinstance(value, list | tuple):
        try:
            return tuple(sorted((int(lh[0]), int(lh[1])) for lh in value))
        except (TypeError, ValueError, IndexError):
            return SKIP
    return _as_is(value, limits)


def _model_widget(value: object, limits: Limits) -> object:
    if not isinstance(value, str) or value.strip() == default_model_name():
        return SKIP
    return value.strip()


def _corpus_layer_widget(value: object, limits: Limits) -> object:
    """The last layer is the page's default."""
    return SKIP if value is None or value == limits.num_layers else _as_is(value, limits)


def _identity(value: object) -> object:
    return value


@dataclass(frozen=True)
class Param:
    """One URL parameter: how its text is read (``parse`` raises :class:`_Invalid` or
    :class:`_Corrected`), written (``encode``), and how it maps to and from the widget value
    that the page keeps under the same session key."""

    parse: Callable[[object, Limits], Any]
    encode: Callable[[object], str] = str
    to_widget: Callable[[object], object] = _identity
    from_widget: Callable[[object, Limits], object] = _as_is


def flag() -> Param:
    """A switch: ``1`` (on) or ``0`` (off)."""
    def parse(value: object, limits: Limits) -> bool:
        stripped = _single(value).strip().lower()
        if stripped not in ("0", "1", "true", "false"):
            raise _Invalid("it must be 1 (on) or 0 (off)")
        return stripped in ("1", "true")
    return Param(parse, _encode_flag, from_widget=_flag_widget)


def choice(options: tuple[str, ...] | Mapping[str, str],
           labels: Mapping[str, str] | None = None) -> Param:
    """One of ``options`` (URL values). With ``labels`` (URL value → what the widget holds), the
    widget holds the label and the URL the short value."""
    allowed = tuple(options)

    def parse(value: object, limits: Limits) -> str:
        stripped = _single(value).strip()
        if stripped not in allowed:
            raise _Invalid("it must be one of " + ", ".join(allowed))
        return stripped

    if labels is None:
        return Param(parse)
    return Param(parse, to_widget=lambda slug: labels.get(slug, ""),  # type: ignore[arg-type]
                 from_widget=_labelled_widget(labels))


def _layer(value: object, limits: Limits) -> int:
    return _index(_single(value), limits.num_layers, "layer must be", first=1)


def _token(value: object, limits: Limits) -> int:
    return _index(_single(value), limits.max_tokens, "token must be")


def _corpus_layer(value: object, limits: Limits) -> int:
    return _index(_single(value), limits.num_layers + 1,
                  "the layer (0: the embeddings) must be")


def _list_or_none(value: object) -> object:
    return None if value is None else list(value)  # type: ignore[call-overload]


PARAMS: dict[str, Param] = {
    "model_name": Param(_parse_model, from_widget=_model_widget,
                        to_widget=lambda name: name or default_model_name()),
    "text": Param(_parse_text),
    "text_a": Param(_parse_text),
    "text_b": Param(_parse_text),
    "top_k": Param(_parse_top_k),
    "layer": Param(_layer, _encode_one_based),
    "head": Param(_parse_head, _encode_one_based,
                  to_widget=lambda head: MEAN_HEAD if head is None else head),
    "heads": Param(_parse_heads, _encode_heads, _list_or_none, _heads_widget),
    "token": Param(_token, _encode_token, from_widget=_optional),
    "threshold": Param(_parse_threshold, lambda value: f"{float(value):g}"  # type: ignore
                       if isinstance(value, int | float) else str(value),
                       from_widget=_threshold_widget),
    "combine": choice(COMBINE_MODES),
    "hide_special": flag(),
    "graph_weighting": choice(WEIGHTINGS),
    "graph_words": flag(),
    "bertviz_view": Param(choice(BERTVIZ_VIEWS).parse,
                          to_widget=lambda slug: BERTVIZ_VIEWS.get(slug, BERTVIZ_OFF),
                          from_widget=_labelled_widget(BERTVIZ_VIEWS)),
    "words": flag(),
    "text_pair": Param(_parse_text),
    "layers_tab": choice(LAYERS_TABS, LAYERS_TABS),
    "layers_statistic": Param(_parse_statistic, from_widget=_non_empty),
    "layers_ablated_heads": Param(_parse_ablated, _encode_ablated, list, _ablated_widget),
    "corpus_query": Param(_parse_text),
    "corpus_token": Param(_token, _encode_token, from_widget=_optional),
    "corpus_layer": Param(_corpus_layer, _encode_token, from_widget=_corpus_layer_widget),
    "corpus_mode": choice(CORPUS_MODES),
    "corpus_heads": Param(_parse_heads, _encode_heads, _list_or_none, _heads_widget),
}
"""Every parameter :func:`from_query` reads, by name; anything else in a URL is ignored."""
QUERY_KEYS = tuple(PARAMS)
assert set(QUERY_KEYS) == {f.name for f in fields(ViewState)} - {"page"}, "one Param per field"


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


def _shown_default(key: str) -> str:
    if key == "model_name":
        return f" ({shown_model_name(default_model_name())})"
    default = getattr(DEFAULT_STATE, key)
    if key in TEXT_KEYS or (default is None and key not in ("head", "token")):
        return ""  # the page's own choice
    return f" ({_encode(key, default) or 'none'})"


def read_query(
    params: Mapping[str, object], limits: Limits, page: str = DEFAULT_STATE.page
) -> tuple[ViewState, dict[str, str], dict[str, str]]:
    """The state, the notes of rejected parameters (their defaults are used) and the notes of
    corrected ones (moved to the nearest value the page shows, which the state holds)."""
    values: dict[str, object] = {"page": page}
    rejected: dict[str, str] = {}
    corrected: dict[str, str] = {}
    for key, param in PARAMS.items():
        if key not in params:
            continue
        raw = params[key]
        try:
            values[key] = param.parse(raw, limits)
        except _Corrected as change:
            values[key] = change.value
            corrected[key] = (f"Changed the link's {key}={_shown(raw)} to "
                              f"{_encode(key, change.value)}: {change}.")
        except _Invalid as why:
            rejected[key] = (f"Ignored the link's {key}={_shown(raw)}: {why}. Using the "
                             f"default{_shown_default(key)}.")
    return ViewState(**values), rejected, corrected  # type: ignore[arg-type]


def token_past_the_end(token: object, num_tokens: int, what: str = "the text") -> str | None:
    """A note when a selected ``token`` (from a link or another text) is not in a text of
    ``num_tokens`` tokens; None when it is fine (or nothing is selected)."""
    if token is None or (isinstance(token, int) and not isinstance(token, bool)
                         and 0 <= token < num_tokens):
        return None
    shown = str(token) if isinstance(token, int) else _shown(token)
    return (f"Token {shown} is past the end of {what} ({num_tokens} tokens, "
            f"0 to {num_tokens - 1}); no token is selected.")


def unsearchable_token_note(token: object, labels: Sequence[str], special: Sequence[bool],
                            instead: int) -> str:
    """Why the Corpus page cannot search ``token`` of a query of ``labels`` (a special token,
    which is never indexed, or one past the end) and which token it searches ``instead``."""
    shown = f"{instead}: {labels[instead]}"
    in_text = isinstance(token, int) and not isinstance(token, bool) and 0 <= token < len(labels)
    if in_text and special[token]:
        return (f"Token {token} ({labels[token]}) is a special token, which the corpus index "
                f"does not hold; searching token {shown} instead.")
    what = str(token) if isinstance(token, int) else _shown(token)
    return (f"Token {what} is past the end of the query ({len(labels)} tokens, 0 to "
            f"{len(labels) - 1}); searching token {shown} instead.")


def _encode(key: str, value: object) -> str:
    return PARAMS[key].encode(value)


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
    """The state as widget values: ``head`` is ``"mean"`` or an int, ``heads`` a list (None:
    the page's default), tabs and views by their labels."""
    return {key: param.to_widget(getattr(state, key)) for key, param in PARAMS.items()}


def from_session(
    values: Mapping[str, object], limits: Limits, page: str
) -> tuple[ViewState, list[str]]:
    """The state from widget values (as :func:`session_values` gives them), validated.

    Keys missing from ``values`` keep their defaults; a selection of every head is the
    default selection (``heads is None``), so it stays out of the link.
    """
    params: dict[str, str] = {}
    for key, param in PARAMS.items():
        if key not in values:
            continue
        value = param.from_widget(values[key], limits)
        if value is not SKIP:
            params[key] = param.encode(value)
    return from_query(params, limits, page)
