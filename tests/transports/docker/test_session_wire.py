"""The two registry sessions (requests, http.client) against one recording server: the same
transport calls put the same bytes on the wire (request line, headers in order, body and
its framing), and every way a request can fail is classified the same.

The server is a plain socket server on 127.0.0.1 that keeps each request as it arrived,
and answers from a script, as a registry would (challenge, token, upload session, tag
pages, a blob redirected to another origin).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import ssl
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import urllib3.util.url
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.model.digest import Digest
from harness.transports import httpclient
from harness.transports.docker.client import RegistryClient
from harness.transports.docker.errors import ConnectionFailure, connection_failure
from harness.transports.docker.session import ConnectionFailed, RequestFailed, new_session
from harness.transports.docker.stdlib_session import parse_links, request_target, with_params
from harness.transports.docker.upload import BlobUpload
from harness.transports.types import Credentials, SystemContext
from harness.util.retry import RetryPolicy
from harness.util.tls import make_tls_files

LIBRARIES = (httpclient.REQUESTS, httpclient.STDLIB)
BLOB = bytes(range(256)) * 12  # 3 KiB
DIGEST = Digest.from_bytes(BLOB)
Answer = tuple[int, list[tuple[str, str]], bytes]


@dataclass
class Request:
    """One request exactly as it arrived: the head, and the body with its framing."""

    head: bytes
    body: bytes

    @property
    def line(self) -> str:
        return self.head.split(b"\r\n", 1)[0].decode("latin-1")

    def header(self, name: str) -> str | None:
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.decode("latin-1").partition(":")
            if key.lower() == name.lower():
                return value.strip()
        return None


@dataclass
class RecordingServer:
    """Keeps every request; answers with ``answer(request, port)``."""

    answer: Callable[[Request, int], Answer]
    tls: ssl.SSLContext | None = None
    requests: list[Request] = field(default_factory=list)
    connections: int = 0  # HTTP connections accepted (not the https probes)

    def __post_init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self._sock.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError, ssl.SSLError), conn:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            elif conn.recv(1, socket.MSG_PEEK) == b"\x16":  # a TLS handshake: answer as Go
                conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")  # servers do, in HTTP
                return
            self.connections += 1
            reader = conn.makefile("rb")
            while (request := _receive(reader)) is not None:
                self.requests.append(request)
                status, headers, body = self.answer(request, self.port)
                head = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in headers]
                if not any(k.lower() in ("content-length", "transfer-encoding")
                           for k, _ in headers):
                    head.append(f"Content-Length: {len(body)}")
                conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)


def _receive(reader: object) -> Request | None:
    """Read one request with its body framing kept (Content-Length or chunked)."""
    assert hasattr(reader, "readline") and hasattr(reader, "read")
    head = b""
    while (line := reader.readline()) not in (b"\r\n", b""):
        head += line
    if not head.endswith(b" HTTP/1.1\r\n") and b" HTTP/1.1\r\n" not in head:
        return None  # the end, or the https probe's TLS handshake: the connection is closed
    request = Request(head.rstrip(b"\r\n"), b"")
    if (request.header("Transfer-Encoding") or "").lower() == "chunked":
        while True:
            size_line = reader.readline()
            size = int(size_line.strip(), 16)
            request.body += size_line + reader.read(size + 2)
            if size == 0:
                break
    else:
        request.body = reader.read(int(request.header("Content-Length") or 0))
    return request


@contextlib.contextmanager
def _servers() -> Iterator[tuple[RecordingServer, RecordingServer]]:
    """The registry, and a storage host its blob GETs redirect to."""
    storage = RecordingServer(lambda request, port: (200, [], BLOB))
    registry = RecordingServer(lambda request, port: _registry_answer(request, port,
                                                                      storage.port))
    try:
        yield registry, storage
    finally:
        registry.close()
        storage.close()


def _registry_answer(request: Request, port: int, storage: int) -> Answer:
    method, target, _ = request.line.split(" ")
    path = target.partition("?")[0]
    if target.startswith("/token"):
        return 200, [("Content-Type", "application/json")], json.dumps({"token": "T"}).encode()
    if request.header("Authorization") is None:
        return 401, [("WWW-Authenticate", f'Bearer realm="http://127.0.0.1:{port}/token",'
                                          'service="wire"')], b""
    if path == "/v2/":
        return 200, [], b"{}"
    if path.endswith("/tags/list"):
        if "last=" in target:
            return 200, [], b'{"name": "ns/app", "tags": ["b"]}'
        return 200, [("Link", '</v2/ns/app/tags/list?n=1&last=a>; rel="next"')], \
            b'{"name": "ns/app", "tags": ["a"]}'
    if "/manifests/" in path:
        if method == "PUT":
            return 201, [("Docker-Content-Digest", str(Digest.from_bytes(request.body)))], b""
        return 200, [("Content-Type", "application/vnd.oci.image.manifest.v1+json")], b"{}"
    if "/blobs/uploads/" in path:
        if method == "DELETE":
            return 204, [], b""
        if method == "PUT":
            return 201, [("Docker-Content-Digest", str(DIGEST))], b""
        # A Location with escapes, one of them in lower case, as some registries write them.
        return 202, [("Location", "/v2/ns/app/blobs/uploads/u1?_state=a%2fb%3D%7E"),
                     ("Range", "0-0")], b""
    if method == "HEAD":
        return 404, [], b""
    if "/blobs/" in path:
        return 307, [("Location", f"http://127.0.0.1:{storage}/blob?sig=1")], b""
    return 404, [], b'{"errors": [{"code": "NAME_UNKNOWN"}]}'


class OneWay:
    """A stream that cannot seek: the upload streams it as a chunked PATCH."""

    def __init__(self, data: bytes, piece: int) -> None:
        self._data, self._piece = data, piece

    def read(self, size: int = -1) -> bytes:
        out, self._data = self._data[:min(size, self._piece)], self._data[min(size,
                                                                               self._piece):]
        return out


def _transport_calls(host: str) -> None:
    """Every kind of request the transport makes, through a client on the selected library."""
    ctx = SystemContext(credentials=Credentials("me", "pw"), tls_verify=False, auth_file=None,
                        user_agent="oci-harness/wire")
    client = RegistryClient(host, "ns/app", ctx, ("pull", "push"),
                            retry=RetryPolicy(0, 0))
    try:
        client.check_login()
        client.get_manifest("v1")
        client.put_manifest("v1", b'{"schemaVersion": 2}', "application/vnd.oci.image"
                                                           ".manifest.v1+json")
        assert client.blob_size(DIGEST) is None
        client.mount_blob(DIGEST, "other/repo")
        BlobUpload(client).send(OneWay(BLOB, 1000), DIGEST)  # type: ignore[arg-type]
        BlobUpload(client, chunk_size=2048).send(OneWay(BLOB, 4096))  # type: ignore[arg-type]
        BlobUpload(client).send(OneWay(BLOB, 4096), DIGEST, len(BLOB))  # type: ignore[arg-type]
        client.cancel_upload(client.url("blobs/uploads/gone"))
        assert client.list_tags() == ["a", "b"]
        with client.get_blob(DIGEST) as response:
            assert response.read(len(BLOB) + 1) == BLOB
    finally:
        client.close()


def _normalized(requests_: list[Request], port: int) -> list[tuple[bytes, bytes]]:
    return [(r.head.replace(str(port).encode(), b"PORT"), r.body) for r in requests_]


@contextlib.contextmanager
def _using(library: str) -> Iterator[None]:
    previous = httpclient.selected()
    httpclient.select(library)  # type: ignore[arg-type]
    try:
        yield
    finally:
        httpclient.select(previous)


def test_both_sessions_put_the_same_bytes_on_the_wire() -> None:
    """Each run has its own servers (ports): those are the only difference allowed. The
    connections are as many too: both keep them alive and reuse them alike."""
    runs = {}
    for library in LIBRARIES:
        with _using(library), _servers() as (registry, storage):
            _transport_calls(registry.host)
            runs[library] = (
                _normalized(registry.requests, registry.port),
                _normalized(storage.requests, storage.port),
                [r.header("Authorization") for r in storage.requests],
                (registry.connections, storage.connections))
    assert runs[httpclient.STDLIB] == runs[httpclient.REQUESTS]
    registry_requests, storage_requests, storage_auth, connections = runs[httpclient.STDLIB]
    assert connections[0] < len(registry_requests)  # kept alive
    lines = [head.split(b"\r\n", 1)[0] for head, _ in registry_requests]
    # The calls really happened, with the framings they need:
    assert b"GET /token?service=wire&scope=repository%3Ans%2Fapp%3Apull%2Cpush HTTP/1.1" \
        in lines
    assert any(b"Transfer-Encoding: chunked" in head and body.endswith(b"0\r\n\r\n")
               for head, body in registry_requests)
    assert b"PATCH /v2/ns/app/blobs/uploads/u1?_state=a%2Fb%3D~ HTTP/1.1" in lines
    assert storage_requests and storage_auth == [None]  # credentials stay with the registry


def test_links_are_read_as_requests_reads_them() -> None:
    values = ['</v2/a/tags/list?n=1&last=x>; rel="next"',
              '<https://h/v2/a/tags/list?last=y>; rel=next, </x>; rel="prev"',
              "</only-a-url>", '<a>; rel="next"; title=a=b', " '<q>; rel=\"next\"' ", ""]
    for value in values:
        response = requests.Response()
        response.headers["Link"] = value
        assert parse_links(value) == response.links, value


_URL_TEXT = st.text(st.sampled_from("abcAZ09-._~%2f3D7e:/?&=+ !$'()*,;@[]é"), max_size=20)


@settings(max_examples=1000)
@given(path=_URL_TEXT, params=st.lists(st.tuples(_URL_TEXT, _URL_TEXT), max_size=3))
def test_urls_are_encoded_as_requests_and_urllib3_encode_them(
        path: str, params: list[tuple[str, str]]) -> None:
    url = f"http://h/v2/{path}"
    prepared = requests.PreparedRequest()
    try:
        prepared.prepare(method="GET", url=url, params=params)
    except requests.RequestException:
        return  # requests refuses it; the transport never builds such a URL
    expected = urllib3.util.url._encode_target(prepared.path_url)
    assert request_target(with_params(url, params)) == expected


# -- failures ---------------------------------------------------------------------------


def _failure(library: str, url: str, timeout: float = 5.0,
             context: SystemContext | None = None) -> ConnectionFailure | str:
    with _using(library):
        session = new_session(context or SystemContext(tls_verify=False))
    try:
        with session.get(url, timeout=(timeout, timeout)) as response:
            response.content  # noqa: B018
        return f"answered {response.status_code}"
    except ConnectionFailed as exc:
        return connection_failure(exc, "127.0.0.1", 1, first_contact=True, timeout=timeout)
    except RequestFailed as exc:
        return f"refused to send: {exc}"
    finally:
        session.close()


def _classified(url: str, **settings: object) -> ConnectionFailure | str:
    """The failure, asserted the same with both libraries."""
    results = [_failure(library, url, **settings) for library in LIBRARIES]  # type: ignore[arg-type]
    assert results[0] == results[1]
    return results[0]


@contextlib.contextmanager
def _raw_server(handle: Callable[[socket.socket], None]) -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = server.accept()
                threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


def _reset_mid_body(conn: socket.socket) -> None:
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()


def _short_body(conn: socket.socket) -> None:
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
    conn.close()


def _silent(conn: socket.socket) -> None:
    conn.recv(65536)
    threading.Event().wait(5)
    conn.close()


def _closes(conn: socket.socket) -> None:
    conn.recv(65536)
    conn.close()


def test_a_refused_connection_is_classified_the_same() -> None:
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        assert _classified(f"http://127.0.0.1:{port}/v2/") == ConnectionFailure(
            "nothing listening on 127.0.0.1:1", retryable=False)


@pytest.mark.parametrize(("handler", "expected"), [
    (_reset_mid_body, ConnectionFailure("connection to 127.0.0.1:1 failed: the answer was cut "
                                        "short", retryable=True)),
    (_short_body, ConnectionFailure("connection to 127.0.0.1:1 failed: the answer was cut "
                                    "short", retryable=True)),
    (_closes, ConnectionFailure("connection to 127.0.0.1:1 failed: connection reset by peer",
                                retryable=True)),
])
def test_a_broken_answer_is_classified_the_same(handler: Callable[[socket.socket], None],
                                                 expected: ConnectionFailure) -> None:
    with _raw_server(handler) as port:
        assert _classified(f"http://127.0.0.1:{port}/v2/") == expected


def test_silence_is_a_read_timeout_with_both() -> None:
    with _raw_server(_silent) as port:
        assert _classified(f"http://127.0.0.1:{port}/v2/", timeout=0.5) == ConnectionFailure(
            "127.0.0.1:1 accepted the connection but sent no answer within 0.5s",
            retryable=False)


def test_a_connect_timeout_is_classified_the_same() -> None:
    """A listening socket whose accept queue is full: the kernel drops further SYNs, so a
    connect to it times out, on loopback."""
    with socket.socket() as full:
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        port = full.getsockname()[1]
        queued = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:
            assert _classified(f"http://127.0.0.1:{port}/v2/", timeout=0.3) == \
                ConnectionFailure("no connection to 127.0.0.1:1 within 0.3s", retryable=False)
        finally:
            queued.close()


def test_tls_failures_are_classified_the_same(tmp_path: Path) -> None:
    files = make_tls_files(tmp_path / "pki")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.cert_file, files.key_file)
    with _servers() as (plain, _):
        assert _classified(f"https://{plain.host}/v2/") == ConnectionFailure(
            "127.0.0.1:1: server gave HTTP response to HTTPS client: use --tls-verify=false "
            "to allow plain http", retryable=False)
    server = RecordingServer(lambda request, port: (200, [], b"{}"), tls=context)
    try:
        url = f"https://{server.host}/v2/"
        assert _classified(url, context=SystemContext()) == ConnectionFailure(
            "127.0.0.1:1: certificate signed by unknown authority: use --tls-verify=false "
            "or --cert-dir DIR", retryable=False)
        assert _classified(url, context=SystemContext(ca_file=files.ca_file)) == "answered 200"
    finally:
        server.close()


def test_a_redirect_loop_is_refused_the_same() -> None:
    loop = RecordingServer(lambda request, port: (
        302, [("Location", f"http://127.0.0.1:{port}/v2/")], b""))
    try:
        assert _classified(f"http://{loop.host}/v2/") == "refused to send: TooManyRedirects"
    finally:
        loop.close()


# -- answers ----------------------------------------------------------------------------


def _answer_variants(request: Request, port: int) -> Answer:
    path = request.line.split(" ")[1]
    if path == "/chunked":
        return 200, [("Transfer-Encoding", "chunked")], b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    if path == "/gzip":
        return 200, [("Content-Encoding", "gzip")], gzip.compress(b'{"tags": ["a"]}', mtime=0)
    if path == "/deflate":
        return 200, [("Content-Encoding", "deflate")], zlib.compress(b'{"tags": []}')
    return 200, [("WWW-Authenticate", "Basic realm=a"), ("www-authenticate", "Bearer realm=b"),
                 ("Link", '</v2/x/tags/list?last=a>; rel="next"')], b"{}"


def _as_read(library: str, url: str) -> list[object]:
    with _using(library):
        session = new_session(SystemContext(tls_verify=False))
    try:
        with session.request("GET", url, stream=True, timeout=5) as streamed:
            raw = b"".join(iter(lambda: streamed.read(3), b""))
        with session.get(url, timeout=5) as whole:
            return [raw, whole.status_code, whole.content, dict(whole.headers.items()),
                    whole.headers.get("WWW-AUTHENTICATE"), whole.links, whole.url,
                    whole.method, b"".join(whole.iter_content(4))]
    finally:
        session.close()


@pytest.mark.parametrize("path", ["/chunked", "/gzip", "/deflate", "/headers"])
def test_answers_are_read_the_same(path: str) -> None:
    """Chunked and Content-Length bodies, gzip and deflate (decoded for ``content``, not
    for ``read``), repeated headers (joined), links."""
    server = RecordingServer(_answer_variants)
    try:
        url = f"http://{server.host}{path}"
        results = [_as_read(library, url) for library in LIBRARIES]
    finally:
        server.close()
    assert results[0] == results[1]
    lowered = {key.lower(): value for key, value in dict(results[0][3]).items()}  # type: ignore[call-overload]
    assert results[0][4] == lowered.get("www-authenticate")


def _answers_then_closes(conn: socket.socket) -> None:
    with conn:
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_kept_connection_the_server_closed_is_replaced(library: str) -> None:
    """The server closes after each answer without saying so: the next request must not
    fail on the dead connection (both check a pooled connection before reusing it)."""
    with _raw_server(_answers_then_closes) as port, _using(library):
        session = new_session(SystemContext(tls_verify=False))
        try:
            for _ in range(3):
                with session.get(f"http://127.0.0.1:{port}/v2/", timeout=5) as response:
                    assert response.content == b"{}"
                threading.Event().wait(0.05)  # the server's close reaches the client
        finally:
            session.close()


def test_headers_and_a_small_body_go_in_one_send(monkeypatch: pytest.MonkeyPatch) -> None:
    """http.client would send the body after the headers, in a second segment that can wait
    on the server's delayed ACK; the stdlib session sends both at once."""
    sent: list[bytes] = []
    sendall = socket.socket.sendall

    def recording(sock: socket.socket, data: bytes, *args: int) -> None:
        sent.append(bytes(data))
        sendall(sock, data, *args)

    server = RecordingServer(lambda request, port: (201, [], b""))
    try:
        with _using(httpclient.STDLIB):
            session = new_session(SystemContext(tls_verify=False))
        monkeypatch.setattr(socket.socket, "sendall", recording)
        session.request("PUT", f"http://{server.host}/v2/a/manifests/v1", data=b'{"a": 1}',
                        timeout=5).close()
        monkeypatch.undo()
        session.close()
    finally:
        server.close()
    sent = [data for data in sent if not data.startswith(b"HTTP/1.1 ")]  # the server's
    assert len(sent) == 1 and sent[0].startswith(b"PUT ") and sent[0].endswith(b'{"a": 1}')


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_body_that_broke_off_closes_its_connection_at_once(library: str) -> None:
    """A short answer read by ``request`` itself: the error leaves with the connection
    closed, not held until the exception (and the response it references) is dropped."""
    closed = threading.Event()

    def short_then_wait(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
            conn.shutdown(socket.SHUT_WR)
            if conn.recv(65536) == b"":
                closed.set()

    with _raw_server(short_then_wait) as port, _using(library):
        session = new_session(SystemContext(tls_verify=False))
        with pytest.raises(ConnectionFailed) as caught:
            session.get(f"http://127.0.0.1:{port}/v2/", timeout=5)
        assert closed.wait(5), caught.value
        session.close()
