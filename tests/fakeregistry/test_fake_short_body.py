"""An upload body cut short of its Content-Length, on the served fake and on distribution
2.8.2: the answer, and that nothing of the cut body is kept as if it were whole."""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests

from fakeregistry import PROFILES, Registry, serve

DECLARED, SENT = 100_000, 1000
Endpoint = tuple[str, Path | None]  # base URL, CA file (TLS)


def _cut_short(endpoint: Endpoint, method: str, target: str) -> tuple[int, str | None]:
    """Send *method* with Content-Length 100000 and 1000 bytes, half-close; the status
    and error code of the answer."""
    url, ca_file = endpoint
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 0
    sock = socket.create_connection((host, port), timeout=30)
    if ca_file is not None:
        sock = ssl.create_default_context(cafile=str(ca_file)).wrap_socket(
            sock, server_hostname=host)
    with sock:
        sock.sendall(f"{method} {target} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                     "Content-Type: application/octet-stream\r\n"
                     f"Content-Length: {DECLARED}\r\n\r\n".encode() + b"x" * SENT)
        # The TCP half-close itself: SSLSocket.shutdown would also drop the TLS layer.
        socket.socket.shutdown(sock, socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    errors = json.loads(body)["errors"] if body.startswith(b"{") else [{}]
    return status, errors[0].get("code")


def _scenario(endpoint: Endpoint, method: str) -> list[tuple[int, str | None]]:
    """Open a session, cut a PATCH (or a closing PUT) short, then ask the session's state
    and send a follow-up PATCH on the same Location."""
    url, ca_file = endpoint
    session = requests.Session()
    session.trust_env = False
    session.verify = str(ca_file) if ca_file is not None else True
    repository = f"shortbody/{method.lower()}"
    location = urljoin(url, session.post(f"{url}/v2/{repository}/blobs/uploads/")
                       .headers["Location"])
    parts = urlsplit(location)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    if method == "PUT":
        digest = "sha256:" + hashlib.sha256(b"x" * DECLARED).hexdigest()
        target += ("&" if parts.query else "?") + f"digest={digest}"
    seen = [_cut_short(endpoint, method, target)]
    for answer in (session.get(location),
                   session.patch(location, data=b"y" * 10,
                                 headers={"Content-Type": "application/octet-stream"})):
        seen.append((answer.status_code, answer.json()["errors"][0]["code"]
                     if answer.content else None))
    return seen


@contextmanager
def _fake(profile: str, tls: bool) -> Iterator[Endpoint]:
    with serve(Registry(profile), tls=tls) as server:
        yield server.url, server.ca_file


MakeDistribution = Callable[..., object]


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
@pytest.mark.parametrize("tls", [False, True], ids=["http", "tls"])
def test_distribution_282_answers_499_and_drops_the_session(
        make_distribution: MakeDistribution, method: str, tls: bool) -> None:
    registry = make_distribution(tls=tls)
    endpoint = (registry.url, registry.ca_file)  # type: ignore[attr-defined]
    assert _scenario(endpoint, method) == [(499, "UNKNOWN"), (404, "BLOB_UPLOAD_INVALID"),
                                           (404, "BLOB_UPLOAD_INVALID")]


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
@pytest.mark.parametrize("tls", [False, True], ids=["http", "tls"])
@pytest.mark.parametrize(("profile", "cut"), [
    ("distribution-2.8", (499, "UNKNOWN")),   # as 2.8.2 (its Location then goes stale:
    ("spec", (400, "BLOB_UPLOAD_INVALID")),   # "short-body-session" in its differences)
])
def test_a_body_cut_short_ends_the_upload_session(
        profile: str, cut: tuple[int, str], method: str, tls: bool) -> None:
    context: AbstractContextManager[Endpoint] = _fake(profile, tls)
    with context as endpoint:
        assert _scenario(endpoint, method) == [cut, (404, "BLOB_UPLOAD_UNKNOWN"),
                                               (404, "BLOB_UPLOAD_UNKNOWN")]


def test_the_distribution_profile_names_its_short_body_difference() -> None:
    """2.8.2's follow-up is BLOB_UPLOAD_INVALID, the fake's BLOB_UPLOAD_UNKNOWN (above)."""
    assert "short-body-session" in dict(PROFILES["distribution-2.8"].differences)
    assert PROFILES["distribution-2.8"].short_body == "client-closed"
