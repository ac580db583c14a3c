"""A record of every request and response, in memory and optionally as JSON lines.

Credentials never reach the record: authorization and cookie headers are redacted.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

REDACTED = "<redacted>"
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})


def redact(headers: list[tuple[str, str]]) -> dict[str, str]:
    """Headers as a dict with credentials replaced (repeated names are joined by ', ')."""
    out: dict[str, str] = {}
    for name, value in headers:
        shown = REDACTED if name.lower() in _SECRET_HEADERS else value
        out[name] = f"{out[name]}, {shown}" if name in out else shown
    return out


@dataclass(frozen=True)
class Entry:
    """One exchange. Sizes are the body bytes that really crossed (after faults)."""

    method: str
    path: str
    query: str
    status: int
    request_headers: dict[str, str]
    response_headers: dict[str, str]
    request_bytes: int
    response_bytes: int
    started: float
    duration_ms: float
    fault: str | None = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


class Transcript:
    """Thread-safe list of :class:`Entry`; ``record_to`` appends each as a JSON line."""

    def __init__(self, record_to: Path | None = None) -> None:
        self._lock = threading.Lock()
        self.entries: list[Entry] = []
        self._file: IO[str] | None = (
            record_to.open("a", encoding="utf-8") if record_to is not None else None
        )

    def add(self, entry: Entry) -> None:
        with self._lock:
            self.entries.append(entry)
            if self._file is not None:
                self._file.write(entry.to_json() + "\n")
                self._file.flush()

    def requests(self, method: str | None = None, path: str | None = None,
                 status: int | None = None) -> list[Entry]:
        """Entries matching all given filters; *path* is a shell glob (``/v2/*/blobs/*``)."""
        with self._lock:
            entries = list(self.entries)
        return [
            e for e in entries
            if (method is None or e.method == method.upper())
            and (path is None or fnmatch.fnmatchcase(e.path, path))
            and (status is None or e.status == status)
        ]

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
