"""The one retry policy: how many times an operation may be tried again, and how long apart.

buildah's and skopeo's rules (containers/common ``pkg/retry``): ``--retry`` retries (3 by
default) ``--retry-delay`` apart (2 s by default; no delay given means 1, 2, 4 ... s), a
``WARN Failed, retrying in 2s ... (1/3)`` line before each. The Go tools retry the whole
push; this project also retries single requests (so a reset blob upload resumes instead of
starting over), and both draw on one :class:`Retries` budget per operation: a request
retried twice leaves one retry for the rest of the copy, so the retries never multiply.

Which failures are worth a retry is the caller's call (the registry client's rules are in
:mod:`harness.transports.docker.retry`); this module only counts, waits and says so.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

MAX_DELAY = 60.0  # seconds; a registry asking for a longer Retry-After is capped, not obeyed


@dataclass(frozen=True)
class RetryPolicy:
    """At most *times* retries per operation, *delay* seconds apart (None: 1, 2, 4 ... s).

    *deadline* bounds the whole operation in seconds (skopeo's ``--command-timeout``): no
    retry starts after it, and requests are not given longer than what is left. *warn*
    receives one line per retry and per long wait (buildah's ``WARN`` lines); None keeps
    quiet, as a library should unless asked.
    """

    times: int = 3
    delay: float | None = 2.0
    deadline: float | None = None
    warn: TextIO | None = field(default=None, compare=False)
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """The wait before retry number *attempt* (0-based): a server's ``Retry-After`` wins."""
        if retry_after is not None:
            wait = retry_after
        elif self.delay is not None:
            wait = self.delay
        else:
            wait = float(2 ** attempt)
        return min(max(wait, 0.0), MAX_DELAY)

    def start(self) -> Retries:
        """The budget of one operation (a copy, a push, an inspect)."""
        return Retries(self)


class Retries:
    """The retries one operation has left; thread-safe (blobs are copied in parallel)."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.used = 0
        self._started = time.monotonic()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Retries({self.used}/{self.policy.times} used)"

    def remaining_time(self) -> float | None:
        """Seconds left before the operation's deadline; None when it has none."""
        if self.policy.deadline is None:
            return None
        return max(self.policy.deadline - (time.monotonic() - self._started), 0.0)

    def again(self, error: str, retry_after: float | None = None) -> bool:
        """Spend one retry after *error*: say so, wait, and return True; False when none is
        left (or the deadline would pass while waiting): the caller then raises."""
        with self._lock:
            if self.used >= self.policy.times:
                return False
            wait = self.policy.backoff(self.used, retry_after)
            left = self.remaining_time()
            if left is not None and wait >= left:
                return False
            self.used += 1
            number = self.used
        self.say(f"Failed, retrying in {_seconds(wait)} ... ({number}/{self.policy.times}). "
                 f"Error: {error}")
        self.policy.sleep(wait)
        return True

    def say(self, message: str) -> None:
        """One ``WARN`` line to the policy's writer, if any."""
        if self.policy.warn is not None:
            print(f"WARN {message}", file=self.policy.warn, flush=True)


def _seconds(value: float) -> str:
    """A duration as Go prints one: ``2s``, ``500ms``, ``1.5s``."""
    if 0 < value < 1:
        return f"{value * 1000:g}ms"
    return f"{value:g}s"


def parse_duration(text: str) -> float:
    """Seconds from a Go duration (``2s``, ``500ms``, ``1m30s``) or a plain number of seconds.

    Raises ValueError on anything else (argparse turns it into a usage error).
    """
    text = text.strip()
    try:
        return _non_negative(float(text))
    except ValueError:
        pass
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    total, rest = 0.0, text
    if not rest:
        raise ValueError("empty duration")
    while rest:
        number = ""
        while rest and (rest[0].isdigit() or rest[0] == "."):
            number, rest = number + rest[0], rest[1:]
        unit = ""
        while rest and not (rest[0].isdigit() or rest[0] == "."):
            unit, rest = unit + rest[0], rest[1:]
        if not number or unit not in units:
            raise ValueError(f"invalid duration {text!r} (examples: 2s, 500ms, 1m30s)")
        total += float(number) * units[unit]
    return _non_negative(total)


def _non_negative(value: float) -> float:
    if value < 0 or not math.isfinite(value):
        raise ValueError("a duration must be a finite, non-negative time")
    return value
