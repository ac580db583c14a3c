"""The registry session on the standard library's ``http.client``, for ``python -m harness``.

It keeps :mod:`.session`'s contract as the requests adapter does and puts the same request
on the wire: requests' header order and defaults, its query encoding and URL requoting, its
body framing (bytes with ``Content-Length``, an iterable chunked, no body ``Content-Length:
0`` except on GET and HEAD), its redirect rules (``Authorization`` dropped when the host,
or the port or scheme beyond the defaults, changes) and its response handling
(``Content-Length`` enforced, gzip and deflate decoded for ``content``/``iter_content``,
duplicate headers joined with ", "). tests/transports/docker/test_session_wire.py
compares the bytes; the deliberate differences are listed in docs/registry-client.md.

What it saves is the import of requests and urllib3 (~65 ms of CPU per command), and one
TCP segment per small request: the headers and a bytes body go in one ``send``.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import json
import re
import select
import socket
import ssl
import threading
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote, urlencode, urljoin, urlsplit

from harness.transports.docker.session import (
    Body,
    BodyCutShort,
    ConnectionFailed,
    ConnectTimedOut,
    Params,
    ReadTimedOut,
    RequestFailed,
    Response,
    Session,
    Timeout,
    TLSFailed,
)

MAX_REDIRECTS: Final = 30  # requests' limit
PIGGYBACK_MAX: Final = 64 * 1024  # bytes bodies up to this go in the headers' send
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PATH_CHARS = _UNRESERVED | frozenset("!$&'()*+,;=:@/")  # RFC 3986 pchar and "/"
_QUERY_CHARS = _PATH_CHARS | frozenset("?")
_SAFE = "!#$%&'()*+,/:;=?@[]~"  # what requoting leaves as it is (requests' requote_uri)
PoolKey = tuple[str, str, int]


def requote(url: str) -> str:
    """requests' requoting: escapes of unreserved characters undone, characters a URL may
    not hold escaped."""
    def unescape(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else match.group(0)
    return quote(_ESCAPE.sub(unescape, url), safe=_SAFE)


def encode_invalid(component: str, allowed: frozenset[str]) -> str:
    """urllib3's normalisation of a path or query: escapes upper-cased, every character
    outside *allowed* escaped, and ``%`` too unless each one already starts an escape."""
    component, escapes = _ESCAPE.subn(lambda match: match.group(0).upper(), component)
    data = component.encode("utf-8", "surrogatepass")
    keep_percent = escapes == data.count(b"%")
    return "".join(chr(byte) if (byte == 0x25 and keep_percent)
                   or (byte < 128 and chr(byte) in allowed) else f"%{byte:02X}"
                   for byte in data)


def without_dot_segments(path: str) -> str:
    """*path* with its ``.`` and ``..`` segments resolved (RFC 3986 5.2.4)."""
    kept: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if kept:
                kept.pop()
        elif segment != ".":
            kept.append(segment)
    if path.startswith("/") and (not kept or kept[0]):
        kept.insert(0, "")
    if path.endswith(("/.", "/..")):
        kept.append("")
    return "/".join(kept)


def with_params(url: str, params: Params) -> str:
    """*url* with *params* appended to its query, normalised and encoded as requests (and
    the urllib3 under it) does."""
    parts = urlsplit(url)
    path = encode_invalid(without_dot_segments(parts.path), _PATH_CHARS) if parts.path else "/"
    query = encode_invalid(parts.query, _QUERY_CHARS)
    if params:
        encoded = urlencode(list(params.items() if isinstance(params, Mapping) else params))
        query = f"{query}&{encoded}" if query else encoded
    return requote(parts._replace(path=path, query=query).geturl())


def request_target(url: str) -> str:
    """The request target of *url* as urllib3 writes it on the request line."""
    parts = urlsplit(url)
    target = encode_invalid(parts.path or "/", _PATH_CHARS)
    return f"{target}?{encode_invalid(parts.query, _QUERY_CHARS)}" if parts.query else target


def parse_links(value: str | None) -> dict[str, dict[str, str]]:
    """A ``Link`` header (RFC 8288) by ``rel`` (else by URL), as requests reads it."""
    links: dict[str, dict[str, str]] = {}
    value = (value or "").strip(" '\"")
    if not value:
        return links
    for entry in re.split(", *<", value):
        target, _, rest = entry.partition(";")
        link = {"url": target.strip("<> '\"")}
        for param in rest.split(";") if rest else ():
            key, equals, param_value = param.partition("=")
            if not equals or "=" in param_value:
                break
            link[key.strip(" '\"")] = param_value.strip(" '\"")
        links[link.get("rel") or link["url"]] = link
    return links


def strips_authorization(old: str, new: str) -> bool:
    """Whether a redirect from *old* to *new* must drop ``Authorization`` (requests' rule):
    another host, or another scheme or port unless both are the defaults (and http to
    https on the default ports keeps it)."""
    before, after = urlsplit(old), urlsplit(new)
    if before.hostname != after.hostname:
        return True
    if (before.scheme == "http" and before.port in (80, None)
            and after.scheme == "https" and after.port in (443, None)):
        return False
    default = (_DEFAULT_PORTS.get(before.scheme), None)
    if before.scheme == after.scheme and before.port in default and after.port in default:
        return False
    return before.port != after.port or before.scheme != after.scheme


def redirected_method(method: str, status: int) -> str:
    """The method a redirect is followed with (requests' browser rules)."""
    if status in (302, 303) and method != "HEAD":
        return "GET"
    if status == 301 and method == "POST":
        return "GET"
    return method


class _Headers(Mapping[str, str]):
    """Response headers: case-insensitive, a repeated field's values joined with ", " under
    the name as first written (as urllib3 and requests give them)."""

    def __init__(self, message: http.client.HTTPMessage) -> None:
        self._fields: dict[str, tuple[str, str]] = {}
        for name, value in message.items():
            key = name.lower()
            first = self._fields.get(key)
            self._fields[key] = (name, value) if first is None \
                else (first[0], f"{first[1]}, {value}")

    def __getitem__(self, name: str, /) -> str:
        return self._fields[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._fields.values())

    def __len__(self) -> int:
        return len(self._fields)


class _Decoder:
    """``Content-Encoding`` gzip (several members too) or deflate (zlib-wrapped or raw)."""

    def __init__(self, encoding: str) -> None:
        self._gzip = encoding in ("gzip", "x-gzip")
        self._raw_tried = False
        self._inflater = self._new()

    def _new(self, raw: bool = False) -> Any:
        bits = 16 + zlib.MAX_WBITS if self._gzip else -zlib.MAX_WBITS if raw else zlib.MAX_WBITS
        return zlib.decompressobj(bits)

    def feed(self, data: bytes) -> bytes:
        try:
            out = self._inflater.decompress(data)
        except zlib.error:
            if self._gzip or self._raw_tried:
                raise
            self._raw_tried = True  # deflate without the zlib wrapper, as servers send it
            self._inflater = self._new(raw=True)
            return self.feed(data)
        self._raw_tried = True
        while self._gzip and self._inflater.unused_data:
            rest = self._inflater.unused_data
            self._inflater = self._new()
            out += self._inflater.decompress(rest)
        return bytes(out)


def _decoder(encoding: str | None) -> _Decoder | None:
    encoding = (encoding or "").strip().lower()
    return _Decoder(encoding) if encoding in ("gzip", "x-gzip", "deflate") else None


class _Connection(http.client.HTTPConnection):
    """One keep-alive connection; TLS through the session's context. Connecting raises the
    contract's failures: a TCP connect that times out is :class:`ConnectTimedOut`, a TLS
    handshake that does is :class:`ReadTimedOut` (as urllib3 reports it)."""

    def __init__(self, host: str, port: int, context: ssl.SSLContext | None,
                 timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._context = context
        if context is not None:
            self.default_port = 443
        self._piggyback: bytes | None = None

    def connect(self) -> None:
        try:
            sock = socket.create_connection((self.host, self.port), self.timeout)
        except TimeoutError as exc:
            raise ConnectTimedOut(f"connect to {self.host}:{self.port} timed out") from exc
        except OSError as exc:
            raise ConnectionFailed(f"connect to {self.host}:{self.port} failed") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._context is not None:
            try:
                sock = self._context.wrap_socket(sock, server_hostname=self.host)
            except TimeoutError as exc:
                sock.close()
                raise ReadTimedOut(f"TLS handshake with {self.host} timed out") from exc
            except OSError as exc:
                sock.close()
                raise TLSFailed(f"TLS handshake with {self.host} failed: {exc}") from exc
        self.sock = sock

    def send_request(self, method: str, target: str, headers: Sequence[tuple[str, str]],
                     body: bytes | Iterable[bytes] | None, chunked: bool) -> None:
        """Send the request: the headers and a small bytes body in one ``send`` (no
        delayed-ACK stall; a big one is not copied for it), an iterable as chunks (``%x``
        sizes, as urllib3 writes them)."""
        header_names = {name.lower() for name, _ in headers}
        self.putrequest(method, target, skip_host="host" in header_names,
                        skip_accept_encoding="accept-encoding" in header_names)
        for name, value in headers:
            self.putheader(name, value)
        if isinstance(body, bytes) and len(body) <= PIGGYBACK_MAX:
            self._piggyback = body
            self.endheaders()
            return
        self.endheaders()
        if body is None:
            return
        if isinstance(body, bytes):
            self.send(body)
            return
        for chunk in body:
            if chunk:
                self.send(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
        if chunked:
            self.send(b"0\r\n\r\n")

    def send(self, data: Any) -> None:
        if self._piggyback is not None:
            data, self._piggyback = bytes(data) + self._piggyback, None
        super().send(data)

    def dropped(self) -> bool:
        """Whether the peer closed (or wrote to) this idle connection: not reusable."""
        if self.sock is None:
            return True
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)


class _Prepared:
    """A request as it goes on the wire: method, URL, ordered headers, framed body."""

    def __init__(self, method: str, url: str, headers: dict[str, tuple[str, str]],
                 body: bytes | Iterable[bytes] | None, chunked: bool) -> None:
        self.method = method
        self.url = url
        self.headers = headers  # lower-case name -> (name as given, value)
        self.body = body
        self.chunked = chunked

    @classmethod
    def build(cls, method: str, url: str, *, defaults: Mapping[str, str],
              headers: Mapping[str, str] | None, params: Params, data: Body) -> _Prepared:
        """Merge headers, encode the query and frame the body as requests does."""
        method = method.upper()
        merged = {name.lower(): (name, value) for name, value in defaults.items()}
        merged.update({name.lower(): (name, value) for name, value in (headers or {}).items()})
        body: bytes | Iterable[bytes] | None = None
        chunked = False
        if isinstance(data, Mapping):  # a form
            body = urlencode(list(data.items())).encode() if data else None
            cls._length(merged, method, body)
            if body is not None and "content-type" not in merged:
                merged["content-type"] = ("Content-Type", "application/x-www-form-urlencoded")
        elif isinstance(data, bytes) or data is None:
            body = data or None
            cls._length(merged, method, body)
        else:  # a stream: its length is not known
            body = data
            merged["transfer-encoding"] = ("Transfer-Encoding", "chunked")
            chunked = "content-length" not in merged
        return cls(method, with_params(url, params), merged, body, chunked)

    @staticmethod
    def _length(merged: dict[str, tuple[str, str]], method: str, body: bytes | None) -> None:
        if body is not None:
            merged["content-length"] = ("Content-Length", str(len(body)))
        elif method not in ("GET", "HEAD") and "content-length" not in merged:
            merged["content-length"] = ("Content-Length", "0")

    def redirected(self, location: str, status: int) -> _Prepared:
        """The request that follows a redirect to *location* (requests' rebuild)."""
        if location.startswith("//"):
            location = f"{urlsplit(self.url).scheme}:{location}"
        url = requote(location) if urlsplit(location).netloc \
            else urljoin(self.url, requote(location))
        headers = dict(self.headers)
        body, chunked = self.body, self.chunked
        if status not in (307, 308):
            for name in ("content-length", "content-type", "transfer-encoding"):
                headers.pop(name, None)
            body, chunked = None, False
        if "authorization" in headers and strips_authorization(self.url, url):
            del headers["authorization"]
        return _Prepared(redirected_method(self.method, status), url, headers, body, chunked)


class StdlibResponse(Response):
    """An answer read from a pooled connection; closing it gives a fully read connection
    back to the pool and closes any other."""

    def __init__(self, session: StdlibSession, key: PoolKey, connection: _Connection,
                 raw: http.client.HTTPResponse, prepared: _Prepared) -> None:
        self._session = session
        self._key = key
        self._connection: _Connection | None = connection
        self._raw = raw
        self._prepared = prepared
        self._headers = _Headers(raw.msg)
        self._content: bytes | None = None
        self._broken = False

    @property
    def status_code(self) -> int:
        return self._raw.status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    @property
    def url(self) -> str:
        return self._prepared.url

    @property
    def method(self) -> str:
        return self._prepared.method

    @property
    def links(self) -> dict[str, dict[str, str]]:
        return parse_links(self.headers.get("Link"))

    def read(self, size: int) -> bytes:
        try:
            return self._read(size)
        except ConnectionFailed:
            self._broken = True  # its connection is closed, never pooled
            raise

    def _read(self, size: int) -> bytes:
        try:
            data = self._raw.read(size)
        except TimeoutError as exc:
            raise ReadTimedOut("read timed out") from exc
        except http.client.IncompleteRead as exc:
            raise BodyCutShort("the body was cut short") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise BodyCutShort(f"the body broke off ({type(exc).__name__})") from exc
        if not data and size and self._raw.length:
            raise BodyCutShort(f"the body ended {self._raw.length} bytes before its "
                               f"Content-Length") from http.client.IncompleteRead(b"",
                                                                                self._raw.length)
        return data

    def iter_content(self, chunk_size: int) -> Iterator[bytes]:
        if self._content is not None:
            for start in range(0, len(self._content), chunk_size):
                yield self._content[start:start + chunk_size]
            return
        decoder = _decoder(self.headers.get("Content-Encoding"))
        while data := self.read(chunk_size):
            if decoder is not None:
                try:
                    data = decoder.feed(data)
                except zlib.error as exc:
                    raise RequestFailed("ContentDecodingError") from exc
            if data:
                yield data

    @property
    def content(self) -> bytes:
        if self._content is None:
            self._content = b"".join(self.iter_content(64 * 1024))
            self.close()
        return self._content

    def json(self) -> Any:
        return json.loads(self.content)

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if self._raw.isclosed() and not self._raw.will_close and not self._broken:
            self._session.release(self._key, connection)
        else:
            self._raw.close()
            connection.close()


class StdlibSession(Session):
    """Pooled keep-alive connections per (scheme, host, port), at most *pool_size* idle
    ones kept for each; thread-safe (each request has a connection to itself)."""

    def __init__(self, context: ssl.SSLContext, headers: Mapping[str, str],
                 pool_size: int) -> None:
        self._context = context
        self._headers = dict(headers)
        self._pool_size = pool_size
        self._idle: dict[PoolKey, list[_Connection]] = {}
        self._lock = threading.Lock()

    def request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                params: Params = None, data: Body = None, stream: bool = False,
                timeout: Timeout, allow_redirects: bool = True) -> StdlibResponse:
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        prepared = _Prepared.build(method, url, defaults=self._headers, headers=headers,
                                   params=params, data=data)
        redirects = 0
        while True:
            response = self._send(prepared, connect, read)
            location = response.headers.get("Location")
            if not (allow_redirects and location and response.status_code in _REDIRECTS):
                break
            if redirects >= MAX_REDIRECTS:
                response.close()
                raise RequestFailed("TooManyRedirects")
            redirects += 1
            with contextlib.suppress(ConnectionFailed, RequestFailed):
                response.content  # noqa: B018 - drain, so the connection can be reused
            response.close()
            prepared = prepared.redirected(location, response.status_code)
        if not stream:
            try:
                response.content  # noqa: B018 - read now: the connection goes back at once
            except BaseException:
                response.close()  # a body that broke off: its connection goes now
                raise
        return response

    def _send(self, prepared: _Prepared, connect: float, read: float) -> StdlibResponse:
        parts = urlsplit(prepared.url)
        if parts.scheme not in _DEFAULT_PORTS:
            raise RequestFailed("InvalidSchema")
        if not parts.hostname:
            raise RequestFailed("InvalidURL")
        key = (parts.scheme, parts.hostname, parts.port or _DEFAULT_PORTS[parts.scheme])
        connection = self._acquire(key, connect)
        try:
            if connection.sock is None:
                connection.connect()
            assert connection.sock is not None
            # urllib3 sends under the connect timeout and waits for the answer under the
            # read timeout.
            connection.sock.settimeout(connect)
            try:
                connection.send_request(prepared.method, request_target(prepared.url),
                                        list(prepared.headers.values()), prepared.body,
                                        prepared.chunked)
            except OSError as exc:
                # The server may answer (a 401, a 413) and close before taking the body.
                if exc.errno not in (errno.EPIPE, errno.ECONNRESET):
                    raise ConnectionFailed(f"sending {prepared.method} failed") from exc
            if connection.sock is not None:
                connection.sock.settimeout(read)
            try:
                raw = connection.getresponse()
            except TimeoutError as exc:
                raise ReadTimedOut(f"no answer within {read:g}s") from exc
            except (OSError, http.client.HTTPException) as exc:
                raise ConnectionFailed("no answer") from exc
        except BaseException:
            connection.close()
            raise
        return StdlibResponse(self, key, connection, raw, prepared)

    def _acquire(self, key: PoolKey, connect: float) -> _Connection:
        with self._lock:
            idle = self._idle.get(key, [])
            while idle:
                connection = idle.pop()
                if not connection.dropped():
                    return connection
                connection.close()
        scheme, host, port = key
        return _Connection(host, port, self._context if scheme == "https" else None, connect)

    def release(self, key: PoolKey, connection: _Connection) -> None:
        """Keep a connection whose answer was read to its end, for the next request."""
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self._pool_size:
                idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()
