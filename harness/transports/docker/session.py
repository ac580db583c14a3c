"""The HTTP session a registry client talks through: exactly what the transport uses of it,
the failures it raises, and the one place that builds it.

Two implementations keep this contract: :mod:`.requests_session` (a thin adapter, the
default) and :mod:`.stdlib_session` (on ``http.client``, chosen by ``python -m harness``;
see :mod:`harness.transports.httpclient`). Both put the same request on the wire; the
client, authentication, retries, reader and upload know neither library.

Failures are classified here, not by library: :class:`ConnectionFailed` (and its kinds) is
a request that got no complete HTTP answer, with the library's exception as its cause so
:func:`.errors.connection_failure` can word it; :class:`RequestFailed` is one that could not
be sent at all (too many redirects, a URL that is not http(s)).
"""

from __future__ import annotations

import dataclasses
import ssl
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Final, Self

from harness.transports import httpclient
from harness.transports.docker.tls import default_cert_dir, ssl_context, unverified_context
from harness.transports.types import SystemContext

POOL_SIZE: Final = 8  # the copy engine sends up to 6 blobs at once, plus manifests
Body = bytes | Iterable[bytes] | Mapping[str, str] | None
Params = Mapping[str, str] | Sequence[tuple[str, str]] | None
Timeout = float | tuple[float, float]


class ConnectionFailed(Exception):
    """No complete HTTP answer: refused, reset, closed, no such host, TLS failed, or the
    body cut short. The library's own exception is the ``__cause__``."""


class ConnectTimedOut(ConnectionFailed):
    """No connection (or TLS handshake) within the connect timeout."""


class ReadTimedOut(ConnectionFailed):
    """Connected, but no byte of the answer within the read timeout."""


class TLSFailed(ConnectionFailed):
    """The TLS handshake failed (certificate, protocol, or a plain-HTTP server); its text
    carries the TLS library's reason."""


class BodyCutShort(ConnectionFailed):
    """The answer's body ended before its Content-Length or its last chunk."""


class RequestFailed(Exception):
    """The request could not be made at all: too many redirects, a URL that is not
    ``http(s)://``. Not a connection failure: another try cannot help."""


class Response(ABC):
    """One answer. Close it (or leave its ``with`` block) to give its connection back."""

    @property
    @abstractmethod
    def status_code(self) -> int: ...

    @property
    @abstractmethod
    def headers(self) -> Mapping[str, str]:
        """Case-insensitive; a field sent more than once has its values joined by ", "."""

    @property
    @abstractmethod
    def url(self) -> str:
        """The URL that answered (after redirects)."""

    @property
    @abstractmethod
    def method(self) -> str:
        """The method of the request that got this answer."""

    @property
    @abstractmethod
    def content(self) -> bytes:
        """The whole body, decoded (``Content-Encoding``): small bodies only."""

    @property
    @abstractmethod
    def links(self) -> dict[str, dict[str, str]]:
        """The ``Link`` header, by ``rel``."""

    @abstractmethod
    def json(self) -> Any:
        """The body as JSON; ``ValueError`` when it is not."""

    @abstractmethod
    def read(self, size: int) -> bytes:
        """Up to *size* bytes of the body as sent (no ``Content-Encoding`` decoding); empty
        at the end. Raises :class:`ConnectionFailed` when the body breaks off."""

    @abstractmethod
    def iter_content(self, chunk_size: int) -> Iterator[bytes]:
        """The body, decoded, in pieces of at most *chunk_size* bytes."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


class Session(ABC):
    """Requests to registries and token endpoints, over pooled keep-alive connections.

    Thread-safe. ``timeout`` is ``(connect, read)`` seconds (or one number for both).
    Redirects are followed when ``allow_redirects`` (``get`` and ``post`` always follow);
    ``Authorization`` never follows one to another host.
    """

    @abstractmethod
    def request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                params: Params = None, data: Body = None, stream: bool = False,
                timeout: Timeout, allow_redirects: bool = True) -> Response: ...

    def get(self, url: str, *, headers: Mapping[str, str] | None = None,
            params: Params = None, timeout: Timeout) -> Response:
        return self.request("GET", url, headers=headers, params=params, timeout=timeout)

    def post(self, url: str, *, data: Body = None, timeout: Timeout) -> Response:
        return self.request("POST", url, data=data, timeout=timeout)

    @abstractmethod
    def close(self) -> None: ...


def default_headers(ctx: SystemContext) -> dict[str, str]:
    """The headers every request carries, in the order they go on the wire (requests'
    defaults, then the distribution API version)."""
    return {"User-Agent": ctx.user_agent, "Accept-Encoding": "gzip, deflate",
            "Accept": "*/*", "Connection": "keep-alive",
            "Docker-Distribution-API-Version": "registry/2.0"}


def new_session(ctx: SystemContext, registry: str | None = None) -> Session:
    """A session that verifies TLS as *ctx* says and ignores the environment (no proxies,
    no ``.netrc``), built on the library this process selected.

    Without ``ctx.cert_dir``, *registry*'s default cert dir is used
    (:func:`.tls.default_cert_dir`).
    """
    if ctx.cert_dir is None and registry is not None:
        ctx = dataclasses.replace(ctx, cert_dir=default_cert_dir(registry))
    if httpclient.selected() == httpclient.STDLIB:
        from harness.transports.docker.stdlib_session import StdlibSession  # noqa: PLC0415

        return StdlibSession(_context(ctx), default_headers(ctx), POOL_SIZE)
    from harness.transports.docker.requests_session import (  # noqa: PLC0415
        CA_BUNDLE,
        RequestsSession,
    )

    return RequestsSession.build(_context(ctx, CA_BUNDLE), default_headers(ctx), POOL_SIZE,
                                 verify=ctx.tls_verify)


def _context(ctx: SystemContext, bundle: str | None = None) -> ssl.SSLContext:
    """The process's shared context for *ctx*'s TLS settings; *bundle* is the CA file the
    library trusts besides the system's when it verifies."""
    return ssl_context(ctx, bundle) if ctx.tls_verify else unverified_context(ctx)
