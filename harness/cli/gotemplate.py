"""The part of Go's text/template that ``inspect --format`` users write.

Supported actions: ``{{.Field}}`` and ``{{.Field.Key}}`` (a struct field or map key),
``{{json .Field}}`` (buildah's and podman's function; skopeo 1.9 has no ``json``),
``{{index .Field "key"}}``, and ``{{.}}`` (the whole value). Values
print as Go's fmt ``%v`` does (``[a b]`` for a list, ``map[k:v]`` for a map with sorted
keys, ``<no value>`` for a missing map key); ``json`` writes Go's ``encoding/json`` form.
Anything else is refused in one line rather than printed wrong.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from harness.model.gojson import dumps
from harness.util.errors import HarnessError

_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.DOTALL)
_PATH = re.compile(r"\.(?:[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)?")
_NO_VALUE = object()


class TemplateError(HarnessError):
    """A template this subset cannot run."""


def render(template: str, data: Any) -> str:
    """*template* applied to *data* (a JSON-like value)."""
    out: list[str] = []
    position = 0
    for match in _ACTION.finditer(template):
        out.append(_text(template[position:match.start()]))
        out.append(_action(match.group(1), data))
        position = match.end()
    out.append(_text(template[position:]))
    return "".join(out)


def _text(literal: str) -> str:
    if "{{" in literal:
        raise TemplateError("template: unclosed action (a '{{' without its '}}')")
    return literal


def _action(text: str, data: Any) -> str:
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise TemplateError(f"template action {{{{{text}}}}}: {exc}") from None
    if len(words) == 1 and _PATH.fullmatch(words[0]):
        return _print(_lookup(data, words[0]))
    if len(words) == 2 and words[0] == "json" and _PATH.fullmatch(words[1]):
        value = _lookup(data, words[1])
        return "null" if value is _NO_VALUE else dumps(value).decode("utf-8")
    if len(words) == 3 and words[0] == "index" and _PATH.fullmatch(words[1]):
        container = _lookup(data, words[1])
        return _print(container.get(words[2], _NO_VALUE) if isinstance(container, dict)
                      else _NO_VALUE)
    raise TemplateError(f"template action {{{{{text}}}}} is not supported: use {{{{.Field}}}}, "
                        "{{json .Field}} or {{index .Field \"key\"}}")


def _lookup(data: Any, path: str) -> Any:
    value = data
    for name in (part for part in path.split(".") if part):
        if not isinstance(value, dict):
            raise TemplateError(f"template: can't evaluate field {name} in {path}")
        if name not in value:
            return _NO_VALUE
        value = value[name]
    return value


def _print(value: Any) -> str:
    """Go's ``%v``."""
    if value is _NO_VALUE:
        return "<no value>"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(_print(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_print(value[k])}" for k in sorted(value)) + "]"
    return str(value)
