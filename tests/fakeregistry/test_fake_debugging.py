"""Debugging aids: the transcript (memory and JSON lines) and fault injection."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests

from fakeregistry import FaultRule, Registry, inprocess, serve
from fakeregistry.faults import FaultRuleError
from fakeregistry.transcript import REDACTED
from harness.model.digest import Digest
from tests._support.fakeregistry_helpers import Client, error_code

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

DATA = bytes(range(256)) * 16
DIGEST = Digest.from_bytes(DATA)


def test_transcript_records_and_filters(registry: Registry, client: Client) -> None:
    client.push_blob("a", DATA)
    client.request("GET", f"/v2/a/blobs/{DIGEST}")
    client.request("GET", "/v2/none/tags/list")
    posts = registry.transcript.requests(method="post")
    assert [(e.path, e.status, e.request_bytes) for e in posts] == [
        ("/v2/a/blobs/uploads/", 201, len(DATA))]
    gets = registry.transcript.requests(method="GET", path="/v2/*/blobs/*")
    assert [e.response_bytes for e in gets] == [len(DATA)]
    assert [e.path for e in registry.transcript.requests(status=404)] == ["/v2/none/tags/list"]


def test_transcript_redacts_credentials_and_writes_json_lines(tmp_path: Path) -> None:
    record = tmp_path / "t.jsonl"
    registry = Registry(record=record)
    with inprocess(registry) as url:
        requests.get(f"{url}/v2/", headers={"Authorization": "Bearer sekrit", "Cookie": "c=1"})
    registry.transcript.close()
    (entry,) = [json.loads(line) for line in record.read_text().splitlines()]
    assert entry["request_headers"]["Authorization"] == REDACTED
    assert entry["request_headers"]["Cookie"] == REDACTED
    assert "sekrit" not in record.read_text()
    assert entry["status"] == 200


def test_status_fault_on_the_nth_request(registry: Registry, client: Client) -> None:
    registry.faults.add(FaultRule(method="GET", path="/v2/", nth=2, status=503))
    statuses = [client.request("GET", "/v2/").status_code for _ in range(3)]
    assert statuses == [200, 503, 200]
    (entry,) = registry.transcript.requests(status=503)
    assert entry.fault == "method=GET,path=/v2/,nth=2,status=503"


def test_fault_by_repository_and_times(registry: Registry, client: Client) -> None:
    registry.faults.add(FaultRule(repository="flaky", times=1, status=500, code="UNKNOWN"))
    first = client.request("GET", "/v2/flaky/tags/list")
    assert first.status_code == 500
    assert error_code(first) == "UNKNOWN"
    assert client.request("GET", "/v2/flaky/tags/list").status_code == 404
    assert client.request("GET", "/v2/steady/tags/list").status_code == 404


def test_429_with_retry_after(registry: Registry, client: Client) -> None:
    registry.faults.add(FaultRule(retry_after=3))
    response = client.request("GET", "/v2/")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert error_code(response) == "TOOMANYREQUESTS"


def test_wrong_digest_header(registry: Registry, client: Client) -> None:
    client.push_blob("a", DATA)
    registry.faults.add(FaultRule(method="GET", wrong_digest=True))
    response = client.request("GET", f"/v2/a/blobs/{DIGEST}")
    assert response.content == DATA
    assert response.headers["Docker-Content-Digest"] != str(DIGEST)


def test_truncated_body_has_matching_length(registry: Registry, client: Client) -> None:
    client.push_blob("a", DATA)
    registry.faults.add(FaultRule(method="GET", truncate=100))
    response = client.request("GET", f"/v2/a/blobs/{DIGEST}")
    assert response.headers["Content-Length"] == "100"
    assert response.content == DATA[:100]


def test_dropped_connection_in_process(registry: Registry, client: Client) -> None:
    client.push_blob("a", DATA * 512)  # above the eager-read limit: streamed
    registry.faults.add(FaultRule(method="GET", drop_after=1000))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        client.request("GET", f"/v2/a/blobs/{Digest.from_bytes(DATA * 512)}").content  # noqa: B018


@pytest.mark.parametrize("over_http", [False, True])
def test_connection_dropped_before_an_upload_is_answered(over_http: bool) -> None:
    registry = Registry()
    with contextlib.ExitStack() as stack:
        url = (stack.enter_context(serve(registry)).url if over_http
               else stack.enter_context(inprocess(registry)))
        client = Client(url, requests.Session())
        location = client.request("POST", "/v2/a/blobs/uploads/").headers["Location"]
        registry.faults.add(FaultRule(method="PATCH", nth=1, drop_after=0))
        with pytest.raises(requests.ConnectionError):
            client.request("PATCH", location, data=DATA)
        status = client.request("GET", location)  # the server kept what it received
        assert status.headers["Range"] == f"0-{len(DATA) - 1}"


def test_dropped_connection_over_http() -> None:
    registry = Registry()
    with serve(registry) as server:
        Client(server.url, requests.Session()).push_blob("a", DATA)
        registry.faults.add(FaultRule(method="GET", drop_after=1000))
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            requests.get(f"{server.url}/v2/a/blobs/{DIGEST}").content  # noqa: B018
        assert registry.transcript.requests(method="GET")[-1].response_bytes == 1000


class _HeldCleanUp:
    """The served registry's app, whose GET exchanges end (the server thread closes the
    answer's body, after its last byte went out or its connection was cut) only once the
    test has read the transcript: the pause a loaded machine puts there at random, made
    every time. The wait's bound only keeps a broken run from hanging."""

    def __init__(self, app: WSGIApplication) -> None:
        self._app = app
        self.read = threading.Event()

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterator[bytes]:
        body = self._app(environ, start_response)
        try:
            yield from body
        finally:
            if environ["REQUEST_METHOD"] == "GET":
                self.read.wait(timeout=60)
            getattr(body, "close", lambda: None)()


@contextlib.contextmanager
def _served_with_held_clean_up(registry: Registry,
                               monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    held = _HeldCleanUp(registry.wsgi_app)
    monkeypatch.setattr(registry, "wsgi_app", held)
    with serve(registry) as server:
        Client(server.url, requests.Session()).push_blob("a", DATA)
        try:
            yield server.url
        finally:
            held.read.set()


def test_a_served_answer_is_recorded_before_the_client_has_its_end(
        monkeypatch: pytest.MonkeyPatch) -> None:
    registry = Registry()
    with _served_with_held_clean_up(registry, monkeypatch) as url:
        assert requests.get(f"{url}/v2/a/blobs/{DIGEST}").content == DATA
        (entry,) = registry.transcript.requests(method="GET")
        assert (entry.status, entry.response_bytes) == (200, len(DATA))


def test_a_dropped_connection_is_recorded_before_the_client_sees_it_die(
        monkeypatch: pytest.MonkeyPatch) -> None:
    registry = Registry()
    with _served_with_held_clean_up(registry, monkeypatch) as url:
        registry.faults.add(FaultRule(method="GET", drop_after=1000))
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            requests.get(f"{url}/v2/a/blobs/{DIGEST}").content  # noqa: B018
        (entry,) = registry.transcript.requests(method="GET")
        assert (entry.response_bytes, entry.fault) == (1000, "method=GET,drop_after=1000")


def test_latency_is_recorded(registry: Registry, client: Client) -> None:
    registry.faults.add(FaultRule(path="/v2/", latency=0.05))
    client.request("GET", "/v2/")
    (entry,) = registry.transcript.requests(path="/v2/")
    assert entry.duration_ms >= 50


def test_probability_is_deterministic_given_the_seed() -> None:
    def run(seed: int) -> list[int]:
        registry = Registry(seed=seed)
        registry.faults.add(FaultRule(probability=0.5, status=503))
        with inprocess(registry, f"http://seed{seed}.fake") as url:
            return [requests.get(f"{url}/v2/").status_code for _ in range(32)]

    first = run(7)
    assert first == run(7)
    assert {200, 503} == set(first)
    assert first != run(8)


def test_rule_parsing() -> None:
    rule = FaultRule.parse("method=PUT,path=/v2/*/manifests/*,nth=2,status=503,latency=0.5,"
                           "wrong-digest=true")
    assert rule == FaultRule(method="PUT", path="/v2/*/manifests/*", nth=2, status=503,
                             latency=0.5, wrong_digest=True)
    with pytest.raises(FaultRuleError, match="colour"):
        FaultRule.parse("colour=blue")
    with pytest.raises(FaultRuleError, match="not a number"):
        FaultRule.parse("nth=two")
