"""Typed reads of decoded JSON objects, with errors that name the offending field.

Manifests and configs arrive from users and registries; a wrong type must become a
one-line error ("layers[2].size must be a non-negative integer"), never a KeyError.
"""

from __future__ import annotations

import json
import math
from typing import Any

from harness.util.errors import HarnessError


class FieldError(HarnessError, ValueError):
    """A JSON document lacks a field or has one of the wrong type."""


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range")
    return value


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def load_object(data: bytes, what: str) -> dict[str, Any]:
    """Decode *data* as a JSON object (strict: no NaN/Infinity, no out-of-range numbers,
    which Go's decoder rejects too and which could not be written back)."""
    try:
        # UTF-8 only, as Go reads JSON (json.loads would also guess UTF-16 and UTF-32).
        value = json.loads(data.decode("utf-8"), parse_float=_finite,
                           parse_constant=_no_constant)
    except RecursionError as exc:
        raise FieldError(f"{what} is nested too deeply") from exc
    except ValueError as exc:  # also bad UTF-8, and integers beyond Python's digit limit
        raise FieldError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise FieldError(f"{what} must be a JSON object, not {type(value).__name__}")
    return value


def get_str(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise FieldError(f"{where}{key} must be a string")
    return value


def require_str(obj: dict[str, Any], key: str, where: str) -> str:
    value = get_str(obj, key, where)
    if value is None:
        raise FieldError(f"{where}{key} is required")
    return value


def get_int(obj: dict[str, Any], key: str, where: str) -> int | None:
    value = obj.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise FieldError(f"{where}{key} must be an integer")
    return value


def require_int(obj: dict[str, Any], key: str, where: str) -> int:
    value = get_int(obj, key, where)
    if value is None:
        raise FieldError(f"{where}{key} is required")
    return value


def get_bool(obj: dict[str, Any], key: str, where: str) -> bool:
    value = obj.get(key, False)
    if not isinstance(value, bool):
        raise FieldError(f"{where}{key} must be true or false")
    return value


def get_object(obj: dict[str, Any], key: str, where: str,
               *, required: bool = False) -> dict[str, Any] | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise FieldError(f"{where}{key} is required")
        return None
    if not isinstance(value, dict):
        raise FieldError(f"{where}{key} must be an object")
    return value


def get_list(obj: dict[str, Any], key: str, where: str, *, required: bool = False) -> list[Any]:
    value = obj.get(key)
    if value is None:
        if required:
            raise FieldError(f"{where}{key} is required")
        return []
    if not isinstance(value, list):
        raise FieldError(f"{where}{key} must be an array")
    return value


def get_str_list(obj: dict[str, Any], key: str, where: str) -> list[str]:
    values = get_list(obj, key, where)
    if not all(isinstance(v, str) for v in values):
        raise FieldError(f"{where}{key} must be an array of strings")
    return values


def get_str_map(obj: dict[str, Any], key: str, where: str) -> dict[str, str]:
    value = get_object(obj, key, where) or {}
    if not all(isinstance(v, str) for v in value.values()):
        raise FieldError(f"{where}{key} must map strings to strings")
    return value
