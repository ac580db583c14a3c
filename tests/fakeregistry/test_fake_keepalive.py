"""Kept-alive connections over HTTP(S) (cheroot): many exchanges on one connection,
counted on the server side, whatever the responses and however much of a request body
the app read."""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import socket
import ssl
import threading
import time
import tracemalloc
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from fakeregistry import AuthConfig, FaultRule, Registry, serve
from fakeregistry.server import Server, _Server
from harness.model.digest import Digest
from harness.peers.clients import Skopeo
from harness.peers.launchers import RunningRegistry
from tests._support.fakeregistry_helpers import Client

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

BIG = os.urandom(3 << 20)  # above the in-memory spool limit: a streamed GET
LAYER = gzip.compress(b"a layer\n" * 1000)


@dataclass
class Counted:
    """A served registry whose accepted connections are recorded."""

    server: Server
    session: requests.Session
    connections: list[Any] = field(default_factory=list)

    @property
    def client(self) -> Client:
        return Client(self.server.url, self.session)


@contextlib.contextmanager
def counted(registry: Registry, tls: bool = False) -> Iterator[Counted]:
    with serve(registry, tls=tls) as server:
        session = requests.Session()
        session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
        session.verify = str(server.ca_file) if tls else True
        seen = Counted(server, session)
        wsgi = server.wsgi_server

        class CountedConnection(wsgi.ConnectionClass):  # type: ignore[name-defined,misc]
            def __init__(self, *args: Any) -> None:
                super().__init__(*args)
                seen.connections.append(self)

        wsgi.ConnectionClass = CountedConnection
        yield seen


@pytest.mark.parametrize("tls", [False, True])
def test_one_session_reuses_one_connection(tls: bool) -> None:
    registry = Registry()
    with counted(registry, tls) as seen:
        client = seen.client
        client.push_image("demo", "v1", layer=LAYER)
        location = client.request("POST", "/v2/big/blobs/uploads/").headers["Location"]
        chunks = (BIG[i:i + 65536] for i in range(0, len(BIG), 65536))
        assert client.request("PATCH", location, data=chunks).status_code == 202  # chunked
        big = Digest.from_bytes(BIG)
        assert client.request("PUT", location, params={"digest": str(big)}).status_code == 201
        assert client.request("GET", f"/v2/big/blobs/{big}").content == BIG
        assert client.request("GET", "/v2/demo/manifests/v1").status_code == 200
        assert client.request("GET", "/v2/none/tags/list").status_code == 404
        assert client.request("GET", "/nowhere").status_code == 404
        assert client.request("GET", "/v2/demo/tags/list").json()["tags"] == ["v1"]
        assert len(seen.connections) == 1  # for 11 exchanges
    assert registry.transcript.requests(method="PATCH")[0].request_bytes == len(BIG)


def test_bodyless_answers_are_followed_by_more_on_the_same_connection() -> None:
    with counted(Registry()) as seen:
        client = seen.client
        digest = client.push_blob("a", LAYER)
        head = client.request("HEAD", f"/v2/a/blobs/{digest}")
        assert (head.status_code, head.headers["Content-Length"]) == (200, str(len(LAYER)))
        assert client.request("HEAD", "/v2/a/manifests/none").status_code == 404
        posted = client.request("POST", "/v2/a/blobs/uploads/")
        assert (posted.status_code, posted.content) == (202, b"")
        status = client.request("GET", posted.headers["Location"])
        assert (status.status_code, status.content) == (204, b"")
        assert client.request("DELETE", posted.headers["Location"]).status_code == 204
        assert client.request("DELETE", f"/v2/a/blobs/{digest}").status_code == 202
        assert client.request("GET", "/v2/").json() == {}
        assert len(seen.connections) == 1


def test_an_error_before_the_body_was_read_keeps_the_connection_in_step() -> None:
    auth = AuthConfig.with_passwords("basic", {"alice": "secret"})
    with counted(Registry(auth=auth)) as seen:
        client = seen.client
        body = os.urandom(128 << 10)
        refused = client.request("PATCH", "/v2/a/blobs/uploads/x", data=body)
        assert refused.status_code == 401
        chunks = (body[i:i + 4096] for i in range(0, len(body), 4096))
        unknown = client.request("PATCH", "/v2/a/blobs/uploads/x", data=chunks,
                                 auth=("alice", "secret"))
        assert unknown.status_code == 404
        assert client.request("GET", "/v2/", auth=("alice", "secret")).status_code == 200
        assert "Connection" not in refused.headers
        assert len(seen.connections) == 1


def test_an_unread_body_of_any_size_is_read_to_its_end_and_the_connection_kept() -> None:
    """As cheroot does (RFC 9112: read the whole request before answering, or the client
    may read a reset instead of the answer); there is no limit past which it closes."""
    with counted(Registry()) as seen:
        client = seen.client
        unknown = client.request("PUT", "/v2/a/blobs/uploads/x", data=BIG,
                                 params={"digest": str(Digest.from_bytes(BIG))})
        assert unknown.status_code == 404
        assert "Connection" not in unknown.headers
        chunks = (BIG[i:i + 65536] for i in range(0, len(BIG), 65536))
        assert client.request("PATCH", "/v2/a/blobs/uploads/x", data=chunks).status_code == 404
        assert client.request("GET", "/v2/").status_code == 200
        assert len(seen.connections) == 1


def test_an_unread_body_is_dropped_in_pieces_not_held_in_memory() -> None:
    """cheroot alone reads what is left of a Content-Length body in one piece."""
    size, piece = 64 << 20, bytes(1 << 20)
    with counted(Registry()) as seen:
        with _raw_connection(seen) as sock:
            tracemalloc.start()
            try:
                sock.sendall(f"PUT /v2/a/blobs/uploads/x HTTP/1.1\r\nHost: h\r\n"
                             f"Content-Length: {size}\r\n\r\n".encode())
                for _ in range(size // len(piece)):
                    sock.sendall(piece)
                stream = sock.makefile("rb")
                assert _read_answer(stream)[0] == 404
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
        assert peak < 8 << 20


def _read_answer(stream: Any) -> tuple[int, dict[str, str], bytes]:
    status = int(stream.readline().split()[1])
    headers = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.lower()] = value.strip()
    return status, headers, stream.read(int(headers.get("content-length", "0")))


@contextlib.contextmanager
def _raw_connection(seen: Counted) -> Iterator[socket.socket]:
    """A plain socket to the served registry, to send bytes no client would."""
    address, port = seen.server.host.split(":")
    with socket.create_connection((address, int(port))) as sock:
        yield sock


def test_pipelined_requests_after_an_unread_body_parse() -> None:
    """On the wire: a refused PATCH with its body, then a GET, sent in one write."""
    with counted(Registry()) as seen:
        host = seen.server.host
        requests_bytes = (
            f"PATCH /v2/a/blobs/uploads/x HTTP/1.1\r\nHost: {host}\r\n"
            "Content-Length: 10\r\n\r\n0123456789"
            f"PATCH /v2/a/blobs/uploads/y HTTP/1.1\r\nHost: {host}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
            f"GET /v2/ HTTP/1.1\r\nHost: {host}\r\n\r\n").encode()
        with _raw_connection(seen) as sock:
            sock.sendall(requests_bytes)
            stream = sock.makefile("rb")
            answers = [_read_answer(stream) for _ in range(3)]
        assert [status for status, _, _ in answers] == [404, 404, 200]
        assert answers[2][2] == b"{}"
        assert len(seen.connections) == 1


@pytest.mark.parametrize(("header", "status", "connection"), [
    ("Content-Length: ten", 400, None),  # cheroot refuses these two itself, and closes
    ("Transfer-Encoding: gzip", 501, None),  # without saying so
    ("Content-Length: 5\r\nTransfer-Encoding: chunked", 404, "close"),  # the app answers
])
def test_a_body_of_unknown_length_closes_the_connection(
        header: str, status: int, connection: str | None) -> None:
    with counted(Registry()) as seen, _raw_connection(seen) as sock:
        sock.sendall(f"PATCH /v2/a/blobs/uploads/x HTTP/1.1\r\n{header}\r\n\r\n"
                     "GET /v2/ HTTP/1.1\r\n\r\n".encode())
        stream = sock.makefile("rb")
        answered, headers, _ = _read_answer(stream)
        assert (answered, headers.get("connection")) == (status, connection)
        assert stream.read() == b""  # the body was not parsed as the GET


def test_a_broken_chunked_body_is_answered_by_the_app_quietly(
        capfd: pytest.CaptureFixture[str]) -> None:
    """A bad chunk size, read by the app: its 400 for a body that ended early, no 500."""
    with counted(Registry()) as seen:
        location = seen.client.request("POST", "/v2/a/blobs/uploads/").headers["Location"]
        with _raw_connection(seen) as sock:
            sock.sendall(f"PATCH {location} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "5\r\nhello\r\nzz\r\nGET /v2/ HTTP/1.1\r\n\r\n".encode())
            stream = sock.makefile("rb")
            status, headers, body = _read_answer(stream)
            assert (status, headers["connection"]) == (400, "close")
            assert b"BLOB_UPLOAD_INVALID" in body
            assert stream.read() == b""
    assert capfd.readouterr().err == ""


def test_probes_in_the_wrong_protocol_and_dropped_connections_are_quiet(
        capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    """Nothing on stderr, and nothing logged that Python would print there (WARNING up)."""
    registry = Registry()
    with serve(registry) as plain, serve(Registry(), tls=True) as secure:
        digest = Client(plain.url, requests.Session()).push_blob("a", LAYER)
        registry.faults.add(FaultRule(method="GET", drop_after=10))  # mid-body
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            requests.get(f"{plain.url}/v2/a/blobs/{digest}", timeout=5).content  # noqa: B018
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"https://{plain.host}/v2/", timeout=5)
        with contextlib.suppress(requests.ConnectionError):  # cheroot's 400 may come as a reset
            assert requests.get(f"http://{secure.host}/v2/", timeout=5).status_code == 400
        address, port = secure.host.split(":")
        socket.create_connection((address, int(port))).close()  # gone before the handshake
        assert requests.get(f"{secure.url}/v2/", verify=str(secure.ca_file)).ok
    assert capfd.readouterr().err == ""
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_eight_requests_are_served_at_once() -> None:
    """Each of 8 uploads waits, mid-body, for all the others: a smaller pool would stall."""
    uploads = 8
    meet = threading.Barrier(uploads, timeout=10)

    def body() -> Iterator[bytes]:
        yield b"first half "
        meet.wait()
        yield b"second half"

    def upload(client: Client) -> int:
        location = client.request("POST", "/v2/a/blobs/uploads/").headers["Location"]
        return client.request("PATCH", location, data=body()).status_code

    with serve(Registry()) as server:
        clients = [Client(server.url, requests.Session()) for _ in range(uploads)]
        with ThreadPoolExecutor(uploads) as pool:
            assert list(pool.map(upload, clients)) == [202] * uploads


def _echo(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]


def test_a_chunked_body_read_whole_is_all_there() -> None:
    """``read()`` with no size: cheroot's own dechunking stream returns nothing for it."""
    server = _Server(("127.0.0.1", 0), _echo)
    server.prepare()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        chunks = (part for part in [b"one ", b"two"])
        answer = requests.post(f"http://127.0.0.1:{server.bind_addr[1]}/", data=chunks)
        assert answer.content == b"one two"
    finally:
        server.stop()
        thread.join()


def _unframed(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """An app that gives no Content-Length."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return iter([b"one ", b"", b"two"])


@pytest.mark.parametrize("version", ["HTTP/1.1", "HTTP/1.0"])
def test_a_body_without_length_is_chunked_or_ends_at_the_close(version: str) -> None:
    server = _Server(("127.0.0.1", 0), _unframed)
    server.prepare()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", server.bind_addr[1])) as sock:
            sock.sendall(f"GET / {version}\r\n\r\nGET / {version}\r\n\r\n".encode())
            stream = sock.makefile("rb")
            _, headers, _ = _read_answer(stream)
            if version == "HTTP/1.1":
                assert headers["transfer-encoding"] == "chunked"
                chunked = b"4\r\none \r\n3\r\ntwo\r\n0\r\n\r\n"
                assert stream.read(len(chunked)) == chunked
                assert _read_answer(stream)[0] == 200  # the second request, same connection
            else:  # HTTP/1.0 closes unless the answer says keep-alive
                assert "connection" not in headers
                assert stream.read() == b"one two"
    finally:
        server.stop()
        thread.join()


@pytest.mark.parametrize("tls", [False, True])
def test_stopping_closes_idle_connections_and_ends_the_threads_promptly(tls: bool) -> None:
    with counted(Registry(), tls) as seen:
        for _ in range(3):  # one idle connection each
            session = requests.Session()
            session.trust_env = False
            session.verify = seen.session.verify
            assert session.get(f"{seen.server.url}/v2/").status_code == 200
        assert len(seen.connections) == 3
        workers = [t for t in threading.enumerate() if t.name.startswith("CP Server")]
        assert len(workers) >= 6  # the parallel uploads of skopeo and docker each get one
        started = time.monotonic()
    assert time.monotonic() - started < 1  # cheroot waits up to 5 s for a busy worker
    assert all(c.socket.fileno() == -1 for c in seen.connections)
    assert not any(t.is_alive() for t in workers)


@pytest.mark.requires_peer("skopeo")
def test_skopeo_copies_in_and_out_though_it_asks_for_a_connection_per_request(
        tmp_path: Path) -> None:
    """containers/image disables keep-alive (its transport sets DisableKeepAlives), so
    skopeo gains nothing here; its ``Connection: close`` must still be honoured."""
    registry = Registry()
    with counted(registry) as seen:
        seen.client.push_image("source", "v1", layer=LAYER)
        target = RunningRegistry(url=seen.server.url, host=seen.server.host)
        skopeo = Skopeo(tmp_path / "skopeo", target)
        out = tmp_path / "out"
        skopeo.copy(f"docker://{target.image('source:v1')}", f"oci:{out}:v1")
        skopeo.copy(f"oci:{out}:v1", f"docker://{target.image('copy:v1')}")
        assert skopeo.inspect(f"docker://{target.image('copy:v1')}", "--raw") == (
            skopeo.inspect(f"docker://{target.image('source:v1')}", "--raw"))
    by_skopeo = [e for e in registry.transcript.entries
                 if e.request_headers["User-Agent"].startswith("skopeo/")]
    assert {e.request_headers.get("Connection") for e in by_skopeo} == {"close"}
    assert len(seen.connections) > len(by_skopeo)  # one each, plus its HTTPS probes


@pytest.mark.parametrize("tls", [False, True])
@pytest.mark.parametrize("head", [0, 1, 5000, len(BIG) - 1])
def test_a_length_body_split_anywhere_is_stored_whole_and_the_next_request_parses(
        head: int, tls: bool) -> None:
    """The upload path reads a Content-Length body from what cheroot holds past the
    headers, then from the socket (:class:`fakeregistry.bodies.KnownLength`), never past
    its end: here the first *head* bytes come with the headers, the rest with a pipelined
    GET."""
    with counted(Registry(), tls=tls) as seen:
        location = seen.session.post(f"{seen.server.url}/v2/a/blobs/uploads/").headers[
            "Location"]
        with _raw_connection(seen) as sock:
            wire = ssl.create_default_context(cafile=str(seen.server.ca_file)).wrap_socket(
                sock, server_hostname="127.0.0.1") if tls else sock
            wire.sendall(f"PATCH {location} HTTP/1.1\r\nHost: {seen.server.host}\r\n"
                         f"Content-Length: {len(BIG)}\r\n\r\n".encode() + BIG[:head])
            time.sleep(0.05)  # most often a packet of its own (either way, the same bytes)
            wire.sendall(BIG[head:] + f"GET /v2/ HTTP/1.1\r\nHost: {seen.server.host}\r\n"
                                      "\r\n".encode())
            stream = wire.makefile("rb")
            answers = [_read_answer(stream) for _ in range(2)]
        assert [status for status, _, _ in answers] == [202, 200]
        assert answers[0][1]["range"] == f"0-{len(BIG) - 1}"
        digest = Digest.from_bytes(BIG)
        done = seen.session.put(f"{seen.server.url}{location}?digest={digest}")
        assert done.status_code == 201, done.text
        assert seen.session.get(f"{seen.server.url}/v2/a/blobs/{digest}").content == BIG
        assert len(seen.connections) == 2  # the session's, and the raw one kept alive


def test_a_body_trickling_in_below_the_low_water_mark_is_taken_and_the_next_request_parses(
        ) -> None:
    """:class:`fakeregistry.bodies.KnownLength` waits on the socket with a receive
    low-water mark of 256 KiB: a body whose pieces arrive apart, smaller than the mark, and
    whose last bytes are fewer than it, is still taken whole (the mark never exceeds what
    the body owes), and a request sent only after the answer parses (the mark is back to 1
    for its headers)."""
    body = BIG[:(1 << 20) + 300]  # a full 1 MiB read, then 300 bytes
    pieces = [body[:1000], body[1000:70000], body[70000:(1 << 20) + 1], body[(1 << 20) + 1:]]
    with counted(Registry()) as seen:
        location = seen.session.post(f"{seen.server.url}/v2/a/blobs/uploads/").headers[
            "Location"]
        with _raw_connection(seen) as sock:
            sock.sendall(f"PATCH {location} HTTP/1.1\r\nHost: {seen.server.host}\r\n"
                         f"Content-Length: {len(body)}\r\n\r\n".encode())
            for piece in pieces:
                time.sleep(0.05)  # each piece in packets of its own, after the headers
                sock.sendall(piece)
            stream = sock.makefile("rb")
            patched = _read_answer(stream)
            sock.sendall(f"GET /v2/ HTTP/1.1\r\nHost: {seen.server.host}\r\n\r\n".encode())
            pinged = _read_answer(stream)
        assert (patched[0], patched[1]["range"], pinged[0]) == (202, f"0-{len(body) - 1}", 200)
        digest = Digest.from_bytes(body)
        done = seen.session.put(f"{seen.server.url}{location}?digest={digest}")
        assert done.status_code == 201, done.text
        assert seen.session.get(f"{seen.server.url}/v2/a/blobs/{digest}").content == body

