"""JSON bytes the way Go's ``encoding/json`` writes them.

Manifests and configs are hashed, so "canonical" has to mean one exact byte form; the
peers are Go programs, so matching ``json.Marshal`` (compact, UTF-8, ``<``, ``>``, ``&``
and U+2028/U+2029 escaped) makes our bytes and theirs comparable.
"""

from __future__ import annotations

import json
import re
from typing import Any

# A lone surrogate ("\ud800" in the input JSON) has no UTF-8 form; Go decodes it as U+FFFD.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_GO_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def dumps(value: Any) -> bytes:
    """Encode *value* compactly, keeping dict order (callers put keys in Go struct order)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return _encode(text)


def dumps_sorted(value: Any) -> bytes:
    """Encode like Go does a ``map[string]...``: keys sorted."""
    text = json.dumps(
        value, separators=(",", ":"), ensure_ascii=False, allow_nan=False, sort_keys=True
    )
    return _encode(text)


def dumps_indent(value: Any, indent: str) -> bytes:
    """Encode like Go's ``json.MarshalIndent(value, "", indent)``, keeping dict order."""
    text = json.dumps(value, indent=indent, separators=(",", ": "), ensure_ascii=False,
                      allow_nan=False)
    return _encode(text)


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[ \t\n\r]+')


def compact(raw: str) -> bytes:
    """A JSON value's text as ``json.Marshal`` writes a ``json.RawMessage`` holding it:
    the whitespace between tokens dropped (Go's ``Compact``), every other byte kept as it
    is (numbers, string escapes), ``<``, ``>``, ``&``, U+2028 and U+2029 escaped."""
    return _encode(_TOKEN.sub(lambda m: m[0] if m[0].startswith('"') else "", raw))


def go_string(text: str) -> str:
    """*text* as Go holds it after decoding: every lone surrogate is U+FFFD."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def _encode(text: str) -> bytes:
    # The escaped characters can only occur inside strings, so a plain translation is exact.
    return go_string(text.translate(_GO_ESCAPES)).encode("utf-8")
