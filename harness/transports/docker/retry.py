"""When and how long to wait before repeating a failed registry request.

Transient failures (connection errors, 5xx, 429) are repeated with exponential backoff, up to
``SystemContext.retry_times`` times; a 429's ``Retry-After`` wins over the computed delay. A
4xx other than 429 or a digest mismatch is the caller's fault and is never repeated.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from harness.transports.docker.headers import decimal

MAX_DELAY = 60.0  # seconds; a registry asking for more is capped rather than obeyed


def is_transient_status(status: int) -> bool:
    """Whether an HTTP status is worth repeating the request for."""
    return status == 429 or status >= 500


# Failures of the connection itself (refused, reset, truncated body, timed out). The
# builtin ConnectionError is what a socket reset raises below requests' own wrapping.
TRANSIENT_EXCEPTIONS: tuple[type[Exception], ...] = (
    requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
    ConnectionError,
)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date); None if absent."""
    if not value:
        return None
    value = value.strip()
    seconds = decimal(value)
    if seconds is not None:
        return float(seconds)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff: ``delay * 2**attempt``, capped at :data:`MAX_DELAY`."""

    times: int = 3
    delay: float = 1.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def backoff(self, attempt: int, retry_after: str | None = None) -> float:
        """The wait before repeat number *attempt* (0-based)."""
        asked = parse_retry_after(retry_after)
        wait = asked if asked is not None else self.delay * (2 ** attempt)
        return min(wait, MAX_DELAY)

    def wait(self, attempt: int, retry_after: str | None = None) -> None:
        self.sleep(self.backoff(attempt, retry_after))
