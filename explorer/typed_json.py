"""One definition of a JSON contract, checked on both sides: Python ``TypedDict`` s are the
source; :func:`problems` checks a JSON value against one (Python's side), and
:func:`jsdoc_typedefs` writes the same types as JSDoc ``@typedef`` s, which a component's JS
carries verbatim (a test compares them, so neither side can drift alone).

Only what JSON holds is supported: ``int``, ``float``, ``str``, ``bool``, ``None``, ``Any``,
``list[...]``, ``Literal[...]``, unions (``X | None``) and nested ``TypedDict`` s.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints, is_typeddict


def _is_union(hint: object) -> bool:
    return get_origin(hint) in (Union, types.UnionType)


def problems(value: object, hint: object, where: str = "$") -> list[str]:
    """Where ``value`` (parsed JSON) breaks ``hint``; empty when it conforms. A TypedDict's
    required keys must be present and no unknown key may appear."""
    if hint is Any:
        return []
    if hint is None or hint is type(None):
        return [] if value is None else [f"{where}: {value!r} is not null"]
    if hint is bool:
        return [] if isinstance(value, bool) else [f"{where}: {value!r} is not a boolean"]
    if hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{where}: {value!r} is not an integer"]
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok else [f"{where}: {value!r} is not a number"]
    if hint is str:
        return [] if isinstance(value, str) else [f"{where}: {value!r} is not a string"]
    if get_origin(hint) is Literal:
        options = get_args(hint)
        ok = any(value == option and type(value) is type(option) for option in options)
        return [] if ok else [f"{where}: {value!r} is not one of {options}"]
    if _is_union(hint):
        found = [problems(value, option, where) for option in get_args(hint)]
        return [] if any(not found_here for found_here in found) else \
            [f"{where}: {value!r} fits none of {hint}"]
    if get_origin(hint) is list:
        if not isinstance(value, list):
            return [f"{where}: {value!r} is not a list"]
        (item,) = get_args(hint) or (Any,)
        return [problem for i, element in enumerate(value)
                for problem in problems(element, item, f"{where}[{i}]")]
    if is_typeddict(hint):
        if not isinstance(value, dict):
            return [f"{where}: {value!r} is not an object ({hint.__name__})"]
        fields = get_type_hints(hint)
        found = [f"{where}.{key}: missing" for key in sorted(hint.__required_keys__)
                 if key not in value]
        found += [f"{where}.{key}: not a field of {hint.__name__}" for key in value
                  if key not in fields]
        for key, field in fields.items():
            if key in value:
                found += problems(value[key], field, f"{where}.{key}")
        return found
    raise TypeError(f"{hint!r} is not a JSON type")


def _jsdoc_type(hint: object) -> str:
    if hint is Any:
        return "*"
    if hint is None or hint is type(None):
        return "null"
    if hint is bool:
        return "boolean"
    if hint in (int, float):
        return "number"
    if hint is str:
        return "string"
    if get_origin(hint) is Literal:
        return " | ".join(
            f'"{option}"' if isinstance(option, str) else str(option).lower()
            for option in get_args(hint))
    if _is_union(hint):
        return "(" + " | ".join(_jsdoc_type(option) for option in get_args(hint)) + ")"
    if get_origin(hint) is list:
        (item,) = get_args(hint) or (Any,)
        return f"Array<{_jsdoc_type(item)}>"
    if is_typeddict(hint):
        return hint.__name__
    raise TypeError(f"{hint!r} is not a JSON type")


def _first_line(doc: str | None) -> str:
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def jsdoc_typedefs(typed_dicts: Sequence[type]) -> str:
    """The ``typed_dicts`` as JSDoc typedefs (one comment block each, in order); a field that
    may be left out is written ``[name]``."""
    blocks = []
    for typed in typed_dicts:
        if not is_typeddict(typed):
            raise TypeError(f"{typed!r} is not a TypedDict")
        lines = ["/**", f" * {_first_line(typed.__doc__)}", f" * @typedef {{Object}} "
                 f"{typed.__name__}"]
        for key, field in get_type_hints(typed).items():
            name = key if key in typed.__required_keys__ else f"[{key}]"
            lines.append(f" * @property {{{_jsdoc_type(field)}}} {name}")
        lines.append(" */")
        blocks.append("\n".join(lines))
    return "\n".join(blocks) + "\n"


def field_names(typed: type) -> frozenset[str]:
    """The fields of a TypedDict."""
    return frozenset(typing.get_type_hints(typed))
