"""The registry's own errors, carried with their distribution error code.

The code must survive intact: callers read :attr:`RegistryError.code`, and the destination
turns a manifest refused with ``MANIFEST_INVALID`` / ``TAG_INVALID`` into a
``ManifestTypeRejected`` (still this error) so a copy tries its next manifest type.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from harness.util.errors import HarnessError

_MAX_ERROR_BODY = 64 * 1024  # an error body is small; a hostile one must not fill memory
# Codes the registry did not spell out in a body, by HTTP status (distribution's meanings).
_CODE_BY_STATUS = {401: "UNAUTHORIZED", 403: "DENIED", 404: "NOT_FOUND", 405: "UNSUPPORTED",
                   416: "RANGE_INVALID", 429: "TOOMANYREQUESTS"}


@dataclass(frozen=True)
class ErrorDetail:
    """One entry of the ``{"errors": [...]}`` body."""

    code: str
    message: str
    detail: str


class RegistryError(HarnessError):
    """The registry refused a request; ``code`` is its first error code (``MANIFEST_INVALID``)."""

    def __init__(self, method: str, url: str, status: int, errors: list[ErrorDetail]) -> None:
        self.method = method
        self.path = urlsplit(url).path  # never the query: upload state tokens are noise
        self.status = status
        self.errors = errors
        first = errors[0] if errors else ErrorDetail(_CODE_BY_STATUS.get(status, ""), "", "")
        self.code = first.code
        self.message = first.message
        self.detail = first.detail
        what = " ".join(part for part in (first.code, first.message) if part) or "no error body"
        super().__init__(f"{method} {self.path}: HTTP {status} {what}")

    @classmethod
    def from_response(cls, response: requests.Response) -> RegistryError:
        """Build the error from a failed response, reading its (small) error body."""
        request = response.request
        body = next(response.iter_content(_MAX_ERROR_BODY), b"")
        return cls(request.method or "?", response.url or request.url or "", response.status_code,
                   parse_error_body(body))


class ProtocolError(HarnessError):
    """The registry answered something the distribution spec does not allow."""


def _text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def parse_error_body(body: bytes) -> list[ErrorDetail]:
    """The entries of a distribution error body; empty when the body is not one."""
    try:
        document = json.loads(body)
    except ValueError:
        return []
    entries = document.get("errors") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        return []
    return [ErrorDetail(_text(e.get("code")), _text(e.get("message")), _text(e.get("detail")))
            for e in entries if isinstance(e, dict)]
