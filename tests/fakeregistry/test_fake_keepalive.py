"""Kept-alive connections over HTTP(S): many exchanges on one connection, counted on the
server side, whatever the responses and however much of a request body the app read."""

from __future__ import annotations

import contextlib
import gzip
import os
import socket
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
from fakeregistry_helpers import Client

from fakeregistry import AuthConfig, Registry, serve
from fakeregistry.server import DRAIN_LIMIT, Server, _KeepAliveHandler, _KeepAliveServer
from harness.model.digest import Digest
from harness.peers.clients import Skopeo
from harness.peers.launchers import RunningRegistry

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

BIG = os.urandom(3 << 20)  # above the in-memory spool limit: a streamed GET
LAYER = gzip.compress(b"a layer\n" * 1000)


@dataclass
class Counted:
    """A served registry whose accepted connections and handler threads are recorded."""

    server: Server
    session: requests.Session
    connections: list[object] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

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
        get_request, finish_request = wsgi.get_request, wsgi.finish_request

        def counting_get_request() -> Any:
            accepted = get_request()
            seen.connections.append(accepted)
            return accepted

        def recording_finish_request(request: Any, client_address: Any) -> None:
            seen.threads.append(threading.current_thread())
            finish_request(request, client_address)

        wsgi.get_request = counting_get_request  # type: ignore[method-assign]
        wsgi.finish_request = recording_finish_request  # type: ignore[method-assign]
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
        body = os.urandom(DRAIN_LIMIT // 2)
        refused = client.request("PATCH", "/v2/a/blobs/uploads/x", data=body)
        assert refused.status_code == 401
        chunks = (body[i:i + 4096] for i in range(0, len(body), 4096))
        unknown = client.request("PATCH", "/v2/a/blobs/uploads/x", data=chunks,
                                 auth=("alice", "secret"))
        assert unknown.status_code == 404
        assert client.request("GET", "/v2/", auth=("alice", "secret")).status_code == 200
        assert "Connection" not in refused.headers
        assert len(seen.connections) == 1


def test_an_unread_body_beyond_the_limit_is_answered_then_the_connection_closes() -> None:
    with counted(Registry()) as seen:
        client = seen.client
        unknown = client.request("PUT", "/v2/a/blobs/uploads/x", data=BIG,
                                 params={"digest": str(Digest.from_bytes(BIG))})
        assert unknown.status_code == 404  # read by the client, not a connection reset
        assert unknown.headers["Connection"] == "close"
        assert client.request("GET", "/v2/").status_code == 200
        assert len(seen.connections) == 2


def _read_answer(stream: Any) -> tuple[int, dict[str, str], bytes]:
    status = int(stream.readline().split()[1])
    headers = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.lower()] = value.strip()
    return status, headers, stream.read(int(headers.get("content-length", "0")))


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
        address, port = host.split(":")
        with socket.create_connection((address, int(port))) as sock:
            sock.sendall(requests_bytes)
            stream = sock.makefile("rb")
            answers = [_read_answer(stream) for _ in range(3)]
        assert [status for status, _, _ in answers] == [404, 404, 200]
        assert answers[2][2] == b"{}"
        assert len(seen.connections) == 1


@pytest.mark.parametrize("header", ["Content-Length: ten", "Transfer-Encoding: gzip",
                                    "Content-Length: 5\r\nTransfer-Encoding: chunked"])
def test_a_body_of_unknown_length_closes_the_connection(header: str) -> None:
    with counted(Registry()) as seen:
        address, port = seen.server.host.split(":")
        with socket.create_connection((address, int(port))) as sock:
            sock.sendall(f"PATCH /v2/a/blobs/uploads/x HTTP/1.1\r\n{header}\r\n\r\n"
                         "GET /v2/ HTTP/1.1\r\n\r\n".encode())
            stream = sock.makefile("rb")
            _, headers, _ = _read_answer(stream)
            assert headers["connection"] == "close"
            assert stream.read() == b""  # the body was not parsed as the GET


def _unframed(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """An app that gives no Content-Length."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return iter([b"one ", b"", b"two"])


@pytest.mark.parametrize("version", ["HTTP/1.1", "HTTP/1.0"])
def test_a_body_without_length_is_chunked_or_ends_at_the_close(version: str) -> None:
    server = _KeepAliveServer("127.0.0.1", 0, _unframed, _KeepAliveHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", server.server_port)) as sock:
            sock.sendall(f"GET / {version}\r\n\r\nGET / {version}\r\n\r\n".encode())
            stream = sock.makefile("rb")
            _, headers, _ = _read_answer(stream)
            if version == "HTTP/1.1":
                assert headers["transfer-encoding"] == "chunked"
                chunked = b"4\r\none \r\n3\r\ntwo\r\n0\r\n\r\n"
                assert stream.read(len(chunked)) == chunked
                assert _read_answer(stream)[0] == 200  # the second request, same connection
            else:
                assert headers["connection"] == "close"
                assert stream.read() == b"one two"
    finally:
        server.shutdown()
        server.close_idle()
        server.server_close()
        thread.join()


def test_stopping_closes_idle_connections_and_ends_their_threads() -> None:
    with counted(Registry()) as seen:
        assert seen.session.get(f"{seen.server.url}/v2/").status_code == 200
        (thread,) = seen.threads
        assert thread.is_alive()  # idle, waiting for the next request
    thread.join(timeout=5)
    assert not thread.is_alive()
    seen.session.close()


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
