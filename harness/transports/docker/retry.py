"""Which failed registry requests are worth another try (containers/common's rules).

Retryable: a connection reset or cut short, a timeout after the registry has answered once,
a refusal from a registry that answered before (it may be restarting), a 5xx and a 429
(its ``Retry-After`` sets the wait). Never: a refusal, a DNS failure or silence on the first
contact, a TLS verification failure, the wrong scheme, any other 4xx, a digest mismatch.
How many tries and how far apart is :class:`harness.util.retry.RetryPolicy`'s call.
"""

from __future__ import annotations

import email.utils
import time

from harness.transports.docker.headers import decimal
from harness.transports.docker.session import ConnectionFailed


def is_transient_status(status: int) -> bool:
    """Whether an HTTP status is worth repeating the request for."""
    return status == 429 or status >= 500


# Failures of the connection itself (refused, reset, truncated body, timed out), as every
# session raises them; which of them another try may fix is errors.connection_failure's call.
TRANSIENT_EXCEPTIONS: tuple[type[Exception], ...] = (ConnectionFailed,)


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
