"""How a check states what it expects of a response, and says "unsupported".

A broken rule raises :class:`CheckFailed` (an ``AssertionError``: the check fails); any other
exception means the check itself could not run (an error). :func:`unsupported` marks a
valid answer for an optional feature.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

import pytest
import requests

UNSUPPORTED_PREFIX = "unsupported: "

# The codes of the OCI distribution spec plus distribution's own (reference.md).
KNOWN_CODES = frozenset({
    "BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "MANIFEST_UNVERIFIED",
    "NAME_INVALID", "NAME_UNKNOWN", "SIZE_INVALID", "TAG_INVALID", "UNAUTHORIZED", "DENIED",
    "UNSUPPORTED", "TOOMANYREQUESTS", "RANGE_INVALID", "PAGINATION_NUMBER_INVALID",
})


class CheckFailed(AssertionError):
    """The registry broke the rule the check enforces."""


class ShouldMissed(AssertionError):
    """The registry missed a SHOULD: a warning whatever the check's own level."""


class SetupFailed(RuntimeError):
    """A step the check needs (not the rule it enforces) did not work: the check errors."""


def unsupported(reason: str) -> NoReturn:
    """End the check as "unsupported": the registry gave a valid answer for an optional feature."""
    pytest.skip(UNSUPPORTED_PREFIX + reason)


def missed_should(reason: str) -> NoReturn:
    """End the check as "warn": a recommendation (SHOULD) of the spec is not followed."""
    raise ShouldMissed(reason)


def describe(response: requests.Response) -> str:
    """``METHOD path -> status (codes)`` for failure messages."""
    request = response.request
    codes = error_codes(response)
    suffix = f" ({', '.join(codes)})" if codes else ""
    path, _, query = str(request.path_url).partition("?")
    if query:  # upload state tokens are long noise; short queries (?n=2) say what was asked
        path += f"?{query}" if len(query) <= 80 else "?..."
    return f"{request.method} {path} -> {response.status_code}{suffix}"


def _codes_in(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["code"]] if isinstance(value.get("code"), str) else []
        return found + [c for v in value.values() for c in _codes_in(v)]
    if isinstance(value, list):
        return [c for v in value for c in _codes_in(v)]
    return []


def error_codes(response: requests.Response) -> list[str]:
    """Every error code found anywhere in a JSON body (lenient: structure is checked apart)."""
    if response.request.method == "HEAD" or not response.content:
        return []
    try:
        return _codes_in(json.loads(response.content))
    except ValueError:
        return []


def expect_status(response: requests.Response, *statuses: int) -> None:
    """Fail unless the status is one of *statuses*."""
    if response.status_code not in statuses:
        wanted = " or ".join(map(str, statuses))
        raise CheckFailed(f"{describe(response)}: expected {wanted}")


def expect_error(response: requests.Response, status: int, *codes: str) -> None:
    """Fail unless the status is *status* and the body names one of *codes*."""
    expect_status(response, status)
    if response.request.method == "HEAD" or not codes:
        return
    if not set(codes) & set(error_codes(response)):
        raise CheckFailed(f"{describe(response)}: expected error code {' or '.join(codes)}")


def expect_header(response: requests.Response, name: str) -> str:
    """The value of header *name*; fail when it is missing."""
    value = response.headers.get(name)
    if value is None:
        raise CheckFailed(f"{describe(response)}: no {name} header")
    return value


def setup_step(response: requests.Response, *statuses: int) -> requests.Response:
    """Like :func:`expect_status` for a preparatory request: a surprise is an error."""
    if response.status_code not in statuses:
        raise SetupFailed(f"setup step {describe(response)} did not answer "
                          f"{' or '.join(map(str, statuses))}")
    return response
