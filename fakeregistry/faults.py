"""Fault injection: rules that make chosen requests fail the way networks and registries do.

A rule matches on method, path glob, repository and the nth matching request, then does
one thing: answer an error status (with a spec error body), answer 429 with
``Retry-After``, add latency, drop the connection after N body bytes, truncate the body
(and its Content-Length), or send a wrong ``Docker-Content-Digest``. Random choices
(``probability``) come from one generator seeded by the registry, so a run is repeatable.
:class:`FaultLayer` applies them as WSGI middleware.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from fakeregistry import routes
from fakeregistry.errors import RegistryError
from fakeregistry.replies import error_reply
from fakeregistry.transcript import FAULT_KEY, SETTLE_KEY
from harness.model.digest import Digest
from harness.util.errors import HarnessError

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class FaultRuleError(HarnessError, ValueError):
    """A fault rule given as text could not be parsed."""


@dataclass
class FaultRule:
    """Match fields (None matches anything), then the fault to inject."""

    method: str | None = None
    path: str | None = None
    repository: str | None = None
    nth: int | None = None
    """Fire only on the nth matching request (1-based)."""
    times: int | None = None
    """Fire at most this many times."""
    probability: float = 1.0
    status: int | None = None
    code: str = "UNSUPPORTED"
    retry_after: int | None = None
    latency: float = 0.0
    drop_after: int | None = None
    truncate: int | None = None
    wrong_digest: bool = False
    matched: int = field(default=0, compare=False)
    fired: int = field(default=0, compare=False)

    def describe(self) -> str:
        shown = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                 if f.name not in {"matched", "fired"} and getattr(self, f.name) != f.default}
        return ",".join(f"{k}={v}" for k, v in shown.items())

    def matches(self, method: str, path: str, repository: str | None) -> bool:
        return ((self.method is None or self.method.upper() == method)
                and (self.path is None or fnmatch.fnmatchcase(path, self.path))
                and (self.repository is None or self.repository == repository))

    @classmethod
    def parse(cls, text: str) -> FaultRule:
        """``key=value,...`` with the field names, e.g. ``method=PUT,nth=2,status=503``."""
        types = {f.name: f.type for f in dataclasses.fields(cls)
                 if f.name not in {"matched", "fired"}}
        values: dict[str, object] = {}
        for item in filter(None, text.split(",")):
            key, sep, raw = item.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or key not in types:
                raise FaultRuleError(
                    f"bad fault rule item {item!r}: use key=value with keys {', '.join(types)}"
                )
            values[key] = _convert(key, str(types[key]), raw.strip())
        return cls(**values)  # type: ignore[arg-type]


def _convert(key: str, type_name: str, raw: str) -> object:
    try:
        if "bool" in type_name:
            return raw.lower() in {"1", "true", "yes", "on"}
        if "float" in type_name:
            return float(raw)
        if "int" in type_name:
            return int(raw)
    except ValueError:
        raise FaultRuleError(f"bad fault rule value {key}={raw!r}: not a number") from None
    return raw


class Faults:
    """The active rules; :meth:`pick` returns the first rule that fires for a request."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self.rules: list[FaultRule] = []

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def pick(self, method: str, path: str, repository: str | None) -> FaultRule | None:
        with self._lock:
            for rule in self.rules:
                if not rule.matches(method, path, repository):
                    continue
                rule.matched += 1
                if rule.nth is not None and rule.matched != rule.nth:
                    continue
                if rule.times is not None and rule.fired >= rule.times:
                    continue
                if rule.probability < 1.0 and self._random.random() >= rule.probability:
                    continue
                rule.fired += 1
                return rule
        return None


class FaultLayer:
    """WSGI middleware: the rule that fires for a request replaces or bends its answer.

    Inside the transcript's :class:`~fakeregistry.transcript.Recorder` (which records
    what the client really got) and around everything else, so a fault hits any
    request, routed or not, authorised or not.
    """

    def __init__(self, app: WSGIApplication, faults: Faults) -> None:
        self._app = app
        self._faults = faults

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        rule = self._faults.pick(request.method, request.path, routes.repository(environ))
        if rule is None:
            return self._app(environ, start_response)
        environ[FAULT_KEY] = rule.describe()
        if rule.latency:
            time.sleep(rule.latency)
        if rule.status is not None or rule.retry_after is not None:
            return _fault_response(rule)(environ, start_response)

        def bend(status: str, headers: list[tuple[str, str]],
                 exc_info: object = None, /) -> object:
            return start_response(status, _bent_headers(rule, headers),
                                  exc_info)  # type: ignore[arg-type]

        inner = self._app(environ, bend)  # type: ignore[arg-type]
        return _CutBody(inner, rule, environ.get(SETTLE_KEY), environ.get("werkzeug.socket"))


def _bent_headers(rule: FaultRule, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name, _bent(rule, name.lower(), value)) for name, value in headers]


def _bent(rule: FaultRule, name: str, value: str) -> str:
    if rule.wrong_digest and name == "docker-content-digest":
        return str(Digest.from_bytes(b"wrong digest"))
    if rule.truncate is not None and name == "content-length":
        return str(min(rule.truncate, int(value)))
    return value


def _fault_response(rule: FaultRule) -> Response:
    status = rule.status if rule.status is not None else 429
    code = "TOOMANYREQUESTS" if status == 429 else rule.code
    error = RegistryError(code, f"injected fault ({rule.describe()})", status=status)
    response = error_reply(error)
    if rule.retry_after is not None:
        response.headers["Retry-After"] = str(rule.retry_after)
    return response


class _CutBody:
    """The response body cut at ``truncate`` or ``drop_after`` bytes; a drop records the
    exchange (*settle*), then shuts the socket so the client sees it die mid-body."""

    def __init__(self, inner: Iterable[bytes], rule: FaultRule,
                 settle: Callable[[], None] | None, sock: object) -> None:
        self._inner = inner
        self._drop_after = rule.drop_after
        self._limit = min((x for x in (rule.truncate, rule.drop_after) if x is not None),
                          default=None)
        self._settle = settle
        self._sock = sock
        self._sent = 0
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            piece = chunk if self._limit is None else chunk[: max(self._limit - self._sent, 0)]
            if piece:
                self._sent += len(piece)
                yield piece
            if len(piece) < len(chunk):
                break
        if self._drop_after is not None and self._sent >= self._drop_after:
            self._drop()

    def _drop(self) -> None:
        self.close()
        if self._settle is not None:
            self._settle()  # recorded before the client can see the connection die
        shutdown = getattr(self._sock, "shutdown", None)
        if shutdown is not None:
            shutdown(2)  # SHUT_RDWR: the client sees the connection die mid-body
        raise ConnectionResetError(f"fault: connection dropped after {self._sent} bytes")

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None and not self._closed:
            self._closed = True
            close()
